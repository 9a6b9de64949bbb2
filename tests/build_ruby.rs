//! `slim build` on a Sinatra application on Debian's Ruby packages (its gems live in
//! `/usr/share/rubygems-integration`), served by WEBrick. The build's crawl reaches the
//! home page and the one view it links to; the other routes require standard-library and
//! gem code inside their handlers (bigdecimal with its C extension, csv, a part of
//! mustermann Sinatra never loads, json and digest for a JSON POST). The `ruby` profile
//! keeps every used gem whole and follows the literal `require`s of what it keeps on the
//! image's `$LOAD_PATH`, so every route answers on the slim image; built with
//! `--no-auto-profile`, the routes that require a library the build never loaded fail.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{SINATRA_PORT, SlimImage, TestContainer, build_fixture, image};
use slim_test_kit::http;

/// How long the server may take to answer its first request.
const START: Duration = Duration::from_secs(60);

/// Every GET route with a text its answer must hold; only the first two are linked from
/// the home page.
const GETS: &[(&str, &str)] = &[
    ("/", "sinatra fixture"),
    ("/hello/world", "hello world"),
    ("/total", "total 0.6"),
    ("/table.csv", "apple,3"),
    ("/expand", "expanded /books/7/2"),
    ("/style.css", "font-family"),
    ("/notes.txt", "a static file nothing links to"),
];

/// The answers of every route on a fresh container of `image`: (route, status, body),
/// the JSON POST last.
fn answers(image: &str) -> (Vec<(String, u16, String)>, String) {
    let container = TestContainer::start(image, &[], &[]);
    let home = container.get(SINATRA_PORT, "/", START);
    assert_eq!(home.status, 200, "GET / on {image}: {}", home.text());
    let mut out = Vec::new();
    for (path, _) in GETS {
        let answer = container.get(SINATRA_PORT, path, START);
        out.push((path.to_string(), answer.status, answer.text()));
    }
    let addr = SocketAddr::new(container.address(), SINATRA_PORT);
    let post = http::request(
        addr,
        "POST",
        "/items",
        &[("Content-Type", "application/json")],
        r#"{"name":"café","qty":2}"#,
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("POST /items on {image}: no answer: {e}"));
    out.push(("POST /items".into(), post.status, post.text()));
    (out, container.logs())
}

/// Whether every route answered as it should.
fn check_all(image: &str, answers: &[(String, u16, String)], logs: &str) {
    for ((route, status, body), (_, expected)) in answers.iter().zip(GETS) {
        assert!(
            *status == 200 && body.contains(expected),
            "GET {route} on {image}: {status} {body}\nlogs:\n{logs}"
        );
    }
    let (_, status, body) = answers.last().expect("the POST");
    assert_eq!(
        *status, 201,
        "POST /items on {image}: {body}\nlogs:\n{logs}"
    );
    let stored: Value = serde_json::from_str(body).expect("a JSON answer");
    assert_eq!(stored["stored"]["name"], "café", "{body}");
    assert_eq!(stored["sha256"].as_str().map(str::len), Some(64), "{body}");
}

/// The reasons the report gives for keeping `path`, or `None` when it was not kept.
fn kept_reasons(report: &Value, path: &str) -> Option<Vec<Value>> {
    report["keep"]["paths"]
        .as_array()
        .expect("kept paths")
        .iter()
        .find(|p| p["path"] == path)
        .map(|p| p["reasons"].as_array().expect("reasons").clone())
}

/// The standard library's CSV, which only `/table.csv` requires.
const CSV: &str = "/usr/lib/ruby/3.1.0/csv.rb";

/// The part of mustermann only `/expand` requires.
const EXPANDER: &str =
    "/usr/share/rubygems-integration/all/gems/mustermann-3.0.0/lib/mustermann/expander.rb";

fn build(label: &str, args: &[&str]) -> (SlimImage, Value) {
    build_fixture("sinatra", label, args)
}

#[test]
fn root_engine_sinatra_slim_image_answers_every_route_its_build_never_requested() {
    let original = image("sinatra");
    let (before, logs) = answers(&original);
    check_all(&original, &before, &logs);

    let (slim, report) = build("sinatra", &[]);
    let profiles: Vec<&Value> = report["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .map(|p| &p["name"])
        .collect();
    assert!(profiles.iter().any(|p| *p == "ruby"), "{profiles:?}");
    let reasons = kept_reasons(&report, CSV).expect("csv.rb is kept");
    assert!(
        reasons.iter().any(|r| r["reason"] == "profile"
            && r["profile"] == "ruby"
            && r["rule"] == "ruby feature required by /app/app.rb"),
        "kept as a feature the application requires: {reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r["reason"] == "traced"),
        "the build never requested /table.csv: {reasons:?}"
    );
    let reasons = kept_reasons(&report, EXPANDER).expect("mustermann's expander is kept");
    assert!(
        reasons.iter().any(|r| r["rule"]
            == "ruby gem /usr/share/rubygems-integration/all/gems/mustermann-3.0.0 used"),
        "kept as part of a used gem: {reasons:?}"
    );

    let (after, logs) = answers(&slim.tag);
    check_all(&slim.tag, &after, &logs);
}

#[test]
fn root_engine_sinatra_without_auto_profile_fails_the_lazy_routes() {
    let (slim, report) = build("sinatra-no-profile", &["--no-auto-profile"]);
    assert!(
        kept_reasons(&report, CSV).is_none(),
        "without the ruby profile nothing keeps {CSV}"
    );
    let (after, logs) = answers(&slim.tag);
    let status = |route: &str| {
        after
            .iter()
            .find(|(r, _, _)| r == route)
            .map(|(_, s, _)| *s)
            .expect("the route was asked")
    };
    assert_eq!(
        status("/"),
        200,
        "the crawled page still works\nlogs:\n{logs}"
    );
    assert_eq!(
        status("/table.csv"),
        500,
        "csv was never loaded in the build: {after:?}\nlogs:\n{logs}"
    );
    assert!(
        logs.contains("cannot load such file -- csv"),
        "the missing library is named\nlogs:\n{logs}"
    );
}
