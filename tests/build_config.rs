//! `slim build` takes its options from `slim.toml` (in the current directory, or named
//! with `--config`) and from `SLIM_*` variables, and a flag on the command line overrides
//! them: the tag and the `--keep` globs a file names show in the built image.
//!
//! Needs root, the Docker engine and a kernel with BTF and bpf_loop (every test is named
//! `root_engine_…`).

use std::path::{Path, PathBuf};

use slim_fixtures::{BuildCommand, image, image_entries};

/// A directory of the test's own, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("slim-test-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Dir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn has(image: &str, path: &str) -> bool {
    image_entries(image).iter().any(|e| e.path == path)
}

#[test]
fn root_engine_slim_toml_options_apply_and_a_flag_overrides_them() {
    let original = image("merged-usr");
    let pid = std::process::id();
    let repo = Dir::new("config-repo");
    let file_tag = format!("slim-test/config.slim:file-{pid}");
    // Neither file is read by the image's command: only the keep glob can keep it.
    std::fs::write(
        repo.path().join("slim.toml"),
        format!(
            "# slim build options of this image\ntag = \"{file_tag}\"\nkeep = [\"/etc/debian_version\"]\nreport = \"off\"\n"
        ),
    )
    .expect("writing slim.toml");

    // Found in the current directory.
    let from_file = BuildCommand::new(&original).current_dir(repo.path()).run();
    let built = from_file.image();
    assert_eq!(built.tag, file_tag, "the tag slim.toml names");
    assert!(
        from_file
            .stderr
            .contains("options from slim.toml: tag, keep, report"),
        "slim says where its options came from:\n{}",
        from_file.stderr
    );
    assert!(
        has(&built.tag, "/etc/debian_version"),
        "slim.toml's keep glob did not reach the image"
    );
    assert!(
        !has(&built.tag, "/etc/issue"),
        "/etc/issue is kept without being asked for: the test proves nothing"
    );
    assert!(
        !repo.path().join("slim.report.json").exists(),
        "slim.toml says report = \"off\""
    );

    // Named with --config from elsewhere; --keep on the command line replaces the file's
    // list and SLIM_TAG its tag.
    let elsewhere = Dir::new("config-cwd");
    let env_tag = format!("slim-test/config.slim:env-{pid}");
    let config = repo.path().join("slim.toml");
    let overridden = BuildCommand::new(&original)
        .current_dir(elsewhere.path())
        .option("--config", config.to_str().expect("UTF-8 temp dir"))
        .option("--keep", "/etc/issue")
        .env("SLIM_TAG", &env_tag)
        .run();
    let built = overridden.image();
    assert_eq!(built.tag, env_tag, "SLIM_TAG beats the file's tag");
    assert!(
        has(&built.tag, "/etc/issue"),
        "the --keep flag was not applied"
    );
    assert!(
        !has(&built.tag, "/etc/debian_version"),
        "the file's keep list should be replaced by the --keep flag"
    );
}

#[test]
fn root_engine_a_bad_slim_toml_fails_before_anything_runs() {
    let repo = Dir::new("config-bad");
    std::fs::write(
        repo.path().join("slim.toml"),
        "tag = \"a.slim:1\"\nkep = [\"/x\"]\n",
    )
    .expect("writing slim.toml");
    let outcome = BuildCommand::new(&image("merged-usr"))
        .current_dir(repo.path())
        .run();
    assert_eq!(outcome.code, Some(2), "stderr:\n{}", outcome.stderr);
    assert_eq!(
        outcome.error_lines(),
        ["error: slim.toml:2: unknown key `kep` (did you mean `keep`?)"]
    );
    assert!(outcome.stderr.contains("\nhint: "), "{}", outcome.stderr);
    outcome.assert_nothing_left();
}
