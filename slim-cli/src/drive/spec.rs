//! The user's own HTTP probes: `--probe 'METHOD TARGET [HEADER]... [BODY]'` on the command
//! line, and `--probe-file FILE`, a list of requests in TOML or YAML.
//!
//! ```text
//! --probe 'GET /health'
//! --probe '/health'                                     (GET is implied)
//! --probe 'POST /api/items {"a":1}'                     (JSON body: Content-Type set)
//! --probe 'POST :8080/login "X-Token: a b" user=x'      (port, quoted header, form body)
//! --probe 'GET https://:8443/status Accept:text/plain'  (HTTPS on port 8443)
//! ```
//!
//! Files are parsed when the command line is resolved, never while clap parses.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::http::Scheme;
use super::url::{Url, encode_target};
use super::{FoundBy, HttpProbe};

/// Parses one `--probe` value.
pub fn parse_probe(text: &str) -> Result<HttpProbe, String> {
    let text = text.trim();
    let (first, rest) = split_token(text);
    if first.is_empty() {
        return Err("the probe is empty; write `METHOD /path`, e.g. `GET /health`".into());
    }
    let (method, target, rest) = if looks_like_target(first) {
        ("GET".to_string(), first, rest)
    } else {
        let (target, rest) = split_token(rest);
        if target.is_empty() {
            return Err(format!(
                "{text:?} names no path; write `METHOD /path`, e.g. `{first} /`"
            ));
        }
        (check_method(first)?, target, rest)
    };
    let (port, scheme, path) = parse_target(target)?;
    let mut headers = Vec::new();
    let mut rest = rest.trim_start();
    let mut body = None;
    while !rest.is_empty() {
        if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let end = rest[1..]
                .find(quote)
                .ok_or_else(|| format!("unclosed {quote} in {text:?}"))?;
            let header = &rest[1..=end];
            headers.push(
                parse_header(header).ok_or_else(|| {
                    format!("{header:?} in {text:?} is not a header `Name: value`")
                })?,
            );
            rest = rest[end + 2..].trim_start();
            continue;
        }
        let (token, after) = split_token(rest);
        match parse_header(token) {
            Some(header) if is_header_token(token) => {
                headers.push(header);
                rest = after.trim_start();
            }
            _ => {
                body = Some(rest.to_string());
                break;
            }
        }
    }
    if let Some(body) = &body
        && !has_header(&headers, "content-type")
    {
        let json = body.starts_with('{') || body.starts_with('[');
        headers.push((
            "Content-Type".into(),
            if json {
                "application/json"
            } else {
                "application/x-www-form-urlencoded"
            }
            .into(),
        ));
    }
    Ok(HttpProbe {
        port,
        scheme,
        method,
        path,
        headers,
        body,
        expect_status: None,
        found_by: FoundBy::User,
    })
}

fn split_token(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    }
}

fn looks_like_target(token: &str) -> bool {
    token.starts_with('/')
        || token.starts_with(':')
        || token.starts_with("http://")
        || token.starts_with("https://")
}

fn check_method(method: &str) -> Result<String, String> {
    if method.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(method.to_ascii_uppercase())
    } else {
        Err(format!(
            "{method:?} is not an HTTP method; write `METHOD /path`, e.g. `GET /health`"
        ))
    }
}

/// `/path`, `:PORT/path`, or `http(s)://[HOST][:PORT]/path` (the host is ignored: probes
/// go to the container).
fn parse_target(target: &str) -> Result<(Option<u16>, Option<Scheme>, String), String> {
    if let Some((scheme, rest)) = target
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
    {
        let not_a_url = || format!("{target:?} is not a URL like https://:8443/path");
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let port = match authority.rsplit_once(':') {
            Some((_, port)) if !authority.ends_with(']') => {
                Some(port.parse::<u16>().map_err(|_| not_a_url())?)
            }
            _ => None,
        };
        // The host is not used; a stand-in lets the URL parser normalise the path.
        let url = Url::parse(&format!("{scheme}://container{path}")).ok_or_else(not_a_url)?;
        let scheme = if scheme == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        };
        return Ok((port, Some(scheme), url.target));
    }
    if let Some(rest) = target.strip_prefix(':') {
        let slash = rest.find('/').unwrap_or(rest.len());
        let port = rest[..slash]
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{target:?} does not start with a port, as in :8080/path"))?;
        let path = if slash == rest.len() {
            "/"
        } else {
            &rest[slash..]
        };
        return Ok((Some(port), None, encode_target(path)));
    }
    check_path(target)?;
    Ok((None, None, encode_target(target)))
}

fn check_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(format!("{path:?} is not a path starting with `/`"))
    }
}

/// `Name: value` with a valid header name.
fn parse_header(text: &str) -> Option<(String, String)> {
    let (name, value) = text.split_once(':')?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    valid.then(|| (name.to_string(), value.trim().to_string()))
}

/// An unquoted token is a header only if the name is followed by its value (`Name:value`)
/// or nothing; `http://…` bodies are no headers.
fn is_header_token(token: &str) -> bool {
    !token.contains("://")
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Why a probe file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProbeFileError {
    #[error("cannot read --probe-file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "--probe-file {path} is not valid {format}: {message}\nhint: the file holds a list \
         `probes` (`[[probe]]` tables in TOML) of requests with method, path and optionally \
         port, scheme, headers, body or json, expect"
    )]
    Parse {
        path: String,
        format: &'static str,
        message: String,
    },
    #[error("--probe-file {path}, probe {index}: {message}")]
    Invalid {
        path: String,
        index: usize,
        message: String,
    },
    #[error(
        "--probe-file {path}: cannot tell TOML from YAML\nhint: name the file *.toml, \
         *.yaml or *.yml"
    )]
    UnknownFormat { path: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeFile {
    #[serde(alias = "probe", default)]
    probes: Vec<FileProbe>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileProbe {
    #[serde(default)]
    method: Option<String>,
    path: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    scheme: Option<Scheme>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    /// A body written as data and sent as JSON.
    #[serde(default)]
    json: Option<serde_json::Value>,
    #[serde(default, alias = "expect_status", alias = "status")]
    expect: Option<u16>,
}

/// Reads a probe file: TOML (`*.toml`) or YAML (`*.yaml`, `*.yml`, and `*.json`, which
/// YAML reads too).
pub fn read_probe_file(path: &Path) -> Result<Vec<HttpProbe>, ProbeFileError> {
    let shown = path.display().to_string();
    #[expect(
        clippy::disallowed_methods,
        reason = "the error it maps to names the file"
    )]
    let text = std::fs::read_to_string(path).map_err(|source| ProbeFileError::Read {
        path: shown.clone(),
        source,
    })?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match extension.as_deref() {
        Some("toml") => ProbeFileFormat::Toml,
        Some("yaml" | "yml" | "json") => ProbeFileFormat::Yaml,
        _ => return Err(ProbeFileError::UnknownFormat { path: shown }),
    };
    parse_probe_file(&text, format, &shown)
}

/// The languages a probe file may be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeFileFormat {
    Toml,
    Yaml,
}

/// Parses the text of a probe file (`path` only names it in errors).
pub fn parse_probe_file(
    text: &str,
    format: ProbeFileFormat,
    path: &str,
) -> Result<Vec<HttpProbe>, ProbeFileError> {
    let file: ProbeFile = match format {
        ProbeFileFormat::Toml => toml::from_str(text).map_err(|e| ProbeFileError::Parse {
            path: path.to_string(),
            format: "TOML",
            message: e.message().to_string(),
        })?,
        ProbeFileFormat::Yaml => {
            serde_yaml_ng::from_str(text).map_err(|e| ProbeFileError::Parse {
                path: path.to_string(),
                format: "YAML",
                message: e.to_string(),
            })?
        }
    };
    file.probes
        .into_iter()
        .enumerate()
        .map(|(i, probe)| {
            probe
                .into_probe()
                .map_err(|message| ProbeFileError::Invalid {
                    path: path.to_string(),
                    index: i + 1,
                    message,
                })
        })
        .collect()
}

impl FileProbe {
    fn into_probe(self) -> Result<HttpProbe, String> {
        let method = check_method(self.method.as_deref().unwrap_or("GET"))?;
        check_path(&self.path)?;
        let mut headers: Vec<(String, String)> = self.headers.into_iter().collect();
        for (name, _) in &headers {
            if parse_header(&format!("{name}:")).is_none() {
                return Err(format!("{name:?} is not a header name"));
            }
        }
        let body = match (self.body, self.json) {
            (Some(_), Some(_)) => return Err("give either body or json, not both".into()),
            (Some(body), None) => Some(body),
            (None, Some(json)) => {
                if !has_header(&headers, "content-type") {
                    headers.push(("Content-Type".into(), "application/json".into()));
                }
                Some(json.to_string())
            }
            (None, None) => None,
        };
        if let Some(status) = self.expect
            && !(100..=599).contains(&status)
        {
            return Err(format!("expect = {status} is not an HTTP status"));
        }
        Ok(HttpProbe {
            port: self.port,
            scheme: self.scheme,
            method,
            path: encode_target(&self.path),
            headers,
            body,
            expect_status: self.expect,
            found_by: FoundBy::User,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(text: &str) -> HttpProbe {
        parse_probe(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn command_line_probes() {
        let p = probe("GET /health");
        assert_eq!(
            (p.method.as_str(), p.path.as_str(), p.port, p.scheme),
            ("GET", "/health", None, None)
        );
        assert!(p.headers.is_empty() && p.body.is_none());
        assert_eq!(probe("/x?y=1").method, "GET");
        assert_eq!(probe("delete /items/1").method, "DELETE");

        let p = probe(r#"POST /api/items {"a": 1, "b": "two words"}"#);
        assert_eq!(p.body.as_deref(), Some(r#"{"a": 1, "b": "two words"}"#));
        assert_eq!(
            p.headers,
            [("Content-Type".to_string(), "application/json".to_string())]
        );

        let p = probe(r#"POST :8080/login "X-Token: a b" Accept:text/plain user=x&y=1"#);
        assert_eq!(p.port, Some(8080));
        assert_eq!(p.path, "/login");
        assert_eq!(
            p.headers,
            [
                ("X-Token".to_string(), "a b".to_string()),
                ("Accept".to_string(), "text/plain".to_string()),
                (
                    "Content-Type".to_string(),
                    "application/x-www-form-urlencoded".to_string()
                ),
            ]
        );
        assert_eq!(p.body.as_deref(), Some("user=x&y=1"));

        let p = probe("PUT https://:8443/a%20b Content-Type:text/plain hello there");
        assert_eq!((p.port, p.scheme), (Some(8443), Some(Scheme::Https)));
        assert_eq!(p.path, "/a%20b");
        assert_eq!(p.body.as_deref(), Some("hello there"));
        assert_eq!(p.headers.len(), 1);

        let p = probe(":9000");
        assert_eq!((p.port, p.path.as_str()), (Some(9000), "/"));
    }

    #[test]
    fn bad_command_line_probes_say_what_is_wrong() {
        for (text, says) in [
            ("", "empty"),
            ("GET", "no path"),
            ("GET health", "starting with `/`"),
            ("G3T /", "not an HTTP method"),
            ("GET :http/x", "port"),
            ("GET / 'X-A: 1", "unclosed"),
            ("GET / 'not a header'", "not a header"),
        ] {
            let err = parse_probe(text).expect_err(text);
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }

    #[test]
    fn toml_probe_files() {
        let text = r#"
[[probe]]
path = "/health"
expect = 200

[[probe]]
method = "post"
path = "/api/items"
port = 8080
headers = { Authorization = "Bearer t" }
json = { a = 1, tags = ["x"] }

[[probe]]
method = "PUT"
path = "/raw"
scheme = "https"
body = "plain text"
headers = { "Content-Type" = "text/plain" }
"#;
        let probes = parse_probe_file(text, ProbeFileFormat::Toml, "p.toml").unwrap();
        assert_eq!(probes.len(), 3);
        assert_eq!(
            (probes[0].method.as_str(), probes[0].expect_status),
            ("GET", Some(200))
        );
        assert_eq!(probes[1].method, "POST");
        assert_eq!(probes[1].port, Some(8080));
        assert_eq!(probes[1].body.as_deref(), Some(r#"{"a":1,"tags":["x"]}"#));
        assert!(
            probes[1]
                .headers
                .contains(&("Content-Type".into(), "application/json".into()))
        );
        assert_eq!(probes[2].scheme, Some(Scheme::Https));
        assert_eq!(probes[2].headers.len(), 1);
    }

    #[test]
    fn yaml_probe_files() {
        let text = r#"
probes:
  - path: /
  - method: POST
    path: /api/items
    headers:
      X-Request-Id: "42"
    json: {a: 1}
    expect: 201
  - path: /missing
    status: 404
"#;
        let probes = parse_probe_file(text, ProbeFileFormat::Yaml, "p.yaml").unwrap();
        assert_eq!(probes.len(), 3);
        assert_eq!(probes[1].body.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(probes[1].expect_status, Some(201));
        assert_eq!(probes[2].expect_status, Some(404));
        assert!(
            probes[1]
                .headers
                .contains(&("X-Request-Id".into(), "42".into()))
        );
    }

    #[test]
    fn bad_probe_files_name_the_file_and_the_probe() {
        let err = parse_probe_file(
            "[[probe]]\nmethod = 'GET'\n",
            ProbeFileFormat::Toml,
            "a.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("a.toml") && err.contains("path"), "{err}");
        let err = parse_probe_file(
            "probes:\n  - path: /ok\n  - path: nope\n",
            ProbeFileFormat::Yaml,
            "b.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("b.yaml, probe 2"), "{err}");
        let err = parse_probe_file(
            "probes:\n  - path: /\n    body: x\n    json: {}\n",
            ProbeFileFormat::Yaml,
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("either body or json"), "{err}");
        let err = parse_probe_file(
            "probes:\n  - path: /\n    colour: red\n",
            ProbeFileFormat::Yaml,
            "d.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn probe_files_are_read_by_extension() {
        let dir = std::env::temp_dir().join(format!("slim-spec-test-{}", std::process::id()));
        fs_err::create_dir_all(&dir).unwrap();
        let toml_file = dir.join("probes.toml");
        fs_err::write(&toml_file, "[[probe]]\npath = '/t'\n").unwrap();
        let yaml_file = dir.join("probes.yml");
        fs_err::write(&yaml_file, "probes: [{path: /y}]\n").unwrap();
        let other = dir.join("probes.txt");
        fs_err::write(&other, "").unwrap();
        assert_eq!(read_probe_file(&toml_file).unwrap()[0].path, "/t");
        assert_eq!(read_probe_file(&yaml_file).unwrap()[0].path, "/y");
        assert!(matches!(
            read_probe_file(&other),
            Err(ProbeFileError::UnknownFormat { .. })
        ));
        assert!(matches!(
            read_probe_file(&dir.join("absent.toml")),
            Err(ProbeFileError::Read { .. })
        ));
        fs_err::remove_dir_all(&dir).unwrap();
    }
}
