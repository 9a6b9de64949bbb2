//! The HTTP crawl: from `/`, `/robots.txt`, `/sitemap.xml` (and the sitemaps they name),
//! a request for a page that does not exist, a `HEAD /`, and the usual places of an
//! OpenAPI document, follow the site's own links in waves, a few requests at a time.
//!
//! Same site means: the container's address on one of its HTTP ports, or a host name the
//! site gives itself (`localhost`, the hosts of its sitemap URLs), which map to the port
//! the reference was found on. Pages linked from a page are one level deeper; what a page
//! needs to render (stylesheets, scripts, images, fonts) is fetched at the page's own
//! level, so the deepest pages still get their resources. Redirects are followed within
//! the site, at the same level. The crawl stops at the depth, request and time limits.
//!
//! Every request is recorded in the order it was sent, so the crawl can be replayed as a
//! plain list of requests.

use std::collections::HashSet;
use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use super::http::{self, Endpoint, Exchange, Outgoing, Scheme};
use super::links::{LinkKind, css_links, html_links};
use super::probing::in_order_by_method;
use super::sitemap::{Sitemap, parse_sitemap, robots_sitemaps};
use super::url::Url;
use super::{CrawlLimits, Discovery, FoundBy, HttpProbe, ProbeResult, openapi};
use crate::reporter::{Counter, Reporter};

/// The page asked for to see the application's "not found" answer.
pub const NOT_FOUND_PATH: &str = "/slim-probe-not-found-0d1e5c";

/// Host names a site commonly uses for itself in absolute links.
const LOCAL_NAMES: &[&str] = &["localhost", "127.0.0.1", "[::1]", "0.0.0.0"];

/// How a crawl went.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrawlSummary {
    /// Requests sent.
    pub requests: usize,
    /// HTML documents among the answers.
    pub pages: usize,
    /// The OpenAPI operations probed.
    pub operations: usize,
    /// Why the crawl stopped before it ran out of links, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// OpenAPI operations not probed, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<openapi::SkippedOperation>,
}

/// What the answer of a request is read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// HTML or CSS (by content type): its links are followed.
    Page,
    Robots,
    Sitemap,
    /// A candidate OpenAPI document.
    OpenApi,
    /// Not read.
    Plain,
}

/// A request to make.
#[derive(Clone, Debug)]
struct Pending {
    probe: HttpProbe,
    depth: u32,
    role: Role,
    /// An OpenAPI operation's second instance, sent if this one is answered 4xx.
    alternate: Option<Box<HttpProbe>>,
}

/// One crawl over the HTTP ports of a container.
pub struct Crawl<'a> {
    addr: IpAddr,
    /// Where connections are opened (see [`Endpoint::netns`]).
    netns: Option<u32>,
    /// The HTTP ports and how they speak, in order; the first is the default.
    ports: Vec<(u16, Scheme)>,
    discovery: &'a Discovery,
    limits: CrawlLimits,
    /// Whether links are followed at all (not with `--no-crawl`).
    follow: bool,
    request_timeout: Duration,
    reporter: &'a dyn Reporter,
    /// Requests sent before the crawl, so the live count goes on from there.
    counted_before: u64,
    deadline: Instant,
    /// Host names the site uses for itself.
    aliases: HashSet<String>,
    /// `(port, method, target)` already requested.
    seen: HashSet<(u16, String, String)>,
    /// Ports whose OpenAPI document has been turned into probes.
    openapi_done: HashSet<u16>,
    /// HTML pages that answered 2xx, for the passes in other languages.
    html_pages: Vec<(u16, Scheme, String)>,
    /// OpenAPI operations that write (POST, PUT, PATCH), sent once nothing is left to
    /// read, and those that delete, sent last.
    writes: Vec<Pending>,
    deletes: Vec<Pending>,
    results: Vec<ProbeResult>,
    summary: CrawlSummary,
}

impl<'a> Crawl<'a> {
    pub fn new(
        addr: IpAddr,
        netns: Option<u32>,
        ports: Vec<(u16, Scheme)>,
        discovery: &'a Discovery,
        request_timeout: Duration,
        reporter: &'a dyn Reporter,
    ) -> Crawl<'a> {
        let follow = discovery.crawl.is_some();
        let limits = discovery.crawl.clone().unwrap_or(CrawlLimits {
            depth: 0,
            pages: usize::MAX,
            time: Duration::from_secs(24 * 3600),
            concurrency: CrawlLimits::default().concurrency,
        });
        Crawl {
            addr,
            netns,
            ports,
            discovery,
            deadline: Instant::now() + limits.time,
            limits,
            follow,
            request_timeout,
            reporter,
            counted_before: 0,
            aliases: LOCAL_NAMES.iter().map(|s| (*s).to_string()).collect(),
            seen: HashSet::new(),
            openapi_done: HashSet::new(),
            html_pages: Vec::new(),
            writes: Vec::new(),
            deletes: Vec::new(),
            results: Vec::new(),
            summary: CrawlSummary::default(),
        }
    }

    /// Counts the crawl's requests on from `n` (the requests sent before it).
    pub fn counting_from(mut self, n: u64) -> Crawl<'a> {
        self.counted_before = n;
        self
    }

    fn host(&self) -> String {
        match self.addr {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        }
    }

    /// A request of the crawl, with the first `--accept-language` if any.
    fn probe(
        &self,
        port: u16,
        scheme: Scheme,
        method: &str,
        target: &str,
        found_by: FoundBy,
    ) -> HttpProbe {
        let headers = self
            .discovery
            .accept_language
            .first()
            .map(|l| vec![("Accept-Language".to_string(), l.clone())])
            .unwrap_or_default();
        HttpProbe {
            port: Some(port),
            scheme: Some(scheme),
            method: method.to_string(),
            path: target.to_string(),
            headers,
            body: None,
            expect_status: None,
            found_by,
        }
    }

    /// What to make of an OpenAPI document: the methods asked for and the headers of the
    /// user's probes (their credentials).
    fn operation_options(&self) -> openapi::OperationOptions<'a> {
        openapi::OperationOptions {
            methods: &self.discovery.openapi_methods,
            credentials: &self.discovery.credentials,
        }
    }

    /// Queues a request unless it was made already.
    fn queue(&mut self, next: &mut Vec<Pending>, pending: Pending) {
        let key = (
            pending.probe.port.unwrap_or(0),
            pending.probe.method.clone(),
            pending.probe.path.clone(),
        );
        if self.seen.insert(key) {
            next.push(pending);
        }
    }

    /// Queues a request for each operation of an OpenAPI document served on `port`: those
    /// that only read in `next`, those that write after the crawl, DELETE last.
    fn queue_operations(
        &mut self,
        next: &mut Vec<Pending>,
        (port, scheme): (u16, Scheme),
        operations: openapi::Operations,
        depth: u32,
    ) {
        for skipped in operations.skipped {
            self.reporter.warn(&format!(
                "OpenAPI operation {} not probed: {}",
                skipped.operation, skipped.reason
            ));
            self.summary.skipped.push(skipped);
        }
        for operation in operations.probes {
            let to_probe = |crawl: &Self, operation: &openapi::OperationProbe, label: String| {
                let mut probe = crawl.probe(
                    port,
                    scheme,
                    &operation.method,
                    &operation.target,
                    FoundBy::OpenApi { operation: label },
                );
                merge_headers(&mut probe.headers, operation.headers.clone());
                probe.body.clone_from(&operation.body);
                probe
            };
            let probe = to_probe(self, &operation, operation.operation.clone());
            let alternate = operation.alternate.as_deref().map(|second| {
                Box::new(to_probe(
                    self,
                    second,
                    format!("{} (second instance)", operation.operation),
                ))
            });
            self.summary.operations += 1;
            let method = operation.method.as_str();
            let pending = Pending {
                probe,
                depth,
                role: if method == "GET" {
                    Role::Page
                } else {
                    Role::Plain
                },
                alternate,
            };
            if openapi::is_safe(method) {
                self.queue(next, pending);
            } else if method == "DELETE" {
                let mut deletes = std::mem::take(&mut self.deletes);
                self.queue(&mut deletes, pending);
                self.deletes = deletes;
            } else {
                let mut writes = std::mem::take(&mut self.writes);
                self.queue(&mut writes, pending);
                self.writes = writes;
            }
        }
    }

    /// Runs the crawl; returns every request with its result, in the order sent.
    pub async fn run(mut self) -> (Vec<ProbeResult>, CrawlSummary) {
        let mut wave = Vec::new();
        for (port, scheme) in self.ports.clone() {
            let mut seeds = vec![(Role::Page, "GET", "/")];
            if self.follow {
                seeds.extend([
                    (Role::Plain, "HEAD", "/"),
                    (Role::Robots, "GET", "/robots.txt"),
                    (Role::Sitemap, "GET", "/sitemap.xml"),
                    (Role::Page, "GET", NOT_FOUND_PATH),
                ]);
            }
            if self.discovery.find_openapi && self.discovery.openapi.is_none() {
                seeds.extend(
                    openapi::COMMON_PATHS
                        .iter()
                        .map(|p| (Role::OpenApi, "GET", *p)),
                );
            }
            for (role, method, target) in seeds {
                let probe = self.probe(port, scheme, method, target, FoundBy::Start);
                self.queue(
                    &mut wave,
                    Pending {
                        probe,
                        depth: 0,
                        role,
                        alternate: None,
                    },
                );
            }
        }
        if let (Some(doc), Some(&(port, scheme))) = (&self.discovery.openapi, self.ports.first()) {
            self.openapi_done.insert(port);
            let operations = openapi::operations(doc, &self.operation_options());
            self.queue_operations(&mut wave, (port, scheme), operations, 0);
        }
        let mut level = 0;
        while !wave.is_empty() {
            let mut next = self.send_wave(wave).await;
            if next.is_empty() {
                next = std::mem::take(&mut self.writes);
            }
            if next.is_empty() {
                next = std::mem::take(&mut self.deletes);
            }
            if self.summary.stopped.is_some() {
                break;
            }
            level += 1;
            if !next.is_empty() {
                self.reporter.step(&format!(
                    "crawl: round {level}: {} more request(s) ({} so far)",
                    next.len(),
                    self.summary.requests
                ));
            }
            wave = next;
        }
        for language in self.discovery.accept_language.iter().skip(1) {
            if self.summary.stopped.is_some() {
                break;
            }
            let pages: Vec<Pending> = self
                .html_pages
                .iter()
                .map(|(port, scheme, target)| {
                    let mut probe = self.probe(
                        *port,
                        *scheme,
                        "GET",
                        target,
                        FoundBy::Language {
                            language: language.clone(),
                        },
                    );
                    probe.headers = vec![("Accept-Language".into(), language.clone())];
                    Pending {
                        probe,
                        depth: 0,
                        role: Role::Plain,
                        alternate: None,
                    }
                })
                .collect();
            self.send_wave(pages).await;
        }
        (self.results, self.summary)
    }

    /// Sends one wave of requests, a few at a time, records them in order, and returns
    /// the requests their answers lead to.
    async fn send_wave(&mut self, mut wave: Vec<Pending>) -> Vec<Pending> {
        let budget = self.limits.pages.saturating_sub(self.summary.requests);
        if wave.len() > budget {
            self.summary.stopped = Some(format!(
                "the request limit ({}) was reached with {} request(s) left; raise --crawl-pages",
                self.limits.pages,
                wave.len() - budget
            ));
            wave.truncate(budget);
        }
        let (addr, netns, timeout, deadline) =
            (self.addr, self.netns, self.request_timeout, self.deadline);
        let total = wave.len();
        let reporter = self.reporter;
        let before = self.counted_before + u64::try_from(self.summary.requests).unwrap_or(0);
        let answered = &std::sync::atomic::AtomicU64::new(0);
        // Reads a few at a time, each write alone (as a plan's probes are sent).
        let answers: Vec<(Pending, Result<Exchange, http::HttpError>)> = in_order_by_method(
            wave,
            |pending: &Pending| &pending.probe.method,
            self.limits.concurrency,
            move |pending| async move {
                if Instant::now() >= deadline {
                    return None;
                }
                let probe = &pending.probe;
                let endpoint = Endpoint {
                    addr,
                    netns,
                    port: probe.port.unwrap_or(80),
                    scheme: probe.scheme.unwrap_or(Scheme::Http),
                };
                let outgoing = Outgoing {
                    method: &probe.method,
                    target: &probe.path,
                    headers: &probe.headers,
                    body: probe.body.as_deref(),
                };
                let result = http::send(endpoint, outgoing, timeout).await;
                let n = answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                reporter.count(Counter::Requests, before + n);
                Some((pending, result))
            },
        )
        // Past the time limit nothing more is sent; what was is kept.
        .take_while(|answer| std::future::ready(answer.is_some()))
        .filter_map(std::future::ready)
        .collect()
        .await;
        if answers.len() < total && self.summary.stopped.is_none() {
            self.summary.stopped = Some(format!(
                "the time limit ({:?}) was reached with {} request(s) left; raise --crawl-time",
                self.limits.time,
                total - answers.len()
            ));
        }
        let mut next = Vec::new();
        for (mut pending, result) in answers {
            self.summary.requests += 1;
            if let Ok(exchange) = &result
                && (400..500).contains(&exchange.answer.status)
                && let Some(second) = pending.alternate.take()
            {
                // A request the application refused: once more, with other values.
                next.push(Pending {
                    probe: *second,
                    depth: pending.depth,
                    role: pending.role,
                    alternate: None,
                });
            }
            if let Ok(exchange) = &result {
                if self.follow || pending.role == Role::OpenApi {
                    self.follow(&pending, exchange, &mut next);
                }
                let html = exchange.answer.content_type.as_deref().is_some_and(is_html);
                if html && pending.probe.method == "GET" {
                    self.summary.pages += 1;
                    if (200..300).contains(&exchange.answer.status) && pending.role == Role::Page {
                        self.html_pages.push((
                            pending.probe.port.unwrap_or(80),
                            pending.probe.scheme.unwrap_or(Scheme::Http),
                            pending.probe.path.clone(),
                        ));
                    }
                }
            }
            let result = match result {
                Ok(exchange) => ProbeResult::Http {
                    request: pending.probe,
                    answer: Some(exchange.answer),
                    error: None,
                },
                Err(e) => ProbeResult::Http {
                    request: pending.probe,
                    answer: None,
                    error: Some(e.to_string()),
                },
            };
            if result.failed() {
                self.reporter
                    .warn(&format!("probe failed: {}", result.line()));
            }
            self.results.push(result);
        }
        next
    }

    /// Where a URL found on the site goes: `(port, scheme, target)` when it is the site's
    /// own, `None` otherwise.
    fn place(&self, url: &Url, from: (u16, Scheme)) -> Option<(u16, Scheme, String)> {
        let ours = |port: u16| self.ports.iter().find(|(p, _)| *p == port).copied();
        if url.host == self.host() {
            let (port, scheme) = ours(url.effective_port())?;
            return Some((port, scheme, url.target.clone()));
        }
        if self.aliases.contains(&url.host) {
            let (port, scheme) = url.port.and_then(ours).unwrap_or(from);
            return Some((port, scheme, url.target.clone()));
        }
        None
    }

    /// Queues what one answer leads to.
    fn follow(&mut self, pending: &Pending, exchange: &Exchange, next: &mut Vec<Pending>) {
        let probe = &pending.probe;
        let from = (
            probe.port.unwrap_or(80),
            probe.scheme.unwrap_or(Scheme::Http),
        );
        let page_url = Url::new(from.1.as_str(), &self.host(), from.0, &probe.path);
        let answer = &exchange.answer;
        let path = probe.path.clone();
        if (300..400).contains(&answer.status) {
            if probe.method != "GET" {
                return;
            }
            let target = answer
                .location
                .as_deref()
                .and_then(|l| page_url.join(l))
                .and_then(|u| self.place(&u, from));
            if let Some((port, scheme, target)) = target {
                let probe = self.probe(
                    port,
                    scheme,
                    "GET",
                    &target,
                    FoundBy::Redirect { from: path },
                );
                self.queue(
                    next,
                    Pending {
                        probe,
                        depth: pending.depth,
                        role: pending.role,
                        alternate: None,
                    },
                );
            }
            return;
        }
        let ok = (200..300).contains(&answer.status);
        match pending.role {
            Role::Robots if ok => {
                let text = String::from_utf8_lossy(&exchange.body);
                for sitemap in robots_sitemaps(&text) {
                    self.queue_url(
                        next,
                        &page_url,
                        &sitemap,
                        from,
                        true,
                        Role::Sitemap,
                        pending.depth,
                        || FoundBy::Sitemap { from: path.clone() },
                    );
                }
            }
            Role::Sitemap if ok => {
                let text = sitemap_text(&exchange.body);
                let (urls, role, depth) = match parse_sitemap(&text) {
                    Sitemap::Index(urls) => (urls, Role::Sitemap, pending.depth),
                    Sitemap::Pages(urls) => (urls, Role::Page, pending.depth.max(1)),
                };
                for url in urls {
                    self.queue_url(next, &page_url, &url, from, true, role, depth, || {
                        FoundBy::Sitemap { from: path.clone() }
                    });
                }
            }
            Role::OpenApi if ok => {
                let Some(text) = std::str::from_utf8(&exchange.body).ok() else {
                    return;
                };
                let Ok(doc) = openapi::parse(text) else {
                    return;
                };
                if !openapi::is_openapi(&doc) || !self.openapi_done.insert(from.0) {
                    return;
                }
                let operations = openapi::operations(&doc, &self.operation_options());
                self.reporter.step(&format!(
                    "crawl: {} describes {} operation(s) to probe ({} skipped)",
                    probe.path,
                    operations.probes.len(),
                    operations.skipped.len()
                ));
                self.queue_operations(next, from, operations, pending.depth);
            }
            Role::Page => {
                let content_type = answer.content_type.as_deref().unwrap_or("");
                if is_html(content_type) {
                    let text = String::from_utf8_lossy(&exchange.body);
                    let links = html_links(&text);
                    let base = links
                        .base
                        .as_deref()
                        .and_then(|b| page_url.join(b))
                        .unwrap_or_else(|| page_url.clone());
                    for link in links.links {
                        let (depth, found_by) = match link.kind {
                            LinkKind::Page => {
                                (pending.depth + 1, FoundBy::Link { from: path.clone() })
                            }
                            LinkKind::Resource => {
                                (pending.depth, FoundBy::Resource { from: path.clone() })
                            }
                        };
                        if depth > self.limits.depth {
                            continue;
                        }
                        self.queue_url(
                            next,
                            &base,
                            &link.reference,
                            from,
                            false,
                            Role::Page,
                            depth,
                            || found_by.clone(),
                        );
                    }
                } else if is_css(content_type) {
                    let text = String::from_utf8_lossy(&exchange.body);
                    for reference in css_links(&text) {
                        self.queue_url(
                            next,
                            &page_url,
                            &reference,
                            from,
                            false,
                            Role::Page,
                            pending.depth,
                            || FoundBy::Resource { from: path.clone() },
                        );
                    }
                }
            }
            _ => {}
        }
    }

    /// Resolves `reference` against `base` and queues a GET for it if it is the site's.
    /// `trusted` references (from robots.txt and sitemaps) make their host one of the
    /// site's names.
    #[expect(
        clippy::too_many_arguments,
        reason = "each caller fills every one; a struct would only rename them"
    )]
    fn queue_url(
        &mut self,
        next: &mut Vec<Pending>,
        base: &Url,
        reference: &str,
        from: (u16, Scheme),
        trusted: bool,
        role: Role,
        depth: u32,
        found_by: impl FnOnce() -> FoundBy,
    ) {
        let Some(url) = base.join(reference) else {
            return;
        };
        if trusted && url.host != self.host() {
            self.aliases.insert(url.host.clone());
        }
        let Some((port, scheme, target)) = self.place(&url, from) else {
            return;
        };
        let probe = self.probe(port, scheme, "GET", &target, found_by());
        self.queue(
            next,
            Pending {
                probe,
                depth,
                role,
                alternate: None,
            },
        );
    }
}

/// Adds `extra` headers, replacing those of the same name.
fn merge_headers(headers: &mut Vec<(String, String)>, extra: Vec<(String, String)>) {
    for (name, value) in extra {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        headers.push((name, value));
    }
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_html(content_type: &str) -> bool {
    matches!(
        essence(content_type).as_str(),
        "text/html" | "application/xhtml+xml"
    )
}

fn is_css(content_type: &str) -> bool {
    essence(content_type) == "text/css"
}

/// A sitemap's text; `.xml.gz` sitemaps come gzipped without a Content-Encoding.
fn sitemap_text(body: &[u8]) -> String {
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let limit = 64 << 20;
        if flate2::read::MultiGzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out)
            .is_ok()
        {
            return String::from_utf8_lossy(&out).into_owned();
        }
    }
    String::from_utf8_lossy(body).into_owned()
}
