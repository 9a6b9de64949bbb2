//! How library code tells the user what it is doing: a small trait the command line
//! implements (progress on stderr), so stages never print and tests can listen.
//!
//! Stages report three kinds of things: lines worth a log (`step`, `warn`), the phase the
//! work is in (`begin` … `end`, one line each on a terminal), and live counts within the
//! phase (`count`). How any of it looks is the command line's business.

use std::fmt;

/// A phase of the work, as the user sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Looking the image up in the engine.
    Inspect,
    /// Creating the cgroup, attaching the probe, starting the container.
    Start,
    /// Waiting for the exposed ports to answer.
    Ready,
    /// Sending requests and running commands against the application.
    Probing,
    /// The container runs by itself (nothing to probe) until it exits or is stopped.
    Run,
    /// Stopping the container and reading the last events.
    Stop,
    /// Reading the original image out of the engine.
    Save,
    /// Computing what the new image keeps.
    Keep,
    /// Writing the new layer and image archive.
    Rebuild,
    /// Loading the new image into the engine.
    Load,
    /// Running the new image with the same probes.
    Verify,
}

impl Phase {
    /// The phase's name, one lower-case word.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Inspect => "inspect",
            Phase::Start => "start",
            Phase::Ready => "ready",
            Phase::Probing => "probing",
            Phase::Run => "run",
            Phase::Stop => "stop",
            Phase::Save => "save",
            Phase::Keep => "keep",
            Phase::Rebuild => "rebuild",
            Phase::Load => "load",
            Phase::Verify => "verify",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Something the current phase counts as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// HTTP requests sent.
    Requests,
    /// Commands run (`--exec`, `--host-exec`).
    Commands,
    /// Distinct paths the traced processes touched.
    Files,
    /// Bytes read (from the engine).
    BytesRead,
    /// Bytes written (the new layer and archive).
    BytesWritten,
}

/// Receives progress and warnings from a running command.
pub trait Reporter: Send + Sync {
    /// A step of the work worth a line in a log.
    fn step(&self, message: &str);
    /// Something the user should know that does not stop the command.
    fn warn(&self, message: &str);
    /// A line of the command's final result: shown even when progress is not.
    fn result(&self, line: &str) {
        self.step(line);
    }
    /// `phase` begins; the phase before it, if still open, ends (its counts say what it
    /// did).
    fn begin(&self, phase: Phase) {
        let _ = phase;
    }
    /// A part of the current phase begins (a verification round's probing, say): its
    /// counts start over.
    fn detail(&self, what: &str) {
        let _ = what;
    }
    /// The current phase has seen `value` of `counter` so far.
    fn count(&self, counter: Counter, value: u64) {
        let _ = (counter, value);
    }
    /// The current phase ends; `summary` says what it did in a few words (empty: its
    /// counts say it).
    fn end(&self, summary: &str) {
        let _ = summary;
    }
}

/// A reporter that drops everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn step(&self, _: &str) {}
    fn warn(&self, _: &str) {}
}

/// Reports work nested in a phase (the traced runs and rebuilds of a verification round)
/// as details of that phase: its phases become the outer phase's detail, labelled.
pub struct Within<'a> {
    outer: &'a dyn Reporter,
    label: String,
}

impl<'a> Within<'a> {
    pub fn new(outer: &'a dyn Reporter, label: impl Into<String>) -> Within<'a> {
        Within {
            outer,
            label: label.into(),
        }
    }
}

impl Reporter for Within<'_> {
    fn step(&self, message: &str) {
        self.outer.step(message);
    }
    fn warn(&self, message: &str) {
        self.outer.warn(message);
    }
    fn result(&self, line: &str) {
        self.outer.result(line);
    }
    fn begin(&self, phase: Phase) {
        self.outer.detail(&format!("{}: {phase}", self.label));
    }
    fn detail(&self, what: &str) {
        self.outer.detail(&format!("{}: {what}", self.label));
    }
    fn count(&self, counter: Counter, value: u64) {
        self.outer.count(counter, value);
    }
    fn end(&self, _: &str) {}
}

/// Bytes as megabytes with one decimal, as the summary shows sizes.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl Reporter for Log {
        fn step(&self, message: &str) {
            self.0.lock().unwrap().push(format!("step {message}"));
        }
        fn warn(&self, message: &str) {
            self.0.lock().unwrap().push(format!("warn {message}"));
        }
        fn begin(&self, phase: Phase) {
            self.0.lock().unwrap().push(format!("begin {phase}"));
        }
        fn detail(&self, what: &str) {
            self.0.lock().unwrap().push(format!("detail {what}"));
        }
        fn count(&self, counter: Counter, value: u64) {
            self.0
                .lock()
                .unwrap()
                .push(format!("count {counter:?} {value}"));
        }
        fn end(&self, summary: &str) {
            self.0.lock().unwrap().push(format!("end {summary}"));
        }
    }

    #[test]
    fn nested_phases_become_details_of_the_outer_phase() {
        let log = Log::default();
        log.begin(Phase::Verify);
        let round = Within::new(&log, "round 1");
        round.begin(Phase::Start);
        round.end("started");
        round.begin(Phase::Probing);
        round.count(Counter::Requests, 3);
        round.step("probe: GET / → 200");
        log.end("verified");
        assert_eq!(
            *log.0.lock().unwrap(),
            [
                "begin verify",
                "detail round 1: start",
                "detail round 1: probing",
                "count Requests 3",
                "step probe: GET / → 200",
                "end verified",
            ]
        );
    }
}
