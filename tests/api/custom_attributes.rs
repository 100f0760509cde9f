//! Custom schema extensions: an organization registers RFC 7643 §7 Schema
//! documents (admin API, CLI); each of its directories serves them.

use crate::admin::{admin, assert_admin_error};
use crate::helpers::*;
use serde_json::{Value, json};

pub const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

pub fn acme_schema() -> Value {
    json!({
        "id": ACME,
        "name": "AcmeUser",
        "description": "Acme's custom attributes",
        "attributes": [
            {"name": "costCode", "type": "string", "caseExact": false},
            {"name": "badge", "type": "integer"},
            {"name": "tags", "type": "string", "multiValued": true},
        ],
    })
}

fn schema_ids(list: &Value) -> Vec<String> {
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_org_registers_a_schema_and_its_directories_serve_it() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;

    let (status, body) = a.post("/schemas", acme_schema()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["urn"], ACME);
    assert_eq!(body["resource_type"], "User");
    assert_eq!(body["required"], false);
    assert_eq!(body["schema"]["attributes"][0]["name"], "costCode");
    assert_eq!(body["schema"]["attributes"][0]["mutability"], "readWrite");

    let (status, list) = a.get("/schemas").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["urn"], ACME);

    // Discovery: /Schemas, /Schemas/{urn}, /ResourceTypes.
    let (status, schemas) = app.get("/Schemas").await;
    assert_eq!(status, 200, "{schemas}");
    assert!(schema_ids(&schemas).contains(&ACME.to_owned()), "{schemas}");
    assert_eq!(schemas["totalResults"], 4, "{schemas}");
    let (status, one) = app.get(&format!("/Schemas/{ACME}")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["id"], ACME);
    assert_eq!(one["name"], "AcmeUser");
    assert_eq!(
        one["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"])
    );
    assert_eq!(
        one["meta"]["location"],
        format!("{}/Schemas/{ACME}", app.base)
    );
    assert_eq!(one["attributes"][1]["type"], "integer");
    let (_, rt) = app.get("/ResourceTypes/User").await;
    assert_eq!(
        rt["schemaExtensions"],
        json!([
            {"schema": ENTERPRISE, "required": false},
            {"schema": ACME, "required": false},
        ]),
        "{rt}"
    );
    let (_, rt) = app.get("/ResourceTypes/Group").await;
    assert!(
        !rt.to_string().contains(ACME),
        "a User extension is not a Group's: {rt}"
    );

    // Another organization's directory does not see it.
    let other = admin(&app, "globex").await;
    let (_, list) = other.get("/schemas").await;
    assert_eq!(list["items"], json!([]));

    // Removed: gone from discovery.
    let (status, _) = a.delete(&format!("/schemas/{ACME}")).await;
    assert_eq!(status, 204);
    let (status, body) = app.get(&format!("/Schemas/{ACME}")).await;
    assert_scim_error(status, &body, 404, None);
    let (_, rt) = app.get("/ResourceTypes/User").await;
    assert!(!rt.to_string().contains(ACME), "{rt}");
    let (status, body) = a.delete(&format!("/schemas/{ACME}")).await;
    assert_admin_error(status, &body, 404, "not_found");
}

#[tokio::test]
async fn invalid_or_colliding_schemas_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let bad = [
        json!({"id": "not-a-urn", "attributes": [{"name": "a", "type": "string"}]}),
        json!({"id": ACME, "attributes": [{"name": "a", "type": "binary"}]}),
        json!({"id": ACME, "attributes": [{"name": "bad name", "type": "string"}]}),
        json!({"id": ACME, "attributes": [{"name": "a", "type": "complex", "subAttributes": [
            {"name": "b", "type": "complex", "subAttributes": [{"name": "c", "type": "string"}]}]}]}),
        json!({"id": ACME, "attributes": [{"name": "a", "type": "string", "returned": "sometimes"}]}),
        json!({"id": ACME, "attributes": []}),
        json!({"id": "urn:acme:things", "attributes": [{"name": "a", "type": "string"}]}),
    ];
    for doc in bad {
        let (status, body) = a.post("/schemas", doc.clone()).await;
        assert_admin_error(status, &body, 400, "invalid_request");
    }
    for urn in [USER_SCHEMA, ENTERPRISE] {
        let (status, body) = a
            .post(
                "/schemas",
                json!({"id": urn, "attributes": [{"name": "a", "type": "string"}]}),
            )
            .await;
        assert_admin_error(status, &body, 409, "already_exists");
    }
    let (_, list) = a.get("/schemas").await;
    assert_eq!(list["items"], json!([]));

    let (status, _) = a.post("/schemas", acme_schema()).await;
    assert_eq!(status, 201);
    let mut again = acme_schema();
    again["id"] = json!(ACME.to_uppercase());
    let (status, body) = a.post("/schemas", again).await;
    assert_admin_error(status, &body, 409, "already_exists");

    // The resource type may be named when the URN does not say it.
    let (status, body) = a
        .post(
            "/schemas?resource_type=Group",
            json!({"id": "urn:acme:groupext", "attributes": [{"name": "room", "type": "string"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, rt) = app.get("/ResourceTypes/Group").await;
    assert_eq!(
        rt["schemaExtensions"],
        json!([{"schema": "urn:acme:groupext", "required": false}]),
        "{rt}"
    );
}

#[tokio::test]
async fn the_cli_adds_lists_and_removes_schemas() {
    let app = spawn_app().await;
    let file = std::env::temp_dir().join(format!("acme-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, acme_schema().to_string()).unwrap();
    app.cli(&["schema", "add", "--org", "default", file.to_str().unwrap()])
        .await;
    std::fs::remove_file(&file).ok();
    let (_, one) = app.get(&format!("/Schemas/{ACME}")).await;
    assert_eq!(one["id"], ACME, "{one}");
    app.cli(&["schema", "list", "--org", "default"]).await;
    app.cli(&["schema", "remove", "--org", "default", ACME])
        .await;
    let (status, _) = app.get(&format!("/Schemas/{ACME}")).await;
    assert_eq!(status, 404);
}
