//! Request bodies of OpenAPI operations: JSON, a form or multipart (with a small file
//! for `format: binary`), made from the body's schema or its examples.

use serde_json::Value;

use super::resolve;
use super::values::{explicit_json, instance, properties, text};
use crate::drive::url::encode_component;

/// The boundary of generated multipart bodies.
const BOUNDARY: &str = "slim-probe-boundary-5f2c9a";

/// An OpenAPI 3 request body: `(content type, body)`, JSON preferred, then a form, then
/// multipart, then text.
pub(super) fn body_of(
    doc: &Value,
    request_body: &Value,
    variant: usize,
) -> Option<(String, String)> {
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

pub(super) fn form_body(fields: &[(String, Value, bool)]) -> (String, String) {
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
pub(super) fn multipart_body(fields: &[(String, Value, bool)]) -> (String, String) {
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
