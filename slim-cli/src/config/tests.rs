//! Tests of merging `slim.toml` and `SLIM_*` variables into the command line.

use std::collections::HashMap;
use std::time::Duration;

use super::*;
use crate::cli::{BuildArgs, Command};

/// A directory of its own for one test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(label: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("slim-config-{label}-{}", std::process::id()));
        let _ = fs_err::remove_dir_all(&dir);
        fs_err::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs_err::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs_err::remove_dir_all(&self.0);
    }
}

fn run(
    dir: &Dir,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(BuildArgs, Vec<String>), ParseError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |key: &str| env.get(key).cloned();
    let argv = ["slim", "build"].iter().chain(args);
    let parsed = parse(argv, &dir.0, &lookup)?;
    match parsed.cli.command {
        Command::Build(args) => Ok((*args, parsed.sources)),
        _ => unreachable!("parsed as build"),
    }
}

fn build(dir: &Dir, args: &[&str], env: &[(&str, &str)]) -> BuildArgs {
    match run(dir, args, env) {
        Ok((args, _)) => args,
        Err(ParseError::Clap(e)) => panic!("{e}"),
        Err(ParseError::Config(e)) => panic!("{e}"),
    }
}

fn config_error(dir: &Dir, args: &[&str], env: &[(&str, &str)]) -> String {
    match run(dir, args, env) {
        Err(ParseError::Config(e)) => e.to_string(),
        Err(ParseError::Clap(e)) => panic!("a clap error, not a config error: {e}"),
        Ok((args, _)) => panic!("accepted: {args:?}"),
    }
}

const FILE: &str = r#"# slim build options for this repository
tag = "app.slim:file"
keep = ["/app/templates/**", "/etc/mime.types"]
probe = ["GET /health", 'POST /api/items {"a":1}']
strict = true
crawl-depth = 2
timeout = 30
env = ["MODE=file"]
"#;

#[test]
fn options_in_slim_toml_apply_when_the_command_line_leaves_them_unset() {
    let dir = Dir::new("apply");
    dir.write(FILE_NAME, FILE);
    let (args, sources) = run(&dir, &["app:1"], &[]).map_err(|_| ()).unwrap();
    assert_eq!(args.image, "app:1");
    assert_eq!(args.tag.as_deref(), Some("app.slim:file"));
    assert_eq!(args.keep, ["/app/templates/**", "/etc/mime.types"]);
    assert_eq!(args.probe.len(), 2);
    assert_eq!(args.probe[1].body.as_deref(), Some("{\"a\":1}"));
    assert!(args.strict);
    assert_eq!(args.crawl_depth, 2);
    assert_eq!(args.run.timeout, Some(Duration::from_secs(30)));
    assert_eq!(args.run.env.len(), 1);
    let file = dir.0.join(FILE_NAME).display().to_string();
    assert_eq!(
        sources,
        [format!(
            "options from {file}: tag, keep, probe, strict, crawl-depth, timeout, env"
        )]
    );
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = Dir::new("precedence");
    dir.write(FILE_NAME, FILE);
    // The environment replaces the file's tag; the file still gives the rest.
    let env = [("SLIM_TAG", "app.slim:env"), ("SLIM_CRAWL_DEPTH", "7")];
    let args = build(&dir, &["app:1"], &env);
    assert_eq!(args.tag.as_deref(), Some("app.slim:env"));
    assert_eq!(args.crawl_depth, 7);
    assert_eq!(args.keep.len(), 2);
    // A flag replaces both.
    let args = build(&dir, &["app:1", "--tag", "app.slim:flag"], &env);
    assert_eq!(args.tag.as_deref(), Some("app.slim:flag"));
    assert_eq!(args.crawl_depth, 7);
    // Defaults stay defaults where no layer sets the option.
    assert_eq!(args.crawl_pages, 500);
    assert_eq!(args.report, "slim.report.json");
}

#[test]
fn a_list_on_the_command_line_or_in_the_environment_replaces_the_files_list() {
    let dir = Dir::new("lists");
    dir.write(FILE_NAME, FILE);
    let args = build(&dir, &["app:1", "--keep", "/srv/**"], &[]);
    assert_eq!(args.keep, ["/srv/**"]);
    // One value per line in a variable.
    let args = build(&dir, &["app:1"], &[("SLIM_KEEP", "/a/**\n\n/b\n")]);
    assert_eq!(args.keep, ["/a/**", "/b"]);
    // Lists not given elsewhere still come from the file.
    assert_eq!(args.probe.len(), 2);
}

#[test]
fn a_switch_set_false_in_the_environment_overrides_the_file() {
    let dir = Dir::new("switch");
    dir.write(FILE_NAME, FILE);
    assert!(build(&dir, &["app:1"], &[("SLIM_STRICT", "yes")]).strict);
    assert!(!build(&dir, &["app:1"], &[("SLIM_STRICT", "0")]).strict);
    assert!(!build(&dir, &["app:1", "--no-config"], &[]).strict);
    dir.write(FILE_NAME, "no-healthcheck = true\n");
    assert!(build(&dir, &["app:1"], &[]).no_healthcheck);
    assert!(!build(&dir, &["app:1"], &[("SLIM_NO_HEALTHCHECK", "false")]).no_healthcheck);
    dir.write(FILE_NAME, FILE);
    let err = config_error(&dir, &["app:1"], &[("SLIM_STRICT", "maybe")]);
    assert!(
        err.starts_with("environment variable SLIM_STRICT: "),
        "{err}"
    );
}

#[test]
fn exclude_globs_in_slim_toml_reach_the_keep_options() {
    let dir = Dir::new("exclude");
    dir.write(
        FILE_NAME,
        "keep = [\"/app/**\"]\nexclude = [\"/app/data/*.txt\", \"/app/tests\"]\n",
    );
    let (args, sources) = run(&dir, &["app:1"], &[]).map_err(|_| ()).unwrap();
    assert_eq!(args.exclude, ["/app/data/*.txt", "/app/tests"]);
    assert!(sources[0].ends_with(": keep, exclude"), "{sources:?}");
    let settings = args.resolve().unwrap();
    assert_eq!(settings.keep.patterns, ["/app/**"]);
    assert_eq!(settings.keep.excludes, ["/app/data/*.txt", "/app/tests"]);
    // Replaced by the environment, one glob per line, and by the flag.
    let args = build(&dir, &["app:1"], &[("SLIM_EXCLUDE", "/srv/**\n")]);
    assert_eq!(args.exclude, ["/srv/**"]);
    let args = build(&dir, &["app:1", "--exclude", "/x"], &[]);
    assert_eq!(args.exclude, ["/x"]);
    // A string where a list is due says what to write, with its line.
    dir.write(FILE_NAME, "\nexclude = \"/app/tests\"\n");
    let err = config_error(&dir, &["app:1"], &[]);
    assert!(
        err.ends_with(
            ":2: `exclude` is a list (--exclude is repeatable), not a string\nhint: write \
             `exclude = [\"/app/tests\"]`"
        ),
        "{err}"
    );
    dir.write(FILE_NAME, "excludes = [\"/x\"]\n");
    let err = config_error(&dir, &["app:1"], &[]);
    assert!(
        err.contains(":1: unknown key `excludes` (did you mean `exclude`?)"),
        "{err}"
    );
}

#[test]
fn no_config_ignores_the_file_and_config_names_another() {
    let dir = Dir::new("choose");
    dir.write(FILE_NAME, FILE);
    let args = build(&dir, &["app:1", "--no-config"], &[]);
    assert_eq!(args.tag, None);
    assert!(args.keep.is_empty());
    let other = dir.write("ci.toml", "tag = \"app.slim:ci\"\n");
    let other = other.to_str().unwrap();
    let args = build(&dir, &["app:1", "--config", other], &[]);
    assert_eq!(args.tag.as_deref(), Some("app.slim:ci"));
    assert!(args.keep.is_empty(), "only the named file is read");
    let args = build(&dir, &["app:1"], &[("SLIM_CONFIG", other)]);
    assert_eq!(args.tag.as_deref(), Some("app.slim:ci"));
    let args = build(&dir, &["app:1"], &[("SLIM_NO_CONFIG", "1")]);
    assert_eq!(args.tag, None);
    let missing = dir.0.join("missing.toml");
    let err = config_error(&dir, &["app:1", "--config", missing.to_str().unwrap()], &[]);
    assert!(err.contains("missing.toml"), "{err}");
    assert!(err.contains("\nhint: "), "{err}");
}

#[test]
fn without_a_file_the_command_line_is_parsed_as_it_is() {
    let dir = Dir::new("none");
    let (args, sources) = run(&dir, &["app:1", "--keep", "/x"], &[])
        .map_err(|_| ())
        .unwrap();
    assert_eq!(args.keep, ["/x"]);
    assert!(sources.is_empty());
}

#[test]
fn relative_paths_in_the_file_are_taken_from_its_directory() {
    let dir = Dir::new("paths");
    fs_err::create_dir_all(dir.0.join("ci")).unwrap();
    let file = dir.write(
            "ci/slim.toml",
            "probe-file = [\"probes.yaml\", \"/abs/p.yaml\"]\nprofile = [\"django\", \"profiles/app.toml\"]\nkeep = [\"app/**\"]\nreport = \"off\"\n",
        );
    let args = build(&dir, &["app:1", "--config", file.to_str().unwrap()], &[]);
    let ci = dir.0.join("ci");
    assert_eq!(
        args.probe_file,
        [ci.join("probes.yaml"), PathBuf::from("/abs/p.yaml")]
    );
    assert_eq!(
        args.profile,
        [
            "django".to_string(),
            ci.join("profiles/app.toml").display().to_string()
        ]
    );
    // Globs and the report are not files slim reads.
    assert_eq!(args.keep, ["app/**"]);
    assert_eq!(args.report, "off");
}

#[test]
fn an_unknown_key_names_the_file_line_and_key_with_the_nearest_option() {
    let dir = Dir::new("unknown");
    dir.write(FILE_NAME, "tag = \"a.slim:1\"\n\nkeep_file = [\"k\"]\n");
    let err = config_error(&dir, &["app:1"], &[]);
    let file = dir.0.join(FILE_NAME).display().to_string();
    assert!(
        err.starts_with(&format!(
            "{file}:3: unknown key `keep_file` (did you mean `keep-file`?)\nhint: "
        )),
        "{err}"
    );
    dir.write(FILE_NAME, "[build]\ntag = \"a\"\n");
    let err = config_error(&dir, &["app:1"], &[]);
    assert!(err.contains(":1: unknown key `build`\n"), "{err}");
    assert!(err.contains("top level"), "{err}");
    // Options that choose the file, and the image, are not keys.
    for key in ["config = \"x.toml\"", "no-config = true", "image = \"a\""] {
        dir.write(FILE_NAME, key);
        let err = config_error(&dir, &["app:1"], &[]);
        assert!(err.contains("unknown key"), "{key}: {err}");
    }
}

#[test]
fn a_value_of_the_wrong_type_says_what_to_write() {
    let dir = Dir::new("types");
    let file = dir.0.join(FILE_NAME).display().to_string();
    for (text, line, message, hint) in [
        (
            "keep = \"/app/**\"",
            1,
            "`keep` is a list (--keep is repeatable), not a string",
            "write `keep = [\"/app/**\"]`",
        ),
        (
            "tag = [\"a\"]",
            1,
            "`tag` takes one value, not an array (--tag is not repeatable)",
            "write `tag = \"VALUE\"`",
        ),
        (
            "\nstrict = \"yes\"",
            2,
            "`strict` is a switch, not a string",
            "write `strict = true` (or leave it out)",
        ),
        (
            "keep = [\n  \"/a\",\n  true,\n]",
            3,
            "`keep` takes strings or numbers, not a boolean",
            "write `keep = [\"VALUE\", \"VALUE\"]`",
        ),
        (
            "tag = { a = 1 }",
            1,
            "`tag` takes a string or a number, not a table",
            "write `tag = \"VALUE\"`",
        ),
    ] {
        dir.write(FILE_NAME, text);
        let err = config_error(&dir, &["app:1"], &[]);
        assert_eq!(
            err,
            format!("{file}:{line}: {message}\nhint: {hint}"),
            "{text}"
        );
    }
}

#[test]
fn values_are_checked_by_the_options_own_parsers() {
    let dir = Dir::new("values");
    let file = dir.0.join(FILE_NAME).display().to_string();
    dir.write(FILE_NAME, "crawl-depth = 1\ntimeout = 0\n");
    let err = config_error(&dir, &["app:1"], &[]);
    assert!(
            err.starts_with(&format!(
                "{file}:2: `timeout`: invalid value '0' for '--timeout <SECS>': \"0\" is not a positive number of seconds\nhint: "
            )),
            "{err}"
        );
    dir.write(FILE_NAME, "keep-packages = \"some\"\n");
    let err = config_error(&dir, &["app:1"], &[]);
    assert!(err.contains("[possible values: used, none]"), "{err}");
    dir.write(FILE_NAME, "tag = \"Bad Tag\"\n");
    let err = config_error(&dir, &["app:1"], &[]);
    assert!(err.contains("is not a valid image reference"), "{err}");
    // Numbers are accepted where the option takes one, also as floats and in hex.
    dir.write(
        FILE_NAME,
        "crawl-depth = 0x10\ncrawl-time = 2.5\nring-buffer = \"1M\"\n",
    );
    let args = build(&dir, &["app:1"], &[]);
    assert_eq!(args.crawl_depth, 16);
    assert_eq!(args.crawl_time, Duration::from_secs_f64(2.5));
    assert_eq!(args.run.ring_buffer, 1 << 20);
    let err = config_error(&dir, &["app:1"], &[("SLIM_CRAWL_DEPTH", "deep")]);
    assert!(
        err.starts_with("environment variable SLIM_CRAWL_DEPTH: invalid value 'deep'"),
        "{err}"
    );
}

#[test]
fn a_toml_syntax_error_names_the_file_and_line() {
    let dir = Dir::new("syntax");
    let file = dir.0.join(FILE_NAME).display().to_string();
    dir.write(FILE_NAME, "tag = \"a\"\nkeep = [\"/x\"\n");
    let err = config_error(&dir, &["app:1"], &[]);
    assert!(err.starts_with(&format!("{file}:2: ")), "{err}");
    assert!(err.contains("\nhint: "), "{err}");
}

#[test]
fn every_build_option_is_a_key_named_as_its_long_flag() {
    let mut command = Cli::command();
    command.build();
    let build = command.find_subcommand("build").unwrap();
    let keys: Vec<&str> = options(build).iter().map(|o| o.long).collect();
    for key in [
        "tag",
        "output",
        "cmd",
        "exec",
        "probe",
        "probe-file",
        "keep",
        "keep-file",
        "exclude",
        "no-keep",
        "profile",
        "no-auto-profile",
        "no-import-closure",
        "report",
        "no-verify",
        "strict",
        "run",
        "timeout",
        "env",
        "env-file",
        "volume",
        "ring-buffer",
        "allow-incomplete",
    ] {
        assert!(
            keys.contains(&key),
            "{key} is not a slim.toml key: {keys:?}"
        );
    }
    for meta in ["help", "config", "no-config"] {
        assert!(!keys.contains(&meta), "{meta}");
    }
}

#[test]
fn other_commands_ignore_the_file() {
    let dir = Dir::new("trace");
    dir.write(FILE_NAME, "no-such-key = 1\n");
    let lookup = |_: &str| None;
    let parsed = parse(["slim", "trace", "img"], &dir.0, &lookup)
        .map_err(|_| ())
        .unwrap();
    assert!(matches!(parsed.cli.command, Command::Trace(_)));
}

#[test]
fn values_that_start_with_a_dash_stay_values() {
    let dir = Dir::new("dash");
    dir.write(
        FILE_NAME,
        "cmd = \"-g 'daemon off;'\"\nexec = [\"--version\"]\n",
    );
    let args = build(&dir, &["app:1"], &[]);
    assert_eq!(args.cmd.unwrap().0, ["-g", "daemon off;"]);
    assert_eq!(args.exec[0].0, ["/bin/sh", "-c", "--version"]);
}
