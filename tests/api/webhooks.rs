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
struct Receiver {
    got: Mutex<Vec<Received>>,
    /// Statuses to answer, in order; then 200.
    script: Mutex<VecDeque<u16>>,
}

async fn receive(req: HttpRequest, body: web::Bytes, r: web::Data<Receiver>) -> HttpResponse {
    let h = |k: &str| {
        req.headers()
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    r.got.lock().unwrap().push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp").parse().unwrap_or(-1),
        signature: h("webhook-signature"),
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

/// Starts a receiver on 127.0.0.1 answering `script` first; its URL.
async fn start_receiver(script: &[u16]) -> (String, web::Data<Receiver>) {
    let r = web::Data::new(Receiver::default());
    r.script.lock().unwrap().extend(script.iter().copied());
    let data = r.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
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
    let d = scim_server::webhooks::Deliverer::new(true);
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
