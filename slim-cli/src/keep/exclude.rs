//! The user's exclude globs (`--exclude`): once every keep rule has run, they take the
//! paths they match out of the keep set, and everything below a directory they match, each
//! recorded under the glob that took it with the reasons it was kept for. A glob matches
//! paths as the image holds them: a symlink is not followed, so excluding a link's target
//! leaves the link (dangling), and excluding a link leaves its target. The directories
//! above an excluded path stay.
//!
//! Pure: it matches the keep set's and the index's paths, nothing else.

use globset::GlobSet;

use super::glob::{KeepError, as_path, compile_globs};
use super::model::KeepSet;
use crate::image::index::FsIndex;

/// The option the globs are given with, named in their errors.
const OPTION: &str = "--exclude";

/// The exclude globs, compiled, in the order given.
#[derive(Clone, Debug, Default)]
pub struct Excludes {
    patterns: Vec<String>,
    set: GlobSet,
}

impl Excludes {
    /// Compiles `patterns` with the glob syntax of every keep rule (absolute; `*` within a
    /// name, `**` across directories); an error names `--exclude` and the pattern.
    pub fn compile(patterns: &[String]) -> Result<Excludes, KeepError> {
        let set =
            compile_globs(patterns.iter().map(String::as_str)).map_err(|e| e.of_option(OPTION))?;
        Ok(Excludes {
            patterns: patterns.to_vec(),
            set,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The first glob, in the order given, that matches `path` or a directory above it:
    /// the glob that excludes `path`, if any.
    pub fn excluding(&self, path: &[u8]) -> Option<&str> {
        if self.is_empty() {
            return None;
        }
        let mut matched = Vec::new();
        let mut first: Option<usize> = None;
        for candidate in path_and_ancestors(path) {
            self.set.matches_into(as_path(candidate), &mut matched);
            first = matched.iter().copied().chain(first).min();
        }
        first.map(|i| self.patterns[i].as_str())
    }

    /// Takes out of `set` every kept path a glob excludes (see [`Excludes::excluding`]),
    /// recording each under its glob, and records how many paths of `index` each glob
    /// matches, so that a glob that took nothing can say whether it matched anything.
    pub fn apply(&self, index: &FsIndex, set: &mut KeepSet) {
        if self.is_empty() {
            return;
        }
        let mut counts = vec![0; self.patterns.len()];
        let mut matched = Vec::new();
        for (path, _) in index.iter() {
            self.set.matches_into(as_path(path), &mut matched);
            for &i in &matched {
                counts[i] += 1;
            }
        }
        for (pattern, count) in self.patterns.iter().zip(counts) {
            set.exclusion_mut(pattern).image_matches = count;
        }
        let excluded: Vec<(Vec<u8>, &str)> = set
            .paths()
            .filter_map(|path| Some((path.to_vec(), self.excluding(path)?)))
            .collect();
        for (path, pattern) in excluded {
            set.exclude(&path, pattern);
        }
    }
}

/// `path` and each directory above it, `/` last: `/a/b`, `/a`, `/`.
fn path_and_ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = if current == b"/" {
            None
        } else {
            match current.iter().rposition(|&b| b == b'/') {
                Some(0) => Some(&b"/"[..]),
                Some(i) => Some(&current[..i]),
                None => None,
            }
        };
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_run_up_to_the_root() {
        let all: Vec<&[u8]> = path_and_ancestors(b"/a/b/c").collect();
        assert_eq!(all, [&b"/a/b/c"[..], b"/a/b", b"/a", b"/"]);
        let root: Vec<&[u8]> = path_and_ancestors(b"/").collect();
        assert_eq!(root, [&b"/"[..]]);
    }

    #[test]
    fn the_first_glob_given_that_matches_a_path_or_a_directory_above_it_excludes_it() {
        let excludes =
            Excludes::compile(&["/srv/*.log".into(), "/srv".into(), "/app/data".into()]).unwrap();
        assert_eq!(excludes.excluding(b"/srv/a.log"), Some("/srv/*.log"));
        assert_eq!(excludes.excluding(b"/srv/b.txt"), Some("/srv"));
        assert_eq!(excludes.excluding(b"/app/data/x/y"), Some("/app/data"));
        assert_eq!(excludes.excluding(b"/app/data2"), None);
        assert_eq!(
            excludes.excluding(b"/app"),
            None,
            "the directories above stay"
        );
        assert_eq!(Excludes::default().excluding(b"/srv"), None);
    }

    #[test]
    fn invalid_globs_name_the_option_and_the_glob() {
        for (pattern, what) in [("/a/[", "unclosed"), ("etc/*", "not absolute")] {
            let error = Excludes::compile(&["/ok/**".into(), pattern.into()])
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("--exclude pattern")
                    && error.contains(&format!("'{pattern}'"))
                    && error.contains(what),
                "{error}"
            );
            assert!(error.contains("\nhint: "), "{error}");
        }
    }
}
