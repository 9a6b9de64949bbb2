//! What a traced run holds outside slim's process, and its release: the container, the
//! probe and its reader, the cgroup. Release is explicit and async (the engine must be
//! asked to remove the container), runs on every way out of a run, and goes in the order
//! container → probe → cgroup, since the cgroup can only go once the container is gone;
//! the probe detaches on a thread of its own, beside what comes next.
//! When the engine went away, removing the container is retried briefly; if it stays
//! away, the container's processes are killed through the cgroup so the cgroup can go, and
//! the container itself is left for the next run's recovery (see [`crate::recover`]).

use std::time::Duration;

use slim_probe_ebpf::{EventStream, Probe, ProbeError};
use tokio::task::JoinHandle;

use crate::cgroup::RunCgroup;
use crate::engine::{Engine, EngineError};
use crate::test_hook;

#[derive(Default)]
pub struct RunResources {
    /// The container's name, once created.
    pub container: Option<String>,
    pub probe: Option<Probe>,
    pub reader: Option<JoinHandle<Result<EventStream, ProbeError>>>,
    pub cgroup: Option<RunCgroup>,
}

impl RunResources {
    /// Shell commands that remove what is held, for a user who has to do it by hand.
    pub fn cleanup_commands(&self) -> Vec<String> {
        let mut commands = Vec::new();
        if let Some(name) = &self.container {
            commands.push(format!("docker rm -f -v {name}"));
        }
        if let Some(cgroup) = &self.cgroup {
            let dirs: Vec<String> = cgroup
                .dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            commands.push(format!("rmdir {} 2>/dev/null", dirs.join(" ")));
        }
        commands
    }

    /// Releases everything held, in order; reports what could not be released.
    pub async fn release(&mut self, engine: &impl Engine) -> Result<(), LeftBehind> {
        if test_hook::hook().pauses_at("cleanup") && !self.cleanup_commands().is_empty() {
            // Lets a test force the exit in the middle of the clean-up (a second Ctrl-C).
            eprintln!("slim: paused at cleanup ({})", test_hook::ENV);
            std::future::pending::<()>().await;
        }
        let mut left = Vec::new();
        let mut commands = Vec::new();
        if let Some(reader) = self.reader.take() {
            reader.abort();
            let _ = reader.await;
        }
        let mut container_left = false;
        if let Some(id) = self.container.take()
            && let Err(e) = remove_container(engine, &id).await
        {
            container_left = true;
            if e.is_gone() {
                left.push(format!(
                    "container {id}: the engine went away before it could be removed (the \
                     next slim run removes it)"
                ));
            } else {
                left.push(e.to_string());
            }
            commands.push(format!("docker rm -f -v {id}"));
        }
        if let Some(probe) = self.probe.take() {
            // Detaching waits out grace periods of the kernel's, 0.2 s or more, with nothing
            // left to record: it goes on beside what follows. Exiting detaches whatever is
            // still attached, so a process that ends first leaves nothing.
            tokio::task::spawn_blocking(move || drop(probe));
        }
        if let Some(cgroup) = self.cgroup.take() {
            if container_left {
                cgroup.kill_processes();
            }
            let dirs = cgroup.dirs();
            if let Err(e) = cgroup.remove().await {
                left.push(e.to_string());
                let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                commands.push(format!("rmdir {} 2>/dev/null", dirs.join(" ")));
            }
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(LeftBehind {
                what: left,
                commands,
            })
        }
    }
}

/// What a run could not remove, and the commands that would.
#[derive(Debug, thiserror::Error)]
#[error(
    "the run left things behind: {}\nhint: remove them by hand: {}",
    .what.join("; "),
    .commands.join(" && ")
)]
pub struct LeftBehind {
    pub what: Vec<String>,
    pub commands: Vec<String>,
}

/// How long removal is retried while the engine is away.
const ENGINE_RETRIES: u32 = 6;
const ENGINE_RETRY_WAIT: Duration = Duration::from_millis(500);

/// Removes the container, retrying for a few seconds while the engine does not answer.
async fn remove_container(engine: &impl Engine, id: &str) -> Result<(), EngineError> {
    let mut tries = 0;
    loop {
        match engine.remove_container(id).await {
            Err(e) if e.is_gone() && tries < ENGINE_RETRIES => {
                tries += 1;
                tokio::time::sleep(ENGINE_RETRY_WAIT).await;
            }
            done => return done,
        }
    }
}

impl Drop for RunResources {
    fn drop(&mut self) {
        // Only reached when a run's future was dropped before its release ran (the process
        // is going down): the user is the last one who can clean up.
        let commands = self.cleanup_commands();
        if !commands.is_empty() {
            eprintln!(
                "warning: the run did not clean up\nhint: run {}",
                commands.join(" && ")
            );
        }
    }
}
