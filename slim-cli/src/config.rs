//! `slim build` options from `slim.toml` and `SLIM_*` environment variables, so that a
//! repository can keep its probes and keep-lists next to its Dockerfile and a CI job can
//! set a tag without editing either.
//!
//! Nothing here knows the options: the keys of `slim.toml` and the variable names are the
//! long names of the `build` subcommand's clap arguments, their kinds (switch, one value,
//! repeatable) come from the arguments' actions, and each value is checked by the
//! argument's own value parser. The values that apply are then turned into `--long=VALUE`
//! arguments and the whole command line is parsed again by the same clap parser, so the
//! file cannot accept what the command line would refuse, nor drift from it.
//!
//! Precedence: command line > environment > file > defaults, option by option. A layer
//! that sets an option replaces what the lower layers give it, lists included.
//!
//! May read the config file and the environment (through the lookup it is given); nothing
//! else.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser, ValueHint};
use toml::de::{DeTable, DeValue};

use crate::cli::Cli;
use crate::keep::profile;

/// The file `slim build` reads from the current directory.
pub const FILE_NAME: &str = "slim.toml";

/// The prefix of the environment variables that set options (`SLIM_TAG` for `--tag`).
pub const ENV_PREFIX: &str = "SLIM_";

/// The `build` options that choose the file; they cannot be set in it.
const META: [&str; 2] = ["config", "no-config"];

/// A command line with the file's and the environment's options merged in.
#[derive(Debug)]
pub struct CommandLine {
    pub cli: Cli,
    /// Where options came from besides the command line, one line each, e.g.
    /// `options from slim.toml: keep, tag`.
    pub sources: Vec<String>,
}

/// Why the command line could not be put together.
#[derive(Debug)]
pub enum ParseError {
    /// clap's own error (usage, `--help`, `--version`): let clap print it and exit.
    Clap(clap::Error),
    /// The config file or an environment variable is wrong.
    Config(ConfigError),
}

/// A config file or `SLIM_*` variable that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read {path}: {source}\nhint: pass an existing file to --config, or \
         --no-config to read none"
    )]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}: {message}\nhint: {path} is TOML: `key = value` lines, e.g. `tag = \"app.slim:1\"`"
    )]
    Syntax {
        path: String,
        line: usize,
        message: String,
    },
    #[error(
        "{path}:{line}: unknown key `{key}`{}\nhint: the keys are the long options of \
         `slim build` (see `slim build --help`), at the top level of the file",
        did_you_mean(.suggestion)
    )]
    UnknownKey {
        path: String,
        line: usize,
        key: String,
        suggestion: Option<String>,
    },
    #[error("{path}:{line}: {message}\nhint: {hint}")]
    Value {
        path: String,
        line: usize,
        key: String,
        message: String,
        hint: String,
    },
    #[error("environment variable {var}: {problem}\nhint: {hint}")]
    Env {
        var: String,
        problem: String,
        hint: String,
    },
}

fn did_you_mean(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

/// How an option takes values, from its clap action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `--strict`: `true` or `false`.
    Switch,
    /// `--tag NAME`: one value.
    Single,
    /// `--keep GLOB`, repeatable: a list.
    Repeatable,
}

/// One `slim build` option that the file and the environment may set.
struct Opt<'a> {
    arg: &'a clap::Arg,
    long: &'a str,
    kind: Kind,
}

impl Opt<'_> {
    fn env_var(&self) -> String {
        env_var(self.long)
    }

    /// Whether a relative value names a file that slim reads (or writes) and so is taken
    /// from the config file's directory.
    fn is_path(&self, value: &str) -> bool {
        match self.arg.get_value_hint() {
            ValueHint::FilePath | ValueHint::DirPath | ValueHint::AnyPath => true,
            _ => self.long == "profile" && profile::names_a_file(value),
        }
    }

    /// Checks one value with the option's own parser, by parsing `build --long=VALUE IMAGE`;
    /// the message is clap's.
    fn check(&self, build: &clap::Command, value: &str) -> Result<(), String> {
        build
            .clone()
            .no_binary_name(true)
            .try_get_matches_from([self.argument(Some(value)), OsString::from("image")])
            .map(drop)
            .map_err(|e| clap_message(&e))
    }

    fn argument(&self, value: Option<&str>) -> OsString {
        match value {
            Some(value) => format!("--{}={value}", self.long).into(),
            None => format!("--{}", self.long).into(),
        }
    }
}

/// `SLIM_` and the long name in upper case with `_` for `-`.
fn env_var(long: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        long.to_ascii_uppercase().replace('-', "_")
    )
}

/// The first paragraph of a clap error, without its `error: ` prefix, on one line.
fn clap_message(error: &clap::Error) -> String {
    let text = error.to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    text.split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The options of `build` that a file or variable may set: every argument with a long
/// name that is not positional, hidden, `--help` or one of [`META`].
fn options(build: &clap::Command) -> Vec<Opt<'_>> {
    build
        .get_arguments()
        .filter(|arg| !arg.is_positional() && !arg.is_hide_set())
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let kind = match arg.get_action() {
                ArgAction::SetTrue => Kind::Switch,
                ArgAction::Set => Kind::Single,
                ArgAction::Append => Kind::Repeatable,
                _ => return None,
            };
            (!META.contains(&long)).then_some(Opt { arg, long, kind })
        })
        .collect()
}

/// Parses slim's command line. For `slim build`, adds the options that the command line
/// leaves unset from `SLIM_*` variables (looked up with `env`) and then from the config
/// file: `--config FILE`, or `slim.toml` in `dir` if there is one.
pub fn parse(
    argv: impl IntoIterator<Item = impl Into<OsString>>,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<CommandLine, ParseError> {
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let mut command = Cli::command();
    command.build();
    let matches = command
        .clone()
        .try_get_matches_from(&argv)
        .map_err(ParseError::Clap)?;
    let Some(("build", given)) = matches.subcommand() else {
        return Cli::from_arg_matches(&matches)
            .map(|cli| CommandLine {
                cli,
                sources: Vec::new(),
            })
            .map_err(ParseError::Clap);
    };
    let build = command
        .find_subcommand("build")
        .expect("slim has a build subcommand");
    let options = options(build);
    let on_command_line =
        |opt: &Opt| given.value_source(opt.arg.get_id().as_str()) == Some(ValueSource::CommandLine);

    let mut added: Vec<OsString> = Vec::new();
    let mut sources = Vec::new();
    let mut from_env = Vec::new();
    for opt in options.iter().filter(|o| !on_command_line(o)) {
        let var = opt.env_var();
        let Some(text) = env(&var).filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        added.extend(env_arguments(opt, build, &var, &text).map_err(ParseError::Config)?);
        // The variable replaces the file's value too (see below).
        from_env.push(opt.long);
    }

    let file = config_file(given, dir, env).map_err(ParseError::Config)?;
    if let Some(path) = &file {
        let text = fs_err::read_to_string(path).map_err(|source| {
            ParseError::Config(ConfigError::Read {
                path: path.display().to_string(),
                source,
            })
        })?;
        let values = file_values(path, &text, build, &options).map_err(ParseError::Config)?;
        let mut from_file = Vec::new();
        for (opt, values) in values {
            if on_command_line(opt) || from_env.contains(&opt.long) {
                continue;
            }
            from_file.push(opt.long);
            match opt.kind {
                Kind::Switch => added.push(opt.argument(None)),
                _ => added.extend(values.iter().map(|v| opt.argument(Some(v)))),
            }
        }
        if !from_file.is_empty() {
            sources.push(format!(
                "options from {}: {}",
                path.display(),
                from_file.join(", ")
            ));
        }
    }
    if !from_env.is_empty() {
        sources.push(format!(
            "options from the environment: {}",
            from_env
                .iter()
                .map(|long| env_var(long))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if added.is_empty() {
        return Cli::from_arg_matches(&matches)
            .map(|cli| CommandLine { cli, sources })
            .map_err(ParseError::Clap);
    }
    // The added options go right after the subcommand's name, before any `--`; as
    // `--long=VALUE` a value may start with a dash.
    let at = argv
        .iter()
        .position(|a| a == "build")
        .expect("the build subcommand was parsed from argv")
        + 1;
    let mut merged = argv;
    merged.splice(at..at, added);
    let cli = Cli::try_parse_from(merged).map_err(ParseError::Clap)?;
    Ok(CommandLine { cli, sources })
}

/// The config file to read: `--config`, else `SLIM_CONFIG`, else `slim.toml` in `dir` when
/// it exists (unless `--no-config` or `SLIM_NO_CONFIG`).
fn config_file(
    given: &clap::ArgMatches,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<PathBuf>, ConfigError> {
    if let Some(path) = given.get_one::<PathBuf>("config") {
        return Ok(Some(path.clone()));
    }
    if given.get_flag("no_config") {
        return Ok(None);
    }
    let var = env_var("config");
    if let Some(path) = env(&var).filter(|p| !p.is_empty()) {
        return Ok(Some(PathBuf::from(path)));
    }
    let var = env_var("no-config");
    if let Some(text) = env(&var)
        && switch_value(&text).map_err(|problem| ConfigError::Env {
            var: var.clone(),
            problem,
            hint: format!("set {var}=1 to ignore {FILE_NAME}"),
        })?
    {
        return Ok(None);
    }
    let found = dir.join(FILE_NAME);
    Ok(found.is_file().then_some(found))
}

/// A switch's value in an environment variable.
fn switch_value(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("{text:?} is not 1/true/yes or 0/false/no")),
    }
}

/// The arguments an environment variable stands for: a switch when true, one value, or
/// one value per non-empty line.
fn env_arguments(
    opt: &Opt,
    build: &clap::Command,
    var: &str,
    text: &str,
) -> Result<Vec<OsString>, ConfigError> {
    let invalid = |problem: String| ConfigError::Env {
        var: var.to_string(),
        problem,
        hint: format!(
            "{var} sets --{}; fix or unset it (`--{}` on the command line overrides it)",
            opt.long, opt.long
        ),
    };
    match opt.kind {
        Kind::Switch => Ok(if switch_value(text).map_err(invalid)? {
            vec![opt.argument(None)]
        } else {
            Vec::new()
        }),
        Kind::Single => {
            opt.check(build, text).map_err(invalid)?;
            Ok(vec![opt.argument(Some(text))])
        }
        Kind::Repeatable => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|value| {
                opt.check(build, value).map_err(&invalid)?;
                Ok(opt.argument(Some(value)))
            })
            .collect(),
    }
}

/// Reads the options of a config file, each with its values (a switch has none), checked
/// by the options' parsers; relative paths are made relative to the file's directory.
fn file_values<'o, 'c>(
    path: &Path,
    text: &str,
    build: &clap::Command,
    options: &'o [Opt<'c>],
) -> Result<Vec<(&'o Opt<'c>, Vec<String>)>, ConfigError> {
    let shown = path.display().to_string();
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let table = DeTable::parse(text).map_err(|e| ConfigError::Syntax {
        path: shown.clone(),
        line: e.span().map(|s| line_of(s.start)).unwrap_or(1),
        message: e.message().to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new(""));
    let mut out = Vec::new();
    // In the file's order, so that the first mistake is the one reported.
    let mut entries: Vec<_> = table.get_ref().iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in entries {
        let line = line_of(key.span().start);
        let name = key.get_ref().as_ref();
        let Some(opt) = options.iter().find(|o| o.long == name) else {
            let known: Vec<&str> = options.iter().map(|o| o.long).collect();
            return Err(ConfigError::UnknownKey {
                path: shown,
                line,
                key: name.to_string(),
                suggestion: closest(name, &known).map(str::to_string),
            });
        };
        let wrong = |line: usize, problem: String, hint: String| ConfigError::Value {
            path: shown.clone(),
            line,
            key: name.to_string(),
            message: if problem.starts_with("invalid value") {
                format!("`{name}`: {problem}")
            } else {
                format!("`{name}` {problem}")
            },
            hint,
        };
        let values = match (opt.kind, value.get_ref()) {
            (Kind::Switch, DeValue::Boolean(true)) => vec![],
            // `false` is the default: nothing to add.
            (Kind::Switch, DeValue::Boolean(false)) => continue,
            (Kind::Switch, other) => {
                return Err(wrong(
                    line,
                    format!("is a switch, not {}", a_type(other)),
                    format!("write `{name} = true` (or leave it out)"),
                ));
            }
            (Kind::Single, DeValue::Array(_)) => {
                return Err(wrong(
                    line,
                    "takes one value, not an array (--".to_string() + name + " is not repeatable)",
                    format!("write `{name} = \"VALUE\"`"),
                ));
            }
            (Kind::Single, other) => vec![scalar(other).ok_or_else(|| {
                wrong(
                    line,
                    format!("takes a string or a number, not {}", a_type(other)),
                    format!("write `{name} = \"VALUE\"`"),
                )
            })?],
            (Kind::Repeatable, DeValue::Array(items)) => items
                .iter()
                .map(|item| {
                    scalar(item.get_ref()).ok_or_else(|| {
                        wrong(
                            line_of(item.span().start),
                            format!("takes strings or numbers, not {}", a_type(item.get_ref())),
                            format!("write `{name} = [\"VALUE\", \"VALUE\"]`"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            (Kind::Repeatable, other) => {
                let example = scalar(other).unwrap_or_else(|| "VALUE".into());
                return Err(wrong(
                    line,
                    format!("is a list (--{name} is repeatable), not {}", a_type(other)),
                    format!("write `{name} = [{example:?}]`"),
                ));
            }
        };
        let mut resolved = Vec::with_capacity(values.len());
        for value in values {
            opt.check(build, &value).map_err(|problem| {
                wrong(
                    line,
                    problem,
                    format!("see `slim build --help` for --{name}"),
                )
            })?;
            let relative = !value.is_empty() && Path::new(&value).is_relative();
            resolved.push(if relative && opt.is_path(&value) {
                base.join(&value).display().to_string()
            } else {
                value
            });
        }
        out.push((opt, resolved));
    }
    Ok(out)
}

/// A string or a number as the text an option takes.
fn scalar(value: &DeValue) -> Option<String> {
    match value {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(|n| n.to_string()),
        DeValue::Float(f) => Some(f.as_str().replace('_', "")),
        _ => None,
    }
}

/// "a string", "an array", … for messages.
fn a_type(value: &DeValue) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The known key nearest to `key` (at most a third of its length in edits away).
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let normalised = key.to_ascii_lowercase().replace('_', "-");
    known
        .iter()
        .map(|k| (edit_distance(&normalised, k), *k))
        .filter(|(d, _)| *d <= (key.len() / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance between two short strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::cli::{BuildArgs, Command};

    /// A directory of its own for one test, removed when dropped.
    struct Dir(PathBuf);

    impl Dir {
        fn new(label: &str) -> Dir {
            let dir =
                std::env::temp_dir().join(format!("slim-config-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
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
        let err = config_error(&dir, &["app:1"], &[("SLIM_STRICT", "maybe")]);
        assert!(
            err.starts_with("environment variable SLIM_STRICT: "),
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
        std::fs::create_dir_all(dir.0.join("ci")).unwrap();
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
        // Options that choose the file, and hidden ones, are not keys.
        for key in [
            "config = \"x.toml\"",
            "no-config = true",
            "test-drop = [\"/x\"]",
            "image = \"a\"",
        ] {
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
            "no-keep",
            "profile",
            "no-auto-profile",
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
        for meta in ["help", "config", "no-config", "test-drop"] {
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
}
