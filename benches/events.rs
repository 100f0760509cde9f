//! Change events: what recording them costs a SCIM write, and how fast the
//! webhook worker delivers them. `cargo bench --bench events`
//! (`BENCH_POSTS`, default 10,000 per side; `BENCH_ROUND`, default 10;
//! `BENCH_EVENTS`, default 20,000; PostgreSQL with
//! `BENCH_DATABASE_URL=postgres://…`).
//!
//! 1. **POST /Users, events on vs off.** Two release servers on one fresh
//!    database whose email domain is verified (so each POST records an
//!    `account.created`), the second started with `SCIM_EVENTS_ENABLED=0`.
//!    One connection; requests alternate between the two in rounds of
//!    `BENCH_ROUND` (after 200 each to warm up), so whatever else the
//!    machine does hits both alike. Reported: latency (p50, mean) and each
//!    server's CPU time per POST (`/proc/<pid>/stat`), the work an event
//!    adds whatever the machine's other load does to latency.
//! 2. **Delivery throughput.** `BENCH_EVENTS` events recorded (1,000 a
//!    transaction, numbered as the server numbers them), one webhook
//!    endpoint from the start of the feed, a receiver in this process on
//!    loopback answering 204; a server with its worker is started and the
//!    time from the first event received to the last is measured. Every
//!    event must arrive once, in order.
//!
//! Client, receiver and server share the machine's cores.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use scim_server::store::audit::Actor;
use scim_server::store::events::{self, EventType, NewEvent, Origin};
use scim_server::store::{Store, directories, webhooks};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn count(store: &Store, sql: &str) -> i64 {
    store
        .writer()
        .query_one_raw(Statement::from_string(store.backend(), sql.to_owned()))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

async fn post_user(http: &reqwest::Client, base: &str, name: &str, samples: Option<&mut Samples>) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": format!("x-{name}"),
        "name": {"givenName": "Event", "familyName": "Bench"},
        "displayName": "Event Bench",
        "emails": [{"value": name, "type": "work", "primary": true}],
        "active": true,
    })
    .to_string();
    let send = || async {
        let res = http
            .post(format!("{base}/Users"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        expect_status(res, 201).await;
    };
    match samples {
        Some(s) => s.time(send).await,
        None => send().await,
    }
}

async fn cost(posts: usize) {
    let url = database_url("events-cost");
    let (store, dir) = prepare(&url).await;
    let org = directories::org_by_name(store.writer(), "default")
        .await
        .unwrap();
    let domain = scim_server::domain::types::DomainName::parse("bench.example").unwrap();
    directories::add_domain(store.writer(), org.id, &domain)
        .await
        .unwrap();
    let tx = store
        .begin_write(&Origin::new(Actor::System("bench"), None))
        .await
        .unwrap();
    directories::verify_domain(&tx, org.id, &domain)
        .await
        .unwrap();
    events::flush(&tx).await.unwrap();
    tx.commit().await.unwrap();
    analyze(&store).await;
    let on = Server::start(&url, dir).await;
    let off = Server::start_with(&url, dir, &[("SCIM_EVENTS_ENABLED", "0")]).await;
    let http = client();
    for i in 0..200 {
        post_user(&http, &on.base, &format!("warm-on-{i}@bench.example"), None).await;
        post_user(
            &http,
            &off.base,
            &format!("warm-off-{i}@bench.example"),
            None,
        )
        .await;
    }
    let mut with = Samples::new("POST /Users, events on");
    let mut without = Samples::new("POST /Users, events off");
    let round = env_num("BENCH_ROUND", 10).max(1);
    let rounds = posts.div_ceil(round);
    let ticks = clock_ticks();
    let cpu_before = (cpu_secs(on.pid(), ticks), cpu_secs(off.pid(), ticks));
    for r in 0..rounds {
        let order = if r % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for events_on in order {
            for i in 0..round {
                let n = r * round + i;
                if events_on {
                    let name = format!("on-{n}@bench.example");
                    post_user(&http, &on.base, &name, Some(&mut with)).await;
                } else {
                    let name = format!("off-{n}@bench.example");
                    post_user(&http, &off.base, &name, Some(&mut without)).await;
                }
            }
        }
    }
    let cpu_ms =
        |pid: u32, before: f64| (cpu_secs(pid, ticks) - before) * 1000.0 / (rounds * round) as f64;
    let (cpu_on, cpu_off) = (
        cpu_ms(on.pid(), cpu_before.0),
        cpu_ms(off.pid(), cpu_before.1),
    );
    let recorded = count(&store, "SELECT COUNT(*) FROM events").await;
    let (rss_on, _) = on.rss_mib();
    let (rss_off, _) = off.rss_mib();
    drop(on);
    drop(off);
    let expected = i64::try_from(rounds * round + 200).unwrap();
    assert_eq!(
        recorded, expected,
        "one event per POST of the events-on server, none from the other"
    );
    let mean = |s: &Samples| {
        s.durations.iter().map(Duration::as_secs_f64).sum::<f64>() / s.durations.len() as f64
            * 1000.0
    };
    println!(
        "POST /Users with events on vs off ({} on {}, one connection, alternating rounds of {round})",
        rounds * round,
        if is_postgres(&url) {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("{}", table_header());
    println!("{}", with.report());
    println!("{}", without.report());
    println!(
        "events cost: p50 {:+.1} %, mean {:+.1} % (mean {:.3} vs {:.3} ms), CPU {:+.1} % ({cpu_on:.3} vs {cpu_off:.3} ms a POST); {recorded} events recorded; RSS {rss_on:.0} / {rss_off:.0} MiB",
        (with.pct(0.5) / without.pct(0.5) - 1.0) * 100.0,
        (mean(&with) / mean(&without) - 1.0) * 100.0,
        mean(&with),
        mean(&without),
        (cpu_on / cpu_off - 1.0) * 100.0,
    );
    store.close().await;
}

/// What the receiver got: each event's `seq`, in arrival order.
#[derive(Default)]
struct Got {
    seqs: Mutex<Vec<i64>>,
    first: Mutex<Option<Instant>>,
}

async fn receive(
    body: actix_web::web::Bytes,
    got: actix_web::web::Data<Got>,
) -> actix_web::HttpResponse {
    let seq = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["seq"].as_i64())
        .unwrap_or(-1);
    got.first.lock().unwrap().get_or_insert_with(Instant::now);
    got.seqs.lock().unwrap().push(seq);
    actix_web::HttpResponse::NoContent().finish()
}

async fn throughput(n: usize) {
    let url = database_url("events-delivery");
    let (store, dir) = prepare(&url).await;
    let org = directories::org_by_name(store.writer(), "default")
        .await
        .unwrap();
    let seeded = Instant::now();
    let origin = Origin::new(Actor::System("bench"), None);
    let mut made = 0;
    while made < n {
        let k = (n - made).min(1000);
        let tx = store.begin_write(&origin).await.unwrap();
        let list = (made..made + k)
            .map(|i| {
                NewEvent::new(
                    org.id,
                    EventType::GroupCreated,
                    json!({"group_id": uuid::Uuid::now_v7(), "display_name": format!("Group {i}"), "external_id": null}),
                )
            })
            .collect();
        events::record_many(&tx, list).await.unwrap();
        events::flush(&tx).await.unwrap();
        tx.commit().await.unwrap();
        made += k;
    }
    let seeded = seeded.elapsed();

    let got = actix_web::web::Data::new(Got::default());
    let data = got.clone();
    let receiver = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .default_service(actix_web::web::to(receive))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = receiver.addrs()[0].port();
    tokio::spawn(receiver.run());
    let secret = scim_server::domain::webhook::WebhookSecret::generate().expose();
    webhooks::create(
        store.writer(),
        org.id,
        &format!("http://127.0.0.1:{port}/hook"),
        &secret,
        None,
        0,
    )
    .await
    .unwrap();
    analyze(&store).await;
    let server = Server::start_with(
        &url,
        dir,
        &[
            ("SCIM_WEBHOOK_ALLOW_INSECURE", "1"),
            ("SCIM_WEBHOOK_POLL_MS", "10"),
        ],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        let len = got.seqs.lock().unwrap().len();
        if len >= n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {len} of {n} events delivered in 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = got.first.lock().unwrap().unwrap().elapsed();
    let (rss, peak) = server.rss_mib();
    drop(server);
    let seqs = got.seqs.lock().unwrap().clone();
    let want: Vec<i64> = (1..=i64::try_from(n).unwrap()).collect();
    assert_eq!(seqs, want, "every event once, in order");
    println!(
        "webhook delivery on {}: {n} events (recorded in {:.1} s) delivered in {:.2} s = {:.0} events/s (one endpoint, receiver on loopback answering 204); server RSS {rss:.0} MiB (peak {peak:.0})",
        if is_postgres(&url) {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        seeded.as_secs_f64(),
        elapsed.as_secs_f64(),
        (n - 1) as f64 / elapsed.as_secs_f64(),
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let posts = env_num("BENCH_POSTS", 10_000);
    let n = env_num("BENCH_EVENTS", 20_000);
    cost(posts).await;
    throughput(n).await;
}
