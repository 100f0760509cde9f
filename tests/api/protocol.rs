//! ETags and /Bulk.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn etags_give_304_and_412() {
    let app = spawn_app().await;
    let id = app.create_user(user("etag@example.com")).await;
    let res = app
        .scim(Method::GET, &format!("/Users/{id}"))
        .send()
        .await
        .unwrap();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, "W/\"1\"");
    let res = app
        .scim(Method::GET, &format!("/Users/{id}"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    // A stale If-Match is refused and changes nothing.
    let body = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "x"}]});
    let res = app
        .scim(Method::PATCH, &format!("/Users/{id}"))
        .header("If-Match", "W/\"7\"")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let (status, err) = read(res).await;
    assert_scim_error(status, &err, 412, None);
    let (_, current) = app.get(&format!("/Users/{id}")).await;
    assert!(current.get("title").is_none());
    let res = app
        .scim(Method::PATCH, &format!("/Users/{id}"))
        .header("If-Match", &etag)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["etag"], "W/\"2\"");
    // PUT and DELETE honour it too; * matches anything.
    let res = app
        .scim(Method::PUT, &format!("/Users/{id}"))
        .header("If-Match", "W/\"1\"")
        .body(user("etag@example.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 412);
    let res = app
        .scim(Method::DELETE, &format!("/Users/{id}"))
        .header("If-Match", "*")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // A missing resource is still 404, not 412.
    let res = app
        .scim(Method::DELETE, &format!("/Users/{id}"))
        .header("If-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    let (_, g) = app.post("/Groups", json!({"displayName": "Tagged"})).await;
    let gid = g["id"].as_str().unwrap();
    let res = app
        .scim(Method::GET, &format!("/Groups/{gid}"))
        .header("If-None-Match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    let res = app
        .scim(Method::DELETE, &format!("/Groups/{gid}"))
        .header("If-Match", "W/\"9\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 412);
}

#[tokio::test]
async fn bulk_runs_operations_in_order_with_bulk_id_references() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "alice", "data": user("alice@example.com")},
                    {"method": "POST", "path": "/Users", "bulkId": "bob", "data": user("bob@example.com")},
                    {"method": "POST", "path": "/Groups", "bulkId": "team", "data": {
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                        "displayName": "Team", "members": [{"value": "bulkId:alice"}]}},
                    {"method": "PATCH", "path": "/Groups/bulkId:team", "data": {
                        "schemas": [PATCH_OP],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:bob"}]}]}},
                    {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user("alice@example.com")},
                    {"method": "PATCH", "path": "/Users/bulkId:bob", "version": "W/\"1\"", "data": {
                        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}},
                    {"method": "DELETE", "path": "/Users/bulkId:nope"},
                ]
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:BulkResponse"])
    );
    let ops = body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(
        statuses,
        vec!["201", "201", "201", "200", "409", "200", "409"]
    );
    assert_eq!(ops[0]["bulkId"], "alice");
    assert!(
        ops[0]["location"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/Users/", app.base))
    );
    assert_eq!(ops[4]["response"]["scimType"], "uniqueness");
    let gid = ops[2]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let (_, g) = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(g["members"].as_array().unwrap().len(), 2);
    let bob = ops[1]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let (_, b) = app.get(&format!("/Users/{bob}")).await;
    assert_eq!(b["title"], "Boss");
}

#[tokio::test]
async fn bulk_fail_on_errors_stops_and_each_operation_is_atomic() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "failOnErrors": 1,
                "Operations": [
                    {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": 5}},
                    {"method": "POST", "path": "/Users", "bulkId": "b", "data": user("never@example.com")},
                ]
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ops = body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["status"], "400");
    let (_, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 0);
}

#[tokio::test]
async fn bulk_limits_are_enforced() {
    let app = spawn_app_with(|s| {
        s.bulk_max_operations = 2;
        s.bulk_max_payload_bytes = 2000;
    })
    .await;
    let op = |i: usize| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": user(&format!("l{i}@example.com"))});
    let (status, body) = app
        .post("/Bulk", json!({"Operations": [op(1), op(2), op(3)]}))
        .await;
    assert_scim_error(status, &body, 413, Some("tooLarge"));
    let big: Vec<Value> = (0..2)
        .map(|i| {
            let mut o = op(i);
            o["data"]["title"] = json!("x".repeat(1500));
            o
        })
        .collect();
    let (status, body) = app.post("/Bulk", json!({"Operations": big})).await;
    assert_scim_error(status, &body, 413, Some("tooLarge"));
    let (_, spc) = app.get("/ServiceProviderConfig").await;
    assert_eq!(spc["bulk"]["maxOperations"], 2);
    assert_eq!(spc["bulk"]["maxPayloadSize"], 2000);
    let (status, body) = app
        .post(
            "/Bulk",
            json!({"Operations": [{"method": "GET", "path": "/Users"}]}),
        )
        .await;
    assert_scim_error(status, &body, 400, Some("invalidSyntax"));
}
