//! The probe plan and the workload that carries it out while the probe watches: wait until
//! the application is ready (each exposed TCP port answers; HTTP, HTTPS or other is learned
//! on the way), send the user's HTTP probes, crawl the site (links, sitemaps, an OpenAPI
//! document), run the commands in the container and the user's scripts on the host, then
//! hold the container as `--continue-after` says.
//!
//! Every probe's result is recorded, and the plan as it was executed (every request made,
//! crawled ones included, in order; no discovery left) is a serde value: running it again
//! against the new image replays the same probes ([`ProbeReport::plan`]).
//!
//! This module holds the plan and the results, plain values; `probing` carries a plan out,
//! `plan` makes one from the user's settings, `runs` runs commands as probes, and
//! `health` runs the image's own HEALTHCHECK as one.

pub mod commands;
pub mod crawl;
pub mod health;
pub mod http;
pub mod links;
pub mod openapi;
pub mod plan;
mod probing;
pub mod protocol;
pub mod ready;
mod relay;
pub mod runs;
pub mod sitemap;
pub mod spec;
pub mod tls;
pub mod url;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crawl::CrawlSummary;
pub use health::HealthProbe;
pub use http::{HttpAnswer, Scheme};
pub use probing::{DriveError, NotReady, Probing};

/// When the traced container is stopped once the probes are done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContinueAfter {
    /// At once.
    Probe,
    /// After this long more (for work the application does by itself).
    Timeout(
        #[serde(with = "duration_ms")]
        #[schemars(with = "u64")]
        Duration,
    ),
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// An operation of an OpenAPI document.
    OpenApi { operation: String },
    /// A page fetched again in another `--accept-language`.
    Language { language: String },
}

/// One HTTP request of the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HttpProbe {
    /// `None`: the first exposed port that answers HTTP. Always set in an executed plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// `None`: what the port was found to speak. Always set in an executed plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Scheme>,
    #[schemars(length(min = 1))]
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
    #[schemars(range(min = 100, max = 999))]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CrawlLimits {
    /// How many links deep from `/` (the pages a sitemap lists are one deep).
    pub depth: u32,
    /// At most this many requests in all (pages and the resources they load).
    pub pages: usize,
    /// No new request after this long.
    #[serde(with = "duration_ms")]
    #[schemars(with = "u64")]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Discovery {
    /// `None` (`--no-crawl`): only `GET /` on each HTTP port.
    pub crawl: Option<CrawlLimits>,
    /// An OpenAPI document (`--openapi FILE`) whose operations are probed on the first
    /// HTTP port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<serde_json::Value>,
    /// Look for an OpenAPI document at the usual paths (`/openapi.json` …).
    pub find_openapi: bool,
    /// The methods whose OpenAPI operations are probed (`--openapi-methods`); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub openapi_methods: Vec<String>,
    /// Headers of the user's probes, sent with the OpenAPI operations that need
    /// authentication (those that need what none of them carries are skipped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<(String, String)>,
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
            openapi_methods: Vec::new(),
            credentials: Vec::new(),
            accept_language: Vec::new(),
        }
    }
}

/// What to do with the running application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProbePlan {
    /// TCP ports that must answer before probing starts.
    pub ready_ports: Vec<u16>,
    /// How long the application may take to become ready.
    #[serde(with = "duration_ms")]
    #[schemars(with = "u64")]
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
    /// The image's HEALTHCHECK, run after `exec` (unless `--no-healthcheck`). It does not
    /// make a plan non-empty: an image that only runs until it exits is not probed for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthProbe>,
    /// Scripts run on the host with `sh -c` (`--host-exec`).
    #[serde(default)]
    pub host_exec: Vec<String>,
    /// Further containers of the image, each with these arguments, each its own traced
    /// run after the main one (`--run`). Run by the build, not by [`Probing`].
    #[serde(default)]
    pub run: Vec<Vec<String>>,
    pub continue_after: ContinueAfter,
    #[serde(with = "duration_ms")]
    #[schemars(with = "u64")]
    pub request_timeout: Duration,
    /// How each ready port spoke when the plan was executed (an executed plan's): a run
    /// of it asks a port that spoke HTTP with HTTP at once, without first waiting to see
    /// whether the server talks first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spoke: Vec<PortReport>,
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
            healthcheck: None,
            host_exec: Vec::new(),
            run: Vec::new(),
            continue_after: ContinueAfter::Probe,
            request_timeout: Duration::from_secs(30),
            spoke: Vec::new(),
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
    pub fn executed(&self, http: Vec<HttpProbe>, ports: &[PortReport]) -> ProbePlan {
        ProbePlan {
            http,
            discovery: None,
            spoke: ports.to_vec(),
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// The image's own HEALTHCHECK command, run inside the traced container as the engine
    /// runs it; the last of `attempts` (made while it failed).
    Health {
        command: Vec<String>,
        exit_code: Option<i64>,
        output: String,
        error: Option<String>,
        attempts: u32,
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
    /// The request of a known protocol on a ready port (Redis `PING`, PostgreSQL's
    /// SSLRequest, Memcached `version`), with its normalised answer.
    Protocol {
        port: u16,
        protocol: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
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
    /// expected status), a command that failed to run or exited non-zero. A failing
    /// HEALTHCHECK is the image's verdict on itself, not a failed probe ([`Self::unhealthy`]).
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
            ProbeResult::Health { .. } => false,
            ProbeResult::Protocol { error, .. } => error.is_some(),
        }
    }

    /// Whether this is the image's HEALTHCHECK and it failed (as the engine would count
    /// it: any exit code but 0, a timeout, a command that could not run).
    pub fn unhealthy(&self) -> bool {
        matches!(self, ProbeResult::Health { exit_code, error, .. }
            if error.is_some() || *exit_code != Some(0))
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
            ProbeResult::Health {
                command,
                exit_code,
                error,
                attempts,
                ..
            } => {
                let tries = match attempts {
                    0 | 1 => String::new(),
                    n => format!(" ({n} attempts)"),
                };
                format!(
                    "healthcheck {} → {}{tries}",
                    command.join(" "),
                    ended(exit_code, error)
                )
            }
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
            ProbeResult::Protocol {
                port,
                protocol,
                answer,
                error,
            } => match (answer, error) {
                (Some(answer), _) => format!("{protocol} :{port} → {answer}"),
                (None, e) => format!(
                    "{protocol} :{port} → failed: {}",
                    e.as_deref().unwrap_or("no answer")
                ),
            },
        }
    }
}

/// What a port was found to speak.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PortReport {
    pub port: u16,
    /// `http`, `https` or `other`.
    pub speaks: String,
}

/// What probing did: the plan as executed (replayable), and every probe's result in the
/// order of the plan: HTTP requests, then `exec`, then the HEALTHCHECK, then `host_exec`
/// (then `run`, added by the build).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub plan: ProbePlan,
    pub results: Vec<ProbeResult>,
    /// The second answer to each HTTP request and command of `results`, at the same
    /// positions (`None` for the others), when the probes were asked twice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub again: Vec<Option<ProbeResult>>,
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
