//! Load test: Okta-like provisioning traffic against the release server
//! at rising concurrency. `cargo bench --bench load` (each level runs
//! `LOAD_SECS`, default 60; `LOAD_LEVELS=1,8,32` to pick levels;
//! PostgreSQL with `BENCH_DATABASE_URL=postgres://…`; `LOAD_INSTANCES=2`
//! starts that many server processes on the one database, as behind a load
//! balancer).
//!
//! Each connection repeats what Okta does for a new hire and a leave:
//! `GET /Users?filter=userName eq "…"` (not found), `POST /Users`,
//! `GET /Users/{id}`, `PATCH active false`, `PATCH active true`,
//! `GET /Users/{id}`. Per level it prints throughput, p50/p99 latency,
//! errors split into 4xx, 5xx, back-pressure (429/503, which IdPs retry)
//! and transport, and the server's RSS. Any 5xx fails the run.
//!
//! With several instances each connection sends the requests of a cycle to
//! the instances in turn (the POST to one, the GET that follows to the
//! next, …), so every check also holds across instances: a user created
//! on one is found, read and patched on another at once.
//!
//! The load generator runs on the same machine as the server (loopback
//! only), so on a small machine the figures are a floor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Users already in the directory, so filters search a populated table.
const SEEDED: usize = 10_000;
/// A cap on one connection's cycles per level, whatever the clock says.
const MAX_CYCLES: u64 = 10_000_000;

#[derive(Default)]
struct Tally {
    /// Latency of every answered request, in microseconds.
    micros: Vec<u32>,
    ok: u64,
    client_errors: u64,
    server_errors: u64,
    back_pressure: u64,
    transport: u64,
    /// First few unexpected answers, to show what went wrong.
    examples: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.micros.extend(other.micros);
        self.ok += other.ok;
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
        self.back_pressure += other.back_pressure;
        self.transport += other.transport;
        for e in other.examples {
            if self.examples.len() < 5 {
                self.examples.push(e);
            }
        }
    }

    fn requests(&self) -> u64 {
        self.ok + self.client_errors + self.server_errors + self.back_pressure + self.transport
    }

    fn pct_ms(&mut self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        let idx = (((self.micros.len() - 1) as f64) * p).round() as usize;
        let (_, v, _) = self.micros.select_nth_unstable(idx);
        f64::from(*v) / 1000.0
    }

    /// Sends one request; the body when it succeeded with `want`.
    async fn send(&mut self, req: reqwest::RequestBuilder, want: u16) -> Option<Value> {
        let t = Instant::now();
        let res = req.send().await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                self.transport += 1;
                self.example(format!("transport: {e}"));
                return None;
            }
        };
        let status = res.status().as_u16();
        let body = res.bytes().await;
        self.micros
            .push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                self.transport += 1;
                self.example(format!("transport (body): {e}"));
                return None;
            }
        };
        match status {
            s if s == want => {
                self.ok += 1;
                Some(serde_json::from_slice(&body).unwrap_or(Value::Null))
            }
            429 | 503 => {
                self.back_pressure += 1;
                None
            }
            s => {
                if s >= 500 {
                    self.server_errors += 1;
                } else {
                    self.client_errors += 1;
                }
                self.example(format!("{s}: {}", String::from_utf8_lossy(&body)));
                None
            }
        }
    }

    fn example(&mut self, e: String) {
        if self.examples.len() < 5 {
            self.examples.push(e);
        }
    }
}

/// One connection's traffic until `deadline`: request `k` of a cycle goes
/// to instance `(conn + k) % bases.len()`.
async fn connection(bases: Vec<String>, level: usize, conn: usize, deadline: Instant) -> Tally {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let turn = std::sync::atomic::AtomicUsize::new(conn);
    let scim = |method: reqwest::Method, path: &str| {
        let k = turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = &bases[k % bases.len()];
        http.request(method, format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
    };
    let mut t = Tally::default();
    let mut cycle = 0u64;
    while Instant::now() < deadline && cycle < MAX_CYCLES {
        cycle += 1;
        turn.store(conn, std::sync::atomic::Ordering::Relaxed);
        let name = format!("load-{level}-{conn}-{cycle}@load.example");
        let filter = format!("/Users?filter=userName%20eq%20%22{name}%22");
        let Some(found) = t.send(scim(reqwest::Method::GET, &filter), 200).await else {
            continue;
        };
        if found["totalResults"] != 0 {
            t.example(format!("{name} found before it was created: {found}"));
            continue;
        }
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": name,
            "externalId": format!("00u{level}x{conn}x{cycle}"),
            "name": {"givenName": "Load", "familyName": format!("User{cycle}")},
            "displayName": format!("Load User{cycle}"),
            "emails": [{"value": name, "type": "work", "primary": true}],
            "active": true,
        });
        let Some(created) = t
            .send(
                scim(reqwest::Method::POST, "/Users").body(body.to_string()),
                201,
            )
            .await
        else {
            continue;
        };
        let Some(id) = created["id"].as_str().map(str::to_owned) else {
            t.example(format!("POST answered without an id: {created}"));
            continue;
        };
        let path = format!("/Users/{id}");
        if t.send(scim(reqwest::Method::GET, &path), 200)
            .await
            .is_none()
        {
            continue;
        }
        for active in [false, true] {
            let patch = json!({"schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "value": {"active": active}}]});
            if t.send(
                scim(reqwest::Method::PATCH, &path).body(patch.to_string()),
                200,
            )
            .await
            .is_none()
            {
                break;
            }
        }
        t.send(scim(reqwest::Method::GET, &path), 200).await;
    }
    t
}

#[tokio::main]
async fn main() {
    let secs: u64 = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let levels: Vec<usize> = std::env::var("LOAD_LEVELS")
        .ok()
        .map(|v| v.split(',').filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 64, 128, 256]);
    let instances: usize = std::env::var("LOAD_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let url = database_url("load");
    if instances > 1 && !is_postgres(&url) {
        panic!(
            "LOAD_INSTANCES={instances} needs BENCH_DATABASE_URL=postgres://… (SQLite is one process's file)"
        );
    }
    let (store, dir) = prepare(&url).await;
    seed_users(&store, dir, 0, SEEDED, None).await;
    analyze(&store).await;
    store.close().await;
    // One after the other: the first migrates, the next finds it done.
    let mut servers = Vec::with_capacity(instances);
    for _ in 0..instances {
        servers.push(Server::start(&url, dir).await);
    }
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    println!(
        "load test on {} ({instances} server instance{}): {SEEDED} users seeded, {secs} s per level, GET filter -> POST -> GET -> PATCH active false/true -> GET",
        if is_postgres(&url) {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        if instances == 1 { "" } else { "s" },
    );
    println!(
        "| conns | requests | req/s | p50 ms | p99 ms | 4xx | 5xx (not 503) | 429/503 | transport | RSS MiB (peak), each instance |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut server_errors = 0;
    let mut examples = vec![];
    for &level in &levels {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(secs);
        let tasks: Vec<_> = (0..level)
            .map(|c| tokio::spawn(connection(bases.clone(), level, c, deadline)))
            .collect();
        let mut tally = Tally::default();
        for task in tasks {
            tally.merge(task.await.unwrap());
        }
        let elapsed = start.elapsed().as_secs_f64();
        let rss = servers
            .iter()
            .map(|s| {
                let (rss, peak) = s.rss_mib();
                format!("{rss:.0} ({peak:.0})")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let requests = tally.requests();
        println!(
            "| {level} | {requests} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {rss} |",
            requests as f64 / elapsed,
            tally.pct_ms(0.5),
            tally.pct_ms(0.99),
            tally.client_errors,
            tally.server_errors,
            tally.back_pressure,
            tally.transport,
        );
        server_errors += tally.server_errors;
        examples.extend(tally.examples.into_iter().map(|e| format!("[{level}] {e}")));
    }
    for e in examples.iter().take(10) {
        println!("unexpected: {e}");
    }
    assert_eq!(server_errors, 0, "the server answered 5xx (other than 503)");
}
