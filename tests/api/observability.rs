//! Request ids, metrics, and what reaches the logs.

use crate::helpers::*;
use crate::users::urlencode;
use std::io::Read;
use std::process::{Command, Stdio};

#[tokio::test]
async fn responses_carry_a_request_id_and_keep_a_sane_client_one() {
    let app = spawn_app().await;
    let res = app
        .scim(reqwest::Method::GET, "/Users")
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    let res = app
        .scim(reqwest::Method::GET, "/Users")
        .header("X-Request-Id", "okta-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "okta-req-42");
}

#[tokio::test]
async fn metrics_expose_http_scim_and_pool_series_without_user_data() {
    let app = spawn_app().await;
    let id = app.create_user(user("metric@example.com")).await;
    app.post("/Users", user("metric@example.com")).await;
    // Routes are named by template (found once routed), with or without
    // a trailing slash; a path no route matches is `unmatched`.
    app.get(&format!("/Users/{id}")).await;
    app.get(&format!("/Users/{id}/")).await;
    app.get("/Nope/1").await;
    let res = reqwest::get(format!("{}/nowhere", app.address))
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let text = reqwest::get(format!("{}/metrics", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("http_requests_total{method=\"POST\",route=\"/scim/v2/directories/{directory_id}/Users\",status=\"201\"} 1"), "{text}");
    assert!(text.contains("http_requests_total{method=\"GET\",route=\"/scim/v2/directories/{directory_id}/Users/{id}\",status=\"200\"} 2"), "{text}");
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 2"),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains(&format!("scim_operations_total{{directory=\"{}\",operation=\"POST /Users\",outcome=\"failure\",resource_type=\"User\"}} 1", app.directory_id)), "{text}");
    assert!(text.contains("scim_sync_failures_total"));
    assert!(text.contains("db_pool_connections{pool=\"read\",state=\"idle\"}"));
    assert!(!text.contains("metric@example.com"));
}

/// The real binary at `info`: no token, password or email in its logs.
#[tokio::test]
async fn logs_hold_no_tokens_passwords_or_emails() {
    let dir = std::env::temp_dir().join(format!("scim-logs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = "log-test-secret-token-0123456789";
    let mut child = Command::new(env!("CARGO_BIN_EXE_scim-server"))
        .current_dir(&dir)
        .env("SCIM_BIND", format!("127.0.0.1:{port}"))
        .env("SCIM_BOOTSTRAP_TOKEN", token)
        .env("RUST_LOG", "info")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let address = format!("http://127.0.0.1:{port}");
    let client = crate::helpers::http_client();
    for _ in 0..100 {
        if client
            .get(format!("{address}/healthz"))
            .send()
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut stdout = String::new();
    // The first start prints the base URL (and the token, once) on stdout.
    let users = {
        let res = client
            .get(format!("{address}/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let db = sea_orm::Database::connect(format!("sqlite://{}/scim.db", dir.display()))
            .await
            .unwrap();
        use sea_orm::EntityTrait;
        let d = entity::directory::Entity::find()
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        format!("{address}/scim/v2/directories/{}/Users", d.id)
    };
    let mut body = user("secret.person@example.com");
    body["password"] = serde_json::json!("Pa55w0rd-in-logs?");
    // Each request must have done its job (created, conflicted, found,
    // refused), or "nothing leaked" would hold vacuously.
    for want in [201, 409] {
        let res = client
            .post(&users)
            .bearer_auth(token)
            .header("Content-Type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), want);
    }
    let (status, found) = read(
        client
            .get(format!(
                "{users}?filter={}",
                urlencode("userName eq \"secret.person@example.com\"")
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["totalResults"], 1, "{found}");
    let res = client
        .get(&users)
        .bearer_auth("wrong-token-value")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    child.kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(stderr.contains("request finished"), "{stderr}");
    // The request span names the route by its template (recorded once
    // the request is routed).
    assert!(
        stderr.contains("/scim/v2/directories/{directory_id}/Users"),
        "{stderr}"
    );
    for secret in [
        token,
        "wrong-token-value",
        "Pa55w0rd-in-logs?",
        "secret.person@example.com",
        "secret.person",
    ] {
        assert!(
            !stderr.contains(secret),
            "{secret} leaked into the logs:\n{stderr}"
        );
    }
    assert!(stdout.contains("SCIM base URL"));
}
