//! What slim shows while it works, as a user at a terminal and a CI log see it: plain
//! timestamped lines (one per finished phase) when stderr is not a terminal, spinners
//! redrawn in place under a pseudo-terminal (`script`), nothing but the result with
//! `--quiet`, and with `--json` the report on stdout and no progress on stderr.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`), and `script` (bsdutils) for the terminal tests.

use slim_fixtures::{BuildCommand, BuildOutcome, TraceCommand, image, is_timestamp, untimed};

/// A phase line of the plain output: `slim: [<phase> <secs>s] <summary>`.
#[derive(Debug)]
struct PhaseLine {
    phase: String,
    secs: f64,
    summary: String,
}

fn phase_line(message: &str) -> Option<PhaseLine> {
    let rest = message.strip_prefix("slim: [")?;
    let (head, summary) = rest.split_once("] ")?;
    let (phase, secs) = head.split_once(' ')?;
    Some(PhaseLine {
        phase: phase.to_string(),
        secs: secs.strip_suffix('s')?.parse().ok()?,
        summary: summary.to_string(),
    })
}

fn phase_lines(stderr: &str) -> Vec<PhaseLine> {
    stderr.lines().map(untimed).filter_map(phase_line).collect()
}

fn phase_names(stderr: &str) -> Vec<String> {
    phase_lines(stderr).into_iter().map(|p| p.phase).collect()
}

/// Checks that every line of `stderr` is plain: no escape code, no carriage return, and a
/// timestamp first, the timestamps in order.
fn assert_plain(outcome: &BuildOutcome, stderr: &str) {
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "`{}`: escape codes or carriage returns on a non-terminal:\n{stderr:?}",
        outcome.command
    );
    let mut last = String::new();
    for line in stderr.lines() {
        let (stamp, message) = line.split_once(' ').unwrap_or((line, ""));
        assert!(
            is_timestamp(stamp),
            "a line without a timestamp: {line:?}\nstderr:\n{stderr}"
        );
        assert!(
            message.starts_with("slim: ") || message.starts_with("warning: "),
            "a line that is neither a step nor a warning: {line:?}"
        );
        assert!(
            stamp >= last.as_str(),
            "timestamps out of order at {line:?}"
        );
        last = stamp.to_string();
    }
}

/// Runs `slim build` under a pseudo-terminal (`script`); what the terminal received is
/// the outcome's stdout.
fn build_on_a_terminal(command: BuildCommand) -> BuildOutcome {
    command
        .env("TERM", "xterm-256color")
        .wrapped_in([
            "bash",
            "-c",
            r#"exec script --quiet --return --flush --command "${*@Q}" /dev/null"#,
            "bash",
        ])
        .run()
}

/// The SGR (colour) sequences `ESC [ … m` in `text`.
fn colour_codes(text: &str) -> Vec<&str> {
    text.match_indices("\x1b[")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            let end = rest.find(|c: char| !c.is_ascii_digit() && c != ';')?;
            (rest.as_bytes()[end] == b'm').then(|| &text[at..at + 2 + end + 1])
        })
        .collect()
}

#[test]
fn root_engine_plain_lines_on_a_non_terminal_one_per_phase() {
    let outcome = BuildCommand::new(&image("python-app"))
        .unique_tag("output-plain")
        .run();
    let _slim = outcome.image();
    let stderr = &outcome.stderr;
    assert_plain(&outcome, stderr);
    assert_eq!(
        phase_names(stderr),
        [
            "inspect", "start", "ready", "probing", "stop", "save", "keep", "rebuild", "load",
            "verify"
        ],
        "one line per phase, in order:\n{stderr}"
    );
    let phases = phase_lines(stderr);
    let summary = |name: &str| {
        phases
            .iter()
            .find(|p| p.phase == name)
            .map(|p| p.summary.as_str())
            .unwrap_or_default()
    };
    let probing = summary("probing");
    assert!(
        probing.contains("request") && probing.contains("files seen"),
        "probing counts requests and files: {probing}"
    );
    assert!(
        summary("ready").contains("8000 (http)"),
        "ready names the port: {stderr}"
    );
    assert!(
        summary("rebuild").contains("MB layer written"),
        "rebuild says what it wrote: {stderr}"
    );
    assert!(
        summary("load").contains("MB sent"),
        "load says what it sent to the engine: {stderr}"
    );
    assert!(
        summary("save").contains("MB read"),
        "save says what it read: {stderr}"
    );
    assert!(
        summary("verify").starts_with("verified"),
        "verify gives its verdict: {stderr}"
    );
    assert!(
        phases.iter().all(|p| p.secs >= 0.0),
        "each phase line gives its time"
    );
    let messages = outcome.messages();
    let verify_at = messages
        .iter()
        .position(|m| m.starts_with("slim: [verify "))
        .expect("a verify line");
    let built_at = messages
        .iter()
        .position(|m| m.starts_with("slim: built "))
        .unwrap_or_else(|| panic!("no result line:\n{stderr}"));
    assert!(verify_at < built_at, "the result comes after the phases");
    assert!(
        outcome.stdout.is_empty(),
        "stdout is for data only: {:?}",
        outcome.stdout
    );
}

#[test]
fn root_engine_trace_shows_its_phases_as_plain_lines() {
    let trace = TraceCommand::new(&image("debian"))
        .args(["/bin/cat", "/etc/hostname"])
        .run();
    trace.assert_success();
    let stderr = &trace.stderr;
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(
        stderr
            .lines()
            .all(|l| l.split_once(' ').is_some_and(|(t, _)| is_timestamp(t))),
        "every line timestamped:\n{stderr}"
    );
    assert_eq!(phase_names(stderr), ["inspect", "start", "run"], "{stderr}");
    let run = &phase_lines(stderr)[2];
    assert!(
        run.summary.contains("exited with code 0") && run.summary.contains("files seen"),
        "{stderr}"
    );
}

#[test]
fn root_engine_spinners_are_drawn_on_a_terminal() {
    let outcome = build_on_a_terminal(BuildCommand::new(&image("debian")).unique_tag("output-tty"));
    assert_eq!(
        outcome.code,
        Some(0),
        "`{}` failed; terminal:\n{}",
        outcome.command,
        outcome.stdout
    );
    outcome.assert_nothing_left();
    let _slim = outcome.image();
    let screen = &outcome.stdout;
    let phases = [
        "inspect", "start", "run", "save", "keep", "rebuild", "load", "verify",
    ];
    // How the pseudo-terminal passes carriage returns on depends on its settings; the
    // clear-line sequence before each redraw does not. Every phase's running line is
    // cleared at least once, when its finished line replaces it; how many redraws come
    // in between depends on how long the phase takes, so no more is asked.
    assert!(
        screen.matches("\x1b[2K").count() >= phases.len(),
        "lines are not cleared and redrawn in place:\n{screen:?}"
    );
    for phase in phases {
        assert!(
            screen.contains(&format!("✓ {phase:<8}")),
            "no finished line for {phase}:\n{screen}"
        );
    }
    assert!(
        !colour_codes(screen).is_empty(),
        "colours on a terminal:\n{screen:?}"
    );
    assert!(
        !screen.contains("Z slim: "),
        "no timestamps on a terminal:\n{screen}"
    );
    assert!(screen.contains("built "), "the result is shown:\n{screen}");
}

#[test]
fn root_engine_no_color_draws_spinners_without_colour() {
    let outcome = build_on_a_terminal(
        BuildCommand::new(&image("debian"))
            .unique_tag("output-nocolor")
            .flag("--no-verify")
            .env("NO_COLOR", "1"),
    );
    assert_eq!(outcome.code, Some(0), "terminal:\n{}", outcome.stdout);
    outcome.assert_nothing_left();
    let _slim = outcome.image();
    let screen = &outcome.stdout;
    assert!(
        screen.contains("✓ rebuild"),
        "spinners still drawn:\n{screen}"
    );
    assert_eq!(
        colour_codes(screen),
        Vec::<&str>::new(),
        "colour with NO_COLOR:\n{screen:?}"
    );
}

#[test]
fn root_engine_quiet_shows_only_the_result() {
    let outcome = BuildCommand::new(&image("debian"))
        .unique_tag("output-quiet")
        .flag("--no-verify")
        .flag("--quiet")
        .run();
    let _slim = outcome.image();
    let messages = outcome.messages();
    assert!(
        phase_names(&outcome.stderr).is_empty(),
        "no phase lines with --quiet:\n{}",
        outcome.stderr
    );
    for step in [
        "slim: tracing ",
        "slim: run ",
        "slim: started container",
        "slim: keeping ",
    ] {
        assert!(
            !messages.iter().any(|m| m.starts_with(step)),
            "no progress with --quiet ({step}):\n{}",
            outcome.stderr
        );
    }
    assert!(
        messages.iter().any(|m| m.starts_with("slim: built ")),
        "the result stays:\n{}",
        outcome.stderr
    );
}

#[test]
fn root_engine_json_prints_the_report_on_stdout_and_no_progress() {
    let dir = std::env::temp_dir().join(format!("slim-test-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the report's directory");
    let report_file = dir.join("report.json");
    let outcome = BuildCommand::new(&image("debian"))
        .unique_tag("output-json")
        .flag("--no-verify")
        .option("--report", report_file.to_str().expect("UTF-8 path"))
        .flag("--json")
        .run();
    let written = std::fs::read_to_string(&report_file).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let slim = outcome.image();
    let report: serde_json::Value = serde_json::from_str(&outcome.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            outcome.stdout, outcome.stderr
        )
    });
    assert_eq!(report["image"]["tag"], slim.tag.as_str(), "{report:#}");
    assert_eq!(report["image"]["id"], slim.engine.id.as_str(), "{report:#}");
    assert_eq!(
        written, outcome.stdout,
        "--json prints the same JSON as the --report file"
    );
    assert!(
        phase_names(&outcome.stderr).is_empty(),
        "no progress with --json:\n{}",
        outcome.stderr
    );
    assert!(
        !outcome
            .messages()
            .iter()
            .any(|m| m.starts_with("slim: run ")),
        "no progress with --json:\n{}",
        outcome.stderr
    );
}
