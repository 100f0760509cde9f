//! No tenant can starve the others: what one directory sends (passwords to
//! hash, …) does not hold what another directory needs (the write lock, a
//! pooled connection) for long.

use std::time::{Duration, Instant};

use crate::helpers::*;
use serde_json::{Value, json};

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// A directory of a new organization and its bearer token.
pub async fn other_directory(app: &TestApp, org: &str) -> (String, String) {
    use scim_server::store::directories;
    let db = app.db().await;
    let o = directories::find_or_create_org(&db, org).await.unwrap();
    let d = directories::create_directory(&db, o.id, "idp")
        .await
        .unwrap();
    let (_, token) = directories::create_token(&db, d.id, None).await.unwrap();
    let _ = db.close().await;
    (
        format!("{}/scim/v2/directories/{}", app.address, d.id),
        token,
    )
}

async fn bulk(app: &TestApp, ops: Vec<Value>) -> (u16, Value) {
    app.post(
        "/Bulk",
        json!({"schemas": [BULK_REQUEST], "Operations": ops}),
    )
    .await
}

/// `n` managed users (their org owns their passwords), created in one
/// `/Bulk`; their ids.
async fn managed_users(app: &TestApp, prefix: &str, n: usize) -> Vec<String> {
    let ops = (0..n)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"),
                   "data": user(&format!("{prefix}{i}@acme.example"))})
        })
        .collect();
    let (status, body) = bulk(app, ops).await;
    assert_eq!(status, 200, "{body}");
    body["Operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "201", "{r}");
            r["location"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn verifies(hash: &str, password: &str) -> bool {
    use argon2::{Argon2, PasswordHash, PasswordVerifier};
    let parsed = PasswordHash::new(hash).unwrap();
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

async fn password_hash(app: &TestApp, email: &str) -> String {
    account_of(app, email)
        .await
        .password_hash
        .expect("a password is stored")
}

/// Before: a PATCH that set a password was hashed inside the write
/// transaction, so a `/Bulk` of them held SQLite's write lock (or, on
/// PostgreSQL, a pooled connection) for the sum of its argon2 hashes and
/// another directory's POST answered 503 after the lock wait. Now every
/// password is hashed before the transaction opens.
// Multi-threaded: when it fails, the server's open transactions still
// finish while the test's schema is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_of_password_patches_does_not_starve_another_directorys_post() {
    const PER_BULK: usize = 50;
    let app = spawn_app_with(|s| {
        s.db_busy_timeout_ms = 1000;
        s.db_max_connections = 2;
    })
    .await;
    app.verify_domain("acme.example").await;
    let ids = managed_users(&app, "pw", 2 * PER_BULK).await;
    let (other_base, other_token) = other_directory(&app, "other-org").await;

    // Two /Bulk requests, each setting PER_BULK passwords through PATCH
    // (both forms: a `password` path and a path-less value).
    let bulks: Vec<_> = ids
        .chunks(PER_BULK)
        .enumerate()
        .map(|(b, chunk)| {
            let ops: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let op = if i % 2 == 0 {
                        json!({"op": "replace", "path": "password", "value": format!("pw-{b}-{i}")})
                    } else {
                        json!({"op": "replace", "value": {"password": format!("pw-{b}-{i}")}})
                    };
                    json!({"method": "PATCH", "path": format!("/Users/{id}"),
                           "data": {"schemas": [PATCH_OP], "Operations": [op]}})
                })
                .collect();
            let client = app.client.clone();
            let url = format!("{}/Bulk", app.base);
            let token = app.token.clone();
            let body = json!({"schemas": [BULK_REQUEST], "Operations": ops}).to_string();
            tokio::spawn(async move {
                // The two bulks queue on the write lock behind each other;
                // on a loaded machine the second may get 503 and, as an
                // IdP does, retries after Retry-After.
                for _ in 0..3 {
                    let res = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("Content-Type", "application/scim+json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    let retry = res.status() == 503 && res.headers().contains_key("retry-after");
                    let reply = read(res).await;
                    if !retry {
                        return reply;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                panic!("the bulk kept answering 503");
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let res = app
        .client
        .post(format!("{other_base}/Users"))
        .bearer_auth(&other_token)
        .header("Content-Type", "application/scim+json")
        .body(user("bystander@other.example").to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(
        status,
        201,
        "another directory's POST after {:?}: {body}",
        started.elapsed()
    );

    for (b, handle) in bulks.into_iter().enumerate() {
        let (status, body) = handle.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let results = body["Operations"].as_array().unwrap();
        assert_eq!(results.len(), PER_BULK);
        for r in results {
            assert_eq!(r["status"], "200", "{r}");
        }
        for i in [0, 1] {
            let email = format!("pw{}@acme.example", b * PER_BULK + i);
            let hash = password_hash(&app, &email).await;
            assert!(verifies(&hash, &format!("pw-{b}-{i}")), "{email}");
        }
    }
}

/// A PATCH sets a password in each form IdPs send; it is stored hashed.
#[tokio::test]
async fn patch_sets_a_password_in_every_form() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let id = app.create_user(user("p@acme.example")).await;
    for (n, op) in [
        json!({"op": "replace", "path": "password", "value": "first-pw"}),
        json!({"op": "Replace", "value": {"password": "second-pw"}}),
        json!({"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:password", "value": "third-pw"}),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, body) = app.patch(&format!("/Users/{id}"), json!([op])).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("password").is_none());
        let hash = password_hash(&app, "p@acme.example").await;
        let want = ["first-pw", "second-pw", "third-pw"][n];
        assert!(verifies(&hash, want), "{want}");
    }
}

/// Before: no bound; a /Bulk could ask for 1,000 argon2 hashes. Now more
/// than `SCIM_BULK_MAX_PASSWORDS` is a 413 that writes nothing.
#[tokio::test]
async fn a_bulk_with_too_many_passwords_is_413_and_writes_nothing() {
    let app = spawn_app_with(|s| s.bulk_max_passwords = 3).await;
    app.verify_domain("acme.example").await;
    let id = app.create_user(user("p@acme.example")).await;
    let mut post = user("new@acme.example");
    post["password"] = json!("pw-0");
    let ops = vec![
        json!({"method": "POST", "path": "/Users", "bulkId": "n", "data": post}),
        json!({"method": "PATCH", "path": format!("/Users/{id}"), "data": {"schemas": [PATCH_OP],
               "Operations": [{"op": "replace", "path": "password", "value": "pw-1"},
                              {"op": "replace", "value": {"password": "pw-2"}}]}}),
        json!({"method": "PATCH", "path": "/Users/bulkId:n", "data": {"schemas": [PATCH_OP],
               "Operations": [{"op": "replace", "path": "password", "value": "pw-3"}]}}),
    ];
    let (status, body) = bulk(&app, ops.clone()).await;
    assert_scim_error(status, &body, 413, Some("tooLarge"));
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("4 passwords") && detail.contains("at most 3"),
        "{detail}"
    );
    let (_, list) = app
        .get("/Users?filter=userName eq \"new@acme.example\"")
        .await;
    assert_eq!(list["totalResults"], 0, "nothing was written");

    // At the limit it runs, and the PATCH of a user created in the same
    // request (by bulkId) takes its hash too.
    let (status, body) = bulk(&app, ops[..1].iter().chain(&ops[2..]).cloned().collect()).await;
    assert_eq!(status, 200, "{body}");
    for r in body["Operations"].as_array().unwrap() {
        assert!(r["status"] == "201" || r["status"] == "200", "{r}");
    }
    let hash = password_hash(&app, "new@acme.example").await;
    assert!(verifies(&hash, "pw-3"));
}

/// In-use connections of pool `pool`, from `/metrics`.
async fn pool_in_use(app: &TestApp, pool: &str) -> i64 {
    let text = app.metrics_text().await;
    let want = format!("db_pool_connections{{pool=\"{pool}\",state=\"in_use\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&want))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {want} in /metrics"))
}

/// Before: credentials were looked up through the read pool, so a few
/// expensive filters holding every read connection made every other
/// tenant's request wait for one just to be authenticated (a bad token's
/// 401 too), then 503. Now authentication has its own small pool: with
/// the read pool full, a bad token is refused at once and a valid one
/// reaches a handler that needs no query work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_does_not_wait_behind_a_saturated_read_pool() {
    let app = spawn_app_with(|s| {
        s.db_max_connections = 2;
        // The expensive queries run to their end, holding connections.
        s.db_statement_timeout_ms = 0;
        s.db_busy_timeout_ms = 3_000;
    })
    .await;
    let (_, g) = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "all"}),
        )
        .await;
    crate::seed::members(&app, g["id"].as_str().unwrap(), 30_000).await;
    let terms: Vec<String> = (0..40)
        .map(|i| format!("userName co \"zq{i}x\" or displayName co \"qz{i}\""))
        .collect();
    let expensive = format!(
        "{}/Users?sortBy=displayName&count=5&filter={}",
        app.base,
        form_urlencoded::byte_serialize(terms.join(" or ").as_bytes()).collect::<String>()
    );
    let load: Vec<_> = (0..16)
        .map(|_| {
            let req = app.client.get(&expensive).bearer_auth(&app.token);
            tokio::spawn(async move { req.send().await.map(|r| r.status().as_u16()) })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool_in_use(&app, "read").await < 2 {
        assert!(Instant::now() < deadline, "the read pool never filled up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let started = Instant::now();
    let res = app
        .client
        .get(format!("{}/Users", app.base))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    let bad_token = started.elapsed();
    assert_eq!(res.status(), 401);
    let started = Instant::now();
    let (status, body) = app.get("/ServiceProviderConfig").await;
    let authenticated = started.elapsed();
    assert_eq!(status, 200, "{body}");
    // Still full: the two requests above were served while it was.
    assert_eq!(pool_in_use(&app, "read").await, 2, "the read pool drained");
    eprintln!("read pool full: 401 after {bad_token:?}, 200 after {authenticated:?}");
    assert!(
        bad_token < Duration::from_secs(1),
        "401 after {bad_token:?}"
    );
    assert!(
        authenticated < Duration::from_secs(1),
        "authenticated after {authenticated:?}"
    );
    for l in load {
        let _ = l.await;
    }
}

/// The authentication pool only reads: a write through it fails (SQLite
/// read-only connections; PostgreSQL `default_transaction_read_only`),
/// while reads work.
#[tokio::test]
async fn the_authentication_pool_is_read_only() {
    use sea_orm::ConnectionTrait;
    // A second store on the app's database (the app drops it after).
    let app = spawn_app().await;
    let url = app.settings.database_url.expose().to_owned();
    let store = scim_server::store::Store::open(&url, 2, Duration::from_secs(1))
        .await
        .unwrap();
    let auth = store.auth();
    let row = auth
        .query_one_raw(sea_orm::Statement::from_string(
            auth.get_database_backend(),
            "SELECT COUNT(*) FROM admin_keys",
        ))
        .await
        .unwrap();
    assert!(row.is_some());
    let err = auth
        .execute_unprepared("DELETE FROM admin_keys")
        .await
        .expect_err("a write through the auth pool");
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("read-only") || text.contains("readonly"),
        "{text}"
    );
    store
        .writer()
        .execute_unprepared("DELETE FROM admin_keys")
        .await
        .unwrap();
    store.close().await;
    drop(app);
}
