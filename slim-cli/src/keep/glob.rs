//! How every keep rule matches paths: one glob syntax for `--keep`, the keep-lists and the
//! profiles (`*` stays within one component, `**` crosses them, patterns are absolute), and
//! the errors a bad pattern gives.
//!
//! Compiles patterns only; it reads neither the image nor the trace.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

/// A glob that cannot be compiled. `of` names what it came from: `keep` for the rules of
/// keep-lists and profiles, the option (`--keep`, `--exclude`) for the user's own.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    #[error(
        "invalid {of} pattern '{pattern}': {error}\nhint: patterns are globs on absolute paths, e.g. '/usr/share/myapp/**'"
    )]
    Pattern {
        of: &'static str,
        pattern: String,
        error: String,
    },
    #[error("{of} pattern '{pattern}' is not absolute\nhint: start it with '/', e.g. '/{pattern}'")]
    RelativePattern { of: &'static str, pattern: String },
}

impl KeepError {
    /// The same error, naming the option its pattern was given with.
    pub fn of_option(self, option: &'static str) -> KeepError {
        match self {
            KeepError::Pattern { pattern, error, .. } => KeepError::Pattern {
                of: option,
                pattern,
                error,
            },
            KeepError::RelativePattern { pattern, .. } => KeepError::RelativePattern {
                of: option,
                pattern,
            },
        }
    }
}

/// Compiles absolute globs into one set.
pub fn compile_globs<'a>(
    patterns: impl IntoIterator<Item = &'a str>,
) -> Result<GlobSet, KeepError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(glob(pattern)?);
    }
    builder.build().map_err(|e| KeepError::Pattern {
        of: "keep",
        pattern: String::new(),
        error: e.to_string(),
    })
}

/// Compiles one absolute glob.
pub fn glob(pattern: &str) -> Result<Glob, KeepError> {
    if !pattern.starts_with('/') {
        return Err(KeepError::RelativePattern {
            of: "keep",
            pattern: pattern.to_string(),
        });
    }
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| KeepError::Pattern {
            of: "keep",
            pattern: pattern.to_string(),
            error: e.kind().to_string(),
        })
}

/// Globs relative to a directory, compiled as if rooted at `/` (match them against the
/// path below that directory, with a leading `/`).
pub fn relative_globs(globs: &[String]) -> Result<Vec<GlobMatcher>, KeepError> {
    globs
        .iter()
        .map(|g| glob(&format!("/{}", g.trim_start_matches('/'))).map(|g| g.compile_matcher()))
        .collect()
}

/// An image path (bytes, maybe not UTF-8) as the `Path` globs match against.
pub fn as_path(bytes: &[u8]) -> &Path {
    Path::new(OsStr::from_bytes(bytes))
}
