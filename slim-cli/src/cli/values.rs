//! Value parsers of the command line: each turns one argument's text into a value or a
//! message clap shows; no I/O.

use std::time::Duration;

use crate::drive::{HttpProbe, spec};
use crate::keep::KeepList;
/// One `-e` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvArg {
    pub key: String,
    /// `None` for `-e KEY`: take slim's own value.
    pub value: Option<String>,
}

pub(super) fn parse_env(text: &str) -> Result<EnvArg, String> {
    let (key, value) = match text.split_once('=') {
        Some((key, value)) => (key, Some(value.to_string())),
        None => (text, None),
    };
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(format!(
            "{text:?} is not KEY=VAL with a non-empty KEY without spaces"
        ));
    }
    Ok(EnvArg {
        key: key.to_string(),
        value,
    })
}

pub(super) fn parse_timeout(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|secs| *secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

pub(super) fn parse_container_name(text: &str) -> Result<String, String> {
    let mut chars = text.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is not a container name: use letters, digits, `_`, `.` and `-`, \
             starting with a letter or digit"
        ))
    }
}

pub(super) fn parse_non_empty(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(text.to_string())
    }
}

pub(super) fn parse_volume(text: &str) -> Result<String, String> {
    let mut parts = text.split(':');
    let (src, dest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if src.is_empty() || !dest.starts_with('/') {
        return Err(format!(
            "{text:?} is not SRC:DEST[:OPTS] with an absolute DEST"
        ));
    }
    Ok(text.to_string())
}

pub(super) fn parse_tmpfs(text: &str) -> Result<String, String> {
    if text.starts_with('/') {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not DEST[:OPTS] with an absolute DEST"))
    }
}

pub(super) fn parse_keep_list(text: &str) -> Result<KeepList, String> {
    KeepList::from_name(text).ok_or_else(|| {
        format!(
            "{text:?} is not a keep-list; the lists are {}",
            KeepList::ALL.map(KeepList::name).join(", ")
        )
    })
}

/// Splits a command line: a JSON array of strings as it is, otherwise the words a POSIX
/// shell reads (single and double quotes, backslashes, a `#` comment), without expansions.
pub fn parse_command(text: &str) -> Result<Vec<String>, String> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str::<Vec<String>>(text)
            .map_err(|e| format!("{text:?} is not a JSON array of strings: {e}"))
            .and_then(|v| {
                if v.is_empty() {
                    Err("the command is empty".into())
                } else {
                    Ok(v)
                }
            });
    }
    let words = shlex::split(text)
        .ok_or_else(|| format!("{text:?} has an unclosed quote or ends with a backslash"))?;
    if words.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(words)
}

/// A command as an argument vector (one option value, not several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandArgv(pub Vec<String>);

pub(super) fn parse_command_arg(text: &str) -> Result<CommandArgv, String> {
    parse_command(text).map(CommandArgv)
}

/// An `--exec` command: a JSON array as it is, anything else through `sh -c`.
pub(super) fn parse_exec(text: &str) -> Result<CommandArgv, String> {
    if text.trim_start().starts_with('[') {
        parse_command_arg(text)
    } else if text.trim().is_empty() {
        Err("the command is empty".into())
    } else {
        Ok(CommandArgv(vec![
            "/bin/sh".into(),
            "-c".into(),
            text.to_string(),
        ]))
    }
}

/// One method of `--openapi-methods`, upper-cased.
pub(super) fn parse_openapi_method(text: &str) -> Result<String, String> {
    let method = text.trim().to_ascii_uppercase();
    if crate::drive::openapi::METHODS
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&method))
    {
        Ok(method)
    } else {
        Err(format!(
            "{text:?} is not a method an OpenAPI document names; give a list of GET, HEAD, \
             OPTIONS, POST, PUT, PATCH, DELETE, e.g. GET,POST"
        ))
    }
}

pub(super) fn parse_probe_arg(text: &str) -> Result<HttpProbe, String> {
    spec::parse_probe(text)
}

pub(super) fn parse_workdir(text: &str) -> Result<String, String> {
    if text.starts_with('/') {
        Ok(text.to_string())
    } else {
        Err(format!("{text:?} is not an absolute path"))
    }
}

/// Parses `SIZE[K|M|G]` (binary multiples, `B`/`iB` suffixes and case accepted) into a
/// ring buffer size: a power of two from 4 KiB up to 2 GiB.
pub fn parse_ring_buffer_size(text: &str) -> Result<u32, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let lower = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 10),
        Some('m') => (&lower[..lower.len() - 1], 20),
        Some('g') => (&lower[..lower.len() - 1], 30),
        _ => (lower, 0),
    };
    let bytes = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("{text:?} is not a size like 64M, 512K or 1G"))?;
    if !bytes.is_power_of_two() || bytes < 4096 {
        return Err(format!(
            "{text:?} ({bytes} bytes) is not a power of two of at least 4K"
        ));
    }
    u32::try_from(bytes).map_err(|_| format!("{text:?} is larger than the 2G maximum"))
}
