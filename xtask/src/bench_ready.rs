//! Readiness latency, part of `cargo xtask bench build`: how long after a port starts
//! listening slim sees it. The `config` fixture runs a Python HTTP server that waits a
//! moment, listens on the container's loopback and writes the wall-clock time of that
//! moment to /tmp/listened-at; slim says `listening: …` the moment it sees the socket, and
//! an `--exec` probe reads the file back into the report. Container and host share one
//! clock, so the difference is the latency; the line's timestamp has millisecond
//! resolution.

use std::fmt::Write as _;
use std::path::Path;

use slim_fixtures::{BuildCommand, untimed};

use crate::Result;

/// Builds measured.
const RUNS: usize = 10;

/// The target for the median.
const TARGET_MS: f64 = 50.0;

/// The server: listens 1.5 s after it starts (so slim is already polling), then notes when.
const SERVER: &str = "import http.server, time; time.sleep(1.5); \
    s = http.server.HTTPServer(('127.0.0.1', 8080), http.server.SimpleHTTPRequestHandler); \
    open('/tmp/listened-at', 'w').write(repr(time.time())); s.serve_forever()";

/// Measures the latency over [`RUNS`] builds of `slim` (built from `version`) and returns
/// the report's section.
pub fn measure(slim: &Path, version: &str) -> Result<String> {
    let load_before = crate::bench_kit::load_average();
    let others_before = crate::bench_kit::other_processes();
    let image = slim_fixtures::try_image("config").map_err(|e| format!("{e:#}"))?;
    let cmd = serde_json::to_string(&["-c", SERVER]).map_err(|e| e.to_string())?;
    let mut latencies = Vec::new();
    for run in 1..=RUNS {
        let build = BuildCommand::new(&image)
            .binary(slim)
            .unique_tag("bench-ready")
            .option("--entrypoint", "python3")
            .option("--cmd", &cmd)
            .option("--exec", "cat /tmp/listened-at")
            .flag("--no-crawl")
            .flag("--no-verify")
            .run();
        if build.code != Some(0) {
            return Err(format!(
                "readiness run {run} failed ({:?}):\n{}",
                build.code, build.stderr
            ));
        }
        let seen = build
            .stderr
            .lines()
            .find(|l| untimed(l).starts_with("slim: listening: "))
            .and_then(|l| l.split_once(' '))
            .and_then(|(stamp, _)| epoch_seconds(stamp))
            .ok_or_else(|| format!("run {run}: no timed `listening:` line:\n{}", build.stderr))?;
        let listened = build
            .report
            .as_ref()
            .and_then(|r| r["probes"]["results"].as_array())
            .into_iter()
            .flatten()
            .find_map(|r| r["output"].as_str()?.trim().parse::<f64>().ok())
            .ok_or_else(|| format!("run {run}: the report has no time from the server"))?;
        let ms = (seen - listened) * 1000.0;
        eprintln!("bench: readiness run {run}: {ms:.1} ms");
        latencies.push(ms);
        // The slim image is removed when dropped.
        drop(build.image());
    }
    latencies.sort_by(f64::total_cmp);
    let median = latencies[latencies.len() / 2];
    let mut others = others_before;
    others.extend(crate::bench_kit::other_processes());
    others.sort();
    others.dedup();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "From a port's listen() in the container to slim's `listening:` line (target: median \
         < {TARGET_MS:.0} ms), {RUNS} builds of `config` running a Python server on its \
         loopback, with `--no-crawl --no-verify`; millisecond timestamps, and the \
         `listening:` line is written after the socket tables are read. Binary: {version}.\n"
    );
    let _ = writeln!(
        out,
        "Load average (1, 5, 15 min) before: {load_before}; after: {}. {}\n",
        crate::bench_kit::load_average(),
        if others.is_empty() {
            "No other slim or cargo process was seen running.".to_string()
        } else {
            format!(
                "The machine was shared: other processes seen during the run: {}.",
                others.join(", ")
            )
        }
    );
    let _ = writeln!(out, "| runs | min | median | max | within target |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| {RUNS} | {:.0} ms | {median:.0} ms | {:.0} ms | {} |",
        latencies[0],
        latencies[latencies.len() - 1],
        if median < TARGET_MS { "yes" } else { "no" }
    );
    Ok(out)
}

/// Seconds since the epoch of a timestamp as slim starts its lines with
/// (`2026-01-31T12:34:56.789Z`).
fn epoch_seconds(stamp: &str) -> Option<f64> {
    let number = |range: std::ops::Range<usize>| stamp.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute) = (number(11..13)?, number(14..16)?);
    let seconds: f64 = stamp.get(17..23)?.parse().ok()?;
    // Days from the civil date (proleptic Gregorian), as in Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hour * 3_600 + minute * 60) as f64 + seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_become_seconds_since_the_epoch() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00.000Z"), Some(0.0));
        let t = epoch_seconds("2026-12-03T13:45:07.250Z").unwrap();
        assert!((t - 1_796_305_507.25).abs() < 1e-6, "{t}");
        assert_eq!(epoch_seconds("not a time"), None);
    }
}
