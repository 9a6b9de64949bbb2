//! What a traced run holds outside slim's process, and its release: the container, the
//! probe and its reader, the cgroup. Release is explicit and async (the engine must be
//! asked to remove the container), runs on every way out of a run, and goes in the order
//! container → probe → cgroup, since the cgroup can only go once the container is gone.

use slim_probe_ebpf::{EventStream, Probe, ProbeError};
use tokio::task::JoinHandle;

use crate::cgroup::RunCgroup;
use crate::engine::Engine;
use crate::error::Error;

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
    pub async fn release(&mut self, engine: &impl Engine) -> Result<(), Error> {
        let commands = self.cleanup_commands();
        let mut left = Vec::new();
        if let Some(reader) = self.reader.take() {
            reader.abort();
            let _ = reader.await;
        }
        if let Some(id) = self.container.take()
            && let Err(e) = engine.remove_container(&id).await
        {
            left.push(e.to_string());
        }
        drop(self.probe.take());
        if let Some(cgroup) = self.cgroup.take()
            && let Err(e) = cgroup.remove().await
        {
            left.push(e.to_string());
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(Error::LeftBehind {
                what: left,
                commands,
            })
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
