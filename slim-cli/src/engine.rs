//! The container engine behind a narrow interface: the few operations a traced run needs
//! (inspect an image, create, start, wait for, stop, read the logs of and remove a
//! container), so that the logic above can be tested with a fake.
//!
//! [`DockerEngine`] implements it with bollard against the local Docker engine, at the API
//! version the engine speaks (1.41 on Debian's). It never pulls: a missing image is an error.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerCreateBody, HostConfig, SystemInfoCgroupDriverEnum};
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt;

use crate::cgroup::CgroupDriver;
use crate::inspect::{Healthcheck, ImageInfo};

/// The label that marks a container as one of slim's runs; its value is the run id.
pub const RUN_LABEL: &str = "slim.run";

/// What to run: the image's configuration with the user's overrides, and slim's labels
/// and cgroup parent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    /// The image id to run.
    pub image: String,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub cgroup_parent: String,
    /// Replaces the image's CMD.
    pub cmd: Option<Vec<String>>,
    /// Replaces the image's ENTRYPOINT (and then drops its CMD, like `docker run`).
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VAL` entries added to (and overriding) the image's ENV.
    pub env: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach the Docker engine at {address}: {source}\nhint: start the Docker engine \
         (`systemctl start docker`), or point DOCKER_HOST at its socket; slim needs root or \
         membership in the docker group to use it"
    )]
    Unreachable {
        address: String,
        source: BollardError,
    },
    #[error(
        "image {image} not found in the local engine\nhint: slim never pulls: build or load \
         the image first (`docker build`, `docker load`, `docker images` lists what is there)"
    )]
    ImageNotFound { image: String },
    #[error(
        "container name {name} is already in use\nhint: pass another --name, or remove the \
         old container with `docker rm -f {name}`"
    )]
    NameInUse { name: String },
    #[error(
        "container {container} could not start: {message}\nhint: {}",
        if *.command_not_found {
            "the command it runs is not in the image: check ARGS and --entrypoint against \
             the image (`docker image inspect` shows its Entrypoint and Cmd)"
        } else {
            "see the engine's message above; `docker start -a` on a similar container shows \
             the same"
        }
    )]
    StartFailed {
        container: String,
        message: String,
        /// The runtime found no executable for the command.
        command_not_found: bool,
    },
    #[error("the Docker engine could not {action} {subject}: {source}")]
    Request {
        action: &'static str,
        subject: String,
        source: BollardError,
    },
    #[error("the Docker engine did not report how container {container} ended")]
    NoExitStatus { container: String },
}

impl EngineError {
    fn request(action: &'static str, subject: &str, source: BollardError) -> EngineError {
        EngineError::Request {
            action,
            subject: subject.to_string(),
            source,
        }
    }
}

/// The operations of a container engine that a traced run uses.
pub trait Engine: Send + Sync {
    /// How the engine manages cgroups.
    fn cgroup_driver(&self) -> impl Future<Output = Result<CgroupDriver, EngineError>> + Send;

    /// Inspects a local image; never pulls.
    fn inspect_image(
        &self,
        reference: &str,
    ) -> impl Future<Output = Result<ImageInfo, EngineError>> + Send;

    /// Creates a container; returns its id.
    fn create_container(
        &self,
        spec: &ContainerSpec,
    ) -> impl Future<Output = Result<String, EngineError>> + Send;

    fn start_container(&self, id: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Waits until the container is not running; returns its exit code.
    fn wait_container(&self, id: &str) -> impl Future<Output = Result<i64, EngineError>> + Send;

    /// Stops the container the engine's way: its stop signal (the image's StopSignal unless
    /// overridden), then SIGKILL after `grace`. Stopping a stopped container is no error.
    fn stop_container(
        &self,
        id: &str,
        grace: Duration,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// The last `lines` lines of the container's output (stdout and stderr).
    fn container_logs(
        &self,
        id: &str,
        lines: usize,
    ) -> impl Future<Output = Result<Vec<String>, EngineError>> + Send;

    /// Removes the container, killing it if it still runs, with its anonymous volumes.
    /// Removing a container that is gone is no error.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
}

/// The local Docker engine.
pub struct DockerEngine {
    docker: Docker,
}

fn status_of(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Whether a runtime's start error says the container's command does not exist.
fn is_command_not_found(message: &str) -> bool {
    message.contains("executable file not found")
        || (message.contains("exec: ") && message.contains("no such file or directory"))
}

impl DockerEngine {
    /// Connects to the engine named by DOCKER_HOST (default: the local socket) and settles
    /// on the API version both sides speak.
    pub async fn connect() -> Result<DockerEngine, EngineError> {
        let address = std::env::var("DOCKER_HOST")
            .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let unreachable = |source| EngineError::Unreachable {
            address: address.clone(),
            source,
        };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        Ok(DockerEngine { docker })
    }
}

impl Engine for DockerEngine {
    async fn cgroup_driver(&self) -> Result<CgroupDriver, EngineError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| EngineError::request("report", "its configuration", e))?;
        Ok(match info.cgroup_driver {
            Some(SystemInfoCgroupDriverEnum::SYSTEMD) => CgroupDriver::Systemd,
            _ => CgroupDriver::Cgroupfs,
        })
    }

    async fn inspect_image(&self, reference: &str) -> Result<ImageInfo, EngineError> {
        let image =
            self.docker
                .inspect_image(reference)
                .await
                .map_err(|e| match status_of(&e) {
                    Some(404) => EngineError::ImageNotFound {
                        image: reference.to_string(),
                    },
                    _ => EngineError::request("inspect image", reference, e),
                })?;
        let config = image.config.unwrap_or_default();
        Ok(ImageInfo {
            id: image.id.unwrap_or_else(|| reference.to_string()),
            reference: reference.to_string(),
            repo_tags: image.repo_tags.unwrap_or_default(),
            entrypoint: config.entrypoint,
            cmd: config.cmd,
            env: config.env.unwrap_or_default(),
            working_dir: config.working_dir.filter(|w| !w.is_empty()),
            user: config.user.filter(|u| !u.is_empty()),
            exposed_ports: config.exposed_ports.unwrap_or_default(),
            volumes: config.volumes.unwrap_or_default(),
            labels: config.labels.unwrap_or_default().into_iter().collect(),
            stop_signal: config.stop_signal.filter(|s| !s.is_empty()),
            shell: config.shell,
            on_build: config.on_build.unwrap_or_default(),
            healthcheck: config.healthcheck.map(|h| Healthcheck {
                test: h.test.unwrap_or_default(),
                interval_ns: h.interval,
                timeout_ns: h.timeout,
                start_period_ns: h.start_period,
                retries: h.retries,
            }),
            layers: image.root_fs.and_then(|fs| fs.layers).unwrap_or_default(),
            size: image.size,
            architecture: image.architecture,
            os: image.os,
        })
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: spec.cmd.clone(),
            entrypoint: spec.entrypoint.clone(),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            labels: Some(spec.labels.iter().cloned().collect::<HashMap<_, _>>()),
            tty: Some(false),
            attach_stdin: Some(false),
            attach_stdout: Some(false),
            attach_stderr: Some(false),
            open_stdin: Some(false),
            host_config: Some(HostConfig {
                cgroup_parent: Some(spec.cgroup_parent.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| match status_of(&e) {
                Some(409) => EngineError::NameInUse {
                    name: spec.name.clone(),
                },
                Some(404) => EngineError::ImageNotFound {
                    image: spec.image.clone(),
                },
                _ => EngineError::request("create container", &spec.name, e),
            })?;
        Ok(created.id)
    }

    async fn start_container(&self, id: &str) -> Result<(), EngineError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| match e {
                BollardError::DockerResponseServerError {
                    status_code: 400 | 500,
                    message,
                } => EngineError::StartFailed {
                    container: id.to_string(),
                    command_not_found: is_command_not_found(&message),
                    message,
                },
                e => EngineError::request("start container", id, e),
            })
    }

    async fn wait_container(&self, id: &str) -> Result<i64, EngineError> {
        let options = WaitContainerOptions {
            condition: "not-running".to_string(),
        };
        let mut stream = self.docker.wait_container(id, Some(options));
        match stream.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard reports a non-zero exit as an error; for a traced run it is a result.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(EngineError::request("wait for container", id, e)),
            None => Err(EngineError::NoExitStatus {
                container: id.to_string(),
            }),
        }
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<(), EngineError> {
        // API 1.41 has no signal parameter: the engine sends the container's StopSignal,
        // which it took from the image.
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)),
            signal: None,
        };
        match self.docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(status_of(&e), Some(304 | 404)) => Ok(()),
            Err(e) => Err(EngineError::request("stop container", id, e)),
        }
    }

    async fn container_logs(&self, id: &str, lines: usize) -> Result<Vec<String>, EngineError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: lines.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.logs(id, Some(options));
        let mut text = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| EngineError::request("read the logs of", id, e))?;
            text.extend_from_slice(chunk.as_ref());
        }
        let text = String::from_utf8_lossy(&text);
        let all: Vec<&str> = text.lines().collect();
        let skip = all.len().saturating_sub(lines);
        Ok(all[skip..].iter().map(|l| (*l).to_string()).collect())
    }

    async fn remove_container(&self, id: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(EngineError::request("remove container", id, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_messages_for_a_missing_command_are_recognised() {
        assert!(is_command_not_found(
            "failed to create shim task: OCI runtime create failed: runc create failed: unable \
             to start container process: exec: \"/bin/nonexistent\": stat /bin/nonexistent: no \
             such file or directory: unknown"
        ));
        assert!(is_command_not_found(
            "exec: \"nope\": executable file not found in $PATH: unknown"
        ));
        assert!(!is_command_not_found(
            "OCI runtime create failed: cgroup: no such file or directory"
        ));
    }
}
