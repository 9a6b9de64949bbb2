//! The verify stage: does the new image behave like the original under the same probes?
//!
//! Compares the probe results of the original run with those of the same plan replayed on
//! the new image, probe by probe (HTTP status, content type, body; command exit codes and
//! output; the HEALTHCHECK's verdict), and finds the files the new image missed: accesses
//! that failed in its run on paths the original image has. This module is pure; running
//! the new image and repairing it is `repair`'s.
//!
//! Dynamic pages differ from request to request (CSRF tokens, times, nonces, random ids).
//! The original answers each HTTP probe and each command twice; what differs between its
//! own two answers is learned by a token-level diff (`variance`) and masked before the new
//! image's answer is compared, and a probe whose status or exit code changed between the
//! original's own answers is unstable: reported, not counted as a difference. Bodies are
//! compared exactly first, then normalised (every run of digits becomes `0`, every long
//! token mixing letters and digits `~`), then against the mask. A template or translation
//! gone missing still changes the words that stayed the same, so it is still caught.
//!
//! The image's HEALTHCHECK is compared by the engine's verdict alone, healthy (exit 0) or
//! not: its output (times, versions, process ids) and which non-zero code a failing check
//! exits with (a refused connection or a timeout) may change from run to run without the
//! new image being at fault; a file it misses still shows as a missed file.

pub mod repair;
pub mod variance;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::drive::{HttpAnswer, ProbeResult};
use crate::image::index::{FsIndex, resolve};
use crate::keep::{Excludes, KeepSet, source_of_bytecode};
use crate::trace::TraceRecord;
use variance::Mask;

/// Whether and how the new image is verified.
#[derive(Clone, Debug)]
pub struct VerifySettings {
    pub enabled: bool,
    /// Rebuilds with the files verification found missing, at most this many times.
    pub repair_rounds: u32,
}

/// The verdict of verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Every probe answered as on the original, and nothing was missing.
    Verified,
    /// Differences or missing files survived the repair rounds.
    Failed,
    /// `--no-verify`.
    Skipped,
}

/// A path repair added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RepairedPath {
    #[schemars(pattern("^/"))]
    pub path: String,
    /// The verification round that found it missing.
    #[schemars(range(min = 1))]
    pub round: u32,
    /// The processes that asked for it.
    pub by: Vec<String>,
}

/// What verification found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Verification {
    pub status: VerificationStatus,
    /// Verification runs made.
    pub rounds: u32,
    pub repaired: Vec<RepairedPath>,
    /// Probes that still answer differently (when it failed).
    pub differences: Vec<Difference>,
    /// Files still missing (when it failed).
    pub missed: Vec<MissedFile>,
    /// System calls the `--seccomp` profile refused to the new image's processes in the
    /// last round, that the original's runs did not have refused: the likely cause of a
    /// difference.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused_calls: Vec<String>,
    /// How each probe's answers on the original compared with each other, in plan order
    /// (from the last verification run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stability: Vec<ProbeStability>,
}

/// Whether the original answered a probe the same way twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stability {
    /// The same answer twice (after normalising): compared as it is.
    Stable,
    /// The same status, with parts of the body (or output) that differ: those parts are
    /// masked, the rest compared.
    Masked,
    /// Another status (or exit code) the second time: not compared.
    Unstable,
    /// Answered once (a `--run` container, the HEALTHCHECK, a protocol request).
    Once,
}

/// One probe's answers on the original, as verification used them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ProbeStability {
    /// The probe, as `GET :80/admin/`, `exec …`.
    pub probe: String,
    pub answers: Stability,
    /// The places that differed, each as `first | second` (cut short).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub masked: Vec<String>,
    /// What changed, for an unstable probe (`status 200, then status 404`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unstable: Option<String>,
}

impl Verification {
    /// No verification run yet (what `--no-verify` reports).
    pub fn skipped() -> Verification {
        Verification {
            status: VerificationStatus::Skipped,
            rounds: 0,
            repaired: Vec::new(),
            differences: Vec::new(),
            missed: Vec::new(),
            refused_calls: Vec::new(),
            stability: Vec::new(),
        }
    }
}

/// A token at least this long, of letters and digits both, is taken as a per-request value.
const TOKEN_LEN: usize = 16;

/// How one probe differs between the original image and the new one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Difference {
    /// The probe, as `GET :80/admin/`, `exec …`.
    pub probe: String,
    /// What the original answered.
    pub original: String,
    /// What the new image answered.
    pub slim: String,
}

/// One line describing a probe's outcome, for comparisons and reports.
fn outcome(result: &ProbeResult) -> String {
    match result {
        ProbeResult::Http { answer, error, .. } => match (answer, error) {
            (Some(a), _) => format!(
                "{} {} ({} bytes)",
                a.status,
                a.content_type.as_deref().unwrap_or("no content type"),
                a.body_bytes
            ),
            (None, e) => format!("no answer: {}", e.as_deref().unwrap_or("unknown error")),
        },
        ProbeResult::Health {
            exit_code, error, ..
        } => match (exit_code, error) {
            (_, Some(e)) => format!("unhealthy: {e}"),
            (Some(0), None) => "healthy (exit 0)".into(),
            (Some(code), None) => format!("unhealthy (exit {code})"),
            (None, None) => "unhealthy (killed by a signal)".into(),
        },
        ProbeResult::Protocol { answer, error, .. } => match (answer, error) {
            (Some(answer), _) => answer.clone(),
            (None, e) => format!("no answer: {}", e.as_deref().unwrap_or("unknown error")),
        },
        ProbeResult::Exec {
            exit_code,
            error,
            output,
            ..
        }
        | ProbeResult::HostExec {
            exit_code,
            error,
            output,
            ..
        }
        | ProbeResult::Run {
            exit_code,
            error,
            output,
            ..
        } => {
            let first = output.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            let first: String = first.chars().take(80).collect();
            match (exit_code, error) {
                (_, Some(e)) => format!("failed: {e}"),
                (Some(code), None) if first.is_empty() => format!("exit {code}"),
                (Some(code), None) => format!("exit {code}, output {first:?}"),
                (None, None) => "killed by a signal".into(),
            }
        }
    }
}

fn label(result: &ProbeResult) -> String {
    let line = result.line();
    line.split(" → ").next().unwrap_or(&line).to_string()
}

/// Replaces what changes from one request to the next: digit runs and long tokens.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let letters = word.chars().any(|c| c.is_ascii_alphabetic());
        let digits = word.chars().any(|c| c.is_ascii_digit());
        if word.len() >= TOKEN_LEN && letters && digits {
            out.push('~');
        } else {
            let mut in_digits = false;
            for c in word.chars() {
                if c.is_ascii_digit() {
                    if !in_digits {
                        out.push('0');
                    }
                    in_digits = true;
                } else {
                    out.push(c);
                    in_digits = false;
                }
            }
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn main_type(content_type: Option<&str>) -> Option<String> {
    content_type.map(|t| t.split(';').next().unwrap_or(t).trim().to_ascii_lowercase())
}

fn same_answer(original: &HttpAnswer, slim: &HttpAnswer) -> bool {
    if original.status != slim.status
        || main_type(original.content_type.as_deref()) != main_type(slim.content_type.as_deref())
    {
        return false;
    }
    if original.body_digest == slim.body_digest {
        return true;
    }
    match (&original.body_text, &slim.body_text) {
        (Some(a), Some(b)) => normalise(a) == normalise(b),
        // A binary body that changed is a difference; one that the original did not keep
        // as text (too large) is compared by length only.
        _ => {
            original.body_text.is_none()
                && slim.body_text.is_none()
                && original.body_bytes == slim.body_bytes
                && !is_binary_type(original)
        }
    }
}

fn is_binary_type(answer: &HttpAnswer) -> bool {
    !answer
        .content_type
        .as_deref()
        .is_some_and(crate::drive::http::is_textual)
}

/// Whether two results of the same probe agree.
pub fn same(original: &ProbeResult, slim: &ProbeResult) -> bool {
    match (original, slim) {
        (
            ProbeResult::Http {
                answer: Some(a), ..
            },
            ProbeResult::Http {
                answer: Some(b), ..
            },
        ) => same_answer(a, b),
        // Both failed to answer (the original too): nothing the new image broke.
        (ProbeResult::Http { answer: None, .. }, ProbeResult::Http { answer: None, .. }) => true,
        (ProbeResult::Http { .. }, ProbeResult::Http { .. }) => false,
        (
            ProbeResult::Exec {
                exit_code: a,
                output: oa,
                ..
            },
            ProbeResult::Exec {
                exit_code: b,
                output: ob,
                ..
            },
        )
        | (
            ProbeResult::HostExec {
                exit_code: a,
                output: oa,
                ..
            },
            ProbeResult::HostExec {
                exit_code: b,
                output: ob,
                ..
            },
        )
        | (
            ProbeResult::Run {
                exit_code: a,
                output: oa,
                ..
            },
            ProbeResult::Run {
                exit_code: b,
                output: ob,
                ..
            },
        ) => a == b && normalise(oa) == normalise(ob),
        (ProbeResult::Health { .. }, ProbeResult::Health { .. }) => {
            original.unhealthy() == slim.unhealthy()
        }
        (
            ProbeResult::Protocol {
                protocol: pa,
                answer: a,
                ..
            },
            ProbeResult::Protocol {
                protocol: pb,
                answer: b,
                ..
            },
        ) => pa == pb && a == b,
        _ => false,
    }
}

/// What the original's two answers to a probe say about comparing a third.
enum Baseline {
    /// Compare as [`same`] does.
    Exact(Stability),
    /// The body or output differs in places: the mask, if there is text to match.
    Masked(Option<Mask>),
    Unstable(String),
}

/// The text of an answer or a command's output, and the status or exit code it came with.
fn observed(result: &ProbeResult) -> Option<(String, Option<&str>)> {
    match result {
        ProbeResult::Http {
            answer: Some(a), ..
        } => Some((format!("status {}", a.status), a.body_text.as_deref())),
        ProbeResult::Http { answer: None, .. } => Some(("no answer".into(), None)),
        ProbeResult::Exec {
            exit_code, output, ..
        } => Some((
            match exit_code {
                Some(code) => format!("exit {code}"),
                None => "no exit code".into(),
            },
            Some(output.as_str()),
        )),
        _ => None,
    }
}

/// Learns from the original's two answers to one probe.
fn baseline(first: &ProbeResult, second: Option<&ProbeResult>) -> Baseline {
    let Some(second) = second else {
        return Baseline::Exact(Stability::Once);
    };
    let (Some((state_a, text_a)), Some((state_b, text_b))) = (observed(first), observed(second))
    else {
        return Baseline::Exact(Stability::Once);
    };
    let types = |r: &ProbeResult| match r {
        ProbeResult::Http {
            answer: Some(a), ..
        } => main_type(a.content_type.as_deref()),
        _ => None,
    };
    if state_a != state_b {
        return Baseline::Unstable(format!("{state_a}, then {state_b}"));
    }
    if types(first) != types(second) {
        return Baseline::Unstable(format!(
            "content type {}, then {}",
            types(first).unwrap_or_default(),
            types(second).unwrap_or_default()
        ));
    }
    if same(first, second) {
        return Baseline::Exact(Stability::Stable);
    }
    match (text_a, text_b) {
        (Some(a), Some(b)) => Baseline::Masked(Some(Mask::learn(a, b))),
        _ => Baseline::Masked(None),
    }
}

/// Whether `slim` agrees with the original's `first` answer outside the masked places.
fn same_masked(first: &ProbeResult, mask: Option<&Mask>, slim: &ProbeResult) -> bool {
    if same(first, slim) {
        return true;
    }
    match (first, slim) {
        (
            ProbeResult::Http {
                answer: Some(a), ..
            },
            ProbeResult::Http {
                answer: Some(b), ..
            },
        ) => {
            a.status == b.status
                && main_type(a.content_type.as_deref()) == main_type(b.content_type.as_deref())
                && match (mask, &b.body_text) {
                    (Some(mask), Some(text)) => mask.matches(text),
                    // The original's body changed and is not text: status and type only.
                    (None, _) => true,
                    (Some(_), None) => false,
                }
        }
        (
            ProbeResult::Exec { exit_code: a, .. },
            ProbeResult::Exec {
                exit_code: b,
                output,
                ..
            },
        ) => a == b && mask.is_some_and(|m| m.matches(output)),
        _ => false,
    }
}

/// The differences between the original results and the replayed ones, in plan order, and
/// how stable each probe was on the original. `again` holds the original's second answer
/// to each probe that has one (same positions as `original`).
pub fn compare(
    original: &[ProbeResult],
    again: &[Option<ProbeResult>],
    slim: &[ProbeResult],
) -> (Vec<Difference>, Vec<ProbeStability>) {
    let mut differences = Vec::new();
    let mut stability = Vec::new();
    for (i, a) in original.iter().enumerate() {
        let baseline = baseline(a, again.get(i).and_then(Option::as_ref));
        let (answers, masked, unstable) = match &baseline {
            Baseline::Exact(s) => (*s, Vec::new(), None),
            Baseline::Masked(mask) => (
                Stability::Masked,
                mask.as_ref().map_or_else(
                    || vec!["the whole body (not text)".to_string()],
                    Mask::masked,
                ),
                None,
            ),
            Baseline::Unstable(why) => (Stability::Unstable, Vec::new(), Some(why.clone())),
        };
        stability.push(ProbeStability {
            probe: label(a),
            answers,
            masked,
            unstable,
        });
        let agrees = |b: &ProbeResult| match &baseline {
            Baseline::Exact(_) => same(a, b),
            Baseline::Masked(mask) => same_masked(a, mask.as_ref(), b),
            Baseline::Unstable(_) => true,
        };
        match slim.get(i) {
            Some(b) if agrees(b) => {}
            Some(b) => differences.push(Difference {
                probe: label(a),
                original: outcome(a),
                slim: outcome(b),
            }),
            None => differences.push(Difference {
                probe: label(a),
                original: outcome(a),
                slim: "not run".into(),
            }),
        }
    }
    (differences, stability)
}

/// Whether `path` is Python bytecode (`…/__pycache__/X.TAG.pyc`) whose source `…/X.py` is
/// kept: a cache miss, not a missing file (the interpreter compiles the source).
fn is_rebuilt_bytecode(kept: &KeepSet, path: &[u8]) -> bool {
    source_of_bytecode(path).is_some_and(|source| kept.contains(&source))
}

/// A file the new image's run failed to find though the original image has it, with the
/// paths it was asked for by and the processes that asked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MissedFile {
    /// The file in the original image (symlinks resolved).
    #[schemars(pattern("^/"))]
    pub path: String,
    /// The paths the processes used, when they differ from `path`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub asked_as: Vec<String>,
    pub by: Vec<String>,
    /// The `--exclude` glob that took it (or a link or directory on its way) out of the
    /// keep set: repair does not bring it back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excluded_by: Option<String>,
    /// The path as first asked, and whether that access followed a final symlink: what
    /// repair adds, so every link on the way comes too.
    #[serde(skip)]
    pub first_asked: (Vec<u8>, bool),
}

/// Accesses of the new image's run that failed on paths the original image has and the
/// keep set lacks (the file, or a link or directory on its way), unless the original run
/// failed on them the same way. One entry per file of the original image, with the
/// exclude glob that took it or a path on its way out, if one did.
pub fn missed_files(
    index: &FsIndex,
    kept: &KeepSet,
    excludes: &Excludes,
    original: &[TraceRecord],
    slim: &[TraceRecord],
) -> Vec<MissedFile> {
    let failed_before: BTreeSet<&[u8]> = original
        .iter()
        .filter(|r| r.result.is_missing())
        .map(|r| r.path.as_slice())
        .collect();
    let mut missed: BTreeMap<Vec<u8>, MissedFile> = BTreeMap::new();
    for record in slim {
        if !record.result.is_missing()
            || record.incomplete.is_some()
            || failed_before.contains(record.path.as_slice())
        {
            continue;
        }
        let follow = !record.nofollow;
        let resolution = resolve(index, &record.path, follow);
        let Some(target) = resolution.target else {
            continue;
        };
        let lacking = !kept.contains(&target)
            || resolution.links.iter().any(|l| !kept.contains(l))
            || resolution.dirs.iter().any(|d| !kept.contains(d));
        if !lacking || is_rebuilt_bytecode(kept, &target) {
            continue;
        }
        let entry = missed.entry(target.clone()).or_insert_with(|| MissedFile {
            path: String::from_utf8_lossy(&target).into_owned(),
            asked_as: Vec::new(),
            by: Vec::new(),
            excluded_by: std::iter::once(&target)
                .chain(&resolution.links)
                .chain(&resolution.dirs)
                .find_map(|p| excludes.excluding(p))
                .map(str::to_string),
            first_asked: (record.path.clone(), follow),
        });
        if record.path != target {
            let asked = String::from_utf8_lossy(&record.path).into_owned();
            if !entry.asked_as.contains(&asked) {
                entry.asked_as.push(asked);
            }
        }
        let who = format!(
            "{} ({})",
            record.comm,
            crate::trace::syscall_name(record.syscall)
        );
        if !entry.by.contains(&who) && entry.by.len() < 4 {
            entry.by.push(who);
        }
    }
    missed.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drive::{FoundBy, HttpProbe};
    use crate::test_kit::record;

    fn http(status: u16, body: &str) -> ProbeResult {
        ProbeResult::Http {
            request: HttpProbe {
                port: Some(80),
                scheme: None,
                method: "GET".into(),
                path: "/".into(),
                headers: Vec::new(),
                body: None,
                expect_status: None,
                found_by: FoundBy::Start,
            },
            answer: Some(HttpAnswer {
                status,
                content_type: Some("text/html; charset=utf-8".into()),
                content_encoding: None,
                location: None,
                body_bytes: body.len() as u64,
                body_digest: crate::image::reference::digest(body.as_bytes()),
                body_text: Some(body.into()),
                millis: 3,
            }),
            error: None,
        }
    }

    #[test]
    fn bytecode_of_a_kept_source_is_a_cache_miss_not_a_missed_file() {
        use slim_test_kit::{Entry, ScratchDir, TarWriter};
        let mut layer = TarWriter::new();
        for dir in ["lib/", "lib/__pycache__/"] {
            layer = layer.entry(Entry::dir(dir).mtime(1));
        }
        for file in [
            "lib/kept.py",
            "lib/__pycache__/kept.cpython-311.pyc",
            "lib/gone.py",
            "lib/__pycache__/gone.cpython-311.pyc",
        ] {
            layer = layer.entry(Entry::file(file, b"x").mtime(1));
        }
        let dir = ScratchDir::new("verify-pyc");
        let index = FsIndex::from_layers(&[dir.write("layer.tar", layer.finish())]).unwrap();
        let kept = KeepSet::of(&[
            ("/lib", crate::keep::Reason::Repaired { round: 0 }),
            ("/lib/kept.py", crate::keep::Reason::Repaired { round: 0 }),
        ]);
        let slim = [
            record("/lib/__pycache__/kept.cpython-311.pyc").failed(libc::ENOENT),
            record("/lib/__pycache__/gone.cpython-311.pyc").failed(libc::ENOENT),
        ];
        let missed = missed_files(&index, &kept, &Excludes::default(), &[], &slim);
        let paths: Vec<&str> = missed.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["/lib/__pycache__/gone.cpython-311.pyc"]);
    }

    #[test]
    fn dynamic_pages_compare_equal_once_tokens_and_times_are_normalised() {
        let a = http(
            200,
            r#"<input name="csrfmiddlewaretoken" value="Xk9q2LmZ81pQrT5vWn3bYc7dEf0gHj"> at 12:31:07 on 2026-11-23"#,
        );
        let b = http(
            200,
            r#"<input name="csrfmiddlewaretoken" value="a8Bn4kPq2Zx7Lm0Rt5Vw9Yc3Df6Gh1"> at 12:31:09 on 2026-11-23"#,
        );
        assert!(same(&a, &b));
        assert!(compare(&[a], &[], &[b]).0.is_empty());
    }

    #[test]
    fn a_missing_translation_or_template_is_still_a_difference() {
        let fr = http(200, "<h1>Bienvenue sur le site</h1>");
        let en = http(200, "<h1>Welcome to the site</h1>");
        assert!(!same(&fr, &en));
        let broken = http(500, "<h1>Server Error (500)</h1>");
        let diffs = compare(&[fr], &[], &[broken]).0;
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].probe, "GET :80/");
        assert!(diffs[0].original.starts_with("200 "), "{:?}", diffs[0]);
        assert!(diffs[0].slim.starts_with("500 "));
    }

    #[test]
    fn commands_compare_exit_codes_and_normalised_output() {
        let run = |code, output: &str| ProbeResult::Exec {
            command: vec!["id".into()],
            exit_code: Some(code),
            output: output.into(),
            error: None,
            millis: 1,
        };
        assert!(same(&run(0, "took 12 ms"), &run(0, "took 15 ms")));
        assert!(!same(&run(0, "ok"), &run(1, "ok")));
        assert!(!same(
            &run(0, "app"),
            &run(0, "id: cannot find name for user ID 1000")
        ));
    }

    fn health(exit_code: Option<i64>, output: &str, error: Option<&str>) -> ProbeResult {
        ProbeResult::Health {
            command: vec!["/usr/local/bin/healthy".into()],
            exit_code,
            output: output.into(),
            error: error.map(str::to_string),
            attempts: 1,
            millis: 4,
        }
    }

    #[test]
    fn the_healthcheck_compares_by_verdict_not_output_or_failing_code() {
        // Output that changes from run to run is no difference.
        assert!(same(
            &health(Some(0), "up 12s, pid 7, 2026-11-23T12:31:07Z", None),
            &health(Some(0), "up 3s, pid 9, version abc", None)
        ));
        // A check that fails on the original only has to fail on the new image too.
        assert!(same(
            &health(Some(1), "connection refused", None),
            &health(Some(7), "", None)
        ));
        assert!(same(
            &health(Some(1), "", None),
            &health(None, "", Some("timed out after 30s"))
        ));
        // Healthy on the original, not on the new image: the difference verification
        // exists for.
        let (diffs, _) = compare(
            &[health(Some(0), "ok", None)],
            &[],
            &[health(Some(127), "healthy: not found", None)],
        );
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].probe, "healthcheck /usr/local/bin/healthy");
        assert_eq!(diffs[0].original, "healthy (exit 0)");
        assert_eq!(diffs[0].slim, "unhealthy (exit 127)");
        assert!(!same(
            &health(Some(0), "", None),
            &health(None, "", Some("no such container"))
        ));
        // Not run on the new image at all is a difference too.
        assert_eq!(compare(&[health(Some(0), "", None)], &[], &[]).0.len(), 1);
    }

    fn protocol(answer: Option<&str>) -> ProbeResult {
        ProbeResult::Protocol {
            port: 5432,
            protocol: "postgresql".into(),
            answer: answer.map(str::to_string),
            error: answer.is_none().then(|| "connection refused".into()),
        }
    }

    #[test]
    fn a_protocol_request_compares_by_its_answer() {
        assert!(same(
            &protocol(Some("SSL not supported")),
            &protocol(Some("SSL not supported"))
        ));
        assert!(
            compare(&[protocol(Some("PONG"))], &[], &[protocol(Some("PONG"))])
                .0
                .is_empty()
        );
        assert!(same(&protocol(None), &protocol(None)));
        let diffs = compare(
            &[protocol(Some("SSL not supported"))],
            &[],
            &[protocol(None)],
        )
        .0;
        assert_eq!(diffs.len(), 1);
        assert_eq!(diffs[0].slim, "no answer: connection refused");
        assert!(!same(
            &protocol(Some("SSL not supported")),
            &protocol(Some("SSL supported"))
        ));
    }

    fn page(status: u16, id: &str, nonce: &str, time: &str, footer: &str) -> ProbeResult {
        http(
            status,
            &format!(
                "<div id=\"w-{id}\"><script nonce=\"{nonce}\"></script>{time}</div><p>{footer}</p>"
            ),
        )
    }

    #[test]
    fn what_varies_on_the_original_is_masked_and_the_rest_compared() {
        let first = page(200, "a9f", "Zq3x", "12:00:01.5", "made with care");
        let second = page(200, "k2b", "Pw8r", "12:00:02.9", "made with care");
        let slim = page(200, "c7d", "Mn1t", "12:40:10.1", "made with care");
        // Without a second answer the random id and the nonce are a difference.
        assert_eq!(
            compare(
                std::slice::from_ref(&first),
                &[],
                std::slice::from_ref(&slim)
            )
            .0
            .len(),
            1
        );
        let again = [Some(second.clone())];
        let (diffs, stability) = compare(std::slice::from_ref(&first), &again, &[slim]);
        assert!(diffs.is_empty(), "{diffs:?}");
        assert_eq!(stability[0].answers, Stability::Masked);
        assert_eq!(stability[0].masked, ["w-a9f | w-k2b", "Zq3x | Pw8r"]);
        // What stayed the same is still compared.
        let broken = page(200, "c7d", "Mn1t", "12:40:10.1", "TemplateDoesNotExist");
        assert_eq!(
            compare(std::slice::from_ref(&first), &again, &[broken])
                .0
                .len(),
            1
        );
        let failed = page(500, "c7d", "Mn1t", "12:40:10.1", "made with care");
        assert_eq!(compare(&[first], &again, &[failed]).0.len(), 1);
    }

    #[test]
    fn a_probe_whose_status_changes_on_the_original_is_unstable_not_a_difference() {
        let first = http(200, "here");
        let second = http(404, "gone");
        let (diffs, stability) = compare(
            std::slice::from_ref(&first),
            &[Some(second)],
            &[http(404, "x")],
        );
        assert!(diffs.is_empty());
        assert_eq!(stability[0].answers, Stability::Unstable);
        assert_eq!(
            stability[0].unstable.as_deref(),
            Some("status 200, then status 404")
        );
        let (diffs, stability) = compare(
            std::slice::from_ref(&first),
            &[Some(first.clone())],
            std::slice::from_ref(&first),
        );
        assert!(diffs.is_empty());
        assert_eq!(stability[0].answers, Stability::Stable);
    }

    #[test]
    fn command_output_that_varies_on_the_original_is_masked() {
        let run = |code, output: &str| ProbeResult::Exec {
            command: vec!["uuidgen".into()],
            exit_code: Some(code),
            output: output.into(),
            error: None,
            millis: 1,
        };
        let again = [Some(run(0, "id f0e2a ok"))];
        let (diffs, stability) = compare(&[run(0, "id 9b7cd ok")], &again, &[run(0, "id x1y ok")]);
        assert!(diffs.is_empty());
        assert_eq!(stability[0].answers, Stability::Masked);
        assert_eq!(
            compare(
                &[run(0, "id 9b7cd ok")],
                &again,
                &[run(0, "id x1y: not found")]
            )
            .0
            .len(),
            1
        );
        assert_eq!(
            compare(&[run(0, "a")], &[Some(run(1, "a"))], &[run(2, "b")]).1[0].answers,
            Stability::Unstable
        );
    }

    #[test]
    fn normalising_keeps_words_and_folds_numbers_and_tokens() {
        assert_eq!(normalise("page 12 of 345"), "page 0 of 0");
        assert_eq!(normalise("id=ab12cd34ef56gh78ij"), "id=~");
        assert_eq!(normalise("short a1b2"), "short a0b0");
    }
}
