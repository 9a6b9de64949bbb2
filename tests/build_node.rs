//! `slim build` on an Express application that uses Debian's Node packages, which live in
//! `/usr/share/nodejs` rather than in a `node_modules`. The traced run only sends GETs;
//! the first JSON POST makes body-parser load parts of its dependencies (iconv-lite's
//! encodings) that no GET touches. The `node` profile keeps every used package whole and
//! follows the literal `require`s of what it keeps, so the slim image answers the POST;
//! built with `--no-auto-profile`, it answers 500.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{EXPRESS_PORT, HttpAnswer, SlimImage, TestContainer, build_fixture, image};
use slim_test_kit::http;

/// How long the server may take to answer its first request.
const START: Duration = Duration::from_secs(60);

/// `slim build` of the `express` fixture with `args`: the new image and the build's report.
fn build(label: &str, args: &[&str]) -> (SlimImage, Value) {
    build_fixture("express", label, args)
}

/// A JSON note POSTed to a fresh container of `image`, once its server answers GET /.
fn post_note(image: &str) -> (HttpAnswer, String) {
    let container = TestContainer::start(image, &[], &[]);
    let home = container.get(EXPRESS_PORT, "/", START);
    assert_eq!(home.status, 200, "GET / on {image}: {}", home.text());
    let addr = SocketAddr::new(container.address(), EXPRESS_PORT);
    let answer = http::request(
        addr,
        "POST",
        "/notes",
        &[("Content-Type", "application/json")],
        r#"{"text":"café"}"#,
        Duration::from_secs(20),
    )
    .unwrap_or_else(|e| panic!("POST /notes on {image}: no answer: {e}"));
    (answer, container.logs())
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

/// The module iconv-lite requires lazily (`require("../encodings")` in `getCodec`) on
/// the first body it decodes.
const ENCODINGS: &str = "/usr/share/nodejs/iconv-lite/encodings/index.js";

#[test]
fn root_engine_express_slim_image_answers_the_json_post_its_build_never_sent() {
    let (original, _) = post_note(&image("express"));
    assert_eq!(original.status, 201, "the original: {}", original.text());

    let (slim, report) = build("express", &[]);
    let methods: Vec<&Value> = report["probes"]["plan"]["http"]
        .as_array()
        .expect("planned requests")
        .iter()
        .map(|r| &r["method"])
        .collect();
    assert!(
        methods.iter().all(|m| *m == "GET" || *m == "HEAD"),
        "the build only reads: {methods:?}"
    );
    let reasons = kept_reasons(&report, ENCODINGS).expect("iconv-lite's encodings are kept");
    assert!(
        reasons.iter().any(|r| r["reason"] == "profile"
            && r["profile"] == "node"
            && r["rule"] == "node package /usr/share/nodejs/iconv-lite used"),
        "kept by the node profile as part of a used package: {reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r["reason"] == "traced"),
        "the build never decoded a body: {reasons:?}"
    );

    let (answer, logs) = post_note(&slim.tag);
    assert_eq!(
        answer.status,
        201,
        "POST /notes on the slim image: {}\nlogs:\n{logs}",
        answer.text()
    );
    let body: Value = serde_json::from_slice(&answer.body).expect("a JSON answer");
    assert_eq!(body["stored"]["text"], "café", "{body}");
}

#[test]
fn root_engine_express_without_auto_profile_fails_the_json_post() {
    let (slim, report) = build("express-no-profile", &["--no-auto-profile"]);
    assert!(
        kept_reasons(&report, ENCODINGS).is_none(),
        "without the node profile nothing keeps {ENCODINGS}"
    );
    let (answer, logs) = post_note(&slim.tag);
    // body-parser turns the missing module into an error page.
    assert!(
        answer.status >= 400
            && answer
                .text()
                .contains("Cannot find module &#39;../encodings&#39;"),
        "POST /notes should fail for the missing encodings: {} {}\nlogs:\n{logs}",
        answer.status,
        answer.text()
    );
}
