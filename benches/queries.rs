//! The read path at 1M users: `cargo bench --bench queries`
//! (PostgreSQL: `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/scim_bench cargo bench --bench queries`;
//! `BENCH_USERS=100000` for a smaller run).
//!
//! Seeds the users directly, starts the release server, and measures p50,
//! p99 and single-connection throughput of each query, plus server RSS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use rand::Rng;
use scim_server::domain::filter::Limits;
use scim_server::domain::query::{Cursor, ListQuery, RawListQuery};

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let url = database_url("queries");
    let n: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (store, dir) = prepare(&url).await;
    let t = Instant::now();
    let ids = seed_users(&store, dir, 0, n, None).await;
    analyze(&store).await;
    println!(
        "queries benchmark on {}: seeded {n} users in {:.1}s",
        if is_postgres(&url) {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        t.elapsed().as_secs_f64()
    );
    let server = Server::start(&url, dir).await;
    let http = client();
    let mut rng = rand::rng();

    let mut results = vec![];
    let get = |path: String| {
        let http = http.clone();
        let base = server.base.clone();
        async move {
            let res = http
                .get(format!("{base}{path}"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            expect_status(res, 200).await
        }
    };

    let mut run = async |name: &str, iterations: usize, path: &dyn Fn(usize) -> String| {
        let mut s = Samples::new(name);
        for _ in 0..iterations {
            let i = rng.random_range(0..n);
            let p = path(i);
            s.time(|| get(p)).await;
        }
        s
    };

    results.push(
        run("filter userName eq", 500, &|i| {
            format!(
                "/Users?filter={}",
                enc(&format!("userName eq \"user{i}@bench.example\""))
            )
        })
        .await,
    );
    results.push(
        run("filter externalId eq", 500, &|i| {
            format!(
                "/Users?filter={}",
                enc(&format!("externalId eq \"ext-{i}\""))
            )
        })
        .await,
    );
    results.push(
        run("filter emails[type eq \"work\"].value eq", 500, &|i| {
            format!(
                "/Users?filter={}",
                enc(&format!(
                    "emails[type eq \"work\"].value eq \"user{i}@bench.example\""
                ))
            )
        })
        .await,
    );
    results.push(
        run("filter displayName co (count=100)", 20, &|i| {
            format!(
                "/Users?count=100&filter={}",
                enc(&format!("displayName co \"last{i}\""))
            )
        })
        .await,
    );
    results.push(
        run(
            "filter name.familyName sw + sortBy=userName (count=100)",
            20,
            &|i| {
                format!(
                    "/Users?count=100&sortBy=userName&filter={}",
                    enc(&format!("name.familyName sw \"Last{}\"", i % 1000))
                )
            },
        )
        .await,
    );
    results.push(
        run("index page 1 (count=100)", 100, &|_| {
            "/Users?startIndex=1&count=100".into()
        })
        .await,
    );
    let deep = 499_901.min(n.saturating_sub(99).max(1));
    results.push(
        run("index page 5,000 (count=100)", 20, &|_| {
            format!("/Users?startIndex={deep}&count=100")
        })
        .await,
    );
    results.push(
        run("cursor page 1 (count=100)", 100, &|_| {
            "/Users?cursor=&count=100".into()
        })
        .await,
    );
    // A cursor positioned after row 499,900 (page 5,000), made the way the
    // server makes them.
    let q = ListQuery::parse(
        &RawListQuery {
            cursor: Some(String::new()),
            ..RawListQuery::default()
        },
        1000,
        Limits::default(),
    )
    .unwrap();
    let mut sorted = ids.clone();
    sorted.sort();
    let cursor = Cursor {
        key: None,
        id: sorted[(deep - 2).min(sorted.len() - 1)],
        query: q.fingerprint(),
    }
    .encode();
    results.push(
        run("cursor page 5,000 (count=100)", 200, &|_| {
            format!("/Users?cursor={cursor}&count=100")
        })
        .await,
    );
    let (rss, peak) = server.rss_mib();
    println!("{}", table_header());
    for r in &results {
        println!("{}", r.report());
    }
    println!("server RSS {rss:.0} MiB (peak {peak:.0} MiB)");
}
