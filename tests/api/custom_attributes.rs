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
