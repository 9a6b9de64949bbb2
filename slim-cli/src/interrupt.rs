//! Ctrl-C and SIGTERM: the first asks the running command to stop (a traced run stops its
//! container the engine's way and finishes its trace); the second exits at once, with a
//! hint naming whatever is left to clean up by hand.

use std::sync::{Arc, Mutex};

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::exit::ExitCode;

/// Tells a running command that the user asked it to stop.
#[derive(Clone, Debug)]
pub struct StopRequest {
    requested: watch::Receiver<bool>,
    cleanup_hint: Arc<Mutex<Option<String>>>,
}

/// Asks the commands holding the matching [`StopRequest`] to stop.
#[derive(Debug)]
pub struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl StopRequest {
    /// A stop request triggered only through the returned handle.
    pub fn manual() -> (StopHandle, StopRequest) {
        let (tx, rx) = watch::channel(false);
        (
            StopHandle(tx),
            StopRequest {
                requested: rx,
                cleanup_hint: Arc::default(),
            },
        )
    }

    /// A stop request triggered by SIGINT or SIGTERM; a second signal exits the process.
    /// Must be called inside a tokio runtime.
    pub fn from_signals() -> std::io::Result<StopRequest> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (handle, request) = StopRequest::manual();
        let hint = Arc::clone(&request.cleanup_hint);
        tokio::spawn(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            eprintln!("slim: stopping (interrupt again to exit at once)");
            handle.stop();
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            eprintln!("error: interrupted twice: exiting without cleaning up");
            if let Some(hint) = hint.lock().ok().and_then(|h| h.clone()) {
                eprintln!("hint: {hint}");
            }
            std::process::exit(i32::from(ExitCode::Interrupted.code()));
        });
        Ok(request)
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        *self.requested.borrow()
    }

    /// Completes once a stop is requested (at once if it already was).
    pub async fn requested(&mut self) {
        if self.requested.wait_for(|&stop| stop).await.is_err() {
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
