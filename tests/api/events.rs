//! Change events: written in the transaction of the change (a refused
//! request leaves none), numbered per organization in commit order,
//! read through the admin feed from a cursor, scoped to the organization
//! the trust model gives them.

use crate::admin::{admin, site};
use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Every event of the admin's organization, oldest first, read page by
/// page (`limit` a page) through the feed.
async fn all_events(a: &crate::admin::Admin) -> Vec<Value> {
    let mut out = vec![];
    let mut after = String::new();
    loop {
        let (status, page) = a.get(&format!("/events?limit=3&after={after}")).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        after = page["next_cursor"].as_str().unwrap().to_owned();
        if page["has_more"] == false {
            return out;
        }
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_committed_scim_write_has_its_events_and_a_refused_one_none() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    app.verify_domain("acme.example").await;
    let id = app.create_user(user("jane@acme.example")).await;

    let events = all_events(&a).await;
    assert_eq!(types(&events), vec!["account.created"], "{events:?}");
    let e = &events[0];
    assert_eq!(e["seq"], 1);
    assert_eq!(e["organization_id"], a.org_id);
    assert_eq!(e["directory_id"], app.directory_id.to_string());
    assert_eq!(e["actor"], format!("directory:{}", app.directory_id));
    assert!(e["request_id"].is_string(), "{e}");
    assert_eq!(e["data"]["email"], "jane@acme.example");
    assert!(e["data"]["account_id"].is_string(), "{e}");
    assert!(e["occurred_at"].is_string(), "{e}");

    // Refused: deactivation together with a move to an unverified domain.
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "replace", "path": "active", "value": false},
                {"op": "replace", "path": "emails", "value": [{"value": "jane@elsewhere.example", "primary": true}]},
            ]),
        )
        .await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    let (status, body) = app.post("/Users", user("jane@acme.example")).await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    let (_, page) = a.get("/events?type=account.deactivated").await;
    assert_eq!(page["items"], json!([]), "{page}");
    assert_eq!(page["next_cursor"], "0");

    // Committed: the same deactivation alone.
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, page) = a
        .get("/events?type=account.deactivated,account.reactivated")
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["type"], "account.deactivated");
    assert_eq!(
        items[0]["data"]["account_id"],
        events[0]["data"]["account_id"]
    );

    // The refusals were recorded once (a minute's throttle), as a sync
    // failure of the directory, numbered after the account's creation.
    let (_, page) = a.get("/events?type=directory.sync_failed").await;
    let failed = page["items"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{page}");
    assert_eq!(failed[0]["data"]["status"], 400);
    assert_eq!(failed[0]["directory_id"], app.directory_id.to_string());
    assert_eq!(failed[0]["seq"], 2);
}

#[tokio::test]
async fn a_bulk_request_records_the_events_of_its_operations_in_order() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    app.verify_domain("acme.example").await;
    let body = json!({
        "schemas": [BULK_REQUEST],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": user("one@acme.example")},
            {"method": "POST", "path": "/Users", "bulkId": "u2", "data": user("two@acme.example")},
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {
                "schemas": [GROUP_SCHEMA], "displayName": "Engineers",
                "members": [{"value": "bulkId:u1"}, {"value": "bulkId:u2"}]}},
            // Fails alone (userName taken): leaves no event.
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user("one@acme.example")},
        ]
    });
    let (status, res) = app.send(Method::POST, "/Bulk", Some(body)).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["Operations"][3]["status"], "409", "{res}");
    let events = all_events(&a).await;
    let changes: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] != "directory.sync_failed")
        .collect();
    assert_eq!(
        changes
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec![
            "account.created",
            "account.created",
            "group.created",
            "group.member_added",
            "group.member_added",
        ],
        "{events:?}"
    );
    assert_eq!(changes[0]["data"]["email"], "one@acme.example");
    assert_eq!(changes[1]["data"]["email"], "two@acme.example");
    assert_eq!(changes[2]["data"]["display_name"], "Engineers");
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    let request_ids: std::collections::HashSet<&str> = changes
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(request_ids.len(), 1, "one request: {events:?}");
}

#[tokio::test]
async fn the_feed_is_ordered_and_resumes_from_a_cursor() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    app.verify_domain("acme.example").await;
    for i in 0..5 {
        app.create_user(user(&format!("u{i}@acme.example"))).await;
    }
    let (status, p1) = a.get("/events?limit=2").await;
    assert_eq!(status, 200, "{p1}");
    let seqs = |p: &Value| -> Vec<i64> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(seqs(&p1), vec![1, 2]);
    assert_eq!(p1["has_more"], true);
    assert_eq!(p1["next_cursor"], "2");
    let (_, p2) = a.get("/events?limit=2&after=2").await;
    assert_eq!(seqs(&p2), vec![3, 4]);
    let (_, p3) = a.get("/events?limit=2&after=4").await;
    assert_eq!(seqs(&p3), vec![5]);
    assert_eq!(p3["has_more"], false);
    assert_eq!(p3["next_cursor"], "5");
    assert_eq!(p3["items"][0]["data"]["email"], "u4@acme.example");

    // At the end: nothing new, the cursor stays; a new event comes next.
    let (_, p4) = a.get("/events?after=5").await;
    assert_eq!(seqs(&p4), Vec::<i64>::new());
    assert_eq!(p4["next_cursor"], "5");
    app.create_user(user("late@acme.example")).await;
    let (_, p5) = a.get("/events?after=5").await;
    assert_eq!(seqs(&p5), vec![6]);
    assert_eq!(p5["items"][0]["data"]["email"], "late@acme.example");

    // Bad input is a clear error.
    let (status, body) = a.get("/events?type=account.exploded").await;
    crate::admin::assert_admin_error(status, &body, 400, "invalid_request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("account.exploded")
    );
    let (status, body) = a.get("/events?after=abc").await;
    crate::admin::assert_admin_error(status, &body, 400, "invalid_cursor");
    let (status, body) = a.get("/events?after=-1").await;
    crate::admin::assert_admin_error(status, &body, 400, "invalid_cursor");
}

#[tokio::test]
async fn events_belong_to_the_organization_the_trust_model_names() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let b = admin(&app, "beta").await;
    app.verify_domain("acme.example").await;
    let beta = app.other_directory("beta", "okta").await;

    // Beta's directory creates an account on acme's verified domain: the
    // account is acme's (default's) to hear about; beta's group is beta's.
    beta.create_user(user("cross@acme.example")).await;
    let (status, g) = beta
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Beta team"}),
        )
        .await;
    assert_eq!(status, 201, "{g}");

    let mine = all_events(&a).await;
    assert_eq!(types(&mine), vec!["account.created"], "{mine:?}");
    assert_eq!(mine[0]["data"]["email"], "cross@acme.example");
    assert_eq!(mine[0]["directory_id"], beta.directory_id.to_string());
    let theirs = all_events(&b).await;
    assert_eq!(types(&theirs), vec!["group.created"], "{theirs:?}");
    assert_eq!(theirs[0]["organization_id"], b.org_id);
    // Each organization numbers its own events from 1.
    assert_eq!(mine[0]["seq"], 1);
    assert_eq!(theirs[0]["seq"], 1);

    // An account no organization manages has no account events.
    beta.create_user(user("someone@nowhere.example")).await;
    assert_eq!(all_events(&a).await.len(), 1);
    assert_eq!(types(&all_events(&b).await), vec!["group.created"]);

    // Another organization's key reads nothing of this feed.
    let (status, _) = b
        .send(Method::GET, &format!("/../{}/events", a.org_id), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn admin_and_site_changes_are_events_with_their_actor() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let s = site(&app, &a, "acme.example.net").await;
    crate::admin::verify_domain(&a, "acme.example").await;
    let (status, m) = a
        .post(
            &format!("/sites/{s}/users"),
            json!({"email": "ann@acme.example"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["account_id"].as_str().unwrap().to_owned();
    let (status, body) = a
        .put(
            &format!("/sites/{s}/users/{id}/products/jira"),
            json!({"role": "user"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = a
        .post(&format!("/sites/{s}/users/{id}/suspend"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = a
        .post(&format!("/accounts/{id}/deactivate"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = a.delete(&format!("/sites/{s}/users/{id}")).await;
    assert_eq!(status, 204, "{body}");

    let events = all_events(&a).await;
    let changes: Vec<&Value> = events
        .iter()
        .filter(|e| !e["type"].as_str().unwrap().starts_with("account.created"))
        .collect();
    assert_eq!(
        changes
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        vec![
            "site_membership.invited",
            "product_access.granted",
            "site_membership.suspended",
            "account.deactivated",
            "product_access.revoked",
            "site_membership.removed",
        ],
        "{events:?}"
    );
    for e in &changes {
        assert!(
            e["actor"].as_str().unwrap().starts_with("admin_key:"),
            "{e}"
        );
        assert_eq!(e["data"]["account_id"], id, "{e}");
    }
    assert_eq!(changes[0]["data"]["site_id"], s);
    assert_eq!(changes[1]["data"]["product"], "jira");
    assert_eq!(changes[1]["data"]["via"], "direct");
}

#[tokio::test]
async fn verifying_a_domain_claims_accounts_with_an_event_each() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let beta = app.other_directory("beta", "okta").await;
    beta.create_user(user("early@acme.example")).await;
    assert_eq!(all_events(&a).await, Vec::<Value>::new());
    crate::admin::verify_domain(&a, "acme.example").await;
    let events = all_events(&a).await;
    assert_eq!(types(&events), vec!["account.claimed"], "{events:?}");
    assert_eq!(events[0]["data"]["email"], "early@acme.example");
    assert!(
        events[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("admin_key:")
    );
}

#[tokio::test]
async fn retention_deletes_old_events_in_batches() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    app.verify_domain("acme.example").await;
    for i in 0..3 {
        app.create_user(user(&format!("r{i}@acme.example"))).await;
    }
    let store = scim_server::startup::open_store(&app.settings)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let kept = scim_server::store::events::apply_retention(&store, now, 30)
        .await
        .unwrap();
    assert_eq!(kept, 0, "nothing is 30 days old yet");
    assert_eq!(all_events(&a).await.len(), 3);
    let never =
        scim_server::store::events::apply_retention(&store, now + chrono::Duration::days(400), 0)
            .await
            .unwrap();
    assert_eq!(never, 0, "0 keeps events for ever");
    let later = now + chrono::Duration::days(31);
    let gone =
        scim_server::store::events::delete_before(&store, later - chrono::Duration::days(30), 2)
            .await
            .unwrap();
    assert_eq!(gone, 3);
    let (_, page) = a.get("/events?after=3").await;
    assert_eq!(page["items"], json!([]));
    store.close().await;
    // The sequence goes on where it was: a consumer's cursor stays valid.
    app.create_user(user("after@acme.example")).await;
    let (_, page) = a.get("/events?after=3").await;
    assert_eq!(page["items"][0]["seq"], 4, "{page}");
}

#[tokio::test]
async fn retention_deletes_only_the_expired_oldest_and_numbering_goes_on() {
    use sea_orm::{ConnectionTrait, Statement};
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    app.verify_domain("acme.example").await;
    for i in 0..5 {
        app.create_user(user(&format!("o{i}@acme.example"))).await;
    }
    let store = scim_server::startup::open_store(&app.settings)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    // Events 1-3 were recorded 40 days ago, 4 and 5 today.
    let sql = match store.backend() {
        sea_orm::DbBackend::Postgres => "UPDATE events SET occurred_at = $1 WHERE seq <= 3",
        _ => "UPDATE events SET occurred_at = ?1 WHERE seq <= 3",
    };
    store
        .writer()
        .execute_raw(Statement::from_sql_and_values(
            store.backend(),
            sql,
            [(now - chrono::Duration::days(40)).into()],
        ))
        .await
        .unwrap();
    let gone =
        scim_server::store::events::delete_before(&store, now - chrono::Duration::days(30), 2)
            .await
            .unwrap();
    assert_eq!(gone, 3, "the three expired events, two batches");
    let seqs = |events: Vec<Value>| -> Vec<i64> {
        events.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
    };
    assert_eq!(seqs(all_events(&a).await), vec![4, 5]);
    // Nothing more is expired: a second pass deletes nothing.
    let again = scim_server::store::events::apply_retention(&store, now, 30)
        .await
        .unwrap();
    assert_eq!(again, 0);
    // Everything gone: the numbers go on after the last deleted one.
    let all =
        scim_server::store::events::delete_before(&store, now + chrono::Duration::days(1), 1000)
            .await
            .unwrap();
    assert_eq!(all, 2);
    store.close().await;
    app.create_user(user("later@acme.example")).await;
    assert_eq!(seqs(all_events(&a).await), vec![6]);
}

#[tokio::test]
async fn concurrent_writes_get_gapless_unique_sequence_numbers() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    app.verify_domain("acme.example").await;
    let writes = (0..12).map(|i| {
        let app = &app;
        async move {
            let (status, body) = app
                .post("/Users", user(&format!("c{i}@acme.example")))
                .await;
            assert_eq!(status, 201, "{body}");
        }
    });
    futures_util::future::join_all(writes).await;
    let events = all_events(&a).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=12).collect::<Vec<_>>(), "{events:?}");
    let mut emails: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["email"].as_str().unwrap())
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 12);
}

#[tokio::test]
async fn a_reader_polling_during_concurrent_writes_misses_no_event() {
    // Sequence order must be commit order: were seq N+1 visible before
    // N, a reader would move its cursor past N and never see it.
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    app.verify_domain("acme.example").await;
    let n = 40;
    let done = std::sync::atomic::AtomicBool::new(false);
    let writes = async {
        let posts = (0..n).map(|i| {
            let app = &app;
            async move {
                let (status, body) = app
                    .post("/Users", user(&format!("p{i}@acme.example")))
                    .await;
                assert_eq!(status, 201, "{body}");
            }
        });
        futures_util::future::join_all(posts).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let reader = async {
        let mut seen = vec![];
        loop {
            // Read once more after the last write: then everything is in.
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let cursor = seen.last().copied().unwrap_or(0);
            let evs = events_after(&a, cursor).await;
            seen.extend(evs.iter().map(|e| e["seq"].as_i64().unwrap()));
            if finished {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    };
    let ((), seen) = tokio::join!(writes, reader);
    assert_eq!(seen, (1..=n).collect::<Vec<i64>>());
}

#[tokio::test]
async fn events_are_stamped_with_their_origin_as_recorded_and_rollbacks_leave_no_gap() {
    use scim_server::store::audit::Actor;
    use scim_server::store::events::{self, EventType, NewEvent, Origin};
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let org: uuid::Uuid = a.org_id.parse().unwrap();
    let store = scim_server::startup::open_store(&app.settings)
        .await
        .unwrap();
    let origin = Origin::new(
        Actor::Directory(app.directory_id),
        Some("req-origin".into()),
    );
    let event = |n: i32| NewEvent::new(org, EventType::GroupUpdated, json!({"n": n}));

    let tx = store.begin_write(&origin).await.unwrap();
    events::record(&tx, event(1)).await.unwrap();
    // A failed /Bulk operation: its savepoint rolls back with its event.
    let sp = tx.savepoint().await.unwrap();
    events::record(&sp, event(2)).await.unwrap();
    sp.rollback().await.unwrap();
    let sp = tx.savepoint().await.unwrap();
    events::record_many(&sp, vec![event(3), event(4)])
        .await
        .unwrap();
    sp.commit().await.unwrap();
    events::flush(&tx).await.unwrap();
    tx.commit().await.unwrap();
    // A failed request: nothing of it stays, its number neither.
    let tx = store.begin_write(&origin).await.unwrap();
    events::record(&tx, event(5)).await.unwrap();
    tx.rollback().await.unwrap();
    store.close().await;
    let (status, body) = app
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "After"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let events = all_events(&a).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "{events:?}");
    let ns: Vec<&Value> = events[..3].iter().map(|e| &e["data"]["n"]).collect();
    assert_eq!(ns, vec![&json!(1), &json!(3), &json!(4)]);
    for e in &events[..3] {
        assert_eq!(e["actor"], format!("directory:{}", app.directory_id), "{e}");
        assert_eq!(e["request_id"], "req-origin", "{e}");
        assert_eq!(e["directory_id"], app.directory_id.to_string(), "{e}");
    }
    let after = &events[3];
    assert_eq!(after["type"], "group.created");
    assert_eq!(after["actor"], format!("directory:{}", app.directory_id));
    assert!(after["request_id"].is_string(), "{after}");
    assert_ne!(after["request_id"], "req-origin", "{after}");
}

/// The events after `after` (the admin feed, page by page).
async fn events_after(a: &crate::admin::Admin, after: i64) -> Vec<Value> {
    let mut out = vec![];
    let mut cursor = after.to_string();
    loop {
        let (status, page) = a.get(&format!("/events?limit=1000&after={cursor}")).await;
        assert_eq!(status, 200, "{page}");
        out.extend(page["items"].as_array().unwrap().iter().cloned());
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        if page["has_more"] == false {
            return out;
        }
    }
}

fn last_seq(events: &[Value], before: i64) -> i64 {
    events.last().map_or(before, |e| e["seq"].as_i64().unwrap())
}

/// (type, account_id) of each event, sorted, for comparing sets.
fn by_member(events: &[Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["account_id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Site memberships of the accounts, as (account id, status).
async fn memberships(app: &TestApp, site_id: &str) -> Vec<(String, String)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = app.db().await;
    let site: uuid::Uuid = site_id.parse().unwrap();
    let mut v: Vec<(String, String)> = entity::site_membership::Entity::find()
        .filter(entity::site_membership::Column::SiteId.eq(site))
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.account_id.to_string(), m.status.to_string()))
        .collect();
    let _ = db.close().await;
    v.sort();
    v
}

#[tokio::test]
async fn whole_group_grants_give_each_member_its_own_events() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let s = site(&app, &a, "acme.example.net").await;
    app.verify_domain("acme.example").await;
    let mut scim_ids = vec![];
    for i in 0..3 {
        scim_ids.push(app.create_user(user(&format!("g{i}@acme.example"))).await);
    }
    let accounts: Vec<String> = {
        let mut v = vec![];
        for i in 0..3 {
            v.push(
                account_of(&app, &format!("g{i}@acme.example"))
                    .await
                    .id
                    .to_string(),
            );
        }
        v
    };
    // g2 was invited to the site directly: the group never owns that
    // membership.
    let (status, m) = a
        .post(
            &format!("/sites/{s}/users"),
            json!({"email": "g2@acme.example"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let members: Vec<Value> = scim_ids.iter().map(|id| json!({"value": id})).collect();
    let (status, g) = app
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Jira people", "members": members}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let mut seen = last_seq(&all_events(&a).await, 0);

    // The grant: every member gets its access event, each membership the
    // grant started its activation, in the grant's transaction.
    let (status, grant) = a
        .post(
            &format!("/groups/{gid}/grants"),
            json!({"site_id": s, "product": "jira"}),
        )
        .await;
    assert_eq!(status, 200, "{grant}");
    let jira = grant["id"].as_str().unwrap().to_owned();
    let evs = events_after(&a, seen).await;
    let mut want: Vec<(String, String)> = accounts
        .iter()
        .map(|acc| ("product_access.granted".to_owned(), acc.clone()))
        .chain(
            accounts[..2]
                .iter()
                .map(|acc| ("site_membership.activated".to_owned(), acc.clone())),
        )
        .collect();
    want.sort();
    assert_eq!(by_member(&evs), want, "{evs:?}");
    for e in &evs {
        assert_eq!(e["data"]["via"], "group", "{e}");
        assert_eq!(e["data"]["group_id"], gid.as_str(), "{e}");
        assert_eq!(e["data"]["site_id"], s.as_str(), "{e}");
        assert!(
            e["actor"].as_str().unwrap().starts_with("admin_key:"),
            "{e}"
        );
        assert_eq!(e["request_id"], evs[0]["request_id"], "one request: {e}");
        if e["type"] == "product_access.granted" {
            assert_eq!(e["data"]["product"], "jira", "{e}");
            assert_eq!(e["data"]["role"], "user", "{e}");
        }
    }
    let active = |accs: &[String]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = accs
            .iter()
            .map(|a| {
                (
                    a.clone(),
                    if *a == accounts[2] {
                        "invited"
                    } else {
                        "active"
                    }
                    .to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(memberships(&app, &s).await, active(&accounts));
    seen = last_seq(&evs, seen);

    // The same grant again changes nothing: no event.
    let (status, _) = a
        .post(
            &format!("/groups/{gid}/grants"),
            json!({"site_id": s, "product": "jira"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(events_after(&a, seen).await, Vec::<Value>::new());

    // A new role: each member hears it, with the role it had.
    let (status, _) = a
        .post(
            &format!("/groups/{gid}/grants"),
            json!({"site_id": s, "product": "jira", "role": "admin"}),
        )
        .await;
    assert_eq!(status, 200);
    let evs = events_after(&a, seen).await;
    assert_eq!(evs.len(), 3, "{evs:?}");
    for e in &evs {
        assert_eq!(e["type"], "product_access.granted", "{e}");
        assert_eq!(e["data"]["role"], "admin", "{e}");
        assert_eq!(e["data"]["previous_role"], "user", "{e}");
    }
    seen = last_seq(&evs, seen);

    // A second grant on the same site, then the first one removed: access
    // to Jira ends for each member, memberships stay (another path).
    let (status, _) = a
        .post(
            &format!("/groups/{gid}/grants"),
            json!({"site_id": s, "product": "confluence"}),
        )
        .await;
    assert_eq!(status, 200);
    seen = last_seq(&events_after(&a, seen).await, seen);
    let (status, body) = a.delete(&format!("/groups/{gid}/grants/{jira}")).await;
    assert_eq!(status, 204, "{body}");
    let evs = events_after(&a, seen).await;
    let want: Vec<(String, String)> = {
        let mut v: Vec<(String, String)> = accounts
            .iter()
            .map(|acc| ("product_access.revoked".to_owned(), acc.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(by_member(&evs), want, "{evs:?}");
    assert!(
        evs.iter().all(|e| e["data"]["product"] == "jira"),
        "{evs:?}"
    );
    assert_eq!(memberships(&app, &s).await, active(&accounts));
    seen = last_seq(&evs, seen);
    let (status, body) = a.delete(&format!("/groups/{gid}/grants/{jira}")).await;
    crate::admin::assert_admin_error(status, &body, 404, "not_found");
    assert_eq!(events_after(&a, seen).await, Vec::<Value>::new());

    // The group is deleted: each member leaves with its events; the
    // memberships the group started end (not the direct invite), and
    // `group.deleted` comes last.
    let (status, _) = app.delete(&format!("/Groups/{gid}")).await;
    assert_eq!(status, 204);
    let evs = events_after(&a, seen).await;
    assert_eq!(evs.last().unwrap()["type"], "group.deleted", "{evs:?}");
    let mut want: Vec<(String, String)> = accounts
        .iter()
        .flat_map(|acc| {
            [
                ("group.member_removed".to_owned(), acc.clone()),
                ("product_access.revoked".to_owned(), acc.clone()),
            ]
        })
        .chain(
            accounts[..2]
                .iter()
                .map(|acc| ("site_membership.removed".to_owned(), acc.clone())),
        )
        .chain([("group.deleted".to_owned(), String::new())])
        .collect();
    want.sort();
    assert_eq!(by_member(&evs), want, "{evs:?}");
    assert_eq!(
        memberships(&app, &s).await,
        vec![(accounts[2].clone(), "invited".to_owned())]
    );
}

#[tokio::test]
async fn a_grant_to_a_large_group_records_every_member_in_pages() {
    // More members than one page (1,000) of the whole-group walk.
    const N: usize = 1_100;
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let s = site(&app, &a, "acme.example.net").await;
    let mut ids = vec![];
    for chunk in (0..N).collect::<Vec<_>>().chunks(550) {
        let ops: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("u{i}"), "data": user(&format!("big{i}@example.com"))}))
            .collect();
        let (status, res) = app
            .send(
                Method::POST,
                "/Bulk",
                Some(json!({"schemas": [BULK_REQUEST], "Operations": ops})),
            )
            .await;
        assert_eq!(status, 200, "{res}");
        for op in res["Operations"].as_array().unwrap() {
            assert_eq!(op["status"], "201", "{op}");
            ids.push(
                op["location"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    let members: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
    let (status, g) = app
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Everyone", "members": members}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_owned();
    let seen = last_seq(&all_events(&a).await, 0);

    let (status, grant) = a
        .post(
            &format!("/groups/{gid}/grants"),
            json!({"site_id": s, "product": "trello"}),
        )
        .await;
    assert_eq!(status, 200, "{grant}");
    let evs = events_after(&a, seen).await;
    let count = |t: &str| evs.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("product_access.granted"), N, "one each");
    assert_eq!(count("site_membership.activated"), N);
    assert_eq!(evs.len(), 2 * N);
    let who: std::collections::HashSet<&str> = evs
        .iter()
        .map(|e| e["data"]["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(who.len(), N, "every member, none twice");
    let seqs: Vec<i64> = evs.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (seen + 1..=seen + 2 * N as i64).collect::<Vec<_>>());
    assert_eq!(memberships(&app, &s).await.len(), N);
    let seen = last_seq(&evs, seen);

    let (status, _) = app.delete(&format!("/Groups/{gid}")).await;
    assert_eq!(status, 204);
    let evs = events_after(&a, seen).await;
    let count = |t: &str| evs.iter().filter(|e| e["type"] == t).count();
    assert_eq!(count("group.member_removed"), N);
    assert_eq!(count("product_access.revoked"), N);
    assert_eq!(count("site_membership.removed"), N);
    assert_eq!(count("group.deleted"), 1);
    assert_eq!(memberships(&app, &s).await, vec![]);
}

/// Lines a child process prints, as they come.
fn line_reader(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next `n` lines, waiting at most 20 s for them.
async fn next_lines(rx: &std::sync::mpsc::Receiver<String>, n: usize) -> Vec<Value> {
    let mut out = vec![];
    let started = std::time::Instant::now();
    while out.len() < n {
        match rx.try_recv() {
            Ok(l) => out.push(serde_json::from_str(&l).unwrap()),
            Err(_) => {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(20),
                    "only {} of {n} lines came: {out:?}",
                    out.len()
                );
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    out
}

#[tokio::test]
async fn events_tail_follow_prints_new_events_once_in_order_and_stops_on_ctrl_c() {
    use std::process::{Command, Stdio};
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    app.create_user(user("t0@acme.example")).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_scim-server"))
        .args([
            "events",
            "tail",
            "--org",
            "default",
            "--follow",
            "--poll-ms",
            "50",
            "--type",
            "account.created,account.deactivated",
        ])
        .env("DATABASE_URL", app.settings.database_url.expose())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = line_reader(child.stdout.take().unwrap());
    let first = next_lines(&rx, 1).await;
    assert_eq!(first[0]["seq"], 1, "{first:?}");
    assert_eq!(first[0]["data"]["email"], "t0@acme.example");

    // Events the filter skips (group.*) never come out; the matching ones
    // do, once each, in order, while the tail waits.
    let id = app.create_user(user("t1@acme.example")).await;
    let (status, g) = app
        .post(
            "/Groups",
            json!({"schemas": [GROUP_SCHEMA], "displayName": "Skipped"}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "path": "active", "value": false}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for i in 2..5 {
        app.create_user(user(&format!("t{i}@acme.example"))).await;
    }
    let got = next_lines(&rx, 5).await;
    assert_eq!(
        got.iter()
            .map(|e| (
                e["type"].as_str().unwrap(),
                e["data"]["email"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        vec![
            ("account.created", "t1@acme.example"),
            ("account.deactivated", "t1@acme.example"),
            ("account.created", "t2@acme.example"),
            ("account.created", "t3@acme.example"),
            ("account.created", "t4@acme.example"),
        ]
    );
    let seqs: Vec<i64> = got.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seqs, vec![2, 4, 5, 6, 7], "group.created (3) skipped");

    // Ctrl-C: a clean exit (status 0), nothing printed twice.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("events tail --follow did not stop on SIGINT")
    });
    assert!(status.success(), "{status:?}");
    let rest: Vec<String> = rx.try_iter().collect();
    assert_eq!(rest, Vec::<String>::new(), "nothing more, nothing twice");
}

#[tokio::test]
async fn events_enabled_0_records_nothing_and_the_default_records() {
    use crate::processes::{Proc, TOKEN, directory_base};
    use sea_orm::{EntityTrait, PaginatorTrait};
    let url = fresh_database_url().await;
    let client = crate::helpers::http_client();
    for (env, name, want) in [
        (vec![("SCIM_EVENTS_ENABLED", "0")], "Quiet", 0),
        (vec![], "Heard", 1),
    ] {
        let p = Proc::start(&url, &env).await;
        let base = directory_base(&url, &p.address).await;
        let res = client
            .post(format!("{base}/Groups"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(json!({"displayName": name}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        drop(p);
        let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
        let n = entity::event::Entity::find().count(&db).await.unwrap();
        let _ = db.close().await;
        assert_eq!(n, want, "{name}");
    }
}
