//! Fixture images for the integration tests, built locally (no registry) and cached in the
//! engine, plus the helpers that run the real `slim` binary and read its trace.
//!
//! An image is a [`Recipe`]: a debootstrap base, Debian packages, extra files and config.
//! The rootfs tarballs are cached on disk (`$SLIM_FIXTURE_CACHE`, default
//! `/var/cache/slim-fixtures`) and the image in the engine as
//! `slim-fixture/<name>:<recipe hash>`, so an unchanged recipe is built once per machine.
//! Building needs root, debootstrap, gcc and a reachable Debian mirror.

mod cache;
mod image;
mod recipe;
mod rootfs;
mod slim;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Result, anyhow};

pub use cache::{CACHE_ENV, Lock};
pub use image::{Outcome, ensure as ensure_recipe, prune_stale};
pub use recipe::{BUILDER_VERSION, Base, Contents, DEFAULT_PATH, Entry, ImageConfig, Recipe};
pub use slim::{
    Leftovers, Record, RunContainer, RunIdentity, RunningTrace, SLIM_BIN_ENV, Trace, TraceCommand,
    assert_nothing_left, keys_in_order, left_behind, parse_records, slim_bin,
};

/// The C source of `/usr/local/bin/probe-fixture`.
pub const PROBE_FIXTURE_SOURCE: &str = include_str!("../fixtures/probe-fixture.c");

/// Path of the test program inside the `probe` image.
pub const PROBE_FIXTURE_PATH: &str = "/usr/local/bin/probe-fixture";

/// Every built-in fixture, in build order.
pub const FIXTURES: &[&str] = &["debian", "probe"];

/// The built-in recipe called `name`.
pub fn recipe(name: &str) -> Option<Recipe> {
    let env = vec![("PATH".to_string(), DEFAULT_PATH.to_string())];
    match name {
        // Plain Debian bookworm, merged /usr (/bin -> usr/bin).
        "debian" => Some(Recipe {
            name: name.into(),
            base: Base::bookworm_minbase(),
            packages: Vec::new(),
            files: Vec::new(),
            config: ImageConfig {
                cmd: Some(vec!["/bin/sh".into()]),
                env,
                ..ImageConfig::default()
            },
        }),
        // Debian plus probe-fixture and a few files with known shapes.
        "probe" => Some(Recipe {
            name: name.into(),
            base: Base::bookworm_minbase(),
            packages: Vec::new(),
            files: vec![
                Entry::File {
                    path: PROBE_FIXTURE_PATH.into(),
                    mode: 0o755,
                    contents: Contents::StaticC {
                        source: PROBE_FIXTURE_SOURCE.into(),
                    },
                },
                Entry::file("/etc/first-file", 0o644, "opened first\n"),
                Entry::file("/etc/exec-marker", 0o644, "read by docker exec\n"),
                Entry::symlink("/etc/link-to-passwd", "passwd"),
                Entry::dir("/data", 0o755),
                Entry::dir("/data/dir", 0o755),
                Entry::file("/data/dir/a", 0o644, "a\n"),
                Entry::file("/data/dir/b", 0o644, "b\n"),
                Entry::file("/data/dir/c", 0o644, "c\n"),
            ],
            config: ImageConfig {
                cmd: Some(vec![
                    "probe-fixture".into(),
                    "first-open".into(),
                    "/etc/first-file".into(),
                ]),
                env,
                working_dir: Some("/".into()),
                ..ImageConfig::default()
            },
        }),
        _ => None,
    }
}

/// The tag of fixture `name`, building it if the engine lacks it. Panics with the reason
/// on failure: for tests.
pub fn image(name: &str) -> String {
    try_image(name).unwrap_or_else(|err| panic!("fixture image {name:?}: {err:#}"))
}

/// The tag of fixture `name`, building it if needed; the outcome of the first call in
/// this process is remembered.
pub fn try_image(name: &str) -> Result<String> {
    Ok(ensure_image(name)?.0)
}

/// Like [`try_image`], also saying whether the image was built now.
pub fn ensure_image(name: &str) -> Result<(String, Outcome)> {
    static KNOWN: Mutex<Option<HashMap<String, String>>> = Mutex::new(None);
    if let Some(tag) = KNOWN
        .lock()
        .expect("fixture memo poisoned")
        .get_or_insert_with(HashMap::new)
        .get(name)
    {
        return Ok((tag.clone(), Outcome::Cached));
    }
    let recipe = recipe(name)
        .ok_or_else(|| anyhow!("no fixture called {name:?}; known: {}", FIXTURES.join(", ")))?;
    let (tag, outcome) = image::ensure(&recipe)?;
    KNOWN
        .lock()
        .expect("fixture memo poisoned")
        .get_or_insert_with(HashMap::new)
        .insert(name.to_string(), tag.clone());
    Ok((tag, outcome))
}

/// `probe-fixture` compiled for the host (the same binary the `probe` image holds), for
/// tests that need a busy host process.
pub fn probe_fixture_host_binary() -> PathBuf {
    let _lock = Lock::acquire("build").unwrap_or_else(|err| panic!("{err:#}"));
    rootfs::static_c_binary("probe-fixture", PROBE_FIXTURE_SOURCE)
        .unwrap_or_else(|err| panic!("compiling probe-fixture: {err:#}"))
}
