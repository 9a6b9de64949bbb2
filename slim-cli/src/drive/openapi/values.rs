//! Values made from OpenAPI schemas and parameters: the document's own examples,
//! defaults and enum values first, else an instance of the schema (formats, bounds,
//! simple patterns, arrays, nested objects); `variant` 1 asks for a second, different one.

use serde_json::Value;

use super::{array, resolve};

/// The properties of an object schema, `allOf` branches merged (a few levels deep: a
/// document may refer to itself).
pub(super) fn properties<'a>(doc: &'a Value, schema: &'a Value) -> Vec<(String, &'a Value)> {
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
pub(super) fn explicit_json(doc: &Value, holder: &Value, variant: usize) -> Option<Value> {
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
pub(super) fn instance(doc: &Value, schema: &Value, variant: usize, depth: usize) -> Value {
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
pub(super) fn from_pattern(pattern: &str, variant: usize) -> Option<String> {
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

/// A value the document gives for a parameter (`variant` 0: example, examples, schema
/// example, default or first enum value; 1: a second example or enum value, if any).
pub(super) fn explicit_value(doc: &Value, parameter: &Value, variant: usize) -> Option<String> {
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
pub(super) fn value_for(
    doc: &Value,
    parameter: &Value,
    name: &str,
    variant: usize,
) -> Option<String> {
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
pub(super) fn text(value: &Value) -> Option<String> {
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
