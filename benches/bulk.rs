//! Importing users through `/Bulk` vs one request per user:
//! `cargo bench --bench bulk` (`BENCH_USERS=100000` by default;
//! PostgreSQL with `BENCH_DATABASE_URL=postgres://…`).
//!
//! The `/Bulk` figure is one client sending one request of 1,000
//! operations at a time, each after the answer to the one before. Beside
//! the wall-clock rate it prints the CPU time per user of each side over
//! the import (`/proc/<pid>/stat`, which holds on a loaded machine): the
//! server process, this client, and on PostgreSQL the backends of the
//! bench database (the server's pool) and every `postgres` process.
//!
//! `BENCH_BULK_CONCURRENCY=N` (N > 1) then imports as many users again
//! with N such clients at once (each its own users, each one request at a
//! time), labelled as such: what several sync jobs (or one that sends
//! requests in parallel) get.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use serde_json::{Value, json};

const PER_REQUEST: usize = 1000;

fn user(i: usize) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("bulk{i}@bench.example"),
        "externalId": format!("ext-{i}"),
        "name": {"givenName": "Bulk", "familyName": format!("User{i}")},
        "displayName": format!("Bulk User{i}"),
        "emails": [{"value": format!("bulk{i}@bench.example"), "type": "work", "primary": true}],
        "active": true,
    })
}

/// Users `from..to` through `/Bulk`, [`PER_REQUEST`] a request, one
/// request at a time; every operation must answer 201.
async fn import(http: reqwest::Client, base: String, from: usize, to: usize) {
    let mut start = from;
    while start < to {
        let end = (start + PER_REQUEST).min(to);
        let ops: Vec<Value> = (start..end)
            .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": user(i)}))
            .collect();
        let res = http
            .post(format!("{base}/Bulk"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}).to_string())
            .send()
            .await
            .unwrap();
        let body: Value = serde_json::from_str(&expect_status(res, 200).await).unwrap();
        let failed = body["Operations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["status"] != "201")
            .count();
        assert_eq!(failed, 0, "{body}");
        start = end;
    }
}

/// Users `from..from + n` by `clients` concurrent importers (contiguous
/// shares), timed, with the CPU each side spent.
async fn measured_import(
    server: &Server,
    pg: Option<&PgCpu>,
    from: usize,
    n: usize,
    clients: usize,
) -> String {
    let ticks = clock_ticks();
    let me = std::process::id();
    let pg_before = match pg {
        Some(pg) => Some(pg.snapshot().await),
        None => None,
    };
    let (server_before, me_before) = (cpu_secs(server.pid(), ticks), cpu_secs(me, ticks));
    let load_before = load_average();
    let t = Instant::now();
    let share = n.div_ceil(clients);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (lo, hi) = (from + c * share, (from + (c + 1) * share).min(from + n));
        if lo < hi {
            tasks.spawn(import(client(), server.base.clone(), lo, hi));
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    let per_user = |cpu: f64| cpu * 1e6 / n as f64;
    let server_us = per_user(cpu_secs(server.pid(), ticks) - server_before);
    let me_us = per_user(cpu_secs(me, ticks) - me_before);
    let mut line = format!(
        "/Bulk, {clients} client{}: {n} users in {secs:.1}s = {:.0} users/s ({PER_REQUEST} operations per request); \
         CPU µs/user: server {server_us:.0}, bench client {me_us:.0}",
        if clients == 1 { "" } else { "s at once" },
        n as f64 / secs,
    );
    if let (Some(pg), Some((backends, all))) = (pg, pg_before) {
        let (backends_after, all_after) = pg.snapshot().await;
        line.push_str(&format!(
            ", PostgreSQL backends {:.0} (all postgres processes {:.0})",
            per_user(cpu_spent(&backends, &backends_after)),
            per_user(cpu_spent(&all, &all_after)),
        ));
    }
    line.push_str(&format!(
        "; load average {load_before} before, {} after",
        load_average()
    ));
    line
}

#[tokio::main]
async fn main() {
    let url = database_url("bulk");
    let n: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let clients: usize = std::env::var("BENCH_BULK_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (store, dir) = prepare(&url).await;
    drop(store);
    let server = Server::start(&url, dir).await;
    let http = client();
    let pg = PgCpu::connect(&url).await;

    let mut lines = vec![measured_import(&server, pg.as_ref(), 0, n, 1).await];
    let mut next = n;
    if clients > 1 {
        lines.push(measured_import(&server, pg.as_ref(), next, n, clients).await);
        next += n;
    }

    let single = 2000.min(n);
    let mut samples = Samples::new("POST /Users (one user per request)");
    for i in next..next + single {
        let body = user(i).to_string();
        let res = samples
            .time(|| {
                http.post(format!("{}/Users", server.base))
                    .bearer_auth(TOKEN)
                    .header("Content-Type", "application/scim+json")
                    .body(body)
                    .send()
            })
            .await
            .unwrap();
        expect_status(res, 201).await;
    }
    let (rss, peak) = server.rss_mib();
    println!(
        "bulk benchmark on {}",
        if is_postgres(&url) {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    if let Some(pg) = &pg {
        println!(
            "server's connections to PostgreSQL: {}",
            if pg.tls().await { "TLS" } else { "plain TCP" }
        );
    }
    for line in lines {
        println!("{line}");
    }
    println!("{}", table_header());
    println!("{}", samples.report());
    println!("server RSS {rss:.0} MiB (peak {peak:.0} MiB)");
}
