//! Hardening: a bad-input matrix over every write endpoint, a tenant
//! isolation matrix over every route (with a test that keeps the route
//! table in step with `src/http`), and how directory tokens are kept.
//! Every refusal must be a 4xx carrying its API's error body, and must leave
//! the database as it was.

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

// ---------------------------------------------------------------------------
// Bad-input matrix
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    UserWrite,
    UserPatch,
    GroupWrite,
    GroupPatch,
    Bulk,
    Search,
}

/// Every SCIM endpoint that takes a body.
fn write_endpoints(dir: &Dir) -> Vec<(Method, String, Kind)> {
    let u = format!("/Users/{}", dir.user_id);
    let g = format!("/Groups/{}", dir.group_id);
    vec![
        (Method::POST, "/Users".into(), Kind::UserWrite),
        (Method::PUT, u.clone(), Kind::UserWrite),
        (Method::PATCH, u, Kind::UserPatch),
        (Method::POST, "/Groups".into(), Kind::GroupWrite),
        (Method::PUT, g.clone(), Kind::GroupWrite),
        (Method::PATCH, g, Kind::GroupPatch),
        (Method::POST, "/Bulk".into(), Kind::Bulk),
        (Method::POST, "/Users/.search".into(), Kind::Search),
        (Method::POST, "/Groups/.search".into(), Kind::Search),
        (Method::POST, "/.search".into(), Kind::Search),
    ]
}

/// A body the endpoint accepts (for the cases where only the framing is wrong).
fn valid_body(kind: Kind) -> Value {
    match kind {
        Kind::UserWrite => user("valid.body@acme.example"),
        Kind::UserPatch | Kind::GroupPatch => json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "externalId", "value": "x"}],
        }),
        Kind::GroupWrite => json!({"schemas": [GROUP_SCHEMA], "displayName": "Valid body"}),
        Kind::Bulk => json!({
            "schemas": [BULK_REQUEST],
            "Operations": [{"method": "POST", "path": "/Users", "bulkId": "a",
                "data": user("bulk.valid@acme.example")}],
        }),
        Kind::Search => json!({"schemas": [SEARCH_REQUEST], "filter": "userName pr"}),
    }
}

struct Case {
    name: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    scim_type: Option<&'static str>,
}

fn case(name: impl Into<String>, body: Value, scim_type: &'static str) -> Case {
    Case {
        name: name.into(),
        content_type: Some("application/scim+json"),
        body: body.to_string().into_bytes(),
        status: 400,
        scim_type: Some(scim_type),
    }
}

fn nested(depth: usize) -> Vec<u8> {
    let mut s = "[".repeat(depth);
    s.push_str(&"]".repeat(depth));
    s.into_bytes()
}

/// Framing errors: the same for every endpoint.
fn framing_cases(kind: Kind) -> Vec<Case> {
    let valid = valid_body(kind).to_string().into_bytes();
    let raw_case = |name: &str, ct: Option<&'static str>, body: Vec<u8>, status, t| Case {
        name: name.into(),
        content_type: ct,
        body,
        status,
        scim_type: t,
    };
    let scim = Some("application/scim+json");
    let mut invalid_utf8 = br#"{"schemas": [""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    invalid_utf8.extend_from_slice(br#""], "userName": "x"}"#);
    let mut nested_objects = r#"{"a":"#.repeat(10_000);
    nested_objects.push('1');
    nested_objects.push_str(&"}".repeat(10_000));
    vec![
        raw_case(
            "malformed JSON",
            scim,
            br#"{"schemas": ["#.to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "two JSON documents",
            scim,
            b"{} {}".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case("empty body", scim, vec![], 400, Some("invalidSyntax")),
        raw_case(
            "invalid UTF-8",
            scim,
            invalid_utf8,
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "10,000 nested arrays",
            scim,
            nested(10_000),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "10,000 nested objects",
            scim,
            nested_objects.into_bytes(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "a JSON array",
            scim,
            b"[1, 2, 3]".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "a JSON string",
            scim,
            br#""userName""#.to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "JSON null",
            scim,
            b"null".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case("text/plain", Some("text/plain"), valid.clone(), 415, None),
        raw_case(
            "application/xml",
            Some("application/xml"),
            valid.clone(),
            415,
            None,
        ),
        raw_case(
            "form encoded",
            Some("application/x-www-form-urlencoded"),
            b"userName=x".to_vec(),
            415,
            None,
        ),
    ]
}

fn long(n: usize) -> String {
    "a".repeat(n)
}

fn user_with(key: &str, value: Value) -> Value {
    let mut u = user("typed@acme.example");
    u[key] = value;
    u
}

/// Wrong JSON types, missing attributes, unknown schemas, oversize values.
fn user_cases() -> Vec<Case> {
    let mut cases = vec![
        case(
            "userName number",
            user_with("userName", json!(5)),
            "invalidValue",
        ),
        case(
            "userName bool",
            user_with("userName", json!(true)),
            "invalidValue",
        ),
        case(
            "userName object",
            user_with("userName", json!({})),
            "invalidValue",
        ),
        case(
            "userName array",
            user_with("userName", json!(["a"])),
            "invalidValue",
        ),
        case(
            "userName null",
            user_with("userName", Value::Null),
            "invalidValue",
        ),
        case(
            "userName empty",
            user_with("userName", json!("")),
            "invalidValue",
        ),
        case(
            "userName of 100k chars",
            user_with("userName", json!(long(100_000))),
            "invalidValue",
        ),
        case(
            "missing userName",
            json!({"schemas": [USER_SCHEMA], "displayName": "No Name"}),
            "invalidValue",
        ),
        case(
            "active object",
            user_with("active", json!({})),
            "invalidValue",
        ),
        case(
            "active array",
            user_with("active", json!([true])),
            "invalidValue",
        ),
        case(
            "active number",
            user_with("active", json!(1)),
            "invalidValue",
        ),
        case(
            "active maybe",
            user_with("active", json!("maybe")),
            "invalidValue",
        ),
        case(
            "name array",
            user_with("name", json!(["Jane"])),
            "invalidValue",
        ),
        case(
            "name string",
            user_with("name", json!("Jane")),
            "invalidValue",
        ),
        case(
            "name.givenName number",
            user_with("name", json!({"givenName": 5})),
            "invalidValue",
        ),
        case(
            "emails entry a string",
            user_with("emails", json!(["x@acme.example"])),
            "invalidValue",
        ),
        case(
            "emails value number",
            user_with("emails", json!([{"value": 5}])),
            "invalidValue",
        ),
        case(
            "emails value not an address",
            user_with("emails", json!([{"value": "not-an-email"}])),
            "invalidValue",
        ),
        case(
            "emails primary perhaps",
            user_with(
                "emails",
                json!([{"value": "x@acme.example", "primary": "perhaps"}]),
            ),
            "invalidValue",
        ),
        case(
            "5,000 emails",
            user_with(
                "emails",
                Value::Array(
                    (0..5_000)
                        .map(|i| json!({"value": format!("u{i}@acme.example")}))
                        .collect(),
                ),
            ),
            "invalidValue",
        ),
        case(
            "displayName of 100k chars",
            user_with("displayName", json!(long(100_000))),
            "invalidValue",
        ),
        case(
            "enterprise extension array",
            {
                let mut u = user("ext@acme.example");
                u["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
                u[ENTERPRISE] = json!([{"department": "x"}]);
                u
            },
            "invalidValue",
        ),
        case(
            "enterprise extension string",
            user_with(ENTERPRISE, json!("Tour")),
            "invalidValue",
        ),
        case(
            "enterprise manager number",
            user_with(ENTERPRISE, json!({"manager": 5})),
            "invalidValue",
        ),
        case(
            "enterprise department array",
            user_with(ENTERPRISE, json!({"department": ["x"]})),
            "invalidValue",
        ),
        case(
            "password number",
            user_with("password", json!(5)),
            "invalidValue",
        ),
        case(
            "unknown schema only",
            user_with("schemas", json!(["urn:example:params:scim:schemas:Thing"])),
            "invalidValue",
        ),
        case(
            "enterprise schema only",
            user_with("schemas", json!([ENTERPRISE])),
            "invalidValue",
        ),
        case(
            "Group schema on a User",
            user_with("schemas", json!([GROUP_SCHEMA])),
            "invalidValue",
        ),
        case(
            "schemas a string",
            user_with("schemas", json!(USER_SCHEMA)),
            "invalidValue",
        ),
        case(
            "schemas of numbers",
            user_with("schemas", json!([5])),
            "invalidValue",
        ),
        case(
            "empty schemas",
            user_with("schemas", json!([])),
            "invalidValue",
        ),
    ];
    for attr in [
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "entitlements",
        "roles",
        "x509Certificates",
    ] {
        cases.push(case(
            format!("{attr} as a string"),
            user_with(attr, json!("x@acme.example")),
            "invalidValue",
        ));
        cases.push(case(
            format!("{attr} as a number"),
            user_with(attr, json!(5)),
            "invalidValue",
        ));
    }
    for attr in [
        "externalId",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
    ] {
        cases.push(case(
            format!("{attr} as a number"),
            user_with(attr, json!(5)),
            "invalidValue",
        ));
        cases.push(case(
            format!("{attr} as an object"),
            user_with(attr, json!({"value": "x"})),
            "invalidValue",
        ));
    }
    cases
}

fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

fn replace(path: &str, value: Value) -> Value {
    patch_body(json!([{"op": "replace", "path": path, "value": value}]))
}

/// PATCH envelopes that are wrong whatever the resource.
fn patch_envelope_cases() -> Vec<Case> {
    vec![
        case(
            "PatchOp: unknown schema",
            json!({"schemas": ["urn:example:Patch"], "Operations": [{"op": "remove", "path": "title"}]}),
            "invalidValue",
        ),
        case(
            "PatchOp: no Operations",
            json!({"schemas": [PATCH_OP]}),
            "invalidSyntax",
        ),
        case(
            "PatchOp: Operations a string",
            json!({"schemas": [PATCH_OP], "Operations": "replace"}),
            "invalidSyntax",
        ),
        case(
            "PatchOp: empty Operations",
            patch_body(json!([])),
            "invalidSyntax",
        ),
        case(
            "PatchOp: an operation that is a string",
            patch_body(json!(["replace"])),
            "invalidSyntax",
        ),
        case(
            "PatchOp: unknown op",
            patch_body(json!([{"op": "frobnicate", "path": "title", "value": "x"}])),
            "invalidSyntax",
        ),
        case(
            "PatchOp: op a number",
            patch_body(json!([{"op": 5, "path": "title", "value": "x"}])),
            "invalidSyntax",
        ),
        case(
            "PatchOp: replace without a value",
            patch_body(json!([{"op": "replace", "path": "externalId"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: path a number",
            patch_body(json!([{"op": "replace", "path": 5, "value": "x"}])),
            "invalidPath",
        ),
        case(
            "PatchOp: unclosed value filter",
            replace("members[value eq", json!("x")),
            "invalidPath",
        ),
        case(
            "PatchOp: path of 100k chars",
            replace(&long(100_000), json!("x")),
            "invalidPath",
        ),
        case(
            "PatchOp: readOnly id",
            replace("id", json!(Uuid::new_v4().to_string())),
            "mutability",
        ),
        case(
            "PatchOp: readOnly meta",
            replace("meta", json!({"version": "W/\"1\""})),
            "mutability",
        ),
        case(
            "PatchOp: readOnly meta.created",
            replace("meta.created", json!("2020-01-01T00:00:00Z")),
            "mutability",
        ),
        case(
            "PatchOp: readOnly meta.lastModified",
            replace("meta.lastModified", json!("2020-01-01T00:00:00Z")),
            "mutability",
        ),
        case(
            "PatchOp: remove readOnly id",
            patch_body(json!([{"op": "remove", "path": "id"}])),
            "mutability",
        ),
    ]
}

fn user_patch_cases() -> Vec<Case> {
    let mut cases = patch_envelope_cases();
    cases.extend([
        case(
            "PatchOp: readOnly groups",
            patch_body(json!([{"op": "add", "path": "groups",
                "value": [{"value": Uuid::new_v4().to_string()}]}])),
            "mutability",
        ),
        case(
            "PatchOp: active object",
            replace("active", json!({})),
            "invalidValue",
        ),
        case(
            "PatchOp: userName number",
            replace("userName", json!(5)),
            "invalidValue",
        ),
        case(
            "PatchOp: emails a string",
            replace("emails", json!("x@acme.example")),
            "invalidValue",
        ),
        case(
            "PatchOp: name an array",
            replace("name", json!(["Jane"])),
            "invalidValue",
        ),
        case(
            "PatchOp: enterprise extension an array",
            replace(ENTERPRISE, json!([{"department": "x"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: remove the required userName",
            patch_body(json!([{"op": "remove", "path": "userName"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: userName of 100k chars",
            replace("userName", json!(long(100_000))),
            "invalidValue",
        ),
        case(
            "PatchOp: 5,000 emails",
            replace(
                "emails",
                Value::Array(
                    (0..5_000)
                        .map(|i| json!({"value": format!("p{i}@acme.example")}))
                        .collect(),
                ),
            ),
            "invalidValue",
        ),
        case(
            "PatchOp: path-less active object",
            patch_body(json!([{"op": "replace", "value": {"active": {}}}])),
            "invalidValue",
        ),
    ]);
    cases
}

fn group_with(key: &str, value: Value) -> Value {
    let mut g = json!({"schemas": [GROUP_SCHEMA], "displayName": "Typed"});
    g[key] = value;
    g
}

fn group_cases() -> Vec<Case> {
    vec![
        case(
            "displayName number",
            group_with("displayName", json!(5)),
            "invalidValue",
        ),
        case(
            "displayName array",
            group_with("displayName", json!(["x"])),
            "invalidValue",
        ),
        case(
            "displayName empty",
            group_with("displayName", json!("")),
            "invalidValue",
        ),
        case(
            "displayName of 100k chars",
            group_with("displayName", json!(long(100_000))),
            "invalidValue",
        ),
        case(
            "missing displayName",
            json!({"schemas": [GROUP_SCHEMA], "externalId": "x"}),
            "invalidValue",
        ),
        case(
            "externalId number",
            group_with("externalId", json!(5)),
            "invalidValue",
        ),
        case(
            "members a string",
            group_with("members", json!("x")),
            "invalidValue",
        ),
        case(
            "members of numbers",
            group_with("members", json!([5])),
            "invalidValue",
        ),
        case(
            "member value number",
            group_with("members", json!([{"value": 5}])),
            "invalidValue",
        ),
        case(
            "member value not a UUID",
            group_with("members", json!([{"value": "../../etc/passwd"}])),
            "invalidValue",
        ),
        case(
            "member unknown",
            group_with("members", json!([{"value": Uuid::new_v4().to_string()}])),
            "invalidValue",
        ),
        case(
            "member without a value",
            group_with("members", json!([{"display": "x"}])),
            "invalidValue",
        ),
        case(
            "member of type Group",
            group_with(
                "members",
                json!([{"value": Uuid::new_v4().to_string(), "type": "Group"}]),
            ),
            "invalidValue",
        ),
        case(
            "5,000 unknown members",
            group_with(
                "members",
                Value::Array(
                    (0..5_000)
                        .map(|_| json!({"value": Uuid::new_v4().to_string()}))
                        .collect(),
                ),
            ),
            "invalidValue",
        ),
        case(
            "unknown schema only",
            group_with("schemas", json!(["urn:example:Thing"])),
            "invalidValue",
        ),
        case(
            "User schema on a Group",
            group_with("schemas", json!([USER_SCHEMA])),
            "invalidValue",
        ),
    ]
}

fn group_patch_cases() -> Vec<Case> {
    let mut cases = patch_envelope_cases();
    cases.extend([
        case(
            "PatchOp: displayName number",
            replace("displayName", json!(5)),
            "invalidValue",
        ),
        case(
            "PatchOp: displayName empty",
            replace("displayName", json!("")),
            "invalidValue",
        ),
        case(
            "PatchOp: remove the required displayName",
            patch_body(json!([{"op": "remove", "path": "displayName"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: members a string",
            patch_body(json!([{"op": "add", "path": "members", "value": "x"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: member not a UUID",
            patch_body(
                json!([{"op": "add", "path": "members", "value": [{"value": "%2e%2e%2f"}]}]),
            ),
            "invalidValue",
        ),
        case(
            "PatchOp: member unknown",
            patch_body(json!([{"op": "add", "path": "members",
                "value": [{"value": Uuid::new_v4().to_string()}]}])),
            "invalidValue",
        ),
    ]);
    cases
}

fn bulk_cases() -> Vec<Case> {
    let op = |o: Value| json!({"schemas": [BULK_REQUEST], "Operations": [o]});
    vec![
        case(
            "Bulk: no Operations",
            json!({"schemas": [BULK_REQUEST]}),
            "invalidSyntax",
        ),
        case(
            "Bulk: Operations a string",
            json!({"schemas": [BULK_REQUEST], "Operations": "POST"}),
            "invalidSyntax",
        ),
        case(
            "Bulk: unknown schema",
            json!({"schemas": ["urn:example:Bulk"], "Operations": []}),
            "invalidValue",
        ),
        case(
            "Bulk: failOnErrors a string",
            json!({"schemas": [BULK_REQUEST], "failOnErrors": "x", "Operations": []}),
            "invalidValue",
        ),
        case(
            "Bulk: failOnErrors zero",
            json!({"schemas": [BULK_REQUEST], "failOnErrors": 0, "Operations": []}),
            "invalidValue",
        ),
        case(
            "Bulk: an operation that is a string",
            op(json!("POST")),
            "invalidSyntax",
        ),
        case(
            "Bulk: unknown method",
            op(json!({"method": "TRACE", "path": "/Users"})),
            "invalidSyntax",
        ),
        case(
            "Bulk: method a number",
            op(json!({"method": 5, "path": "/Users"})),
            "invalidSyntax",
        ),
        case(
            "Bulk: no path",
            op(json!({"method": "DELETE"})),
            "invalidSyntax",
        ),
        case(
            "Bulk: POST without a bulkId",
            op(json!({"method": "POST", "path": "/Users", "data": user("nobulkid@acme.example")})),
            "invalidSyntax",
        ),
    ]
}

fn search_with(key: &str, value: Value) -> Value {
    let mut s = json!({"schemas": [SEARCH_REQUEST]});
    s[key] = value;
    s
}

fn search_cases() -> Vec<Case> {
    vec![
        case(
            "filter a number",
            search_with("filter", json!(5)),
            "invalidFilter",
        ),
        case(
            "filter an object",
            search_with("filter", json!({})),
            "invalidValue",
        ),
        case(
            "filter incomplete",
            search_with("filter", json!("userName eq")),
            "invalidFilter",
        ),
        case(
            "filter with SQL outside quotes",
            search_with("filter", json!("userName eq '' OR 1=1 --")),
            "invalidFilter",
        ),
        case(
            "filter of 100k chars",
            search_with(
                "filter",
                json!(format!("userName eq \"{}\"", long(100_000))),
            ),
            "invalidFilter",
        ),
        case(
            "filter nested 1,000 deep",
            search_with(
                "filter",
                json!(format!(
                    "{}userName pr{}",
                    "(".repeat(1_000),
                    ")".repeat(1_000)
                )),
            ),
            "invalidFilter",
        ),
        case(
            "attributes a number",
            search_with("attributes", json!(5)),
            "invalidValue",
        ),
        case(
            "excludedAttributes of numbers",
            search_with("excludedAttributes", json!([5])),
            "invalidValue",
        ),
        case(
            "count an object",
            search_with("count", json!({})),
            "invalidValue",
        ),
        case(
            "count a word",
            search_with("count", json!("many")),
            "invalidValue",
        ),
        case(
            "startIndex a word",
            search_with("startIndex", json!("first")),
            "invalidValue",
        ),
        case(
            "sortOrder sideways",
            search_with("sortOrder", json!("sideways")),
            "invalidValue",
        ),
        case(
            "unknown schema",
            json!({"schemas": ["urn:example:Search"], "filter": "userName pr"}),
            "invalidValue",
        ),
    ]
}

fn cases_for(kind: Kind) -> Vec<Case> {
    let mut cases = framing_cases(kind);
    cases.extend(match kind {
        Kind::UserWrite => user_cases(),
        Kind::UserPatch => user_patch_cases(),
        Kind::GroupWrite => group_cases(),
        Kind::GroupPatch => group_patch_cases(),
        Kind::Bulk => bulk_cases(),
        Kind::Search => search_cases(),
    });
    cases
}

#[tokio::test]
async fn every_bad_input_to_every_write_endpoint_is_a_4xx_that_changes_nothing() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let mut tried = 0;
    let mut failures = vec![];
    for (method, path, kind) in write_endpoints(&dir) {
        for c in cases_for(kind) {
            let r = raw(
                method.clone(),
                &format!("{}{path}", dir.base),
                Some(&dir.token),
                c.content_type,
                Some(c.body),
            )
            .await;
            let name = format!("{method} {path} [{}]", c.name);
            if let Err(e) = check_scim_reply(&name, &r, c.status, c.scim_type) {
                failures.push(e);
            }
            tried += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(tried > 300, "{tried}");
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn bulk_operations_with_bad_data_fail_alone_and_change_nothing() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let u = format!("/Users/{}", dir.user_id);
    let g = format!("/Groups/{}", dir.group_id);
    let ops = vec![
        json!({"method": "POST", "path": "/Users", "bulkId": "a", "data": user_with("userName", json!(5))}),
        json!({"method": "POST", "path": "/Users", "bulkId": "b", "data": user_with("emails", json!("x"))}),
        json!({"method": "PUT", "path": u, "data": user_with("active", json!({}))}),
        json!({"method": "PATCH", "path": u, "data": replace("id", json!("x"))}),
        json!({"method": "PATCH", "path": u, "data": replace("meta.created", json!("x"))}),
        json!({"method": "POST", "path": "/Groups", "bulkId": "c", "data": group_with("displayName", json!(5))}),
        json!({"method": "PATCH", "path": g, "data": patch_body(json!([{"op": "add", "path": "members", "value": [{"value": "1' OR '1'='1"}]}]))}),
        json!({"method": "DELETE", "path": "/Users/../../etc/passwd"}),
        json!({"method": "DELETE", "path": "/Users/not-a-uuid"}),
        json!({"method": "DELETE", "path": "/Groups/%2e%2e%2f"}),
        json!({"method": "POST", "path": "/Users/.search", "bulkId": "d", "data": {}}),
    ];
    let n = ops.len();
    let r = dir
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"schemas": [BULK_REQUEST], "Operations": ops})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.body["Operations"].as_array().unwrap();
    assert_eq!(results.len(), n, "{}", r.body);
    for res in results {
        let status: u16 = res["status"].as_str().unwrap().parse().unwrap();
        assert!((400..500).contains(&status), "{res}");
        assert_eq!(res["response"]["schemas"], json!([ERROR_SCHEMA]), "{res}");
        assert!(
            res["response"]["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{res}"
        );
    }
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_on_every_write_endpoint() {
    let app = spawn_app_with(|s| {
        s.max_body_bytes = 4096;
        s.bulk_max_payload_bytes = 8192;
        s.bulk_max_operations = 2;
    })
    .await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    for (method, path, kind) in write_endpoints(&dir) {
        let limit = if kind == Kind::Bulk { 8192 } else { 4096 };
        let mut body = valid_body(kind);
        body["padding"] = json!(long(limit));
        let r = raw(
            method.clone(),
            &format!("{}{path}", dir.base),
            Some(&dir.token),
            Some("application/scim+json"),
            Some(body.to_string().into_bytes()),
        )
        .await;
        assert_scim_reply(&format!("{method} {path}"), &r, 413, Some("tooLarge"));
    }
    let three = json!({"schemas": [BULK_REQUEST], "Operations": [
        {"method": "DELETE", "path": format!("/Users/{}", dir.user_id)},
        {"method": "DELETE", "path": format!("/Groups/{}", dir.group_id)},
        {"method": "DELETE", "path": format!("/Users/{}", dir.user_id)},
    ]});
    let r = dir.send(Method::POST, "/Bulk", Some(three)).await;
    assert_scim_reply("3 bulk operations", &r, 413, Some("tooLarge"));
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

/// Sends `body` in 512-byte chunks with `Transfer-Encoding: chunked` and no
/// Content-Length, so only the limit on the streamed body can stop it.
fn send_chunked(address: &str, path: &str, token: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(512) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(&req);
    let mut out = vec![];
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_get_413_without_a_content_length() {
    let app = spawn_app_with(|s| s.max_body_bytes = 4096).await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let mut body = user("chunked@acme.example");
    body["title"] = json!(long(6_000));
    let body = body.to_string().into_bytes();
    let path = format!("/scim/v2/directories/{}/Users", dir.id);
    let (address, token) = (app.address.clone(), dir.token.clone());
    let res = tokio::task::spawn_blocking(move || send_chunked(&address, &path, &token, &body))
        .await
        .unwrap();
    assert!(res.starts_with("HTTP/1.1 413"), "{res}");
    assert!(res.contains("\"scimType\":\"tooLarge\""), "{res}");
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn invalid_utf8_in_query_strings_and_ids_is_never_a_5xx() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    for path in [
        "/Users?filter=userName%20eq%20%22%FF%FE%22",
        "/Users?filter=%FF",
        "/Groups?filter=displayName%20co%20%22%C3%28%22",
        "/Users?attributes=%FF",
        "/Users?sortBy=%FF",
        "/Users?count=%FF",
        "/Users?cursor=%FF",
    ] {
        let r = dir.send(Method::GET, path, None).await;
        match r.status {
            200 => assert_eq!(r.body["totalResults"], 0, "{path}: {}", r.body),
            400 => assert!(
                r.body["scimType"].is_string() && r.body["detail"].is_string(),
                "{path}: {}",
                r.body
            ),
            other => panic!("{path}: {other} {}", r.body),
        }
    }
    for path in ["/Users/%FF%FE", "/Groups/%C3%28", "/Users/%ED%A0%80"] {
        for method in [Method::GET, Method::PATCH, Method::DELETE] {
            let body = (method == Method::PATCH).then(|| replace("externalId", json!("x")));
            let r = dir.send(method.clone(), path, body).await;
            assert_scim_reply(&format!("{method} {path}"), &r, 404, None);
        }
    }
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn filters_with_sql_metacharacters_match_literally_and_leave_data_intact() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    for name in ["pct%sign", "under_score", "back\\slash", "quote'o"] {
        let r = dir
            .send(
                Method::POST,
                "/Users",
                Some(json!({"schemas": [USER_SCHEMA], "userName": name,
                    "emails": [{"value": format!("{}@acme.example", name.len())}]})),
            )
            .await;
        assert_eq!(r.status, 201, "{name}: {}", r.body);
    }
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let total = before["users"]["totalResults"].as_u64().unwrap();
    assert_eq!(total, 5);

    // (filter, userNames it must match exactly)
    let table: Vec<(&str, Vec<&str>)> = vec![
        (r#"userName eq "' OR 1=1 --""#, vec![]),
        (r#"userName eq "' OR '1'='1""#, vec![]),
        (r#"userName eq "\"; DROP TABLE users; --""#, vec![]),
        (r#"userName eq "\"; DROP TABLE scim_users; --""#, vec![]),
        (r#"userName co "'; DELETE FROM accounts; --""#, vec![]),
        (r#"displayName eq "x' OR 'x'='x""#, vec![]),
        (r#"emails.value co "%""#, vec![]),
        (r#"userName co "%""#, vec!["pct%sign"]),
        (r#"userName co "_""#, vec!["under_score"]),
        (r#"userName sw "%""#, vec![]),
        (r#"userName ew "%""#, vec![]),
        (r#"userName co "\\""#, vec!["back\\slash"]),
        (r#"userName eq "back\\slash""#, vec!["back\\slash"]),
        (r#"userName co "'""#, vec!["quote'o"]),
        (r#"userName eq "quote'o""#, vec!["quote'o"]),
        (r#"userName co "\\%""#, vec![]),
        (r#"userName co "%_""#, vec![]),
        (r#"userName sw "_""#, vec![]),
        (r#"userName co "*""#, vec![]),
    ];
    for (filter, want) in &table {
        let want: BTreeSet<&str> = want.iter().copied().collect();
        let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let get = dir
            .send(Method::GET, &format!("/Users?filter={q}"), None)
            .await;
        let post = dir
            .send(
                Method::POST,
                "/Users/.search",
                Some(json!({"schemas": [SEARCH_REQUEST], "filter": filter})),
            )
            .await;
        let root = dir
            .send(
                Method::POST,
                "/.search",
                Some(json!({"schemas": [SEARCH_REQUEST], "filter": filter})),
            )
            .await;
        for (how, r) in [
            ("GET", get),
            ("POST /Users/.search", post),
            ("POST /.search", root),
        ] {
            assert_eq!(r.status, 200, "{how} {filter}: {}", r.body);
            let got: BTreeSet<&str> = r.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|u| u["userName"].as_str())
                .collect();
            assert_eq!(got, want, "{how} {filter}");
        }
    }
    // Group filters go through the same lowering.
    for filter in [
        r#"displayName eq "' OR 1=1 --""#,
        r#"displayName co "%""#,
        r#"displayName co "_""#,
        r#"displayName co "\\""#,
    ] {
        let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let r = dir
            .send(Method::GET, &format!("/Groups?filter={q}"), None)
            .await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(r.body["totalResults"], 0, "{filter}: {}", r.body);
    }
    // Not filters at all: 400, never a 5xx.
    for filter in [
        "' OR 1=1 --",
        "\"; DROP TABLE users; --",
        "userName eq \"x\"; DROP TABLE users; --",
        "userName eq \"unterminated",
        "userName eq \\",
        "1=1",
    ] {
        let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        for path in [format!("/Users?filter={q}"), format!("/Groups?filter={q}")] {
            let r = dir.send(Method::GET, &path, None).await;
            assert_scim_reply(&format!("GET {path}"), &r, 400, Some("invalidFilter"));
        }
    }
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn hostile_and_malformed_ids_in_paths_are_404_and_change_nothing() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let ids = [
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%2e%2e",
        "..",
        "not-a-uuid",
        "123",
        "%00",
        "%27%20OR%201%3D1%20--",
        &format!("{}x", dir.user_id),
        &dir.user_id.to_uppercase().replace('-', "_"),
        &"a".repeat(2_000),
        &Uuid::new_v4().to_string(),
    ];
    for id in ids {
        for resource in ["Users", "Groups"] {
            for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
                let body = match (resource, &method) {
                    (_, &Method::PATCH) => Some(replace("externalId", json!("x"))),
                    ("Users", &Method::PUT) => Some(user("put.by.id@acme.example")),
                    ("Groups", &Method::PUT) => {
                        Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "By id"}))
                    }
                    _ => None,
                };
                let path = format!("/{resource}/{id}");
                let r = dir.send(method.clone(), &path, body).await;
                let name = format!("{method} {path}");
                assert!(
                    r.status == 404 || r.status == 405,
                    "{name}: {} {}",
                    r.status,
                    r.body
                );
                assert_scim_reply(&name, &r, r.status, None);
            }
        }
    }
    // `../../etc/passwd` as such: the client resolves the dot segments,
    // whatever lands on the server must be a SCIM 404.
    for path in ["/Users/../../etc/passwd", "/Groups/../../../../etc/passwd"] {
        let r = dir.send(Method::GET, path, None).await;
        assert_scim_reply(path, &r, 404, None);
    }
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

// ---------------------------------------------------------------------------
// Admin API bad input
// ---------------------------------------------------------------------------

/// (case, content type, body, status, code).
type AdminCase = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

#[tokio::test]
async fn bad_input_to_the_admin_write_endpoints_is_a_4xx_that_changes_nothing() {
    let app = spawn_app_with(|s| s.max_body_bytes = 64 * 1024).await;
    let a = admin(&app, "acme").await;
    let (status, body) = a.post("/domains", json!({"name": "acme.example"})).await;
    assert_eq!(status, 201, "{body}");
    let snapshot = || async {
        let (status, body) = a.get("/domains").await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let before = snapshot().await;
    let rows_before = db_rows(&app).await;
    let json_ct = Some("application/json");
    let mut invalid_utf8 = br#"{"name": ""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#""}"#);
    let cases: Vec<AdminCase> = vec![
        (
            "malformed JSON",
            json_ct,
            b"{\"name\": ".to_vec(),
            400,
            "invalid_request",
        ),
        ("empty body", json_ct, vec![], 400, "invalid_request"),
        (
            "invalid UTF-8",
            json_ct,
            invalid_utf8,
            400,
            "invalid_request",
        ),
        (
            "10,000 nested arrays",
            json_ct,
            nested(10_000),
            400,
            "invalid_request",
        ),
        (
            "a JSON array",
            json_ct,
            b"[]".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "name a number",
            json_ct,
            br#"{"name": 5}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "name an object",
            json_ct,
            br#"{"name": {}}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "missing name",
            json_ct,
            br#"{}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "name of 100k chars",
            json_ct,
            json!({"name": long(100_000)}).to_string().into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "name of 3k chars",
            json_ct,
            json!({"name": format!("{}.example", long(3_000))})
                .to_string()
                .into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "name a path",
            json_ct,
            br#"{"name": "../../etc/passwd"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "name with SQL",
            json_ct,
            br#"{"name": "x' OR 1=1 --"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "text/plain",
            Some("text/plain"),
            br#"{"name": "plain.example"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            None,
            br#"{"name": "none.example"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
    ];
    for path in ["/domains", "/domains/acme.example/verify"] {
        for (name, ct, body, status, code) in &cases {
            // The verify body carries `verification_token`, not `name`.
            let body = if path.ends_with("/verify") {
                String::from_utf8_lossy(body)
                    .replace("\"name\"", "\"verification_token\"")
                    .into_bytes()
            } else {
                body.clone()
            };
            let body = if *name == "invalid UTF-8" && path.ends_with("/verify") {
                let mut b = br#"{"verification_token": ""#.to_vec();
                b.extend_from_slice(&[0xff, 0xfe]);
                b.extend_from_slice(br#""}"#);
                b
            } else {
                body
            };
            // The verify body is optional and its token ignored (the proof
            // is in DNS): any well-formed body fails on the missing record.
            let (status, code) = match (path.ends_with("/verify"), *name) {
                (true, "name a path" | "name with SQL" | "name of 3k chars" | "missing name") => {
                    (400, "verification_failed")
                }
                _ => (*status, *code),
            };
            let r = raw(
                Method::POST,
                &format!("{}{path}", a.base),
                Some(&a.key),
                *ct,
                Some(body),
            )
            .await;
            assert_admin_error(r.status, &r.body, status, code);
            assert!(
                r.content_type.starts_with("application/json"),
                "{path} {name}: {}",
                r.content_type
            );
        }
    }
    for path in [
        "/domains/..%2f..%2fetc%2fpasswd",
        "/domains/%2e%2e%2f",
        "/domains/x'%20OR%201=1%20--",
        "/domains/unknown.example",
        "/domains/unknown.example/verify",
    ] {
        let method = if path.ends_with("/verify") {
            Method::POST
        } else {
            Method::DELETE
        };
        let body = json!({"verification_token": "x"}).to_string().into_bytes();
        let r = raw(
            method,
            &format!("{}{path}", a.base),
            Some(&a.key),
            json_ct,
            Some(body),
        )
        .await;
        assert!(r.status == 400 || r.status == 404, "{path}: {}", r.body);
        let code = if r.status == 404 {
            "not_found"
        } else {
            "invalid_request"
        };
        assert_admin_error(r.status, &r.body, r.status, code);
    }
    assert_eq!(snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

// ---------------------------------------------------------------------------
// Tenant isolation
// ---------------------------------------------------------------------------

/// Every route under `/scim/v2/directories/{directory_id}` with its
/// methods (`*`: any method). `routes_of_src_http_are_all_in_the_matrix`
/// keeps it in step with `src/http/mod.rs`.
const SCIM_ROUTES: &[(&str, &[&str])] = &[
    ("/ServiceProviderConfig", &["GET"]),
    ("/ResourceTypes", &["GET"]),
    ("/ResourceTypes/{id}", &["GET"]),
    ("/Schemas", &["GET"]),
    ("/Schemas/{id}", &["GET"]),
    ("/Users", &["GET", "POST"]),
    ("/Users/.search", &["POST"]),
    ("/Users/{id}", &["GET", "PUT", "PATCH", "DELETE"]),
    ("/Groups", &["GET", "POST"]),
    ("/Groups/.search", &["POST"]),
    ("/Groups/{id}", &["GET", "PUT", "PATCH", "DELETE"]),
    ("/Me", &["*"]),
    ("/Me/{rest:.*}", &["*"]),
    ("/Bulk", &["POST"]),
    ("/.search", &["POST"]),
];

/// Routes outside any directory or organization: they hold no tenant's data.
const UNSCOPED_ROUTES: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/oauth/token",
    "/openapi.json",
];

fn methods_of(route: &[&str]) -> Vec<Method> {
    if route == ["*"] {
        vec![
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ]
    } else {
        route
            .iter()
            .map(|m| Method::from_bytes(m.as_bytes()).unwrap())
            .collect()
    }
}

/// A request to `route` of `target` that would succeed with its own token.
fn request_for(target: &Dir, route: &str, method: &Method) -> (String, Option<Value>) {
    let path = match route {
        "/Users/{id}" => format!("/Users/{}", target.user_id),
        "/Groups/{id}" => format!("/Groups/{}", target.group_id),
        "/ResourceTypes/{id}" => "/ResourceTypes/User".into(),
        "/Schemas/{id}" => format!("/Schemas/{USER_SCHEMA}"),
        "/Me/{rest:.*}" => "/Me/anything".into(),
        other => {
            assert!(!other.contains('{'), "no request for {other}: add one");
            other.to_owned()
        }
    };
    let body = match (route, method.as_str()) {
        (_, "GET" | "DELETE") => None,
        ("/Users", _) => Some(user(&format!("intruder.{}@evil.example", Uuid::new_v4()))),
        ("/Users/{id}", "PUT") => Some(user(&target.user_name)),
        ("/Groups", _) => Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Intruders"})),
        ("/Groups/{id}", "PUT") => Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Taken"})),
        (_, "PATCH") => Some(replace("externalId", json!("owned"))),
        ("/Bulk", _) => Some(json!({"schemas": [BULK_REQUEST], "Operations": [
            {"method": "DELETE", "path": format!("/Users/{}", target.user_id)}]})),
        (p, _) if p.ends_with(".search") => Some(json!({"schemas": [SEARCH_REQUEST]})),
        _ => Some(json!({})),
    };
    (path, body)
}

/// Two organizations with two directories each, plus `default`; each
/// with a static token and an OAuth access token.
async fn tenants(app: &TestApp) -> Vec<Dir> {
    let mut dirs = vec![
        default_directory(app).await,
        directory(app, "acme", "okta").await,
        directory(app, "acme", "entra").await,
        directory(app, "globex", "okta").await,
        directory(app, "globex", "entra").await,
    ];
    for d in &mut dirs {
        d.access_token = access_token(app, d.id).await;
        let r = raw(
            Method::GET,
            &format!("{}/Users", d.base),
            Some(&d.access_token),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    dirs
}

/// An OAuth client of `directory` and an access token it obtained.
async fn access_token(app: &TestApp, directory: Uuid) -> String {
    let client = app
        .cli_oauth(&[
            "oauth-client",
            "create",
            "--directory",
            &directory.to_string(),
        ])
        .await;
    let res = crate::helpers::http_client()
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn snapshots(dirs: &[Dir]) -> Vec<Value> {
    let mut out = vec![];
    for d in dirs {
        out.push(d.snapshot().await);
    }
    out
}

/// Nothing of `d` shows in `body`.
fn assert_no_data_of(d: &Dir, body: &Value, case: &str) {
    let text = body.to_string();
    for secret in [&d.user_id, &d.group_id] {
        assert!(!text.contains(secret.as_str()), "{case}: {text}");
    }
    assert_no_names_of(d, body, case);
}

/// Nothing `d` stores shows in `body` (its ids may: the client sent them).
fn assert_no_names_of(d: &Dir, body: &Value, case: &str) {
    let text = body.to_string();
    for secret in [&d.user_name, &format!("Engineering {}", d.name)] {
        assert!(!text.contains(secret.as_str()), "{case}: {text}");
    }
}

#[tokio::test]
async fn every_route_with_another_directorys_token_is_404_and_shows_nothing() {
    let app = spawn_app().await;
    let dirs = tenants(&app).await;
    let before = snapshots(&dirs).await;
    let rows_before = db_rows(&app).await;
    let mut tried = 0;
    for target in &dirs {
        for (route, methods) in SCIM_ROUTES {
            for method in methods_of(methods) {
                let (path, body) = request_for(target, route, &method);
                let url = format!("{}{path}", target.base);
                let body = body.map(|b| b.to_string().into_bytes());
                for other in dirs.iter().filter(|d| d.id != target.id) {
                    for (token, kind) in [
                        (&other.token, "token"),
                        (&other.access_token, "OAuth token"),
                    ] {
                        let r = raw(
                            method.clone(),
                            &url,
                            Some(token),
                            Some("application/scim+json"),
                            body.clone(),
                        )
                        .await;
                        let case = format!(
                            "{method} {} {path} with {}'s {kind}",
                            target.name, other.name
                        );
                        assert_scim_reply(&case, &r, 404, None);
                        assert_no_data_of(target, &r.body, &case);
                        tried += 1;
                    }
                }
                for (token, why) in [
                    (Some("scim_not-a-token"), "an unknown token"),
                    (
                        Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
                        "an unsigned JWT",
                    ),
                    (None, "no token"),
                ] {
                    let r = raw(
                        method.clone(),
                        &url,
                        token,
                        Some("application/scim+json"),
                        body.clone(),
                    )
                    .await;
                    let case = format!("{method} {} {path} with {why}", target.name);
                    assert_scim_reply(&case, &r, 401, None);
                    assert_no_data_of(target, &r.body, &case);
                }
            }
        }
    }
    let requests: usize = SCIM_ROUTES.iter().map(|(_, m)| methods_of(m).len()).sum();
    assert_eq!(tried, 5 * 4 * 2 * requests);
    assert_eq!(snapshots(&dirs).await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn foreign_ids_in_paths_filters_and_members_find_nothing() {
    let app = spawn_app().await;
    let dirs = tenants(&app).await;
    let before = snapshots(&dirs).await;
    let rows_before = db_rows(&app).await;
    for a in &dirs {
        for b in dirs.iter().filter(|d| d.id != a.id) {
            // B's ids under A's URL with A's token.
            for (path, kind) in [
                (format!("/Users/{}", b.user_id), "Users"),
                (format!("/Groups/{}", b.group_id), "Groups"),
                (format!("/Users/{}", b.group_id), "Users"),
                (format!("/Groups/{}", b.user_id), "Groups"),
            ] {
                for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
                    let route = format!("/{kind}/{{id}}");
                    let (_, body) = request_for(b, &route, &method);
                    let r = a.send(method.clone(), &path, body).await;
                    let case = format!("{method} {path} of {} in {}", b.name, a.name);
                    assert_scim_reply(&case, &r, 404, None);
                    assert_no_names_of(b, &r.body, &case);
                }
            }
            // B's ids and names in A's filters.
            let filters = [
                ("/Users", format!("id eq \"{}\"", b.user_id)),
                ("/Users", format!("userName eq \"{}\"", b.user_name)),
                ("/Users", format!("emails.value eq \"{}\"", b.user_name)),
                ("/Users", format!("groups.value eq \"{}\"", b.group_id)),
                ("/Groups", format!("id eq \"{}\"", b.group_id)),
                ("/Groups", format!("members.value eq \"{}\"", b.user_id)),
                (
                    "/Groups",
                    format!("displayName eq \"Engineering {}\"", b.name),
                ),
            ];
            for (resource, filter) in &filters {
                let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
                let body = json!({"schemas": [SEARCH_REQUEST], "filter": filter});
                for (method, path, body) in [
                    (Method::GET, format!("{resource}?filter={q}"), None),
                    (
                        Method::POST,
                        format!("{resource}/.search"),
                        Some(body.clone()),
                    ),
                    (Method::POST, "/.search".into(), Some(body)),
                ] {
                    let r = a.send(method.clone(), &path, body).await;
                    let case = format!("{method} {path} {filter} in {}", a.name);
                    assert_eq!(r.status, 200, "{case}: {}", r.body);
                    assert_eq!(r.body["totalResults"], 0, "{case}: {}", r.body);
                    assert_no_data_of(b, &r.body, &case);
                }
            }
            // B's user as a member of A's groups.
            let member = json!([{"value": b.user_id}]);
            let g = format!("/Groups/{}", a.group_id);
            let attempts = [
                (
                    Method::POST,
                    "/Groups".to_owned(),
                    json!({"schemas": [GROUP_SCHEMA], "displayName": "Mixed", "members": member}),
                ),
                (
                    Method::PUT,
                    g.clone(),
                    json!({"schemas": [GROUP_SCHEMA], "displayName": format!("Engineering {}", a.name),
                        "members": [{"value": a.user_id}, {"value": b.user_id}]}),
                ),
                (
                    Method::PATCH,
                    g.clone(),
                    patch_body(json!([{"op": "add", "path": "members", "value": member}])),
                ),
                (
                    Method::PATCH,
                    g.clone(),
                    patch_body(json!([{"op": "replace", "path": "members", "value": member}])),
                ),
                (
                    Method::PATCH,
                    g.clone(),
                    patch_body(json!([{"op": "add", "value": {"members": member}}])),
                ),
            ];
            for (method, path, body) in attempts {
                let r = a.send(method.clone(), &path, Some(body)).await;
                let case = format!("{method} {path} with {}'s user in {}", b.name, a.name);
                assert_scim_reply(&case, &r, 400, Some("invalidValue"));
            }
            let bulk = json!({"schemas": [BULK_REQUEST], "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "g",
                 "data": {"schemas": [GROUP_SCHEMA], "displayName": "Bulk mixed", "members": member}},
                {"method": "PATCH", "path": g,
                 "data": patch_body(json!([{"op": "add", "path": "members", "value": member}]))},
                {"method": "DELETE", "path": format!("/Users/{}", b.user_id)},
            ]});
            let r = a.send(Method::POST, "/Bulk", Some(bulk)).await;
            assert_eq!(r.status, 200, "{}", r.body);
            let statuses: Vec<&str> = r.body["Operations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["status"].as_str().unwrap())
                .collect();
            assert_eq!(statuses, ["400", "400", "404"], "{}", r.body);
        }
    }
    assert_eq!(snapshots(&dirs).await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn every_admin_route_with_another_organizations_key_is_404() {
    use scim_server::http::admin::ROUTES;
    let app = spawn_app().await;
    let orgs = [
        (admin(&app, "acme").await, "acme.example"),
        (admin(&app, "globex").await, "globex.example"),
    ];
    for (a, domain) in &orgs {
        let (status, body) = a.post("/domains", json!({"name": domain})).await;
        assert_eq!(status, 201, "{body}");
    }
    let listing = || async {
        let mut out = vec![];
        for (a, _) in &orgs {
            let (status, body) = a.get("/domains").await;
            assert_eq!(status, 200, "{body}");
            out.push(body);
        }
        out
    };
    let before = listing().await;
    assert!(!ROUTES.is_empty());
    for (target, domain) in &orgs {
        for (other, other_domain) in orgs.iter().filter(|(o, _)| o.org_id != target.org_id) {
            for (method, route) in ROUTES {
                let fill = |d: &str| {
                    route
                        .split('/')
                        .map(|seg| match seg {
                            "{domain}" => d.to_owned(),
                            s if s.starts_with('{') => Uuid::new_v4().to_string(),
                            s => s.to_owned(),
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                };
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let body = json!({"name": "intruder.example", "verification_token": "x"});
                // The other organization's key on this organization's URL.
                let path = fill(domain);
                let r = raw(
                    method.clone(),
                    &format!("{}{path}", target.base),
                    Some(&other.key),
                    Some("application/json"),
                    Some(body.to_string().into_bytes()),
                )
                .await;
                let (status, res) = (r.status, r.body);
                assert_admin_error(status, &res, 404, "not_found");
                assert!(!res.to_string().contains(domain), "{res}");
                // This organization's key naming the other's resources.
                if route.contains("{domain}") {
                    let path = fill(other_domain);
                    let (status, res) = target.send(method.clone(), &path, Some(body)).await;
                    assert_admin_error(status, &res, 404, "not_found");
                }
                let (status, res) = raw_admin(&target.base, method, &path, "scimadm_nope").await;
                assert_admin_error(status, &res, 401, "unauthorized");
            }
        }
    }
    assert_eq!(listing().await, before);
}

async fn raw_admin(base: &str, method: Method, path: &str, key: &str) -> (u16, Value) {
    let r = raw(
        method,
        &format!("{base}{path}"),
        Some(key),
        Some("application/json"),
        Some(b"{}".to_vec()),
    )
    .await;
    (r.status, r.body)
}

/// The `"..."` string literals that follow `marker` in `text`.
fn literals_after<'a>(text: &'a str, marker: &str) -> Vec<(usize, &'a str)> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let end = rest.find('"')?;
            Some((at, &rest[..end]))
        })
        .collect()
}

/// Methods a `resource(...)` registration chain names, up to the next
/// registration.
fn methods_in(chain: &str) -> BTreeSet<String> {
    if chain.contains(".to(") {
        return BTreeSet::from(["*".to_owned()]);
    }
    ["get", "post", "put", "patch", "delete", "head"]
        .iter()
        .filter(|m| chain.contains(&format!(".{m}(")))
        .map(|m| m.to_uppercase())
        .collect()
}

#[test]
fn routes_of_src_http_are_all_in_the_matrix() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/src/http/mod.rs")).unwrap();
    let scope_at = text
        .find("scope(\"/scim/v2/directories/{directory_id}\")")
        .expect("the directory scope");
    let mut starts: Vec<usize> = literals_after(&text, "resource(\"")
        .iter()
        .map(|(at, _)| *at)
        .collect();
    starts.push(text.len());
    let mut scoped = BTreeSet::new();
    let mut unscoped = BTreeSet::new();
    for (i, (at, path)) in literals_after(&text, "resource(\"").into_iter().enumerate() {
        let chain = &text[at..starts[i + 1]];
        if at > scope_at {
            for m in methods_in(chain) {
                scoped.insert((path.to_owned(), m));
            }
        } else {
            unscoped.insert(path.to_owned());
        }
    }
    for (_, path) in literals_after(&text, ".route(\"") {
        assert!(text.find(path).unwrap() < scope_at, "{path}");
        unscoped.insert(path.to_owned());
    }
    let matrix: BTreeSet<(String, String)> = SCIM_ROUTES
        .iter()
        .flat_map(|(p, ms)| ms.iter().map(|m| (p.to_string(), m.to_string())))
        .collect();
    assert_eq!(scoped, matrix, "src/http/mod.rs routes vs SCIM_ROUTES");

    // The admin API: every route goes through `admin_routes!`, whose
    // `ROUTES` table the admin isolation test walks; the only other
    // resources are unscoped.
    let admin_dir = format!("{root}/src/http/admin");
    let mut declared = BTreeSet::new();
    for entry in std::fs::read_dir(&admin_dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (_, p) in literals_after(&text, "resource(\"") {
            unscoped.insert(p.to_owned());
        }
        assert!(
            !text.contains(".route(\""),
            "{}: register admin routes in admin_routes!",
            path.display()
        );
        if let Some(at) = text.find("admin_routes! {") {
            let block = &text[at..];
            let block = &block[..block.find("\n}").unwrap()];
            // Entries may span lines: `"path" => { method: handler, ... },`.
            let mut rest = block;
            while let Some(arrow) = rest.find("=>") {
                let before = &rest[..arrow];
                let path = before
                    .trim_end()
                    .trim_end_matches('"')
                    .rsplit('"')
                    .next()
                    .unwrap_or_default();
                let after = &rest[arrow + 2..];
                let open = after.find('{').unwrap();
                let close = after.find('}').unwrap();
                for m in after[open + 1..close].split(',') {
                    if let Some((m, _)) = m.trim().split_once(':') {
                        declared.insert((m.trim().to_owned(), path.to_owned()));
                    }
                }
                rest = &after[close + 1..];
            }
        }
    }
    let table: BTreeSet<(String, String)> = scim_server::http::admin::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert!(!declared.is_empty());
    assert_eq!(declared, table, "admin_routes! vs admin::ROUTES");
    let known: BTreeSet<String> = UNSCOPED_ROUTES.iter().map(|s| s.to_string()).collect();
    assert_eq!(unscoped, known, "routes outside any tenant");
}

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_revoked_token_stops_working_on_the_next_request() {
    let app = spawn_app().await;
    let db = app.db().await;
    let (t1, first) = directories::create_token(&db, app.directory_id, None)
        .await
        .unwrap();
    let (_, second) = directories::create_token(&db, app.directory_id, None)
        .await
        .unwrap();
    let _ = db.close().await;
    let get = |token: String| {
        let url = format!("{}/Users", app.base);
        async move { raw(Method::GET, &url, Some(&token), None, None).await }
    };
    assert_eq!(get(first.clone()).await.status, 200);
    app.cli(&[
        "token",
        "revoke",
        "--directory",
        &app.directory_id.to_string(),
        "--id",
        &t1.id.to_string(),
    ])
    .await;
    let r = get(first.clone()).await;
    assert_scim_reply("revoked token", &r, 401, None);
    // Writes too, and the directory's other tokens keep working.
    let r = raw(
        Method::POST,
        &format!("{}/Users", app.base),
        Some(&first),
        Some("application/scim+json"),
        Some(user("after.revoke@acme.example").to_string().into_bytes()),
    )
    .await;
    assert_scim_reply("revoked token, write", &r, 401, None);
    assert_eq!(get(second).await.status, 200);
    assert_eq!(get(app.token.clone()).await.status, 200);
    let (_, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 0, "{list}");
}

#[tokio::test]
async fn tokens_and_admin_keys_are_stored_hashed() {
    let app = spawn_app().await;
    let acme = directory(&app, "acme", "okta").await;
    let a = admin(&app, "acme").await;
    let db = app.db().await;
    let tokens = entity::directory_token::Entity::find()
        .into_json()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 2);
    let keys = entity::admin_key::Entity::find()
        .into_json()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let _ = db.close().await;
    let stored = json!({"tokens": tokens, "keys": keys}).to_string();
    for secret in [&app.token, &acme.token, &a.key] {
        assert!(!stored.contains(secret.as_str()), "{secret} in {stored}");
        // Nor a long piece of it.
        let middle = &secret[secret.len() / 4..secret.len() * 3 / 4];
        assert!(!stored.contains(middle), "{middle} in {stored}");
    }
    for row in &tokens {
        let hash = row["token_hash"].as_str().unwrap();
        assert_eq!(hash.len(), 64, "{row}");
        assert!(hash.bytes().all(|c| c.is_ascii_hexdigit()), "{row}");
    }
}
