//! Group membership at scale: `cargo bench --bench groups`
//! (PostgreSQL: `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/scim_bench cargo bench --bench groups`).
//!
//! Seeds a group to 100k and then 1M members, then measures one member add
//! and one member remove (p50/p99 over 500 of each), reading the group
//! without members, streaming all members, and the server's RSS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::*;
use serde_json::json;

#[tokio::main]
async fn main() {
    let url = database_url("groups");
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![100_000, 1_000_000]);
    let (store, dir) = prepare(&url).await;
    println!(
        "groups benchmark on {}",
        if is_postgres(&url) {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );

    // The group, created through the API so it is a real synced group.
    let server = Server::start(&url, dir).await;
    let http = client();
    let res = http
        .post(format!("{}/Groups", server.base))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/scim+json")
        .body(json!({"displayName": "Everyone", "members": []}).to_string())
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&expect_status(res, 201).await).unwrap();
    let gid = body["id"].as_str().unwrap().to_owned();
    let group_uuid = uuid::Uuid::parse_str(&gid).unwrap();
    drop(server);

    // Users outside the group, added and removed during the measurement.
    let probes = seed_users(&store, dir, 0, 500, None).await;
    let mut seeded = 500;
    for size in sizes {
        let t = Instant::now();
        seed_users(&store, dir, seeded, 500 + size, Some(group_uuid)).await;
        analyze(&store).await;
        seeded = 500 + size;
        println!(
            "\nseeded the group to {size} members in {:.1}s",
            t.elapsed().as_secs_f64()
        );

        let server = Server::start(&url, dir).await;
        let mut add = Samples::new(format!("member add ({size} members)"));
        let mut remove = Samples::new(format!("member remove ({size} members)"));
        for id in &probes {
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]})
            .to_string();
            let res = add
                .time(|| {
                    http.patch(format!("{}/Groups/{gid}", server.base))
                        .bearer_auth(TOKEN)
                        .header("Content-Type", "application/scim+json")
                        .body(body)
                        .send()
                })
                .await
                .unwrap();
            expect_status(res, 204).await;
        }
        for id in &probes {
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]})
            .to_string();
            let res = remove
                .time(|| {
                    http.patch(format!("{}/Groups/{gid}", server.base))
                        .bearer_auth(TOKEN)
                        .header("Content-Type", "application/scim+json")
                        .body(body)
                        .send()
                })
                .await
                .unwrap();
            expect_status(res, 204).await;
        }
        let mut get_meta = Samples::new(format!("GET group excludedAttributes=members ({size})"));
        for _ in 0..200 {
            let res = get_meta
                .time(|| {
                    http.get(format!(
                        "{}/Groups/{gid}?excludedAttributes=members",
                        server.base
                    ))
                    .bearer_auth(TOKEN)
                    .send()
                })
                .await
                .unwrap();
            expect_status(res, 200).await;
        }
        let (rss_before, _) = server.rss_mib();
        // Stream every member; count bytes without keeping the body.
        let t = Instant::now();
        let mut res = http
            .get(format!("{}/Groups/{gid}", server.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let mut bytes = 0usize;
        while let Some(chunk) = res.chunk().await.unwrap() {
            bytes += chunk.len();
        }
        let stream_secs = t.elapsed().as_secs_f64();
        let (rss, peak) = server.rss_mib();
        println!("{}", table_header());
        println!("{}", add.report());
        println!("{}", remove.report());
        println!("{}", get_meta.report());
        println!(
            "GET group with all {size} members: {:.1} MiB streamed in {stream_secs:.1}s; server RSS {rss_before:.0} MiB before, {rss:.0} MiB after, peak {peak:.0} MiB",
            bytes as f64 / 1048576.0
        );
    }
}
