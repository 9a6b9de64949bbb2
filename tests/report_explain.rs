//! The report of a real `slim build` and `slim explain` reading it: one build of the Python
//! application (`python-app`: `python3 /app/server.py`, WORKDIR /app), whose report must
//! match the schema (as every build of the suite does, see `tests/support/report.rs`), then
//! `slim explain` on paths whose story is known from the image: the application file
//! python opened, the interpreter reached through the `/usr/bin/python3` symlink, the C
//! library the interpreter needs, a standard-library module only the python profile's
//! import closure keeps (`shutil`, which `http.server` loads, imports `tarfile` inside a
//! function), a time zone only the zoneinfo keep-list keeps, and a program nothing used. Bad input
//! (a path the image lacks, a missing or malformed report) is an `error:` with a `hint:`.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (`root_engine_…`).

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use slim_fixtures::{BuildCommand, ReportFile, image, slim_bin};

/// What `slim explain PATH --report REPORT` did.
struct Answer {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn explain(report: &Path, path: &str) -> Answer {
    let out = Command::new(slim_bin())
        .args(["explain", path, "--report"])
        .arg(report)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running slim explain: {e}"));
    Answer {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Answer {
    /// The stdout of a successful answer.
    fn kept_or_removed(&self, path: &str) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "slim explain {path} failed:\n{}",
            self.stderr
        );
        &self.stdout
    }

    /// The stderr of an answer that failed with exit code 2, an `error:` and a `hint:`.
    fn bad_input(&self, what: &str) -> &str {
        assert_eq!(
            self.code,
            Some(2),
            "slim explain on {what} should exit 2; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.starts_with("error: ") && self.stderr.contains("\nhint: "),
            "slim explain on {what}: an error line and a hint expected:\n{}",
            self.stderr
        );
        assert!(self.stdout.is_empty(), "{}", self.stdout);
        &self.stderr
    }
}

fn assert_has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} expected in:\n{text}");
}

/// The report's entry for `path`.
fn kept<'a>(report: &'a Value, path: &str) -> Option<&'a Value> {
    report["keep"]["paths"]
        .as_array()?
        .iter()
        .find(|k| k["path"] == path)
}

#[test]
fn root_engine_explain_answers_from_a_real_build_report() {
    let report_file = ReportFile::new("explain");
    let outcome = BuildCommand::new(&image("python-app"))
        .unique_tag("explain")
        .option("--report", &report_file.path().display().to_string())
        .run();
    let slim = outcome.image();
    let report = outcome
        .report
        .as_ref()
        .expect("the build wrote its report (checked against the schema)");
    let tag = &slim.tag;
    let stderr = &outcome.stderr;

    // The summary: sizes, factor, files, verdict, the largest directories, the report.
    assert_has(stderr, "slim: size: ");
    assert_has(stderr, " smaller)");
    assert_has(stderr, "slim: kept ");
    assert_has(stderr, "slim: verified: ");
    assert_has(stderr, "slim: largest directories kept (their own files):");
    assert_has(stderr, "slim: largest directories removed:");
    assert_has(
        stderr,
        &format!("slim: report: {}", report_file.path().display()),
    );
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["image"]["tag"], tag.as_str());
    assert!(report["removed"]["paths"].as_u64().unwrap_or_default() > 100);

    // A traced file: python opened the application.
    let answer = explain(report_file.path(), "/app/server.py");
    let text = answer.kept_or_removed("/app/server.py");
    assert_has(text, &format!("/app/server.py: KEPT in {tag} (file, "));
    assert_has(text, "- traced: opened by python3 (pid ");
    assert_has(text, "- keep-list workdir");

    // A symlink and its target: CMD `python3` runs /usr/bin/python3 -> python3.11.
    let answer = explain(report_file.path(), "/usr/bin/python3");
    let text = answer.kept_or_removed("/usr/bin/python3");
    assert_has(text, "/usr/bin/python3: KEPT");
    assert_has(text, "(symlink)");
    assert_has(text, "symlink to python3.11 (/usr/bin/python3.11)");
    let answer = explain(report_file.path(), "/usr/bin/python3.11");
    let text = answer.kept_or_removed("/usr/bin/python3.11");
    assert_has(text, "/usr/bin/python3.11: KEPT");
    assert_has(text, "- traced: executed by ");
    assert_has(text, "symlinks to it: /usr/bin/python3 -> python3.11");

    // An ELF dependency: the interpreter needs the C library, whose real name is reached
    // through the libc.so.6 name and, in this merged-/usr image, /lib -> usr/lib.
    let answer = explain(report_file.path(), "/lib/x86_64-linux-gnu/libc.so.6");
    let text = answer.kept_or_removed("libc.so.6");
    assert_has(
        text,
        "/lib/x86_64-linux-gnu/libc.so.6 resolves to /usr/lib/x86_64-linux-gnu/libc.so.6",
    );
    assert_has(
        text,
        "- ELF dependency: a library (DT_NEEDED) of /usr/bin/python3.11",
    );

    // A file only the python profile keeps: a standard-library module that a loaded module
    // imports inside a function the run never called.
    let module = "/usr/lib/python3.11/tarfile.py";
    let entry = kept(report, module).unwrap_or_else(|| panic!("{module} kept"));
    assert!(
        entry["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["reason"] == "profile"),
        "{module} should be kept by the profile alone: {entry}"
    );
    let answer = explain(report_file.path(), module);
    let text = answer.kept_or_removed(module);
    assert_has(text, &format!("{module}: KEPT"));
    assert_has(
        text,
        "- profile python, rule imported by /usr/lib/python3.11/shutil.py",
    );
    assert_has(text, "(applied: ");

    // A file only a keep-list keeps: a time zone the application never reads.
    let zone = "/usr/share/zoneinfo/Asia/Tokyo";
    let answer = explain(report_file.path(), zone);
    let text = answer.kept_or_removed(zone);
    assert_has(text, &format!("{zone}: KEPT"));
    assert_has(text, "- keep-list zoneinfo");
    assert!(!text.contains("traced:"), "{text}");

    // A removed file: apt-get is in the image, nothing ran it.
    let removed = "/usr/bin/apt-get";
    assert!(kept(report, removed).is_none());
    let answer = explain(report_file.path(), removed);
    let text = answer.kept_or_removed(removed);
    assert_has(
        text,
        &format!(
            "{removed}: REMOVED from {tag} (it is in {})",
            image("python-app")
        ),
    );
    assert_has(text, "no traced process");
    assert_has(text, "/usr/bin is kept; ");
    assert_has(text, "nearest traced paths:\n  - /usr/bin/");

    // A path the image does not have.
    let answer = explain(report_file.path(), "/usr/bin/no-such-program");
    let err = answer.bad_input("a path not in the image");
    assert_has(err, "/usr/bin/no-such-program is not in ");

    // No report, and a file that is not a report.
    let missing = ReportFile::new("explain-missing");
    let answer = explain(missing.path(), "/app/server.py");
    let err = answer.bad_input("a missing report");
    assert_has(err, "cannot read the report ");
    let malformed = ReportFile::new("explain-malformed");
    std::fs::write(malformed.path(), "{\"tool\": {}}").unwrap();
    let answer = explain(malformed.path(), "/app/server.py");
    let err = answer.bad_input("a malformed report");
    assert_has(err, "is not a slim build report");
}
