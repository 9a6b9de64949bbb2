//! The probing workload: carries out a probe plan while the kernel probe watches the
//! container. Waits for readiness, sends the HTTP probes, crawls, runs the commands, the
//! image's HEALTHCHECK and the host scripts, then holds the container as
//! `--continue-after` says. Touches the engine (exec, logs, the container's address) and
//! the network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::protocol::ClientFirst;
use super::ready::{self, PortKind};
use super::relay::Relay;
use futures_util::{Stream, StreamExt};

use super::{
    ContinueAfter, CrawlLimits, HttpProbe, PortReport, ProbePlan, ProbeReport, ProbeResult, Scheme,
    commands, crawl, health, http, openapi,
};
use crate::engine::Engine;
use crate::netns::Listener;
use crate::reporter::{Counter, Phase, Reporter};
use crate::run::{LOG_LINES, RunError, RunningContainer, Workload, logs_text};

/// The probing workload of a traced run. `image` is the reference the user named (the
/// scripts of `--host-exec` get it as `SLIM_IMAGE`).
pub struct Probing {
    pub plan: ProbePlan,
    pub image: String,
    /// Ask every HTTP request and every command a second time once all have been made, so
    /// that verification learns what varies between the answers ([`ProbeReport::again`]).
    pub answer_twice: bool,
}

/// Why driving the application failed.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    NotReady(#[from] NotReady),
    /// A bug: what went wrong.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::engine::EngineError> for DriveError {
    fn from(error: crate::engine::EngineError) -> DriveError {
        DriveError::Run(error.into())
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the application never became ready: nothing listened on port {port} within \
     {timeout:?} ({}){}\nhint: check that the application listens on the ports the image \
     EXPOSEs (slim waits for each), or raise --ready-timeout if it starts slowly",
    listening_text(.listening),
    logs_text(.last_logs)
)]
pub struct NotReady {
    pub port: u16,
    pub timeout: Duration,
    /// What the container's processes listened on at the deadline.
    pub listening: Vec<Listener>,
    pub last_logs: Vec<String>,
}

/// What the container listens on, for [`NotReady`].
fn listening_text(listening: &[Listener]) -> String {
    if listening.is_empty() {
        return "it listens on no TCP port".into();
    }
    let list: Vec<String> = listening.iter().map(ToString::to_string).collect();
    format!("it listens on {}", list.join(", "))
}

impl Workload for Probing {
    type Output = ProbeReport;
    type Error = DriveError;

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
    ) -> Result<ProbeReport, DriveError> {
        let plan = self.plan;
        if plan.is_empty() {
            // Nothing to drive: the application runs until it exits by itself.
            return std::future::pending().await;
        }
        // Connections are opened in the container's own network namespace (the host's
        // with host networking, where its loopback is the container's).
        let netns = if plan.host_network {
            None
        } else {
            container.processes.pids().first().copied()
        };
        let container_addr = if plan.host_network {
            None
        } else {
            engine.container_address(&container.name).await?
        };
        let Ready { addr, ports, asked } =
            wait_ready(engine, container, &plan, container_addr, netns, reporter).await?;
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
            .filter_map(|p| Some((p.port, Scheme::parse(&p.speaks)?)))
            .collect();
        let mut sent = Vec::new();
        let mut results = asked;
        for result in &results {
            reporter.step(&format!("probe: {}", result.line()));
        }
        let languages = plan
            .discovery
            .as_ref()
            .map(|d| d.accept_language.clone())
            .unwrap_or_default();
        // An executed plan (verification's) has no discovery: the crawl's default then.
        let concurrency = plan
            .discovery
            .as_ref()
            .and_then(|d| d.crawl.as_ref())
            .map_or(CrawlLimits::default().concurrency, |c| c.concurrency);
        {
            // What each request's future borrows (a `move` closure copies the references).
            let (ports, languages, timeout) = (&http_ports, &languages, plan.request_timeout);
            in_plan_order(plan.http.clone(), concurrency, move |probe| async move {
                user_probe(&probe, (addr, netns), ports, languages, timeout).await
            })
            .for_each(|result| {
                reporter.step(&format!("probe: {}", result.line()));
                if let ProbeResult::Http { request, .. } = &result {
                    sent.push(request.clone());
                }
                results.push(result);
                reporter.count(Counter::Requests, len(&sent));
                std::future::ready(())
            })
            .await;
        }
        let mut crawl_summary = None;
        if let Some(discovery) = &plan.discovery
            && !http_ports.is_empty()
        {
            let crawl = crawl::Crawl::new(
                addr,
                netns,
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
        for command in &plan.exec {
            let result = exec_probe(engine, container, command, &plan).await;
            reporter.step(&format!("probe: {}", result.line()));
            results.push(result);
            commands += 1;
            reporter.count(Counter::Commands, commands);
        }
        let again = if self.answer_twice {
            answers_again(
                engine,
                container,
                &plan,
                &results,
                (addr, netns),
                concurrency,
                reporter,
            )
            .await
        } else {
            Vec::new()
        };
        if let Some(probe) = &plan.healthcheck {
            let result = health::run(engine, &container.name, probe).await;
            reporter.step(&format!("probe: {}", result.line()));
            results.push(result);
            commands += 1;
            reporter.count(Counter::Commands, commands);
        }
        if !plan.host_exec.is_empty() {
            // Kept until the scripts are done: dropping them closes their ports.
            let relays = match netns {
                Some(pid) if addr.is_loopback() => relays(pid, addr, &ports, reporter).await,
                _ => Vec::new(),
            };
            let targets: Vec<(&PortReport, SocketAddr)> = ports
                .iter()
                .map(|p| {
                    let relayed = relays.iter().find(|r| r.target.port() == p.port);
                    (p, relayed.map_or(SocketAddr::new(addr, p.port), |r| r.host))
                })
                .collect();
            let env = host_env(&targets, &container.name, &self.image);
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
            plan: plan.executed(sent, &ports),
            results,
            again,
            ports,
            crawl: crawl_summary,
        })
    }
}

/// Asks each HTTP request and command of `results` again, in order (the requests as
/// [`in_plan_order`] sends them): the second answers, at the positions of the first
/// (`None` for other probes).
async fn answers_again<E: Engine>(
    engine: &E,
    container: &RunningContainer,
    plan: &ProbePlan,
    results: &[ProbeResult],
    (addr, netns): (IpAddr, Option<u32>),
    concurrency: usize,
    reporter: &dyn Reporter,
) -> Vec<Option<ProbeResult>> {
    // Owned: a future borrowing them would not be `Send` for every lifetime.
    let (positions, requests): (Vec<usize>, Vec<HttpProbe>) = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            ProbeResult::Http { request, .. } => Some((i, request.clone())),
            _ => None,
        })
        .unzip();
    let commands = results
        .iter()
        .filter(|r| matches!(r, ProbeResult::Exec { .. }))
        .count();
    reporter.step(&format!(
        "asking {} request(s) and {commands} command(s) again, to learn what varies between \
         answers",
        requests.len()
    ));
    let timeout = plan.request_timeout;
    let answered: Vec<ProbeResult> =
        in_plan_order(requests, concurrency, move |request| async move {
            user_probe(&request, (addr, netns), &[], &[], timeout).await
        })
        .collect()
        .await;
    let mut again: Vec<Option<ProbeResult>> = vec![None; results.len()];
    for (i, result) in positions.into_iter().zip(answered) {
        again[i] = Some(result);
    }
    for (i, result) in results.iter().enumerate() {
        if let ProbeResult::Exec { command, .. } = result {
            again[i] = Some(exec_probe(engine, container, command, plan).await);
        }
    }
    again
}

/// Sends each of `requests` with `send` and yields the results in the order of
/// `requests`. Requests that change nothing on the server (GET, HEAD, OPTIONS, TRACE) go up
/// to `concurrency` at once; any other goes alone, once everything before it has been
/// answered and before anything after it is sent: the OpenAPI operations come as reads,
/// then writes, then deletes, and a write may depend on the one before it.
fn in_plan_order<F, Fut>(
    requests: Vec<HttpProbe>,
    concurrency: usize,
    send: F,
) -> impl Stream<Item = Fut::Output>
where
    F: Fn(HttpProbe) -> Fut + Clone,
    Fut: Future,
{
    in_order_by_method(requests, |r| &r.method, concurrency, send)
}

/// [`in_plan_order`] for anything that carries a request: `method` says its method.
pub(super) fn in_order_by_method<T, M, F, Fut>(
    requests: Vec<T>,
    method: M,
    concurrency: usize,
    send: F,
) -> impl Stream<Item = Fut::Output>
where
    M: Fn(&T) -> &str,
    F: Fn(T) -> Fut + Clone,
    Fut: Future,
{
    // Runs of reads, and each write on its own.
    let mut batches: Vec<Vec<T>> = Vec::new();
    let mut reading = false;
    for request in requests {
        let safe = openapi::is_safe(method(&request));
        match batches.last_mut() {
            Some(batch) if safe && reading => batch.push(request),
            _ => batches.push(vec![request]),
        }
        reading = safe;
    }
    // `flat_map` starts a batch only once the one before has given its last result.
    futures_util::stream::iter(batches).flat_map(move |batch| {
        futures_util::stream::iter(batch)
            .map(send.clone())
            .buffered(concurrency.max(1))
    })
}

/// Runs `command` in the container as a probe.
async fn exec_probe<E: Engine>(
    engine: &E,
    container: &RunningContainer,
    command: &[String],
    plan: &ProbePlan,
) -> ProbeResult {
    let started = Instant::now();
    let outcome = engine
        .exec(&container.name, command, plan.exec_user.as_deref())
        .await;
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(outcome) => ProbeResult::Exec {
            command: command.to_vec(),
            exit_code: Some(outcome.exit_code),
            output: outcome.output,
            error: None,
            millis,
        },
        Err(e) => ProbeResult::Exec {
            command: command.to_vec(),
            exit_code: None,
            output: String::new(),
            error: Some(e.to_string()),
            millis,
        },
    }
}

fn len<T>(items: &[T]) -> u64 {
    u64::try_from(items.len()).unwrap_or(u64::MAX)
}

/// Sends one of the user's requests (on the first HTTP port when it names none).
async fn user_probe(
    probe: &HttpProbe,
    (addr, netns): (IpAddr, Option<u32>),
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
    if let Some(language) = languages.first()
        && !request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("accept-language"))
    {
        request
            .headers
            .push(("Accept-Language".into(), language.clone()));
    }
    let outgoing = http::Outgoing {
        method: &request.method,
        target: &request.path,
        headers: &request.headers,
        body: request.body.as_deref(),
    };
    let endpoint = http::Endpoint {
        addr,
        port,
        scheme,
        netns,
    };
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
/// `SLIM_CONTAINER` and `SLIM_IMAGE`. `targets` pairs each port with where the host
/// reaches it.
fn host_env(
    targets: &[(&PortReport, SocketAddr)],
    container: &str,
    image: &str,
) -> Vec<(String, String)> {
    let joined: Vec<String> = targets.iter().map(|(_, at)| at.to_string()).collect();
    let urls: Vec<String> = targets
        .iter()
        .filter(|(p, _)| p.speaks == "http" || p.speaks == "https")
        .map(|(p, at)| format!("{}://{at}", p.speaks))
        .collect();
    vec![
        ("SLIM_TARGET".into(), joined.join(" ")),
        ("SLIM_URLS".into(), urls.join(" ")),
        ("SLIM_CONTAINER".into(), container.to_string()),
        ("SLIM_IMAGE".into(), image.to_string()),
    ]
}

/// One host loopback port per application port, relaying into the network namespace of
/// process `pid`: the host cannot reach `addr` (the container's loopback) itself. A port
/// that cannot be opened is said and left unrelayed.
async fn relays(
    pid: u32,
    addr: IpAddr,
    ports: &[PortReport],
    reporter: &dyn Reporter,
) -> Vec<Relay> {
    let mut relays = Vec::new();
    for port in ports {
        let target = SocketAddr::new(addr, port.port);
        match Relay::start(pid, target).await {
            Ok(relay) => {
                reporter.step(&format!(
                    "host-exec: the host cannot reach port {} (the application listens \
                     inside the container only): SLIM_TARGET has {}, relayed to {target} \
                     in the container while the scripts run",
                    port.port, relay.host
                ));
                relays.push(relay);
            }
            Err(e) => reporter.warn(&format!(
                "cannot open a host port relaying to {target} in the container ({e}): \
                 --host-exec scripts cannot reach port {}; use --exec to run checks inside \
                 the container",
                port.port
            )),
        }
    }
    relays
}

/// Waits until the container listens on every ready port (and says so, the moment it
/// sees it), then learns how each speaks.
/// Returns where the application is reached, its ports, and the known protocols asked.
async fn wait_ready<E: Engine>(
    engine: &E,
    container: &RunningContainer,
    plan: &ProbePlan,
    container_addr: Option<IpAddr>,
    netns: Option<u32>,
    reporter: &dyn Reporter,
) -> Result<Ready, NotReady> {
    let deadline = Instant::now() + plan.ready_timeout;
    if crate::test_hook::hook().readiness_by_connection() {
        return ready_by_connection(engine, container, plan, container_addr, deadline).await;
    }
    let listening =
        match ready::wait_listening(&container.processes, &plan.ready_ports, deadline).await {
            Ok(listening) => listening,
            Err(not) => {
                let last_logs = engine
                    .container_logs(&container.name, LOG_LINES)
                    .await
                    .unwrap_or_default();
                return Err(NotReady {
                    port: not.port,
                    timeout: plan.ready_timeout,
                    listening: not.listening,
                    last_logs,
                });
            }
        };
    let seen: Vec<String> = listening
        .iter()
        .filter(|l| plan.ready_ports.contains(&l.port))
        .map(|l| format!("{l} ({})", l.program))
        .collect();
    reporter.step(&format!("listening: {}", seen.join(", ")));
    let addr = reach_address(container_addr, &listening, &plan.ready_ports);
    let until = deadline.max(Instant::now() + ready::CLASSIFY_FOR);
    let mut ports = Vec::new();
    let mut asked = Vec::new();
    for &port in &plan.ready_ports {
        let program = listening
            .iter()
            .find(|l| l.port == port)
            .map_or("", |l| l.program.as_str());
        let expected = ClientFirst::expected(program, port);
        let spoke = plan.spoke.iter().find(|p| p.port == port);
        let kind = match spoke.and_then(|p| Scheme::parse(&p.speaks)) {
            Some(scheme) if ready::answers_http(addr, port, netns, scheme).await => {
                PortKind::Http(scheme)
            }
            _ => ready::classify(addr, port, netns, expected, until).await,
        };
        if let Some(protocol) = expected {
            asked.push(protocol_result(port, protocol, &kind));
        }
        ports.push(PortReport {
            port,
            speaks: kind.name().to_string(),
        });
    }
    Ok(Ready { addr, ports, asked })
}

/// Readiness as slim did it before it read listening sockets from the kernel, for the
/// tests' control (`SLIM_TEST_HOOK=readiness:connect`): connect from the host to the
/// container's address and wait for each ready port to answer HTTP.
async fn ready_by_connection<E: Engine>(
    engine: &E,
    container: &RunningContainer,
    plan: &ProbePlan,
    container_addr: Option<IpAddr>,
    deadline: Instant,
) -> Result<Ready, NotReady> {
    let addr = container_addr.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut ports = Vec::new();
    for &port in &plan.ready_ports {
        let kind = ready::classify(addr, port, None, None, deadline).await;
        if !matches!(kind, PortKind::Http(_)) {
            let last_logs = engine
                .container_logs(&container.name, LOG_LINES)
                .await
                .unwrap_or_default();
            return Err(NotReady {
                port,
                timeout: plan.ready_timeout,
                listening: crate::netns::listeners(&container.processes),
                last_logs,
            });
        }
        ports.push(PortReport {
            port,
            speaks: kind.name().to_string(),
        });
    }
    Ok(Ready {
        addr,
        ports,
        asked: Vec::new(),
    })
}

/// What readiness found.
struct Ready {
    /// Where the application's ports are reached.
    addr: IpAddr,
    ports: Vec<PortReport>,
    /// The requests of known protocols, each with its answer (replayed by verification).
    asked: Vec<ProbeResult>,
}

/// The result of asking `port` whether it speaks `protocol`.
fn protocol_result(port: u16, protocol: ClientFirst, kind: &PortKind) -> ProbeResult {
    let (answer, error) = match kind {
        PortKind::Known {
            name,
            answer: Some(answer),
        } if *name == protocol.name() => (Some(answer.clone()), None),
        other => (
            None,
            Some(format!(
                "no {} answer (the port speaks {})",
                protocol.name(),
                other.name()
            )),
        ),
    };
    ProbeResult::Protocol {
        port,
        protocol: protocol.name().to_string(),
        answer,
        error,
    }
}

/// The address the application's ports are reached at from inside its namespace: the
/// container's own (what the application sees in Host headers), unless a ready port
/// listens on loopback only, or the container has no address (`--network none`, host
/// networking): then loopback.
fn reach_address(container_addr: Option<IpAddr>, listening: &[Listener], ports: &[u16]) -> IpAddr {
    let loopback_only = |port: u16| {
        let on_port: Vec<&Listener> = listening.iter().filter(|l| l.port == port).collect();
        !on_port.is_empty() && on_port.iter().all(|l| l.is_loopback())
    };
    match container_addr {
        Some(addr) if !ports.iter().any(|p| loopback_only(*p)) => addr,
        _ => {
            let v6_only = ports.iter().any(|port| {
                let mut on_port = listening.iter().filter(|l| l.port == *port).peekable();
                on_port.peek().is_some() && on_port.all(|l| l.addr.is_ipv6() && l.is_loopback())
            });
            if v6_only {
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            } else {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            }
        }
    }
}

async fn hold(continue_after: &ContinueAfter, reporter: &dyn Reporter) -> Result<(), DriveError> {
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
                    .map_err(|e| DriveError::Internal(format!("cannot listen for SIGUSR1: {e}")))?;
            usr1.recv().await;
            Ok(())
        }
        ContinueAfter::Enter => {
            reporter.step("probes done: press Enter to stop the container");
            let mut line = String::new();
            let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
            tokio::io::AsyncBufReadExt::read_line(&mut stdin, &mut line)
                .await
                .map_err(|e| DriveError::Internal(format!("cannot read stdin: {e}")))?;
            Ok(())
        }
    }
}
