//! Hardening: every refusal must be a 4xx carrying its API's error body,
//! and must leave the database as it was. One module per concern:
//! - `bad_input`: a bad-input matrix over every SCIM write endpoint (and
//!   oversized, chunked, non-UTF-8 and hostile requests);
//! - `admin_input`: bad input to the admin API's write endpoints;
//! - `isolation`: a tenant isolation matrix over every route, with a test
//!   that keeps the route table in step with `src/http`;
//! - `secrets`: how directory tokens and admin keys are kept and revoked.
//!
//! This file holds what they share: raw requests and replies, and the
//! seeded directories they run against.

mod admin_input;
mod bad_input;
mod isolation;
mod secrets;

use std::collections::BTreeSet;

use crate::admin::{admin, assert_admin_error};
use crate::helpers::*;
use reqwest::Method;
use scim_server::store::directories;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// What a raw request got back.
struct Reply {
    status: u16,
    content_type: String,
    body: Value,
}

async fn raw(
    method: Method,
    url: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> Reply {
    let mut req = crate::helpers::http_client().request(method, url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let res = req.send().await.expect("request sent");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (status, body) = read(res).await;
    Reply {
        status,
        content_type,
        body,
    }
}

/// A SCIM error as a client sees it: status, `scimType`, a detail, the
/// SCIM media type. `Err` says what is wrong.
fn check_scim_reply(
    case: &str,
    r: &Reply,
    status: u16,
    scim_type: Option<&str>,
) -> Result<(), String> {
    let ok = r.status == status
        && r.content_type.starts_with("application/scim+json")
        && r.body["schemas"] == json!([ERROR_SCHEMA])
        && r.body["status"].as_str() == Some(status.to_string().as_str())
        && r.body["scimType"].as_str() == scim_type
        && r.body["detail"].as_str().is_some_and(|d| !d.is_empty());
    if ok {
        Ok(())
    } else {
        let body = r.body.to_string();
        let body: String = body.chars().take(300).collect();
        Err(format!(
            "{case}: want {status} {scim_type:?}, got {} {:?} ({}) {body}",
            r.status, r.body["scimType"], r.content_type
        ))
    }
}

fn assert_scim_reply(case: &str, r: &Reply, status: u16, scim_type: Option<&str>) {
    if let Err(e) = check_scim_reply(case, r, status, scim_type) {
        panic!("{e}");
    }
}

/// One directory as a SCIM client sees it.
#[derive(Clone)]
struct Dir {
    name: String,
    id: Uuid,
    base: String,
    token: String,
    /// An OAuth access token (JWT) of the directory: set by `tenants`.
    access_token: String,
    user_id: String,
    user_name: String,
    group_id: String,
}

impl Dir {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        raw(
            method,
            &format!("{}{path}", self.base),
            Some(&self.token),
            Some("application/scim+json"),
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }

    /// Everything the directory holds, as its own client reads it.
    async fn snapshot(&self) -> Value {
        let users = self.send(Method::GET, "/Users?count=1000", None).await;
        assert_eq!(users.status, 200, "{}", users.body);
        let groups = self.send(Method::GET, "/Groups?count=1000", None).await;
        assert_eq!(groups.status, 200, "{}", groups.body);
        json!({"users": users.body, "groups": groups.body})
    }
}

/// A directory of a new (or existing) organization with a token, one user
/// and one group holding it, made as `directory create` makes them.
async fn directory(app: &TestApp, org: &str, name: &str) -> Dir {
    let db = app.db().await;
    let o = directories::find_or_create_org(&db, org).await.unwrap();
    let d = directories::create_directory(&db, o.id, name)
        .await
        .unwrap();
    let (_, token) = directories::create_token(&db, d.id, None).await.unwrap();
    let _ = db.close().await;
    let mut dir = Dir {
        name: format!("{org}/{name}"),
        id: d.id,
        base: format!("{}/scim/v2/directories/{}", app.address, d.id),
        token,
        access_token: String::new(),
        user_id: String::new(),
        user_name: format!("alice.{name}@{org}.example"),
        group_id: String::new(),
    };
    fill(&mut dir).await;
    dir
}

/// The bootstrapped `default` directory, seeded like the others.
async fn default_directory(app: &TestApp) -> Dir {
    let mut dir = Dir {
        name: "default/default".into(),
        id: app.directory_id,
        base: app.base.clone(),
        token: app.token.clone(),
        access_token: String::new(),
        user_id: String::new(),
        user_name: "alice.default@default.example".into(),
        group_id: String::new(),
    };
    fill(&mut dir).await;
    dir
}

async fn fill(dir: &mut Dir) {
    let r = dir
        .send(Method::POST, "/Users", Some(user(&dir.user_name)))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    dir.user_id = r.body["id"].as_str().unwrap().to_owned();
    let r = dir
        .send(
            Method::POST,
            "/Groups",
            Some(json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": format!("Engineering {}", dir.name),
                "members": [{"value": dir.user_id}],
            })),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    dir.group_id = r.body["id"].as_str().unwrap().to_owned();
}

/// A JSON body of `depth` nested arrays.
fn nested(depth: usize) -> Vec<u8> {
    let mut s = "[".repeat(depth);
    s.push_str(&"]".repeat(depth));
    s.into_bytes()
}

fn long(n: usize) -> String {
    "a".repeat(n)
}

/// A SCIM PATCH body with `ops`.
fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn replace(path: &str, value: Value) -> Value {
    patch_body(json!([{"op": "replace", "path": path, "value": value}]))
}
