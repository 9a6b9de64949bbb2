//! OpenAPI documents turned into probes: requests for every operation, with path, query,
//! header and body filled from the document's examples or defaults (or a value of the
//! right type, `values`; bodies in `bodies`), so each endpoint's handler runs while the
//! probe watches.
//!
//! Reads OpenAPI 3.x (and Swagger 2.0, which differs only in where things are), in JSON
//! or YAML, from `--openapi FILE` or from the application itself (`/openapi.json` …).
//! Only local references (`#/components/…`) are followed.

use std::path::Path;

use serde_json::Value;

mod bodies;
mod values;

use crate::drive::url::encode_component;
use bodies::{body_of, form_body, multipart_body};
use values::{explicit_json, explicit_value, instance, value_for};

/// Where applications commonly serve their OpenAPI document.
pub const COMMON_PATHS: &[&str] = &[
    "/openapi.json",
    "/openapi.yaml",
    "/swagger.json",
    "/api/openapi.json",
    "/v3/api-docs",
    "/api-docs",
];

/// One request made from an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationProbe {
    /// `POST /items/{id}`, as the document names it.
    pub operation: String,
    pub method: String,
    /// The request target with values filled in.
    pub target: String,
    /// Required header parameters, credentials, the body's `Content-Type` and an `Accept`
    /// for the documented answer.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    /// Another valid request for the same operation, with other values: sent when this
    /// one is answered 4xx.
    pub alternate: Option<Box<OperationProbe>>,
}

/// An operation that was not probed, and why.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct SkippedOperation {
    pub operation: String,
    pub reason: String,
}

/// What to make of a document: the methods to probe (empty: all) and the headers the user
/// gave that may carry credentials.
#[derive(Clone, Debug, Default)]
pub struct OperationOptions<'a> {
    pub methods: &'a [String],
    pub credentials: &'a [(String, String)],
}

/// The requests made from a document's operations, and the operations left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Operations {
    pub probes: Vec<OperationProbe>,
    pub skipped: Vec<SkippedOperation>,
}

/// Methods in the order their operations are probed: what only reads first, what writes
/// next, what deletes last.
pub const METHODS: &[&str] = &["get", "head", "options", "post", "put", "patch", "delete"];

/// Whether `method` changes nothing on the server.
pub fn is_safe(method: &str) -> bool {
    matches!(
        method.to_ascii_uppercase().as_str(),
        "GET" | "HEAD" | "OPTIONS" | "TRACE"
    )
}

/// The headers of the user's probes that may carry credentials (all but those that
/// describe the request or the answer wanted), first of each name.
pub fn credentials_of(probes: &[super::HttpProbe]) -> Vec<(String, String)> {
    const NOT_CREDENTIALS: &[&str] = &[
        "accept",
        "accept-encoding",
        "accept-language",
        "content-type",
        "content-length",
        "user-agent",
        "host",
    ];
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in probes.iter().flat_map(|p| &p.headers) {
        let lower = name.to_ascii_lowercase();
        if !NOT_CREDENTIALS.contains(&lower.as_str())
            && !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            out.push((name.clone(), value.clone()));
        }
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    #[error("cannot read --openapi {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("--openapi {path} is neither JSON nor YAML: {message}")]
    Parse { path: String, message: String },
    #[error(
        "--openapi {path} is not an OpenAPI document\nhint: it needs an `openapi: 3.x` (or \
         `swagger: \"2.0\"`) field and `paths`"
    )]
    NotOpenApi { path: String },
}

/// Parses a document in JSON or YAML; `None` when it is neither.
pub fn parse(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => Ok(value),
        Err(json) => {
            let yaml: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(text).map_err(|e| format!("{json}; as YAML: {e}"))?;
            Ok(yaml_to_json(yaml))
        }
    }
}

/// YAML to JSON, with non-string keys (`200:`) written as strings.
fn yaml_to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => match yaml_to_json(other) {
                            Value::String(s) => s,
                            v => v.to_string(),
                        },
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

/// Whether `doc` is an OpenAPI 3 or Swagger 2 document.
pub fn is_openapi(doc: &Value) -> bool {
    let version = doc
        .get("openapi")
        .or_else(|| doc.get("swagger"))
        .and_then(Value::as_str)
        .unwrap_or("");
    (version.starts_with('3') || version.starts_with('2')) && doc["paths"].is_object()
}

/// Reads `--openapi FILE`.
pub fn read(path: &Path) -> Result<Value, OpenApiError> {
    let shown = path.display().to_string();
    #[expect(
        clippy::disallowed_methods,
        reason = "the error it maps to names the file"
    )]
    let text = std::fs::read_to_string(path).map_err(|source| OpenApiError::Read {
        path: shown.clone(),
        source,
    })?;
    let doc = parse(&text).map_err(|message| OpenApiError::Parse {
        path: shown.clone(),
        message,
    })?;
    if is_openapi(&doc) {
        Ok(doc)
    } else {
        Err(OpenApiError::NotOpenApi { path: shown })
    }
}

/// One probe for each operation of `doc`, every method.
pub fn probes(doc: &Value) -> Vec<OperationProbe> {
    operations(doc, &OperationOptions::default()).probes
}

/// A request for each operation of `doc` with a method of `options.methods` (all when
/// empty): those that only read first, then those that write, then DELETE, each group in
/// the order of the paths. An operation that needs credentials the user did not give is
/// skipped.
pub fn operations(doc: &Value, options: &OperationOptions<'_>) -> Operations {
    let mut out = Operations::default();
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    let wanted = |method: &str| {
        options.methods.is_empty()
            || options
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(method))
    };
    for method in METHODS {
        for (template, item) in paths {
            let item = resolve(doc, item);
            let Some(operation) = item.get(*method).map(|o| resolve(doc, o)) else {
                continue;
            };
            let name = format!("{} {template}", method.to_ascii_uppercase());
            if !wanted(method) {
                out.skipped.push(SkippedOperation {
                    operation: name,
                    reason: "its method is not in --openapi-methods".into(),
                });
                continue;
            }
            let credentials = match credentials(doc, operation, options.credentials) {
                Ok(headers) => headers,
                Err(reason) => {
                    out.skipped.push(SkippedOperation {
                        operation: name,
                        reason,
                    });
                    continue;
                }
            };
            let request = |variant| {
                let mut probe = request(doc, item, operation, template, method, variant);
                probe.operation = name.clone();
                merge(&mut probe.headers, &credentials);
                probe
            };
            let mut probe = request(0);
            let second = request(1);
            if (&second.target, &second.body) != (&probe.target, &probe.body) {
                probe.alternate = Some(Box::new(second));
            }
            out.probes.push(probe);
        }
    }
    out
}

/// Adds `extra` headers unless one of the same name is there.
fn merge(headers: &mut Vec<(String, String)>, extra: &[(String, String)]) {
    for (name, value) in extra {
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            headers.push((name.clone(), value.clone()));
        }
    }
}

/// The headers that authenticate `operation` (none when it needs none), or why it cannot
/// be: it needs credentials that none of `given` carries.
fn credentials(
    doc: &Value,
    operation: &Value,
    given: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    let requirements = operation
        .get("security")
        .or_else(|| doc.get("security"))
        .and_then(Value::as_array);
    let Some(requirements) = requirements.filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let schemes = doc
        .pointer("/components/securitySchemes")
        .or_else(|| doc.get("securityDefinitions"));
    let mut needed = Vec::new();
    for requirement in requirements {
        let Some(names) = requirement.as_object() else {
            continue;
        };
        let mut headers = Vec::new();
        let mut missing = None;
        for name in names.keys() {
            let scheme = schemes
                .and_then(|s| s.get(name))
                .map(|s| resolve(doc, s))
                .unwrap_or(&Value::Null);
            let header = match (scheme["type"].as_str(), scheme["in"].as_str()) {
                (Some("apiKey"), Some("header")) => scheme["name"]
                    .as_str()
                    .unwrap_or("Authorization")
                    .to_string(),
                (Some("apiKey"), Some("cookie")) => "Cookie".to_string(),
                _ => "Authorization".to_string(),
            };
            match given.iter().find(|(n, _)| n.eq_ignore_ascii_case(&header)) {
                Some(found) => headers.push(found.clone()),
                None => {
                    missing = Some(format!("{name} (the {header} header)"));
                }
            }
        }
        match missing {
            // A requirement with no scheme (`{}`) means the operation may be anonymous.
            None => return Ok(headers),
            Some(what) => needed.push(what),
        }
    }
    Err(format!(
        "it needs authentication: {}\nhint: give the header with a --probe (e.g. --probe \
         'GET / \"Authorization: Bearer TOKEN\"') or in slim.toml's probes",
        needed.join(" or ")
    ))
}

/// The request of `method` on `template` (`variant` 0: the document's own values first;
/// 1: a second, different valid instance).
fn request(
    doc: &Value,
    item: &Value,
    operation: &Value,
    template: &str,
    method: &str,
    variant: usize,
) -> OperationProbe {
    let base = base_path(doc);
    let mut parameters: Vec<&Value> = Vec::new();
    // Operation parameters override path-item ones with the same name and place.
    for p in array(operation.get("parameters")).chain(array(item.get("parameters"))) {
        let p = resolve(doc, p);
        let key = (p["name"].as_str(), p["in"].as_str());
        if !parameters
            .iter()
            .any(|q| (q["name"].as_str(), q["in"].as_str()) == key)
        {
            parameters.push(p);
        }
    }
    // Required ones first, so what must be sent is never crowded out.
    parameters.sort_by_key(|p| !p["required"].as_bool().unwrap_or(false));
    let mut path = template.to_string();
    let mut query = Vec::new();
    let mut headers = Vec::new();
    let mut cookies = Vec::new();
    let mut form: Vec<(&Value, bool)> = Vec::new();
    let mut body = None;
    for p in &parameters {
        let Some(name) = p["name"].as_str() else {
            continue;
        };
        let required = p["required"].as_bool().unwrap_or(false);
        match p["in"].as_str() {
            Some("path") => {
                let value = value_for(doc, p, name, variant).unwrap_or_else(|| "1".into());
                path = path.replace(&format!("{{{name}}}"), &encode_component(&value));
            }
            Some("query") => {
                let value = explicit_value(doc, p, variant).or_else(|| {
                    required.then(|| value_for(doc, p, name, variant).unwrap_or_else(|| "1".into()))
                });
                if let Some(value) = value {
                    query.push(format!(
                        "{}={}",
                        encode_component(name),
                        encode_component(&value)
                    ));
                }
            }
            Some("header") if required => {
                headers.push((
                    name.to_string(),
                    value_for(doc, p, name, variant).unwrap_or_else(|| "1".into()),
                ));
            }
            Some("cookie") if required => {
                let value = value_for(doc, p, name, variant).unwrap_or_else(|| "1".into());
                cookies.push(format!("{name}={value}"));
            }
            // Swagger 2.0 bodies.
            Some("body") => {
                let schema = p.get("schema").unwrap_or(&Value::Null);
                body = Some((
                    "application/json".to_string(),
                    instance(doc, schema, variant, 0).to_string(),
                ));
            }
            Some("formData") => form.push((p, p["type"] == "file")),
            _ => {}
        }
    }
    if !cookies.is_empty() {
        headers.push(("Cookie".into(), cookies.join("; ")));
    }
    if body.is_none() && !form.is_empty() {
        let consumes = array(operation.get("consumes"))
            .chain(array(doc.get("consumes")))
            .filter_map(Value::as_str)
            .collect::<Vec<_>>();
        let multipart = form.iter().any(|(_, file)| *file)
            || consumes.iter().any(|c| c.starts_with("multipart/"));
        let fields: Vec<(String, Value, bool)> = form
            .iter()
            .filter_map(|(p, file)| {
                let name = p["name"].as_str()?;
                let value = if *file {
                    Value::Null
                } else {
                    explicit_json(doc, p, variant).unwrap_or_else(|| instance(doc, p, variant, 0))
                };
                Some((name.to_string(), value, *file))
            })
            .collect();
        body = Some(if multipart {
            multipart_body(&fields)
        } else {
            form_body(&fields)
        });
    }
    if body.is_none()
        && let Some(request_body) = operation.get("requestBody").map(|b| resolve(doc, b))
    {
        body = body_of(doc, request_body, variant);
    }
    if let Some((content_type, _)) = &body {
        headers.push(("Content-Type".into(), content_type.clone()));
    }
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("accept"))
    {
        headers.push(("Accept".into(), accept(doc, operation)));
    }
    let mut target = format!("{base}{path}");
    if !target.starts_with('/') {
        target.insert(0, '/');
    }
    if !query.is_empty() {
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(&query.join("&"));
    }
    OperationProbe {
        operation: format!("{} {template}", method.to_ascii_uppercase()),
        method: method.to_ascii_uppercase(),
        target,
        headers,
        body: body.map(|(_, b)| b),
        alternate: None,
    }
}

fn array(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

/// Follows local `$ref`s (a bounded number of times).
fn resolve<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            break;
        };
        match doc.pointer(pointer) {
            Some(target) => value = target,
            None => break,
        }
    }
    value
}

/// The path prefix of the first server (`servers[0].url`, variables at their defaults),
/// or Swagger's `basePath`.
fn base_path(doc: &Value) -> String {
    if let Some(base) = doc["basePath"].as_str() {
        return base.trim_end_matches('/').to_string();
    }
    let server = &doc["servers"][0];
    let Some(url) = server["url"].as_str() else {
        return String::new();
    };
    let mut url = url.to_string();
    if let Some(variables) = server["variables"].as_object() {
        for (name, variable) in variables {
            if let Some(default) = variable["default"].as_str() {
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
    }
    let path = match url.find("://") {
        Some(i) => url[i + 3..].find('/').map_or("", |p| &url[i + 3 + p..]),
        None => url.as_str(),
    };
    path.trim_end_matches('/').to_string()
}

/// The media type the operation answers with, for `Accept`.
fn accept(doc: &Value, operation: &Value) -> String {
    let responses = resolve(doc, &operation["responses"]);
    let answer = ["200", "201", "2XX", "default"]
        .iter()
        .map(|code| resolve(doc, &responses[*code]))
        .find(|r| !r.is_null());
    answer
        .and_then(|r| r["content"].as_object())
        .and_then(|content| content.keys().next().cloned())
        .or_else(|| {
            operation["produces"]
                .as_array()
                .and_then(|p| p.first())
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "application/json".into())
}

#[cfg(test)]
mod tests;
