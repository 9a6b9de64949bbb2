use super::values::from_pattern;
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
        serde_json::from_str(post.alternate.as_ref().unwrap().body.as_deref().unwrap()).unwrap();
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
        put.headers
            .iter()
            .any(|(n, v)| n == "Content-Type" && v.starts_with("multipart/form-data; boundary="))
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
        none.skipped[0].reason.contains("X-Api-Key") && none.skipped[0].reason.contains("hint:"),
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
