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
    /// `GET /items/{id}`, as the document names it.
    pub operation: String,
    /// The request target with values filled in.
    pub target: String,
    /// Required header parameters, and an `Accept` for the documented answer.
    pub headers: Vec<(String, String)>,
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

/// One probe for each GET operation of `doc`, in the order of their paths.
pub fn probes(doc: &Value) -> Vec<OperationProbe> {
    let base = base_path(doc);
    let mut out = Vec::new();
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (template, item) in paths {
        let item = resolve(doc, item);
        let Some(operation) = item.get("get").map(|o| resolve(doc, o)) else {
            continue;
        };
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
        let mut path = template.clone();
        let mut query = Vec::new();
        let mut headers = Vec::new();
        for p in &parameters {
            let Some(name) = p["name"].as_str() else {
                continue;
            };
            let required = p["required"].as_bool().unwrap_or(false);
            match p["in"].as_str() {
                Some("path") => {
                    let value = value_for(doc, p, name).unwrap_or_else(|| "1".into());
                    path = path.replace(&format!("{{{name}}}"), &encode_component(&value));
                }
                Some("query") => {
                    let value = explicit_value(doc, p).or_else(|| {
                        required.then(|| value_for(doc, p, name).unwrap_or_else(|| "1".into()))
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
                        value_for(doc, p, name).unwrap_or_else(|| "1".into()),
                    ));
                }
                _ => {}
            }
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
        out.push(OperationProbe {
            operation: format!("GET {template}"),
            target,
            headers,
        });
    }
    out
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

/// A value the document gives for a parameter: example, examples, schema example,
/// default or first enum value.
fn explicit_value(doc: &Value, parameter: &Value) -> Option<String> {
    let schema = resolve(doc, parameter.get("schema").unwrap_or(parameter));
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

/// The explicit value, or one of the parameter's type.
fn value_for(doc: &Value, parameter: &Value, name: &str) -> Option<String> {
    explicit_value(doc, parameter).or_else(|| {
        let schema = resolve(doc, parameter.get("schema").unwrap_or(parameter));
        let schema = if schema["type"] == "array" {
            resolve(doc, &schema["items"])
        } else {
            schema
        };
        let value = match (schema["type"].as_str(), schema["format"].as_str()) {
            (Some("integer" | "number"), _) => "1",
            (Some("boolean"), _) => "true",
            (_, Some("uuid")) => "00000000-0000-0000-0000-000000000001",
            (_, Some("date")) => "2024-01-01",
            (_, Some("date-time")) => "2024-01-01T00:00:00Z",
            _ if name.to_ascii_lowercase().ends_with("id") => "1",
            _ => "example",
        };
        Some(value.to_string())
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
    fn get_operations_become_probes_with_example_values() {
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
                    "/api/v1/search?q=red%20shoes&kind=shoe&since=2024-01-01"
                ),
                (
                    "GET /users/{user_id}/avatar",
                    "/api/v1/users/1/avatar?size=1%2C2"
                ),
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

    #[test]
    fn files_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("slim-openapi-test-{}", std::process::id()));
        fs_err::create_dir_all(&dir).unwrap();
        let good = dir.join("api.yaml");
        fs_err::write(&good, DOC).unwrap();
        assert_eq!(probes(&read(&good).unwrap()).len(), 4);
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
