//! Reading the report `slim build` writes (`slim.report.json`) as JSON, and a report path
//! of a test's own that goes when the test ends. What the report must hold is the schema's
//! business (`slim-cli/schema/report.schema.json`), checked by the integration tests'
//! support library.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The report at `path`; panics, naming the file, if it cannot be read or is not JSON.
pub fn read_report(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading the report {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the report {} is not JSON: {e}", path.display()))
}

/// A report path outside the repository and slim's TMPDIR
/// (`$TMPDIR/slim-<label>-<pid>.report.json`), removed when dropped.
#[derive(Debug)]
pub struct ReportFile {
    path: PathBuf,
}

impl ReportFile {
    /// The path for `label`, with nothing there yet.
    pub fn new(label: &str) -> ReportFile {
        let path =
            std::env::temp_dir().join(format!("slim-{label}-{}.report.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        ReportFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What slim wrote there; see [`read_report`].
    pub fn read(&self) -> Value {
        read_report(&self.path)
    }
}

impl Drop for ReportFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_file_is_read_then_removed() {
        let file = ReportFile::new("kit-read");
        assert!(!file.path().exists());
        std::fs::write(file.path(), br#"{"schema_version": 1}"#).unwrap();
        assert_eq!(file.read()["schema_version"], 1);
        let path = file.path().to_path_buf();
        drop(file);
        assert!(!path.exists());
    }

    #[test]
    fn a_report_that_is_not_json_fails_naming_the_file() {
        let file = ReportFile::new("kit-not-json");
        std::fs::write(file.path(), "not json").unwrap();
        let message = std::panic::catch_unwind(|| file.read())
            .unwrap_err()
            .downcast::<String>()
            .unwrap();
        assert!(
            message.contains(&file.path().display().to_string()) && message.contains("not JSON"),
            "{message}"
        );
    }
}
