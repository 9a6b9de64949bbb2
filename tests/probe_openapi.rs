//! `slim build` on a JSON API of every method that only its OpenAPI document describes
//! (the `python-openapi` fixture: a required number and an enum, a date, a nested JSON
//! body, a multipart upload, a DELETE, and a POST whose handler imports a standard-library
//! module, `plistlib`, whose name only the request body carries):
//!
//! - by default, slim sends a request generated from the document for every operation,
//!   reads first and DELETE last; each answers 2xx on the original, the lazily imported
//!   module reaches the slim image, and every operation called on the slim image answers
//!   as on the original;
//! - with `--openapi-methods GET` (the control) the POST operations are not sent: the
//!   module is not in the slim image and its route fails there.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`). Containers are reached by their bridge address.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{BuildCommand, OPENAPI_PORT, SlimImage, TestContainer, image};

const STARTUP: Duration = Duration::from_secs(30);

/// The module only `POST /reports` imports.
const LAZY_MODULE: &str = "/usr/lib/python3.11/plistlib.py";

/// Every operation of the fixture's document, in the order slim should send them: reads,
/// writes, deletes, each in the order of their paths.
const OPERATIONS: &[&str] = &[
    "GET /bookings",
    "GET /prices",
    "POST /orders",
    "POST /reports",
    "POST /uploads",
    "DELETE /orders/{orderId}",
];

/// A request a client of the API makes: (method, target, content type, body).
const CALLS: &[(&str, &str, &str, &str)] = &[
    ("GET", "/prices?amount=12.5&currency=EUR", "", ""),
    ("GET", "/bookings?day=2025-03-14", "", ""),
    (
        "POST",
        "/orders",
        "application/json",
        r#"{"customer": {"name": "Ada", "address": {"city": "Lyon", "zip": "69001"}},
            "lines": [{"sku": "pot", "quantity": 3}]}"#,
    ),
    (
        "POST",
        "/uploads",
        "multipart/form-data; boundary=XyZ",
        "--XyZ\r\nContent-Disposition: form-data; name=\"label\"\r\n\r\nnotes\r\n--XyZ\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n",
    ),
    (
        "POST",
        "/reports",
        "application/json",
        r#"{"title": "monthly", "serializer": "plistlib"}"#,
    ),
    ("DELETE", "/orders/1", "", ""),
];

/// `slim build OPTIONS python-openapi`: the image and the report.
fn build(label: &str, options: &[(&str, &str)]) -> (SlimImage, Value, String) {
    let mut command = BuildCommand::new(&image("python-openapi")).unique_tag(label);
    for (option, value) in options {
        command = command.option(option, value);
    }
    let outcome = command.run();
    outcome.assert_success();
    let report = outcome
        .report
        .clone()
        .unwrap_or_else(|| panic!("no report; stderr:\n{}", outcome.stderr));
    (outcome.image(), report, outcome.stderr)
}

/// Every call of [`CALLS`] on a fresh container of `image`: (status, body).
fn call_each(image: &str) -> Vec<(u16, String)> {
    let container = TestContainer::start(image, &[], &[]);
    // Waits until the server answers.
    container.get(OPENAPI_PORT, "/openapi.json", STARTUP);
    let addr = SocketAddr::new(container.address(), OPENAPI_PORT);
    CALLS
        .iter()
        .map(|(method, target, content_type, body)| {
            let headers: Vec<(&str, &str)> = if content_type.is_empty() {
                Vec::new()
            } else {
                vec![("Content-Type", *content_type)]
            };
            let answer = slim_test_kit::http::request(
                addr,
                method,
                target,
                &headers,
                body,
                Duration::from_secs(10),
            )
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {target} on {image}: {e}; logs:\n{}",
                    container.logs()
                )
            });
            (answer.status, answer.text())
        })
        .collect()
}

/// The original run's answers to the operations of the document, by operation.
fn operation_results(report: &Value) -> Vec<(String, u16)> {
    report["probes"]["results"]
        .as_array()
        .expect("probes.results is an array")
        .iter()
        .filter(|r| r["found_by"]["by"] == "open_api")
        .map(|r| {
            (
                r["found_by"]["operation"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                u16::try_from(r["answer"]["status"].as_u64().unwrap_or(0)).unwrap_or(0),
            )
        })
        .collect()
}

fn kept(report: &Value, path: &str) -> bool {
    report["keep"]["paths"]
        .as_array()
        .expect("keep.paths is an array")
        .iter()
        .any(|p| p["path"] == path)
}

#[test]
fn root_engine_openapi_every_operation_is_probed_and_works_on_the_slim_image() {
    let (slim, report, stderr) = build("python-openapi", &[]);
    let results = operation_results(&report);
    let sent: Vec<&str> = results.iter().map(|(op, _)| op.as_str()).collect();
    assert_eq!(
        sent, OPERATIONS,
        "operations sent, in order; stderr:\n{stderr}"
    );
    for (operation, status) in &results {
        assert!(
            (200..300).contains(status),
            "{operation} answered {status} on the original: {:#}",
            report["probes"]["results"]
        );
    }
    let post = report["probes"]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["found_by"]["operation"] == "POST /orders")
        .expect("POST /orders in the report");
    let body: Value = serde_json::from_str(post["body"].as_str().unwrap_or(""))
        .unwrap_or_else(|e| panic!("the generated body of POST /orders is JSON: {e}: {post:#}"));
    assert!(
        body["customer"]["address"]["city"].is_string() && body["lines"][0]["quantity"] == 1,
        "a nested body from the schema: {body:#}"
    );
    assert!(
        kept(&report, LAZY_MODULE),
        "{LAZY_MODULE}, imported only by POST /reports, should be in the slim image"
    );
    assert_eq!(report["verification"]["status"], "verified", "{stderr}");

    let expected = call_each(&image("python-openapi"));
    assert!(
        expected
            .iter()
            .all(|(status, _)| (200..300).contains(status)),
        "the original (fixture check): {expected:?}"
    );
    assert_eq!(
        call_each(&slim.tag),
        expected,
        "each operation on the slim image; build stderr:\n{stderr}"
    );
}

/// The control: only the GET operations probed.
#[test]
fn root_engine_openapi_only_get_leaves_out_what_only_a_post_imports() {
    let (slim, report, stderr) = build("python-openapi-get", &[("--openapi-methods", "GET")]);
    let sent: Vec<String> = operation_results(&report)
        .into_iter()
        .map(|(op, _)| op)
        .collect();
    assert_eq!(sent, ["GET /bookings", "GET /prices"], "{stderr}");
    let skipped: Vec<&str> = report["probes"]["skipped_operations"]
        .as_array()
        .expect("probes.skipped_operations is a list")
        .iter()
        .filter(|s| {
            s["reason"]
                .as_str()
                .is_some_and(|r| r.contains("--openapi-methods"))
        })
        .filter_map(|s| s["operation"].as_str())
        .collect();
    assert_eq!(
        skipped,
        [
            "POST /orders",
            "POST /reports",
            "POST /uploads",
            "DELETE /orders/{orderId}"
        ],
        "the report names the operations left out and why"
    );
    assert!(
        !kept(&report, LAZY_MODULE),
        "{LAZY_MODULE} should be missing when POST /reports was never sent"
    );
    let answers = call_each(&slim.tag);
    let (status, body) = &answers[4];
    assert!(
        *status == 500 && body.contains("plistlib"),
        "POST /reports should fail on the slim image without its module: {answers:?}"
    );
}
