//! The admin API, walked as the admin documents' FAQ: managed accounts vs
//! site users, suspend vs remove vs deactivate vs delete, email rules,
//! IdP-synced accounts, purge after the grace period, tenant isolation.

use crate::helpers::*;
use chrono::{Duration, Utc};
use entity::{account, account_api_token, account_session};
use reqwest::Method;
use scim_server::store::{admin_keys, directories};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

/// An admin API client for one organization.
pub struct Admin {
    pub base: String,
    pub key: String,
    pub org_id: String,
    client: reqwest::Client,
    /// The app's DNS zone, where the org publishes its domain proofs.
    pub dns: crate::dns::DnsZone,
}

impl Admin {
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request sent")).await
    }
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::POST, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(Method::PATCH, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(Method::DELETE, path, None).await
    }
    /// `POST /domains/{name}/verify` with no body.
    pub async fn verify(&self, name: &str) -> (u16, Value) {
        self.send(Method::POST, &format!("/domains/{name}/verify"), None)
            .await
    }
}

/// A key for organization `org` (created if missing), as `admin-key
/// create` makes it.
pub async fn admin(app: &TestApp, org: &str) -> Admin {
    let db = app.db().await;
    let o = directories::find_or_create_org(&db, org).await.unwrap();
    let (_, key) = admin_keys::create(&db, o.id, None).await.unwrap();
    Admin {
        base: format!("{}/admin/v1/orgs/{}", app.address, o.id),
        key,
        org_id: o.id.to_string(),
        client: crate::helpers::http_client(),
        dns: app.dns.clone(),
    }
}

/// Asserts an admin error body.
pub fn assert_admin_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().map(|o| o.len()), Some(2), "{body}");
}

/// Adds a domain through the API, publishes the TXT record it asks for in
/// the app's DNS, and verifies it.
pub async fn verify_domain(a: &Admin, name: &str) -> Value {
    let (status, d) = a.post("/domains", json!({"name": name})).await;
    assert_eq!(status, 201, "{d}");
    publish_proof(a, &d);
    let (status, v) = a.verify(name).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Publishes the proof record a domain (as `POST /domains` returned it)
/// asks for.
pub fn publish_proof(a: &Admin, d: &Value) {
    let record = &d["verification_record"];
    assert_eq!(record["type"], "TXT", "{d}");
    a.dns.publish(
        record["name"].as_str().unwrap(),
        record["value"].as_str().unwrap(),
    );
}

#[tokio::test]
async fn admin_keys_are_required_and_scoped_to_their_organization() {
    let app = spawn_app().await;
    app.cli(&["admin-key", "create", "--org", "default"]).await;
    let a = admin(&app, "default").await;
    let b = admin(&app, "other").await;

    let res = reqwest::get(format!("{}/domains", a.base)).await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"admin\"");
    let (status, body) = read(res).await;
    assert_admin_error(status, &body, 401, "unauthorized");

    let wrong = Admin {
        key: "scimadm_nope".into(),
        base: a.base.clone(),
        org_id: a.org_id.clone(),
        client: crate::helpers::http_client(),
        dns: a.dns.clone(),
    };
    let (status, body) = wrong.get("/domains").await;
    assert_admin_error(status, &body, 401, "unauthorized");

    // The key of org B on org A's URL: 404, nothing of A shows.
    let b_on_a = Admin {
        key: b.key.clone(),
        base: a.base.clone(),
        org_id: a.org_id.clone(),
        client: crate::helpers::http_client(),
        dns: a.dns.clone(),
    };
    let (status, body) = b_on_a.get("/domains").await;
    assert_admin_error(status, &body, 404, "not_found");
    let (status, body) = b_on_a.post("/domains", json!({"name": "x.example"})).await;
    assert_admin_error(status, &body, 404, "not_found");

    let (status, body) = a.get("/domains").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = a.get("/no-such-thing").await;
    assert_admin_error(status, &body, 404, "not_found");
    let (status, body) = a.send(Method::PUT, "/domains", Some(json!({}))).await;
    assert_admin_error(status, &body, 405, "method_not_allowed");
    let res = a
        .client
        .post(format!("{}/domains", a.base))
        .bearer_auth(&a.key)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_admin_error(status, &body, 400, "invalid_request");
}

#[tokio::test]
async fn verifying_a_domain_needs_its_token_and_claims_its_accounts() {
    let app = spawn_app().await;
    app.create_user(user("jane@acme.example")).await;
    let a = admin(&app, "default").await;

    let (status, d) = a.post("/domains", json!({"name": "Acme.Example"})).await;
    assert_eq!(status, 201, "{d}");
    assert_eq!(d["name"], "acme.example");
    assert_eq!(d["verified"], false);
    let (status, body) = a.post("/domains", json!({"name": "acme.example"})).await;
    assert_admin_error(status, &body, 409, "already_exists");
    let (status, body) = a.post("/domains", json!({"name": "not a domain"})).await;
    assert_admin_error(status, &body, 400, "invalid_request");

    // Echoing the token back proves nothing: the proof is in DNS.
    let token = d["verification_token"].as_str().unwrap().to_owned();
    let (status, body) = a
        .post(
            "/domains/acme.example/verify",
            json!({"verification_token": token}),
        )
        .await;
    assert_admin_error(status, &body, 400, "verification_failed");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("_scim-verification.acme.example") && msg.contains("NXDOMAIN"),
        "{msg}"
    );
    // A record at the name without a TXT, then the wrong value: each said.
    a.dns.exists_without_txt("_scim-verification.acme.example");
    let (status, body) = a.verify("acme.example").await;
    assert_admin_error(status, &body, 400, "verification_failed");
    assert!(
        body["message"].as_str().unwrap().contains("no TXT record"),
        "{body}"
    );
    a.dns
        .publish("_scim-verification.acme.example", "scim-verification=guess");
    let (status, body) = a.verify("acme.example").await;
    assert_admin_error(status, &body, 400, "verification_failed");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("scim-verification=guess"),
        "{body}"
    );
    let (_, list) = a.get("/domains").await;
    assert_eq!(list["items"][0]["verified"], false, "{list}");

    assert_eq!(
        d["verification_record"]["value"],
        format!("scim-verification={token}")
    );
    publish_proof(&a, &d);
    let (status, v) = a.verify("acme.example").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["claimed_accounts"], 1);
    let (_, list) = a.get("/domains").await;
    assert_eq!(list["items"][0]["verified"], true);
    assert!(list["items"][0].get("verification_token").is_none());

    // Removing the domain releases the accounts it claimed.
    let (status, r) = a.delete("/domains/acme.example").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["released_accounts"], 1);
    let (status, body) = a.delete("/domains/acme.example").await;
    assert_admin_error(status, &body, 404, "not_found");
}

/// An account that no directory provisions (as if invited or claimed),
/// with a session and an API token; returns its id.
pub async fn seed_account(app: &TestApp, email: &str, managed_by: Option<&str>) -> String {
    let db = app.db().await;
    let now = Utc::now();
    let id = Uuid::now_v7();
    account::ActiveModel {
        id: Set(id),
        email: Set(Some(email.to_owned())),
        email_lower: Set(Some(email.to_lowercase())),
        email_domain: Set(email.rsplit_once('@').map(|(_, d)| d.to_owned())),
        display_name: Set(Some(format!("Seed {email}"))),
        status: Set(entity::account::AccountStatus::Active),
        managing_org_id: Set(managed_by.map(|o| Uuid::parse_str(o).unwrap())),
        two_step_enabled: Set(email.starts_with("secure")),
        saml_sso: Set(false),
        password_reset_required: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap();
    account_session::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(id),
        device: Set("Firefox on Linux".into()),
        ip_address: Set(Some("127.0.0.1".into())),
        created_at: Set(now),
        last_seen_at: Set(now),
        revoked_at: Set(None),
    }
    .insert(&db)
    .await
    .unwrap();
    account_api_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(id),
        label: Set("ci".into()),
        created_at: Set(now),
        last_used_at: Set(None),
        expires_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&db)
    .await
    .unwrap();
    id.to_string()
}

/// The id of the account behind a SCIM user.
async fn account_id_of(app: &TestApp, email: &str) -> String {
    use sea_orm::{ColumnTrait, QueryFilter};
    account::Entity::find()
        .filter(account::Column::EmailLower.eq(email.to_lowercase()))
        .one(&app.db().await)
        .await
        .unwrap()
        .expect("the account exists")
        .id
        .to_string()
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn managed_accounts_list_filters_pages_and_summarises() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    verify_domain(&a, "acme.example").await;
    app.create_user(user("synced@acme.example")).await;
    let plain = seed_account(&app, "plain@acme.example", Some(&a.org_id)).await;
    let secure = seed_account(&app, "secure@acme.example", Some(&a.org_id)).await;
    seed_account(&app, "outsider@else.example", None).await;

    let (status, all) = a.get("/accounts").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        ids(&all).len(),
        3,
        "external accounts are not managed: {all}"
    );
    let (_, synced) = a.get("/accounts?synced=yes").await;
    assert_eq!(synced["items"][0]["email"], "synced@acme.example");
    assert_eq!(synced["items"][0]["synced_by"], "default");
    let (_, not_synced) = a.get("/accounts?synced=no").await;
    assert_eq!(ids(&not_synced).len(), 2);
    let (_, found) = a.get("/accounts?q=SECURE").await;
    assert_eq!(ids(&found), vec![secure.clone()]);
    let (_, none) = a.get("/accounts?q=%25").await;
    assert_eq!(ids(&none).len(), 0, "wildcards are matched literally");

    // Keyset pages of 2: every account once, then no cursor.
    let (_, p1) = a.get("/accounts?limit=2").await;
    assert_eq!(ids(&p1).len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = a.get(&format!("/accounts?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&p2).len(), 1);
    assert!(p2["next_cursor"].is_null());
    let (status, body) = a.get("/accounts?cursor=garbage").await;
    assert_admin_error(status, &body, 400, "invalid_cursor");
    let (status, body) = a.get("/accounts?status=gone").await;
    assert_admin_error(status, &body, 400, "invalid_request");

    let (status, _) = a
        .post(&format!("/accounts/{plain}/deactivate"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (_, deactivated) = a.get("/accounts?status=deactivated").await;
    assert_eq!(ids(&deactivated), vec![plain.clone()]);
    let (_, s) = a.get("/accounts/summary").await;
    assert_eq!(s["total"], 3, "{s}");
    assert_eq!(s["deactivated"], 1, "{s}");
    assert_eq!(s["secure_login_percentage"], 33.3, "{s}");
    assert_eq!(s["pending_deletion"], 0, "{s}");
}

#[tokio::test]
async fn account_detail_shows_sync_sites_groups_and_security() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    verify_domain(&a, "acme.example").await;
    app.create_user(user("jane@acme.example")).await;
    let id = account_id_of(&app, "jane@acme.example").await;
    let (status, d) = a.get(&format!("/accounts/{id}")).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["email"], "jane@acme.example");
    assert_eq!(d["managed"], true);
    assert_eq!(d["synced"], true);
    assert_eq!(d["synced_by"][0]["directory"], "default");
    assert_eq!(d["sites"], json!([]), "claimed is not invited");
    assert_eq!(d["security"]["two_step_enabled"], false);
    assert_eq!(d["profile"]["display_name"], "Test User");

    // Another org's key does not see it; an unknown id is 404.
    let b = admin(&app, "other").await;
    let (status, body) = b.get(&format!("/accounts/{id}")).await;
    assert_admin_error(status, &body, 404, "not_found");
    let (status, body) = a.get(&format!("/accounts/{}", Uuid::now_v7())).await;
    assert_admin_error(status, &body, 404, "not_found");
    let (status, body) = a.get("/accounts/not-a-uuid").await;
    assert_admin_error(status, &body, 404, "not_found");
}

#[tokio::test]
async fn deactivate_reactivate_delete_and_cancel_follow_the_rules() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    verify_domain(&a, "acme.example").await;
    let id = seed_account(&app, "bob@acme.example", Some(&a.org_id)).await;

    let (status, d) = a
        .post(&format!("/accounts/{id}/deactivate"), json!({}))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["status"], "deactivated");
    assert_eq!(d["security"]["active_sessions"], 0, "sessions end");
    let (status, body) = a
        .post(&format!("/accounts/{id}/deactivate"), json!({}))
        .await;
    assert_admin_error(status, &body, 409, "invalid_state");
    let (status, d) = a
        .post(&format!("/accounts/{id}/reactivate"), json!({}))
        .await;
    assert_eq!((status, d["status"].as_str()), (200, Some("active")));

    // Delete: pending for the grace period, cancellable.
    let (status, d) = a.delete(&format!("/accounts/{id}")).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["status"], "pending_deletion");
    let purge_after: chrono::DateTime<Utc> =
        serde_json::from_value(d["purge_after"].clone()).unwrap();
    let days = (purge_after - Utc::now()).num_hours();
    assert!((13 * 24..=14 * 24).contains(&days), "{purge_after}");
    let (status, body) = a
        .post(&format!("/accounts/{id}/reactivate"), json!({}))
        .await;
    assert_admin_error(status, &body, 409, "invalid_state");
    let (_, s) = a.get("/accounts/summary").await;
    assert_eq!(s["pending_deletion"], 1);
    let (status, d) = a
        .post(&format!("/accounts/{id}/cancel-deletion"), json!({}))
        .await;
    assert_eq!((status, d["status"].as_str()), (200, Some("active")), "{d}");
    assert!(d["purge_after"].is_null());

    // An account the org does not manage: 403 naming the rule.
    let ext = seed_account(&app, "ext@else.example", None).await;
    app.cli(&["site", "create", "--org", "default", "acme.example.net"])
        .await;
    let (status, site) = a.get("/sites").await;
    assert_eq!(status, 200, "{site}");
    let site_id = site["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, body) = a
        .post(
            &format!("/sites/{site_id}/users"),
            json!({"email": "ext@else.example"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    for (method, path) in [
        (Method::POST, format!("/accounts/{ext}/deactivate")),
        (Method::DELETE, format!("/accounts/{ext}")),
        (Method::PUT, format!("/accounts/{ext}/email")),
        (Method::PATCH, format!("/accounts/{ext}")),
    ] {
        let body = if method == Method::PATCH {
            json!({"job_title": "x"})
        } else {
            json!({"email": "ext@acme.example"})
        };
        let (status, err) = a.send(method, &path, Some(body)).await;
        assert_admin_error(status, &err, 403, "account_not_managed");
        assert!(err["message"].as_str().unwrap().contains("not managed"));
    }

    // Every write is in the audit log, newest first.
    let (status, log) = a.get("/audit-log?limit=3").await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["items"][0]["action"], "site.invite");
    assert_eq!(log["items"][1]["action"], "account.cancel_deletion");
    assert_eq!(log["items"][1]["target_id"], id);
    assert_eq!(log["items"][1]["actor_type"], "admin_key");
}

#[tokio::test]
async fn email_changes_only_to_a_verified_domain_and_profile_edits() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    verify_domain(&a, "acme.example").await;
    verify_domain(&a, "acme2.example").await;
    let id = seed_account(&app, "amy@acme.example", Some(&a.org_id)).await;
    seed_account(&app, "taken@acme2.example", Some(&a.org_id)).await;

    let (status, body) = a
        .put(
            &format!("/accounts/{id}/email"),
            json!({"email": "amy@gmail.example"}),
        )
        .await;
    assert_admin_error(status, &body, 400, "email_domain_not_verified");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("verified domain")
    );
    let (status, body) = a
        .put(
            &format!("/accounts/{id}/email"),
            json!({"email": "not an email"}),
        )
        .await;
    assert_admin_error(status, &body, 400, "invalid_request");
    let (status, body) = a
        .put(
            &format!("/accounts/{id}/email"),
            json!({"email": "taken@acme2.example"}),
        )
        .await;
    assert_admin_error(status, &body, 409, "already_exists");
    let (status, d) = a
        .put(
            &format!("/accounts/{id}/email"),
            json!({"email": "Amy@Acme2.example"}),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["email"], "Amy@Acme2.example");

    let (status, d) = a
        .patch(
            &format!("/accounts/{id}"),
            json!({"job_title": "Engineer", "display_name": null}),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["profile"]["job_title"], "Engineer");
    assert!(d["profile"]["display_name"].is_null());
    let (status, body) = a
        .patch(&format!("/accounts/{id}"), json!({"shoe_size": "42"}))
        .await;
    assert_admin_error(status, &body, 400, "invalid_request");
}

#[tokio::test]
async fn synced_accounts_refuse_what_the_idp_owns_but_allow_security_actions() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    verify_domain(&a, "acme.example").await;
    app.create_user(user("sam@acme.example")).await;
    let id = account_id_of(&app, "sam@acme.example").await;

    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/accounts/{id}"),
            json!({"job_title": "x"}),
        ),
        (
            Method::PUT,
            format!("/accounts/{id}/email"),
            json!({"email": "sam2@acme.example"}),
        ),
        (
            Method::POST,
            format!("/accounts/{id}/deactivate"),
            json!({}),
        ),
    ] {
        let (status, err) = a.send(method, &path, Some(body)).await;
        assert_admin_error(status, &err, 409, "managed_by_identity_provider");
        assert!(
            err["message"].as_str().unwrap().contains("\"default\""),
            "the message names the directory: {err}"
        );
    }
    let (status, d) = a
        .post(&format!("/accounts/{id}/require-password-reset"), json!({}))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["security"]["password_reset_required"], true);
    let until = (Utc::now() + Duration::days(7)).to_rfc3339();
    let (status, d) = a
        .put(
            &format!("/accounts/{id}/two-step-exclusion"),
            json!({"until": until}),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert!(d["security"]["two_step_excluded_until"].is_string());
    let (status, d) = a
        .delete(&format!("/accounts/{id}/two-step-exclusion"))
        .await;
    assert_eq!(status, 200, "{d}");
    assert!(d["security"]["two_step_excluded_until"].is_null());
}

#[tokio::test]
async fn security_actions_list_and_revoke_tokens_and_sessions() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    verify_domain(&a, "acme.example").await;
    let id = seed_account(&app, "tess@acme.example", Some(&a.org_id)).await;

    let (status, tokens) = a.get(&format!("/accounts/{id}/api-tokens")).await;
    assert_eq!(status, 200, "{tokens}");
    let token = tokens["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, d) = a
        .delete(&format!("/accounts/{id}/api-tokens/{token}"))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["security"]["active_api_tokens"], 0);
    let (status, body) = a
        .delete(&format!("/accounts/{id}/api-tokens/{token}"))
        .await;
    assert_admin_error(status, &body, 404, "not_found");

    let (_, sessions) = a.get(&format!("/accounts/{id}/sessions")).await;
    assert_eq!(sessions["items"][0]["device"], "Firefox on Linux");
    let session = sessions["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, d) = a
        .delete(&format!("/accounts/{id}/sessions/{session}"))
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["security"]["active_sessions"], 0);
    let (status, _) = a.delete(&format!("/accounts/{id}/sessions")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn deleted_accounts_are_purged_after_the_grace_period_by_the_cli() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    verify_domain(&a, "acme.example").await;
    let uid = app.create_user(user("gone@acme.example")).await;
    let id = account_id_of(&app, "gone@acme.example").await;
    add_session_and_token(&app, &id).await;
    // A failed create leaves the email in the sync log's error detail.
    let (status, body) = app.post("/Users", user("gone@acme.example")).await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("gone@acme.example")
    );
    let before = personal_rows(&app, &id, "gone@acme.example").await;
    assert!(before.iter().all(|(_, n)| *n > 0), "{before:?}");
    let (status, d) = a.delete(&format!("/accounts/{id}")).await;
    assert_eq!(status, 200, "{d}");

    // Not due yet: nothing happens.
    app.cli(&["purge-due"]).await;
    let (_, d) = a.get(&format!("/accounts/{id}")).await;
    assert_eq!(d["status"], "pending_deletion");

    // The grace period ends.
    let db = app.db().await;
    let acc = account::Entity::find_by_id(Uuid::parse_str(&id).unwrap())
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut m: account::ActiveModel = acc.into();
    m.purge_after = Set(Some(Utc::now() - Duration::minutes(1)));
    m.update(&db).await.unwrap();
    // Two instances at once: the account is purged exactly once.
    tokio::join!(app.cli(&["purge-due"]), app.cli(&["purge-due"]));

    let tomb = account::Entity::find_by_id(Uuid::parse_str(&id).unwrap())
        .one(&db)
        .await
        .unwrap()
        .expect("a tombstone stays");
    assert_eq!(tomb.status.to_string(), "deleted");
    assert!(tomb.email.is_none() && tomb.display_name.is_none());
    assert!(tomb.deleted_at.is_some());
    // Personal data is gone from the SCIM view too.
    let (status, _) = app.get(&format!("/Users/{uid}")).await;
    assert_eq!(status, 404);
    let (_, list) = a.get("/accounts").await;
    assert_eq!(ids(&list).len(), 0, "tombstones are not listed");
    let (_, log) = a.get("/audit-log").await;
    let purges: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "account.purge")
        .collect();
    assert_eq!(purges.len(), 1, "purged once: {log}");
    assert_eq!(purges[0]["target_id"], id);
    assert_eq!(purges[0]["actor_type"], "system");
    // The SCIM link and its values, sessions, API tokens and every sync-log
    // mention of the email are gone.
    let after = personal_rows(&app, &id, "gone@acme.example").await;
    assert!(after.iter().all(|(_, n)| *n == 0), "{after:?}");
    let (status, log) = a
        .get(&format!("/directories/{}/sync-log", app.directory_id))
        .await;
    assert_eq!(status, 200, "{log}");
    assert!(!log.to_string().contains("gone@acme.example"), "{log}");
    assert!(
        log["items"].as_array().unwrap().len() >= 2,
        "the entries stay, without the email: {log}"
    );
}

/// A session and an API token for the account `id`.
async fn add_session_and_token(app: &TestApp, id: &str) {
    let db = app.db().await;
    let (now, id) = (Utc::now(), Uuid::parse_str(id).unwrap());
    account_session::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(id),
        device: Set("Safari on macOS".into()),
        ip_address: Set(None),
        created_at: Set(now),
        last_seen_at: Set(now),
        revoked_at: Set(None),
    }
    .insert(&db)
    .await
    .unwrap();
    account_api_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(id),
        label: Set("laptop".into()),
        created_at: Set(now),
        last_used_at: Set(None),
        expires_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&db)
    .await
    .unwrap();
}

/// Rows that hold the account's personal data: (table, count).
async fn personal_rows(app: &TestApp, id: &str, email: &str) -> Vec<(&'static str, u64)> {
    use entity::{scim_user, scim_user_value, sync_log};
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter, QuerySelect};
    let db = app.db().await;
    let id = Uuid::parse_str(id).unwrap();
    let links: Vec<Uuid> = scim_user::Entity::find()
        .select_only()
        .column(scim_user::Column::Id)
        .filter(scim_user::Column::AccountId.eq(id))
        .into_tuple()
        .all(&db)
        .await
        .unwrap();
    let values = scim_user_value::Entity::find()
        .filter(scim_user_value::Column::UserId.is_in(links.clone()))
        .count(&db)
        .await
        .unwrap();
    let sessions = account_session::Entity::find()
        .filter(account_session::Column::AccountId.eq(id))
        .count(&db)
        .await
        .unwrap();
    let tokens = account_api_token::Entity::find()
        .filter(account_api_token::Column::AccountId.eq(id))
        .count(&db)
        .await
        .unwrap();
    let log = sync_log::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.detail
                .as_deref()
                .is_some_and(|d| d.to_lowercase().contains(email))
        })
        .count() as u64;
    vec![
        ("scim_users", links.len() as u64),
        ("scim_user_values", values),
        ("account_sessions", sessions),
        ("account_api_tokens", tokens),
        ("sync_log mentions", log),
    ]
}

pub async fn site(app: &TestApp, a: &Admin, name: &str) -> String {
    app.cli(&["site", "create", "--org", "default", name]).await;
    let (_, sites) = a.get("/sites").await;
    sites["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn emails(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["email"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_claimed_account_is_on_the_users_page_only_once_invited() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let s = site(&app, &a, "acme.example.net").await;
    verify_domain(&a, "acme.example").await;
    let id = seed_account(&app, "claimed@acme.example", Some(&a.org_id)).await;

    let (_, managed) = a.get("/accounts").await;
    assert_eq!(ids(&managed), vec![id.clone()], "claimed: managed");
    let (status, users) = a.get(&format!("/sites/{s}/users")).await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(emails(&users), Vec::<String>::new(), "but not a site user");

    let (status, m) = a
        .post(
            &format!("/sites/{s}/users"),
            json!({"email": "claimed@acme.example"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["status"], "invited");
    // An external account can be invited too, and a new one is created.
    let (status, m) = a
        .post(
            &format!("/sites/{s}/users"),
            json!({"email": "new@else.example"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["managed"], false);
    let (_, users) = a.get(&format!("/sites/{s}/users?status=invited")).await;
    assert_eq!(emails(&users).len(), 2);
    let (_, managed) = a.get("/accounts").await;
    assert_eq!(
        ids(&managed).len(),
        1,
        "external accounts stay off the managed page"
    );

    // First activity turns the invite active.
    let (status, m) = a
        .post(&format!("/sites/{s}/users/{id}/activity"), json!({}))
        .await;
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["status"], "active");
    assert!(m["last_active_at"].is_string());
    let (_, users) = a.get(&format!("/sites/{s}/users?q=claimed")).await;
    assert_eq!(users["items"][0]["status"], "active");
    let (_, p1) = a.get(&format!("/sites/{s}/users?limit=1")).await;
    let cursor = p1["next_cursor"].as_str().unwrap();
    let (_, p2) = a
        .get(&format!("/sites/{s}/users?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(emails(&p2).len(), 1);
    assert!(p2["next_cursor"].is_null());
    assert_ne!(emails(&p1), emails(&p2));
}

#[tokio::test]
async fn suspend_keeps_product_access_and_remove_keeps_the_account_managed() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let s = site(&app, &a, "acme.example.net").await;
    verify_domain(&a, "acme.example").await;
    let id = seed_account(&app, "kim@acme.example", Some(&a.org_id)).await;
    a.post(
        &format!("/sites/{s}/users"),
        json!({"email": "kim@acme.example"}),
    )
    .await;
    let (status, _) = a
        .put(
            &format!("/sites/{s}/users/{id}/products/jira"),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = a
        .put(&format!("/sites/{s}/users/{id}/products/excel"), json!({}))
        .await;
    assert_admin_error(status, &body, 400, "invalid_request");
    let (status, g) = a.post("/groups", json!({"name": "Writers"})).await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let (status, body) = a.post("/groups", json!({"name": "writers"})).await;
    assert_admin_error(status, &body, 409, "already_exists");
    let (status, _) = a
        .post(
            &format!("/groups/{gid}/grants"),
            json!({"site_id": s, "product": "confluence"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = a
        .put(&format!("/groups/{gid}/members/{id}"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");

    // Suspend: no access, but product access and groups stay configured.
    let (status, m) = a
        .post(&format!("/sites/{s}/users/{id}/suspend"), json!({}))
        .await;
    assert_eq!((status, m["status"].as_str()), (200, Some("suspended")));
    let (_, users) = a.get(&format!("/sites/{s}/users?status=suspended")).await;
    let u = &users["items"][0];
    let products: Vec<&str> = u["product_access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product"].as_str().unwrap())
        .collect();
    assert_eq!(products, vec!["confluence", "jira"], "{u}");
    assert_eq!(u["groups"][0]["name"], "Writers");
    let (status, m) = a
        .post(&format!("/sites/{s}/users/{id}/restore"), json!({}))
        .await;
    assert_eq!(
        (status, m["status"].as_str()),
        (200, Some("invited")),
        "{m}"
    );

    // Remove: membership, product access and the site's admin groups go;
    // the account stays managed and needs a new invite.
    let (status, _) = a.delete(&format!("/sites/{s}/users/{id}")).await;
    assert_eq!(status, 204);
    let (_, users) = a.get(&format!("/sites/{s}/users")).await;
    assert_eq!(emails(&users), Vec::<String>::new());
    let (_, d) = a.get(&format!("/accounts/{id}")).await;
    assert_eq!(d["managed"], true);
    assert_eq!(d["status"], "active");
    assert_eq!(d["sites"], json!([]));
    assert_eq!(d["groups"], json!([]));
    let (status, body) = a
        .post(&format!("/sites/{s}/users/{id}/suspend"), json!({}))
        .await;
    assert_admin_error(status, &body, 404, "not_found");
    let (status, m) = a
        .post(
            &format!("/sites/{s}/users"),
            json!({"email": "kim@acme.example"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let (_, users) = a.get(&format!("/sites/{s}/users")).await;
    assert_eq!(
        users["items"][0]["product_access"],
        json!([]),
        "access was removed"
    );
}

#[tokio::test]
async fn synced_group_membership_is_the_idps_and_admin_groups_grant_access() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let s = site(&app, &a, "acme.example.net").await;
    verify_domain(&a, "acme.example").await;
    let uid = app.create_user(user("lee@acme.example")).await;
    let id = account_id_of(&app, "lee@acme.example").await;
    let (status, g) = app
        .post(
            "/Groups",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Okta Engineers",
                "members": [{"value": uid}],
            }),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let synced = g["id"].as_str().unwrap().to_owned();

    let (status, err) = a.delete(&format!("/groups/{synced}/members/{id}")).await;
    assert_admin_error(status, &err, 409, "managed_by_identity_provider");
    assert!(err["message"].as_str().unwrap().contains("\"default\""));
    // Granting product access to a synced group is the admin's.
    let (status, body) = a
        .post(
            &format!("/groups/{synced}/grants"),
            json!({"site_id": s, "product": "jira"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, users) = a.get(&format!("/sites/{s}/users")).await;
    assert_eq!(emails(&users), vec!["lee@acme.example"]);
    assert_eq!(
        users["items"][0]["product_access"][0]["via"]["type"],
        "group"
    );
    // Access from a synced group ends in the IdP, not here.
    let (status, err) = a.delete(&format!("/sites/{s}/users/{id}")).await;
    assert_admin_error(status, &err, 409, "managed_by_identity_provider");
    let (_, list) = a.get("/groups").await;
    assert_eq!(list["items"][0]["synced"], true);
    assert_eq!(list["items"][0]["synced_by"], "default");
}

#[tokio::test]
async fn sync_status_counts_and_the_sync_log_filters_and_pages() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    app.create_user(user("one@acme.example")).await;
    app.create_user(user("two@acme.example")).await;
    let (status, _) = app.post("/Users", user("one@acme.example")).await;
    assert_eq!(status, 409);

    let (status, dirs) = a.get("/directories").await;
    assert_eq!(status, 200, "{dirs}");
    let d = &dirs["items"][0];
    assert_eq!(d["name"], "default");
    assert_eq!(d["synced_users"], 2);
    assert_eq!(d["synced_groups"], 0);
    assert_eq!(d["failed_operations_last_24h"], 1);
    assert!(d["last_sync_at"].is_string());
    let dir = d["id"].as_str().unwrap();

    let (_, failures) = a
        .get(&format!("/directories/{dir}/sync-log?outcome=failure"))
        .await;
    assert_eq!(failures["items"].as_array().unwrap().len(), 1);
    assert_eq!(failures["items"][0]["status"], 409);
    let (_, posts) = a
        .get(&format!(
            "/directories/{dir}/sync-log?operation=POST%20/Users&resource_type=User&limit=2"
        ))
        .await;
    assert_eq!(posts["items"].as_array().unwrap().len(), 2);
    let cursor = posts["next_cursor"].as_str().unwrap();
    let (_, rest) = a
        .get(&format!(
            "/directories/{dir}/sync-log?operation=POST%20/Users&limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let b = admin(&app, "other").await;
    let (status, body) = b.get(&format!("/directories/{dir}/sync-log")).await;
    assert_admin_error(status, &body, 404, "not_found");
}

async fn csv(a: &Admin, path: &str) -> (String, String) {
    let res = a
        .client
        .get(format!("{}{path}", a.base))
        .bearer_auth(&a.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    (ct, res.text().await.unwrap())
}

#[tokio::test]
async fn exports_stream_managed_accounts_and_site_users_as_csv() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let s = site(&app, &a, "acme.example.net").await;
    verify_domain(&a, "acme.example").await;
    let id = seed_account(&app, "secure-eve@acme.example", Some(&a.org_id)).await;
    seed_account(&app, "ext@else.example", None).await;
    a.post(
        &format!("/sites/{s}/users"),
        json!({"email": "secure-eve@acme.example"}),
    )
    .await;
    a.post(
        &format!("/sites/{s}/users"),
        json!({"email": "ext@else.example"}),
    )
    .await;
    a.put(&format!("/sites/{s}/users/{id}/products/jira"), json!({}))
        .await;

    let (ct, text) = csv(&a, "/exports/managed-accounts").await;
    assert_eq!(ct, "text/csv; charset=utf-8");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "header + the one managed account: {text}");
    assert!(lines[0].starts_with("Name,Email,Last active,Status,Billable,Policy name,Policy type,SAML single sign-on,Two-step verification,Password requirements,Idle session duration,Jira,Confluence"));
    assert!(
        lines[1]
            .starts_with("Seed secure-eve@acme.example,secure-eve@acme.example,Never,active,Yes,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains(",Yes,Default,Default,acme.example.net,"),
        "{}",
        lines[1]
    );

    let (_, text) = csv(&a, &format!("/exports/sites/{s}/users")).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "Name,Email,Status,Last active,Product access,Groups"
    );
    assert_eq!(lines.len(), 3, "managed and external users: {text}");
    assert!(text.contains("secure-eve@acme.example,invited,Never,jira (user),"));
    assert!(text.contains("ext@else.example,invited,Never,,"));

    // The CLI prints the same CSV as the API.
    let (_, api) = csv(&a, "/exports/managed-accounts").await;
    let url = app.settings.database_url.expose().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_scim-server"))
            .args(["export", "managed-accounts", "--org", "default"])
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "header + the one managed account: {printed}"
    );
    assert!(
        lines[0].starts_with("Name,Email,Last active,Status,Billable,"),
        "{printed}"
    );
    assert!(
        lines[1]
            .starts_with("Seed secure-eve@acme.example,secure-eve@acme.example,Never,active,Yes,"),
        "{printed}"
    );
    assert_eq!(printed, api);
}

#[tokio::test]
async fn the_openapi_document_lists_every_admin_route() {
    let app = spawn_app().await;
    let (status, doc) = read(
        reqwest::get(format!("{}/admin/v1/openapi.json", app.address))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    let mut expected = std::collections::BTreeSet::new();
    for (method, path) in scim_server::http::admin::ROUTES {
        let full = format!("{}{path}", scim_server::http::admin::ORG_SCOPE);
        assert!(
            paths.get(&full).and_then(|p| p.get(*method)).is_some(),
            "{method} {full} is missing from the OpenAPI document"
        );
        expected.insert(full);
    }
    let documented: std::collections::BTreeSet<String> = paths.keys().cloned().collect();
    assert_eq!(
        documented, expected,
        "the document has no route the server lacks"
    );
    assert!(doc["components"]["securitySchemes"]["admin_key"].is_object());
}
