//! The container engine behind a narrow interface: the few operations a traced run needs
//! (inspect an image, create, start, wait for, stop, read the logs of and remove a
//! container), so that the logic above can be tested with a fake.
//!
//! [`DockerEngine`] implements it with bollard against the local Docker engine, at the API
//! version the engine speaks (1.41 on Debian's). It never pulls: a missing image is an error.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, SystemInfoCgroupDriverEnum};
use bollard::query_parameters::{
    CreateContainerOptions, ImportImageOptionsBuilder, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, RemoveImageOptions, StopContainerOptions, TagImageOptions,
    WaitContainerOptions,
};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};

use crate::cgroup::CgroupDriver;
use crate::inspect::{GraphDriver, Healthcheck, ImageInfo};

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
    /// Network mode (`bridge`, `host`, `none`, a network name); the engine's default when
    /// unset.
    pub network: Option<String>,
    /// Bind mounts and volumes, as `docker run -v` takes them (`SRC:DEST[:OPTS]`).
    pub binds: Vec<String>,
    /// tmpfs mounts, `DEST[:OPTS]`.
    pub tmpfs: Vec<String>,
    /// Capabilities added to the container's set.
    pub cap_add: Vec<String>,
    /// Security options, as `docker run --security-opt` takes them; a seccomp profile is
    /// passed as its JSON text (`seccomp=<JSON>`), which is what the engine's API takes.
    pub security_opt: Vec<String>,
}

/// How a command run inside a container ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutcome {
    pub exit_code: i64,
    /// Its output (stdout and stderr interleaved), at most the last 64 KiB.
    pub output: String,
}

/// Output kept from a command run in a container.
const EXEC_OUTPUT_LIMIT: usize = 64 << 10;

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
        "the Docker engine's socket {address} refused slim: permission denied\nhint: run slim \
         as root (sudo slim …): it needs the engine's socket (root or the docker group) and, \
         for its eBPF probe, CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN"
    )]
    SocketPermission { address: String },
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
    #[error(
        "the Docker engine rejected {option}: {message}\nhint: fix {option}; the traced run \
         takes the same values as `docker run` does"
    )]
    OptionRejected {
        /// The run option at fault, as the user spelled it (`--user`, `--network`, …).
        option: &'static str,
        message: String,
    },
    #[error(
        "the Docker engine went away while trying to {action} {subject}: {source}\nhint: check \
         that the engine runs (`systemctl status docker`, `docker info`), then run slim again"
    )]
    Gone {
        action: &'static str,
        subject: String,
        source: BollardError,
    },
    #[error("the Docker engine could not {action} {subject}: {source}")]
    Request {
        action: &'static str,
        subject: String,
        source: BollardError,
    },
    #[error("the Docker engine did not report how container {container} ended")]
    NoExitStatus { container: String },
    #[error("the Docker engine refused to load {archive}: {message}")]
    LoadRefused { archive: String, message: String },
}

impl EngineError {
    fn request(action: &'static str, subject: &str, source: BollardError) -> EngineError {
        let subject = subject.to_string();
        if is_connection_lost(&source) {
            EngineError::Gone {
                action,
                subject,
                source,
            }
        } else {
            EngineError::Request {
                action,
                subject,
                source,
            }
        }
    }

    /// Whether the engine stopped answering (its socket closed or vanished), rather than
    /// refusing a request.
    pub fn is_gone(&self) -> bool {
        matches!(self, EngineError::Gone { .. })
    }

    /// Whether the engine refused to remove a container because it is being removed
    /// already.
    pub fn is_removal_in_progress(&self) -> bool {
        matches!(
            self,
            EngineError::Request { source, .. }
                if status_of(source) == Some(409)
                    && source.to_string().contains("already in progress")
        )
    }
}

/// Whether a request failed because the connection to the engine failed or broke.
fn is_connection_lost(error: &BollardError) -> bool {
    matches!(
        error,
        BollardError::IOError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::HyperLegacyError { .. }
            | BollardError::SocketNotFoundError(_)
            | BollardError::RequestTimeoutError
    )
}

/// A container of one of slim's runs, as the engine lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunContainer {
    /// Its name, without the leading slash.
    pub name: String,
    /// The run id of its [`RUN_LABEL`].
    pub run_id: String,
}

/// An image archive as `docker load` takes it, streamed: the rebuild writes it while the
/// engine reads it, so it never has to sit on disk whole.
pub type ArchiveStream = BoxStream<'static, Result<Bytes, std::io::Error>>;

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

    /// The container's address on its network, for probes; `None` when it has none of its
    /// own (host networking: use the loopback address).
    fn container_address(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<IpAddr>, EngineError>> + Send;

    /// Runs `cmd` inside the running container as `user` (the container's user when
    /// `None`) and waits for it.
    fn exec(
        &self,
        id: &str,
        cmd: &[String],
        user: Option<&str>,
    ) -> impl Future<Output = Result<ExecOutcome, EngineError>> + Send;

    /// The image as the engine's save writes it (a tar stream).
    fn save_image(&self, image: &str) -> BoxStream<'static, Result<Bytes, EngineError>>;

    /// Loads an image archive (as `docker load` does), tagging it as the archive says.
    /// `name` says what the stream is, for errors (a file, or the image being written).
    fn load_image(
        &self,
        archive: ArchiveStream,
        name: &str,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Removes an image by reference; a missing image is no error.
    fn remove_image(&self, image: &str) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Gives image `id` the reference `tag` (`repo:tag`), moving it from any other image.
    fn tag_image(
        &self,
        id: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;

    /// Every container, running or not, that carries [`RUN_LABEL`].
    fn run_containers(&self)
    -> impl Future<Output = Result<Vec<RunContainer>, EngineError>> + Send;
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
/// The run option an engine refusal is about, when its message names one: the engine
/// checks some options when the container is created and others only when it starts.
fn rejected_option(message: &str) -> Option<&'static str> {
    let option = if message.contains("unknown capability") || message.contains("CapAdd") {
        "--cap-add"
    } else if message.contains("unable to find user")
        || message.contains("unable to find group")
        || message.contains("no matching entries in passwd")
    {
        "--user"
    } else if message.starts_with("network ") && message.contains("not found") {
        "--network"
    } else if message.contains("mounting \"tmpfs\"") {
        "--tmpfs"
    } else if message.contains("invalid mode")
        || message.contains("invalid volume specification")
        || message.contains("bind source path does not exist")
        || message.contains("invalid mount config")
    {
        "--volume"
    } else {
        return None;
    };
    Some(option)
}

/// Maps an engine refusal that names a run option to [`EngineError::OptionRejected`].
fn option_rejected(error: &BollardError) -> Option<EngineError> {
    match error {
        BollardError::DockerResponseServerError {
            status_code: 400 | 404 | 500,
            message,
        } => rejected_option(message).map(|option| EngineError::OptionRejected {
            option,
            message: message.clone(),
        }),
        _ => None,
    }
}

/// Whether connecting failed because the socket's permissions refused this user (the
/// engine runs; slim is neither root nor in the docker group).
fn is_permission_denied(error: &BollardError) -> bool {
    // A transparent variant hides its own I/O error from the `source` chain.
    if let BollardError::IOError { err } = error {
        return err.kind() == std::io::ErrorKind::PermissionDenied;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = cause {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
        {
            return true;
        }
        cause = err.source();
    }
    false
}

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
        let unreachable = |source: BollardError| {
            if is_permission_denied(&source) {
                EngineError::SocketPermission {
                    address: address.trim_start_matches("unix://").to_string(),
                }
            } else {
                EngineError::Unreachable {
                    address: address.clone(),
                    source,
                }
            }
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
            graph_driver: image.graph_driver.map(|g| GraphDriver {
                name: g.name,
                data: g.data.into_iter().collect(),
            }),
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
                network_mode: spec.network.clone(),
                binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
                tmpfs: (!spec.tmpfs.is_empty()).then(|| {
                    spec.tmpfs
                        .iter()
                        .map(|t| match t.split_once(':') {
                            Some((dest, opts)) => (dest.to_string(), opts.to_string()),
                            None => (t.clone(), String::new()),
                        })
                        .collect()
                }),
                cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
                security_opt: (!spec.security_opt.is_empty()).then(|| spec.security_opt.clone()),
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
            .map_err(|e| {
                option_rejected(&e).unwrap_or_else(|| match status_of(&e) {
                    Some(409) => EngineError::NameInUse {
                        name: spec.name.clone(),
                    },
                    Some(404) => EngineError::ImageNotFound {
                        image: spec.image.clone(),
                    },
                    _ => EngineError::request("create container", &spec.name, e),
                })
            })?;
        Ok(created.id)
    }

    async fn start_container(&self, id: &str) -> Result<(), EngineError> {
        self.docker.start_container(id, None).await.map_err(|e| {
            option_rejected(&e).unwrap_or_else(|| match e {
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

    async fn container_address(&self, id: &str) -> Result<Option<IpAddr>, EngineError> {
        let info = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| EngineError::request("inspect container", id, e))?;
        let Some(settings) = info.network_settings else {
            return Ok(None);
        };
        let address = settings.networks.and_then(|networks| {
            networks
                .into_values()
                .filter_map(|n| n.ip_address)
                .find(|a| !a.is_empty())
        });
        Ok(address.and_then(|a| a.parse().ok()))
    }

    async fn exec(
        &self,
        id: &str,
        cmd: &[String],
        user: Option<&str>,
    ) -> Result<ExecOutcome, EngineError> {
        let subject = format!("{} in {id}", cmd.join(" "));
        let created = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    user: user.map(str::to_string),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| EngineError::request("create exec", &subject, e))?;
        let started = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions::default()))
            .await
            .map_err(|e| EngineError::request("start exec", &subject, e))?;
        let mut output = Vec::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = started
        {
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| EngineError::request("read exec output", &subject, e))?;
                output.extend_from_slice(chunk.as_ref());
                if output.len() > 2 * EXEC_OUTPUT_LIMIT {
                    output.drain(..output.len() - EXEC_OUTPUT_LIMIT);
                }
            }
        }
        let start = output.len().saturating_sub(EXEC_OUTPUT_LIMIT);
        let inspected = self
            .docker
            .inspect_exec(&created.id)
            .await
            .map_err(|e| EngineError::request("inspect exec", &subject, e))?;
        Ok(ExecOutcome {
            exit_code: inspected.exit_code.unwrap_or(-1),
            output: String::from_utf8_lossy(&output[start..]).into_owned(),
        })
    }

    fn save_image(&self, image: &str) -> BoxStream<'static, Result<Bytes, EngineError>> {
        let subject = image.to_string();
        self.docker
            .export_image(image)
            .map_err(move |e| EngineError::request("save image", &subject, e))
            .boxed()
    }

    async fn load_image(&self, archive: ArchiveStream, name: &str) -> Result<(), EngineError> {
        let subject = name.to_string();
        let chunks = archive;
        let options = ImportImageOptionsBuilder::new().quiet(true).build();
        let progress: Vec<_> = self
            .docker
            .import_image_stream(options, chunks, None)
            .try_collect()
            .await
            .map_err(|e| EngineError::request("load image archive", &subject, e))?;
        if let Some(detail) = progress.iter().find_map(|p| p.error_detail.as_ref()) {
            return Err(EngineError::LoadRefused {
                archive: subject,
                message: detail.message.clone().unwrap_or_default(),
            });
        }
        Ok(())
    }

    async fn remove_image(&self, image: &str) -> Result<(), EngineError> {
        let options = RemoveImageOptions {
            force: true,
            noprune: false,
            ..Default::default()
        };
        match self.docker.remove_image(image, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            Err(e) => Err(EngineError::request("remove image", image, e)),
        }
    }

    async fn tag_image(&self, id: &str, tag: &str) -> Result<(), EngineError> {
        let (repo, name) = match tag.rsplit_once(':') {
            Some((repo, name)) if !name.contains('/') => (repo, name),
            _ => (tag, "latest"),
        };
        let options = TagImageOptions {
            repo: Some(repo.to_string()),
            tag: Some(name.to_string()),
        };
        self.docker
            .tag_image(id, Some(options))
            .await
            .map_err(|e| EngineError::request("tag image", tag, e))
    }

    async fn run_containers(&self) -> Result<Vec<RunContainer>, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![RUN_LABEL.to_string()])]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        let listed = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| EngineError::request("list containers labelled", RUN_LABEL, e))?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                let name = c.names?.first()?.trim_start_matches('/').to_string();
                let run_id = c.labels?.get(RUN_LABEL)?.clone();
                Some(RunContainer { name, run_id })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_that_refuses_the_user_is_a_permission_error_not_an_absent_engine() {
        use std::io::{Error, ErrorKind};
        let denied = BollardError::IOError {
            err: Error::from(ErrorKind::PermissionDenied),
        };
        assert!(is_permission_denied(&denied));
        let absent = BollardError::IOError {
            err: Error::from(ErrorKind::NotFound),
        };
        assert!(!is_permission_denied(&absent));
        let refused = BollardError::IOError {
            err: Error::from(ErrorKind::ConnectionRefused),
        };
        assert!(!is_permission_denied(&refused));
    }

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

    /// The engine's own words (API 1.41) for run options it refuses at create or start.
    #[test]
    fn engine_refusals_name_the_run_option_at_fault() {
        for (message, option) in [
            (
                "invalid CapAdd: unknown capability: \"CAP_NOT_A_CAP\"",
                "--cap-add",
            ),
            (
                "unable to find user nosuchuser: no matching entries in passwd file",
                "--user",
            ),
            ("network nosuchnet not found", "--network"),
            ("invalid mode: zz", "--volume"),
            (
                "failed to create shim task: OCI runtime create failed: runc create failed: \
                 unable to start container process: error during container init: error \
                 mounting \"tmpfs\" to rootfs at \"/t\": mount tmpfs:/t (via /proc/self/fd/6), \
                 flags: 0xe, data: size=abc: invalid argument: unknown",
                "--tmpfs",
            ),
        ] {
            assert_eq!(rejected_option(message), Some(option), "{message}");
        }
        assert_eq!(
            rejected_option("exec: \"nope\": executable file not found in $PATH: unknown"),
            None
        );
    }
}
