//! Checks `slim.report.json` against the JSON Schema kept beside slim's source
//! (`slim-cli/schema/report.schema.json`): every build the tests run validates its report
//! here (see [`crate::BuildCommand::run`]), so the report and its schema cannot drift apart.
//! The report is read with `slim_test_kit::read_report`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use slim_test_kit::read_report;

/// The report's JSON Schema, as the repository holds it.
pub const REPORT_SCHEMA: &str = include_str!("../../slim-cli/schema/report.schema.json");

/// The schema compiled (draft 2020-12); panics if it is not a valid schema.
pub fn report_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(REPORT_SCHEMA)
        .unwrap_or_else(|e| panic!("report.schema.json is not JSON: {e}"));
    jsonschema::draft202012::meta::validate(&schema)
        .unwrap_or_else(|e| panic!("report.schema.json is not a valid 2020-12 schema: {e}"));
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("report.schema.json does not compile: {e}"))
}

/// Every way `report` breaks the schema, one line each (empty when it is valid).
pub fn report_violations(report: &Value) -> Vec<String> {
    report_validator()
        .iter_errors(report)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}

/// Reads the report at `path` and panics, naming every violation, unless it is valid.
pub fn read_valid_report(path: &Path) -> Value {
    let report = read_report(path);
    let violations = report_violations(&report);
    assert!(
        violations.is_empty(),
        "the report {} does not match slim-cli/schema/report.schema.json:\n{}",
        path.display(),
        violations.join("\n")
    );
    report
}

/// Bytes of the files below `dir` (`/usr/lib/python3.11/`) that `report` says were
/// traced, and kept, counting only the paths `counted` accepts.
pub fn kept_bytes_below(report: &Value, dir: &str, counted: impl Fn(&str) -> bool) -> (u64, u64) {
    let mut traced = 0;
    let mut kept = 0;
    for path in report["keep"]["paths"].as_array().into_iter().flatten() {
        if !path["path"]
            .as_str()
            .is_some_and(|p| p.starts_with(dir) && counted(p))
        {
            continue;
        }
        let size = path["size"].as_u64().unwrap_or_default();
        kept += size;
        let was_traced = path["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["reason"] == "traced");
        if was_traced {
            traced += size;
        }
    }
    (traced, kept)
}

/// The kept paths of two builds' reports that differ, with their reasons (process ids
/// aside), one per line: what to look at when two builds that should give the same image
/// do not.
pub fn kept_differences(a: &Value, b: &Value) -> String {
    let kept = |report: &Value| -> BTreeMap<String, String> {
        report["keep"]["paths"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let mut reasons = p["reasons"].clone();
                for reason in reasons.as_array_mut().into_iter().flatten() {
                    if let Some(reason) = reason.as_object_mut() {
                        reason.remove("pid");
                    }
                }
                (
                    p["path"].as_str().unwrap_or_default().to_string(),
                    reasons.to_string(),
                )
            })
            .collect()
    };
    let (a, b) = (kept(a), kept(b));
    a.keys()
        .chain(b.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|path| a.get(*path) != b.get(*path))
        .map(|path| format!("{path}: {:?} | {:?}", a.get(path), b.get(path)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What a build's traced runs saw, from its report: each path with the kinds of access
/// (kept paths with a `traced` reason, and the traced paths the image does not have).
pub fn traced_accesses(report: &Value) -> BTreeSet<String> {
    let kept = report["keep"]["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| {
            p["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["reason"] == "traced")
                .map(move |r| format!("{} {}", p["path"], r["kind"]))
        });
    let absent = report["keep"]["absent"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| format!("{} {} {}", a["path"], a["kind"], a["result"]));
    kept.chain(absent).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A small report of the shape `slim build` writes.
    fn report() -> Value {
        let digest = format!("sha256:{}", "ab".repeat(32));
        json!({
            "schema_version": 1,
            "tool": {"name": "slim", "version": "0.1.0"},
            "source": {"reference": "app:1", "id": digest, "size": 1000, "config": {"Cmd": ["app"]},
                       "read_from": {"kind": "layer_store", "driver": "overlay2"}},
            "image": {
                "tag": "app.slim:1", "id": digest, "digest": digest, "size": 100,
                "layer": {"diff_id": digest, "size": 120, "entries": 3, "content_bytes": 90}
            },
            "factor": 10.0,
            "phases": {"inspect": 0.1, "run": 2.0, "save": 0.0},
            "alongside": [{"name": "index", "during": "run", "seconds": 1.0}],
            "critical_path": [{"name": "inspect", "seconds": 0.1}, {"name": "run", "seconds": 2.0},
                              {"name": "save", "seconds": 0.0}],
            "profiles": [{"name": "base", "why": "always"}],
            "probes": {
                "results": [
                    {"probe": "http", "port": 80, "scheme": "http", "method": "GET", "path": "/",
                     "found_by": {"by": "start"},
                     "answer": {"status": 200, "body_bytes": 5, "body_digest": digest, "millis": 3}},
                    {"probe": "exec", "command": ["id"], "exit_code": 0, "output": "root",
                     "error": null, "millis": 4}
                ],
                "events": 10,
                "lost_events": 0
            },
            "keep": {
                "paths_kept": 2, "paths_in_original": 4, "files_kept": 1, "bytes_kept": 90,
                "traced_absent": 1, "closure_seconds": 0.01,
                "absent": [{"path": "/app/cache", "kind": "stat", "result": "ENOENT",
                            "comm": "app", "pid": 9}],
                "directories": [{"path": "/app", "paths": 1, "bytes": 90}],
                "by_reason": [{"reason": "traced", "files": 1, "bytes": 90}],
                "paths": [
                    {"path": "/app", "type": "dir", "size": 0,
                     "reasons": [{"reason": "parent", "of": "/app/main"}]},
                    {"path": "/app/main", "type": "file", "size": 90,
                     "reasons": [{"reason": "traced", "kind": "exec", "comm": "app", "pid": 9}]}
                ]
            },
            "removed": {"paths": 2, "bytes": 10, "directories": [
                {"path": "/doc", "whole": true, "paths": 2, "bytes": 10, "entries": ["readme"]}
            ]},
            "excluded": [{"pattern": "/doc/*", "image_matches": 1, "paths": [
                {"path": "/doc/readme",
                 "reasons": [{"reason": "traced", "kind": "open", "comm": "app", "pid": 9}]}
            ]}],
            "left_out": [{"profile": "docs", "rule": "exclude /doc/extra/**", "glob": "/doc/extra/**", "files": 1, "bytes": 4,
                          "paths": ["/doc/extra/notes"]}],
            "verification": {"status": "verified", "rounds": 1, "repaired": [],
                             "differences": [], "missed": []}
        })
    }

    #[test]
    fn the_schema_is_a_valid_2020_12_schema_and_accepts_a_report() {
        assert_eq!(report_violations(&report()), Vec::<String>::new());
    }

    #[test]
    fn a_missed_file_an_exclude_glob_left_out_validates() {
        let mut failed = report();
        failed["verification"] = json!({"status": "failed", "rounds": 1, "repaired": [],
            "differences": [{"probe": "GET :80/", "original": "200", "slim": "500"}],
            "missed": [{"path": "/doc/readme", "by": ["app (openat)"],
                        "excluded_by": "/doc/*"}]});
        assert_eq!(report_violations(&failed), Vec::<String>::new());
        let mut unknown = report();
        unknown["excluded"][0]["colour"] = json!("blue");
        assert!(!report_violations(&unknown).is_empty());
    }

    #[test]
    fn a_report_missing_a_required_field_fails() {
        let mut missing = report();
        missing["keep"]
            .as_object_mut()
            .unwrap()
            .remove("paths")
            .unwrap();
        let violations = report_violations(&missing);
        assert!(
            violations
                .iter()
                .any(|v| v.contains("\"paths\" is a required")),
            "{violations:?}"
        );
        let mut no_version = report();
        no_version.as_object_mut().unwrap().remove("schema_version");
        assert!(!report_violations(&no_version).is_empty());
    }

    #[test]
    fn unknown_fields_and_unknown_reasons_fail() {
        let mut extra = report();
        extra["image"]["colour"] = json!("blue");
        assert!(!report_violations(&extra).is_empty());
        let mut reason = report();
        reason["keep"]["paths"][1]["reasons"][0] = json!({"reason": "magic"});
        assert!(!report_violations(&reason).is_empty());
        let mut result = report();
        result["probes"]["results"][0]["colour"] = json!("blue");
        assert!(!report_violations(&result).is_empty());
    }
}
