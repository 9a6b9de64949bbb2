//! The keep set: every path of the original image that the new image holds, each with the
//! reasons it is kept.
//!
//! Starts from the traced paths that exist in the image, resolved inside the image root
//! with every symlink and directory on their way; adds the closure the trace cannot see
//! (ELF interpreters and libraries, script interpreters, hard-link peers, parent
//! directories) and the keep-lists every image needs but no single run touches (CA
//! certificates, time zones, users and groups with their NSS modules, resolver files,
//! /tmp, the user's home, the application tree), plus the profiles' rules and the user's
//! own globs; last, the user's exclude globs take what they match out again.
//!
//! Its parts: `model` (what a keep set is), `builder` (adding one path as the image
//! resolves it), `closure` (what a kept file needs, with `elf`, `ld_cache` and
//! `library_search`), `lists` (the default keep-lists, data in the base profile),
//! `profile` and `rules` (profiles, with `node_packages` and `js_specifiers` for Node's
//! packages), `glob` (how every rule matches paths), `exclude`
//! (`--exclude`). `compute` below is the stage itself: the trace and its closure, then the
//! keep-lists, the profiles and the user's globs, closed again, then the exclusions.
//!
//! Pure: it reads the image index and the trace, never the engine or the kernel.

mod builder;
mod closure;
pub mod config_loads;
pub mod elf;
mod exclude;
mod glob;
pub mod js_specifiers;
pub mod ld_cache;
pub mod library_search;
mod lists;
mod model;
mod node_packages;
#[cfg(test)]
mod node_tests;
pub mod profile;
mod python_closure;
pub mod python_imports;
pub mod read_ahead;
mod ruby_closure;
#[cfg(test)]
mod ruby_php_tests;
pub mod ruby_requires;
mod rules;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod test_files;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

pub use exclude::Excludes;
pub use glob::{KeepError, compile_globs};
pub use model::{Exclusion, ImageRuntime, KeepList, KeepSet, LeftOut, Reason};
pub(crate) use python_closure::source_of_bytecode;
pub use read_ahead::SourceScans;

use crate::image::index::{FsIndex, NodeKind};
use crate::trace::TraceRecord;
use builder::Builder;
use glob::as_path;

/// Options of the keep set.
#[derive(Clone, Debug)]
pub struct KeepOptions {
    /// Keep-lists allowed (`--no-keep` removes some); with profiles, a list applies when a
    /// profile turns it on too.
    pub lists: Vec<KeepList>,
    /// The user's `--keep` patterns (absolute globs; a pattern naming a directory keeps
    /// the whole tree below it).
    pub patterns: Vec<String>,
    /// The user's `--exclude` patterns (absolute globs): what they match is taken out of
    /// the keep set after every rule above, with the whole tree below a matched directory.
    pub excludes: Vec<String>,
    /// Profiles whose rules apply.
    pub profiles: Vec<profile::Profile>,
    /// Whether package rules apply (`--keep-packages used`), or only what was traced.
    pub packages: bool,
    /// Whether the profiles' Python import closure applies (`--no-import-closure` turns
    /// it off).
    pub import_closure: bool,
}

impl Default for KeepOptions {
    fn default() -> Self {
        KeepOptions {
            lists: KeepList::ALL.to_vec(),
            patterns: Vec::new(),
            excludes: Vec::new(),
            profiles: Vec::new(),
            packages: true,
            import_closure: true,
        }
    }
}

/// Paths the runtime mounts over in every container: their content in the image is never
/// what the application sees.
pub fn is_runtime_mount(path: &[u8]) -> bool {
    [&b"/proc/"[..], b"/sys/", b"/dev/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

/// Compiles the user's globs as [`compute`] will, so that a bad one fails before any
/// work; returns the `--exclude` globs, which repair applies again.
pub fn check_user_globs(options: &KeepOptions) -> Result<Excludes, KeepError> {
    compile_globs(options.patterns.iter().map(String::as_str))
        .map_err(|e| e.of_option("--keep"))?;
    Excludes::compile(&options.excludes)
}

/// Computes the keep set of `records` over `index`.
pub fn compute<R: std::borrow::Borrow<TraceRecord>>(
    index: &FsIndex,
    records: impl IntoIterator<Item = R>,
    image: &ImageRuntime,
    options: &KeepOptions,
) -> Result<KeepSet, KeepError> {
    compute_with(index, records, image, options, SourceScans::default())
}

/// [`compute`], with the Python sources `ahead` scanned while the run went on (the same
/// keep set, in less time).
pub fn compute_with<R: std::borrow::Borrow<TraceRecord>>(
    index: &FsIndex,
    records: impl IntoIterator<Item = R>,
    image: &ImageRuntime,
    options: &KeepOptions,
    ahead: SourceScans,
) -> Result<KeepSet, KeepError> {
    let user_globs = options
        .patterns
        .iter()
        .map(|p| glob::glob(p).map(|g| (p.clone(), g.compile_matcher())))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.of_option("--keep"))?;
    let excludes = Excludes::compile(&options.excludes)?;
    let mut builder = Builder::new(index, image);
    builder.python_ahead = ahead;

    // Records given by value are freed as they are read: a trace can hold millions, and
    // the rules below grow the keep set.
    for record in records {
        let record = record.borrow();
        if record.incomplete.is_some() || record.path.is_empty() {
            continue;
        }
        if is_runtime_mount(&record.path) {
            continue;
        }
        let reason = Reason::Traced {
            kind: record.kind,
            comm: record.comm.clone(),
            pid: record.pid,
        };
        let follow = !record.nofollow;
        if !builder.add(&record.path, reason, follow) {
            builder.set.traced_missing += 1;
        }
    }

    // What the application used: the trace and its closure, before any rule adds more.
    builder.close();
    let used: BTreeSet<Vec<u8>> = builder
        .set
        .paths()
        .filter(|p| {
            index
                .get(p)
                .is_some_and(|n| !matches!(n.kind, NodeKind::Dir))
        })
        .map(<[u8]>::to_vec)
        .collect();

    let lists: Vec<KeepList> = if options.profiles.is_empty() {
        options.lists.clone()
    } else {
        options
            .lists
            .iter()
            .copied()
            .filter(|l| options.profiles.iter().any(|p| p.lists.contains(l)))
            .collect()
    };
    for list in &lists {
        builder.add_list(*list);
    }
    for profile in &options.profiles {
        rules::Apply {
            builder: &mut builder,
            profile,
            used: &used,
            packages: options.packages,
            import_closure: options.import_closure,
        }
        .run()?;
    }
    drop(used);

    for (pattern, matcher) in &user_globs {
        let matched: Vec<Vec<u8>> = index
            .iter()
            .filter(|(p, _)| matcher.is_match(as_path(p)))
            .map(|(p, _)| p.clone())
            .collect();
        for path in matched {
            builder.add_tree(
                &path,
                &Reason::UserGlob {
                    pattern: pattern.clone(),
                },
            );
        }
    }

    builder.close();
    if lists.contains(&KeepList::Users) {
        builder.add_nss_modules_if_used();
        builder.close();
    }
    rules::note_unreached_packages(&mut builder);
    excludes.apply(index, &mut builder.set);
    builder.set.settle_left_out();
    Ok(builder.set)
}

/// Adds files a verification run found missing to a computed keep set, with everything
/// on their way and their closure, each with the reason "repaired in round `round`"; then
/// takes out again what `excludes` exclude, so that repair never brings it back.
pub fn add_repaired(
    index: &FsIndex,
    set: KeepSet,
    paths: &[(Vec<u8>, bool)],
    round: u32,
    image: &ImageRuntime,
    excludes: &Excludes,
) -> KeepSet {
    let mut builder = Builder::new(index, image);
    builder.set = set;
    for (path, follow) in paths {
        builder.add(path, Reason::Repaired { round }, *follow);
    }
    builder.close();
    excludes.apply(index, &mut builder.set);
    builder.set
}
