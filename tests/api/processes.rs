//! The real binary as separate processes: graceful shutdown, crash safety
//! under SIGKILL, and two instances on one database.

use crate::helpers::*;
use rand::Rng;
use sea_orm::{ConnectionTrait, Database, EntityTrait};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "process-test-token";

struct Proc {
    child: Child,
    address: String,
}

impl Proc {
    async fn start(db_url: &str, extra: &[(&str, &str)]) -> Proc {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scim-server"));
        cmd.env("DATABASE_URL", db_url)
            .env("SCIM_BIND", format!("127.0.0.1:{port}"))
            .env("SCIM_BOOTSTRAP_TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{address}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Proc { child, address }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn directory_base(db_url: &str, address: &str) -> String {
    let db = Database::connect(db_url).await.unwrap();
    let d = entity::directory::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let _ = db.close().await;
    format!("{address}/scim/v2/directories/{}", d.id)
}

async fn post_user(client: &reqwest::Client, base: &str, name: &str) -> Option<u16> {
    client
        .post(format!("{base}/Users"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/scim+json")
        .body(user(name).to_string())
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

#[tokio::test]
async fn sigterm_drains_reports_not_ready_and_closes_cleanly() {
    let url = fresh_database_url().await;
    let mut p = Proc::start(&url, &[("SCIM_SHUTDOWN_DELAY_SECS", "2")]).await;
    let client = reqwest::Client::new();
    Command::new("kill")
        .args(["-TERM", &p.pid().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let res = client
        .get(format!("{}/readyz", p.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503, "not ready while draining");
    // Requests are still served while draining.
    assert_eq!(
        client
            .get(format!("{}/healthz", p.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = p.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(exited.expect("the server exits after draining").success());
}

#[tokio::test]
async fn acknowledged_writes_survive_sigkill() {
    let url = fresh_database_url().await;
    let client = reqwest::Client::new();
    let mut acknowledged: Vec<String> = vec![];
    let mut base = String::new();
    for round in 0..4 {
        let p = Proc::start(&url, &[]).await;
        if base.is_empty() {
            base = directory_base(&url, &p.address).await;
        }
        let base_now = base.replace(base.split("/scim/").next().unwrap(), &p.address);
        let acked = Arc::new(tokio::sync::Mutex::new(vec![]));
        let mut writers = vec![];
        for w in 0..8 {
            let client = client.clone();
            let base = base_now.clone();
            let acked = acked.clone();
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("r{round}w{w}i{i}@example.com");
                    match post_user(&client, &base, &name).await {
                        Some(201) => acked.lock().await.push(name),
                        Some(_) => {}
                        None => break,
                    }
                }
            }));
        }
        let wait = rand::rng().random_range(150..600);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        drop(p); // SIGKILL
        for w in writers {
            let _ = w.await;
        }
        acknowledged.extend(acked.lock().await.drain(..));
    }
    assert!(acknowledged.len() > 20, "the writers made progress");
    let p = Proc::start(&url, &[]).await;
    let base_now = base.replace(base.split("/scim/").next().unwrap(), &p.address);
    for name in &acknowledged {
        let res = client
            .get(format!(
                "{base_now}/Users?filter={}",
                crate::users::urlencode(&format!("userName eq \"{name}\""))
            ))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["totalResults"], 1, "acknowledged {name} is missing");
    }
    drop(p);
    if url.starts_with("sqlite") {
        let db = Database::connect(url.as_str()).await.unwrap();
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Sqlite,
                "PRAGMA integrity_check",
            ))
            .await
            .unwrap()
            .unwrap();
        let verdict: String = row.try_get_by_index(0).unwrap();
        assert_eq!(verdict, "ok");
    }
}

#[tokio::test]
async fn two_instances_on_one_database_lose_nothing() {
    let url = fresh_database_url().await;
    let a = Proc::start(&url, &[]).await;
    let b = Proc::start(&url, &[]).await;
    let base_a = directory_base(&url, &a.address).await;
    let base_b = base_a.replace(&a.address, &b.address);
    let client = reqwest::Client::new();
    // Same group, members added through both instances at once.
    let res = client
        .post(format!("{base_a}/Groups"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/scim+json")
        .body(json!({"displayName": "Shared"}).to_string())
        .send()
        .await
        .unwrap();
    let gid = res.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ids = vec![];
    for i in 0..32 {
        let res = client
            .post(format!("{base_a}/Users"))
            .bearer_auth(TOKEN)
            .header("Content-Type", "application/scim+json")
            .body(user(&format!("multi{i}@example.com")).to_string())
            .send()
            .await
            .unwrap();
        ids.push(
            res.json::<serde_json::Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let mut tasks = vec![];
    for (i, id) in ids.iter().enumerate() {
        let base = if i % 2 == 0 {
            base_a.clone()
        } else {
            base_b.clone()
        };
        let client = client.clone();
        let (gid, id) = (gid.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            client
                .patch(format!("{base}/Groups/{gid}"))
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/scim+json")
                .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 204);
    }
    let g: serde_json::Value = client
        .get(format!("{base_b}/Groups/{gid}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(g["members"].as_array().unwrap().len(), 32);

    // The same user patched through both with the same If-Match: one wins.
    let uid = &ids[0];
    let mut tasks = vec![];
    for base in [base_a.clone(), base_b.clone()] {
        let client = client.clone();
        let uid = uid.clone();
        tasks.push(tokio::spawn(async move {
            client
                .patch(format!("{base}/Users/{uid}"))
                .bearer_auth(TOKEN)
                .header("Content-Type", "application/scim+json")
                .header("If-Match", "W/\"1\"")
                .body(json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "title", "value": base}]}).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 412]);

    // The same userName created through both at once: one user.
    let mut tasks = vec![];
    for base in [base_a.clone(), base_b.clone()] {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            post_user(&client, &base, "race@example.com").await
        }));
    }
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap().unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![201, 409]);
    let db = Database::connect(url.as_str()).await.unwrap();
    let accounts = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM accounts WHERE email_lower = 'race@example.com'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert_eq!(accounts, 1);
}
