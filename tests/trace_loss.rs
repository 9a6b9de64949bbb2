//! `slim trace` and `slim build` never lose events silently: a burst of 100,000 opens is
//! traced whole with the default ring buffer, and a ring buffer forced too small makes the
//! run fail with exit code 4, the count and a hint, unless `--allow-incomplete` is given
//! (then a build goes on and its report counts the lost events). Black-box: the real
//! binary, the real kernel and engine.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use slim_fixtures::{BuildCommand, TraceCommand, image, image_tags};

const BURST: usize = 100_000;

fn burst() -> TraceCommand {
    TraceCommand::new(&image("probe")).args([
        "probe-fixture",
        "burst",
        &BURST.to_string(),
        "/etc/first-file",
    ])
}

#[test]
fn root_engine_burst_of_100k_opens_is_traced_with_no_loss() {
    let trace = burst().run();
    trace.assert_success();
    let opens = trace
        .records
        .iter()
        .filter(|r| {
            r.kind == "open"
                && r.path == "/etc/first-file"
                && r.result == "ok"
                && r.comm == "probe-fixture"
        })
        .count();
    assert!(
        opens >= BURST,
        "{opens} of {BURST} opens traced; stderr:\n{}",
        trace.stderr
    );
}

#[test]
fn root_engine_tiny_ring_buffer_loses_events_and_exits_4() {
    let trace = burst().option("--ring-buffer", "4K").run();
    assert_eq!(
        trace.code,
        Some(4),
        "a 4K ring buffer under a 100k burst must report an incomplete trace; stderr:\n{}",
        trace.stderr
    );
    assert!(
        trace.stderr.to_lowercase().contains("lost"),
        "stderr must say events were lost:\n{}",
        trace.stderr
    );
}

#[test]
fn root_engine_tiny_ring_buffer_with_allow_incomplete_exits_0() {
    let trace = burst()
        .option("--ring-buffer", "4K")
        .flag("--allow-incomplete")
        .run();
    trace.assert_success();
}

/// `slim build` of the probe image whose traced run is the burst.
fn build_burst(label: &str) -> BuildCommand {
    BuildCommand::new(&image("probe"))
        .unique_tag(label)
        .option(
            "--cmd",
            &format!("probe-fixture burst {BURST} /etc/first-file"),
        )
        .option("--ring-buffer", "4K")
}

#[test]
fn root_engine_build_with_tiny_ring_buffer_exits_4_and_builds_nothing() {
    let command = build_burst("loss");
    let tag = command.chosen_tag().expect("own tag").to_string();
    let outcome = command.run();
    assert_eq!(
        outcome.code,
        Some(4),
        "a build whose probe lost events must exit 4; stderr:\n{}",
        outcome.stderr
    );
    outcome.assert_nothing_left();
    let errors = outcome.error_lines();
    assert_eq!(errors.len(), 1, "one error line:\n{}", outcome.stderr);
    let lost: u64 = errors[0]
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("the error must count the lost events: {}", errors[0]));
    assert!(lost > 0, "{}", errors[0]);
    assert!(errors[0].contains("incomplete"), "{}", errors[0]);
    let hint = outcome
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint:\n{}", outcome.stderr));
    assert!(
        hint.contains("--ring-buffer") && hint.contains("--allow-incomplete"),
        "{hint}"
    );
    assert!(!image_tags().contains(&tag), "the failed build left {tag}");
}

#[test]
fn root_engine_build_with_allow_incomplete_goes_on_and_reports_the_loss() {
    let report = std::env::temp_dir().join(format!("slim-loss-{}.report.json", std::process::id()));
    let outcome = build_burst("loss-allowed")
        .flag("--allow-incomplete")
        .flag("--no-verify")
        .option("--report", &report.display().to_string())
        .run();
    outcome.assert_success();
    let _image = outcome.image();
    let text = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("reading the report {}: {e}", report.display()));
    let _ = std::fs::remove_file(&report);
    let value: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");
    let lost = value["probes"]["lost_events"].as_u64().unwrap_or(0);
    assert!(
        lost > 0,
        "the report must count the lost events: {}",
        value["probes"]
    );
    assert!(
        outcome
            .stderr
            .lines()
            .any(|l| l.contains("events were lost") && l.contains("--allow-incomplete")),
        "slim must warn that the trace is incomplete:\n{}",
        outcome.stderr
    );
}
