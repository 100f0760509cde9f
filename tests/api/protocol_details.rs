//! Protocol details third-party SCIM clients check: trailing slashes,
//! `primary: false`, extension objects with their own `schemas`, the
//! enterprise manager's `$ref`/`displayName`, `meta.lastModified`
//! precision, `id` caseExact, the discovery documents.

use crate::helpers::*;
use serde_json::{Value, json};

fn filter(f: &str) -> String {
    form_urlencoded::byte_serialize(f.as_bytes()).collect()
}

fn ids(list: &Value) -> Vec<&str> {
    list["Resources"]
        .as_array()
        .expect("a ListResponse")
        .iter()
        .map(|r| r["id"].as_str().expect("an id"))
        .collect()
}

#[tokio::test]
async fn paths_with_a_trailing_slash_answer_as_without_it() {
    let app = spawn_app().await;
    let id = app.create_user(user("slash@example.com")).await;

    let (status, list) = app
        .get(&format!(
            "/Users/?filter={}",
            filter(r#"userName eq "slash@example.com""#)
        ))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(ids(&list), vec![id.as_str()]);

    let (status, one) = app.get(&format!("/Users/{id}/")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["id"], id);

    let (status, created) = app
        .post("/Groups/", json!({"displayName": "Slashed"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let gid = created["id"].as_str().unwrap();
    let (status, g) = app.get(&format!("/Groups/{gid}/")).await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(g["displayName"], "Slashed");

    for path in ["/ServiceProviderConfig/", "/ResourceTypes/", "/Schemas/"] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // Still a 404 for what does not exist, slash or not.
    let (status, body) = app.get("/Nothing/").await;
    assert_scim_error(status, &body, 404, None);
}

#[tokio::test]
async fn primary_false_round_trips_as_sent() {
    let app = spawn_app().await;
    let mut body = user("prim@example.com");
    body["emails"] = json!([
        {"value": "prim@example.com", "type": "work", "primary": true},
        {"value": "prim@home.example", "type": "home", "primary": false},
        {"value": "prim@other.example", "type": "other"},
    ]);
    body["addresses"] = json!([{"locality": "Oslo", "type": "work", "primary": false}]);
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (_, got) = app.get(&format!("/Users/{id}")).await;
    for doc in [&created, &got] {
        assert_eq!(doc["emails"][0]["primary"], true, "{doc}");
        assert_eq!(doc["emails"][1]["primary"], false, "{doc}");
        assert!(doc["emails"][2].get("primary").is_none(), "{doc}");
        assert_eq!(doc["addresses"][0]["primary"], false, "{doc}");
    }
    // Not sent reads as false in filters; true matches only the primary.
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            filter(r#"emails[primary eq false and value eq "prim@other.example"]"#)
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            filter(r#"emails[primary eq true and value eq "prim@home.example"]"#)
        ))
        .await;
    assert_eq!(list["totalResults"], 0, "{list}");
}

#[tokio::test]
async fn patch_of_an_extension_urn_accepts_the_object_with_its_own_schemas() {
    let app = spawn_app().await;
    let id = app.create_user(user("ext@example.com")).await;
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": ENTERPRISE, "value": {
                "schemas": [ENTERPRISE],
                "department": "Tour",
                "employeeNumber": "701984",
            }}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[ENTERPRISE]["department"], "Tour");
    assert_eq!(body[ENTERPRISE]["employeeNumber"], "701984");
    assert!(body[ENTERPRISE].get("schemas").is_none(), "{body}");
    let (_, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(got[ENTERPRISE]["department"], "Tour");
}

#[tokio::test]
async fn the_enterprise_manager_carries_value_ref_and_display_name() {
    let app = spawn_app().await;
    let mut boss = user("boss@example.com");
    boss["displayName"] = json!("Big Boss");
    let boss_id = app.create_user(boss).await;
    let mut body = user("report@example.com");
    body[ENTERPRISE] = json!({"manager": {"value": boss_id}});
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let want = json!({
        "value": boss_id,
        "$ref": format!("{}/Users/{boss_id}", app.base),
        "displayName": "Big Boss",
    });
    assert_eq!(created[ENTERPRISE]["manager"], want);
    let (_, got) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(got[ENTERPRISE]["manager"], want);
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            filter(r#"userName eq "report@example.com""#)
        ))
        .await;
    assert_eq!(list["Resources"][0][ENTERPRISE]["manager"], want, "{list}");

    // A client echoing the whole manager back in a PUT keeps the same value.
    let mut again = got.clone();
    again[ENTERPRISE]["manager"] = want.clone();
    let (status, put) = app.put(&format!("/Users/{id}"), again).await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put[ENTERPRISE]["manager"], want);

    // A manager id that is no User of this directory: value only.
    let (status, patched) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": format!("{ENTERPRISE}:manager"), "value": "not-a-user"}]),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched[ENTERPRISE]["manager"],
        json!({"value": "not-a-user"})
    );
}

#[tokio::test]
async fn last_modified_gt_what_the_server_returned_does_not_match_the_same_resource() {
    let app = spawn_app().await;
    let id = app.create_user(user("time@example.com")).await;
    let (_, got) = app.get(&format!("/Users/{id}")).await;
    let lm = got["meta"]["lastModified"].as_str().unwrap().to_owned();
    let count = |f: String| {
        let app = &app;
        async move {
            let (status, list) = app.get(&format!("/Users?filter={}", filter(&f))).await;
            assert_eq!(status, 200, "{f}: {list}");
            list["totalResults"].as_u64().unwrap()
        }
    };
    assert_eq!(count(format!(r#"meta.lastModified gt "{lm}""#)).await, 0);
    assert_eq!(count(format!(r#"meta.lastModified ge "{lm}""#)).await, 1);
    assert_eq!(count(format!(r#"meta.lastModified eq "{lm}""#)).await, 1);
    assert_eq!(count(format!(r#"meta.lastModified le "{lm}""#)).await, 1);
    assert_eq!(count(format!(r#"meta.lastModified lt "{lm}""#)).await, 0);
    assert_eq!(count(format!(r#"meta.lastModified ne "{lm}""#)).await, 0);

    let (_, g) = app.post("/Groups", json!({"displayName": "Timed"})).await;
    let glm = g["meta"]["lastModified"].as_str().unwrap().to_owned();
    let (_, list) = app
        .get(&format!(
            "/Groups?filter={}",
            filter(&format!(r#"meta.lastModified gt "{glm}""#))
        ))
        .await;
    assert_eq!(list["totalResults"], 0, "{list}");
    let (_, list) = app
        .get(&format!(
            "/Groups?filter={}",
            filter(&format!(r#"meta.lastModified eq "{glm}""#))
        ))
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
}

#[tokio::test]
async fn id_is_case_exact_in_filters() {
    let app = spawn_app().await;
    let id = app.create_user(user("caseid@example.com")).await;
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            filter(&format!(r#"id eq "{id}""#))
        ))
        .await;
    assert_eq!(ids(&list), vec![id.as_str()]);
    let upper = id.to_uppercase();
    let (status, list) = app
        .get(&format!(
            "/Users?filter={}",
            filter(&format!(r#"id eq "{upper}""#))
        ))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["totalResults"], 0, "{list}");
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            filter(&format!(r#"id ne "{upper}""#))
        ))
        .await;
    assert_eq!(ids(&list), vec![id.as_str()]);

    let (_, g) = app.post("/Groups", json!({"displayName": "Cased"})).await;
    let gid = g["id"].as_str().unwrap().to_uppercase();
    let (_, list) = app
        .get(&format!(
            "/Groups?filter={}",
            filter(&format!(r#"id eq "{gid}""#))
        ))
        .await;
    assert_eq!(list["totalResults"], 0, "{list}");
}

#[tokio::test]
async fn service_provider_config_has_no_made_up_documentation_uri() {
    let app = spawn_app().await;
    let (status, spc) = app.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200, "{spc}");
    assert!(spc.get("documentationUri").is_none(), "{spc}");

    let app = spawn_app_with(|s| {
        s.documentation_url = Some("https://docs.acme.example/scim".into());
    })
    .await;
    let (_, spc) = app.get("/ServiceProviderConfig").await;
    assert_eq!(spc["documentationUri"], "https://docs.acme.example/scim");
}

#[tokio::test]
async fn the_user_schema_says_an_email_is_required() {
    let app = spawn_app().await;
    let (status, schema) = app.get(&format!("/Schemas/{USER_SCHEMA}")).await;
    assert_eq!(status, 200, "{schema}");
    let emails = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "emails")
        .unwrap();
    let d = emails["description"].as_str().unwrap();
    assert!(
        d.contains("requires an email address") && d.contains("userName"),
        "{d}"
    );
}
