use crate::helpers::*;
use entity::{scim_user, site_membership, sync_log};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

#[tokio::test]
async fn post_user_creates_a_synced_account_with_meta_and_headers() {
    let app = spawn_app().await;
    let res = app
        .scim(Method::POST, "/Users")
        .body(user("jane@acme.example").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["content-type"], "application/scim+json");
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let (_, body) = read(res).await;
    let id = body["id"].as_str().unwrap();
    assert_eq!(location, format!("{}/Users/{id}", app.base));
    assert_eq!(body["meta"]["location"], location);
    assert_eq!(body["meta"]["resourceType"], "User");
    assert_eq!(body["meta"]["version"], etag);
    assert!(etag.starts_with("W/\""));
    assert_eq!(body["userName"], "jane@acme.example");
    assert_eq!(body["active"], true);
    assert!(body.get("password").is_none());

    let acc = account_of(&app, "jane@acme.example").await;
    assert_eq!(acc.status.to_string(), "active");
    // Not on a verified domain: synced but external.
    assert_eq!(acc.managing_org_id, None);
    let links = scim_user::Entity::find()
        .filter(scim_user::Column::AccountId.eq(acc.id))
        .count(&app.db().await)
        .await
        .unwrap();
    assert_eq!(
        links, 1,
        "the provisioning link marks the account as synced"
    );
}

#[tokio::test]
async fn password_is_stored_hashed_and_never_returned() {
    let app = spawn_app().await;
    // Managed, so the org owns its password.
    app.verify_domain("acme.example").await;
    let mut body = user("pw@acme.example");
    body["password"] = json!("t0p-Secret!");
    body["groups"] = json!([]);
    let (status, created) = app.post("/Users", body).await;
    assert_eq!(status, 201);
    assert!(created.get("password").is_none());
    let (_, got) = app
        .get(&format!(
            "/Users/{}?attributes=password",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert!(got.get("password").is_none());
    let acc = account_of(&app, "pw@acme.example").await;
    let hash = acc.password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(!hash.contains("t0p-Secret!"));
    assert!(verifies(&hash, "t0p-Secret!"));
    // PUT with a new password (hashed before the transaction opens).
    let mut body = user("pw@acme.example");
    body["password"] = json!("n3w-Secret!");
    let (status, _) = app
        .put(&format!("/Users/{}", created["id"].as_str().unwrap()), body)
        .await;
    assert_eq!(status, 200);
    let hash = account_of(&app, "pw@acme.example")
        .await
        .password_hash
        .unwrap();
    assert!(verifies(&hash, "n3w-Secret!"));
    assert!(!verifies(&hash, "t0p-Secret!"));
}

fn verifies(hash: &str, password: &str) -> bool {
    use argon2::{Argon2, PasswordHash, PasswordVerifier};
    let parsed = PasswordHash::new(hash).unwrap();
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[tokio::test]
async fn user_on_a_verified_domain_is_claimed_as_managed() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    app.create_user(user("Managed@Acme.Example")).await;
    let acc = account_of(&app, "managed@acme.example").await;
    assert!(acc.managing_org_id.is_some());
    assert_eq!(acc.display_name.as_deref(), Some("Test User"));
}

#[tokio::test]
async fn the_same_user_name_again_in_one_directory_is_409_not_a_second_account() {
    let app = spawn_app().await;
    app.create_user(user("dup@acme.example")).await;
    let acc = account_of(&app, "dup@acme.example").await;
    let (status, body) = app.post("/Users", user("DUP@acme.example")).await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    assert_eq!(account_of(&app, "dup@acme.example").await.id, acc.id);
    let (_, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 1, "{list}");
}

/// Number of SCIM links (any directory) of the account.
async fn links_of(app: &TestApp, account: uuid::Uuid) -> u64 {
    scim_user::Entity::find()
        .filter(scim_user::Column::AccountId.eq(account))
        .count(&app.db().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_existing_account_is_linked_over_http_also_from_a_second_directory() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    // The account exists before any directory provisions it: an admin
    // invited it to a site.
    let a = crate::admin::admin(&app, "default").await;
    let s = crate::admin::site(&app, &a, "acme.example.net").await;
    let (status, m) = a
        .post(
            &format!("/sites/{s}/users"),
            json!({"email": "Linked@acme.example"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let acc = account_of(&app, "linked@acme.example").await;
    assert_eq!(links_of(&app, acc.id).await, 0);

    // This directory links it: the same account, now IdP-synced.
    let (status, first) = app.post("/Users", user("linked@acme.example")).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(account_of(&app, "linked@acme.example").await.id, acc.id);
    assert_eq!(links_of(&app, acc.id).await, 1);

    // A directory of another organization links the same account.
    let other = app.other_directory("other", "okta").await;
    let (status, second) = other.post("/Users", user("LINKED@acme.example")).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(account_of(&app, "linked@acme.example").await.id, acc.id);
    assert_eq!(links_of(&app, acc.id).await, 2);
    let accounts = entity::account::Entity::find()
        .count(&app.db().await)
        .await
        .unwrap();
    assert_eq!(accounts, 1, "linked, not duplicated");

    // Each directory sees it under its own id, and not the other's.
    let (id1, id2) = (
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    );
    assert_ne!(id1, id2);
    for (dir, id, not) in [(&app, id1, id2), (&other, id2, id1)] {
        let (status, u) = dir.get(&format!("/Users/{id}")).await;
        assert_eq!(status, 200, "{u}");
        assert_eq!(
            u["userName"].as_str().unwrap().to_lowercase(),
            "linked@acme.example"
        );
        let (status, body) = dir.get(&format!("/Users/{not}")).await;
        assert_scim_error(status, &body, 404, None);
        let (_, list) = dir.get("/Users").await;
        assert_eq!(list["totalResults"], 1, "{list}");
    }
}

#[tokio::test]
async fn active_true_on_an_account_pending_deletion_is_409() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let id = app.create_user(user("leaving@acme.example")).await;
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let a = crate::admin::admin(&app, "default").await;
    let acc = account_of(&app, "leaving@acme.example").await;
    let (status, body) = a.delete(&format!("/accounts/{}", acc.id)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        account_of(&app, "leaving@acme.example")
            .await
            .status
            .to_string(),
        "pending_deletion"
    );
    for ops in [
        json!([{"op": "replace", "path": "active", "value": true}]),
        json!([{"op": "Replace", "value": {"active": "True"}}]),
    ] {
        let (status, body) = app.patch(&format!("/Users/{id}"), ops).await;
        assert_scim_error(status, &body, 409, None);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("pending deletion"),
            "{body}"
        );
    }
    let mut put = user("leaving@acme.example");
    put["active"] = json!(true);
    let (status, body) = app.put(&format!("/Users/{id}"), put).await;
    assert_scim_error(status, &body, 409, None);
    // Nothing was written.
    assert_eq!(
        account_of(&app, "leaving@acme.example")
            .await
            .status
            .to_string(),
        "pending_deletion"
    );
    let (_, u) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(u["active"], false, "{u}");
}

#[tokio::test]
async fn duplicate_user_name_is_409_uniqueness_case_insensitively() {
    let app = spawn_app().await;
    app.create_user(user("bjensen@example.com")).await;
    let mut other = user("BJENSEN@example.com");
    other["emails"] = json!([{"value": "other@example.com", "primary": true}]);
    let (status, body) = app.post("/Users", other).await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
}

#[tokio::test]
async fn filters_on_user_name_external_id_and_emails() {
    let app = spawn_app().await;
    let mut a = user("alice@example.com");
    a["externalId"] = json!("ext-A");
    let a_id = app.create_user(a).await;
    let mut b = user("bob@example.com");
    b["externalId"] = json!("ext-B");
    b["emails"] = json!([{"value": "bob.work@example.org", "type": "work"}]);
    let b_id = app.create_user(b).await;

    let q = |f: &str| format!("/Users?filter={}", urlencode(f));
    let (status, body) = app.get(&q("userName eq \"ALICE@example.com\"")).await;
    assert_eq!(status, 200);
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["id"], a_id);
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );

    let (_, body) = app.get(&q("externalId eq \"ext-B\"")).await;
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["id"], b_id);
    // externalId is caseExact.
    let (_, body) = app.get(&q("externalId eq \"EXT-B\"")).await;
    assert_eq!(body["totalResults"], 0);

    let (_, body) = app
        .get(&q("emails.value eq \"BOB.WORK@example.org\""))
        .await;
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["id"], b_id);
    let (_, body) = app
        .get(&q("emails[type eq \"work\" and value co \"example.org\"]"))
        .await;
    assert_eq!(body["totalResults"], 1);

    let (status, body) = app.get(&q("userName eq \"nobody@example.com\"")).await;
    assert_eq!(status, 200);
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));
}

#[tokio::test]
async fn invalid_filters_are_400_invalid_filter() {
    let app = spawn_app().await;
    for f in [
        "userName eq",
        "userName zz \"x\"",
        "nosuch eq \"x\"",
        "userName eq \"x\" and",
        "' OR 1=1 --",
    ] {
        let (status, body) = app.get(&format!("/Users?filter={}", urlencode(f))).await;
        assert_scim_error(status, &body, 400, Some("invalidFilter"));
    }
}

#[tokio::test]
async fn paging_with_start_index_and_count() {
    let app = spawn_app().await;
    let mut ids = vec![];
    for i in 0..5 {
        ids.push(app.create_user(user(&format!("u{i}@example.com"))).await);
    }
    let (_, page) = app.get("/Users?startIndex=2&count=2").await;
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["startIndex"], 2);
    assert_eq!(page["itemsPerPage"], 2);
    assert_eq!(page["Resources"][0]["id"], ids[1]);
    assert_eq!(page["Resources"][1]["id"], ids[2]);
    let (_, page) = app.get("/Users?count=0").await;
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["Resources"], json!([]));
    let (status, body) = app.get("/Users?count=abc").await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
}

#[tokio::test]
async fn put_replaces_and_clears_left_out_attributes() {
    let app = spawn_app().await;
    let mut body = user("put@example.com");
    body["title"] = json!("Engineer");
    body["nickName"] = json!("P");
    let id = app.create_user(body).await;
    let mut replacement = user("put@example.com");
    replacement["title"] = json!("Manager");
    replacement["id"] = json!(id);
    replacement["meta"] = json!({"resourceType": "User"});
    let (status, body) = app.put(&format!("/Users/{id}"), replacement).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["title"], "Manager");
    assert!(body.get("nickName").is_none());
    assert_eq!(body["meta"]["version"], "W/\"2\"");
}

#[tokio::test]
async fn okta_pathless_patch_deactivates_and_reactivates_a_managed_account() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let id = app.create_user(user("okta@acme.example")).await;
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false);
    assert_eq!(
        account_of(&app, "okta@acme.example")
            .await
            .status
            .to_string(),
        "deactivated"
    );
    // Deactivated users are still returned (Entra needs this).
    let (_, list) = app
        .get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"okta@acme.example\"")
        ))
        .await;
    assert_eq!(list["Resources"][0]["active"], false);
    let (_, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "active", "value": "True"}]),
        )
        .await;
    assert_eq!(body["active"], true);
    assert_eq!(
        account_of(&app, "okta@acme.example")
            .await
            .status
            .to_string(),
        "active"
    );
}

#[tokio::test]
async fn active_false_suspends_an_external_account_on_the_orgs_sites() {
    let app = spawn_app().await;
    app.cli(&["site", "create", "--org", "default", "acme.example.net"])
        .await;
    let id = app.create_user(user("ext@elsewhere.example")).await;
    let acc = account_of(&app, "ext@elsewhere.example").await;
    let db = app.db().await;
    let site = entity::site::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let now = chrono::Utc::now();
    use sea_orm::{ActiveModelTrait, Set};
    site_membership::ActiveModel {
        site_id: Set(site.id),
        account_id: Set(acc.id),
        status: Set(entity::site_membership::MembershipStatus::Active),
        suspended_by: Set(None),
        invited_directly: Set(true),
        last_active_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&db)
    .await
    .unwrap();
    app.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    let m = site_membership::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status.to_string(), "suspended");
    // The account itself is not the org's to deactivate.
    assert_eq!(
        account_of(&app, "ext@elsewhere.example")
            .await
            .status
            .to_string(),
        "active"
    );
    app.patch(
        &format!("/Users/{id}"),
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    let m = site_membership::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status.to_string(), "active");
}

#[tokio::test]
async fn entra_patch_dialects_apply() {
    let app = spawn_app().await;
    let id = app.create_user(user("entra@example.com")).await;
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "entra@example.com"},
                {"op": "Replace", "value": {"name.givenName": "Ent", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Ops"}},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "mgr-1"},
                {"op": "Replace", "path": "title", "value": "Lead"},
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"]["givenName"], "Ent");
    assert_eq!(body[ENTERPRISE]["department"], "Ops");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], "mgr-1");
    assert_eq!(body["title"], "Lead");
    let (_, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]),
        )
        .await;
    assert!(body[ENTERPRISE].get("manager").is_none());
}

#[tokio::test]
async fn a_failed_patch_writes_nothing() {
    let app = spawn_app().await;
    let id = app.create_user(user("atomic@example.com")).await;
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "replace", "path": "title", "value": "Changed"},
                {"op": "replace", "path": "id", "value": "nope"},
            ]),
        )
        .await;
    assert_scim_error(status, &body, 400, Some("mutability"));
    let (_, body) = app.get(&format!("/Users/{id}")).await;
    assert!(body.get("title").is_none());
    assert_eq!(body["meta"]["version"], "W/\"1\"");
}

#[tokio::test]
async fn managed_email_change_to_an_unverified_domain_is_refused() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let id = app.create_user(user("move@acme.example")).await;
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "move@gmail.example"}]),
        )
        .await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    assert!(body["detail"].as_str().unwrap().contains("verified"));
    app.verify_domain("acme2.example").await;
    let (status, _) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "move@acme2.example"}]),
        )
        .await;
    assert_eq!(status, 200);
    account_of(&app, "move@acme2.example").await;
}

#[tokio::test]
async fn delete_unlinks_deactivates_and_then_404s() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let id = app.create_user(user("gone@acme.example")).await;
    let (status, body) = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app.get(&format!("/Users/{id}")).await;
    assert_scim_error(status, &body, 404, None);
    let (status, body) = app.delete(&format!("/Users/{id}")).await;
    assert_scim_error(status, &body, 404, None);
    let acc = account_of(&app, "gone@acme.example").await;
    assert_eq!(
        acc.status.to_string(),
        "deactivated",
        "the account stays, deactivated"
    );
    let links = scim_user::Entity::find()
        .count(&app.db().await)
        .await
        .unwrap();
    assert_eq!(links, 0);
}

#[tokio::test]
async fn delete_of_an_external_account_suspends_it_on_the_orgs_sites() {
    let app = spawn_app().await;
    let a = crate::admin::admin(&app, "default").await;
    let s = crate::admin::site(&app, &a, "acme.example.net").await;
    let id = app.create_user(user("ext@elsewhere.example")).await;
    let acc = account_of(&app, "ext@elsewhere.example").await;
    assert_eq!(acc.managing_org_id, None, "external");
    let (status, m) = a
        .post(
            &format!("/sites/{s}/users"),
            json!({"email": "ext@elsewhere.example"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let (status, m) = a
        .post(&format!("/sites/{s}/users/{}/activity", acc.id), json!({}))
        .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["status"], "active");

    let (status, body) = app.delete(&format!("/Users/{id}")).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app.get(&format!("/Users/{id}")).await;
    assert_scim_error(status, &body, 404, None);
    let m = site_membership::Entity::find()
        .filter(site_membership::Column::AccountId.eq(acc.id))
        .one(&app.db().await)
        .await
        .unwrap()
        .expect("the membership stays");
    assert_eq!(m.status.to_string(), "suspended");
    // Suspended, not deactivated: the account is not the org's.
    assert_eq!(
        account_of(&app, "ext@elsewhere.example")
            .await
            .status
            .to_string(),
        "active"
    );
    assert_eq!(links_of(&app, acc.id).await, 0, "unlinked");
}

#[tokio::test]
async fn a_directory_can_refuse_users_on_unverified_domains() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let a = crate::admin::admin(&app, "default").await;
    let dir = format!("/directories/{}", app.directory_id);
    // Off by default: an unverified domain is synced as an external account.
    let (_, list) = a.get("/directories").await;
    assert_eq!(
        list["items"][0]["reject_unverified_domains"], false,
        "{list}"
    );
    app.create_user(user("before@elsewhere.example")).await;

    // Bad settings bodies are refused and change nothing.
    for body in [
        json!({"reject_unverified_domains": "yes"}),
        json!({"reject_unverified_domains": true, "other": 1}),
        json!({}),
    ] {
        let (status, res) = a.patch(&dir, body).await;
        crate::admin::assert_admin_error(status, &res, 400, "invalid_request");
    }
    let (status, res) = a
        .patch(
            &format!("/directories/{}", uuid::Uuid::now_v7()),
            json!({"reject_unverified_domains": true}),
        )
        .await;
    crate::admin::assert_admin_error(status, &res, 404, "not_found");
    let (status, res) = a
        .patch(&dir, json!({"reject_unverified_domains": true}))
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["reject_unverified_domains"], true, "{res}");
    let (_, list) = a.get("/directories").await;
    assert_eq!(
        list["items"][0]["reject_unverified_domains"], true,
        "{list}"
    );

    let (status, body) = app.post("/Users", user("ext@elsewhere.example")).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("elsewhere.example"),
        "{body}"
    );
    let db = app.db().await;
    let exists = entity::account::Entity::find()
        .filter(entity::account::Column::EmailLower.eq("ext@elsewhere.example"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(exists, 0, "nothing written");
    // A verified domain is still welcome.
    app.create_user(user("in@acme.example")).await;

    // The operator CLI turns it off again.
    app.cli(&[
        "directory",
        "set",
        "--directory",
        &app.directory_id.to_string(),
        "--reject-unverified-domains",
        "false",
    ])
    .await;
    app.create_user(user("ext@elsewhere.example")).await;
    let (_, log) = a.get("/audit-log?action=directory.update").await;
    assert_eq!(log["items"].as_array().unwrap().len(), 2, "{log}");
}

#[tokio::test]
async fn malformed_bodies_and_ids_get_scim_errors() {
    let app = spawn_app().await;
    let res = app
        .scim(Method::POST, "/Users")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_scim_error(status, &body, 400, Some("invalidSyntax"));
    let (status, body) = app.post("/Users", json!({"userName": 42})).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    let (status, body) = app.post("/Users", json!({"userName": "no-email"})).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    let (status, body) = app.get("/Users/not-a-uuid").await;
    assert_scim_error(status, &body, 404, None);
    let res = app
        .client
        .post(format!("{}/Users", app.base))
        .bearer_auth(&app.token)
        .header("Content-Type", "text/plain")
        .body(user("ct@example.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let res = app
        .client
        .post(format!("{}/Users", app.base))
        .bearer_auth(&app.token)
        .header("Content-Type", "application/json")
        .body(user("json@example.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "application/json is accepted too");
}

#[tokio::test]
async fn every_write_is_in_the_sync_log_with_its_outcome() {
    let app = spawn_app().await;
    let id = app.create_user(user("log@example.com")).await;
    app.post("/Users", user("log@example.com")).await;
    app.delete(&format!("/Users/{id}")).await;
    let entries = sync_log::Entity::find().all(&app.db().await).await.unwrap();
    let summary: Vec<(String, String, i32)> = entries
        .iter()
        .map(|e| (e.operation.clone(), e.outcome.to_string(), e.status))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("POST /Users".to_owned(), "success".to_owned(), 201),
            ("POST /Users".to_owned(), "failure".to_owned(), 409),
            ("DELETE /Users/{id}".to_owned(), "success".to_owned(), 204),
        ]
    );
    assert!(entries[1].detail.as_deref().unwrap().contains("userName"));
}

#[tokio::test]
async fn projection_on_reads_and_writes() {
    let app = spawn_app().await;
    let res = app
        .scim(Method::POST, "/Users?attributes=userName")
        .body(user("proj@example.com").to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 201);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["id", "schemas", "userName"]);
    let id = body["id"].as_str().unwrap();
    let (_, body) = app
        .get(&format!("/Users/{id}?excludedAttributes=emails,name"))
        .await;
    assert!(body.get("emails").is_none() && body.get("name").is_none());
    assert_eq!(body["userName"], "proj@example.com");
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[tokio::test]
async fn reprovisioning_a_deleted_user_reactivates_the_account() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let id = app.create_user(user("back@acme.example")).await;
    app.delete(&format!("/Users/{id}")).await;
    assert_eq!(
        account_of(&app, "back@acme.example")
            .await
            .status
            .to_string(),
        "deactivated"
    );
    let again = app.create_user(user("back@acme.example")).await;
    assert_ne!(again, id);
    assert_eq!(
        account_of(&app, "back@acme.example")
            .await
            .status
            .to_string(),
        "active"
    );
}
