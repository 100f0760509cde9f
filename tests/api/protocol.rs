//! ETags and /Bulk.

use crate::helpers::*;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
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

/// Attribute names are case-insensitive (RFC 7643 §2.1), the envelope's
/// and each operation's too: `operations` and `DATA` are read as
/// `Operations` and `data`.
#[tokio::test]
async fn bulk_reads_its_keys_in_any_case() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "operations": [
                    {"METHOD": "POST", "Path": "/Users", "BULKID": "a", "DATA": user("anycase@example.com")},
                    {"method": "PATCH", "path": "/Users/bulkId:a", "Data": {
                        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": "Any"}]}},
                ]
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ops = body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["201", "200"], "{body}");
    let id = ops[0]["location"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let (_, u) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(u["userName"], "anycase@example.com");
    assert_eq!(u["title"], "Any");
}

/// A run of `POST /Users` is written with multi-row inserts
/// (`service::users::CreateProbe`); whatever sits in the run, every operation must
/// get the answer it gets one by one, in order.
#[tokio::test]
async fn bulk_user_runs_answer_as_one_by_one() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    app.create_user(user("before@acme.example")).await;
    let mut off = user("off@acme.example");
    off["active"] = json!(false);
    let mut with_password = user("pw@acme.example");
    with_password["password"] = json!("S3cret-pw");
    // No directory is authoritative for an unverified domain's accounts:
    // the password is not kept.
    let mut external_password = user("pw@other.example");
    external_password["password"] = json!("S3cret-pw");
    let mut same_email = user("other-name");
    same_email["emails"] = json!([{"value": "a@acme.example", "primary": true}]);
    let ops: Vec<Value> = [
        ("a", user("a@acme.example")),
        ("b", user("b@other.example")),
        ("a-again", user("A@acme.example")),
        ("same-email", same_email),
        ("before", user("before@acme.example")),
        ("bad", json!({"userName": 5})),
        ("off", off),
        ("pw", with_password),
        ("c", user("c@acme.example")),
        ("pw-external", external_password),
    ]
    .into_iter()
    .map(|(id, data)| json!({"method": "POST", "path": "/Users", "bulkId": id, "data": data}))
    .collect();
    let (status, body) = app
        .post(
            "/Bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let results = body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "201", "201", "409", "409", "409", "400", "201", "201", "201", "201"
        ]
    );
    for (i, want) in [(2, "uniqueness"), (3, "uniqueness"), (4, "uniqueness")] {
        assert_eq!(results[i]["response"]["scimType"], want, "{}", results[i]);
    }
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["bulkId"], ops[i]["bulkId"]);
        if r["status"] == "201" {
            assert_eq!(r["version"], "W/\"1\"");
            let location = r["location"].as_str().unwrap();
            let (status, got) = app.get(location.strip_prefix(&app.base).unwrap()).await;
            assert_eq!(status, 200);
            assert_eq!(got["userName"], ops[i]["data"]["userName"]);
            assert_eq!(got["meta"]["version"], "W/\"1\"");
        }
    }
    let a = account_of(&app, "a@acme.example").await;
    assert!(a.managing_org_id.is_some(), "verified domain: managed");
    assert_eq!(a.status.to_string(), "active");
    let b = account_of(&app, "b@other.example").await;
    assert_eq!(b.managing_org_id, None, "unverified domain: external");
    let off = account_of(&app, "off@acme.example").await;
    assert_eq!(off.status.to_string(), "deactivated");
    let external = account_of(&app, "pw@other.example").await;
    assert_eq!(external.password_hash, None, "not authoritative: not kept");
    let pw = account_of(&app, "pw@acme.example").await;
    let hash = pw.password_hash.unwrap();
    let parsed = argon2::PasswordHash::new(&hash).unwrap();
    use argon2::PasswordVerifier;
    assert!(
        argon2::Argon2::default()
            .verify_password(b"S3cret-pw", &parsed)
            .is_ok(),
        "the hash computed before the transaction is the password's"
    );
    let (_, list) = app.get("/Users?count=0").await;
    assert_eq!(list["totalResults"], 7);
    // One sync log entry per operation, in order.
    let log = entity::sync_log::Entity::find()
        .filter(entity::sync_log::Column::Operation.eq("POST /Users (bulk)"))
        .order_by_asc(entity::sync_log::Column::Id)
        .all(&app.db().await)
        .await
        .unwrap();
    let logged: Vec<String> = log.iter().map(|e| e.status.to_string()).collect();
    assert_eq!(logged, statuses);
}

/// The probe behind the batched path finds what is taken (the one-by-one
/// fallback would hide a probe that finds nothing, at the cost of speed).
/// The batched create writes each value as sent, whatever characters it
/// holds (on PostgreSQL the rows go as array literals: quotes,
/// backslashes, braces, commas and the word NULL must survive them).
#[tokio::test]
async fn bulk_creates_keep_every_character_of_their_values() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let odd = [
        r#"say "hi""#,
        r"back\slash\",
        "{braces},commas",
        "NULL",
        "",
        "  spaced  ",
        "üñí €",
    ];
    let ops: Vec<Value> = odd
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut u = user(&format!("odd{i}@acme.example"));
            u["displayName"] = json!(v);
            u["externalId"] = json!(format!("{v}-{i}"));
            u["name"] = json!({"givenName": v, "familyName": format!("{v}\"")});
            u["emails"] =
                json!([{"value": format!("odd{i}@acme.example"), "type": v, "primary": true}]);
            json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": u})
        })
        .collect();
    let (status, body) = app
        .post(
            "/Bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for (i, (r, v)) in body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .zip(odd)
        .enumerate()
    {
        assert_eq!(r["status"], "201", "{r}");
        let location = r["location"].as_str().unwrap();
        let (status, got) = app.get(location.strip_prefix(&app.base).unwrap()).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["displayName"], v, "{got}");
        assert_eq!(got["externalId"], format!("{v}-{i}"), "{got}");
        assert_eq!(got["name"]["givenName"], v, "{got}");
        assert_eq!(got["name"]["familyName"], format!("{v}\""), "{got}");
        assert_eq!(got["emails"][0]["type"], v, "{got}");
    }
}

/// A batch whose columns are the same in every row, NULL in every row, or
/// NULL in some (PostgreSQL binds the first once, the second not at all,
/// only the last as an array): each user reads back as it was sent.
#[tokio::test]
async fn bulk_creates_keep_shared_absent_and_mixed_values_apart() {
    let app = spawn_app().await;
    let ops: Vec<Value> = (0..4)
        .map(|i| {
            let mut u = user(&format!("mixed{i}@acme.example"));
            u["displayName"] = json!("Same For All");
            if i % 2 == 0 {
                u["externalId"] = json!(format!("ext-{i}"));
            }
            if i == 3 {
                u["title"] = json!("Only Three");
            }
            json!({"method": "POST", "path": "/Users", "bulkId": format!("m{i}"), "data": u})
        })
        .collect();
    let (status, body) = app
        .post(
            "/Bulk",
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for (i, r) in body["Operations"].as_array().unwrap().iter().enumerate() {
        assert_eq!(r["status"], "201", "{r}");
        let location = r["location"].as_str().unwrap();
        let (status, got) = app.get(location.strip_prefix(&app.base).unwrap()).await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["userName"], format!("mixed{i}@acme.example"), "{got}");
        assert_eq!(got["displayName"], "Same For All", "{got}");
        if i % 2 == 0 {
            assert_eq!(got["externalId"], format!("ext-{i}"), "{got}");
        } else {
            assert!(got.get("externalId").is_none(), "{got}");
        }
        if i == 3 {
            assert_eq!(got["title"], "Only Three", "{got}");
        } else {
            assert!(got.get("title").is_none(), "{got}");
        }
        assert!(got.get("nickName").is_none(), "{got}");
        assert_eq!(got["active"], true, "{got}");
    }
}

#[tokio::test]
async fn the_create_probe_sees_taken_user_names_emails_and_verified_domains() {
    use scim_server::domain::user::UserInput;
    use scim_server::service::users::{Claim, CreateProbe};
    use scim_server::store::directories::operator_principal;
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    app.create_user(user("Taken@acme.example")).await;
    let mut other_email = user("fresh-name");
    other_email["emails"] = json!([{"value": "taken@ACME.example", "primary": true}]);
    let inputs: Vec<UserInput> = [
        user("TAKEN@acme.example"),
        other_email,
        user("new@acme.example"),
        user("new@other.example"),
        user("NEW@acme.example"),
    ]
    .iter()
    .map(|b| UserInput::from_body(b).unwrap())
    .collect();
    let db = app.db().await;
    let dir = operator_principal(&db, app.directory_id).await.unwrap();
    let attrs: Vec<_> = inputs.iter().map(|i| &i.attrs).collect();
    let mut probe = CreateProbe::read(&db, &dir, &attrs).await.unwrap();
    let plain: Vec<bool> = inputs
        .into_iter()
        .map(|i| matches!(probe.claim(&dir, i), Claim::Plain(_)))
        .collect();
    // Taken userName; taken email; plain (verified); plain (unverified,
    // allowed); the same userName as an earlier one of the window.
    assert_eq!(plain, [false, false, true, true, false]);
    let mut strict = dir.clone();
    strict.reject_unverified_domains = true;
    let outside = UserInput::from_body(&user("x@other.example")).unwrap();
    let mut probe = CreateProbe::read(&db, &strict, &[&outside.attrs])
        .await
        .unwrap();
    assert!(
        matches!(probe.claim(&strict, outside), Claim::OneByOne(_)),
        "refused by the rules"
    );
}

/// Two sync jobs push the same users at once: each userName is created
/// exactly once, the other request gets 409 for it, and nothing is lost.
#[tokio::test]
async fn concurrent_bulk_requests_with_the_same_users_create_each_once() {
    let app = spawn_app().await;
    let request = |order: Vec<usize>| {
        let ops: Vec<Value> = order
            .into_iter()
            .map(|i| {
                json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                       "data": user(&format!("race{i}@example.com"))})
            })
            .collect();
        app.post("/Bulk", json!({"Operations": ops}))
    };
    let forward: Vec<usize> = (0..60).collect();
    let backward: Vec<usize> = (0..60).rev().collect();
    let ((s1, b1), (s2, b2)) = tokio::join!(request(forward), request(backward));
    assert_eq!((s1, s2), (200, 200), "{b1} {b2}");
    let mut created = std::collections::HashMap::new();
    for body in [&b1, &b2] {
        for op in body["Operations"].as_array().unwrap() {
            match op["status"].as_str().unwrap() {
                "201" => *created.entry(op["bulkId"].to_string()).or_insert(0) += 1,
                "409" => assert_eq!(op["response"]["scimType"], "uniqueness", "{op}"),
                other => panic!("unexpected status {other}: {op}"),
            }
        }
    }
    assert_eq!(created.len(), 60, "every user created by one of the two");
    assert!(created.values().all(|n| *n == 1), "{created:?}");
    let (_, list) = app.get("/Users?count=0").await;
    assert_eq!(list["totalResults"], 60);
}

#[tokio::test]
async fn bulk_fail_on_errors_stops_inside_a_run_of_user_posts() {
    let app = spawn_app().await;
    let ops: Vec<Value> = ["x1", "x1", "x2", "x2", "x3"]
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("o{i}"),
                   "data": user(&format!("{u}@example.com"))})
        })
        .collect();
    let (status, body) = app
        .post("/Bulk", json!({"failOnErrors": 2, "Operations": ops}))
        .await;
    assert_eq!(status, 200, "{body}");
    let statuses: Vec<&str> = body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["201", "409", "201", "409"]);
    let (_, list) = app.get("/Users?count=0").await;
    assert_eq!(list["totalResults"], 2, "x3 is never created");
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
