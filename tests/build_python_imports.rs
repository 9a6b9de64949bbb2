//! `slim build` on a Python application whose pages import standard library modules only
//! inside their handler functions (the `python-lazy` fixture, a venv on Debian's python3):
//! `fractions` (pure Python), `decimal` (the C module `_decimal` with libmpdec), `sqlite3`
//! (`_sqlite3` with libsqlite3). The traced run only sends
//! `GET /` (`--no-crawl`), which imports none of them; they reach the slim image through
//! the python profile's import closure of the traced server file, extension modules with
//! their shared libraries. Built with `--no-import-closure`, the same pages fail. The
//! standard library bytes kept are compared with those traced: at most twice, but for the
//! codec modules (the `encodings` package, kept whole because codecs are looked up by
//! names computed at run time, and the C codec modules it imports).
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{
    BuildCommand, PYTHON_LAZY_PORT, ReportFile, SlimImage, TestContainer, builds_of_one_trace,
    image, kept_bytes_below, kept_differences,
};

/// The pages whose modules are imported lazily.
const LAZY_PAGES: &[&str] = &["/fraction", "/decimal", "/sqlite"];

/// Where Debian's python3 keeps its standard library.
const STDLIB: &str = "/usr/lib/python3.11/";

/// Every page of one container: path → (status, JSON answer).
fn answers(image: &str) -> BTreeMap<&'static str, (u16, Value)> {
    let container = TestContainer::start(image, &[], &[]);
    std::iter::once(&"/")
        .chain(LAZY_PAGES)
        .map(|path| {
            let answer = container.get(PYTHON_LAZY_PORT, path, Duration::from_secs(30));
            let json = serde_json::from_slice::<Value>(&answer.body).unwrap_or_else(|e| {
                panic!(
                    "GET {path} on {image}: {e}: {}\nlogs:\n{}",
                    answer.text(),
                    container.logs()
                )
            });
            (*path, (answer.status, json))
        })
        .collect()
}

/// The original image's answers, checked to be the real thing once.
fn original() -> &'static BTreeMap<&'static str, (u16, Value)> {
    static ANSWERS: OnceLock<BTreeMap<&'static str, (u16, Value)>> = OnceLock::new();
    ANSWERS.get_or_init(|| {
        let answers = answers(&image("python-lazy"));
        for (path, (status, json)) in &answers {
            assert_eq!(*status, 200, "GET {path} on the original image: {json}");
        }
        assert_eq!(answers["/fraction"].1["sum"], "1/2");
        assert_eq!(answers["/decimal"].1["c_module"], true);
        assert_eq!(answers["/sqlite"].1["sum"], 55);
        answers
    })
}

/// `slim build --no-crawl --report <temp> EXTRA python-lazy`: the image and its report.
fn build(label: &str, extra: &[&str]) -> (SlimImage, Value) {
    let report = ReportFile::new(label);
    let mut command = BuildCommand::new(&image("python-lazy"))
        .unique_tag(label)
        .flag("--no-crawl")
        .option("--report", &report.path().display().to_string());
    for flag in extra {
        command = command.flag(flag);
    }
    let slim = command.run().image();
    (slim, report.read())
}

/// Whether `path` is a codec module of the standard library: `encodings/…`, the C codecs.
fn is_codec(path: &str) -> bool {
    let Some(rest) = path.strip_prefix(STDLIB) else {
        return false;
    };
    rest.starts_with("encodings/")
        || rest.starts_with("lib-dynload/_codecs_")
        || rest.starts_with("lib-dynload/_multibytecodec")
}

/// Bytes of the standard library's files the report says were traced, and kept, the
/// codec modules left out of both.
fn stdlib_bytes(report: &Value) -> (u64, u64) {
    kept_bytes_below(report, STDLIB, |path| !is_codec(path))
}

#[test]
fn root_engine_python_imports_inside_handlers_reach_the_slim_image() {
    let expected = original();
    let (slim, report) = build("python-lazy", &[]);
    let got = answers(&slim.tag);
    for (path, answer) in expected {
        assert_eq!(&got[path], answer, "GET {path} on the slim image");
    }
    let (traced, kept) = stdlib_bytes(&report);
    println!(
        "standard library bytes ({STDLIB}, codecs aside): traced {traced}, kept {kept} \
         ({:.2}×); slim image {} bytes",
        kept as f64 / traced.max(1) as f64,
        report["image"]["size"]
    );
    assert!(
        kept <= 2 * traced,
        "the import closure should keep at most twice the standard library bytes traced \
         (codecs aside): traced {traced}, kept {kept}"
    );
    let reasons = report["keep"]["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["path"] == format!("{STDLIB}fractions.py"))
        .map(|p| p["reasons"].clone())
        .unwrap_or_default();
    assert!(
        reasons.as_array().into_iter().flatten().any(|r| {
            r["reason"] == "profile" && r["rule"] == "imported by /srv/lazy/server.py"
        }),
        "fractions.py should be kept as imported by the server: {reasons}"
    );
}

/// The report's work alongside the run, by name.
fn alongside(report: &Value) -> Vec<String> {
    report["alongside"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn root_engine_python_sources_scanned_during_the_run_give_the_image_scanned_after_it() {
    // Read in place, the sources the server loaded are scanned for their imports while it
    // runs; through the export, the index comes after the run and the closure reads them
    // all in the keep phase. The scan starts once the index is made: the server runs on
    // for a while after probing, so that it does on a slow machine too.
    let build = |label: &str, source: &str| {
        BuildCommand::new(&image("python-lazy"))
            .unique_tag(label)
            .flag("--no-crawl")
            .option("--continue-after", "timeout:8")
            .option("--image-source", source)
            .run()
    };
    let (during, after) = builds_of_one_trace(
        || build("python-lazy-during", "auto"),
        || build("python-lazy-after", "export"),
    );
    let (during_report, after_report) = (
        during.report.clone().expect("a report"),
        after.report.clone().expect("a report"),
    );
    let (during, after) = (during.image(), after.image());
    assert!(
        alongside(&during_report).contains(&"python scan".to_string()),
        "the sources should be scanned alongside the run: {}",
        during_report["alongside"]
    );
    assert!(!alongside(&after_report).contains(&"python scan".to_string()));
    assert_eq!(
        during.engine.id,
        after.engine.id,
        "scanning during the run changed the image; kept paths that differ (during | after):\n{}",
        kept_differences(&during_report, &after_report)
    );
}

#[test]
fn root_engine_python_no_import_closure_breaks_the_lazy_pages() {
    let expected = original();
    // The image is broken by design, and its own verification may notice: a connection
    // the readiness check closes early sends socketserver into its error handler, which
    // imports `traceback` lazily, and the server dies.
    let (slim, report) = build(
        "python-lazy-no-closure",
        &["--no-import-closure", "--allow-diff"],
    );
    let got = answers(&slim.tag);
    assert_eq!(got["/"], expected["/"], "GET / was traced and must work");
    for path in LAZY_PAGES {
        let (status, json) = &got[path];
        assert_eq!(
            *status, 500,
            "with --no-import-closure GET {path} should fail to import, yet it answers {json}"
        );
    }
    let (traced, kept) = stdlib_bytes(&report);
    println!(
        "--no-import-closure: standard library bytes traced {traced}, kept {kept}; slim image \
         {} bytes",
        report["image"]["size"]
    );
}
