//! The probe plan and the workload that carries it out while the probe watches: wait until
//! the application is ready (each exposed TCP port answers; HTTP, HTTPS or other is learned
//! on the way), send the user's HTTP probes, crawl the site (links, sitemaps, an OpenAPI
//! document), run the commands in the container and the user's scripts on the host, then
//! hold the container as `--continue-after` says.
//!
//! Every probe's result is recorded, and the plan as it was executed (every request made,
//! crawled ones included, in order; no discovery left) is a serde value: running it again
//! against the new image replays the same probes ([`ProbeReport::plan`]).

pub mod commands;
pub mod crawl;
pub mod http;
pub mod links;
pub mod openapi;
pub mod ready;
pub mod sitemap;
pub mod spec;
pub mod tls;
pub mod url;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::Error;
use crate::reporter::{Counter, Phase, Reporter};
use crate::run::{LOG_LINES, RunningContainer, Workload};

pub use crawl::CrawlSummary;
pub use http::{HttpAnswer, Scheme};
use ready::PortKind;

/// When the traced container is stopped once the probes are done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContinueAfter {
    /// At once.
    Probe,
    /// After this long more (for work the application does by itself).
    Timeout(#[serde(with = "duration_ms")] Duration),
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

/// Why a request is in the plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum FoundBy {
    /// `--probe` or `--probe-file`.
    #[default]
    User,
    /// One of the crawl's starting requests (`/`, `HEAD /`, robots.txt, sitemap.xml, the
    /// not-found page, the usual OpenAPI paths).
    Start,
    /// A page linked from another.
    Link { from: String },
    /// A stylesheet, script, image or font another page or stylesheet needs.
    Resource { from: String },
    /// Where a redirect pointed.
    Redirect { from: String },
    /// Listed in robots.txt or a sitemap.
    Sitemap { from: String },
    /// A GET operation of an OpenAPI document.
    OpenApi { operation: String },
    /// A page fetched again in another `--accept-language`.
    Language { language: String },
}

/// One HTTP request of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpProbe {
    /// `None`: the first exposed port that answers HTTP. Always set in an executed plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `None`: what the port was found to speak. Always set in an executed plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
    pub method: String,
    /// Path and query, percent-encoded.
    pub path: String,
    /// Sent in addition to slim's defaults (User-Agent, Accept, `Accept-Encoding: gzip,
    /// br`), replacing a default of the same name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Any other status is a failure; without it, 5xx is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    #[serde(default)]
    pub found_by: FoundBy,
}

impl HttpProbe {
    /// `GET :80/path` for messages.
    pub fn label(&self) -> String {
        let scheme = match self.scheme {
            Some(Scheme::Https) => "https ",
            _ => "",
        };
        match self.port {
            Some(port) => format!("{} {scheme}:{port}{}", self.method, self.path),
            None => format!("{} {scheme}{}", self.method, self.path),
        }
    }
}

/// The bounds of a crawl.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlLimits {
    /// How many links deep from `/` (the pages a sitemap lists are one deep).
    pub depth: u32,
    /// At most this many requests in all (pages and the resources they load).
    pub pages: usize,
    /// No new request after this long.
    #[serde(with = "duration_ms")]
    pub time: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for CrawlLimits {
    fn default() -> Self {
        CrawlLimits {
            depth: 5,
            pages: 500,
            time: Duration::from_secs(60),
            concurrency: 4,
        }
    }
}

/// How the plan finds requests by itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// `None` (`--no-crawl`): only `GET /` on each HTTP port.
    pub crawl: Option<CrawlLimits>,
    /// An OpenAPI document (`--openapi FILE`) whose GET operations are probed on the first
    /// HTTP port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<serde_json::Value>,
    /// Look for an OpenAPI document at the usual paths (`/openapi.json` …).
    pub find_openapi: bool,
    /// `Accept-Language` values: the crawl uses the first, and fetches its HTML pages again
    /// in each of the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept_language: Vec<String>,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery {
            crawl: Some(CrawlLimits::default()),
            openapi: None,
            find_openapi: true,
            accept_language: Vec::new(),
        }
    }
}

/// What to do with the running application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbePlan {
    /// TCP ports that must answer before probing starts.
    pub ready_ports: Vec<u16>,
    /// How long the application may take to become ready.
    #[serde(with = "duration_ms")]
    pub ready_timeout: Duration,
    /// Use the loopback address rather than the container's (host networking).
    pub host_network: bool,
    /// Requests sent as they are, in order, before discovery.
    #[serde(default)]
    pub http: Vec<HttpProbe>,
    /// `None` in an executed plan: what discovery found is in `http` then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// Commands run inside the container, each as an argument vector.
    #[serde(default)]
    pub exec: Vec<Vec<String>>,
    /// The user commands run as (the image's USER).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_user: Option<String>,
    /// Scripts run on the host with `sh -c` (`--host-exec`).
    #[serde(default)]
    pub host_exec: Vec<String>,
    /// Further containers of the image, each with these arguments, each its own traced
    /// run after the main one (`--run`). Run by the build, not by [`Probing`].
    #[serde(default)]
    pub run: Vec<Vec<String>>,
    pub continue_after: ContinueAfter,
    #[serde(with = "duration_ms")]
    pub request_timeout: Duration,
}

impl ProbePlan {
    /// The default plan for an image: wait for every exposed TCP port, then crawl each
    /// that speaks HTTP.
    pub fn for_ports(ports: &[u16]) -> ProbePlan {
        ProbePlan {
            ready_ports: ports.to_vec(),
            ready_timeout: Duration::from_secs(60),
            host_network: false,
            http: Vec::new(),
            discovery: Some(Discovery::default()),
            exec: Vec::new(),
            exec_user: None,
            host_exec: Vec::new(),
            run: Vec::new(),
            continue_after: ContinueAfter::Probe,
            request_timeout: Duration::from_secs(30),
        }
    }

    /// Whether the plan has anything to do while the container runs; an empty plan lets
    /// the container run until it exits by itself.
    pub fn is_empty(&self) -> bool {
        self.ready_ports.is_empty()
            && self.http.is_empty()
            && self.exec.is_empty()
            && self.host_exec.is_empty()
    }

    /// This plan as it was executed: `http` replaced by the requests actually made, no
    /// discovery, no waiting for a signal or a key at the end.
    pub fn executed(&self, http: Vec<HttpProbe>) -> ProbePlan {
        ProbePlan {
            http,
            discovery: None,
            continue_after: match self.continue_after {
                ContinueAfter::Timeout(d) => ContinueAfter::Timeout(d),
                _ => ContinueAfter::Probe,
            },
            ..self.clone()
        }
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "probe", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "most results are HTTP ones; boxing them would only add indirection"
)]
pub enum ProbeResult {
    Http {
        #[serde(flatten)]
        request: HttpProbe,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<HttpAnswer>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A command inside the traced container (`--exec`).
    Exec {
        command: Vec<String>,
        exit_code: Option<i64>,
        output: String,
        error: Option<String>,
        #[serde(default)]
        millis: u64,
    },
    /// A script on the host (`--host-exec`).
    HostExec {
        script: String,
        exit_code: Option<i64>,
        output: String,
        error: Option<String>,
        #[serde(default)]
        millis: u64,
    },
    /// A further container of the image (`--run`); `output` is its last log lines.
    Run {
        args: Vec<String>,
        exit_code: Option<i64>,
        output: String,
        error: Option<String>,
        #[serde(default)]
        millis: u64,
    },
}

impl ProbeResult {
    /// Whether this probe failed: a connection error, a 5xx answer (or any other than the
    /// expected status), a command that failed to run or exited non-zero.
    pub fn failed(&self) -> bool {
        match self {
            ProbeResult::Http {
                request,
                answer,
                error,
            } => match (answer, request.expect_status) {
                (None, _) => true,
                (Some(a), Some(expected)) => a.status != expected,
                (Some(a), None) => error.is_some() || a.status >= 500,
            },
            ProbeResult::Exec {
                exit_code, error, ..
            }
            | ProbeResult::HostExec {
                exit_code, error, ..
            }
            | ProbeResult::Run {
                exit_code, error, ..
            } => error.is_some() || *exit_code != Some(0),
        }
    }

    /// One line for the terminal.
    pub fn line(&self) -> String {
        // Command lines end with their outcome (`exit 0`): callers and tests read it there.
        let ended = |exit_code: &Option<i64>, error: &Option<String>| match (exit_code, error) {
            (_, Some(e)) => format!("failed: {e}"),
            (Some(code), None) => format!("exit {code}"),
            (None, None) => "killed by a signal".to_string(),
        };
        match self {
            ProbeResult::Http {
                request,
                answer,
                error,
            } => match (answer, error) {
                (Some(a), _) => {
                    let expected = match request.expect_status {
                        Some(e) if e != a.status => format!(" (expected {e})"),
                        _ => String::new(),
                    };
                    format!(
                        "{} → {}{expected} ({} bytes, {} ms)",
                        request.label(),
                        a.status,
                        a.body_bytes,
                        a.millis
                    )
                }
                (None, e) => format!(
                    "{} → failed: {}",
                    request.label(),
                    e.as_deref().unwrap_or("no answer")
                ),
            },
            ProbeResult::Exec {
                command,
                exit_code,
                error,
                ..
            } => format!("exec {} → {}", command.join(" "), ended(exit_code, error)),
            ProbeResult::HostExec {
                script,
                exit_code,
                error,
                ..
            } => format!("host-exec {script} → {}", ended(exit_code, error)),
            ProbeResult::Run {
                args,
                exit_code,
                error,
                ..
            } => format!("run {} → {}", args.join(" "), ended(exit_code, error)),
        }
    }
}

/// What a port was found to speak.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortReport {
    pub port: u16,
    /// `http`, `https` or `other`.
    pub speaks: String,
}

/// What probing did: the plan as executed (replayable), and every probe's result in the
/// order of the plan: HTTP requests, then `exec`, then `host_exec` (then `run`, added by
/// the build).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub plan: ProbePlan,
    pub results: Vec<ProbeResult>,
    #[serde(default)]
    pub ports: Vec<PortReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl: Option<CrawlSummary>,
}

impl ProbeReport {
    /// The results that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ProbeResult> {
        self.results.iter().filter(|r| r.failed())
    }
}

/// The probing workload of a traced run. `image` is the reference the user named (the
/// scripts of `--host-exec` get it as `SLIM_IMAGE`).
pub struct Probing {
    pub plan: ProbePlan,
    pub image: String,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the application never became ready: port {port} did not answer within {timeout:?} \
     (last attempt: {last}){}\nhint: raise --ready-timeout, or check that the image listens \
     on its EXPOSEd ports (`--network host` if it binds to 127.0.0.1 only)",
    crate::error::logs_text(.last_logs)
)]
pub struct NotReady {
    pub port: u16,
    pub timeout: Duration,
    /// What the last attempt saw.
    pub last: String,
    pub last_logs: Vec<String>,
}

impl Workload for Probing {
    type Output = ProbeReport;

    fn first_phase(&self) -> Phase {
        if self.plan.is_empty() {
            Phase::Run
        } else {
            Phase::Ready
        }
    }

    async fn drive<'a, E: Engine>(
        self,
        engine: &'a E,
        container: &'a RunningContainer,
        reporter: &'a dyn Reporter,
    ) -> Result<ProbeReport, Error> {
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
        let ports = wait_ready(engine, container, &plan, addr).await?;
        if ports.is_empty() {
            reporter.end("no port to wait for");
        } else {
            let answers = format!(
                "{addr} answers on {}",
                ports
                    .iter()
                    .map(|p| format!("{} ({})", p.port, p.speaks))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            reporter.step(&format!("ready: {answers}"));
            reporter.end(&answers);
        }
        reporter.begin(Phase::Probing);
        let mut commands = 0;
        let http_ports: Vec<(u16, Scheme)> = ports
            .iter()
            .filter_map(|p| match p.speaks.as_str() {
                "http" => Some((p.port, Scheme::Http)),
                "https" => Some((p.port, Scheme::Https)),
                _ => None,
            })
            .collect();
        let mut sent = Vec::new();
        let mut results = Vec::new();
        let languages = plan
            .discovery
            .as_ref()
            .map(|d| d.accept_language.clone())
            .unwrap_or_default();
        for probe in &plan.http {
            let result =
                user_probe(probe, addr, &http_ports, &languages, plan.request_timeout).await;
            reporter.step(&format!("probe: {}", result.line()));
            if let ProbeResult::Http { request, .. } = &result {
                sent.push(request.clone());
            }
            results.push(result);
            reporter.count(Counter::Requests, len(&sent));
        }
        let mut crawl_summary = None;
        if let Some(discovery) = &plan.discovery {
            if !http_ports.is_empty() {
                let crawl = crawl::Crawl::new(
                    addr,
                    http_ports.clone(),
                    discovery,
                    plan.request_timeout,
                    reporter,
                )
                .counting_from(len(&sent));
                let (crawled, summary) = crawl.run().await;
                let failed = crawled.iter().filter(|r| r.failed()).count();
                reporter.step(&format!(
                    "crawl: {} request(s), {} HTML page(s), {} OpenAPI operation(s), {failed} \
                     failed",
                    summary.requests, summary.pages, summary.operations
                ));
                if let Some(why) = &summary.stopped {
                    reporter.warn(&format!("the crawl stopped early: {why}"));
                }
                for result in crawled {
                    if let ProbeResult::Http { request, .. } = &result {
                        sent.push(request.clone());
                    }
                    results.push(result);
                }
                reporter.count(Counter::Requests, len(&sent));
                crawl_summary = Some(summary);
            }
        }
        for command in &plan.exec {
            let started = Instant::now();
            let outcome = engine
                .exec(&container.name, command, plan.exec_user.as_deref())
                .await;
            let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let result = match outcome {
                Ok(outcome) => ProbeResult::Exec {
                    command: command.clone(),
                    exit_code: Some(outcome.exit_code),
                    output: outcome.output,
                    error: None,
                    millis,
                },
                Err(e) => ProbeResult::Exec {
                    command: command.clone(),
                    exit_code: None,
                    output: String::new(),
                    error: Some(e.to_string()),
                    millis,
                },
            };
            reporter.step(&format!("probe: {}", result.line()));
            results.push(result);
            commands += 1;
            reporter.count(Counter::Commands, commands);
        }
        if !plan.host_exec.is_empty() {
            let env = host_env(addr, &ports, &container.name, &self.image);
            for script in &plan.host_exec {
                reporter.step(&format!("host-exec: {script}"));
                let result = match commands::host_exec(script, &env).await {
                    Ok(outcome) => ProbeResult::HostExec {
                        script: script.clone(),
                        exit_code: outcome.exit_code,
                        output: outcome.output,
                        error: None,
                        millis: outcome.millis,
                    },
                    Err(e) => ProbeResult::HostExec {
                        script: script.clone(),
                        exit_code: None,
                        output: String::new(),
                        error: Some(format!("cannot run /bin/sh: {e}")),
                        millis: 0,
                    },
                };
                reporter.step(&format!("probe: {}", result.line()));
                results.push(result);
                commands += 1;
                reporter.count(Counter::Commands, commands);
            }
        }
        hold(&plan.continue_after, reporter).await?;
        Ok(ProbeReport {
            plan: plan.executed(sent),
            results,
            ports,
            crawl: crawl_summary,
        })
    }
}

fn len<T>(items: &[T]) -> u64 {
    u64::try_from(items.len()).unwrap_or(u64::MAX)
}

/// Sends one of the user's requests (on the first HTTP port when it names none).
async fn user_probe(
    probe: &HttpProbe,
    addr: IpAddr,
    http_ports: &[(u16, Scheme)],
    languages: &[String],
    timeout: Duration,
) -> ProbeResult {
    let mut request = probe.clone();
    let Some(port) = probe.port.or(http_ports.first().map(|(p, _)| *p)) else {
        return ProbeResult::Http {
            request,
            answer: None,
            error: Some("no exposed port answers HTTP; name one, as in `GET :8080/path`".into()),
        };
    };
    let scheme = probe.scheme.unwrap_or_else(|| {
        http_ports
            .iter()
            .find(|(p, _)| *p == port)
            .map_or(Scheme::Http, |(_, s)| *s)
    });
    request.port = Some(port);
    request.scheme = Some(scheme);
    if let Some(language) = languages.first() {
        if !request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("accept-language"))
        {
            request
                .headers
                .push(("Accept-Language".into(), language.clone()));
        }
    }
    let outgoing = http::Outgoing {
        method: &request.method,
        target: &request.path,
        headers: &request.headers,
        body: request.body.as_deref(),
    };
    let endpoint = http::Endpoint { addr, port, scheme };
    match http::send(endpoint, outgoing, timeout).await {
        Ok(exchange) => ProbeResult::Http {
            request,
            answer: Some(exchange.answer),
            error: None,
        },
        Err(e) => ProbeResult::Http {
            request,
            answer: None,
            error: Some(e.to_string()),
        },
    }
}

/// The environment of `--host-exec` scripts: `SLIM_TARGET` (`host:port` of each exposed
/// port, space-separated), `SLIM_URLS` (a base URL for each port that speaks HTTP),
/// `SLIM_CONTAINER` and `SLIM_IMAGE`.
fn host_env(
    addr: IpAddr,
    ports: &[PortReport],
    container: &str,
    image: &str,
) -> Vec<(String, String)> {
    let authority = |port: u16| match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    };
    let targets: Vec<String> = ports.iter().map(|p| authority(p.port)).collect();
    let urls: Vec<String> = ports
        .iter()
        .filter(|p| p.speaks != "other")
        .map(|p| format!("{}://{}", p.speaks, authority(p.port)))
        .collect();
    vec![
        ("SLIM_TARGET".into(), targets.join(" ")),
        ("SLIM_URLS".into(), urls.join(" ")),
        ("SLIM_CONTAINER".into(), container.to_string()),
        ("SLIM_IMAGE".into(), image.to_string()),
    ]
}

/// Waits for every ready port in turn, within the plan's one deadline.
async fn wait_ready<E: Engine>(
    engine: &E,
    container: &RunningContainer,
    plan: &ProbePlan,
    addr: IpAddr,
) -> Result<Vec<PortReport>, Error> {
    let deadline = Instant::now() + plan.ready_timeout;
    let mut out = Vec::new();
    for &port in &plan.ready_ports {
        match ready::wait_for_port(addr, port, deadline).await {
            Ok(kind) => out.push(PortReport {
                port,
                speaks: match kind {
                    PortKind::Http(scheme) => scheme.as_str().to_string(),
                    PortKind::Other => "other".to_string(),
                },
            }),
            Err(last) => {
                let last_logs = engine
                    .container_logs(&container.name, LOG_LINES)
                    .await
                    .unwrap_or_default();
                return Err(Error::NotReady(NotReady {
                    port,
                    timeout: plan.ready_timeout,
                    last,
                    last_logs,
                }));
            }
        }
    }
    Ok(out)
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

/// Durations as whole milliseconds in serialized plans.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests;
