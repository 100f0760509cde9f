//! Writes arriving together (group commit on SQLite; concurrent
//! transactions on PostgreSQL): each request gets its own outcome, a
//! failed one writes nothing but its failure record, and a response is
//! sent only once its write is committed.

use std::collections::HashMap;
use std::time::Duration;

use crate::admin::admin;
use crate::helpers::*;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

/// What one request of a wave was and what it got.
struct Sent {
    request_id: String,
    /// The userName a POST sent (the account it may create).
    user_name: Option<String>,
    status: u16,
    body: Value,
}

async fn send_with_id(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Value,
    request_id: &str,
) -> (u16, Value) {
    let req = app
        .scim(method, path)
        .header("X-Request-Id", request_id)
        .body(body.to_string());
    read(req.send().await.expect("request sent")).await
}

fn patch_body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// 50 writes at once: new users, userNames already taken (409 inside the
/// transaction), PATCHes of one user, PATCHes of an unknown id (404) and
/// of a userName taken by another user (409). Each gets its own answer;
/// the failed ones leave no row, no success in the sync log and no event;
/// every request has exactly one sync-log entry; events are numbered
/// without a gap, each with its own request's id.
#[tokio::test]
async fn concurrent_writes_each_get_their_own_outcome_and_failures_write_nothing() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let target = app.create_user(user("target@acme.example")).await;
    app.create_user(user("taken@acme.example")).await;
    let before_log = sync_log_count(&app).await;

    let mut waves = vec![];
    for i in 0..50 {
        let rid = format!("gc-{i}");
        let (method, path, body, user_name) = match i % 5 {
            0 | 1 => {
                let name = format!("new{i}@acme.example");
                (Method::POST, "/Users".to_owned(), user(&name), Some(name))
            }
            // The same userName twice in one wave: one of them wins.
            2 if i < 20 => {
                let name = format!("twice{}@acme.example", i / 10);
                (Method::POST, "/Users".to_owned(), user(&name), Some(name))
            }
            2 => (
                Method::POST,
                "/Users".to_owned(),
                user("TAKEN@acme.example"),
                None,
            ),
            3 => (
                Method::PATCH,
                format!("/Users/{target}"),
                patch_body(json!([{"op": "replace", "path": "title", "value": format!("t{i}")}])),
                None,
            ),
            _ if i % 10 == 4 => (
                Method::PATCH,
                "/Users/00000000-0000-4000-8000-000000000000".to_owned(),
                patch_body(json!([{"op": "replace", "path": "title", "value": "x"}])),
                None,
            ),
            _ => (
                Method::PATCH,
                format!("/Users/{target}"),
                patch_body(
                    json!([{"op": "replace", "path": "userName", "value": "taken@acme.example"}]),
                ),
                None,
            ),
        };
        let app = &app;
        waves.push(async move {
            let (status, body) = send_with_id(app, method, &path, body, &rid).await;
            Sent {
                request_id: rid,
                user_name,
                status,
                body,
            }
        });
    }
    let sent = futures_util::future::join_all(waves).await;

    let db = app.db().await;
    let log: Vec<entity::sync_log::Model> = entity::sync_log::Entity::find()
        .filter(entity::sync_log::Column::RequestId.like("gc-%"))
        .all(&db)
        .await
        .unwrap();
    let events: Vec<entity::event::Model> = entity::event::Entity::find().all(&db).await.unwrap();
    let mut twice_won: HashMap<String, usize> = HashMap::new();
    for s in &sent {
        let entries: Vec<_> = log
            .iter()
            .filter(|e| e.request_id.as_deref() == Some(s.request_id.as_str()))
            .collect();
        assert_eq!(entries.len(), 1, "one sync-log entry for {}", s.request_id);
        assert_eq!(entries[0].status, i32::from(s.status), "{}", s.body);
        let own_events: Vec<_> = events
            .iter()
            .filter(|e| e.request_id.as_deref() == Some(s.request_id.as_str()))
            .collect();
        match s.status {
            200 | 201 => {
                assert_eq!(entries[0].outcome.to_string(), "success", "{}", s.body);
                if let Some(name) = &s.user_name {
                    assert_eq!(s.status, 201);
                    let (status, got) = app
                        .get(&format!("/Users/{}", s.body["id"].as_str().unwrap()))
                        .await;
                    assert_eq!(status, 200, "{got}");
                    assert_eq!(got["userName"], name.as_str());
                    let created: Vec<_> = own_events
                        .iter()
                        .filter(|e| e.r#type == "account.created")
                        .collect();
                    assert_eq!(created.len(), 1, "{}: {own_events:?}", s.request_id);
                    assert!(created[0].data.contains(name.as_str()), "{created:?}");
                    if name.starts_with("twice") {
                        *twice_won.entry(name.clone()).or_default() += 1;
                    }
                }
            }
            404 => {
                assert_scim_error(s.status, &s.body, 404, None);
                assert_eq!(entries[0].outcome.to_string(), "failure");
            }
            _ => {
                assert_scim_error(s.status, &s.body, 409, Some("uniqueness"));
                assert_eq!(entries[0].outcome.to_string(), "failure");
                assert!(
                    own_events
                        .iter()
                        .all(|e| e.r#type == "directory.sync_failed"),
                    "a failed write records only its failure: {own_events:?}"
                );
                if let Some(name) = &s.user_name {
                    *twice_won.entry(name.clone()).or_default() += 0;
                }
            }
        }
    }
    // Each doubled userName: exactly one 201 and one account.
    assert_eq!(twice_won.len(), 2, "{twice_won:?}");
    for (name, won) in &twice_won {
        assert_eq!(*won, 1, "{name}");
        let accounts = entity::account::Entity::find()
            .filter(entity::account::Column::EmailLower.eq(name.to_lowercase()))
            .all(&db)
            .await
            .unwrap();
        assert_eq!(accounts.len(), 1, "{name}");
    }
    let created = sent.iter().filter(|s| s.status == 201).count();
    assert_eq!(created, 20 + 2, "{:?}", statuses(&sent));
    let patched = sent.iter().filter(|s| s.status == 200).count();
    assert_eq!(patched, 10, "{:?}", statuses(&sent));
    assert_eq!(sync_log_count(&app).await - before_log, 50);
    // The PATCHed title is the one of a successful PATCH; the userName
    // PATCHes that failed left it alone.
    let (_, t) = app.get(&format!("/Users/{target}")).await;
    assert_eq!(t["userName"], "target@acme.example", "{t}");
    assert!(
        t["title"].as_str().is_some_and(|x| x.starts_with('t')),
        "{t}"
    );
    // Numbered in commit order without a gap: failed savepoints took no
    // number with them.
    let mut seqs: Vec<i64> = events.iter().filter_map(|e| e.seq).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    assert!(
        events.iter().all(|e| e.seq.is_some()),
        "every event numbered"
    );
    let _ = db.close().await;
}

fn statuses(sent: &[Sent]) -> Vec<(String, u16)> {
    sent.iter()
        .map(|s| (s.request_id.clone(), s.status))
        .collect()
}

async fn sync_log_count(app: &TestApp) -> usize {
    let db = app.db().await;
    let n = entity::sync_log::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .len();
    let _ = db.close().await;
    n
}

/// A lone write is committed when its response arrives: a reader on a
/// connection of its own sees it at once (no timer holds it back).
#[tokio::test]
async fn a_lone_write_is_committed_when_its_response_arrives() {
    let app = spawn_app().await;
    let db = app.db().await;
    for i in 0..5 {
        let name = format!("lone{i}@example.com");
        let id = app.create_user(user(&name)).await;
        let link = entity::scim_user::Entity::find_by_id(uuid::Uuid::parse_str(&id).unwrap())
            .one(&db)
            .await
            .unwrap();
        assert!(link.is_some(), "{name} is committed when its 201 arrives");
    }
    let _ = db.close().await;
}

/// Under concurrency too, each 201 comes after its commit: each writer
/// reads its user back through a fresh connection the moment its response
/// arrives.
#[tokio::test]
async fn each_response_of_a_concurrent_wave_comes_after_its_commit() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let mut tasks = vec![];
    for w in 0..8 {
        let app = &app;
        tasks.push(async move {
            let db = app.db().await;
            for i in 0..6 {
                let name = format!("w{w}-{i}@acme.example");
                let id = app.create_user(user(&name)).await;
                let (status, _) = app
                    .patch(
                        &format!("/Users/{id}"),
                        json!([{"op": "replace", "path": "title", "value": "after"}]),
                    )
                    .await;
                assert_eq!(status, 200);
                let link =
                    entity::scim_user::Entity::find_by_id(uuid::Uuid::parse_str(&id).unwrap())
                        .one(&db)
                        .await
                        .unwrap();
                assert!(link.is_some(), "{name} read back at once");
                let account = account_of(app, &name).await;
                assert_eq!(account.job_title.as_deref(), Some("after"), "{name}");
            }
            let _ = db.close().await;
        });
    }
    futures_util::future::join_all(tasks).await;
}

/// Admin writes (their own transactions) and the webhook worker interleave
/// with a stream of SCIM writes: nothing deadlocks, nothing times out.
#[tokio::test]
async fn admin_writes_and_the_webhook_worker_interleave_with_scim_writes() {
    let app = spawn_app_with(|s| {
        s.webhook_poll_ms = 20;
        s.webhook_allow_insecure = true;
    })
    .await;
    app.verify_domain("acme.example").await;
    let a = admin(&app, "default").await;
    let (url, receiver) = crate::webhooks::start_receiver(&[]).await;
    let (status, w) = a
        .post(
            "/webhooks",
            json!({"url": url, "types": ["account.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{w}");

    let run = async {
        let scim = async {
            let mut tasks = vec![];
            for w in 0..6 {
                let app = &app;
                tasks.push(async move {
                    for i in 0..10 {
                        app.create_user(user(&format!("s{w}-{i}@acme.example")))
                            .await;
                    }
                });
            }
            futures_util::future::join_all(tasks).await;
        };
        let admin_writes = async {
            for i in 0..10 {
                let (status, d) = a
                    .post("/domains", json!({"name": format!("d{i}.example")}))
                    .await;
                assert_eq!(status, 201, "{d}");
                let (status, s) = a
                    .post("/webhooks", json!({"url": url, "types": ["group.created"]}))
                    .await;
                assert_eq!(status, 201, "{s}");
            }
        };
        tokio::join!(scim, admin_writes);
        // The worker delivers every account.created event.
        for _ in 0..500 {
            if receiver.count() >= 60 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("no deadlock, no timeout");
    assert_eq!(receiver.count(), 60, "every account.created delivered");
}

/// On SQLite, writes that arrive together share commits: `/metrics` shows
/// fewer commits than the write requests they carried.
#[tokio::test]
async fn concurrent_writes_share_commits_on_sqlite() {
    if test_backend() != TestBackend::Sqlite {
        return;
    }
    let app = spawn_app().await;
    let mut tasks = vec![];
    for w in 0..16 {
        let app = &app;
        tasks.push(async move {
            for i in 0..4 {
                app.create_user(user(&format!("g{w}-{i}@example.com")))
                    .await;
            }
        });
    }
    futures_util::future::join_all(tasks).await;
    let text = app.metrics_text().await;
    let value = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let commits = value("db_group_commits_total");
    let writes = value("db_group_commit_writes_total");
    let chained = value("db_group_commit_chained_total");
    eprintln!("group commit: {commits} commits for {writes} writes, {chained} chained");
    assert!(chained < commits, "{chained} chained of {commits} commits");
    assert!(
        writes >= 64,
        "every write went through group commit: {writes}"
    );
    assert!(commits < writes, "{commits} commits for {writes} writes");
}

/// On SQLite, the server checkpoints the WAL off the writer, on a
/// connection of its own (`Store::checkpoint`): `/metrics` counts the
/// checkpoints that moved pages.
#[tokio::test]
async fn the_server_checkpoints_the_wal_off_the_writer_on_sqlite() {
    let app = spawn_app().await;
    app.create_user(user("checkpointed@example.com")).await;
    let checkpoints = async || -> u64 {
        let text = app.metrics_text().await;
        text.lines()
            .find_map(|l| {
                l.strip_prefix("db_wal_checkpoints_total")?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("db_wal_checkpoints_total in {text}"))
    };
    if test_backend() != TestBackend::Sqlite {
        assert_eq!(checkpoints().await, 0);
        return;
    }
    let mut seen = 0;
    for _ in 0..50 {
        seen = checkpoints().await;
        if seen > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen > 0, "a checkpoint within 2.5 s of a write");
}
