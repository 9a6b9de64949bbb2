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
pub struct MergedArgs {
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
) -> Result<MergedArgs, ParseError> {
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let mut command = Cli::command();
    command.build();
    let matches = command
        .clone()
        .try_get_matches_from(&argv)
        .map_err(ParseError::Clap)?;
    let Some(("build", given)) = matches.subcommand() else {
        return Cli::from_arg_matches(&matches)
            .map(|cli| MergedArgs {
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
            .map(|cli| MergedArgs { cli, sources })
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
    Ok(MergedArgs { cli, sources })
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
        .map(|k| (strsim::levenshtein(&normalised, k), *k))
        .filter(|(d, _)| *d <= (key.len() / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests;
