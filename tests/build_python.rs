//! `slim build` on a Python application whose pages need files its traced run never
//! touches: the CA store (`/tls` loads every certificate OpenSSL's default CA directory
//! names) and the time zone database (`/time` renders Europe/Paris). The traced run only
//! sends `GET /`, so those files reach the slim image through the default keep-lists, and
//! switching one list off (`--no-keep certs`, `--no-keep zoneinfo`) breaks exactly the
//! page that needs it. The standard library is kept by reachability: at most twice the
//! bytes of it the run traced, the codec modules kept whole included.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{BuildCommand, ReportFile, SlimImage, TestContainer, image, kept_bytes_below};

const PORT: u16 = 8000;

/// Where Debian's python3 keeps its standard library.
const STDLIB: &str = "/usr/lib/python3.11/";

/// The answers of one container: home, tls and time pages, as JSON.
#[derive(Debug, Clone, PartialEq)]
struct Answers {
    home: Value,
    tls: Value,
    time: Value,
}

fn answers(image: &str) -> Answers {
    let container = TestContainer::start(image, &[], &[]);
    let page = |path: &str| {
        let answer = container.get(PORT, path, Duration::from_secs(30));
        assert_eq!(
            answer.status,
            200,
            "GET {path} on {image}: {}\nlogs:\n{}",
            answer.text(),
            container.logs()
        );
        serde_json::from_slice::<Value>(&answer.body)
            .unwrap_or_else(|e| panic!("GET {path} on {image}: {e}: {}", answer.text()))
    };
    Answers {
        home: page("/"),
        tls: page("/tls"),
        time: page("/time"),
    }
}

/// The original image's answers, checked to be the real thing once.
fn original() -> &'static Answers {
    static ANSWERS: OnceLock<Answers> = OnceLock::new();
    ANSWERS.get_or_init(|| {
        let answers = answers(&image("python-app"));
        let certs = answers.tls["ca_certs"].as_u64().unwrap_or_default();
        assert!(
            certs > 100 && answers.tls["unreadable"] == 0,
            "the original image should load Debian's CA store: {}",
            answers.tls
        );
        assert_eq!(
            answers.time["summer"], "2024-07-15T14:00:00+02:00",
            "the original image should know Paris summer time: {}",
            answers.time
        );
        answers
    })
}

fn build(label: &str, no_keep: Option<&str>) -> SlimImage {
    build_with_report(label, no_keep).0
}

/// The build and its report.
fn build_with_report(label: &str, no_keep: Option<&str>) -> (SlimImage, Value) {
    let report = ReportFile::new(label);
    let mut command = BuildCommand::new(&image("python-app"))
        .unique_tag(label)
        .option("--report", &report.path().display().to_string());
    if let Some(list) = no_keep {
        command = command.option("--no-keep", list);
    }
    (command.run().image(), report.read())
}

#[test]
fn root_engine_python_slim_image_keeps_the_ca_store_and_zoneinfo_it_never_touched() {
    let expected = original();
    let (slim, report) = build_with_report("python", None);
    let got = answers(&slim.tag);
    assert_eq!(got.home, expected.home, "GET / on the slim image");
    assert_eq!(
        got.tls, expected.tls,
        "GET /tls: the slim image lacks CA certificates"
    );
    assert_eq!(
        got.time, expected.time,
        "GET /time: the slim image lacks the zoneinfo database"
    );
    // The standard library by reachability, codec modules (kept whole) included.
    let (traced, kept) = kept_bytes_below(&report, STDLIB, |_| true);
    println!("standard library bytes ({STDLIB}): traced {traced}, kept {kept}");
    assert!(
        kept <= 2 * traced,
        "at most twice the standard library bytes traced should be kept: traced {traced}, \
         kept {kept}"
    );
}

#[test]
fn root_engine_python_no_keep_certs_breaks_only_the_tls_page() {
    let expected = original();
    let slim = build("python-no-certs", Some("certs"));
    let got = answers(&slim.tag);
    assert_eq!(got.home, expected.home, "GET / on the slim image");
    assert_eq!(
        got.time, expected.time,
        "GET /time must not need the CA store"
    );
    assert!(
        got.tls.get("error").is_some() || got.tls["ca_certs"] == 0,
        "with --no-keep certs the CA store should be gone, yet GET /tls says {}",
        got.tls
    );
    assert!(
        got.tls.get("unreadable").is_none_or(|n| *n == 0),
        "the TLS code itself should still work: {}",
        got.tls
    );
}

#[test]
fn root_engine_python_no_keep_zoneinfo_breaks_only_the_time_page() {
    let expected = original();
    let slim = build("python-no-zoneinfo", Some("zoneinfo"));
    let got = answers(&slim.tag);
    assert_eq!(got.home, expected.home, "GET / on the slim image");
    assert_eq!(got.tls, expected.tls, "GET /tls must not need zoneinfo");
    assert_eq!(
        got.time["error"], "ZoneInfoNotFoundError",
        "with --no-keep zoneinfo Europe/Paris should be unknown, yet GET /time says {}",
        got.time
    );
}
