//! OAuth 2.0 client credentials, access tokens on the SCIM API, the rate
//! limit, database back-pressure and `/Me`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::signing_key;
use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

struct Client {
    id: String,
    secret: String,
}

async fn new_client(app: &TestApp, directory: Uuid) -> Client {
    let out = app
        .cli_oauth(&[
            "oauth-client",
            "create",
            "--directory",
            &directory.to_string(),
        ])
        .await;
    assert_eq!(out["directory_id"], directory.to_string());
    assert!(out["token_url"].as_str().unwrap().ends_with("/oauth/token"));
    Client {
        id: out["client_id"].as_str().unwrap().to_owned(),
        secret: out["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// A second directory (in another organization) and its static token.
async fn other_directory(app: &TestApp) -> (Uuid, String) {
    use scim_server::store::directories;
    let db = app.db().await;
    let org = directories::find_or_create_org(&db, "other").await.unwrap();
    let dir = directories::create_directory(&db, org.id, "entra")
        .await
        .unwrap();
    let (_, token) = directories::create_token(&db, dir.id, None).await.unwrap();
    (dir.id, token)
}

async fn request_token(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let res = req.send().await.unwrap();
    let headers = res.headers().clone();
    let (status, body) = read(res).await;
    (status, headers, body)
}

/// An access token for the client, by HTTP Basic.
async fn access_token(app: &TestApp, client: &Client) -> String {
    let (status, _, body) = request_token(
        app,
        &[("grant_type", "client_credentials")],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn get_users(app: &TestApp, base: &str, token: &str) -> reqwest::Response {
    app.client
        .get(format!("{base}/Users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn part(token: &str, i: usize) -> Value {
    let p = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A token with any header, signed HS256 with `secret` whatever the
/// header says (so an RS256 header over an HMAC: algorithm confusion).
fn sign(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret).unwrap(),
        Algorithm::HS256,
    )
    .unwrap();
    format!("{message}.{sig}")
}

/// The kid and secret of the newest key in use.
async fn current_key(app: &TestApp) -> (String, Vec<u8>) {
    let row = signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.is_null())
        .order_by_desc(signing_key::Column::CreatedAt)
        .order_by_desc(signing_key::Column::Kid)
        .one(&app.db().await)
        .await
        .unwrap()
        .expect("a signing key exists once a token was issued");
    (row.kid, hex::decode(row.secret).unwrap())
}

/// Asserts a 401 `invalid_token` whose detail contains `why`.
async fn assert_invalid_token(app: &TestApp, token: &str, why: &str) {
    let res = get_users(app, &app.base, token).await;
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let (status, body) = read(res).await;
    assert_eq!(status, 401, "{why}: {body}");
    assert!(
        body["detail"].as_str().unwrap().contains(why),
        "want {why:?}: {body}"
    );
    assert_scim_error(status, &body, 401, None);
    assert!(challenge.starts_with("Bearer"), "{why}: {challenge}");
    assert!(
        challenge.contains("error=\"invalid_token\""),
        "{why}: {challenge}"
    );
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

#[tokio::test]
async fn a_client_gets_a_jwt_with_http_basic_and_provisions_users_with_it() {
    let app = spawn_app().await;
    let client = new_client(&app, app.directory_id).await;
    let (status, headers, body) = request_token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let header = part(token, 0);
    assert_eq!(header["alg"], "HS256");
    assert!(header["kid"].as_str().is_some_and(|k| !k.is_empty()));
    let claims = part(token, 1);
    assert_eq!(claims["iss"], "scim-server");
    assert_eq!(claims["aud"], app.directory_id.to_string());
    assert_eq!(claims["sub"], client.id);
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    assert!(iat.abs_diff(now()) < 60);

    let created = app
        .client
        .post(format!("{}/Users", app.base))
        .bearer_auth(token)
        .header("Content-Type", "application/scim+json")
        .body(user("jwt.user@example.com").to_string())
        .send()
        .await
        .unwrap();
    let (status, created) = read(created).await;
    assert_eq!(status, 201, "{created}");
    let (status, list) = read(get_users(&app, &app.base, token).await).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["totalResults"], 1);
    assert_eq!(list["Resources"][0]["id"], created["id"]);
    // The static token keeps working next to OAuth.
    let (status, _) = app.get("/Users").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_client_gets_a_jwt_with_form_fields_and_the_configured_lifetime_and_issuer() {
    let app = spawn_app_with(|s| {
        s.oauth_token_ttl_secs = 600;
        s.oauth_issuer = Some("https://scim.example.com".into());
    })
    .await;
    let client = new_client(&app, app.directory_id).await;
    let (status, _, body) = request_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", &client.secret),
            ("scope", "scim"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 600);
    let token = body["access_token"].as_str().unwrap();
    let claims = part(token, 1);
    assert_eq!(claims["iss"], "https://scim.example.com");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        600
    );
    assert_eq!(get_users(&app, &app.base, token).await.status(), 200);
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749() {
    let app = spawn_app().await;
    let client = new_client(&app, app.directory_id).await;
    let grant = [("grant_type", "client_credentials")];

    let (status, headers, body) =
        request_token(&app, &grant, Some((&client.id, "wrong-secret"))).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(headers["cache-control"], "no-store");

    let (status, _, body) = request_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "scimc_nope"),
            ("client_secret", &client.secret),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let (status, _, body) = request_token(&app, &grant, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let (status, _, body) = request_token(
        &app,
        &[("grant_type", "password"), ("username", "x")],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let (status, _, body) = request_token(&app, &[], Some((&client.id, &client.secret))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // Two authentication methods at once.
    let (status, _, body) = request_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_secret", &client.secret),
        ],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // A repeated parameter.
    let (status, _, body) = request_token(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("grant_type", "client_credentials"),
        ],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // JSON instead of a form.
    let res = app
        .client
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(&client.id, Some(&client.secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert!(body["error_description"].as_str().is_some());

    let res = app
        .client
        .get(format!("{}/oauth/token", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
}

#[tokio::test]
async fn a_jwt_of_another_directory_gets_404_and_works_on_its_own() {
    let app = spawn_app().await;
    let (other, _) = other_directory(&app).await;
    let client = new_client(&app, other).await;
    let token = access_token(&app, &client).await;
    let (status, body) = read(get_users(&app, &app.base, &token).await).await;
    assert_scim_error(status, &body, 404, None);
    let other_base = format!("{}/scim/v2/directories/{other}", app.address);
    assert_eq!(get_users(&app, &other_base, &token).await.status(), 200);
}

#[tokio::test]
async fn bad_access_tokens_get_401_invalid_token() {
    let app = spawn_app().await;
    let client = new_client(&app, app.directory_id).await;
    let good = access_token(&app, &client).await;
    assert_eq!(get_users(&app, &app.base, &good).await.status(), 200);
    let (kid, secret) = current_key(&app).await;
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let claims = part(&good, 1);
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    // The helpers sign like the server does: this one is accepted.
    assert_eq!(
        get_users(&app, &app.base, &sign(&header, &claims, &secret))
            .await
            .status(),
        200
    );

    let expired = with("exp", json!(now() - 3600));
    assert_invalid_token(&app, &sign(&header, &expired, &secret), "has expired").await;

    let aud = with("aud", json!(Uuid::now_v7().to_string()));
    assert_invalid_token(&app, &sign(&header, &aud, &secret), "audience").await;

    // The audience names another real directory, but the client is not its.
    let (other, _) = other_directory(&app).await;
    let aud = with("aud", json!(other.to_string()));
    let other_base = format!("{}/scim/v2/directories/{other}", app.address);
    let res = get_users(&app, &other_base, &sign(&header, &aud, &secret)).await;
    assert_eq!(res.status(), 401, "audience not the client's directory");

    let iss = with("iss", json!("https://evil.example"));
    assert_invalid_token(
        &app,
        &sign(&header, &iss, &secret),
        "not issued by this server",
    )
    .await;

    let mut no_sub = claims.clone();
    no_sub.as_object_mut().unwrap().remove("sub");
    assert_invalid_token(&app, &sign(&header, &no_sub, &secret), "required claim").await;

    let mut no_exp = claims.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_invalid_token(&app, &sign(&header, &no_exp, &secret), "required claim").await;

    let unknown_kid = json!({"alg": "HS256", "typ": "JWT", "kid": "nope"});
    assert_invalid_token(
        &app,
        &sign(&unknown_kid, &claims, &secret),
        "unknown or retired",
    )
    .await;

    let no_kid = json!({"alg": "HS256", "typ": "JWT"});
    assert_invalid_token(
        &app,
        &sign(&no_kid, &claims, &secret),
        "names no signing key",
    )
    .await;

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": kid})),
        b64(&claims)
    );
    assert_invalid_token(&app, &none, "algorithm").await;

    let rs256 = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    assert_invalid_token(&app, &sign(&rs256, &claims, &secret), "algorithm").await;

    let hs512 = json!({"alg": "HS512", "typ": "JWT", "kid": kid});
    let message = format!("{}.{}", b64(&hs512), b64(&claims));
    let sig = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(&secret).unwrap(),
        Algorithm::HS512,
    )
    .unwrap();
    assert_invalid_token(&app, &format!("{message}.{sig}"), "algorithm").await;

    let forged = sign(&header, &claims, b"not the server's secret, 32 bytes!");
    assert_invalid_token(&app, &forged, "signature").await;

    // Another payload under the good signature.
    let parts: Vec<&str> = good.split('.').collect();
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with("exp", json!(now() + 86_400))),
        parts[2]
    );
    assert_invalid_token(&app, &swapped, "signature").await;
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[5] = if sig[5] == 'A' { 'B' } else { 'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        sig.into_iter().collect::<String>()
    );
    assert_invalid_token(&app, &tampered, "signature").await;

    assert_invalid_token(&app, "a.b.c", "malformed").await;
    assert_invalid_token(&app, "scim_0000", "not valid").await;

    // A revoked client's tokens stop working at once.
    app.cli_oauth(&[
        "oauth-client",
        "revoke",
        "--directory",
        &app.directory_id.to_string(),
        "--client-id",
        &client.id,
    ])
    .await;
    assert_invalid_token(&app, &good, "revoked").await;
    let (status, _, body) = request_token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_until_the_key_is_retired() {
    let app = spawn_app().await;
    let client = new_client(&app, app.directory_id).await;
    let first = access_token(&app, &client).await;
    let first_kid = part(&first, 0)["kid"].as_str().unwrap().to_owned();
    // Issuing again uses the same key: it is made once, on first need.
    let again = access_token(&app, &client).await;
    assert_eq!(part(&again, 0)["kid"], first_kid.as_str());

    let rotated = app.cli_oauth(&["signing-key", "rotate"]).await;
    let second_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(second_kid, first_kid);
    let second = access_token(&app, &client).await;
    assert_eq!(part(&second, 0)["kid"], second_kid.as_str());
    assert_eq!(get_users(&app, &app.base, &first).await.status(), 200);
    assert_eq!(get_users(&app, &app.base, &second).await.status(), 200);

    let listed = app.cli_oauth(&["signing-key", "list"]).await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["kid"], second_kid.as_str());
    assert_eq!(listed[0]["current"], true);
    assert!(listed.iter().all(|k| k.get("secret").is_none()));

    app.cli_oauth(&["signing-key", "retire", "--kid", &first_kid])
        .await;
    assert_invalid_token(&app, &first, "unknown or retired").await;
    assert_eq!(get_users(&app, &app.base, &second).await.status(), 200);

    // Retiring the current key too: the next token gets a fresh key.
    app.cli_oauth(&["signing-key", "retire", "--kid", &second_kid])
        .await;
    assert_invalid_token(&app, &second, "unknown or retired").await;
    let third = access_token(&app, &client).await;
    let third_kid = part(&third, 0)["kid"].as_str().unwrap().to_owned();
    assert!(third_kid != first_kid && third_kid != second_kid);
    assert_eq!(get_users(&app, &app.base, &third).await.status(), 200);
}

#[tokio::test]
async fn rotating_a_client_secret_invalidates_the_old_secret_and_its_tokens() {
    let app = spawn_app().await;
    let client = new_client(&app, app.directory_id).await;
    let old_token = access_token(&app, &client).await;
    let out = app
        .cli_oauth(&[
            "oauth-client",
            "rotate",
            "--directory",
            &app.directory_id.to_string(),
            "--client-id",
            &client.id,
        ])
        .await;
    assert_eq!(out["client_id"], client.id.as_str());
    let new_secret = out["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, client.secret);

    let (status, _, body) = request_token(
        &app,
        &[("grant_type", "client_credentials")],
        Some((&client.id, &client.secret)),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_invalid_token(&app, &old_token, "secret was rotated").await;

    let rotated = Client {
        id: client.id.clone(),
        secret: new_secret,
    };
    let new_token = access_token(&app, &rotated).await;
    assert_eq!(get_users(&app, &app.base, &new_token).await.status(), 200);

    // Secrets are stored hashed, never in clear.
    let listed = app
        .cli_oauth(&[
            "oauth-client",
            "list",
            "--directory",
            &app.directory_id.to_string(),
        ])
        .await;
    assert_eq!(listed[0]["client_id"], client.id.as_str());
    assert!(!listed.to_string().contains(&rotated.secret));
    let row = entity::oauth_client::Entity::find()
        .filter(entity::oauth_client::Column::ClientId.eq(client.id.as_str()))
        .one(&app.db().await)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(row.secret_hash, rotated.secret);
    assert!(!row.secret_hash.contains(&rotated.secret));
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_per_directory() {
    let app = spawn_app_with(|s| {
        s.rate_limit_per_sec = 0.2;
        s.rate_limit_burst = Some(2);
    })
    .await;
    for _ in 0..2 {
        let (status, body) = app.get("/Users").await;
        assert_eq!(status, 200, "{body}");
    }
    let res = app.scim(Method::GET, "/Users").send().await.unwrap();
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    assert_eq!(res.headers()["content-type"], "application/scim+json");
    let (status, body) = read(res).await;
    assert_scim_error(status, &body, 429, None);

    // Another directory has its own budget.
    let (other, token) = other_directory(&app).await;
    let other_base = format!("{}/scim/v2/directories/{other}", app.address);
    assert_eq!(get_users(&app, &other_base, &token).await.status(), 200);
}

#[tokio::test]
async fn a_locked_database_answers_503_with_retry_after() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, TransactionTrait};
    let app = spawn_app_with(|s| s.db_busy_timeout_ms = 200).await;
    let db = app.db().await;
    let tx = db.begin().await.unwrap();
    // Another connection holds the write lock (SQLite) or an exclusive
    // lock on the accounts table (PostgreSQL) until it rolls back.
    let lock = match db.get_database_backend() {
        DatabaseBackend::Postgres => "LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE",
        _ => "UPDATE organizations SET name = name",
    };
    tx.execute_unprepared(lock).await.unwrap();

    let res = app
        .scim(Method::POST, "/Users")
        .body(user("locked@example.com").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "1");
    let (status, body) = read(res).await;
    assert_scim_error(status, &body, 503, None);

    tx.rollback().await.unwrap();
    let (status, body) = app.post("/Users", user("locked@example.com")).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn me_is_not_implemented() {
    let app = spawn_app().await;
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ] {
        let (status, body) = app.send(method.clone(), "/Me", None).await;
        assert_scim_error(status, &body, 501, None);
    }
    let (status, body) = app.get("/Me/anything").await;
    assert_scim_error(status, &body, 501, None);
    let res = app
        .client
        .get(format!("{}/Me", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn service_provider_config_advertises_oauth_client_credentials() {
    let app = spawn_app().await;
    let (status, body) = app.get("/ServiceProviderConfig").await;
    assert_eq!(status, 200);
    let schemes = body["authenticationSchemes"].as_array().unwrap();
    let types: Vec<&str> = schemes.iter().filter_map(|s| s["type"].as_str()).collect();
    assert_eq!(types, ["oauthbearertoken", "oauth2"]);
    assert_eq!(
        schemes[1]["specUri"],
        "https://www.rfc-editor.org/info/rfc6749"
    );
}

/// Before: an access token cost four statements (a static-token lookup
/// that misses, its signing key, its client, the client's directory). Now
/// three: the client is read joined with its directory. Still read on every
/// request, so a revoked client's tokens stop at once (tests above).
#[tokio::test]
async fn an_access_token_is_checked_in_three_statements() {
    let app = spawn_app_with(|s| s.purge_interval_secs = 0).await;
    let client = new_client(&app, app.directory_id).await;
    let token = access_token(&app, &client).await;
    let id = app.create_user(user("jwt.cost@example.com")).await;
    let (status, body, n) =
        crate::statements::cost_with(&app, &format!("/Users/{id}"), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(
        n, 4,
        "a static-token lookup, the signing key, the client with its directory, the user"
    );
}
