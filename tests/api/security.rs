//! Hardening of what is reachable without a directory token or admin key:
//! `/metrics`, …

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

async fn metrics(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut req = app.client.get(format!("{}/metrics", app.address));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Before: the `method` label was the raw method, so each request with a
/// made-up method added a series that was never freed (memory growth
/// without authentication). Now those all count as `other`.
#[tokio::test]
async fn made_up_methods_are_counted_as_other() {
    let app = spawn_app().await;
    for i in 0..20 {
        let m = Method::from_bytes(format!("XMETHOD{i}").as_bytes()).unwrap();
        let res = app
            .client
            .request(m, format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());
    }
    let (status, text) = metrics(&app, None).await;
    assert_eq!(status, 200);
    assert!(!text.contains("XMETHOD"), "{text}");
    let other: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{") && l.contains("method=\"other\""))
        .collect();
    let total: u64 = other
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 20, "{other:?}");
}

/// With `SCIM_METRICS_TOKEN`, `/metrics` (which names directory ids) needs
/// that bearer token.
#[tokio::test]
async fn metrics_token_is_required_when_set() {
    let token = "metrics-token-0123456789";
    let app = spawn_app_with(|s| {
        s.metrics_token = Some(scim_server::config::Secret::new(token));
    })
    .await;
    let (status, _) = app.get("/Users").await;
    assert_eq!(status, 200);
    for bad in [None, Some("wrong-token-0123456789"), Some("")] {
        let (status, text) = metrics(&app, bad).await;
        assert_eq!(status, 401, "{bad:?}: {text}");
        assert!(!text.contains("scim_operations_total"), "{text}");
        assert!(!text.contains(&app.directory_id.to_string()), "{text}");
    }
    let (status, text) = metrics(&app, Some(token)).await;
    assert_eq!(status, 200);
    assert!(text.contains("http_requests_total"), "{text}");

    // Unset: public, as before.
    let open = spawn_app().await;
    assert_eq!(metrics(&open, None).await.0, 200);
}

/// Before: CSV exports wrote names and emails as the IdP sent them, so a
/// display name `=HYPERLINK(…)` ran as a formula in a spreadsheet. Now a
/// cell starting with `= + - @`, tab or CR gets a leading `'` (OWASP).
#[tokio::test]
async fn csv_exports_neutralise_cells_a_spreadsheet_would_run() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let mut u = user("-2+3@acme.example");
    u["displayName"] = json!("=HYPERLINK(\"http://evil.example\",\"x\")");
    app.create_user(u).await;
    let a = crate::admin::admin(&app, "default").await;
    let res = app
        .client
        .get(format!("{}/exports/managed-accounts", a.base))
        .bearer_auth(&a.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(
        &rows[0][0], "'=HYPERLINK(\"http://evil.example\",\"x\")",
        "{text}"
    );
    assert_eq!(&rows[0][1], "'-2+3@acme.example", "{text}");
    assert_eq!(&rows[0][3], "active", "{text}");
}
