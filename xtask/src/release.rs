//! `cargo xtask release`: builds the binary users get (`cargo build --release`) and checks
//! what they would notice: its size, that a panic's backtrace still names the functions
//! (the release profile drops debug info but keeps the symbol table), and that it
//! ignores `SLIM_TEST_HOOK=panic:…`.
//!
//! A shipped binary cannot be made to panic, so the backtrace is read from the same
//! profile built with slim-cli's `test-hooks` feature, which adds only the panic hook.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::bench_kit::{release_build, release_build_with};

/// The most the shipped binary may weigh, in bytes.
const MAX_BYTES: u64 = 16_000_000;

pub(crate) fn check() -> crate::Result {
    // Built first and copied aside, so that target/release/slim is the shipped binary
    // when this ends.
    let hooked = copy_aside(&release_build_with(&["test-hooks"])?, "slim-test-hooks")?;
    let bin = release_build()?;
    let bytes = std::fs::metadata(&bin)
        .map_err(|e| format!("{}: {e}", bin.display()))?
        .len();
    eprintln!(
        "release: {} is {:.1} MB (at most {:.1} MB)",
        shown(&bin),
        bytes as f64 / 1e6,
        MAX_BYTES as f64 / 1e6
    );
    if bytes > MAX_BYTES {
        return Err(format!(
            "{} is {bytes} bytes, over {MAX_BYTES}: is debug info back in [profile.release]?",
            bin.display()
        ));
    }
    let (image, _) = slim_fixtures::ensure_image("probe").map_err(|e| format!("{e:#}"))?;
    ignores_the_panic_hook(&bin, &image)?;
    backtrace_names_functions(&hooked, &image)
}

/// `path` relative to the repository, as messages name it.
fn shown(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("/"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A copy of `bin` named `name` in its directory.
fn copy_aside(bin: &Path, name: &str) -> crate::Result<PathBuf> {
    let copy = bin.with_file_name(name);
    std::fs::copy(bin, &copy)
        .map_err(|e| format!("copying {} to {}: {e}", bin.display(), copy.display()))?;
    Ok(copy)
}

/// `bin trace IMAGE -- true` with the hook asking for a panic as the traced run starts.
fn trace_with_panic_hook(bin: &Path, image: &str) -> crate::Result<Output> {
    Command::new(bin)
        .args(["trace", image, "--", "true"])
        .env(slim_fixtures::TEST_HOOK_ENV, "panic:start")
        .env("RUST_BACKTRACE", "1")
        .output()
        .map_err(|e| format!("running {}: {e}", bin.display()))
}

/// The shipped binary has no panic hook: the trace runs to its end.
fn ignores_the_panic_hook(bin: &Path, image: &str) -> crate::Result {
    let out = trace_with_panic_hook(bin, image)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("panicked") {
        return Err(format!(
            "the release binary must ignore {}=panic:start and trace to the end ({}):\n{stderr}",
            slim_fixtures::TEST_HOOK_ENV,
            out.status
        ));
    }
    eprintln!(
        "release: {}=panic:start is ignored",
        slim_fixtures::TEST_HOOK_ENV
    );
    Ok(())
}

/// Forces a panic at the start of a traced run (the `test-hooks` build) and reads the
/// backtrace.
fn backtrace_names_functions(bin: &Path, image: &str) -> crate::Result {
    let out = trace_with_panic_hook(bin, image)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let named = stderr.lines().filter(|l| l.contains("slim_cli::")).count();
    if out.status.code() != Some(1) || named == 0 {
        return Err(format!(
            "a forced panic of the release binary built with `test-hooks` must exit 1 with a \
             backtrace naming slim's functions ({named} named, {}):\n{stderr}",
            out.status
        ));
    }
    eprintln!("release: a forced panic's backtrace names {named} of slim's functions");
    Ok(())
}
