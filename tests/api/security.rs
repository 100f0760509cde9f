//! Hardening of what is reachable without a directory token or admin key:
//! `/metrics`, …

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

async fn metrics(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut req = app.client.get(format!("{}/metrics", app.address));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Before: the `method` label was the raw method, so each request with a
/// made-up method added a series that was never freed (memory growth
/// without authentication). Now those all count as `other`.
#[tokio::test]
async fn made_up_methods_are_counted_as_other() {
    let app = spawn_app().await;
    for i in 0..20 {
        let m = Method::from_bytes(format!("XMETHOD{i}").as_bytes()).unwrap();
        let res = app
            .client
            .request(m, format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let (status, text) = metrics(&app, None).await;
    assert_eq!(status, 200);
    assert!(!text.contains("XMETHOD"), "{text}");
    let other: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{") && l.contains("method=\"other\""))
        .collect();
    let total: u64 = other
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 20, "{other:?}");
}

/// With `SCIM_METRICS_TOKEN`, `/metrics` (which names directory ids) needs
/// that bearer token.
#[tokio::test]
async fn metrics_token_is_required_when_set() {
    let token = "metrics-token-0123456789";
    let app = spawn_app_with(|s| {
        s.metrics_token = Some(scim_server::config::Secret::new(token));
    })
    .await;
    let (status, _) = app.get("/Users").await;
    assert_eq!(status, 200);
    for bad in [None, Some("wrong-token-0123456789"), Some("")] {
        let (status, text) = metrics(&app, bad).await;
        assert_eq!(status, 401, "{bad:?}: {text}");
        assert!(!text.contains("scim_operations_total"), "{text}");
        assert!(!text.contains(&app.directory_id.to_string()), "{text}");
    }
    let (status, text) = metrics(&app, Some(token)).await;
    assert_eq!(status, 200);
    assert!(text.contains("http_requests_total"), "{text}");

    // Unset: public, as before.
    let open = spawn_app().await;
    assert_eq!(metrics(&open, None).await.0, 200);
}

/// Before: CSV exports wrote names and emails as the IdP sent them, so a
/// display name `=HYPERLINK(…)` ran as a formula in a spreadsheet. Now a
/// cell starting with `= + - @`, tab or CR gets a leading `'` (OWASP).
#[tokio::test]
async fn csv_exports_neutralise_cells_a_spreadsheet_would_run() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let mut u = user("-2+3@acme.example");
    u["displayName"] = json!("=HYPERLINK(\"http://evil.example\",\"x\")");
    app.create_user(u).await;
    let a = crate::admin::admin(&app, "default").await;
    let res = app
        .client
        .get(format!("{}/exports/managed-accounts", a.base))
        .bearer_auth(&a.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(
        &rows[0][0], "'=HYPERLINK(\"http://evil.example\",\"x\")",
        "{text}"
    );
    assert_eq!(&rows[0][1], "'-2+3@acme.example", "{text}");
    assert_eq!(&rows[0][3], "active", "{text}");
}

fn www_authenticate(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Before: `token create` had no `--expires-in`; a directory token lived
/// until revoked. Now it may expire: shown by `token list`, 401
/// `invalid_token` after it.
#[tokio::test]
async fn directory_tokens_can_expire() {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let app = spawn_app().await;
    let dir = app.directory_id.to_string();
    let created = app
        .cli_oauth(&[
            "token",
            "create",
            "--directory",
            &dir,
            "--expires-in",
            "90d",
        ])
        .await;
    let token = created["token"].as_str().unwrap().to_owned();
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(created["expires_at"].clone()).unwrap();
    let in_90d = chrono::Utc::now() + chrono::Duration::days(90);
    assert!((expires - in_90d).num_seconds().abs() < 60, "{created}");

    let get_users = |t: String| {
        let url = format!("{}/Users", app.base);
        let client = app.client.clone();
        async move { client.get(url).bearer_auth(t).send().await.unwrap() }
    };
    assert_eq!(get_users(token.clone()).await.status(), 200);

    let list = app.cli_oauth(&["token", "list", "--directory", &dir]).await;
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == created["id"])
        .unwrap()
        .clone();
    assert_eq!(mine["expires_at"], created["expires_at"], "{list}");
    assert_eq!(mine["expired"], false, "{list}");
    assert!(!list.to_string().contains(&token), "no token values listed");

    // Its time passes.
    let id: uuid::Uuid = serde_json::from_value(created["id"].clone()).unwrap();
    let db = app.db().await;
    let t = entity::directory_token::Entity::find_by_id(id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut t: entity::directory_token::ActiveModel = t.into();
    t.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    t.update(&db).await.unwrap();

    let res = get_users(token).await;
    assert_eq!(res.status(), 401);
    assert!(
        www_authenticate(&res).contains("error=\"invalid_token\""),
        "{}",
        www_authenticate(&res)
    );
    let list = app.cli_oauth(&["token", "list", "--directory", &dir]).await;
    assert!(list.to_string().contains("\"expired\":true"), "{list}");
    // The bootstrap token (no expiry) still works.
    assert_eq!(get_users(app.token.clone()).await.status(), 200);

    use clap::Parser;
    for bad in ["0d", "90", "soon"] {
        let r = scim_server::cli::Cli::try_parse_from([
            "scim-server",
            "token",
            "create",
            "--directory",
            &dir,
            "--expires-in",
            bad,
        ]);
        assert!(r.is_err(), "{bad}");
    }
}

/// Before: an admin key could be neither listed, revoked nor given an
/// expiry. Now `GET /admin-keys`, `DELETE /admin-keys/{id}` (audited),
/// `admin-key list|revoke` and `--expires-in`.
#[tokio::test]
async fn admin_keys_can_be_listed_revoked_and_expire() {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let app = spawn_app().await;
    let a = crate::admin::admin(&app, "default").await;
    let second = app
        .cli_oauth(&[
            "admin-key",
            "create",
            "--org",
            "default",
            "--label",
            "ci",
            "--expires-in",
            "30d",
        ])
        .await;
    let second_key = second["key"].as_str().unwrap().to_owned();
    let second_id = second["id"].as_str().unwrap().to_owned();
    assert!(second["expires_at"].is_string(), "{second}");
    let with_key = |key: &str, method: reqwest::Method, path: &str| {
        app.client
            .request(method, format!("{}{path}", a.base))
            .bearer_auth(key)
    };

    let res = with_key(&second_key, reqwest::Method::GET, "/admin-keys")
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    let keys = body["items"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{body}");
    assert!(
        !body.to_string().contains(&second_key),
        "no key values listed"
    );
    assert!(!body.to_string().contains(&a.key), "no key values listed");
    let listed = keys.iter().find(|k| k["id"] == second_id.as_str()).unwrap();
    assert_eq!(listed["label"], "ci");
    assert_eq!(listed["expired"], false);
    assert_eq!(listed["expires_at"], second["expires_at"]);
    let cli_list = app
        .cli_oauth(&["admin-key", "list", "--org", "default"])
        .await;
    assert_eq!(cli_list.as_array().unwrap().len(), 2, "{cli_list}");

    // Another organization can't see or revoke them.
    let other = crate::admin::admin(&app, "other").await;
    let (status, body) = other.delete(&format!("/admin-keys/{second_id}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = other.get("/admin-keys").await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");

    // Revoked through the API: refused from the next request on; audited.
    let (status, body) = a.delete(&format!("/admin-keys/{second_id}")).await;
    assert_eq!(status, 204, "{body}");
    let res = with_key(&second_key, reqwest::Method::GET, "/admin-keys")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (status, body) = a.delete(&format!("/admin-keys/{second_id}")).await;
    assert_eq!(status, 404, "already revoked: {body}");
    let (_, log) = a.get("/audit-log?action=admin_key.revoke").await;
    let entries = log["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["target_id"], second_id.as_str());

    // Expired: refused.
    let third = app
        .cli_oauth(&[
            "admin-key",
            "create",
            "--org",
            "default",
            "--expires-in",
            "1h",
        ])
        .await;
    let third_key = third["key"].as_str().unwrap().to_owned();
    let third_id: uuid::Uuid = serde_json::from_value(third["id"].clone()).unwrap();
    let res = with_key(&third_key, reqwest::Method::GET, "/admin-keys")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let db = app.db().await;
    let k = entity::admin_key::Entity::find_by_id(third_id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut k: entity::admin_key::ActiveModel = k.into();
    k.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    k.update(&db).await.unwrap();
    let res = with_key(&third_key, reqwest::Method::GET, "/admin-keys")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Revoked through the CLI.
    let third_id = third_id.to_string();
    let out = app
        .cli_oauth(&["admin-key", "revoke", "--org", "default", "--id", &third_id])
        .await;
    assert_eq!(out["revoked"], true);
    let (status, _) = a.get("/admin-keys").await;
    assert_eq!(status, 200, "the first key still works");
}

/// Before: `sync_log` and `audit_log` grew forever. Now the periodic job
/// deletes rows older than `SCIM_SYNC_LOG_RETENTION_DAYS` (90) and
/// `SCIM_AUDIT_LOG_RETENTION_DAYS` (365), a batch at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_job_deletes_log_rows_past_their_retention() {
    use entity::{audit_log, sync_log};
    use sea_orm::{EntityTrait, PaginatorTrait, Set};
    let app = spawn_app_with(|s| s.purge_interval_secs = 1).await;
    let org_id = crate::admin::admin(&app, "default").await.org_id;
    let org_id: uuid::Uuid = org_id.parse().unwrap();
    let now = chrono::Utc::now();
    let db = app.db().await;
    // Oldest first, with the lowest ids, as the server appends them; more
    // than one batch of them.
    const OLD: i64 = 2500;
    let sync_row = |id: i64, days: i64| sync_log::ActiveModel {
        id: Set(id),
        directory_id: Set(app.directory_id),
        at: Set(now - chrono::Duration::days(days)),
        operation: Set("POST /Users".into()),
        resource_type: Set("User".into()),
        resource_id: Set(None),
        outcome: Set(entity::sync_log::SyncOutcome::Success),
        status: Set(201),
        detail: Set(None),
        request_id: Set(None),
    };
    let rows: Vec<_> = (0..OLD)
        .map(|i| sync_row(-1_000_000 + i, 100))
        .chain([sync_row(-10, 89), sync_row(-9, 1)])
        .collect();
    for chunk in rows.chunks(500) {
        sync_log::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&db)
            .await
            .unwrap();
    }
    let audit_row = |id: i64, days: i64| audit_log::ActiveModel {
        id: Set(id),
        org_id: Set(org_id),
        at: Set(now - chrono::Duration::days(days)),
        actor_type: Set(entity::audit_log::ActorType::System),
        actor_id: Set("test".into()),
        action: Set("test.old".into()),
        target_type: Set("account".into()),
        target_id: Set(None),
        detail: Set(None),
    };
    audit_log::Entity::insert_many([audit_row(-5, 400), audit_row(-4, 366), audit_row(-3, 100)])
        .exec_without_returning(&db)
        .await
        .unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let sync = sync_log::Entity::find().count(&db).await.unwrap();
        let audit = audit_log::Entity::find().count(&db).await.unwrap();
        if sync == 2 && audit == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sync_log {sync} rows (want 2), audit_log {audit} (want 1)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let mut kept: Vec<i64> = sync_log::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    kept.sort_unstable();
    assert_eq!(kept, [-10, -9]);
    let kept = audit_log::Entity::find().all(&db).await.unwrap();
    assert_eq!(kept[0].id, -3, "within 365 days: kept");
}

/// Before: `X-Forwarded-Proto/Host` (and `Forwarded`) were believed from
/// any client: they decide `meta.location` and the admin cookie's `Secure`
/// flag. Now only from `SCIM_TRUSTED_PROXIES`; otherwise the request's
/// own scheme and host.
#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    for trusted in [false, true] {
        let app = spawn_app_with(|s| {
            if trusted {
                s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            }
        })
        .await;
        let id = app.create_user(user("fwd@acme.example")).await;
        let want = if trusted {
            "https://evil.example/scim/v2/directories/".to_owned()
        } else {
            format!("{}/scim/v2/directories/", app.address)
        };
        for headers in [
            vec![
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "evil.example"),
            ],
            vec![("Forwarded", "proto=https;host=evil.example")],
        ] {
            let mut req = app.scim(Method::GET, &format!("/Users/{id}"));
            for (k, v) in &headers {
                req = req.header(*k, *v);
            }
            let res = req.send().await.unwrap();
            let location = res.headers()["location"].to_str().unwrap().to_owned();
            let (status, body) = read(res).await;
            assert_eq!(status, 200, "{body}");
            let meta = body["meta"]["location"].as_str().unwrap();
            assert!(
                meta.starts_with(&want),
                "trusted={trusted} {headers:?}: {meta}"
            );
            assert_eq!(location, meta);
        }
        let res = app
            .client
            .get(format!("{}/admin/sign-in", app.address))
            .header("X-Forwarded-Proto", "https")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert_eq!(
            cookie.contains("Secure"),
            trusted,
            "trusted={trusted}: {cookie}"
        );
    }
}

/// A filter that makes the database work: many `co` over every user of a
/// directory, sorted, with the total counted.
fn expensive_filter() -> String {
    let terms: Vec<String> = (0..80)
        .map(|i| format!("userName co \"zq{i}x\" or displayName co \"qz{i}\""))
        .collect();
    let filter = terms.join(" or ");
    format!(
        "/Users?filter={}&sortBy=displayName&count=5",
        form_urlencoded::byte_serialize(filter.as_bytes()).collect::<String>()
    )
}

/// Before: no statement timeout; a few expensive filters tied up the read
/// pool that authentication also uses. Now a statement over
/// `SCIM_DB_STATEMENT_TIMEOUT_MS` is cut off: 503 with `Retry-After`
/// (never 500), and the next cheap request is served. Uncut, the filter
/// takes ~140 ms on SQLite and ~160 ms on PostgreSQL (debug build, idle
/// machine): the deadline is a third of that, so a fast machine still
/// crosses it (at 40 terms and 100 ms it no longer did: 75 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_timeout_is_503_with_retry_after() {
    let app = spawn_app_with(|s| s.db_statement_timeout_ms = 50).await;
    let (_, g) = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "all"}),
        )
        .await;
    crate::seed::members(&app, g["id"].as_str().unwrap(), 30_000).await;
    let started = std::time::Instant::now();
    let res = app
        .scim(Method::GET, &expensive_filter())
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let retry_after = res.headers().get("retry-after").cloned();
    let (status, body) = read(res).await;
    assert_scim_error(status, &body, 503, None);
    assert!(retry_after.is_some(), "{body}");
    assert!(elapsed < std::time::Duration::from_secs(3), "{elapsed:?}");
    let (status, body) = app.get("/Users?filter=userName eq \"nobody\"").await;
    assert_eq!(status, 200, "{body}");
}

/// The statement deadline runs from each hand-out of a read connection,
/// not from the connection's first: a statement that does real work (a
/// `co` scan of a few thousand users, well under the deadline) on a
/// connection whose previous deadline passed long ago is not cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_statement_deadline_restarts_at_each_hand_out() {
    let app = spawn_app_with(|s| s.db_statement_timeout_ms = 300).await;
    let (_, g) = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "all"}),
        )
        .await;
    crate::seed::members(&app, g["id"].as_str().unwrap(), 3_000).await;
    let scan = format!(
        "/Users?count=1&filter={}",
        form_urlencoded::byte_serialize(b"displayName co \"nobody-by-this-name\"")
            .collect::<String>()
    );
    for round in 0..4 {
        let (status, body) = app.get(&scan).await;
        assert_eq!(status, 200, "round {round}: {body}");
        // Every reader's last deadline is now past.
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
}

/// Sends `head` (and `body`) on a raw connection, then stalls; returns
/// what the server answered and how long it took to answer or close.
async fn stall(address: &str, head: String, body: &[u8]) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = address.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

/// Before: a client could trickle a body (or never finish it) to
/// `/oauth/token`, `/admin/sign-in` or any SCIM write and hold the
/// connection. Now the head must arrive within
/// `SCIM_CLIENT_HEADER_TIMEOUT_MS` and the body within
/// `SCIM_CLIENT_BODY_TIMEOUT_MS`; then the connection is answered and closed.
#[tokio::test]
async fn slow_clients_are_cut_off() {
    let app = spawn_app_with(|s| {
        s.client_header_timeout_ms = 500;
        s.client_body_timeout_ms = 700;
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    // A head that never ends.
    let (reply, took) = stall(
        &app.address,
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: "),
        b"",
    )
    .await;
    assert!(took < std::time::Duration::from_secs(5), "{took:?} {reply}");
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "{reply}"
    );

    let directory = app.directory_id;
    for (path, auth, ct) in [
        (
            "/oauth/token".to_owned(),
            String::new(),
            "application/x-www-form-urlencoded",
        ),
        (
            "/admin/sign-in".to_owned(),
            String::new(),
            "application/x-www-form-urlencoded",
        ),
        (
            format!("/scim/v2/directories/{directory}/Users"),
            format!("Authorization: Bearer {}\r\n", app.token),
            "application/scim+json",
        ),
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: {ct}\r\nContent-Length: 1000\r\n\r\n"
        );
        let (reply, took) = stall(&app.address, head, b"grant_type=cl").await;
        assert!(
            took < std::time::Duration::from_secs(5),
            "{path}: {took:?} {reply}"
        );
        let status: u16 = reply
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        assert!((400..500).contains(&status), "{path}: {reply}");
    }
    // Nothing was written.
    let (_, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 0);
}

/// Before: a page's size had no bound in bytes (`count=1000` users with
/// hundreds of values each). Now a `/Users` page stops once its resources
/// pass `SCIM_MAX_PAGE_BYTES`, with an honest `itemsPerPage`, and paging
/// (startIndex or cursor) continues where it stopped: every user once.
#[tokio::test]
async fn pages_stop_at_their_byte_budget_and_continue() {
    let app = spawn_app_with(|s| s.max_page_bytes = 6_000).await;
    for i in 0..6 {
        let mut u = user(&format!("big{i}@acme.example"));
        u["phoneNumbers"] = json!(
            (0..40)
                .map(|n| json!({"value": format!("+1 555 {i:03} {n:04}"), "type": "work"}))
                .collect::<Vec<_>>()
        );
        app.create_user(u).await;
    }
    let (status, first) = app.get("/Users?count=6&sortBy=userName").await;
    assert_eq!(status, 200, "{first}");
    let shown = first["Resources"].as_array().unwrap().len();
    assert!((1..6).contains(&shown), "stopped early: {shown}");
    assert_eq!(first["itemsPerPage"], shown);
    assert_eq!(first["totalResults"], 6);
    assert!(
        first.to_string().len() < 6_000 + 3_000,
        "{}",
        first.to_string().len()
    );

    // Index paging continues at startIndex + itemsPerPage.
    let mut seen = vec![];
    let mut start = 1;
    while start <= 6 {
        let (_, page) = app
            .get(&format!(
                "/Users?count=6&sortBy=userName&startIndex={start}"
            ))
            .await;
        let items = page["Resources"].as_array().unwrap();
        assert!(!items.is_empty());
        assert_eq!(page["itemsPerPage"], items.len());
        seen.extend(
            items
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_owned()),
        );
        start += items.len();
    }
    let want: Vec<String> = (0..6).map(|i| format!("big{i}@acme.example")).collect();
    assert_eq!(seen, want);

    // Cursor paging resumes after the last user shown.
    let mut seen = vec![];
    let mut cursor = String::new();
    for _ in 0..6 {
        let (status, page) = app
            .get(&format!("/Users?count=6&sortBy=userName&cursor={cursor}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let items = page["Resources"].as_array().unwrap();
        assert_eq!(page["itemsPerPage"], items.len());
        seen.extend(
            items
                .iter()
                .map(|u| u["userName"].as_str().unwrap().to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, want);
}

/// The admin API answers a statement over `SCIM_DB_STATEMENT_TIMEOUT_MS`
/// in its own error shape: 503 `unavailable` with `Retry-After`, never
/// 500, and the admin's message, not the database's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_query_over_the_timeout_is_503_unavailable() {
    use entity::account;
    use sea_orm::{EntityTrait, Set};
    let app = spawn_app_with(|s| s.db_statement_timeout_ms = 1).await;
    let a = crate::admin::admin(&app, "default").await;
    let org: uuid::Uuid = a.org_id.parse().unwrap();
    let db = app.db().await;
    let now = chrono::Utc::now();
    for chunk in 0..60 {
        account::Entity::insert_many((0..500).map(|i| {
            let email = format!("managed-{chunk}-{i}@acme.example");
            account::ActiveModel {
                id: Set(uuid::Uuid::now_v7()),
                email: Set(Some(email.clone())),
                email_lower: Set(Some(email)),
                email_domain: Set(Some("acme.example".into())),
                display_name: Set(Some(format!("Managed {chunk} {i}"))),
                status: Set(entity::account::AccountStatus::Active),
                managing_org_id: Set(Some(org)),
                two_step_enabled: Set(false),
                saml_sso: Set(false),
                password_reset_required: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
        }))
        .exec_without_returning(&db)
        .await
        .unwrap();
    }
    // A contains-search that matches none of the 30,000 accounts.
    let res = app
        .client
        .get(format!("{}/accounts?q=nobody-by-this-name&limit=5", a.base))
        .bearer_auth(&a.key)
        .send()
        .await
        .unwrap();
    let retry_after = res.headers().get("retry-after").cloned();
    let (status, body) = read(res).await;
    crate::admin::assert_admin_error(status, &body, 503, "unavailable");
    assert!(retry_after.is_some(), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("Retry-After"), "{body}");
    for leak in ["statement", "interrupted", "canceling"] {
        assert!(!message.contains(leak), "{body}");
    }
}
