//! Importing users through `/Bulk` vs one request per user:
//! `cargo bench --bench bulk` (`BENCH_USERS=100000` by default;
//! PostgreSQL with `BENCH_DATABASE_URL=postgres://…`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use serde_json::{Value, json};

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

#[tokio::main]
async fn main() {
    let url = database_url("bulk");
    let n: usize = std::env::var("BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (store, dir) = prepare(&url).await;
    drop(store);
    let server = Server::start(&url, dir).await;
    let http = client();
    let per_request = 1000;

    let t = Instant::now();
    let mut start = 0;
    while start < n {
        let end = (start + per_request).min(n);
        let ops: Vec<Value> = (start..end)
            .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": user(i)}))
            .collect();
        let res = http
            .post(format!("{}/Bulk", server.base))
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
    let bulk_secs = t.elapsed().as_secs_f64();

    let single = 2000.min(n);
    let mut samples = Samples::new("POST /Users (one user per request)");
    for i in n..n + single {
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
    println!(
        "/Bulk: {n} users in {bulk_secs:.1}s = {:.0} users/s ({per_request} operations per request)",
        n as f64 / bulk_secs
    );
    println!("{}", table_header());
    println!("{}", samples.report());
    println!("server RSS {rss:.0} MiB (peak {peak:.0} MiB)");
}
