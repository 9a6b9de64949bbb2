//! What the user sees on stderr while slim works: the command line's [`Reporter`]. Only
//! this module knows indicatif.
//!
//! The way is chosen once, at start:
//! - stderr is a terminal: one line per phase with a spinner, its time and live counts;
//!   steps show briefly on the running line, warnings above the lines;
//! - stderr is not a terminal (a CI log, a pipe, a file), or `TERM=dumb`: plain lines, each
//!   starting with a UTC timestamp, one per step, per warning and per finished phase; no
//!   bars and no escape codes;
//! - `--quiet`: only warnings and the final result.
//!
//! `NO_COLOR` (set and not empty) turns colour off. Errors are printed by `main`, after
//! [`StderrReporter::fail`] has closed the open phase. Stdout is never written here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::reporter::{Counter, Phase, Reporter};

/// How often the running line is redrawn, and counts at most re-rendered.
const REFRESH: Duration = Duration::from_millis(100);

/// How the reporter writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// Bars on a terminal, or plain timestamped lines.
    pub terminal: bool,
    /// Only warnings and the final result.
    pub quiet: bool,
    /// Colour (a terminal without `NO_COLOR`).
    pub color: bool,
}

impl Style {
    /// The style for this process's stderr and environment.
    pub fn detect(quiet: bool) -> Style {
        let terminal = std::io::stderr().is_terminal()
            && std::env::var_os("TERM").is_none_or(|term| term != "dumb");
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            terminal,
            quiet,
            color: terminal && !no_color,
        }
    }
}

/// Reports on stderr in the detected [`Style`].
pub struct StderrReporter {
    style: Style,
    state: Mutex<State>,
    /// Where lines go: stderr, or a buffer in tests.
    out: Mutex<Box<dyn Write + Send>>,
}

#[derive(Default)]
struct State {
    /// The bars, on a terminal unless quiet; gone once the result is printed.
    multi: Option<MultiProgress>,
    open: Option<Open>,
    /// The files counted by the phase that ended last.
    files: Option<u64>,
}

/// The phase in progress.
struct Open {
    phase: Phase,
    started: Instant,
    detail: String,
    counts: BTreeMap<Counter, u64>,
    last_step: String,
    bar: Option<ProgressBar>,
    /// When the bar's message was last set.
    shown: Option<Instant>,
}

impl StderrReporter {
    pub fn new(style: Style) -> StderrReporter {
        StderrReporter::with_output(style, Box::new(std::io::stderr()))
    }

    /// A reporter whose lines go to `out` (bars, on a terminal, always go to stderr).
    pub fn with_output(style: Style, out: Box<dyn Write + Send>) -> StderrReporter {
        let multi = (style.terminal && !style.quiet)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        StderrReporter {
            style,
            state: Mutex::new(State {
                multi,
                open: None,
                files: None,
            }),
            out: Mutex::new(out),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The command failed: the open phase is marked failed and the bars stop, so the
    /// error printed next stands below them.
    pub fn fail(&self) {
        let mut state = self.state();
        if let Some(open) = state.open.take() {
            self.close(open, "", false);
        }
        state.multi = None;
    }

    /// Ends `open`, leaving its line.
    fn close(&self, open: Open, summary: &str, ok: bool) {
        let secs = open.started.elapsed().as_secs_f64();
        let text = if !summary.is_empty() {
            summary.to_string()
        } else if !ok {
            "failed".to_string()
        } else {
            counts_text(&open.counts)
        };
        match &open.bar {
            Some(bar) => {
                let (mark, color) = if ok { ("✓", "green") } else { ("✗", "red") };
                let template = if self.style.color {
                    format!("{{prefix:.{color}}} {{wide_msg}}")
                } else {
                    "{prefix} {wide_msg}".to_string()
                };
                bar.set_style(style_from(&template));
                bar.set_prefix(format!("{mark} {:<8}", open.phase.name()));
                let message = format!("{secs:>5.1}s  {text}");
                if ok {
                    bar.finish_with_message(message);
                } else {
                    bar.abandon_with_message(message);
                }
            }
            None if !self.style.quiet => {
                let text = if text.is_empty() { "done" } else { &text };
                self.plain(&format!("slim: [{} {secs:.1}s] {text}", open.phase.name()));
            }
            None => {}
        }
    }

    /// Timestamped lines (plain style: each line of a message that has several), or
    /// lines as they are (terminal).
    fn plain(&self, text: &str) {
        let mut sink = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = String::new();
        if self.style.terminal {
            out.push_str(text);
            out.push('\n');
        } else {
            // Stamped while the output is ours, so lines from several tasks come out in
            // the order of their timestamps.
            let stamp = timestamp(SystemTime::now());
            for line in text.lines() {
                let _ = writeln!(out, "{stamp} {line}");
            }
        }
        let _ = sink.write_all(out.as_bytes()).and_then(|()| sink.flush());
    }

    /// Sets the running line's message, at most every [`REFRESH`] unless `now`.
    fn show(open: &mut Open, now: bool) {
        let Some(bar) = &open.bar else {
            return;
        };
        if !now && open.shown.is_some_and(|at| at.elapsed() < REFRESH) {
            return;
        }
        open.shown = Some(Instant::now());
        let parts = [
            open.detail.clone(),
            counts_text(&open.counts),
            open.last_step.clone(),
        ];
        let message: Vec<String> = parts.into_iter().filter(|p| !p.is_empty()).collect();
        bar.set_message(message.join(" · "));
    }
}

impl Reporter for StderrReporter {
    fn step(&self, message: &str) {
        if self.style.quiet {
            return;
        }
        let mut state = self.state();
        if state.multi.is_some() {
            if let Some(open) = state.open.as_mut() {
                open.last_step = message.to_string();
                Self::show(open, true);
            }
            return;
        }
        drop(state);
        self.plain(&format!("slim: {message}"));
    }

    fn warn(&self, message: &str) {
        let label = if self.style.color {
            "\x1b[1;33mwarning\x1b[0m"
        } else {
            "warning"
        };
        let line = format!("{label}: {message}");
        let state = self.state();
        match &state.multi {
            Some(multi) => {
                let _ = multi.println(line);
            }
            None => {
                drop(state);
                self.plain(&line);
            }
        }
    }

    fn result(&self, line: &str) {
        let mut state = self.state();
        if let Some(open) = state.open.take() {
            self.close(open, "", true);
        }
        // Below the finished lines from now on, never above them.
        state.multi = None;
        drop(state);
        if self.style.terminal {
            self.plain(line);
        } else {
            self.plain(&format!("slim: {line}"));
        }
    }

    fn begin(&self, phase: Phase) {
        let mut state = self.state();
        if let Some(open) = state.open.take() {
            state.files = open.counts.get(&Counter::Files).copied();
            self.close(open, "", true);
        }
        let mut counts = BTreeMap::new();
        // The files of a traced run are counted from its start to its end, across the
        // phases in between (a quiet application sends no event to update them).
        if matches!(phase, Phase::Ready | Phase::Probing | Phase::Stop)
            && let Some(files) = state.files.take()
        {
            counts.insert(Counter::Files, files);
        }
        let bar = state.multi.as_ref().map(|multi| {
            let template = if self.style.color {
                "{spinner:.cyan} {prefix:<8} {secs} {wide_msg}"
            } else {
                "{spinner} {prefix:<8} {secs} {wide_msg}"
            };
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style_from(template));
            bar.set_prefix(phase.name());
            bar.enable_steady_tick(REFRESH);
            bar
        });
        state.open = Some(Open {
            phase,
            started: Instant::now(),
            detail: String::new(),
            counts,
            last_step: String::new(),
            bar,
            shown: None,
        });
    }

    fn detail(&self, what: &str) {
        let mut state = self.state();
        if let Some(open) = state.open.as_mut() {
            open.detail = what.to_string();
            open.counts.retain(|counter, _| *counter == Counter::Files);
            open.last_step.clear();
            Self::show(open, true);
        }
    }

    fn count(&self, counter: Counter, value: u64) {
        let mut state = self.state();
        if let Some(open) = state.open.as_mut() {
            open.counts.insert(counter, value);
            Self::show(open, false);
        }
    }

    fn end(&self, summary: &str) {
        let mut state = self.state();
        if let Some(open) = state.open.take() {
            state.files = open.counts.get(&Counter::Files).copied();
            self.close(open, summary, true);
        }
    }
}

impl Drop for StderrReporter {
    fn drop(&mut self) {
        let mut state = self.state();
        if let Some(open) = state.open.take() {
            self.close(open, "", true);
        }
    }
}

fn style_from(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key(
            "secs",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = write!(out, "{:>5.1}s", state.elapsed().as_secs_f64());
            },
        )
}

/// The counts of a phase in words, in a fixed order: `12 requests, 1 command, 340 files
/// seen`, `14.2 MB written`.
pub fn counts_text(counts: &BTreeMap<Counter, u64>) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mb = |n: u64| format!("{:.1} MB", n as f64 / 1e6);
    counts
        .iter()
        .map(|(counter, &n)| match counter {
            Counter::Requests => plural(n, "request", "requests"),
            Counter::Commands => plural(n, "command", "commands"),
            Counter::Files => format!("{} seen", plural(n, "file", "files")),
            Counter::BytesRead => format!("{} read", mb(n)),
            Counter::BytesWritten => format!("{} written", mb(n)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `2026-01-31T12:34:56.789Z`: RFC 3339 in UTC, to the millisecond.
pub fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    let mut out = String::with_capacity(24);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    );
    out
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use slim_test_kit::is_timestamp;
    use std::sync::Arc;

    /// A reporter in the plain style writing into a buffer the test reads.
    fn plain(quiet: bool) -> (StderrReporter, Arc<Mutex<Vec<u8>>>) {
        #[derive(Clone)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer(Arc::default());
        let style = Style {
            terminal: false,
            quiet,
            color: false,
        };
        let reporter = StderrReporter::with_output(style, Box::new(buffer.clone()));
        (reporter, buffer.0)
    }

    /// The lines written, each checked to start with a timestamp, without it.
    fn lines(buffer: &Mutex<Vec<u8>>) -> Vec<String> {
        let text = String::from_utf8(buffer.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|line| {
                let (stamp, rest) = line.split_once(' ').unwrap();
                assert!(is_timestamp(stamp), "{line}");
                rest.to_string()
            })
            .collect()
    }

    /// `[phase 0.0s]` → `[phase]`: the times vary.
    fn untimed(lines: Vec<String>) -> Vec<String> {
        lines
            .into_iter()
            .map(|l| match (l.find(" ["), l.find("s] ")) {
                (Some(open), Some(close)) if open < close => {
                    let phase_end = l[open + 2..].find(' ').unwrap() + open + 2;
                    format!("{}]{}", &l[..phase_end], &l[close + 2..])
                }
                _ => l,
            })
            .collect()
    }

    #[test]
    fn plain_lines_give_steps_warnings_and_one_line_per_finished_phase() {
        let (reporter, buffer) = plain(false);
        reporter.begin(Phase::Inspect);
        reporter.end("app:1");
        reporter.step("tracing app:1");
        reporter.begin(Phase::Start);
        reporter.end("container c");
        reporter.begin(Phase::Ready);
        reporter.count(Counter::Files, 12);
        reporter.end("answers on 80");
        reporter.begin(Phase::Probing);
        reporter.count(Counter::Requests, 3);
        reporter.warn("probe failed: HEAD /\nhint: a second line");
        reporter.begin(Phase::Stop);
        reporter.end("");
        reporter.begin(Phase::Verify);
        reporter.detail("round 1: probing");
        reporter.count(Counter::Requests, 2);
        reporter.fail();
        reporter.result("built app.slim:1");
        assert_eq!(
            untimed(lines(&buffer)),
            [
                "slim: [inspect] app:1",
                "slim: tracing app:1",
                "slim: [start] container c",
                "slim: [ready] answers on 80",
                "warning: probe failed: HEAD /",
                "hint: a second line",
                "slim: [probing] 3 requests, 12 files seen",
                "slim: [stop] 12 files seen",
                "slim: [verify] failed",
                "slim: built app.slim:1",
            ]
        );
    }

    #[test]
    fn quiet_keeps_only_warnings_and_the_result() {
        let (reporter, buffer) = plain(true);
        reporter.begin(Phase::Inspect);
        reporter.step("tracing app:1");
        reporter.end("app:1");
        reporter.warn("something to know");
        reporter.result("built app.slim:1");
        assert_eq!(
            lines(&buffer),
            ["warning: something to know", "slim: built app.slim:1"]
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_to_the_millisecond() {
        let at = |secs: u64, millis: u64| {
            UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
        };
        assert_eq!(timestamp(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(at(951_782_400, 7)), "2000-02-29T00:00:00.007Z");
        assert_eq!(
            timestamp(at(1_798_761_599, 999)),
            "2026-12-31T23:59:59.999Z"
        );
        assert_eq!(timestamp(at(4_107_542_400, 0)), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn counts_read_in_a_fixed_order_with_plurals() {
        let mut counts = BTreeMap::new();
        counts.insert(Counter::Files, 340);
        counts.insert(Counter::Requests, 1);
        counts.insert(Counter::Commands, 2);
        assert_eq!(
            counts_text(&counts),
            "1 request, 2 commands, 340 files seen"
        );
        let written = BTreeMap::from([(Counter::BytesWritten, 14_200_000)]);
        assert_eq!(counts_text(&written), "14.2 MB written");
        assert_eq!(counts_text(&BTreeMap::new()), "");
    }
}
