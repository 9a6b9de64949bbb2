//! Ctrl-C and SIGTERM. `slim trace` takes them in three steps: the first asks the run to
//! stop (its container is stopped the engine's way and the trace is still written); the
//! second aborts it (no grace period: the container is force-removed and the cgroup cleaned
//! up); the third exits at once, with a hint naming whatever is left to clean up by hand.
//! `slim build` has no use for a partial trace: the first signal aborts whatever phase runs
//! (traced run, save, rebuild, load, verification) and cleans up; the second exits at once.
//!
//! Also blocking work that a stop request ends ([`blocking`]). Touches signals and the
//! blocking pool only; its errors ([`Interrupted`], [`Unfinished`]) are wrapped by every
//! stage's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::exit::ExitCode;

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

/// The work ended early because the user asked it to stop (SIGINT, SIGTERM), after
/// cleaning up.
#[derive(Debug, thiserror::Error)]
#[error(
    "interrupted before the end: slim removed what it had made (containers, cgroups, the \
     probe, temporary files)"
)]
pub struct Interrupted;

/// Work on the blocking pool that handed back no result.
#[derive(Debug, thiserror::Error)]
pub enum Unfinished {
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The task panicked: a bug.
    #[error("the {what} task failed: {message}")]
    Failed { what: String, message: String },
}

/// Runs `work` unless a stop is requested first.
pub async fn interruptible<T>(
    stop: &mut StopRequest,
    work: impl Future<Output = T>,
) -> Result<T, Interrupted> {
    tokio::select! {
        biased;
        () = stop.requested() => Err(Interrupted),
        done = work => Ok(done),
    }
}

/// How long an interrupted phase's blocking work and an interrupted load get to finish
/// before slim gives up waiting (so that nothing it writes outlives the clean-up).
pub const SETTLE: Duration = Duration::from_secs(10);

/// Runs `work` on the blocking pool. When a stop is requested meanwhile, `work` is told
/// (the flag it gets) and awaited for at most [`SETTLE`]; the result is then
/// [`Unfinished::Interrupted`].
pub async fn blocking<T: Send + 'static>(
    stop: &mut StopRequest,
    what: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unfinished> {
    blocking_cancellable(stop, what, |_| work()).await
}

async fn blocking_cancellable<T: Send + 'static>(
    stop: &mut StopRequest,
    what: &str,
    work: impl FnOnce(&AtomicBool) -> T + Send + 'static,
) -> Result<T, Unfinished> {
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&cancelled);
    let mut task = tokio::task::spawn_blocking(move || work(&flag));
    tokio::select! {
        biased;
        () = stop.requested() => {
            cancelled.store(true, Ordering::Relaxed);
            let _ = tokio::time::timeout(SETTLE, &mut task).await;
            Err(Interrupted.into())
        }
        done = &mut task => done.map_err(|e| Unfinished::Failed {
            what: what.to_string(),
            message: e.to_string(),
        }),
    }
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
