//! Tests of the plan, the results and the probing workload against a small site served
//! from this process (no engine, no container: a fake engine answers the workload's few
//! questions, and host networking points it at 127.0.0.1).

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use slim_test_kit::HttpRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::netns::Processes;
use crate::reporter::Silent;
use crate::run::{RunningContainer, Workload};
use crate::test_kit::FakeEngine;

/// One page of the test site.
#[derive(Clone)]
struct Page {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn page(content_type: &'static str, body: &str) -> Page {
    Page {
        status: 200,
        content_type,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    }
}

/// Serves `pages` on 127.0.0.1 (a fresh port), 404 with `not_found` otherwise; every
/// request is logged.
async fn serve(
    pages: HashMap<String, Page>,
    not_found: Page,
) -> (u16, Arc<Mutex<Vec<HttpRequest>>>) {
    let (port, log, _) = serve_slowly(pages, not_found, Duration::ZERO).await;
    (port, log)
}

/// A probe as the server saw it arrive: `METHOD target`, and how many probes (itself
/// included) were being answered then.
#[derive(Clone, Debug)]
struct Arrival {
    request: String,
    in_flight: usize,
}

/// As [`serve`], but each probe is answered `delay` after it arrived, and its arrival is
/// noted.
async fn serve_slowly(
    pages: HashMap<String, Page>,
    not_found: Page,
    delay: Duration,
) -> (u16, Arc<Mutex<Vec<HttpRequest>>>, Arc<Mutex<Vec<Arrival>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let pages = Arc::new(pages);
    let (seen, arrived) = (log.clone(), arrivals.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (pages, log, not_found) = (pages.clone(), seen.clone(), not_found.clone());
            let (arrivals, in_flight) = (arrived.clone(), in_flight.clone());
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                let request = loop {
                    if let Some(request) = HttpRequest::parse(&got) {
                        break request;
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if got.first() == Some(&0x16) {
                        // The readiness check's TLS ClientHello: answer as nginx does.
                        let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                        return;
                    }
                };
                // The readiness check (`User-Agent: slim/…`) is not one of the probes.
                let readiness = request
                    .headers
                    .get("user-agent")
                    .is_some_and(|ua| ua.starts_with("slim/"));
                let (method, target) = (request.method.clone(), request.target.clone());
                if !readiness {
                    log.lock().unwrap().push(request);
                    // Counted under the lock: arrivals are noted in the order counted.
                    arrivals.lock().unwrap().push(Arrival {
                        request: format!("{method} {target}"),
                        in_flight: in_flight.fetch_add(1, Ordering::SeqCst) + 1,
                    });
                    tokio::time::sleep(delay).await;
                    // Before the answer: the client may send its next request on reading it.
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                }
                let page = pages.get(&target).cloned().unwrap_or(not_found);
                let mut answer = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    page.status,
                    page.content_type,
                    page.body.len()
                );
                for (k, v) in &page.headers {
                    answer.push_str(&format!("{k}: {v}\r\n"));
                }
                answer.push_str("\r\n");
                let mut bytes = answer.into_bytes();
                if method != "HEAD" {
                    bytes.extend_from_slice(&page.body);
                }
                let _ = socket.write_all(&bytes).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (port, log, arrivals)
}

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

/// A site with pages three links deep, a page only in a sitemap (named by robots.txt,
/// through a sitemap index), a stylesheet with a font, a redirect, a GET form, a custom
/// 404 page with its own stylesheet, a gzipped page and an OpenAPI document.
fn site() -> (HashMap<String, Page>, Page) {
    let html = "text/html; charset=utf-8";
    let mut pages = HashMap::new();
    let mut add = |path: &str, page: Page| {
        pages.insert(path.to_string(), page);
    };
    add(
        "/",
        page(
            html,
            r#"<html><head><link rel=stylesheet href="/css/site.css"></head><body>
<a href="/one.html">one</a> <a href="http://elsewhere.example/x">away</a>
<a href="mailto:me@example.com">mail</a> <a href="/old">old</a>
<form action="/search"><input name=q></form>
<img srcset="/img/a.png 1x, /img/b.png 2x"></body></html>"#,
        ),
    );
    add("/one.html", page(html, r#"<a href="sub/two.html">two</a>"#));
    add(
        "/sub/two.html",
        page(html, r#"<a href="../deep/three.html">three</a>"#),
    );
    add(
        "/deep/three.html",
        page(
            html,
            r#"<link rel="stylesheet" href="/css/deep.css"><a href="/deep/four.html">4</a>"#,
        ),
    );
    add("/deep/four.html", page(html, "four"));
    add(
        "/css/site.css",
        page("text/css", "@font-face { src: url('../fonts/a.woff2') }"),
    );
    add(
        "/css/deep.css",
        page("text/css", "body { background: url(/img/deep.png) }"),
    );
    add("/fonts/a.woff2", page("font/woff2", "wOF2"));
    add("/img/a.png", page("image/png", "png-a"));
    add("/img/b.png", page("image/png", "png-b"));
    add("/img/deep.png", page("image/png", "png-deep"));
    add("/search", page(html, "results"));
    add("/new.html", page(html, "moved here"));
    add(
        "/old",
        Page {
            status: 301,
            content_type: "text/html",
            headers: vec![("Location", "http://localhost/new.html".into())],
            body: Vec::new(),
        },
    );
    add(
        "/robots.txt",
        page(
            "text/plain",
            "User-agent: *\nSitemap: https://www.example.com/sitemap-index.xml\n",
        ),
    );
    add(
        "/sitemap-index.xml",
        page(
            "application/xml",
            "<sitemapindex><sitemap><loc>https://www.example.com/maps/pages.xml</loc></sitemap></sitemapindex>",
        ),
    );
    add(
        "/maps/pages.xml",
        page(
            "application/xml",
            "<urlset><url><loc>https://www.example.com/hidden.html</loc></url></urlset>",
        ),
    );
    add(
        "/hidden.html",
        page(html, "<a href=/hidden-child.html>c</a>"),
    );
    add("/hidden-child.html", page(html, "child"));
    add(
        "/zipped.html",
        Page {
            status: 200,
            content_type: html,
            headers: vec![("Content-Encoding", "gzip".into())],
            body: gzip("<a href=/from-zipped.html>z</a>"),
        },
    );
    add("/from-zipped.html", page(html, "unzipped link"));
    add(
        "/openapi.json",
        page(
            "application/json",
            r#"{"openapi": "3.0.0", "paths": {"/api/items/{id}": {"get": {"parameters": [
                {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "example": 7}}]}},
                "/api/items": {"post": {}}}}"#,
        ),
    );
    add("/api/items/7", page("application/json", r#"{"id": 7}"#));
    // Reached only through the zipped page's link, from the home page's second link list.
    pages
        .get_mut("/one.html")
        .unwrap()
        .body
        .extend_from_slice(b" <a href=/zipped.html>z</a>");
    let not_found = Page {
        status: 404,
        content_type: html,
        headers: Vec::new(),
        body: br#"<html><link rel=stylesheet href="/css/404.css">not here</html>"#.to_vec(),
    };
    pages.insert("/css/404.css".into(), page("text/css", "h1 { color: red }"));
    (pages, not_found)
}

fn container() -> RunningContainer {
    RunningContainer {
        name: "slim-test".into(),
        run_id: "0a1b2c3d4e5f".into(),
        // The test's servers run in this process.
        processes: Processes::Pids(vec![std::process::id()]),
    }
}

fn plan(port: u16) -> ProbePlan {
    ProbePlan {
        host_network: true,
        ready_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(10),
        ..ProbePlan::for_ports(&[port])
    }
}

async fn probe(plan: ProbePlan) -> Result<ProbeReport, DriveError> {
    probe_with(plan, false).await
}

async fn probe_with(plan: ProbePlan, answer_twice: bool) -> Result<ProbeReport, DriveError> {
    Probing {
        plan,
        image: "site:1".into(),
        answer_twice,
    }
    .drive(
        &FakeEngine::default().with_logs(&["listening on nothing"]),
        &container(),
        &Silent,
    )
    .await
}

fn targets(log: &Mutex<Vec<HttpRequest>>) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s.method, s.target))
        .collect()
}

#[tokio::test]
async fn the_crawl_reaches_every_part_of_the_site() {
    let (pages, not_found) = site();
    let (port, log) = serve(pages, not_found).await;
    let report = probe(plan(port)).await.unwrap();
    let seen = targets(&log);
    for want in [
        "GET /",
        "HEAD /",
        "GET /robots.txt",
        "GET /sitemap.xml",
        "GET /slim-probe-not-found-0d1e5c",
        "GET /css/404.css",
        "GET /one.html",
        "GET /sub/two.html",
        "GET /deep/three.html",
        "GET /css/deep.css",
        "GET /img/deep.png",
        "GET /css/site.css",
        "GET /fonts/a.woff2",
        "GET /img/a.png",
        "GET /img/b.png",
        "GET /search",
        "GET /old",
        "GET /new.html",
        "GET /sitemap-index.xml",
        "GET /maps/pages.xml",
        "GET /hidden.html",
        "GET /hidden-child.html",
        "GET /zipped.html",
        "GET /from-zipped.html",
        "GET /openapi.json",
        "GET /api/items/7",
        "POST /api/items",
    ] {
        assert!(
            seen.contains(&want.to_string()),
            "{want} was not requested: {seen:#?}"
        );
    }
    // An operation that writes goes once nothing is left to read.
    assert_eq!(seen.last().map(String::as_str), Some("POST /api/items"));
    // Page five links deep is within the default depth; nothing off the site.
    assert!(seen.contains(&"GET /deep/four.html".to_string()));
    assert!(
        !seen
            .iter()
            .any(|s| s.contains("elsewhere") || s.contains("mailto"))
    );
    // Each request once, and the report lists them in the order they were sent.
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "{seen:#?}");
    let recorded: Vec<String> = report
        .plan
        .http
        .iter()
        .map(|p| format!("{} {}", p.method, p.path))
        .collect();
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    let mut sorted_recorded = recorded.clone();
    sorted_recorded.sort();
    assert_eq!(sorted_recorded, sorted_seen);
    assert_eq!(report.results.len(), recorded.len());
    assert_eq!(report.plan.discovery, None);
    // Every request asked for compressed answers; the zipped page was decoded.
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .all(|s| s.headers["accept-encoding"] == "gzip, br")
    );
    let api = report
        .results
        .iter()
        .find_map(|r| match r {
            ProbeResult::Http {
                request, answer, ..
            } if request.path == "/api/items/7" => Some((request.found_by.clone(), answer.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        api.0,
        FoundBy::OpenApi {
            operation: "GET /api/items/{id}".into()
        }
    );
    assert_eq!(api.1.unwrap().body_text.as_deref(), Some(r#"{"id": 7}"#));
    let crawl = report.crawl.unwrap();
    assert_eq!(crawl.operations, 2);
    assert_eq!(crawl.stopped, None);
    assert!(
        report.results.iter().all(|r| !r.failed()),
        "{:#?}",
        report.results
    );
}

#[tokio::test]
async fn the_crawl_stops_at_its_depth_and_request_limits() {
    let (pages, not_found) = site();
    let (port, log) = serve(pages.clone(), not_found.clone()).await;
    let mut shallow = plan(port);
    shallow
        .discovery
        .as_mut()
        .unwrap()
        .crawl
        .as_mut()
        .unwrap()
        .depth = 2;
    probe(shallow).await.unwrap();
    let seen = targets(&log);
    assert!(seen.contains(&"GET /sub/two.html".to_string()));
    assert!(
        !seen.contains(&"GET /deep/three.html".to_string()),
        "{seen:#?}"
    );

    let (port, log) = serve(pages, not_found).await;
    let mut few = plan(port);
    few.discovery
        .as_mut()
        .unwrap()
        .crawl
        .as_mut()
        .unwrap()
        .pages = 7;
    let report = probe(few).await.unwrap();
    assert_eq!(targets(&log).len(), 7);
    assert!(
        report
            .crawl
            .unwrap()
            .stopped
            .unwrap()
            .contains("--crawl-pages")
    );
}

#[tokio::test]
async fn no_crawl_sends_only_get_slash() {
    let (pages, not_found) = site();
    let (port, log) = serve(pages, not_found).await;
    let mut plan = plan(port);
    plan.discovery = Some(Discovery {
        crawl: None,
        find_openapi: false,
        ..Discovery::default()
    });
    probe(plan).await.unwrap();
    assert_eq!(targets(&log), ["GET /"]);
}

#[tokio::test]
async fn asked_twice_every_request_and_command_has_a_second_answer_in_its_place() {
    let (pages, not_found) = site();
    let (port, log) = serve(pages, not_found).await;
    let mut plan = plan(port);
    plan.exec = vec![vec!["true".into()]];
    let report = probe_with(plan, true).await.unwrap();
    let sent = targets(&log);
    let requests = report
        .results
        .iter()
        .filter(|r| matches!(r, ProbeResult::Http { .. }))
        .count();
    assert_eq!(sent.len(), 2 * requests, "each request sent twice");
    assert_eq!(sent[..requests], sent[requests..], "in the same order");
    assert_eq!(report.again.len(), report.results.len());
    for (first, second) in report.results.iter().zip(&report.again) {
        match (first, second) {
            (ProbeResult::Http { request: a, .. }, Some(ProbeResult::Http { request: b, .. })) => {
                assert_eq!((&a.method, &a.path), (&b.method, &b.path));
            }
            (ProbeResult::Exec { command: a, .. }, Some(ProbeResult::Exec { command: b, .. })) => {
                assert_eq!(a, b);
            }
            (ProbeResult::Http { .. } | ProbeResult::Exec { .. }, other) => {
                panic!("no second answer in place: {other:?}")
            }
            (_, None) => {}
            (_, Some(other)) => panic!("a second answer to no request: {other:?}"),
        }
    }
    assert!(probe(self::plan(port)).await.unwrap().again.is_empty());
}

#[tokio::test]
async fn an_operation_answered_4xx_is_sent_again_with_a_second_instance() {
    let mut pages = HashMap::new();
    pages.insert(
        "/openapi.json".to_string(),
        page(
            "application/json",
            r#"{"openapi": "3.0.0", "paths": {"/api/kind": {"get": {"parameters": [
                {"name": "k", "in": "query", "required": true,
                 "schema": {"type": "string", "enum": ["gone", "here"]}}]}}}}"#,
        ),
    );
    pages.insert(
        "/api/kind?k=here".to_string(),
        page("application/json", "{}"),
    );
    let not_found = Page {
        status: 404,
        ..page("text/plain", "no")
    };
    let (port, log) = serve(pages, not_found).await;
    let report = probe(plan(port)).await.unwrap();
    let sent = targets(&log);
    let first = sent.iter().position(|t| t == "GET /api/kind?k=gone");
    let second = sent.iter().position(|t| t == "GET /api/kind?k=here");
    assert!(
        matches!((first, second), (Some(a), Some(b)) if a < b),
        "the refused request, then its second instance: {sent:#?}"
    );
    assert!(report.results.iter().any(|r| matches!(r,
    ProbeResult::Http { request, answer: Some(a), .. }
        if request.path == "/api/kind?k=here" && a.status == 200
        && request.found_by == FoundBy::OpenApi {
            operation: "GET /api/kind (second instance)".into()
        })));
}

#[tokio::test]
async fn the_executed_plan_replays_the_same_requests_in_the_same_order() {
    let (pages, not_found) = site();
    let (port, log) = serve(pages.clone(), not_found.clone()).await;
    let mut first = plan(port);
    first
        .http
        .push(spec::parse_probe("POST /api/items {\"a\":1}").unwrap());
    let report = probe(first).await.unwrap();
    let json = serde_json::to_string(&report).unwrap();
    let back: ProbeReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report, "the report survives serde");
    let original = targets(&log);
    assert_eq!(original[0], "POST /api/items", "user probes go first");

    // The new image listens on another port here: point the plan at it.
    let (port2, log2) = serve(pages, not_found).await;
    let mut replay = back.plan.clone();
    replay.ready_ports = vec![port2];
    for probe in &mut replay.http {
        probe.port = Some(port2);
    }
    let again = probe(replay).await.unwrap();
    assert_eq!(targets(&log2), original);
    assert_eq!(again.results.len(), report.results.len());
    for (a, b) in report.results.iter().zip(&again.results) {
        match (a, b) {
            (
                ProbeResult::Http {
                    answer: Some(a),
                    request: ra,
                    ..
                },
                ProbeResult::Http {
                    answer: Some(b),
                    request: rb,
                    ..
                },
            ) => {
                assert_eq!(
                    (ra.method.as_str(), ra.path.as_str()),
                    (rb.method.as_str(), rb.path.as_str())
                );
                assert_eq!(
                    (a.status, &a.body_digest),
                    (b.status, &b.body_digest),
                    "{}",
                    ra.path
                );
            }
            other => panic!("not two answers: {other:?}"),
        }
    }
}

/// The HTTP probes of a plan with no discovery (as verification's, the original's
/// executed plan), `requests` such as `GET /a`.
fn replayed(port: u16, requests: &[&str]) -> ProbePlan {
    ProbePlan {
        http: requests
            .iter()
            .map(|r| spec::parse_probe(r).unwrap())
            .collect(),
        discovery: None,
        ..plan(port)
    }
}

/// `METHOD path` of each HTTP request of `results`.
fn requests_of(results: &[ProbeResult]) -> Vec<String> {
    results
        .iter()
        .filter_map(|r| match r {
            ProbeResult::Http { request, .. } => {
                Some(format!("{} {}", request.method, request.path))
            }
            _ => None,
        })
        .collect()
}

/// Issue 17: verification sent the original's every request one at a time.
#[tokio::test]
async fn the_reads_of_a_plan_are_sent_a_few_at_a_time() {
    let slow = Duration::from_millis(100);
    let (port, _, arrivals) = serve_slowly(HashMap::new(), page("text/plain", "x"), slow).await;
    let gets: Vec<String> = (0..8).map(|i| format!("GET /{i}")).collect();
    let gets: Vec<&str> = gets.iter().map(String::as_str).collect();
    let report = probe(replayed(port, &gets)).await.unwrap();
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), gets.len());
    let most = arrivals.iter().map(|a| a.in_flight).max().unwrap();
    assert!(
        most > 1 && most <= CrawlLimits::default().concurrency,
        "{most} in flight at once: {arrivals:#?}"
    );
    assert_eq!(
        requests_of(&report.results),
        gets,
        "the results in plan order"
    );
}

/// Records the reporter's steps.
#[derive(Default)]
struct Steps(Mutex<Vec<String>>);

impl crate::reporter::Reporter for Steps {
    fn step(&self, message: &str) {
        self.0.lock().unwrap().push(message.to_string());
    }
    fn warn(&self, _: &str) {}
}

/// Issue 17: sending a plan's requests a few at a time must not overlap a write with any
/// other request, nor move it past one, the first time or the second (`answer_twice`).
#[tokio::test]
async fn a_write_is_sent_alone_after_the_requests_before_it_and_before_those_after_it() {
    let slow = Duration::from_millis(100);
    let (port, _, arrivals) = serve_slowly(HashMap::new(), page("text/plain", "x"), slow).await;
    let plan = ["GET /a", "GET /b", "POST /c", "GET /d", "DELETE /e"];
    let steps = Steps::default();
    let report = Probing {
        plan: replayed(port, &plan),
        image: "site:1".into(),
        answer_twice: true,
    }
    .drive(&FakeEngine::default(), &container(), &steps)
    .await
    .unwrap();
    let arrivals = arrivals.lock().unwrap().clone();
    assert_eq!(arrivals.len(), 2 * plan.len(), "{arrivals:#?}");
    for round in arrivals.chunks(plan.len()) {
        let mut reads: Vec<&str> = round[..2].iter().map(|a| a.request.as_str()).collect();
        reads.sort_unstable();
        assert_eq!(reads, plan[..2], "{round:#?}");
        let rest: Vec<&str> = round[2..].iter().map(|a| a.request.as_str()).collect();
        assert_eq!(
            rest,
            plan[2..],
            "in plan order around the writes: {round:#?}"
        );
        for write in [&round[2], &round[4]] {
            assert_eq!(
                write.in_flight, 1,
                "{} overlapped: {round:#?}",
                write.request
            );
        }
    }
    assert_eq!(
        requests_of(&report.results),
        plan,
        "the results in plan order"
    );
    let again: Vec<ProbeResult> = report.again.iter().flatten().cloned().collect();
    assert_eq!(
        requests_of(&again),
        plan,
        "the second answers in plan order"
    );
    let probed: Vec<String> = steps
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|s| s.strip_prefix("probe: ").map(str::to_string))
        .collect();
    let lines: Vec<String> = report.results.iter().map(ProbeResult::line).collect();
    assert_eq!(probed, lines, "a line for each probe, in plan order");
}

#[tokio::test]
async fn other_languages_fetch_the_pages_again() {
    let mut pages = HashMap::new();
    pages.insert(
        "/".to_string(),
        page("text/html", "<a href=/a.html>a</a><img src=/i.png>"),
    );
    pages.insert("/a.html".to_string(), page("text/html", "a"));
    pages.insert("/i.png".to_string(), page("image/png", "i"));
    let (port, log) = serve(pages, page("text/plain", "no")).await;
    let mut plan = plan(port);
    plan.discovery.as_mut().unwrap().accept_language = vec!["fr".into(), "de-DE".into()];
    probe(plan).await.unwrap();
    let log = log.lock().unwrap();
    assert!(
        log.iter()
            .filter(|s| s.method == "GET" && s.target != "/")
            .filter(|s| !s.target.starts_with("/slim") && s.target != "/i.png")
            .all(|s| s.headers.contains_key("accept-language")),
        "{log:#?}"
    );
    let german: Vec<&str> = log
        .iter()
        .filter(|s| s.headers.get("accept-language").map(String::as_str) == Some("de-DE"))
        .map(|s| s.target.as_str())
        .collect();
    assert_eq!(german, ["/", "/a.html"]);
}

#[tokio::test]
async fn a_server_error_and_an_unexpected_status_are_failures() {
    let mut pages = HashMap::new();
    pages.insert(
        "/boom".to_string(),
        Page {
            status: 500,
            content_type: "text/plain",
            headers: Vec::new(),
            body: b"boom".to_vec(),
        },
    );
    pages.insert("/".to_string(), page("text/plain", "home"));
    let missing = Page {
        status: 404,
        ..page("text/plain", "no")
    };
    let (port, _) = serve(pages, missing).await;
    let mut plan = plan(port);
    plan.discovery = None;
    plan.http = vec![
        spec::parse_probe("GET /boom").unwrap(),
        HttpProbe {
            expect_status: Some(404),
            ..spec::parse_probe("GET /").unwrap()
        },
        HttpProbe {
            expect_status: Some(404),
            ..spec::parse_probe("GET /missing").unwrap()
        },
        spec::parse_probe("GET :1/").unwrap(),
    ];
    plan.exec = vec![vec!["false".into()], vec!["true".into()]];
    let report = probe(plan).await.unwrap();
    let failed: Vec<bool> = report.results.iter().map(ProbeResult::failed).collect();
    assert_eq!(failed, [true, true, false, true, true, false]);
    assert_eq!(report.failures().count(), 4);
}

#[tokio::test]
async fn host_scripts_know_where_the_container_is() {
    let (pages, not_found) = site();
    let (port, _) = serve(pages, not_found).await;
    let mut plan = plan(port);
    plan.discovery = None;
    plan.host_exec = vec![
        "echo \"$SLIM_TARGET|$SLIM_URLS|$SLIM_CONTAINER|$SLIM_IMAGE\"".into(),
        "exit 7".into(),
    ];
    let report = probe(plan).await.unwrap();
    match &report.results[..] {
        [
            ProbeResult::HostExec {
                exit_code: Some(0),
                output,
                ..
            },
            ProbeResult::HostExec {
                exit_code: Some(7), ..
            },
        ] => assert_eq!(
            output.trim(),
            format!("127.0.0.1:{port}|http://127.0.0.1:{port}|slim-test|site:1")
        ),
        other => panic!("{other:#?}"),
    }
    assert_eq!(report.failures().count(), 1);
}

#[tokio::test]
async fn the_healthcheck_runs_after_the_commands_and_before_the_host_scripts() {
    let (pages, not_found) = site();
    let (port, _) = serve(pages, not_found).await;
    let mut plan = plan(port);
    plan.discovery = None;
    plan.exec = vec![vec!["true".into()]];
    plan.host_exec = vec!["exit 0".into()];
    plan.healthcheck = Some(HealthProbe {
        command: vec!["/bin/sh".into(), "-c".into(), "stat /srv".into()],
        timeout: Duration::from_secs(5),
        attempts: 3,
        pause: Duration::ZERO,
    });
    let report = probe(plan.clone()).await.unwrap();
    match &report.results[..] {
        [
            ProbeResult::Exec { .. },
            ProbeResult::Health {
                command,
                exit_code: Some(0),
                attempts: 1,
                ..
            },
            ProbeResult::HostExec { .. },
        ] => assert_eq!(command, &plan.healthcheck.as_ref().unwrap().command),
        other => panic!("{other:#?}"),
    }
    // The executed plan carries it, so verification runs it again.
    assert_eq!(report.plan.healthcheck, plan.healthcheck);
    let json = serde_json::to_value(&report.plan).unwrap();
    assert_eq!(json["healthcheck"]["timeout"], 5000);
    let back: ProbePlan = serde_json::from_value(json).unwrap();
    assert_eq!(back, report.plan);
}

#[test]
fn the_plan_takes_the_image_healthcheck_unless_switched_off() {
    let image = crate::inspect::ImageInfo {
        exposed_ports: vec!["8080/tcp".into()],
        healthcheck: Some(crate::inspect::Healthcheck {
            test: vec!["CMD-SHELL".into(), "pg_isready".into()],
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut settings = plan::PlanSettings {
        exec: Vec::new(),
        continue_after: ContinueAfter::Probe,
        ready_timeout: Duration::from_secs(10),
        probes: Vec::new(),
        discovery: Discovery::default(),
        host_exec: Vec::new(),
        run: Vec::new(),
        strict: false,
        healthcheck: true,
    };
    let run = crate::run::RunSettings::default();
    let on = plan::probe_plan(&image, &settings, &run).healthcheck;
    assert_eq!(
        on.clone().map(|h| h.command),
        Some(vec!["/bin/sh".into(), "-c".into(), "pg_isready".into()])
    );
    settings.healthcheck = false;
    assert_eq!(plan::probe_plan(&image, &settings, &run).healthcheck, None);
    // Alone it does not make a plan: an image without a port runs until it exits.
    let mut portless = ProbePlan::for_ports(&[]);
    portless.healthcheck = on;
    assert!(portless.is_empty());
}

#[tokio::test]
async fn an_application_that_never_answers_is_not_ready() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut plan = plan(port);
    plan.ready_timeout = Duration::from_millis(300);
    let err = probe(plan).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("nothing listened on port {port}"))
            && err.contains("it listens on")
            && err.contains("listening on nothing")
            && err.contains("hint:"),
        "{err}"
    );
}

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
    assert!(ProbePlan::for_ports(&[80]).discovery.is_some());
}

#[test]
fn an_executed_plan_has_no_discovery_and_does_not_wait_for_the_user() {
    let mut plan = ProbePlan::for_ports(&[80]);
    plan.continue_after = ContinueAfter::Enter;
    let spoke = [PortReport {
        port: 80,
        speaks: "http".into(),
    }];
    let executed = plan.executed(vec![spec::parse_probe("GET /x").unwrap()], &spoke);
    assert_eq!(executed.discovery, None);
    assert_eq!(executed.spoke, spoke);
    assert_eq!(executed.continue_after, ContinueAfter::Probe);
    assert_eq!(executed.http.len(), 1);
    let json = serde_json::to_value(&executed).unwrap();
    assert_eq!(json["ready_timeout"], 60000);
    assert_eq!(json["continue_after"], "probe");
}

/// The crawl's OpenAPI writes come in one wave: sent a few at a time they would overlap
/// (a PUT on what a POST is creating); each goes alone, in the document's order.
#[tokio::test]
async fn the_crawl_sends_each_openapi_write_alone() {
    let mut pages = HashMap::new();
    pages.insert("/".to_string(), page("text/html", "home"));
    pages.insert(
        "/openapi.json".to_string(),
        page(
            "application/json",
            r#"{"openapi": "3.0.0", "paths": {
                "/api/a": {"post": {}}, "/api/b": {"post": {}}, "/api/c": {"put": {}},
                "/api/d": {"patch": {}}}}"#,
        ),
    );
    let slow = Duration::from_millis(100);
    let (port, _, arrivals) = serve_slowly(pages, page("text/plain", "x"), slow).await;
    probe(plan(port)).await.unwrap();
    let arrivals = arrivals.lock().unwrap().clone();
    let writes: Vec<&Arrival> = arrivals
        .iter()
        .filter(|a| !a.request.starts_with("GET ") && !a.request.starts_with("HEAD "))
        .collect();
    assert_eq!(writes.len(), 4, "{arrivals:#?}");
    for write in &writes {
        assert_eq!(
            write.in_flight, 1,
            "{} overlapped: {arrivals:#?}",
            write.request
        );
    }
}

/// A server on a local port that answers every HTTP request with 200 and notes what each
/// connection opened with: `http`, `tls` (a ClientHello), or `silent` (closed before
/// anything was said).
async fn opening_server() -> (u16, Arc<Mutex<Vec<&'static str>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let openings = Arc::new(Mutex::new(Vec::new()));
    let noted = openings.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let noted = noted.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let opening = match buf[..n].first() {
                    None => "silent",
                    Some(0x16) => "tls",
                    Some(_) => "http",
                };
                noted.lock().unwrap().push(opening);
                if opening == "http" {
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                        )
                        .await;
                }
            });
        }
    });
    (port, openings)
}

/// A port that spoke HTTP when the plan was executed is asked with HTTP on the first
/// connection of a run of that plan (verification's), without the wait for a banner and
/// the TLS attempt that a port of unknown kind gets first (0.3 s and more of each run).
#[tokio::test]
async fn a_port_that_spoke_http_is_asked_with_http_at_once() {
    let (port, openings) = opening_server().await;
    let executed = ProbePlan {
        discovery: None,
        ..plan(port)
    }
    .executed(
        Vec::new(),
        &[PortReport {
            port,
            speaks: "http".into(),
        }],
    );
    let report = probe(executed).await.unwrap();
    assert_eq!(report.ports[0].speaks, "http");
    assert_eq!(openings.lock().unwrap().first(), Some(&"http"));

    // Control: a port of unknown kind is listened to for a banner, then offered TLS on
    // that connection, and asked with HTTP on a second one.
    let (port, openings) = opening_server().await;
    let report = probe(ProbePlan {
        discovery: None,
        ..plan(port)
    })
    .await
    .unwrap();
    assert_eq!(report.ports[0].speaks, "http");
    assert_eq!(openings.lock().unwrap()[..2], ["tls", "http"]);
}
