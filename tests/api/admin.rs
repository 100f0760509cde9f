//! The admin API, walked as the admin documents' FAQ: managed accounts vs
//! site users, suspend vs remove vs deactivate vs delete, email rules,
//! IdP-synced accounts, purge after the grace period, tenant isolation.

use crate::helpers::*;
use reqwest::Method;
use scim_server::store::{admin_keys, directories};
use serde_json::{Value, json};

/// An admin API client for one organization.
pub struct Admin {
    pub base: String,
    pub key: String,
    pub org_id: String,
    client: reqwest::Client,
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
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(Method::DELETE, path, None).await
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
        client: reqwest::Client::new(),
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
        client: reqwest::Client::new(),
    };
    let (status, body) = wrong.get("/domains").await;
    assert_admin_error(status, &body, 401, "unauthorized");

    // The key of org B on org A's URL: 404, nothing of A shows.
    let b_on_a = Admin {
        key: b.key.clone(),
        base: a.base.clone(),
        org_id: a.org_id.clone(),
        client: reqwest::Client::new(),
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

    let (status, body) = a
        .post(
            "/domains/acme.example/verify",
            json!({"verification_token": "guess"}),
        )
        .await;
    assert_admin_error(status, &body, 400, "verification_failed");

    let token = d["verification_token"].as_str().unwrap();
    let (status, v) = a
        .post(
            "/domains/acme.example/verify",
            json!({"verification_token": token}),
        )
        .await;
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
