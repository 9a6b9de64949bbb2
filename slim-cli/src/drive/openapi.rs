//! OpenAPI documents turned into probes: one request per GET operation, with its path and
//! required query parameters filled from the document's examples or defaults (or a value
//! of the right type), so each endpoint's handler runs while the probe watches.
//!
//! Reads OpenAPI 3.x (and Swagger 2.0, which differs only in where things are), in JSON
//! or YAML, from `--openapi FILE` or from the application itself (`/openapi.json` …).
//! Only local references (`#/components/…`) are followed.

use std::path::Path;

use serde_json::Value;

use super::url::encode_component;

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

/// The boundary of generated multipart bodies.
const BOUNDARY: &str = "slim-probe-boundary-5f2c9a";

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

/// An OpenAPI 3 request body: `(content type, body)`, JSON preferred, then a form, then
/// multipart, then text.
fn body_of(doc: &Value, request_body: &Value, variant: usize) -> Option<(String, String)> {
    let content = request_body["content"].as_object()?;
    let rank = |media: &str| {
        let media = media.to_ascii_lowercase();
        if media == "application/json" || media.ends_with("+json") {
            0
        } else if media == "application/x-www-form-urlencoded" {
            1
        } else if media.starts_with("multipart/") {
            2
        } else if media.starts_with("text/") {
            3
        } else {
            4
        }
    };
    let (media, spec) = content.iter().min_by_key(|(m, _)| rank(m))?;
    let spec = resolve(doc, spec);
    let schema = spec.get("schema").unwrap_or(&Value::Null);
    let value =
        explicit_json(doc, spec, variant).unwrap_or_else(|| instance(doc, schema, variant, 0));
    let fields = || -> Vec<(String, Value, bool)> {
        let schema = resolve(doc, schema);
        let properties = properties(doc, schema);
        match value.as_object() {
            Some(object) => object
                .iter()
                .map(|(name, v)| {
                    let file = properties
                        .iter()
                        .find(|(n, _)| n == name)
                        .is_some_and(|(_, s)| is_file(doc, s));
                    (name.clone(), v.clone(), file)
                })
                .collect(),
            None => Vec::new(),
        }
    };
    Some(match rank(media) {
        0 => (media.clone(), value.to_string()),
        1 => form_body(&fields()),
        2 => multipart_body(&fields()),
        _ => (
            media.clone(),
            match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        ),
    })
}

/// Whether a property's schema is a file (`format: binary` or `base64`, or a media type).
fn is_file(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    matches!(schema["format"].as_str(), Some("binary" | "base64"))
        || schema.get("contentMediaType").is_some()
        || schema["type"] == "file"
}

fn form_body(fields: &[(String, Value, bool)]) -> (String, String) {
    let pairs: Vec<String> = fields
        .iter()
        .map(|(name, value, _)| {
            format!(
                "{}={}",
                encode_component(name),
                encode_component(&text(value).unwrap_or_default())
            )
        })
        .collect();
    ("application/x-www-form-urlencoded".into(), pairs.join("&"))
}

/// A multipart body, with a small text file for each file field.
fn multipart_body(fields: &[(String, Value, bool)]) -> (String, String) {
    let mut body = String::new();
    for (name, value, file) in fields {
        body.push_str(&format!("--{BOUNDARY}\r\n"));
        if *file {
            body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"slim-probe.txt\"\r\n\
                 Content-Type: text/plain\r\n\r\nslim probe file\n\r\n"
            ));
        } else {
            let value = match value {
                Value::Object(_) => value.to_string(),
                other => text(other).unwrap_or_else(|| other.to_string()),
            };
            body.push_str(&format!(
                "Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            ));
        }
    }
    body.push_str(&format!("--{BOUNDARY}--\r\n"));
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// The properties of an object schema, `allOf` branches merged (a few levels deep: a
/// document may refer to itself).
fn properties<'a>(doc: &'a Value, schema: &'a Value) -> Vec<(String, &'a Value)> {
    fn collect<'a>(
        doc: &'a Value,
        schema: &'a Value,
        depth: usize,
        out: &mut Vec<(String, &'a Value)>,
    ) {
        let schema = resolve(doc, schema);
        if depth > 8 {
            return;
        }
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            if !out.iter().any(|(n, _)| n == name) {
                out.push((name.clone(), property));
            }
        }
        for branch in array(schema.get("allOf")) {
            collect(doc, branch, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    collect(doc, schema, 0, &mut out);
    out
}

/// A value the document gives in `holder` (`example`, `examples`): for `variant` 1 the
/// second example when there is one.
fn explicit_json(doc: &Value, holder: &Value, variant: usize) -> Option<Value> {
    let named: Vec<&Value> = holder
        .get("examples")
        .and_then(Value::as_object)
        .map(|e| {
            e.values()
                .filter_map(|e| resolve(doc, e).get("value"))
                .collect()
        })
        .unwrap_or_default();
    let listed: Vec<&Value> = holder
        .get("examples")
        .and_then(Value::as_array)
        .map(|e| e.iter().collect())
        .unwrap_or_default();
    let all: Vec<&Value> = holder
        .get("example")
        .into_iter()
        .chain(named)
        .chain(listed)
        .collect();
    match variant {
        0 => all.first().map(|v| (*v).clone()),
        _ => all.get(variant).map(|v| (*v).clone()),
    }
}

/// An instance of `schema` (`variant` 0: examples, defaults, first enum values, every
/// property; 1: other values, required properties only).
fn instance(doc: &Value, schema: &Value, variant: usize, depth: usize) -> Value {
    let schema = resolve(doc, schema);
    if depth > 8 {
        return Value::Null;
    }
    if let Some(value) = explicit_json(doc, schema, variant) {
        return value;
    }
    if variant == 0
        && let Some(default) = schema.get("default")
    {
        return default.clone();
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(values) = schema["enum"].as_array().filter(|v| !v.is_empty()) {
        return values[variant % values.len()].clone();
    }
    if let Some(first) = schema["oneOf"]
        .as_array()
        .or_else(|| schema["anyOf"].as_array())
        .and_then(|b| b.first())
    {
        return instance(doc, first, variant, depth + 1);
    }
    let kind = match &schema["type"] {
        Value::String(t) => t.as_str(),
        // OpenAPI 3.1: `type: [string, "null"]`.
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() || schema.get("allOf").is_some() => "object",
        _ if schema.get("items").is_some() => "array",
        _ => "string",
    };
    match kind {
        "object" => {
            let required: Vec<&str> = array(schema.get("required"))
                .chain(
                    array(schema.get("allOf")).flat_map(|b| array(resolve(doc, b).get("required"))),
                )
                .filter_map(Value::as_str)
                .collect();
            let mut fields: Vec<(String, &Value)> = properties(doc, schema)
                .into_iter()
                .filter(|(_, s)| resolve(doc, s)["readOnly"] != true)
                .collect();
            fields.sort_by_key(|(name, _)| !required.contains(&name.as_str()));
            // Deep down (a schema may contain itself), only what is required.
            let all = variant == 0 && depth < 3;
            let object = fields
                .into_iter()
                .filter(|(name, _)| all || required.contains(&name.as_str()))
                .map(|(name, s)| {
                    let value = instance(doc, s, variant, depth + 1);
                    (name, value)
                })
                .collect();
            Value::Object(object)
        }
        "array" => {
            let item = instance(doc, &schema["items"], variant, depth + 1);
            let count = schema["minItems"].as_u64().unwrap_or(1).clamp(1, 8);
            Value::Array(vec![item; usize::try_from(count).unwrap_or(1)])
        }
        "integer" | "number" => number(schema, variant, kind == "integer"),
        "boolean" => Value::Bool(variant == 0),
        "null" => Value::Null,
        _ => Value::String(string(schema, variant)),
    }
}

/// A number within the schema's bounds.
fn number(schema: &Value, variant: usize, integer: bool) -> Value {
    let low = schema["minimum"]
        .as_f64()
        .or_else(|| schema["exclusiveMinimum"].as_f64().map(|m| m + 1.0));
    let high = schema["maximum"]
        .as_f64()
        .or_else(|| schema["exclusiveMaximum"].as_f64().map(|m| m - 1.0));
    let mut value = low.unwrap_or(1.0) + if variant == 0 { 0.0 } else { 1.0 };
    if let Some(high) = high
        && value > high
    {
        value = high;
    }
    if let Some(step) = schema["multipleOf"].as_f64().filter(|s| *s > 0.0) {
        value = (value / step).ceil() * step;
    }
    if integer || value.fract() == 0.0 {
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a bound in a document, rounded on purpose"
        )]
        let whole = value.round() as i64;
        Value::from(whole)
    } else {
        Value::from(value)
    }
}

/// A string of the schema's format, pattern and length.
fn string(schema: &Value, variant: usize) -> String {
    let two = |a: &str, b: &str| if variant == 0 { a } else { b }.to_string();
    let mut value = match schema["format"].as_str() {
        Some("date") => two("2024-01-15", "2024-02-20"),
        Some("date-time") => two("2024-01-15T10:30:00Z", "2024-02-20T16:45:00Z"),
        Some("time") => two("10:30:00", "16:45:00"),
        Some("uuid") => two(
            "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "9b2e1c7a-4d3f-4e8b-a1c2-5d6e7f809a1b",
        ),
        Some("email") => two("user@example.com", "other@example.org"),
        Some("uri" | "url") => two("https://example.com/a", "https://example.org/b"),
        Some("hostname") => two("example.com", "example.org"),
        Some("ipv4") => two("192.0.2.1", "198.51.100.2"),
        Some("ipv6") => two("2001:db8::1", "2001:db8::2"),
        Some("byte") => two("c2xpbQ==", "cHJvYmU="),
        Some("binary") => "slim probe file\n".to_string(),
        Some("password") => two("secret-1", "secret-2"),
        _ => match schema["pattern"]
            .as_str()
            .and_then(|p| from_pattern(p, variant))
        {
            Some(matching) => return matching,
            None => two("example", "sample"),
        },
    };
    let min = schema["minLength"].as_u64().unwrap_or(0);
    while (value.chars().count() as u64) < min {
        value.push('x');
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        value = value
            .chars()
            .take(usize::try_from(max.max(1)).unwrap_or(usize::MAX))
            .collect();
    }
    value
}

/// A string that a simple regular expression matches: literals, escapes (`\d`, `\w`,
/// `\s`), classes (`[a-z0-9]`, the first member taken; `variant` 1 the second),
/// groups with alternatives (the first), `.`, and the quantifiers `?`, `*`, `+`, `{n}`,
/// `{n,m}` (their least count, at least one for `*` and `+`). `None` for what it cannot read.
fn from_pattern(pattern: &str, variant: usize) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut at = 0;
    let out = sequence(&chars, &mut at, variant)?;
    (at == chars.len()).then_some(out)
}

fn sequence(chars: &[char], at: &mut usize, variant: usize) -> Option<String> {
    let mut out = String::new();
    while let Some(&c) = chars.get(*at) {
        let atom = match c {
            ')' => break,
            '|' => {
                // The first alternative is taken: skip the others.
                let mut level = 0;
                while let Some(&c) = chars.get(*at) {
                    match c {
                        '(' => level += 1,
                        ')' if level == 0 => break,
                        ')' => level -= 1,
                        '\\' => *at += 1,
                        _ => {}
                    }
                    *at += 1;
                }
                break;
            }
            '^' | '$' => {
                *at += 1;
                continue;
            }
            '(' => {
                *at += 1;
                if chars.get(*at) == Some(&'?') {
                    // (?:…)
                    *at += 2;
                }
                let inner = sequence(chars, at, variant)?;
                if chars.get(*at) != Some(&')') {
                    return None;
                }
                *at += 1;
                inner
            }
            '[' => {
                *at += 1;
                let mut members = Vec::new();
                let negated = chars.get(*at) == Some(&'^');
                if negated {
                    return None;
                }
                while let Some(&c) = chars.get(*at) {
                    if c == ']' && !members.is_empty() {
                        break;
                    }
                    let c = if c == '\\' {
                        *at += 1;
                        class_of(*chars.get(*at)?)
                    } else {
                        c
                    };
                    if chars.get(*at + 1) == Some(&'-')
                        && chars.get(*at + 2).is_some_and(|e| *e != ']')
                    {
                        let end = chars[*at + 2];
                        members.push(c);
                        if let Some(next) = char::from_u32(c as u32 + 1).filter(|n| *n <= end) {
                            members.push(next);
                        }
                        *at += 3;
                    } else {
                        members.push(c);
                        *at += 1;
                    }
                }
                if chars.get(*at) != Some(&']') {
                    return None;
                }
                *at += 1;
                members
                    .get(variant.min(members.len() - 1))
                    .copied()?
                    .to_string()
            }
            '\\' => {
                *at += 1;
                let c = *chars.get(*at)?;
                *at += 1;
                class_of_variant(c, variant).to_string()
            }
            '.' => {
                *at += 1;
                "a".to_string()
            }
            '*' | '+' | '?' | '{' => return None,
            c => {
                *at += 1;
                c.to_string()
            }
        };
        let count = match chars.get(*at) {
            Some('?') => {
                *at += 1;
                0
            }
            Some('*' | '+') => {
                *at += 1;
                1
            }
            Some('{') => {
                let close = chars[*at..].iter().position(|c| *c == '}')? + *at;
                let inside: String = chars[*at + 1..close].iter().collect();
                let least = inside.split(',').next()?.trim().parse::<usize>().ok()?;
                *at = close + 1;
                least.min(64)
            }
            _ => 1,
        };
        out.push_str(&atom.repeat(count));
    }
    Some(out)
}

/// A character an escape class (`\d` …) matches, or the escaped character itself.
fn class_of(c: char) -> char {
    class_of_variant(c, 0)
}

fn class_of_variant(c: char, variant: usize) -> char {
    match (c, variant) {
        ('d', 0) => '1',
        ('d', _) => '2',
        ('w', 0) => 'a',
        ('w', _) => 'b',
        ('s', _) => ' ',
        (other, _) => other,
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

/// A value the document gives for a parameter (`variant` 0: example, examples, schema
/// example, default or first enum value; 1: a second example or enum value, if any).
fn explicit_value(doc: &Value, parameter: &Value, variant: usize) -> Option<String> {
    let schema = resolve(doc, parameter.get("schema").unwrap_or(parameter));
    if variant > 0 {
        return explicit_json(doc, parameter, variant)
            .or_else(|| explicit_json(doc, schema, variant))
            .or_else(|| {
                schema
                    .get("enum")
                    .and_then(Value::as_array)
                    .and_then(|e| e.get(variant))
                    .cloned()
            })
            .as_ref()
            .and_then(text);
    }
    let candidates = [
        parameter.get("example"),
        parameter
            .get("examples")
            .and_then(Value::as_object)
            .and_then(|e| e.values().next())
            .map(|e| resolve(doc, e))
            .and_then(|e| e.get("value")),
        parameter.get("x-example"),
        schema.get("example"),
        schema
            .get("examples")
            .and_then(Value::as_array)
            .and_then(|e| e.first()),
        schema.get("default"),
        parameter.get("default"),
        schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first()),
    ];
    candidates.into_iter().flatten().find_map(text)
}

/// The explicit value, or one of the parameter's schema.
fn value_for(doc: &Value, parameter: &Value, name: &str, variant: usize) -> Option<String> {
    explicit_value(doc, parameter, variant).or_else(|| {
        let schema = resolve(doc, parameter.get("schema").unwrap_or(parameter));
        let plain = matches!(schema["type"].as_str(), None | Some("string"))
            && ["format", "enum", "pattern", "example", "default"]
                .iter()
                .all(|k| schema.get(k).is_none());
        // An identifier of no stated shape: most applications number them.
        if plain && name.to_ascii_lowercase().ends_with("id") {
            return Some(if variant == 0 { "1" } else { "2" }.into());
        }
        text(&instance(doc, schema, variant, 0))
    })
}

/// A JSON value as a parameter value (arrays joined with commas; objects unusable).
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(text).collect();
            parts.map(|p| p.join(","))
        }
        Value::Null | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r##"
openapi: 3.0.3
info: {title: items, version: "1"}
servers:
  - url: "http://{host}/api/{version}/"
    variables:
      host: {default: localhost}
      version: {default: v1}
paths:
  /items:
    get:
      parameters:
        - {name: limit, in: query, schema: {type: integer, default: 10}}
        - {name: cursor, in: query, schema: {type: string}}
      responses:
        200:
          description: ok
          content:
            application/json: {}
    post:
      responses: {201: {description: created}}
  /items/{itemId}:
    parameters:
      - $ref: "#/components/parameters/ItemId"
    get:
      responses:
        "200": {description: ok, content: {text/csv: {}}}
  /search:
    get:
      parameters:
        - {name: q, in: query, required: true, examples: {one: {value: "red shoes"}}}
        - {name: kind, in: query, required: true, schema: {$ref: "#/components/schemas/Kind"}}
        - {name: X-Tenant, in: header, required: true, schema: {type: string, example: acme}}
        - {name: since, in: query, required: true, schema: {type: string, format: date}}
  /users/{user_id}/avatar:
    get:
      parameters:
        - {name: user_id, in: path, required: true, schema: {type: string}}
        - {name: size, in: query, schema: {type: array, items: {type: integer}, example: [1, 2]}}
components:
  parameters:
    ItemId: {name: itemId, in: path, required: true, schema: {type: integer, example: 7}}
  schemas:
    Kind: {type: string, enum: [shoe, hat]}
"##;

    #[test]
    fn operations_become_probes_with_example_values() {
        let doc = parse(DOC).unwrap();
        assert!(is_openapi(&doc));
        let probes = probes(&doc);
        let targets: Vec<(&str, &str)> = probes
            .iter()
            .map(|p| (p.operation.as_str(), p.target.as_str()))
            .collect();
        assert_eq!(
            targets,
            [
                ("GET /items", "/api/v1/items?limit=10"),
                ("GET /items/{itemId}", "/api/v1/items/7"),
                (
                    "GET /search",
                    "/api/v1/search?q=red%20shoes&kind=shoe&since=2024-01-15"
                ),
                (
                    "GET /users/{user_id}/avatar",
                    "/api/v1/users/1/avatar?size=1%2C2"
                ),
                ("POST /items", "/api/v1/items"),
            ]
        );
        assert_eq!(
            probes[1].headers,
            [("Accept".to_string(), "text/csv".to_string())]
        );
        assert_eq!(
            probes[2].headers,
            [
                ("X-Tenant".to_string(), "acme".to_string()),
                ("Accept".to_string(), "application/json".to_string())
            ]
        );
    }

    #[test]
    fn swagger_2_and_json_documents() {
        let doc = parse(
            r#"{"swagger": "2.0", "basePath": "/v2", "paths": {
                "/pets/{petId}": {"get": {"produces": ["application/xml"],
                   "parameters": [{"name": "petId", "in": "path", "required": true,
                                   "type": "integer", "x-example": 3}]}},
                "/": {"get": {}}}}"#,
        )
        .unwrap();
        assert!(is_openapi(&doc));
        let probes = probes(&doc);
        assert_eq!(probes[0].target, "/v2/");
        assert_eq!(probes[1].target, "/v2/pets/3");
        assert_eq!(
            probes[1].headers,
            [("Accept".to_string(), "application/xml".to_string())]
        );
    }

    #[test]
    fn other_documents_are_not_openapi() {
        assert!(!is_openapi(&parse(r#"{"name": "x"}"#).unwrap()));
        assert!(!is_openapi(&parse("openapi: 3.0.0\n").unwrap()));
        assert!(parse("<html>").is_err() || !is_openapi(&parse("<html>").unwrap()));
    }

    const SHOP: &str = r##"
openapi: 3.1.0
info: {title: shop, version: "1"}
security: [{key: []}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
  schemas:
    Address:
      type: object
      required: [city]
      properties:
        city: {type: string, minLength: 3}
        zip: {type: string, pattern: "^[0-9]{5}$"}
    Order:
      allOf:
        - type: object
          required: [customer, lines]
          properties:
            customer:
              type: object
              required: [name, address]
              properties:
                name: {type: string, example: Ada}
                address: {$ref: "#/components/schemas/Address"}
            lines:
              type: array
              items:
                type: object
                required: [sku, quantity]
                properties:
                  sku: {type: string, enum: [tea, cup]}
                  quantity: {type: integer, minimum: 2, maximum: 9}
            note: {type: [string, "null"], format: email}
            id: {type: integer, readOnly: true}
paths:
  /orders/{id}:
    delete:
      security: []
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
  /orders:
    post:
      security: []
      requestBody:
        content:
          application/json: {schema: {$ref: "#/components/schemas/Order"}}
    get:
      parameters:
        - {name: since, in: query, required: true, schema: {type: string, format: date}}
  /uploads:
    put:
      security: [{}]
      requestBody:
        content:
          multipart/form-data:
            schema:
              type: object
              properties:
                file: {type: string, format: binary}
                label: {type: string, default: scan}
  /login:
    patch:
      security: []
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              properties:
                user: {type: string, format: uuid}
                remember: {type: boolean}
"##;

    #[test]
    fn every_method_with_bodies_from_the_schema_reads_first_deletes_last() {
        let doc = parse(SHOP).unwrap();
        let credentials = [("X-Api-Key".to_string(), "k1".to_string())];
        let all = operations(
            &doc,
            &OperationOptions {
                methods: &[],
                credentials: &credentials,
            },
        );
        let order: Vec<&str> = all.probes.iter().map(|p| p.operation.as_str()).collect();
        assert_eq!(
            order,
            [
                "GET /orders",
                "POST /orders",
                "PUT /uploads",
                "PATCH /login",
                "DELETE /orders/{id}"
            ]
        );
        let get = &all.probes[0];
        assert_eq!(get.target, "/orders?since=2024-01-15");
        assert!(get.headers.contains(&("X-Api-Key".into(), "k1".into())));
        assert_ne!(get.alternate.as_ref().unwrap().target, get.target);

        let post = &all.probes[1];
        assert_eq!(post.method, "POST");
        let body: Value = serde_json::from_str(post.body.as_deref().unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "customer": {"name": "Ada", "address": {"city": "example", "zip": "00000"}},
                "lines": [{"sku": "tea", "quantity": 2}],
                "note": "user@example.com"
            })
        );
        assert!(
            post.headers
                .contains(&("Content-Type".into(), "application/json".into()))
        );
        assert!(!post.headers.iter().any(|(n, _)| n == "X-Api-Key"));
        let second: Value =
            serde_json::from_str(post.alternate.as_ref().unwrap().body.as_deref().unwrap())
                .unwrap();
        assert_eq!(
            second,
            serde_json::json!({
                "customer": {"name": "sample", "address": {"city": "sample"}},
                "lines": [{"sku": "cup", "quantity": 3}]
            })
        );

        let put = &all.probes[2];
        let body = put.body.as_deref().unwrap();
        assert!(
            body.contains("name=\"file\"; filename=\"slim-probe.txt\"")
                && body.contains("name=\"label\"\r\n\r\nscan\r\n"),
            "{body}"
        );
        assert!(
            put.headers.iter().any(
                |(n, v)| n == "Content-Type" && v.starts_with("multipart/form-data; boundary=")
            )
        );
        assert_eq!(
            all.probes[3].body.as_deref(),
            Some("remember=true&user=3fa85f64-5717-4562-b3fc-2c963f66afa6")
        );
        assert_eq!(all.probes[4].target, "/orders/1");
        assert_eq!(
            all.probes[4].alternate.as_ref().unwrap().target,
            "/orders/2"
        );
        assert!(all.skipped.is_empty());
    }

    #[test]
    fn operations_that_need_credentials_nobody_gave_are_skipped_with_the_reason() {
        let doc = parse(SHOP).unwrap();
        let none = operations(&doc, &OperationOptions::default());
        assert_eq!(none.skipped.len(), 1);
        assert_eq!(none.skipped[0].operation, "GET /orders");
        assert!(
            none.skipped[0].reason.contains("X-Api-Key")
                && none.skipped[0].reason.contains("hint:"),
            "{}",
            none.skipped[0].reason
        );
        let get_only = operations(
            &doc,
            &OperationOptions {
                methods: &["GET".to_string(), "DELETE".to_string()],
                credentials: &[("x-api-key".to_string(), "k".to_string())],
            },
        );
        let names: Vec<&str> = get_only
            .probes
            .iter()
            .map(|p| p.operation.as_str())
            .collect();
        assert_eq!(names, ["GET /orders", "DELETE /orders/{id}"]);
        assert_eq!(get_only.skipped.len(), 3);
        assert!(get_only.skipped[0].reason.contains("--openapi-methods"));
    }

    #[test]
    fn a_schema_that_refers_to_itself_ends() {
        let doc = parse(
            r##"{"openapi": "3.0.0", "paths": {"/a": {"post": {"requestBody": {"content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}},
               "components": {"schemas": {"A": {"allOf": [{"$ref": "#/components/schemas/A"}],
                  "properties": {"next": {"$ref": "#/components/schemas/A"}}}}}}"##,
        )
        .unwrap();
        assert_eq!(probes(&doc).len(), 1);
    }

    #[test]
    fn simple_patterns_give_matching_strings() {
        assert_eq!(from_pattern("^[0-9]{5}$", 0).as_deref(), Some("00000"));
        assert_eq!(from_pattern("^[A-Z]{2}-\\d+$", 1).as_deref(), Some("BB-2"));
        assert_eq!(
            from_pattern("^(red|green)_[a-f]?x$", 0).as_deref(),
            Some("red_x")
        );
        assert_eq!(from_pattern("a.c", 0).as_deref(), Some("aac"));
        assert_eq!(from_pattern("[^a]", 0), None);
        assert_eq!(from_pattern("(unclosed", 0), None);
    }

    #[test]
    fn files_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("slim-openapi-test-{}", std::process::id()));
        fs_err::create_dir_all(&dir).unwrap();
        let good = dir.join("api.yaml");
        fs_err::write(&good, DOC).unwrap();
        assert_eq!(probes(&read(&good).unwrap()).len(), 5);
        let other = dir.join("other.json");
        fs_err::write(&other, "{\"a\": 1}").unwrap();
        let err = read(&other).unwrap_err().to_string();
        assert!(err.contains("other.json") && err.contains("hint:"), "{err}");
        assert!(matches!(
            read(&dir.join("absent.json")),
            Err(OpenApiError::Read { .. })
        ));
        fs_err::remove_dir_all(&dir).unwrap();
    }
}
