//! Ctrl-C and SIGTERM. `slim trace` takes them in three steps: the first asks the run to
//! stop (its container is stopped the engine's way and the trace is still written); the
//! second aborts it (no grace period: the container is force-removed and the cgroup cleaned
//! up); the third exits at once, with a hint naming whatever is left to clean up by hand.
//! `slim build` has no use for a partial trace: the first signal aborts whatever phase runs
//! (traced run, save, rebuild, load, verification) and cleans up; the second exits at once.
//!
//! Also the test hook `SLIM_TEST_HOOK` (`pause:PHASE` or `panic:PHASE`): it lets the
//! interruption tests catch slim at a phase. It is not a user-facing setting.

use std::sync::{Arc, Mutex};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::error::Error;
use crate::exit::ExitCode;
use crate::reporter::Reporter;

const STOP: u8 = 1;
const ABORT: u8 = 2;

/// What the first SIGINT or SIGTERM does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstSignal {
    /// Stop gracefully and keep what was done (`slim trace`).
    Stop,
    /// Abort and clean up (`slim build`).
    Abort,
}

/// Tells a running command that the user asked it to stop, or to abort.
#[derive(Clone, Debug)]
pub struct StopRequest {
    level: watch::Receiver<u8>,
    cleanup_hint: Arc<Mutex<Option<String>>>,
}

/// Asks the commands holding the matching [`StopRequest`] to stop or abort.
#[derive(Debug)]
pub struct StopHandle(watch::Sender<u8>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.send_modify(|level| *level = (*level).max(STOP));
    }

    pub fn abort(&self) {
        self.0.send_modify(|level| *level = (*level).max(ABORT));
    }
}

impl StopRequest {
    /// A stop request triggered only through the returned handle.
    pub fn manual() -> (StopHandle, StopRequest) {
        let (tx, rx) = watch::channel(0);
        (
            StopHandle(tx),
            StopRequest {
                level: rx,
                cleanup_hint: Arc::default(),
            },
        )
    }

    /// A stop request triggered by SIGINT or SIGTERM: `first` says what the first signal
    /// does; the last one exits the process at once. Must be called inside a tokio runtime.
    pub fn from_signals(first: FirstSignal) -> std::io::Result<StopRequest> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (handle, request) = StopRequest::manual();
        let hint = Arc::clone(&request.cleanup_hint);
        tokio::spawn(async move {
            let mut next = async || {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            };
            next().await;
            if first == FirstSignal::Stop {
                eprintln!("slim: stopping (interrupt again to abort)");
                handle.stop();
                next().await;
            }
            eprintln!("slim: interrupted: cleaning up (interrupt again to exit at once)");
            handle.abort();
            next().await;
            eprintln!("error: interrupted again: exiting without cleaning up");
            if let Some(hint) = hint.lock().ok().and_then(|h| h.clone()) {
                eprintln!(
                    "hint: clean up with: {hint} (or start slim again: it removes what a run that is gone left)"
                );
            } else {
                eprintln!("hint: the next slim run removes what this one left");
            }
            std::process::exit(i32::from(ExitCode::Interrupted.code()));
        });
        Ok(request)
    }

    /// Completes once a stop is requested (at once if it already was).
    pub async fn requested(&mut self) {
        self.reached(STOP).await;
    }

    /// Completes once an abort is requested (at once if it already was).
    pub async fn aborted(&mut self) {
        self.reached(ABORT).await;
    }

    /// Whether a stop (or an abort) was requested.
    pub fn is_requested(&self) -> bool {
        *self.level.borrow() >= STOP
    }

    async fn reached(&mut self, wanted: u8) {
        if self.level.wait_for(|&level| level >= wanted).await.is_err() {
            // Nobody can ask any more.
            std::future::pending::<()>().await;
        }
    }

    /// What to tell the user to clean up if they force an exit now.
    pub fn set_cleanup_hint(&self, hint: Option<String>) {
        if let Ok(mut slot) = self.cleanup_hint.lock() {
            *slot = hint;
        }
    }
}

/// Runs `work` unless a stop is requested first.
pub async fn interruptible<T>(
    stop: &mut StopRequest,
    work: impl Future<Output = T>,
) -> Result<T, Error> {
    tokio::select! {
        biased;
        () = stop.requested() => Err(Error::Interrupted),
        done = work => Ok(done),
    }
}

/// The environment variable of the test hook.
pub const TEST_HOOK_ENV: &str = "SLIM_TEST_HOOK";

/// Whether the test hook asks for `action` (`pause`, `panic`) at `phase`. The hook is a
/// comma-separated list of `ACTION:PHASE`.
pub fn test_hook(action: &str, phase: &str) -> bool {
    std::env::var(TEST_HOOK_ENV).is_ok_and(|hook| {
        hook.split(',')
            .any(|entry| entry.split_once(':') == Some((action, phase)))
    })
}

/// A point where the interruption tests can catch slim: with `SLIM_TEST_HOOK=pause:PHASE`
/// slim says `paused at PHASE` and waits there until it is interrupted; with
/// `panic:PHASE` it panics there. Without the variable this returns at once.
pub async fn test_point(
    phase: &str,
    reporter: &dyn Reporter,
    stop: &mut StopRequest,
) -> Result<(), Error> {
    if test_hook("panic", phase) {
        panic!("{TEST_HOOK_ENV} asked for a panic at {phase}");
    }
    if test_hook("pause", phase) {
        reporter.step(&format!("paused at {phase} ({TEST_HOOK_ENV})"));
        stop.requested().await;
        return Err(Error::Interrupted);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_then_abort_complete_in_order() {
        let (handle, mut request) = StopRequest::manual();
        let mut aborted = request.clone();
        assert!(!request.is_requested());
        handle.stop();
        request.requested().await;
        assert!(request.is_requested());
        let not_yet =
            tokio::time::timeout(std::time::Duration::from_millis(20), aborted.aborted()).await;
        assert!(not_yet.is_err(), "a stop is not an abort");
        handle.abort();
        aborted.aborted().await;
        // An abort implies a stop.
        request.requested().await;
    }
}
