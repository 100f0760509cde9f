//! Webhooks: signed, in-order, at-least-once delivery of an organization's
//! events to a real HTTP receiver on loopback that the test starts; time
//! is the test's (the delivery step takes `now`), so no real waits.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::admin::{Admin, admin, assert_admin_error};
use crate::helpers::*;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

/// What the receiver got: (headers we care about, body).
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
}

#[derive(Default)]
pub struct Receiver {
    got: Mutex<Vec<Received>>,
    /// Statuses to answer, in order; then 200.
    script: Mutex<VecDeque<u16>>,
    /// The first delivery of this event (seq) is taken in and never
    /// answered (the sender is killed meanwhile); `held` says it came.
    hold: Mutex<Option<i64>>,
    held: std::sync::atomic::AtomicBool,
    /// The peer (client) address of each request, in order.
    peers: Mutex<Vec<Option<std::net::SocketAddr>>>,
}

impl Receiver {
    /// How many deliveries came.
    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, r: web::Data<Receiver>) -> HttpResponse {
    let h = |k: &str| {
        req.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let received = Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp").parse().unwrap_or(-1),
        signature: h("webhook-signature"),
        body: String::from_utf8(body.to_vec()).unwrap(),
    };
    let seq = serde_json::from_str::<Value>(&received.body)
        .ok()
        .and_then(|b| b["seq"].as_i64());
    r.got.lock().unwrap().push(received);
    r.peers.lock().unwrap().push(req.peer_addr());
    let hold = {
        let mut h = r.hold.lock().unwrap();
        let now = seq.is_some() && *h == seq;
        if now {
            *h = None;
        }
        now
    };
    if hold {
        r.held.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
    let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// Starts a receiver on 127.0.0.1 answering `script` first; its URL.
pub async fn start_receiver(script: &[u16]) -> (String, web::Data<Receiver>) {
    let r = web::Data::new(Receiver::default());
    r.script.lock().unwrap().extend(script.iter().copied());
    let data = r.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (format!("http://127.0.0.1:{port}/hook"), r)
}

async fn app_for_webhooks() -> (TestApp, Admin, scim_server::store::Store) {
    let app = spawn_app_with(|s| {
        s.webhook_poll_ms = 0;
        s.webhook_allow_insecure = true;
    })
    .await;
    let a = admin(&app, "default").await;
    app.verify_domain("acme.example").await;
    let store = scim_server::startup::open_store(&app.settings)
        .await
        .unwrap();
    (app, a, store)
}

async fn step(store: &scim_server::store::Store, at: chrono::DateTime<Utc>) -> bool {
    let d = scim_server::webhooks::Deliverer::new(true).unwrap();
    scim_server::webhooks::deliver_once(store, &d, at)
        .await
        .unwrap()
}

fn seq_of(r: &Received) -> i64 {
    serde_json::from_str::<Value>(&r.body).unwrap()["seq"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn deliveries_are_signed_in_order_and_retried_after_errors() {
    let (app, a, store) = app_for_webhooks().await;
    app.create_user(user("before@acme.example")).await;
    let (url, r) = start_receiver(&[500]).await;
    let (status, w) = a
        .post(
            "/webhooks",
            json!({"url": url, "types": ["account.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{w}");
    let secret = w["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{w}");
    assert_eq!(w["cursor"], "1", "starts after the events of before: {w}");
    let wid = w["id"].as_str().unwrap().to_owned();
    let (_, listed) = a.get("/webhooks").await;
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");

    app.create_user(user("one@acme.example")).await;
    app.create_user(user("two@acme.example")).await;
    let now = Utc::now();
    assert!(step(&store, now).await, "first attempt");
    assert!(!step(&store, now).await, "not due before its backoff");
    assert!(step(&store, now + Duration::minutes(10)).await);
    assert!(step(&store, now + Duration::minutes(10)).await);
    assert!(
        !step(&store, now + Duration::minutes(10)).await,
        "all delivered"
    );

    let got = r.got.lock().unwrap().clone();
    assert_eq!(
        got.iter().map(seq_of).collect::<Vec<_>>(),
        vec![2, 2, 3],
        "in order, the failed one again: {got:?}"
    );
    let reference = standardwebhooks::Webhook::new(&secret).unwrap();
    for g in &got {
        assert_eq!(
            g.signature,
            reference
                .sign(&g.id, g.timestamp, g.body.as_bytes())
                .unwrap(),
            "{g:?}"
        );
        let body: Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(body["id"], g.id);
        assert_eq!(body["type"], "account.created");
    }
    let body: Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(body["data"]["email"], "two@acme.example");
    assert_eq!(got[0].id, got[1].id, "a retry keeps the webhook-id");

    let (status, att) = a.get(&format!("/webhooks/{wid}/attempts")).await;
    assert_eq!(status, 200, "{att}");
    let att = att["items"].as_array().unwrap();
    assert_eq!(att.len(), 3);
    assert_eq!(att[2]["status_code"], 500);
    assert_eq!(att[2]["success"], false);
    assert_eq!(att[0]["success"], true);
    assert_eq!(att[0]["event_seq"], 3);

    // Manual redelivery from a cursor.
    let (status, w) = a
        .post(&format!("/webhooks/{wid}/redeliver"), json!({"after": 2}))
        .await;
    assert_eq!(status, 200, "{w}");
    assert!(step(&store, now + Duration::minutes(11)).await);
    let got = r.got.lock().unwrap().clone();
    assert_eq!(seq_of(got.last().unwrap()), 3);
    store.close().await;
}

#[tokio::test]
async fn an_endpoint_failing_for_a_day_is_disabled_and_can_be_enabled_again() {
    let (app, a, store) = app_for_webhooks().await;
    let (url, r) = start_receiver(&[500; 64]).await;
    let (status, w) = a.post("/webhooks", json!({"url": url})).await;
    assert_eq!(status, 201, "{w}");
    let wid = w["id"].as_str().unwrap().to_owned();
    app.create_user(user("one@acme.example")).await;
    let t0 = Utc::now();
    let mut t = t0;
    let mut tries = 0;
    while step(&store, t).await {
        tries += 1;
        t += Duration::hours(2);
        assert!(tries < 40, "never disabled");
    }
    let (_, w) = a.get(&format!("/webhooks/{wid}")).await;
    assert_eq!(w["enabled"], false, "{w}");
    assert!(
        w["disabled_reason"].as_str().unwrap().contains("HTTP 500"),
        "{w}"
    );
    assert!(t - t0 >= Duration::hours(24), "retried for a day");
    assert!(tries >= 12, "{tries}");
    assert!(
        !step(&store, t + Duration::days(2)).await,
        "disabled: no more tries"
    );
    let n = r.got.lock().unwrap().len();

    r.script.lock().unwrap().clear();
    let (status, w) = a
        .patch(&format!("/webhooks/{wid}"), json!({"enabled": true}))
        .await;
    assert_eq!(status, 200, "{w}");
    assert!(step(&store, t + Duration::days(2)).await);
    assert_eq!(r.got.lock().unwrap().len(), n + 1);
    let (_, att) = a.get(&format!("/webhooks/{wid}/attempts?limit=1")).await;
    assert_eq!(att["items"][0]["success"], true, "{att}");
    store.close().await;
}

#[tokio::test]
async fn webhook_targets_must_be_https_and_public() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    for (url, why) in [
        ("http://hooks.example.com/x", "https"),
        ("http://127.0.0.1:9/x", "https"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://user:pw@hooks.example.com/", "credentials"),
    ] {
        let (status, body) = a.post("/webhooks", json!({"url": url})).await;
        assert_admin_error(status, &body, 400, "invalid_request");
        assert!(body["message"].as_str().unwrap().contains(why), "{body}");
    }
    let (status, body) = a
        .post(
            "/webhooks",
            json!({"url": "https://hooks.example.com/x", "types": ["account.exploded"]}),
        )
        .await;
    assert_admin_error(status, &body, 400, "invalid_request");
    let (_, listed) = a.get("/webhooks").await;
    assert_eq!(listed["items"], json!([]));
    let (status, w) = a
        .post("/webhooks", json!({"url": "https://hooks.example.com/x"}))
        .await;
    assert_eq!(status, 201, "{w}");
    let wid = w["id"].as_str().unwrap();
    let other = admin(&app, "beta").await;
    let (status, _) = other.get(&format!("/webhooks/{wid}")).await;
    assert_eq!(status, 404, "another organization's webhook");
    let (status, _) = a.delete(&format!("/webhooks/{wid}")).await;
    assert_eq!(status, 204);
    let (status, _) = a.get(&format!("/webhooks/{wid}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_cli_manages_webhooks_like_the_api() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    app.cli(&[
        "webhook",
        "create",
        "--org",
        "default",
        "--url",
        "https://hooks.example.com/x",
        "--type",
        "group.created",
    ])
    .await;
    let (_, listed) = a.get("/webhooks").await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["types"], json!(["group.created"]));
    let id = items[0]["id"].as_str().unwrap().to_owned();
    app.cli(&["webhook", "list", "--org", "default"]).await;
    app.cli(&["webhook", "delete", "--org", "default", "--id", &id])
        .await;
    let (_, listed) = a.get("/webhooks").await;
    assert_eq!(listed["items"], json!([]));
}

#[tokio::test]
async fn one_client_keeps_its_connection_and_still_refuses_private_targets() {
    let (app, a, store) = app_for_webhooks().await;
    let (url, r) = start_receiver(&[]).await;
    let (status, w) = a.post("/webhooks", json!({"url": url})).await;
    assert_eq!(status, 201, "{w}");
    let wid = w["id"].as_str().unwrap().to_owned();
    for i in 0..3 {
        app.create_user(user(&format!("c{i}@acme.example"))).await;
    }
    // One deliverer (as the worker has): one connection for all three.
    let d = scim_server::webhooks::Deliverer::new(true).unwrap();
    let now = Utc::now();
    while scim_server::webhooks::deliver_once(&store, &d, now)
        .await
        .unwrap()
    {}
    let got = r.got.lock().unwrap().clone();
    assert_eq!(got.iter().map(seq_of).collect::<Vec<_>>(), vec![1, 2, 3]);
    let peers = r.peers.lock().unwrap().clone();
    assert!(peers[0].is_some(), "{peers:?}");
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one connection, kept open: {peers:?}"
    );

    // The guard is in the shared client: a host name resolving to
    // loopback is refused before any connection, and so is an IP literal.
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    let strict = scim_server::webhooks::Deliverer::new(false).unwrap();
    for (i, (target, why)) in [
        (
            format!("http://localhost:{port}/hook"),
            "localhost resolves to",
        ),
        (
            format!("http://127.0.0.1:{port}/hook"),
            "127.0.0.1 is a private, loopback or link-local address",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, body) = a
            .patch(&format!("/webhooks/{wid}"), json!({"url": target}))
            .await;
        assert_eq!(status, 200, "{body}");
        app.create_user(user(&format!("guarded{i}@acme.example")))
            .await;
        assert!(
            scim_server::webhooks::deliver_once(&store, &strict, Utc::now())
                .await
                .unwrap()
        );
        let (_, att) = a.get(&format!("/webhooks/{wid}/attempts?limit=1")).await;
        let last = &att["items"][0];
        assert_eq!(last["success"], false, "{att}");
        assert!(last["status_code"].is_null(), "{att}");
        assert!(
            last["error"].as_str().unwrap().contains(why),
            "{why}: {att}"
        );
        assert!(
            last["error"]
                .as_str()
                .unwrap()
                .contains("private, loopback or link-local"),
            "{att}"
        );
        assert_eq!(
            r.got.lock().unwrap().len(),
            3,
            "nothing reached the receiver"
        );
        // Due again at once for the next target.
        let (status, _) = a
            .patch(&format!("/webhooks/{wid}"), json!({"enabled": true}))
            .await;
        assert_eq!(status, 200);
    }
    store.close().await;
}

#[tokio::test]
async fn a_delivery_cut_by_kill_9_is_delivered_again_after_the_restart_in_order() {
    use crate::processes::{Proc, TOKEN, directory_base};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    use std::sync::atomic::Ordering;
    let url = crate::helpers::fresh_database_url().await;
    let env = [
        ("SCIM_WEBHOOK_ALLOW_INSECURE", "1"),
        ("SCIM_WEBHOOK_POLL_MS", "50"),
        // A killed worker's claim expires after 4 s (its deliveries time
        // out after 2 s).
        ("SCIM_WEBHOOK_LEASE_SECS", "4"),
    ];
    let p = Proc::start(&url, &env).await;
    let (hook, r) = start_receiver(&[]).await;
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    let org = scim_server::store::directories::org_by_name(&db, "default")
        .await
        .unwrap();
    let secret = scim_server::domain::webhook::WebhookSecret::generate().expose();
    let ep = scim_server::store::webhooks::create(&db, org.id, &hook, &secret, None, 0)
        .await
        .unwrap();
    let attempts = || async {
        entity::webhook_attempt::Entity::find()
            .filter(entity::webhook_attempt::Column::EndpointId.eq(ep.id))
            .order_by_asc(entity::webhook_attempt::Column::Id)
            .all(&db)
            .await
            .unwrap()
            .iter()
            .map(|a| (a.event_seq, a.success))
            .collect::<Vec<_>>()
    };
    let base = directory_base(&url, &p.address).await;
    let client = crate::helpers::http_client();
    let scim = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
    };
    // Event 1 is delivered and committed.
    let res = scim("/Groups", json!({"displayName": "One"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let started = std::time::Instant::now();
    while attempts().await != vec![(1, true)] {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "event 1 was not delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Events 2 and 3 commit together (one /Bulk request), so one claim
    // takes both: 2 is delivered, then the receiver takes in 3 and never
    // answers; the server is killed (SIGKILL) before it commits either.
    *r.hold.lock().unwrap() = Some(3);
    let res = scim(
        "/Bulk",
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"displayName": "Two"}},
            {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"displayName": "Three"}},
        ]}),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let started = std::time::Instant::now();
    while !r.held.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "event 3 never reached the receiver"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(p);
    let cut = r.got.lock().unwrap().len();
    assert_eq!(
        r.got.lock().unwrap().iter().map(seq_of).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(
        attempts().await,
        vec![(1, true)],
        "nothing of the cut claim was committed"
    );

    // Restarted: once the dead worker's claim expires, 2 and 3 go again
    // (same webhook-ids: at least once), in order; nothing is lost.
    let p = Proc::start(&url, &env).await;
    let started = std::time::Instant::now();
    while r.got.lock().unwrap().len() < cut + 2 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "not redelivered: {:?}",
            r.got.lock().unwrap()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(p);
    let got = r.got.lock().unwrap().clone();
    assert_eq!(
        got.iter().map(seq_of).collect::<Vec<_>>(),
        vec![1, 2, 3, 2, 3]
    );
    assert_eq!(got[1].id, got[3].id, "the same webhook-id: {got:?}");
    assert_eq!(got[2].id, got[4].id, "the same webhook-id: {got:?}");
    let reference = standardwebhooks::Webhook::new(&secret).unwrap();
    for g in &got {
        assert_eq!(
            g.signature,
            reference
                .sign(&g.id, g.timestamp, g.body.as_bytes())
                .unwrap()
        );
    }
    assert_eq!(attempts().await, vec![(1, true), (2, true), (3, true)]);
    let ep = entity::webhook_endpoint::Entity::find_by_id(ep.id)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ep.cursor_seq, 3);
    let _ = db.close().await;
}
