//! `SLIM_TEST_HOOK`, how the interruption tests catch slim at a phase: a comma-separated
//! list of `ACTION:PHASE`. `pause:PHASE` makes slim say `paused at PHASE` and wait there
//! until it is interrupted; `panic:PHASE` makes it panic there, and exists only in debug
//! builds and in builds with the `test-hooks` feature: a shipped binary never panics on
//! request. `readiness:connect` makes readiness connect from the host and wait for HTTP,
//! as slim did before it read listening sockets from the kernel: the control of the
//! server tests. `seccomp-drop:NAME` takes system call NAME out of the `--seccomp`
//! profile before verification runs under it: the control of the seccomp tests, in debug
//! builds and builds with the `test-hooks` feature only. It is not a user-facing setting.
//!
//! The variable is read once, the first time a hook is asked about, and every question
//! about it is answered here. Touches the environment (that once) and the stop request.

use std::sync::OnceLock;

use crate::interrupt::{Interrupted, StopRequest};
use crate::reporter::Reporter;

/// The environment variable of the hook.
pub const ENV: &str = "SLIM_TEST_HOOK";

/// What the hook asks for, parsed from the variable's value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestHook {
    /// Phases to pause at.
    pauses: Vec<String>,
    /// Readiness by an HTTP answer from the host (`readiness:connect`).
    readiness_by_connection: bool,
    /// Phases to panic at.
    #[cfg(any(debug_assertions, feature = "test-hooks"))]
    panics: Vec<String>,
    /// System calls taken out of the `--seccomp` profile (`seccomp-drop:NAME`).
    #[cfg(any(debug_assertions, feature = "test-hooks"))]
    seccomp_drops: Vec<String>,
}

impl TestHook {
    /// Parses `ACTION:PHASE` entries separated by commas; entries of another form, and
    /// `panic:` where this build has no panic mode, are ignored.
    pub fn parse(value: &str) -> TestHook {
        let mut hook = TestHook::default();
        for entry in value.split(',') {
            match entry.trim().split_once(':') {
                Some(("pause", phase)) => hook.pauses.push(phase.to_string()),
                Some(("readiness", "connect")) => hook.readiness_by_connection = true,
                #[cfg(any(debug_assertions, feature = "test-hooks"))]
                Some(("panic", phase)) => hook.panics.push(phase.to_string()),
                #[cfg(any(debug_assertions, feature = "test-hooks"))]
                Some(("seccomp-drop", call)) => hook.seccomp_drops.push(call.to_string()),
                _ => {}
            }
        }
        hook
    }

    /// Whether the hook asks to pause at `phase`.
    pub fn pauses_at(&self, phase: &str) -> bool {
        self.pauses.iter().any(|p| p == phase)
    }

    /// Whether readiness should connect from the host and wait for HTTP.
    pub fn readiness_by_connection(&self) -> bool {
        self.readiness_by_connection
    }

    /// The system calls to take out of the `--seccomp` profile (none in a shipped build).
    pub fn seccomp_drops(&self) -> &[String] {
        #[cfg(any(debug_assertions, feature = "test-hooks"))]
        return &self.seccomp_drops;
        #[cfg(not(any(debug_assertions, feature = "test-hooks")))]
        return &[];
    }

    /// Whether the hook asks to panic at `phase`.
    #[cfg(any(debug_assertions, feature = "test-hooks"))]
    pub fn panics_at(&self, phase: &str) -> bool {
        self.panics.iter().any(|p| p == phase)
    }
}

/// The hook of this process, read from [`ENV`] the first time it is asked for.
pub fn hook() -> &'static TestHook {
    static HOOK: OnceLock<TestHook> = OnceLock::new();
    HOOK.get_or_init(|| TestHook::parse(&std::env::var(ENV).unwrap_or_default()))
}

/// A point where the interruption tests can catch slim: with `pause:PHASE` slim says
/// `paused at PHASE` and waits there until it is interrupted; with `panic:PHASE` (where
/// the build has it) it panics there. Without the hook this returns at once.
pub async fn test_point(
    phase: &str,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<(), Interrupted> {
    #[cfg(any(debug_assertions, feature = "test-hooks"))]
    if hook().panics_at(phase) {
        panic!("{ENV} asked for a panic at {phase}");
    }
    if hook().pauses_at(phase) {
        reporter.step(&format!("paused at {phase} ({ENV})"));
        stop.requested().await;
        return Err(Interrupted);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_an_action_and_a_phase() {
        let hook = TestHook::parse("pause:start, panic:load,pause:cleanup,bogus,stop:verify");
        assert!(hook.pauses_at("start") && hook.pauses_at("cleanup"));
        assert!(!hook.pauses_at("load") && !hook.pauses_at("verify"));
        #[cfg(any(debug_assertions, feature = "test-hooks"))]
        assert!(hook.panics_at("load") && !hook.panics_at("start"));
        assert_eq!(TestHook::parse(""), TestHook::default());
        assert!(!hook.readiness_by_connection());
        assert!(TestHook::parse("pause:start,readiness:connect").readiness_by_connection());
        assert!(!TestHook::parse("readiness:other").readiness_by_connection());
        #[cfg(any(debug_assertions, feature = "test-hooks"))]
        assert_eq!(
            TestHook::parse("seccomp-drop:sendfile,pause:x").seccomp_drops(),
            ["sendfile"]
        );
    }
}
