//! The verify stage of `slim build`, on a Python http.server application made
//! for it (`python-verify`, no WORKDIR, so nothing of /app is kept by a keep-list):
//!
//! - a page that reads /app/data/second.txt only from its second request on: the crawl
//!   asks once, but the original answers every probe twice for verification, so the
//!   trace has the file; the two answers differ, and verification masks the body
//!   rather than calling it a difference; the slim image answers the second request;
//! - a page with a random element id, a nonce and the time in words verifies (what varies
//!   between the original's own answers is masked), and fails with exit code 6 when its
//!   template is left out;
//! - a page with a fresh CSRF-like token and the current time verifies as equal, and so
//!   does the page that reads /app/data/page.txt;
//! - a keep set broken on purpose (`--exclude` of that page's data file) fails the build
//!   with exit code 6, naming the probe and the path, which repair does not bring back,
//!   and labels the image `slim.verified=false`; `--allow-diff` accepts it (still
//!   labelled); the report and `slim explain` name the glob that left the file out;
//! - an image whose command `--exclude` left out cannot start: verification fails with
//!   exit code 6, naming the excluded paths the original's run used;
//! - the image verified is the one tagged and reported, and it is built from the
//!   original image, not from the traced container (which wrote files at start-up).
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`). Each test makes its own build, with its report in a temporary file.

use std::time::Duration;

use serde_json::Value;
use slim_fixtures::{
    BuildCommand, BuildOutcome, EngineImage, PYTHON_VERIFY_DATA, ReportFile, SlimImage,
    TestContainer, docker, docker_ok, image, image_entries, image_tags, inspect_config, slim_bin,
};

const PORT: u16 = 8080;
const STARTUP: Duration = Duration::from_secs(30);
const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// The bytes of the fixture's `/app/data/NAME`.
fn data(name: &str) -> &'static [u8] {
    PYTHON_VERIFY_DATA
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
        .unwrap_or_else(|| panic!("the fixture has no data file {name}"))
}

/// A finished build: its outcome, its report (read, and its file for `slim explain`),
/// and its image (removed when dropped) if the engine has the tag, whatever the exit code.
struct Built {
    outcome: BuildOutcome,
    report: Value,
    report_file: ReportFile,
    image: Option<SlimImage>,
}

/// `slim build --report <temp> OPTIONS python-verify` with a unique tag.
fn build(label: &str, options: &[&str]) -> Built {
    let report = ReportFile::new(label);
    let mut command = BuildCommand::new(&image("python-verify"))
        .unique_tag(label)
        .limit(BUILD_LIMIT)
        .option("--report", &report.path().display().to_string());
    for option in options {
        command = command.flag(option);
    }
    let tag = command.chosen_tag().expect("a unique tag").to_string();
    let outcome = command.run();
    // Guard the tag before any assertion, so a failing test still removes it.
    let image = image_tags().contains(&tag).then(|| SlimImage {
        engine: EngineImage::inspect(&tag),
        tag,
    });
    outcome.assert_nothing_left();
    Built {
        outcome,
        report: report.read(),
        report_file: report,
        image,
    }
}

impl Built {
    fn tag(&self) -> &str {
        &self
            .image
            .as_ref()
            .unwrap_or_else(|| {
                panic!(
                    "`{}` tagged no image; stderr:\n{}",
                    self.outcome.command, self.outcome.stderr
                )
            })
            .tag
    }

    fn assert_exit(&self, code: i32) -> &Self {
        assert_eq!(
            self.outcome.code,
            Some(code),
            "`{}`; stderr:\n{}",
            self.outcome.command,
            self.outcome.stderr
        );
        self
    }

    fn verification(&self) -> &Value {
        &self.report["verification"]
    }

    /// The report's kept path `path` with its reasons.
    fn kept(&self, path: &str) -> Option<&Value> {
        self.report["keep"]["paths"]
            .as_array()
            .expect("keep.paths is an array")
            .iter()
            .find(|p| p["path"] == path)
    }

    /// The original run's results for `METHOD path`.
    fn results(&self, method: &str, path: &str) -> Vec<&Value> {
        self.report["probes"]["results"]
            .as_array()
            .expect("probes.results is an array")
            .iter()
            .filter(|r| r["method"] == method && r["path"] == path)
            .collect()
    }

    /// `.Config.Labels["slim.verified"]` of the tagged image.
    fn verified_label(&self) -> Option<String> {
        inspect_config(self.tag())["Labels"]["slim.verified"]
            .as_str()
            .map(str::to_string)
    }
}

/// `GET path` on a fresh container of `image`, `times` times in a row: the bodies.
fn get_repeatedly(image: &str, path: &str, times: usize) -> Vec<(u16, String)> {
    let container = TestContainer::start(image, &[], &[]);
    (0..times)
        .map(|_| {
            let answer = container.get(PORT, path, STARTUP);
            (answer.status, answer.text())
        })
        .collect()
}

#[test]
fn root_engine_verify_a_file_only_a_second_request_reads_is_traced_by_the_originals_second_answer()
{
    let built = build("verify-second", &[]);
    built.assert_exit(0);

    // The crawl asked for /counter exactly once, and got the first answer.
    let plan: Vec<&Value> = built.report["probes"]["plan"]["http"]
        .as_array()
        .expect("probes.plan.http is an array")
        .iter()
        .filter(|p| p["method"] == "GET" && p["path"] == "/counter")
        .collect();
    assert_eq!(
        plan.len(),
        1,
        "the executed plan should request /counter once: {:#}",
        built.report["probes"]["plan"]
    );
    let counter = built.results("GET", "/counter");
    assert_eq!(
        counter.len(),
        1,
        "probe results: {:#}",
        built.report["probes"]
    );
    assert_eq!(
        counter[0]["answer"]["body_text"], "first\n",
        "the traced run's first /counter request should get the first answer: {:#}",
        counter[0]
    );

    // The original answered every probe twice for verification: its second answer read
    // the file while traced, so nothing is left to repair.
    let reasons = &built.kept("/app/data/second.txt").unwrap_or_else(|| {
        panic!(
            "/app/data/second.txt is not in the report's keep paths; verification: {:#}\n\
                 stderr:\n{}",
            built.verification(),
            built.outcome.stderr
        )
    })["reasons"];
    assert!(
        reasons
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["reason"] == "traced")),
        "the file should be kept as traced: {reasons:#}"
    );
    let verification = built.verification();
    assert_eq!(
        (
            &verification["status"],
            &verification["rounds"],
            &verification["repaired"],
            &verification["differences"],
            &verification["missed"],
        ),
        (
            &Value::from("verified"),
            &Value::from(1),
            &serde_json::json!([]),
            &serde_json::json!([]),
            &serde_json::json!([]),
        ),
        "{verification:#}"
    );
    // Its two answers differ: the body is masked, the status still compared.
    let stability = verification["stability"]
        .as_array()
        .expect("verification.stability is an array");
    assert!(
        stability
            .iter()
            .any(|s| s["probe"] == "GET :8080/counter" && s["answers"] == "masked"),
        "{verification:#}"
    );

    // The slim image answers the second request with the file, as the original does.
    let second = String::from_utf8_lossy(data("second.txt")).into_owned();
    let expected = vec![(200, "first\n".to_string()), (200, second)];
    assert_eq!(
        get_repeatedly(&image("python-verify"), "/counter", 2),
        expected,
        "the original image (fixture check)"
    );
    assert_eq!(
        get_repeatedly(built.tag(), "/counter", 2),
        expected,
        "GET /counter twice on the slim image"
    );
}

/// A page with a random element id, a script nonce and the time in words, fresh on every
/// render: digit and token normalising alone cannot tell two renders apart, the
/// original's own two answers show where they vary. With its template left out
/// (`--exclude`, the control) the page is still a difference.
#[test]
fn root_engine_verify_a_page_with_a_random_id_a_nonce_and_a_time_is_verified() {
    let built = build("verify-render", &["--no-crawl", "--probe", "GET /render"]);
    built.assert_exit(0);
    let verification = built.verification();
    assert_eq!(verification["status"], "verified", "{verification:#}");
    assert_eq!(verification["differences"], serde_json::json!([]));
    let render = verification["stability"]
        .as_array()
        .expect("verification.stability is an array")
        .iter()
        .find(|s| s["probe"] == "GET :8080/render")
        .unwrap_or_else(|| panic!("no stability for GET :8080/render: {verification:#}"));
    assert_eq!(render["answers"], "masked", "{render:#}");
    let masked = render["masked"].as_array().map_or(0, Vec::len);
    assert!(
        masked >= 3,
        "the id (twice) and the nonce are masked: {render:#}"
    );
    assert_ne!(
        built.verified_label().as_deref(),
        Some("false"),
        "a verified image is not labelled unverified"
    );
    let slim = get_repeatedly(built.tag(), "/render", 2);
    assert!(
        slim.iter().all(|(status, _)| *status == 200) && slim[0].1 != slim[1].1,
        "the slim image renders the page, differently each time: {slim:?}"
    );

    let failed = build(
        "verify-render-excluded",
        &[
            "--no-crawl",
            "--probe",
            "GET /render",
            "--exclude",
            "/app/data/render.html",
        ],
    );
    failed.assert_exit(6);
    let verification = failed.verification();
    assert!(
        verification["differences"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["probe"] == "GET :8080/render"
                && d["slim"].as_str().is_some_and(|s| s.starts_with("500 ")))),
        "the page without its template is a difference: {verification:#}"
    );
    assert_eq!(failed.verified_label().as_deref(), Some("false"));
}

/// Also the control of the `--exclude` test below: the same probe of /page, without
/// `--exclude`, verifies.
#[test]
fn root_engine_verify_pages_with_tokens_and_times_compare_equal() {
    let built = build(
        "verify-dynamic",
        &[
            "--no-crawl",
            "--probe",
            "GET /dynamic",
            "--probe",
            "GET /page",
        ],
    );
    built.assert_exit(0);
    let page = built.results("GET", "/page");
    assert!(
        page.len() == 1 && page[0]["answer"]["status"] == 200,
        "GET /page on the original: {:#}",
        built.report["probes"]
    );
    assert!(
        built
            .kept("/app/data/page.txt")
            .is_some_and(|kept| kept["reasons"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["reason"] == "traced"))),
        "without --exclude, the traced page.txt is kept"
    );
    let verification = built.verification();
    assert_eq!(
        (
            &verification["status"],
            &verification["rounds"],
            &verification["differences"],
            &verification["missed"],
            &verification["repaired"],
        ),
        (
            &Value::from("verified"),
            &Value::from(1),
            &serde_json::json!([]),
            &serde_json::json!([]),
            &serde_json::json!([]),
        ),
        "a page whose token and time change on every request should verify as equal: \
         {verification:#}\nstderr:\n{}",
        built.outcome.stderr
    );

    // The comparison had something to normalise: the page really changes per request.
    let traced = built.results("GET", "/dynamic");
    assert_eq!(traced.len(), 1, "{:#}", built.report["probes"]);
    let original = traced[0]["answer"]["body_text"]
        .as_str()
        .unwrap_or_else(|| panic!("no body text for /dynamic: {:#}", traced[0]));
    assert!(
        original.contains("csrfmiddlewaretoken"),
        "the traced run should have got the dynamic page: {original}"
    );
    let slim = get_repeatedly(built.tag(), "/dynamic", 2);
    assert!(
        slim.iter().all(|(status, _)| *status == 200),
        "GET /dynamic on the slim image: {slim:?}"
    );
    assert!(
        slim[0].1 != original && slim[1].1 != slim[0].1,
        "the page should differ from request to request (token, time): {slim:?}"
    );
}

/// The same build without `--exclude` verifies: see the test of pages with tokens above.
#[test]
fn root_engine_verify_a_dropped_data_file_fails_the_build_with_exit_6() {
    let options = [
        "--no-crawl",
        "--probe",
        "GET /page",
        "--exclude",
        "/app/data/page.txt",
    ];
    let failed = build("verify-drop", &options);
    failed.assert_exit(6);
    let stderr = &failed.outcome.stderr;
    assert!(
        failed
            .outcome
            .error_lines()
            .iter()
            .any(|l| l.contains("does not behave like the original")),
        "one error line should say verification failed:\n{stderr}"
    );
    for needle in ["GET :8080/page", "/app/data/page.txt"] {
        assert!(
            stderr.contains(needle),
            "stderr should name {needle}:\n{stderr}"
        );
    }
    let verification = failed.verification();
    assert_eq!(verification["status"], "failed", "{verification:#}");
    let differences = verification["differences"]
        .as_array()
        .expect("verification.differences is an array");
    assert!(
        differences.iter().any(|d| d["probe"] == "GET :8080/page"
            && d["original"]
                .as_str()
                .is_some_and(|o| o.starts_with("200 "))
            && d["slim"].as_str().is_some_and(|s| s.starts_with("500 "))),
        "differences should name GET :8080/page (200 on the original, 500 on the slim \
         image): {verification:#}"
    );
    let missed = verification["missed"]
        .as_array()
        .expect("verification.missed is an array");
    assert!(
        missed
            .iter()
            .any(|m| m["path"] == "/app/data/page.txt" && m["excluded_by"] == "/app/data/page.txt"),
        "missed should name /app/data/page.txt and the glob that left it out: \
         {verification:#}"
    );
    assert!(
        failed.kept("/app/data/page.txt").is_none(),
        "repair must not bring back an --exclude path"
    );
    assert_eq!(
        verification["repaired"],
        serde_json::json!([]),
        "nothing else is missing, and an excluded path is not repaired"
    );
    let excluded = &failed.report["excluded"];
    assert!(
        excluded[0]["pattern"] == "/app/data/page.txt"
            && excluded[0]["paths"][0]["path"] == "/app/data/page.txt"
            && excluded[0]["paths"][0]["reasons"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["reason"] == "traced")),
        "the report should name the glob, the path and why it would be kept: {excluded:#}"
    );
    let explained = std::process::Command::new(slim_bin())
        .args(["explain", "/app/data/page.txt", "--report"])
        .arg(failed.report_file.path())
        .output()
        .expect("running slim explain");
    let answer = String::from_utf8_lossy(&explained.stdout);
    assert!(
        explained.status.success()
            && answer.contains("REMOVED")
            && answer.contains("excluded by --exclude /app/data/page.txt"),
        "slim explain should name the glob:\n{answer}{}",
        String::from_utf8_lossy(&explained.stderr)
    );
    assert_eq!(
        failed.verified_label().as_deref(),
        Some("false"),
        "the failed image must be tagged and labelled slim.verified=false"
    );
    assert_eq!(
        failed.report["image"]["id"].as_str(),
        Some(EngineImage::inspect(failed.tag()).id.as_str()),
        "the report's image.id should be the relabelled image that was tagged"
    );

    let mut allowed_options = options.to_vec();
    allowed_options.push("--allow-diff");
    let allowed = build("verify-drop-allowed", &allowed_options);
    allowed.assert_exit(0);
    assert_eq!(
        allowed.verification()["status"],
        "failed",
        "{:#}",
        allowed.verification()
    );
    assert_eq!(
        allowed.verified_label().as_deref(),
        Some("false"),
        "--allow-diff accepts the image but must still label it slim.verified=false"
    );
}

#[test]
fn root_engine_verify_an_image_whose_command_is_excluded_fails_with_exit_6() {
    let failed = build(
        "verify-no-start",
        &["--no-crawl", "--exclude", "/usr/bin/python3*"],
    );
    failed.assert_exit(6);
    let verification = failed.verification();
    assert!(
        verification["status"] == "failed"
            && verification["differences"]
                .as_array()
                .is_some_and(|d| d.iter().any(|d| d["probe"] == "container start"
                    && d["slim"]
                        .as_str()
                        .is_some_and(|s| s.starts_with("could not start")))),
        "a slim image that cannot start is a failed verification: {verification:#}"
    );
    let stderr = &failed.outcome.stderr;
    assert!(
        stderr.contains("--exclude left out paths the original's run used: ")
            && stderr.contains("/usr/bin/python3"),
        "the warning should name the excluded paths the original used:\n{stderr}"
    );
    assert_eq!(
        failed.verified_label().as_deref(),
        Some("false"),
        "the image must be tagged and labelled slim.verified=false"
    );
}

#[test]
fn root_engine_verify_the_tagged_image_is_the_verified_one_built_from_the_original() {
    let original = image("python-verify");
    let built = build("verify-identity", &[]);
    built.assert_exit(0);
    let tag = built.tag();
    let verification = built.verification();
    assert_eq!(verification["status"], "verified", "{verification:#}");
    // One round: the original's second answers traced what only a second request reads,
    // so nothing is repaired. That a rebuilt image is the one tagged and reported is
    // checked on the relabelled image of the `--exclude` test.
    assert_eq!(verification["rounds"], 1, "{verification:#}");

    let tagged_id = docker_ok(["image", "inspect", tag, "--format", "{{.Id}}"]);
    assert_eq!(
        built.report["image"]["id"].as_str(),
        Some(tagged_id.trim()),
        "the report's image.id should be the id of the tagged image"
    );
    assert_eq!(built.report["image"]["tag"], tag);
    let original_id = EngineImage::inspect(&original).id;
    assert_eq!(
        (
            built.report["source"]["id"].as_str(),
            built.report["source"]["reference"].as_str()
        ),
        (Some(original_id.as_str()), Some(original.as_str())),
        "the report's source should be the original image"
    );

    // The application changes its filesystem at start-up (fixture check on the original).
    let container = TestContainer::start(&original, &[], &[]);
    assert_eq!(container.get(PORT, "/", STARTUP).status, 200);
    let created = docker([
        "exec",
        &container.name,
        "test",
        "-e",
        "/app/runtime-created.txt",
    ]);
    assert!(
        created.status.success(),
        "a running container of the original should have /app/runtime-created.txt"
    );
    let state = docker_ok(["exec", &container.name, "cat", "/app/data/state.txt"]);
    assert_ne!(
        state.as_bytes(),
        data("state.txt"),
        "state.txt is rewritten"
    );
    drop(container);

    // The slim image has none of the traced container's changes.
    let entries = image_entries(tag);
    let entry = |path: &str| entries.iter().find(|e| e.path == path);
    assert!(
        entry("/app/server.py").is_some(),
        "the slim image should hold /app/server.py"
    );
    assert!(
        entry("/app/runtime-created.txt").is_none(),
        "/app/runtime-created.txt was written by the traced container: the slim image \
         must not have it"
    );
    let state = entry("/app/data/state.txt").unwrap_or_else(|| {
        panic!("/app/data/state.txt (traced when rewritten) should be kept as shipped")
    });
    assert_eq!(
        state.size,
        data("state.txt").len() as u64,
        "/app/data/state.txt should have the original image's content, not the traced \
         container's"
    );
}
