//! What slim writes on stderr, read back: the timestamp its lines start with when stderr is
//! not a terminal, and the runs it announces (`slim: run <id>: cgroup …`, one per traced
//! run: a build traces the original image, then each verification round).

/// Whether `text` is a timestamp as slim starts its stderr lines with when stderr is not a
/// terminal: `2026-01-31T12:34:56.789Z` (RFC 3339, UTC, milliseconds).
pub fn is_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

/// A line of slim's stderr without the timestamp it starts with on a non-terminal (lines
/// without one, such as `error:` and `hint:`, are returned as they are).
pub fn untimed(line: &str) -> &str {
    match line.split_once(' ') {
        Some((first, rest)) if is_timestamp(first) => rest,
        _ => line,
    }
}

/// The run id a progress message announces, `run <id>: …` (a step as slim's reporter is
/// given it; stderr shows it after `slim: `).
pub fn announced_run_id(message: &str) -> Option<&str> {
    let (id, _) = message.strip_prefix("run ")?.split_once(':')?;
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric())).then_some(id)
}

/// Every run id slim announces on `stderr` (`slim: run <id>: …`), in order.
pub fn announced_run_ids(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| announced_run_id(untimed(l).strip_prefix("slim: ")?))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_told_from_messages() {
        assert!(is_timestamp("2026-11-29T19:51:41.123Z"));
        assert!(!is_timestamp("2026-11-29T19:51:41Z"));
        assert!(!is_timestamp("slim:"));
        assert_eq!(
            untimed("2026-11-29T19:51:41.123Z slim: built a:1 (abc)"),
            "slim: built a:1 (abc)"
        );
        assert_eq!(untimed("hint: check it"), "hint: check it");
    }

    #[test]
    fn every_announced_run_is_read_and_nothing_else() {
        let stderr = "slim: tracing a:1 (1 HTTP probe(s), 0 command(s))\n\
                      2026-11-29T19:51:41.123Z slim: run 15e3c1f4e512: cgroup /sys/fs/cgroup/unified/slim-15e3c1f4e512\n\
                      slim: probe: run python3 /app/check.py → exit 0\n\
                      slim: [start 0.1s] container slim-15e3c1f4e512 (run 15e3c1f4e512)\n\
                      slim: verify, round 1: replaying the probes on a.slim:1\n\
                      slim: run a2d876ccba8b: cgroup /sys/fs/cgroup/unified/slim-a2d876ccba8b\n\
                      error: image not found\n";
        assert_eq!(announced_run_ids(stderr), ["15e3c1f4e512", "a2d876ccba8b"]);
        assert_eq!(
            announced_run_id("run c43d6d7b93e6: cgroup /sys/fs/cgroup/x"),
            Some("c43d6d7b93e6")
        );
        assert_eq!(announced_run_id("run the/app: x"), None);
        assert_eq!(announced_run_id("error: image not found"), None);
    }
}
