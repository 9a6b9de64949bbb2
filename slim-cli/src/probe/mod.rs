//! The probe plan and the workload that carries it out while the probe watches: wait until
//! the application is ready (its exposed TCP ports accept connections), send the HTTP
//! requests, run the commands, then hold the container as `--continue-after` says.
//!
//! Every probe's result is recorded, so the same plan can be replayed against the new image.

pub mod http;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::engine::Engine;
use crate::error::Error;
use crate::reporter::Reporter;
use crate::run::{LOG_LINES, RunningContainer, Workload};

pub use http::HttpAnswer;

/// When the traced container is stopped once the probes are done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContinueAfter {
    /// At once.
    Probe,
    /// After this long more (for work the application does by itself).
    Timeout(Duration),
    /// When slim receives SIGUSR1 (from the user's own test driver).
    Signal,
    /// When the user presses Enter (to drive the application by hand).
    Enter,
}

impl ContinueAfter {
    /// Parses `probe`, `timeout:SECS`, `signal` or `enter`.
    pub fn parse(text: &str) -> Result<ContinueAfter, String> {
        match text {
            "probe" => Ok(ContinueAfter::Probe),
            "signal" => Ok(ContinueAfter::Signal),
            "enter" => Ok(ContinueAfter::Enter),
            other => other
                .strip_prefix("timeout:")
                .and_then(|secs| secs.parse::<f64>().ok())
                .filter(|secs| *secs >= 0.0)
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                .map(ContinueAfter::Timeout)
                .ok_or_else(|| {
                    format!("{text:?} is not one of probe, timeout:SECS, signal, enter")
                }),
        }
    }
}

/// One HTTP request of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpProbe {
    pub port: u16,
    pub method: String,
    pub path: String,
}

/// What to do with the running application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbePlan {
    /// TCP ports that must accept connections before probing starts.
    pub ready_ports: Vec<u16>,
    /// How long the application may take to become ready.
    pub ready_timeout: Duration,
    pub http: Vec<HttpProbe>,
    /// Commands run inside the container, each as an argument vector.
    pub exec: Vec<Vec<String>>,
    /// The user commands run as (the image's USER).
    pub exec_user: Option<String>,
    /// Use the loopback address rather than the container's (host networking).
    pub host_network: bool,
    pub continue_after: ContinueAfter,
    pub request_timeout: Duration,
}

impl ProbePlan {
    /// The default plan for an image: `GET /` on every exposed TCP port, once they all
    /// accept connections.
    pub fn for_ports(ports: &[u16]) -> ProbePlan {
        ProbePlan {
            ready_ports: ports.to_vec(),
            ready_timeout: Duration::from_secs(60),
            http: ports
                .iter()
                .map(|&port| HttpProbe {
                    port,
                    method: "GET".into(),
                    path: "/".into(),
                })
                .collect(),
            exec: Vec::new(),
            exec_user: None,
            host_network: false,
            continue_after: ContinueAfter::Probe,
            request_timeout: Duration::from_secs(30),
        }
    }

    /// Whether the plan has anything to do; an empty plan lets the container run until it
    /// exits by itself.
    pub fn is_empty(&self) -> bool {
        self.ready_ports.is_empty() && self.http.is_empty() && self.exec.is_empty()
    }
}

/// The TCP ports of an image's `ExposedPorts` (`80/tcp`, `53/udp` …).
pub fn tcp_ports(exposed: &[String]) -> Vec<u16> {
    let mut ports: Vec<u16> = exposed
        .iter()
        .filter_map(|p| match p.split_once('/') {
            Some((port, "tcp")) => port.parse().ok(),
            None => p.parse().ok(),
            Some(_) => None,
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// What one probe got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
pub enum ProbeResult {
    Http {
        #[serde(flatten)]
        request: HttpProbe,
        #[serde(skip_serializing_if = "Option::is_none")]
        answer: Option<HttpAnswer>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    Exec {
        command: Vec<String>,
        exit_code: Option<i64>,
        output: String,
        error: Option<String>,
    },
}

impl ProbeResult {
    /// Whether this probe failed: a connection error, a 5xx answer, a non-zero exit.
    pub fn failed(&self) -> bool {
        match self {
            ProbeResult::Http { answer, .. } => answer.as_ref().is_none_or(|a| a.status >= 500),
            ProbeResult::Exec {
                exit_code, error, ..
            } => error.is_some() || *exit_code != Some(0),
        }
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        match self {
            ProbeResult::Http {
                request,
                answer,
                error,
            } => match (answer, error) {
                (Some(a), _) => format!(
                    "{} :{}{} → {} ({} bytes, {} ms)",
                    request.method, request.port, request.path, a.status, a.body_bytes, a.millis
                ),
                (None, e) => format!(
                    "{} :{}{} → failed: {}",
                    request.method,
                    request.port,
                    request.path,
                    e.as_deref().unwrap_or("no answer")
                ),
            },
            ProbeResult::Exec {
                command,
                exit_code,
                error,
                ..
            } => match (exit_code, error) {
                (_, Some(e)) => format!("exec {} → failed: {e}", command.join(" ")),
                (Some(code), None) => format!("exec {} → exit {code}", command.join(" ")),
                (None, None) => format!("exec {} → no exit code", command.join(" ")),
            },
        }
    }
}

/// The probing workload of a traced run.
pub struct Probing {
    pub plan: ProbePlan,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the application never became ready: port {port} did not accept connections within \
     {timeout:?}{}\nhint: raise --ready-timeout, or check that the image listens on its \
     EXPOSEd ports (`--network host` if it binds to 127.0.0.1 only)",
    crate::error::logs_text(.last_logs)
)]
pub struct NotReady {
    pub port: u16,
    pub timeout: Duration,
    pub last_logs: Vec<String>,
}

impl Workload for Probing {
    type Output = Vec<ProbeResult>;

    async fn drive<'a, E: Engine>(
        self,
        engine: &'a E,
        container: &'a RunningContainer,
        reporter: &'a dyn Reporter,
    ) -> Result<Vec<ProbeResult>, Error> {
        {
            let plan = self.plan;
            if plan.is_empty() {
                // Nothing to drive: the application runs until it exits by itself.
                return std::future::pending().await;
            }
            let addr = if plan.host_network {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                engine
                    .container_address(&container.name)
                    .await?
                    .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
            };
            wait_ready(engine, container, &plan, addr).await?;
            if !plan.ready_ports.is_empty() {
                reporter.step(&format!(
                    "ready: {} accepts connections on {}",
                    addr,
                    plan.ready_ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let mut results = Vec::new();
            for probe in &plan.http {
                let answer = http::request(
                    addr,
                    probe.port,
                    &probe.method,
                    &probe.path,
                    plan.request_timeout,
                )
                .await;
                let result = ProbeResult::Http {
                    request: probe.clone(),
                    error: answer.as_ref().err().map(ToString::to_string),
                    answer: answer.ok(),
                };
                reporter.step(&format!("probe: {}", result.line()));
                results.push(result);
            }
            for command in &plan.exec {
                let result = match engine
                    .exec(&container.name, command, plan.exec_user.as_deref())
                    .await
                {
                    Ok(outcome) => ProbeResult::Exec {
                        command: command.clone(),
                        exit_code: Some(outcome.exit_code),
                        output: outcome.output,
                        error: None,
                    },
                    Err(e) => ProbeResult::Exec {
                        command: command.clone(),
                        exit_code: None,
                        output: String::new(),
                        error: Some(e.to_string()),
                    },
                };
                reporter.step(&format!("probe: {}", result.line()));
                results.push(result);
            }
            hold(&plan.continue_after, reporter).await?;
            Ok(results)
        }
    }
}

async fn wait_ready<E: Engine>(
    engine: &E,
    container: &RunningContainer,
    plan: &ProbePlan,
    addr: IpAddr,
) -> Result<(), Error> {
    let deadline = Instant::now() + plan.ready_timeout;
    for &port in &plan.ready_ports {
        let mut pause = Duration::from_millis(20);
        while !http::accepts(addr, port).await {
            if Instant::now() >= deadline {
                let last_logs = engine
                    .container_logs(&container.name, LOG_LINES)
                    .await
                    .unwrap_or_default();
                return Err(Error::NotReady(NotReady {
                    port,
                    timeout: plan.ready_timeout,
                    last_logs,
                }));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }
    Ok(())
}

async fn hold(continue_after: &ContinueAfter, reporter: &dyn Reporter) -> Result<(), Error> {
    match continue_after {
        ContinueAfter::Probe => Ok(()),
        ContinueAfter::Timeout(d) => {
            reporter.step(&format!(
                "probes done: running {d:?} more (--continue-after)"
            ));
            tokio::time::sleep(*d).await;
            Ok(())
        }
        ContinueAfter::Signal => {
            reporter.step(&format!(
                "probes done: waiting for SIGUSR1 (kill -USR1 {})",
                std::process::id()
            ));
            let mut usr1 =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
                    .map_err(|e| Error::Internal(format!("cannot listen for SIGUSR1: {e}")))?;
            usr1.recv().await;
            Ok(())
        }
        ContinueAfter::Enter => {
            reporter.step("probes done: press Enter to stop the container");
            let mut line = String::new();
            let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
            tokio::io::AsyncBufReadExt::read_line(&mut stdin, &mut line)
                .await
                .map_err(|e| Error::Internal(format!("cannot read stdin: {e}")))?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_after_values() {
        assert_eq!(ContinueAfter::parse("probe"), Ok(ContinueAfter::Probe));
        assert_eq!(
            ContinueAfter::parse("timeout:2.5"),
            Ok(ContinueAfter::Timeout(Duration::from_millis(2500)))
        );
        assert_eq!(ContinueAfter::parse("signal"), Ok(ContinueAfter::Signal));
        assert_eq!(ContinueAfter::parse("enter"), Ok(ContinueAfter::Enter));
        assert!(ContinueAfter::parse("timeout:-1").is_err());
        assert!(ContinueAfter::parse("later").is_err());
    }

    #[test]
    fn only_tcp_ports_are_probed() {
        let ports = tcp_ports(&[
            "80/tcp".into(),
            "53/udp".into(),
            "8080".into(),
            "80/tcp".into(),
        ]);
        assert_eq!(ports, [80, 8080]);
        assert!(ProbePlan::for_ports(&[]).is_empty());
        assert_eq!(ProbePlan::for_ports(&[80]).http[0].path, "/");
    }

    #[test]
    fn failures_are_errors_5xx_and_non_zero_exits() {
        let request = HttpProbe {
            port: 80,
            method: "GET".into(),
            path: "/".into(),
        };
        let answer = |status| HttpAnswer {
            status,
            content_type: None,
            body_bytes: 0,
            body_digest: String::new(),
            millis: 1,
        };
        let http = |a: Result<HttpAnswer, String>| ProbeResult::Http {
            request: request.clone(),
            error: a.as_ref().err().cloned(),
            answer: a.ok(),
        };
        assert!(!http(Ok(answer(404))).failed());
        assert!(http(Ok(answer(502))).failed());
        assert!(http(Err("refused".into())).failed());
        let exec = |code| ProbeResult::Exec {
            command: vec!["true".into()],
            exit_code: code,
            output: String::new(),
            error: None,
        };
        assert!(!exec(Some(0)).failed());
        assert!(exec(Some(1)).failed());
    }
}
