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

/// An app with the acme User extension registered for its organization.
async fn app_with_acme() -> TestApp {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let mut schema = acme_schema();
    schema["attributes"].as_array_mut().unwrap().extend([
        json!({"name": "secret", "type": "string", "returned": "never"}),
        json!({"name": "since", "type": "dateTime"}),
        json!({"name": "desk", "type": "complex", "subAttributes": [
                {"name": "building", "type": "string"}, {"name": "floor", "type": "integer"}]}),
    ]);
    let (status, body) = a.post("/schemas", schema).await;
    assert_eq!(status, 201, "{body}");
    app
}

fn acme_user(user_name: &str, ext: Value) -> Value {
    let mut u = user(user_name);
    u["schemas"] = json!([USER_SCHEMA, ACME]);
    u[ACME] = ext;
    u
}

#[tokio::test]
async fn custom_values_are_stored_typed_and_returned() {
    let app = app_with_acme().await;
    let (status, created) = app
        .post(
            "/Users",
            acme_user(
                "ext1@acme.example",
                json!({"costCode": "CC-42", "badge": 7, "tags": ["a", "b"], "secret": "s3",
                    "since": "2026-12-01T10:00:00+01:00", "desk": {"building": "B1", "floor": "3"}}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let want = json!({"costCode": "CC-42", "badge": 7, "tags": ["a", "b"],
        "since": "2026-12-01T09:00:00.000Z", "desk": {"building": "B1", "floor": 3}});
    assert_eq!(created[ACME], want, "{created}");
    assert!(
        created["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ACME)),
        "{created}"
    );
    let id = created["id"].as_str().unwrap();
    let (_, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(got[ACME], want, "{got}");
    let (_, list) = app.get("/Users").await;
    assert_eq!(list["Resources"][0][ACME], want, "{list}");

    // Projection: asked for, left out, or one attribute of it.
    let (_, only) = app
        .get(&format!(
            "/Users/{id}?attributes=urn:ietf:params:scim:schemas:extension:acme:2.0:User:costCode"
        ))
        .await;
    assert_eq!(only[ACME], json!({"costCode": "CC-42"}), "{only}");
    assert!(only.get("userName").is_none(), "{only}");
    let (_, without) = app.get(&format!("/Users/{id}?attributes=userName")).await;
    assert!(without.get(ACME).is_none(), "{without}");
    assert!(
        !without["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ACME)),
        "{without}"
    );
    let (_, excl) = app
        .get(&format!(
            "/Users/{id}?excludedAttributes={ACME}:badge,{ACME}:desk"
        ))
        .await;
    assert_eq!(
        excl[ACME],
        json!({"costCode": "CC-42", "tags": ["a", "b"], "since": "2026-12-01T09:00:00.000Z"})
    );

    // Wrong types: 400 naming the attribute; nothing is written.
    for (ext, name) in [
        (json!({"badge": "seven"}), "badge"),
        (json!({"since": "yesterday"}), "since"),
        (json!({"costCode": 5}), "costCode"),
        (json!({"desk": {"floor": "ground"}}), "desk.floor"),
    ] {
        let (status, err) = app.post("/Users", acme_user("bad@acme.example", ext)).await;
        assert_scim_error(status, &err, 400, Some("invalidValue"));
        assert!(err["detail"].as_str().unwrap().contains(name), "{err}");
    }
    let (_, list) = app
        .get("/Users?filter=userName%20eq%20%22bad@acme.example%22")
        .await;
    assert_eq!(list["totalResults"], 0);
}

#[tokio::test]
async fn put_replaces_custom_values_and_leaving_them_out_clears_them() {
    let app = app_with_acme().await;
    let id = app
        .create_user(acme_user(
            "put@acme.example",
            json!({"costCode": "A", "badge": 1}),
        ))
        .await;
    let (status, put) = app
        .put(
            &format!("/Users/{id}"),
            acme_user("put@acme.example", json!({"costCode": "B"})),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put[ACME], json!({"costCode": "B"}));
    let (status, put) = app
        .put(&format!("/Users/{id}"), user("put@acme.example"))
        .await;
    assert_eq!(status, 200, "{put}");
    assert!(put.get(ACME).is_none(), "{put}");
    let (_, got) = app.get(&format!("/Users/{id}")).await;
    assert!(got.get(ACME).is_none(), "{got}");
}

#[tokio::test]
async fn patch_sets_and_removes_custom_values_in_every_form() {
    let app = app_with_acme().await;
    let id = app
        .create_user(acme_user(
            "patch@acme.example",
            json!({"costCode": "A", "tags": ["a", "b"]}),
        ))
        .await;
    let path = format!("/Users/{id}");
    // An attribute path, an add to a multi-valued one, a sub-attribute.
    let (status, body) = app
        .patch(
            &path,
            json!([
                {"op": "replace", "path": format!("{ACME}:costCode"), "value": "CC-42"},
                {"op": "add", "path": format!("{ACME}:tags"), "value": ["c"]},
                {"op": "add", "path": format!("{ACME}:desk.floor"), "value": 2},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body[ACME],
        json!({"costCode": "CC-42", "tags": ["a", "b", "c"], "desk": {"floor": 2}})
    );
    // A value filter on a multi-valued one; remove by path.
    let (status, body) = app
        .patch(
            &path,
            json!([
                {"op": "remove", "path": format!("{ACME}:tags[value eq \"b\"]")},
                {"op": "remove", "path": format!("{ACME}:desk")},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ACME], json!({"costCode": "CC-42", "tags": ["a", "c"]}));
    // Entra: path-less with flat URN-qualified keys, typed from strings.
    let (status, body) = app
        .patch(
            &path,
            json!([{"op": "Replace", "value": {
                format!("{ACME}:badge"): "9",
                format!("{ACME}:costCode"): "E-1",
            }}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ACME]["badge"], 9);
    assert_eq!(body[ACME]["costCode"], "E-1");
    // The whole extension object, with its own schemas key.
    let (status, body) = app
        .patch(
            &path,
            json!([{"op": "replace", "path": ACME, "value": {"schemas": [ACME], "badge": 10}}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ACME]["badge"], 10);
    // A wrong type is refused and changes nothing.
    let (status, err) = app
        .patch(
            &path,
            json!([{"op": "replace", "path": format!("{ACME}:badge"), "value": "many"}]),
        )
        .await;
    assert_scim_error(status, &err, 400, Some("invalidValue"));
    assert!(err["detail"].as_str().unwrap().contains("badge"), "{err}");
    let (_, got) = app.get(&path).await;
    assert_eq!(got[ACME]["badge"], 10);
    // Removing the whole extension.
    let (status, body) = app
        .patch(&path, json!([{"op": "remove", "path": ACME}]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get(ACME).is_none(), "{body}");
    let (_, got) = app.get(&path).await;
    assert!(got.get(ACME).is_none(), "{got}");
    // An attribute the schema does not have: 400 naming it.
    let (status, err) = app
        .patch(
            &path,
            json!([{"op": "add", "path": format!("{ACME}:nope"), "value": "x"}]),
        )
        .await;
    assert_scim_error(status, &err, 400, Some("invalidPath"));
}

#[tokio::test]
async fn entra_flat_keys_in_a_post_body_are_custom_values() {
    let app = app_with_acme().await;
    let mut body = user("flat@acme.example");
    body[format!("{ACME}:costCode")] = json!("F-1");
    body[format!("{ACME}:badge")] = json!("12");
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created[ACME], json!({"costCode": "F-1", "badge": 12}));
}

#[tokio::test]
async fn bulk_carries_custom_values() {
    let app = app_with_acme().await;
    let (status, res) = app
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "u1",
                     "data": acme_user("bulk1@acme.example", json!({"costCode": "B-1"}))},
                    {"method": "POST", "path": "/Users", "bulkId": "u2", "data": user("bulk2@acme.example")},
                    {"method": "PATCH", "path": "/Users/bulkId:u2", "data": {
                        "schemas": [PATCH_OP],
                        "Operations": [{"op": "add", "path": format!("{ACME}:badge"), "value": 3}]}},
                ],
            }),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let ops = res["Operations"].as_array().unwrap();
    assert!(
        ops.iter()
            .all(|o| o["status"].as_str().unwrap().starts_with('2')),
        "{res}"
    );
    let (_, list) = app.get("/Users?sortBy=userName").await;
    assert_eq!(
        list["Resources"][0][ACME],
        json!({"costCode": "B-1"}),
        "{list}"
    );
    assert_eq!(list["Resources"][1][ACME], json!({"badge": 3}), "{list}");
}

#[tokio::test]
async fn removing_a_schema_removes_its_values() {
    let app = app_with_acme().await;
    let id = app
        .create_user(acme_user("gone@acme.example", json!({"costCode": "G"})))
        .await;
    let a = admin(&app, "default").await;
    let (status, _) = a.delete(&format!("/schemas/{ACME}")).await;
    assert_eq!(status, 204);
    let (_, got) = app.get(&format!("/Users/{id}")).await;
    assert!(got.get(ACME).is_none(), "{got}");
}

#[tokio::test]
async fn attributes_of_no_registered_schema_are_still_accepted() {
    let app = spawn_app().await;
    let (status, created) = app
        .post(
            "/Users",
            acme_user(
                "noschema@acme.example",
                json!({"costCode": "CC-42", "badge": 7}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get(ACME).is_none(), "{created}");
}

#[tokio::test]
async fn dropped_attributes_are_warnings_in_the_sync_log_and_status() {
    let app = app_with_acme().await;
    let a = admin(&app, "default").await;
    let mut body = acme_user("warn@acme.example", json!({"costCode": "W", "nope": 1}));
    body["urn:ietf:params:scim:schemas:extension:okta:2.0:User"] = json!({"favoriteColor": "blue"});
    body["shoeSize"] = json!(42);
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created[ACME], json!({"costCode": "W"}));
    let id = created["id"].as_str().unwrap();

    let dir = app.directory_id;
    let (status, log) = a
        .get(&format!("/directories/{dir}/sync-log?outcome=warning"))
        .await;
    assert_eq!(status, 200, "{log}");
    let mut details: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["resource_id"], id, "{e}");
            assert_eq!(e["status"], 201, "{e}");
            e["detail"].as_str().unwrap()
        })
        .collect();
    details.sort_unstable();
    assert_eq!(
        details,
        vec![
            "ignored attribute shoeSize: no registered schema",
            "ignored attribute urn:ietf:params:scim:schemas:extension:acme:2.0:User:nope: no registered schema",
            "ignored attribute urn:ietf:params:scim:schemas:extension:okta:2.0:User:favoriteColor: no registered schema",
        ]
    );
    let (_, dirs) = a.get("/directories").await;
    let d = dirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == dir.to_string())
        .unwrap();
    assert_eq!(d["ignored_attributes_last_24h"], 3, "{d}");
    assert_eq!(d["failed_operations_last_24h"], 0, "{d}");
    // A request that drops nothing adds no warning.
    let (status, _) = app
        .put(&format!("/Users/{id}"), user("warn@acme.example"))
        .await;
    assert_eq!(status, 200);
    let (_, log) = a
        .get(&format!("/directories/{dir}/sync-log?outcome=warning"))
        .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 3, "{log}");
}

#[tokio::test]
async fn a_directory_can_refuse_attributes_no_schema_knows() {
    let app = app_with_acme().await;
    let a = admin(&app, "default").await;
    let dir = app.directory_id;
    let (status, body) = a
        .get(&format!("/directories/{dir}/unknown-attributes"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reject_unknown_attributes"], false);
    let (status, body) = a
        .put(
            &format!("/directories/{dir}/unknown-attributes"),
            json!({"reject": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["reject_unknown_attributes"], true);

    let mut body = user("strict@acme.example");
    body["urn:ietf:params:scim:schemas:extension:okta:2.0:User"] = json!({"favoriteColor": "blue"});
    let (status, err) = app.post("/Users", body).await;
    assert_scim_error(status, &err, 400, Some("invalidSyntax"));
    assert!(
        err["detail"]
            .as_str()
            .unwrap()
            .contains("urn:ietf:params:scim:schemas:extension:okta:2.0:User:favoriteColor"),
        "{err}"
    );
    let (_, list) = app
        .get("/Users?filter=userName%20eq%20%22strict@acme.example%22")
        .await;
    assert_eq!(list["totalResults"], 0, "nothing was written");
    // Registered attributes still pass.
    let (status, created) = app
        .post(
            "/Users",
            acme_user("strict@acme.example", json!({"costCode": "S"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");

    // Back to the default through the CLI.
    app.cli(&[
        "schema",
        "unknown-attributes",
        "--directory",
        &dir.to_string(),
        "accept",
    ])
    .await;
    let mut body = user("lenient@acme.example");
    body["shoeSize"] = json!(42);
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, 201, "{created}");
    // Another organization's key can't change it.
    let other = admin(&app, "globex").await;
    let (status, body) = other
        .put(
            &format!("/directories/{dir}/unknown-attributes"),
            json!({"reject": true}),
        )
        .await;
    assert_admin_error(status, &body, 404, "not_found");
}

fn q(f: &str) -> String {
    form_urlencoded::byte_serialize(f.as_bytes()).collect()
}

async fn user_names(app: &TestApp, query: &str) -> Vec<String> {
    let (status, list) = app.get(&format!("/Users?{query}")).await;
    assert_eq!(status, 200, "{query}: {list}");
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn custom_attributes_filter_and_sort_in_sql() {
    let app = app_with_acme().await;
    for (name, ext) in [
        (
            "f1@acme.example",
            json!({"costCode": "CC-42", "badge": 7, "tags": ["a", "b"],
            "since": "2026-01-01T00:00:00Z", "desk": {"building": "B1", "floor": 3}}),
        ),
        (
            "f2@acme.example",
            json!({"costCode": "cc-7", "badge": 12, "tags": ["b"],
            "since": "2026-06-01T00:00:00Z", "desk": {"building": "B2", "floor": 1}}),
        ),
        ("f3@acme.example", json!({"badge": 100})),
    ] {
        app.create_user(acme_user(name, ext)).await;
    }
    app.create_user(user("f4@acme.example")).await;
    let filter = |f: &str| format!("filter={}&sortBy=userName", q(f));
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!(r#"{ACME}:costCode eq "cc-42""#),
            vec!["f1@acme.example"],
        ),
        (
            format!(r#"{ACME}:costCode sw "CC""#),
            vec!["f1@acme.example", "f2@acme.example"],
        ),
        (
            format!("{ACME}:costCode pr"),
            vec!["f1@acme.example", "f2@acme.example"],
        ),
        (
            format!("not ({ACME}:costCode pr)"),
            vec!["f3@acme.example", "f4@acme.example"],
        ),
        (format!("{ACME}:badge eq 12"), vec!["f2@acme.example"]),
        (
            format!("{ACME}:badge gt 9"),
            vec!["f2@acme.example", "f3@acme.example"],
        ),
        (
            format!("{ACME}:badge le 12"),
            vec!["f1@acme.example", "f2@acme.example"],
        ),
        (
            format!(r#"{ACME}:since gt "2026-03-01T00:00:00Z""#),
            vec!["f2@acme.example"],
        ),
        (
            format!(r#"{ACME}:tags eq "b""#),
            vec!["f1@acme.example", "f2@acme.example"],
        ),
        (
            format!(r#"{ACME}:tags[value eq "a"]"#),
            vec!["f1@acme.example"],
        ),
        (
            format!(r#"{ACME}:desk.building eq "b2""#),
            vec!["f2@acme.example"],
        ),
        (format!("{ACME}:desk.floor ge 2"), vec!["f1@acme.example"]),
        (
            format!(
                r#"userName sw "f" and {ACME}:badge lt 50 and not ({ACME}:costCode eq "CC-42")"#
            ),
            vec!["f2@acme.example"],
        ),
    ];
    for (f, want) in cases {
        assert_eq!(user_names(&app, &filter(&f)).await, want, "{f}");
    }
    // Wrong value types and unknown attributes are invalidFilter.
    for f in [
        format!(r#"{ACME}:badge gt "x""#),
        format!("{ACME}:costCode gt 5"),
        format!(r#"{ACME}:nope eq "x""#),
    ] {
        let (status, err) = app.get(&format!("/Users?filter={}", q(&f))).await;
        assert_scim_error(status, &err, 400, Some("invalidFilter"));
    }
    // Sorting: numbers as numbers (100 > 12 > 7), strings as strings
    // (users without a value first ascending).
    assert_eq!(
        user_names(
            &app,
            &format!(
                "filter={}&sortBy={}:badge&sortOrder=descending",
                q(&format!("{ACME}:badge pr")),
                q(ACME)
            )
        )
        .await,
        vec!["f3@acme.example", "f2@acme.example", "f1@acme.example"]
    );
    assert_eq!(
        user_names(&app, &format!("sortBy={}:costCode", q(ACME))).await,
        vec![
            "f3@acme.example",
            "f4@acme.example",
            "f1@acme.example",
            "f2@acme.example"
        ]
    );
}

#[tokio::test]
async fn okta_style_custom_attribute_flow() {
    // Okta: the app's profile-editor attributes mapped into the acme
    // extension; GET by userName before the create, PUT of the whole user.
    let app = app_with_acme().await;
    let (status, list) = app
        .get(&format!(
            "/Users?filter={}&startIndex=1&count=100",
            q(r#"userName eq "okta1@acme.example""#)
        ))
        .await;
    assert_eq!(
        (status, list["totalResults"].as_u64()),
        (200, Some(0)),
        "{list}"
    );
    let mut body = acme_user(
        "okta1@acme.example",
        json!({"costCode": "OK-1", "badge": "5"}),
    );
    body["password"] = json!("t0p-Secret!");
    body["groups"] = json!([]);
    let (status, created) = app.post("/Users", body.clone()).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(created[ACME], json!({"costCode": "OK-1", "badge": 5}));
    // The admin changes costCode in Okta: PUT of the whole profile.
    body[ACME] = json!({"costCode": "OK-2", "badge": 5});
    body["id"] = json!(id);
    let (status, put) = app.put(&format!("/Users/{id}"), body).await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put[ACME], json!({"costCode": "OK-2", "badge": 5}));
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            q(&format!(r#"{ACME}:costCode eq "OK-2""#))
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["id"], id);
}

#[tokio::test]
async fn entra_style_custom_attribute_flow() {
    // Entra: an extension named after the app, attributes mapped to
    // `urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:<attr>`.
    let entra = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let (status, body) = a
        .post(
            "/schemas",
            json!({"id": entra, "name": "CustomExtension", "attributes": [
                {"name": "costCode", "type": "string"},
                {"name": "clearanceLevel", "type": "integer"},
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, list) = app
        .get(&format!("/Users?filter={}", q(r#"externalId eq "e-77""#)))
        .await;
    assert_eq!(list["totalResults"], 0);
    let (status, created) = app
        .post(
            "/Users",
            json!({
                "schemas": [USER_SCHEMA, ENTERPRISE, entra],
                "externalId": "e-77",
                "userName": "entra1@acme.example",
                "active": true,
                "emails": [{"primary": true, "type": "work", "value": "entra1@acme.example"}],
                "meta": {"resourceType": "User"},
                "roles": [],
                entra: {"costCode": "EN-1"},
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    assert_eq!(created[entra], json!({"costCode": "EN-1"}));
    let path = format!("/Users/{id}");
    let (status, body) = app
        .patch(
            &path,
            json!([
                {"op": "Replace", "path": format!("{entra}:costCode"), "value": "EN-2"},
                {"op": "Add", "path": format!("{entra}:clearanceLevel"), "value": "3"},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body[entra],
        json!({"costCode": "EN-2", "clearanceLevel": 3})
    );
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            q(&format!("{entra}:clearanceLevel ge 3"))
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    let (status, body) = app
        .patch(
            &path,
            json!([{"op": "Remove", "path": format!("{entra}:costCode")}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[entra], json!({"clearanceLevel": 3}));
}

#[tokio::test]
async fn the_admin_account_detail_shows_custom_attributes() {
    let app = app_with_acme().await;
    app.verify_domain("acme.example").await;
    app.create_user(acme_user(
        "detail@acme.example",
        json!({"costCode": "D-1", "badge": 2}),
    ))
    .await;
    let a = admin(&app, "default").await;
    let account = account_of(&app, "detail@acme.example").await;
    let (status, detail) = a.get(&format!("/accounts/{}", account.id)).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(
        detail["synced_by"][0]["custom_attributes"],
        json!({ACME: {"costCode": "D-1", "badge": 2}}),
        "{detail}"
    );
}

#[tokio::test]
async fn import_users_carries_custom_columns_and_json_lines() {
    use clap::Parser;
    let app = app_with_acme().await;
    let run = |ext: &'static str, text: String| {
        let app = &app;
        async move {
            let path =
                std::env::temp_dir().join(format!("scim-import-{}.{ext}", uuid::Uuid::new_v4()));
            std::fs::write(&path, text).unwrap();
            let dir = app.directory_id.to_string();
            let p = path.display().to_string();
            let cli = scim_server::cli::Cli::try_parse_from([
                "scim-server",
                "import",
                "users",
                "--directory",
                dir.as_str(),
                p.as_str(),
            ])
            .unwrap();
            let summary = scim_server::cli::run_import(&app.settings, cli.command.unwrap())
                .await
                .unwrap();
            std::fs::remove_file(&path).ok();
            summary
        }
    };
    let csv = format!(
        "userName,email,{ACME}:costCode,{ACME}:badge\nc1@acme.example,c1@acme.example,CSV-1,4\nc2@acme.example,c2@acme.example,,seven\n"
    );
    let summary = run("csv", csv).await;
    assert_eq!((summary.created, summary.failed), (1, 1), "{summary:?}");
    let jsonl = acme_user("j1@acme.example", json!({"costCode": "JL-1"})).to_string() + "\n";
    let summary = run("jsonl", jsonl).await;
    assert_eq!(summary.created, 1, "{summary:?}");
    let names = user_names(
        &app,
        &format!(
            "filter={}&sortBy=userName",
            q(&format!("{ACME}:costCode pr"))
        ),
    )
    .await;
    assert_eq!(names, vec!["c1@acme.example", "j1@acme.example"]);
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            q(r#"userName eq "c1@acme.example""#)
        ))
        .await;
    assert_eq!(
        list["Resources"][0][ACME],
        json!({"costCode": "CSV-1", "badge": 4})
    );
}

// ---- Group extensions ----

pub const ACME_GROUP: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:Group";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// An app with the acme Group extension registered for its organization.
async fn app_with_group_ext() -> TestApp {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let (status, body) = a
        .post(
            "/schemas",
            json!({"id": ACME_GROUP, "name": "AcmeGroup", "attributes": [
                {"name": "costCode", "type": "string"},
                {"name": "level", "type": "integer"},
                {"name": "secret", "type": "string", "returned": "never"},
                {"name": "tags", "type": "string", "multiValued": true},
                {"name": "owners", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string"}, {"name": "kind", "type": "string"}]},
            ]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["resource_type"], "Group", "{body}");
    app
}

fn acme_group(name: &str, ext: Value) -> Value {
    json!({"schemas": [GROUP_SCHEMA, ACME_GROUP], "displayName": name, ACME_GROUP: ext})
}

/// The stored extension rows of a group (what a client can't see).
async fn group_value_rows(app: &TestApp, id: &str) -> Vec<(String, Option<String>)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let db = app.db().await;
    let rows = entity::scim_group_value::Entity::find()
        .filter(entity::scim_group_value::Column::GroupId.eq(uuid::Uuid::parse_str(id).unwrap()))
        .order_by_asc(entity::scim_group_value::Column::Attr)
        .order_by_asc(entity::scim_group_value::Column::Position)
        .order_by_asc(entity::scim_group_value::Column::Display)
        .all(&db)
        .await
        .unwrap();
    let _ = db.close().await;
    rows.into_iter()
        .map(|r| {
            (
                format!(
                    "{}{}",
                    r.attr.rsplit(':').next().unwrap(),
                    r.display.map(|d| format!(".{d}")).unwrap_or_default()
                ),
                r.value,
            )
        })
        .collect()
}

#[tokio::test]
async fn group_extension_values_are_stored_typed_returned_and_projected() {
    let app = app_with_group_ext().await;
    let mut body = acme_group(
        "Engineering",
        json!({"costCode": "G-1", "level": "3", "secret": "s3", "tags": ["a"]}),
    );
    // Entra's flat URN-qualified key, and an extension no schema knows.
    body[format!("{ACME_GROUP}:owners")] = json!([{"value": "o1", "kind": "lead"}]);
    body["urn:ietf:params:scim:schemas:extension:other:2.0:Group"] = json!({"x": 1});
    let (status, created) = app.post("/Groups", body).await;
    assert_eq!(status, 201, "{created}");
    let want = json!({"costCode": "G-1", "level": 3, "tags": ["a"],
        "owners": [{"value": "o1", "kind": "lead"}]});
    assert_eq!(created[ACME_GROUP], want, "{created}");
    assert!(
        created["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ACME_GROUP)),
        "{created}"
    );
    assert!(
        created
            .get("urn:ietf:params:scim:schemas:extension:other:2.0:Group")
            .is_none()
    );
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        group_value_rows(&app, &id).await,
        vec![
            ("costCode".into(), Some("G-1".into())),
            ("level".into(), Some("3".into())),
            ("owners.kind".into(), Some("lead".into())),
            ("owners.value".into(), Some("o1".into())),
            ("secret".into(), Some("s3".into())),
            ("tags".into(), Some("a".into())),
        ],
        "stored one row a scalar; returned: never is stored, not returned"
    );
    let (_, got) = app.get(&format!("/Groups/{id}")).await;
    assert_eq!(got[ACME_GROUP], want, "{got}");
    let (_, list) = app.get("/Groups").await;
    assert_eq!(list["Resources"][0][ACME_GROUP], want, "{list}");
    let (_, found) = app
        .get(&format!(
            "/Groups?filter={}",
            q(r#"displayName eq "Engineering""#)
        ))
        .await;
    assert_eq!(found["Resources"][0][ACME_GROUP], want, "{found}");

    // Projection.
    let (_, only) = app
        .get(&format!("/Groups/{id}?attributes={ACME_GROUP}:costCode"))
        .await;
    assert_eq!(only[ACME_GROUP], json!({"costCode": "G-1"}), "{only}");
    assert!(only.get("displayName").is_none(), "{only}");
    let (_, without) = app
        .get(&format!("/Groups/{id}?excludedAttributes={ACME_GROUP}"))
        .await;
    assert!(without.get(ACME_GROUP).is_none(), "{without}");
    assert!(
        !without["schemas"]
            .as_array()
            .unwrap()
            .contains(&json!(ACME_GROUP)),
        "{without}"
    );
    let (_, excl) = app
        .get(&format!(
            "/Groups/{id}?excludedAttributes={ACME_GROUP}:owners,members"
        ))
        .await;
    assert_eq!(
        excl[ACME_GROUP],
        json!({"costCode": "G-1", "level": 3, "tags": ["a"]})
    );

    // Wrong types: 400 naming the attribute, nothing written.
    let before = db_rows(&app).await;
    for (ext, name) in [
        (json!({"level": "high"}), "level"),
        (json!({"costCode": ["a"]}), "costCode"),
        (json!({"owners": [{"kind": 5}]}), "owners.kind"),
    ] {
        let (status, err) = app.post("/Groups", acme_group("Bad", ext)).await;
        assert_scim_error(status, &err, 400, Some("invalidValue"));
        assert!(err["detail"].as_str().unwrap().contains(name), "{err}");
    }
    assert_db_unchanged(&app, &before).await;
}

#[tokio::test]
async fn group_put_and_patch_set_and_remove_extension_values() {
    let app = app_with_group_ext().await;
    let member = app.create_user(user("member@acme.example")).await;
    let mut body = acme_group("Ops", json!({"costCode": "A", "tags": ["a", "b"]}));
    body["members"] = json!([{"value": member}]);
    let (status, created) = app.post("/Groups", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{id}");

    // Paths, a multi-valued add: 204 (no attributes asked), then stored.
    let (status, _) = app
        .patch(
            &path,
            json!([
                {"op": "replace", "path": format!("{ACME_GROUP}:costCode"), "value": "B"},
                {"op": "add", "path": format!("{ACME_GROUP}:tags"), "value": ["c"]},
                {"op": "add", "path": format!("{ACME_GROUP}:owners"), "value": [{"value": "o1", "kind": "lead"}]},
            ]),
        )
        .await;
    assert_eq!(status, 204);
    let (_, got) = app.get(&path).await;
    assert_eq!(
        got[ACME_GROUP],
        json!({"costCode": "B", "tags": ["a", "b", "c"], "owners": [{"value": "o1", "kind": "lead"}]}),
        "{got}"
    );
    // Entra: path-less, flat keys typed from strings, with a core attribute.
    let (status, _) = app
        .patch(
            &path,
            json!([{"op": "Replace", "value": {"displayName": "Ops2", format!("{ACME_GROUP}:level"): "7"}}]),
        )
        .await;
    assert_eq!(status, 204);
    // The whole extension object with its own schemas; value filters
    // (a complex one with a full expression); attributes asked: 200 and the body.
    let (status, patched) = app
        .patch(
            &format!("{path}?excludedAttributes=members"),
            json!([
                {"op": "replace", "path": ACME_GROUP, "value": {"schemas": [ACME_GROUP], "costCode": "C"}},
                {"op": "remove", "path": format!("{ACME_GROUP}:tags[value eq \"b\"]")},
                {"op": "replace", "path": format!("{ACME_GROUP}:owners[kind eq \"lead\" and value eq \"o1\"].value"), "value": "o2"},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let want = json!({"costCode": "C", "level": 7, "tags": ["a", "c"],
        "owners": [{"value": "o2", "kind": "lead"}]});
    assert_eq!(patched[ACME_GROUP], want, "{patched}");
    let (_, got) = app.get(&path).await;
    assert_eq!(got["displayName"], "Ops2");
    assert_eq!(got[ACME_GROUP], want, "{got}");
    assert_eq!(got["members"][0]["value"], member.as_str(), "{got}");

    // Refused: a wrong type, an unknown attribute, an unregistered schema;
    // nothing changes.
    let before = db_rows(&app).await;
    for (op, scim_type) in [
        (
            json!({"op": "replace", "path": format!("{ACME_GROUP}:level"), "value": "many"}),
            "invalidValue",
        ),
        (
            json!({"op": "add", "path": format!("{ACME_GROUP}:nope"), "value": "x"}),
            "invalidPath",
        ),
        (
            json!({"op": "add", "path": "urn:ietf:params:scim:schemas:extension:other:2.0:Group:x", "value": "x"}),
            "invalidPath",
        ),
        (
            json!({"op": "add", "value": {"urn:ietf:params:scim:schemas:extension:other:2.0:Group:x": 1}}),
            "invalidPath",
        ),
    ] {
        let (status, err) = app
            .patch(
                &path,
                json!([{"op": "replace", "path": format!("{ACME_GROUP}:costCode"), "value": "Z"}, op]),
            )
            .await;
        assert_scim_error(status, &err, 400, Some(scim_type));
    }
    assert_db_unchanged(&app, &before).await;

    // Remove one attribute, then the whole extension.
    let (status, _) = app
        .patch(
            &path,
            json!([{"op": "remove", "path": format!("{ACME_GROUP}:costCode")}]),
        )
        .await;
    assert_eq!(status, 204);
    let (_, got) = app.get(&path).await;
    assert!(got[ACME_GROUP].get("costCode").is_none(), "{got}");
    let (status, _) = app
        .patch(&path, json!([{"op": "remove", "path": ACME_GROUP}]))
        .await;
    assert_eq!(status, 204);
    let (_, got) = app.get(&path).await;
    assert!(got.get(ACME_GROUP).is_none(), "{got}");
    assert!(group_value_rows(&app, &id).await.is_empty());

    // PUT sets them; a PUT leaving them out clears them; members stay.
    let mut put = acme_group("Ops2", json!({"level": 1}));
    put["members"] = json!([{"value": member}]);
    let (status, body) = app.put(&path, put).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ACME_GROUP], json!({"level": 1}), "{body}");
    let (status, body) = app
        .put(
            &path,
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Ops2", "members": [{"value": member}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get(ACME_GROUP).is_none(), "{body}");
    assert!(group_value_rows(&app, &id).await.is_empty());
    assert_eq!(body["members"].as_array().unwrap().len(), 1, "{body}");

    // Removing the schema removes the groups' values.
    let mut body = acme_group("Ops3", json!({"costCode": "R"}));
    body["members"] = json!([]);
    let (_, g) = app.post("/Groups", body).await;
    let a = admin(&app, "default").await;
    let (status, _) = a.delete(&format!("/schemas/{ACME_GROUP}")).await;
    assert_eq!(status, 204);
    assert!(
        group_value_rows(&app, g["id"].as_str().unwrap())
            .await
            .is_empty()
    );
}

async fn group_names(app: &TestApp, query: &str) -> Vec<String> {
    let (status, list) = app.get(&format!("/Groups?{query}")).await;
    assert_eq!(status, 200, "{query}: {list}");
    list["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["displayName"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn group_extension_values_filter_and_sort_in_sql() {
    let app = app_with_group_ext().await;
    for (name, ext) in [
        (
            "G1",
            json!({"costCode": "X", "level": 1, "owners": [{"value": "o1", "kind": "lead"}, {"value": "o2", "kind": "member"}]}),
        ),
        (
            "G2",
            json!({"costCode": "Y", "level": 5, "tags": ["t"], "owners": [{"value": "o1", "kind": "member"}]}),
        ),
        ("G3", json!({})),
    ] {
        let (status, body) = app.post("/Groups", acme_group(name, ext)).await;
        assert_eq!(status, 201, "{body}");
    }
    let f = |filter: &str| format!("filter={}&sortBy=displayName", q(filter));
    for (filter, want) in [
        (format!(r#"{ACME_GROUP}:costCode eq "x""#), vec!["G1"]),
        (format!("{ACME_GROUP}:level gt 2"), vec!["G2"]),
        (format!("{ACME_GROUP}:costCode pr"), vec!["G1", "G2"]),
        (
            format!(r#"not ({ACME_GROUP}:costCode eq "X")"#),
            vec!["G2", "G3"],
        ),
        (format!(r#"{ACME_GROUP}:tags[value eq "t"]"#), vec!["G2"]),
        (
            format!(r#"{ACME_GROUP}:owners[value eq "o1" and kind eq "lead"]"#),
            vec!["G1"],
        ),
        (
            format!(r#"{ACME_GROUP}:owners[value eq "o1" and not (kind eq "lead")]"#),
            vec!["G2"],
        ),
        (
            format!(r#"{ACME_GROUP}:owners.kind eq "member" and displayName sw "G""#),
            vec!["G1", "G2"],
        ),
    ] {
        assert_eq!(group_names(&app, &f(&filter)).await, want, "{filter}");
    }
    let sorted = group_names(
        &app,
        &format!(
            "filter={}&sortBy={ACME_GROUP}:level&sortOrder=descending",
            q(&format!("{ACME_GROUP}:level pr"))
        ),
    )
    .await;
    assert_eq!(sorted, vec!["G2", "G1"]);
    let (status, err) = app
        .get(&format!(
            "/Groups?filter={}",
            q(&format!(r#"{ACME_GROUP}:nope eq "x""#))
        ))
        .await;
    assert_scim_error(status, &err, 400, Some("invalidFilter"));
}

#[tokio::test]
async fn bulk_carries_group_extension_values() {
    let app = app_with_group_ext().await;
    let (status, res) = app
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "POST", "path": "/Groups", "bulkId": "g1",
                     "data": acme_group("BulkG", json!({"costCode": "B-1"}))},
                    {"method": "PATCH", "path": "/Groups/bulkId:g1", "data": {
                        "schemas": [PATCH_OP],
                        "Operations": [{"op": "add", "path": format!("{ACME_GROUP}:level"), "value": 3}]}},
                    {"method": "POST", "path": "/Groups", "bulkId": "g2",
                     "data": acme_group("BulkBad", json!({"level": "x"}))},
                ],
            }),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let ops = res["Operations"].as_array().unwrap();
    assert_eq!(ops[0]["status"], "201", "{res}");
    assert_eq!(ops[1]["status"], "200", "{res}");
    assert_eq!(ops[2]["status"], "400", "{res}");
    let (_, list) = app.get("/Groups").await;
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(
        list["Resources"][0][ACME_GROUP],
        json!({"costCode": "B-1", "level": 3}),
        "{list}"
    );
}

// ---- uniqueness ----

const UNIQ: &str = "urn:ietf:params:scim:schemas:extension:uniq:2.0:User";

fn uniq_schema() -> Value {
    json!({"id": UNIQ, "attributes": [
        {"name": "badgeId", "type": "string", "uniqueness": "server"},
        {"name": "token", "type": "string", "caseExact": true, "uniqueness": "global"},
        {"name": "desk", "type": "complex", "subAttributes": [
            {"name": "code", "type": "integer", "uniqueness": "server"},
            {"name": "floor", "type": "integer"}]},
        {"name": "note", "type": "string"},
    ]})
}

fn uniq_user(user_name: &str, ext: Value) -> Value {
    let mut u = user(user_name);
    u["schemas"] = json!([USER_SCHEMA, UNIQ]);
    u[UNIQ] = ext;
    u
}

async fn count_users(app: &TestApp, user_name: &str) -> u64 {
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            q(&format!(r#"userName eq "{user_name}""#))
        ))
        .await;
    list["totalResults"].as_u64().unwrap()
}

#[tokio::test]
async fn unique_custom_values_are_enforced_on_every_write() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    // Multi-valued or complex attributes can't be unique: refused.
    for attr in [
        json!({"name": "a", "type": "string", "multiValued": true, "uniqueness": "server"}),
        json!({"name": "a", "type": "complex", "uniqueness": "server", "subAttributes": [{"name": "b", "type": "string"}]}),
    ] {
        let (status, body) = a
            .post("/schemas", json!({"id": UNIQ, "attributes": [attr]}))
            .await;
        assert_admin_error(status, &body, 400, "invalid_request");
    }
    let (status, body) = a.post("/schemas", uniq_schema()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["schema"]["attributes"][0]["uniqueness"], "server");
    let (_, served) = app.get(&format!("/Schemas/{UNIQ}")).await;
    assert_eq!(served["attributes"][1]["uniqueness"], "global", "{served}");

    let u1 = app
        .create_user(uniq_user(
            "u1@acme.example",
            json!({"badgeId": "B-1", "token": "Tok", "desk": {"code": 7}}),
        ))
        .await;
    // POST: the same value (caseExact false: in any case) is 409, nothing
    // written.
    for (ext, attr) in [
        (json!({"badgeId": "b-1"}), "badgeId"),
        (json!({"token": "Tok"}), "token"),
        (json!({"desk": {"code": "7", "floor": 1}}), "desk.code"),
    ] {
        let before = db_rows(&app).await;
        let (status, err) = app.post("/Users", uniq_user("u2@acme.example", ext)).await;
        assert_scim_error(status, &err, 409, Some("uniqueness"));
        assert!(err["detail"].as_str().unwrap().contains(attr), "{err}");
        assert_db_unchanged(&app, &before).await;
    }
    // caseExact: another case is another value; other attributes may repeat.
    let u2 = app
        .create_user(uniq_user(
            "u2@acme.example",
            json!({"badgeId": "B-2", "token": "tok", "note": "same", "desk": {"code": 8, "floor": 1}}),
        ))
        .await;
    app.create_user(uniq_user(
        "u3@acme.example",
        json!({"note": "same", "desk": {"floor": 1}}),
    ))
    .await;

    // PUT and PATCH onto another user's value: 409, nothing changes.
    let before = db_rows(&app).await;
    let (status, err) = app
        .put(
            &format!("/Users/{u2}"),
            uniq_user("u2@acme.example", json!({"badgeId": "B-1"})),
        )
        .await;
    assert_scim_error(status, &err, 409, Some("uniqueness"));
    for op in [
        json!({"op": "replace", "path": format!("{UNIQ}:badgeId"), "value": "B-1"}),
        json!({"op": "replace", "value": {format!("{UNIQ}:token"): "Tok"}}),
        json!({"op": "add", "path": format!("{UNIQ}:desk.code"), "value": 7}),
    ] {
        let (status, err) = app.patch(&format!("/Users/{u2}"), json!([op])).await;
        assert_scim_error(status, &err, 409, Some("uniqueness"));
    }
    assert_db_unchanged(&app, &before).await;
    // A user keeps its own value; a freed value can be taken.
    let (status, body) = app
        .patch(
            &format!("/Users/{u1}"),
            json!([{"op": "replace", "path": format!("{UNIQ}:badgeId"), "value": "B-1"},
                   {"op": "replace", "path": format!("{UNIQ}:note"), "value": "n"}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .patch(
            &format!("/Users/{u1}"),
            json!([{"op": "remove", "path": format!("{UNIQ}:badgeId")}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .patch(
            &format!("/Users/{u2}"),
            json!([{"op": "replace", "path": format!("{UNIQ}:badgeId"), "value": "B-1"}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[UNIQ]["badgeId"], "B-1");

    // /Bulk: the conflicting operation is 409, the others are done.
    let (status, res) = app
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "a",
                     "data": uniq_user("b1@acme.example", json!({"badgeId": "B-1"}))},
                    {"method": "POST", "path": "/Users", "bulkId": "b",
                     "data": uniq_user("b2@acme.example", json!({"badgeId": "B-9"}))},
                    {"method": "PATCH", "path": format!("/Users/{u1}"), "data": {
                        "schemas": [PATCH_OP],
                        "Operations": [{"op": "add", "path": format!("{UNIQ}:badgeId"), "value": "b-9"}]}},
                ],
            }),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let statuses: Vec<&str> = res["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, vec!["409", "201", "409"], "{res}");
    assert_eq!(
        res["Operations"][0]["response"]["scimType"], "uniqueness",
        "{res}"
    );
    assert_eq!(count_users(&app, "b1@acme.example").await, 0);
    assert_eq!(count_users(&app, "b2@acme.example").await, 1);
    // A deleted (unlinked) user's value is free again.
    let (status, _) = app.delete(&format!("/Users/{u2}")).await;
    assert_eq!(status, 204);
    app.create_user(uniq_user("u5@acme.example", json!({"badgeId": "B-1"})))
        .await;

    // server: per directory; global: across the organization's directories,
    // never across organizations.
    let other = app.other_directory("default", "second").await;
    other
        .create_user(uniq_user("d2@acme.example", json!({"badgeId": "B-1"})))
        .await;
    let (status, err) = other
        .post(
            "/Users",
            uniq_user("d3@acme.example", json!({"token": "Tok"})),
        )
        .await;
    assert_scim_error(status, &err, 409, Some("uniqueness"));
    let globex = app.other_directory("globex", "g").await;
    let g = admin(&app, "globex").await;
    let (status, _) = g.post("/schemas", uniq_schema()).await;
    assert_eq!(status, 201);
    globex
        .create_user(uniq_user(
            "g1@globex.example",
            json!({"token": "Tok", "badgeId": "B-1"}),
        ))
        .await;
}

#[tokio::test]
async fn concurrent_writes_of_a_unique_value_leave_one_winner() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let (status, _) = a.post("/schemas", uniq_schema()).await;
    assert_eq!(status, 201);
    let tries = (0..8).map(|i| {
        let app = &app;
        async move {
            app.post(
                "/Users",
                uniq_user(&format!("race{i}@acme.example"), json!({"badgeId": "RACE"})),
            )
            .await
        }
    });
    let results = futures_util::future::join_all(tries).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{results:?}");
    for (status, body) in results.iter().filter(|(s, _)| *s != 201) {
        assert_scim_error(*status, body, 409, Some("uniqueness"));
    }
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            q(&format!(r#"{UNIQ}:badgeId eq "race""#))
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
}

#[tokio::test]
async fn unique_group_extension_values_are_enforced() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let (status, body) = a
        .post(
            "/schemas",
            json!({"id": ACME_GROUP, "attributes": [
                {"name": "code", "type": "string", "uniqueness": "server"}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, one) = app
        .post("/Groups", acme_group("One", json!({"code": "C1"})))
        .await;
    assert_eq!(status, 201);
    let (status, err) = app
        .post("/Groups", acme_group("Two", json!({"code": "c1"})))
        .await;
    assert_scim_error(status, &err, 409, Some("uniqueness"));
    let (status, two) = app
        .post("/Groups", acme_group("Two", json!({"code": "C2"})))
        .await;
    assert_eq!(status, 201, "{two}");
    let (status, err) = app
        .patch(
            &format!("/Groups/{}", two["id"].as_str().unwrap()),
            json!([{"op": "replace", "path": format!("{ACME_GROUP}:code"), "value": "C1"}]),
        )
        .await;
    assert_scim_error(status, &err, 409, Some("uniqueness"));
    let (_, list) = app
        .get(&format!(
            "/Groups?filter={}",
            q(&format!(r#"{ACME_GROUP}:code eq "c2""#))
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    // A deleted group's value is free again.
    let (status, _) = app
        .delete(&format!("/Groups/{}", one["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 204);
    let (status, three) = app
        .post("/Groups", acme_group("Three", json!({"code": "C1"})))
        .await;
    assert_eq!(status, 201, "{three}");
}

// ---- value filters on multi-valued complex attributes ----

const PHONES: &str = "urn:ietf:params:scim:schemas:extension:phones:2.0:User";

#[tokio::test]
async fn value_filters_on_complex_custom_attributes_take_full_expressions() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let (status, body) = a
        .post(
            "/schemas",
            json!({"id": PHONES, "attributes": [
                {"name": "phones", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string"}, {"name": "kind", "type": "string"},
                    {"name": "rank", "type": "integer"}]}]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let phones_user = |name: &str, phones: Value| {
        let mut u = user(name);
        u["schemas"] = json!([USER_SCHEMA, PHONES]);
        u[PHONES] = json!({ "phones": phones });
        u
    };
    let p1 = app
        .create_user(phones_user(
            "p1@acme.example",
            json!([{"value": "111", "kind": "work", "rank": 1}, {"value": "222", "kind": "home", "rank": 2}]),
        ))
        .await;
    let p2 = app
        .create_user(phones_user(
            "p2@acme.example",
            json!([{"value": "222", "kind": "work", "rank": 2}, {"value": "111", "kind": "home"}]),
        ))
        .await;
    let p3 = app
        .create_user(phones_user(
            "p3@acme.example",
            json!([{"value": "333", "kind": "work"}]),
        ))
        .await;
    let f = |filter: &str| format!("filter={}&sortBy=userName", q(filter));
    for (filter, want) in [
        // Both comparisons hold within one entry (p2's 111 is at home).
        (
            format!(r#"{PHONES}:phones[kind eq "work" and value sw "1"]"#),
            vec!["p1@acme.example"],
        ),
        (
            format!(r#"{PHONES}:phones[kind eq "home" or value eq "333"]"#),
            vec!["p1@acme.example", "p2@acme.example", "p3@acme.example"],
        ),
        (
            format!(r#"{PHONES}:phones[kind eq "work" and not (value eq "111")]"#),
            vec!["p2@acme.example", "p3@acme.example"],
        ),
        (
            format!(r#"{PHONES}:phones[kind eq "home" and rank pr]"#),
            vec!["p1@acme.example"],
        ),
        (
            format!(r#"{PHONES}:phones[(kind eq "work" or kind eq "home") and rank ge 2]"#),
            vec!["p1@acme.example", "p2@acme.example"],
        ),
        (
            format!(r#"{PHONES}:phones[value eq "111"]"#),
            vec!["p1@acme.example", "p2@acme.example"],
        ),
    ] {
        assert_eq!(user_names(&app, &f(&filter)).await, want, "{filter}");
    }
    // The same expressions in PATCH paths.
    let (status, body) = app
        .patch(
            &format!("/Users/{p2}"),
            json!([{"op": "replace",
                "path": format!(r#"{PHONES}:phones[kind eq "work" and value eq "222"].value"#),
                "value": "999"}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body[PHONES]["phones"],
        json!([{"value": "999", "kind": "work", "rank": 2}, {"value": "111", "kind": "home"}])
    );
    let (status, body) = app
        .patch(
            &format!("/Users/{p1}"),
            json!([{"op": "remove",
                "path": format!(r#"{PHONES}:phones[not (kind eq "work") or value eq "nope"]"#)}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body[PHONES]["phones"],
        json!([{"value": "111", "kind": "work", "rank": 1}])
    );
    let (status, body) = app
        .patch(
            &format!("/Users/{p3}"),
            json!([{"op": "remove", "path": format!(r#"{PHONES}:phones[kind eq "work" and value eq "333"]"#)}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get(PHONES).is_none(), "{body}");
    assert_eq!(
        user_names(
            &app,
            &f(&format!(
                r#"{PHONES}:phones[value eq "999" and kind eq "work"]"#
            ))
        )
        .await,
        vec!["p2@acme.example"]
    );
}

// ---- import: dropped attributes are warnings ----

async fn import_file(app: &TestApp, ext: &str, text: String) -> scim_server::import::Summary {
    use clap::Parser;
    let path = std::env::temp_dir().join(format!("scim-import-{}.{ext}", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    let dir = app.directory_id.to_string();
    let p = path.display().to_string();
    let cli = scim_server::cli::Cli::try_parse_from([
        "scim-server",
        "import",
        "users",
        "--directory",
        dir.as_str(),
        p.as_str(),
    ])
    .unwrap();
    let summary = scim_server::cli::run_import(&app.settings, cli.command.unwrap())
        .await
        .unwrap();
    std::fs::remove_file(&path).ok();
    summary
}

#[tokio::test]
async fn import_records_dropped_attributes_as_sync_log_warnings() {
    let app = app_with_acme().await;
    let a = admin(&app, "default").await;
    let okta = "urn:ietf:params:scim:schemas:extension:okta:2.0:User";
    let mut row = acme_user("imp1@acme.example", json!({"costCode": "I-1", "nope": 1}));
    row["shoeSize"] = json!(42);
    row[okta] = json!({"favoriteColor": "blue"});
    let plain = user("imp2@acme.example");
    let jsonl = format!("{row}\n{plain}\n");
    let summary = import_file(&app, "jsonl", jsonl).await;
    assert_eq!((summary.created, summary.failed), (2, 0), "{summary:?}");
    let csv = format!(
        "userName,email,{ACME}:costCode,{okta}:color\nimp3@acme.example,imp3@acme.example,C-3,red\n"
    );
    let summary = import_file(&app, "csv", csv).await;
    assert_eq!(summary.created, 1, "{summary:?}");

    let dir = app.directory_id;
    let (status, log) = a
        .get(&format!("/directories/{dir}/sync-log?outcome=warning"))
        .await;
    assert_eq!(status, 200, "{log}");
    let id_of = |list: &Value, name: &str| -> String {
        list["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["userName"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (_, users) = app.get("/Users").await;
    let (id1, id3) = (
        id_of(&users, "imp1@acme.example"),
        id_of(&users, "imp3@acme.example"),
    );
    let mut got: Vec<(String, String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["operation"], "POST /Users (import)", "{e}");
            (
                e["resource_id"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
                e["status"].to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        (
            id1.clone(),
            "ignored attribute shoeSize: no registered schema".to_owned(),
            "201".to_owned(),
        ),
        (
            id1.clone(),
            format!("ignored attribute {ACME}:nope: no registered schema"),
            "201".to_owned(),
        ),
        (
            id1.clone(),
            format!("ignored attribute {okta}:favoriteColor: no registered schema"),
            "201".to_owned(),
        ),
        (
            id3.clone(),
            format!("ignored attribute {okta}:color: no registered schema"),
            "201".to_owned(),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    let (_, dirs) = a.get("/directories").await;
    let d = dirs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == dir.to_string())
        .unwrap();
    assert_eq!(d["ignored_attributes_last_24h"], 4, "{d}");

    // A directory that refuses them refuses such rows (the others pass).
    let (status, _) = a
        .put(
            &format!("/directories/{dir}/unknown-attributes"),
            json!({"reject": true}),
        )
        .await;
    assert_eq!(status, 200);
    let mut bad = user("imp4@acme.example");
    bad["shoeSize"] = json!(1);
    let jsonl = format!("{bad}\n{}\n", user("imp5@acme.example"));
    let summary = import_file(&app, "jsonl", jsonl).await;
    assert_eq!((summary.created, summary.failed), (1, 1), "{summary:?}");
    assert_eq!(count_users(&app, "imp4@acme.example").await, 0);
}

// ---- the admin web page ----

#[tokio::test]
async fn the_admin_web_page_shows_custom_attributes_of_an_account() {
    let app = app_with_acme().await;
    app.verify_domain("acme.example").await;
    app.create_user(acme_user(
        "web@acme.example",
        json!({"costCode": "W-<1>", "badge": 2, "desk": {"building": "B1", "floor": 3}}),
    ))
    .await;
    let a = admin(&app, "default").await;
    let account = account_of(&app, "web@acme.example").await;
    let (session, _) = crate::web_sessions::sign_in(&app, &a.key).await;
    let page = reqwest::Client::new()
        .get(format!("{}/admin/accounts/{}", app.address, account.id))
        .header(
            "Cookie",
            format!("{}={session}", crate::web_sessions::SESSION_COOKIE),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Custom attributes from"), "{page}");
    for (path, value) in [
        (format!("{ACME}:costCode"), "W-&lt;1&gt;"),
        (format!("{ACME}:badge"), "2"),
        (format!("{ACME}:desk"), "building: B1; floor: 3"),
    ] {
        assert!(
            page.contains(&format!("<dt>{path}</dt><dd>{value}</dd>")),
            "{path}: {page}"
        );
    }
}

#[tokio::test]
async fn group_attributes_of_no_registered_schema_are_sync_log_warnings() {
    let app = app_with_group_ext().await;
    let a = admin(&app, "default").await;
    let other = "urn:ietf:params:scim:schemas:extension:other:2.0:Group";
    let mut body = acme_group("Warned", json!({"costCode": "W", "nope": 1}));
    body[other] = json!({"color": "blue"});
    let (status, created) = app.post("/Groups", body.clone()).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created[ACME_GROUP], json!({"costCode": "W"}));
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, _) = app.put(&format!("/Groups/{id}"), body.clone()).await;
    assert_eq!(status, 200);
    let (status, res) = app
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [{"method": "POST", "path": "/Groups", "bulkId": "w",
                    "data": {"displayName": "WarnedBulk", format!("{other}:size"): 3}}],
            }),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["Operations"][0]["status"], "201", "{res}");

    let dir = app.directory_id;
    let (_, log) = a
        .get(&format!("/directories/{dir}/sync-log?outcome=warning"))
        .await;
    let mut got: Vec<(String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_owned(),
                e["detail"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    got.sort();
    let w = |op: &str, path: String| {
        (
            op.to_owned(),
            format!("ignored attribute {path}: no registered schema"),
        )
    };
    let mut want = vec![
        w("POST /Groups", format!("{ACME_GROUP}:nope")),
        w("POST /Groups", format!("{other}:color")),
        w("PUT /Groups/{id}", format!("{ACME_GROUP}:nope")),
        w("PUT /Groups/{id}", format!("{other}:color")),
        w("POST /Groups (bulk)", format!("{other}:size")),
    ];
    want.sort();
    assert_eq!(got, want, "{log}");

    // A directory that refuses them: 400 invalidSyntax, nothing written.
    let (status, _) = a
        .put(
            &format!("/directories/{dir}/unknown-attributes"),
            json!({"reject": true}),
        )
        .await;
    assert_eq!(status, 200);
    let before = db_rows(&app).await;
    body["displayName"] = json!("Refused");
    let (status, err) = app.post("/Groups", body).await;
    assert_scim_error(status, &err, 400, Some("invalidSyntax"));
    assert!(err["detail"].as_str().unwrap().contains("nope"), "{err}");
    assert_db_unchanged(&app, &before).await;
}
