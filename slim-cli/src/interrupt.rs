//! Ctrl-C and SIGTERM, in three steps: the first asks the running command to stop (a
//! traced run stops its container the engine's way and still writes its trace); the second
//! aborts it (no grace period: the container is force-removed and the cgroup cleaned up);
//! the third exits at once, with a hint naming whatever is left to clean up by hand.

use std::sync::{Arc, Mutex};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::exit::ExitCode;

const STOP: u8 = 1;
const ABORT: u8 = 2;

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

    /// A stop request triggered by SIGINT or SIGTERM (stop, then abort, then exit the
    /// process). Must be called inside a tokio runtime.
    pub fn from_signals() -> std::io::Result<StopRequest> {
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
            eprintln!("slim: stopping (interrupt again to abort)");
            handle.stop();
            next().await;
            eprintln!("slim: aborting: removing the container (interrupt again to exit at once)");
            handle.abort();
            next().await;
            eprintln!("error: interrupted three times: exiting without cleaning up");
            if let Some(hint) = hint.lock().ok().and_then(|h| h.clone()) {
                eprintln!("hint: clean up with: {hint}");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_then_abort_complete_in_order() {
        let (handle, mut request) = StopRequest::manual();
        let mut aborted = request.clone();
        handle.stop();
        request.requested().await;
        let not_yet =
            tokio::time::timeout(std::time::Duration::from_millis(20), aborted.aborted()).await;
        assert!(not_yet.is_err(), "a stop is not an abort");
        handle.abort();
        aborted.aborted().await;
        // An abort implies a stop.
        request.requested().await;
    }
}
