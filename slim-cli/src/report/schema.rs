//! The JSON Schema of the report (`slim-cli/schema/report.schema.json`), derived from the
//! types that write the report, so the two cannot drift apart: a unit test compares the
//! committed file with this, and `cargo xtask schema` rewrites it (through that test, with
//! `SLIM_WRITE_SCHEMA=1`).

use schemars::Schema;
use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;

use super::Report;

/// Where the schema is published: the `$id` in the file.
const ID: &str = "https://example.invalid/slim/report.schema.json";

/// The schema, as the committed file holds it (pretty JSON and a final newline).
pub fn text() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// The schema of what `slim build` writes: every object closed (a field the types do not
/// have is an error), optional fields those the report leaves out when empty.
pub fn schema() -> Schema {
    let mut schema = SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(RecursiveTransform(closed_objects))
        .into_generator()
        .into_root_schema_for::<Report<'static>>();
    schema.insert("$id".into(), ID.into());
    schema.insert("title".into(), "slim build report".into());
    schema.insert(
        "description".into(),
        "slim.report.json, written by `slim build`: what went in, what came out, every \
         probe and its result, every kept path with its reasons, the removed paths by \
         directory, and the verification verdict. schema_version is raised when a field is \
         removed or changes meaning."
            .into(),
    );
    schema
}

/// Objects with named properties allow no others (unless the schema says otherwise).
fn closed_objects(schema: &mut Schema) {
    if let Some(object) = schema.as_object_mut()
        && object.contains_key("properties")
        && !object.contains_key("additionalProperties")
        && !object.contains_key("unevaluatedProperties")
    {
        object.insert("additionalProperties".into(), false.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemars::transform::Transform;

    #[test]
    fn the_committed_schema_is_the_one_the_report_types_give() {
        if std::env::var_os("SLIM_WRITE_SCHEMA").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/report.schema.json");
            fs_err::write(path, text()).expect("writing the report schema");
            return;
        }
        let committed = include_str!("../../schema/report.schema.json");
        assert!(
            committed == text(),
            "slim-cli/schema/report.schema.json differs from the schema of the report's \
             types\nhint: cargo xtask schema"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut schema = schemars::json_schema!({"properties": {"a": {}}});
        RecursiveTransform(closed_objects).transform(&mut schema);
        assert_eq!(schema.get("additionalProperties"), Some(&false.into()));
    }
}
