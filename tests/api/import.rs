//! `scim-server import users`: files provisioned through the POST /Users
//! path, read back through SCIM.

use std::path::PathBuf;

use crate::helpers::*;
use chrono::Utc;
use entity::{account, sync_log};
use scim_server::cli::{Cli, CliError, run_import};
use scim_server::import::Summary;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

const HEADER: &str =
    "userName,email,givenName,familyName,displayName,externalId,active,title,department";

fn write_file(ext: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("scim-import-{}.{ext}", Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    path
}

async fn import(app: &TestApp, extra: &[&str], file: &PathBuf) -> Result<Summary, CliError> {
    use clap::Parser;
    let dir = app.directory_id.to_string();
    let mut argv = vec![
        "scim-server",
        "import",
        "users",
        "--directory",
        dir.as_str(),
    ];
    argv.extend_from_slice(extra);
    let path = file.display().to_string();
    argv.push(&path);
    let cli = Cli::try_parse_from(argv).unwrap();
    let out = run_import(&app.settings, cli.command.unwrap()).await;
    let _ = std::fs::remove_file(file);
    out
}

/// An account that signed up by itself: no directory has it yet.
async fn existing_account(app: &TestApp, email: &str) {
    let now = Utc::now();
    account::Entity::insert(account::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(Some(email.into())),
        email_lower: Set(Some(email.to_lowercase())),
        email_domain: Set(email.split('@').nth(1).map(str::to_owned)),
        status: Set(entity::account::AccountStatus::Active),
        two_step_enabled: Set(false),
        saml_sso: Set(false),
        password_reset_required: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(&app.db().await)
    .await
    .unwrap();
}

async fn find_user(app: &TestApp, user_name: &str) -> Value {
    let (status, body) = app
        .get(&format!("/Users?filter=userName%20eq%20%22{user_name}%22"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 1, "{user_name}: {body}");
    body["Resources"][0].clone()
}

fn failures(s: &Summary) -> Vec<(u64, String, Option<&'static str>)> {
    s.failures
        .iter()
        .map(|f| (f.line, f.status.clone(), f.scim_type))
        .collect()
}

async fn import_log_entries(app: &TestApp) -> Vec<sync_log::Model> {
    sync_log::Entity::find()
        .filter(sync_log::Column::Operation.eq("POST /Users (import)"))
        .all(&app.db().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn csv_import_creates_links_and_reports_each_bad_row_with_its_line() {
    let app = spawn_app().await;
    existing_account(&app, "existing@example.com").await;
    let file = write_file(
        "csv",
        &format!(
            "{HEADER}\n\
             alice@example.com,alice@example.com,Alice,Smith,Alice Smith,e-1,true,Engineer,R&D\n\
             bob@example.com,,Bob,Jones,,e-2,false,,\n\
             ALICE@example.com,alice2@example.com,Alice,Again,,,,,\n\
             carol@example.com,not-an-email,Carol,,,,,,\n\
             existing@example.com,existing@example.com,Ex,Isting,,,,,\n"
        ),
    );
    let s = import(&app, &[], &file).await.unwrap();
    assert_eq!(
        (s.rows, s.created, s.linked, s.failed),
        (5, 2, 1, 2),
        "{s:?}"
    );
    assert_eq!(s.format, "csv");
    assert_eq!(
        failures(&s),
        [
            (4, "409".into(), Some("uniqueness")),
            (5, "400".into(), Some("invalidValue")),
        ]
    );
    assert!(s.failures[0].detail.contains("already in use"), "{s:?}");

    let alice = find_user(&app, "alice@example.com").await;
    assert_eq!(
        alice["name"],
        json!({"givenName": "Alice", "familyName": "Smith"})
    );
    assert_eq!(alice["displayName"], "Alice Smith");
    assert_eq!(alice["externalId"], "e-1");
    assert_eq!(alice["title"], "Engineer");
    assert_eq!(alice["active"], true);
    assert_eq!(alice[ENTERPRISE]["department"], "R&D");
    assert_eq!(alice["emails"][0]["value"], "alice@example.com");
    let (status, by_id) = app
        .get(&format!("/Users/{}", alice["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200, "{by_id}");
    assert_eq!(by_id["userName"], "alice@example.com");

    // No email column value: the userName is the email, as on POST.
    let bob = find_user(&app, "bob@example.com").await;
    assert_eq!(bob["active"], false);
    find_user(&app, "existing@example.com").await;
    let (_, all) = app.get("/Users").await;
    assert_eq!(all["totalResults"], 3, "{all}");

    // Every row is in the sync log, under one request id.
    let log = import_log_entries(&app).await;
    assert_eq!(log.len(), 5);
    assert!(
        log.iter()
            .all(|e| e.request_id.as_deref() == Some(s.request_id.as_str()))
    );
    assert_eq!(
        log.iter()
            .filter(|e| e.outcome.to_string() == "failure")
            .count(),
        2
    );
}

#[tokio::test]
async fn jsonl_import_goes_through_the_post_users_rules() {
    let app = spawn_app().await;
    existing_account(&app, "old@example.com").await;
    // Already provisioned through SCIM: the file's row for it is a duplicate.
    app.create_user(user("taken@example.com")).await;
    let rows = [
        user("dana@example.com").to_string(),
        String::new(),
        json!({"userName": "eve", "emails": [{"value": "eve@example.com", "primary": true}],
               "id": "ignored", "meta": {"resourceType": "User"}})
        .to_string(),
        user("taken@example.com").to_string(),
        json!({"userName": "frank", "emails": [{"value": "frank@@example"}]}).to_string(),
        "{not json".into(),
        user("old@example.com").to_string(),
        json!({"userName": "nomail"}).to_string(),
    ];
    // .txt says nothing about the format: --format does.
    let file = write_file("txt", &rows.join("\n"));
    let s = import(&app, &["--format", "jsonl", "--batch-size", "2"], &file)
        .await
        .unwrap();
    assert_eq!(
        (s.rows, s.created, s.linked, s.failed),
        (7, 2, 1, 4),
        "{s:?}"
    );
    assert_eq!(
        failures(&s),
        [
            (4, "409".into(), Some("uniqueness")),
            (5, "400".into(), Some("invalidValue")),
            (6, "400".into(), Some("invalidSyntax")),
            (8, "400".into(), Some("invalidValue")),
        ]
    );
    for name in [
        "dana@example.com",
        "eve",
        "old@example.com",
        "taken@example.com",
    ] {
        find_user(&app, name).await;
    }
    let (_, all) = app.get("/Users").await;
    assert_eq!(all["totalResults"], 4, "{all}");
    assert_eq!(import_log_entries(&app).await.len(), 7);
}

#[tokio::test]
async fn unknown_csv_columns_are_refused_by_name_before_anything_is_written() {
    let app = spawn_app().await;
    let file = write_file(
        "csv",
        "userName,email,phone,Manager\njane@example.com,jane@example.com,1,x\n",
    );
    let err = import(&app, &[], &file).await.unwrap_err().to_string();
    assert!(
        err.contains(r#"unknown column(s) "phone", "Manager""#),
        "{err}"
    );
    let (_, all) = app.get("/Users").await;
    assert_eq!(all["totalResults"], 0, "{all}");
    assert!(import_log_entries(&app).await.is_empty());

    let file = write_file("xml", "<users/>");
    let err = import(&app, &[], &file).await.unwrap_err().to_string();
    assert!(err.contains("--format"), "{err}");
}

#[tokio::test]
async fn all_failures_are_counted_and_the_first_hundred_listed() {
    let app = spawn_app().await;
    let mut text = format!("{HEADER}\n");
    for i in 0..130 {
        text.push_str(&format!("user{i},bad-email-{i},,,,,,,\n"));
    }
    text.push_str("good@example.com,good@example.com,,,,,,,\n");
    let file = write_file("csv", &text);
    let s = import(&app, &["--batch-size", "40"], &file).await.unwrap();
    assert_eq!((s.rows, s.created, s.failed), (131, 1, 130), "{s:?}");
    assert_eq!(s.failures.len(), 100);
    assert_eq!(s.failures[0].line, 2);
    assert_eq!(s.failures[99].line, 101);
    find_user(&app, "good@example.com").await;
}

#[tokio::test]
async fn the_binary_prints_the_summary_as_json_on_stdout() {
    let app = spawn_app().await;
    let file = write_file(
        "ndjson",
        &format!("{}\n{}\n", user("p1@example.com"), user("p1@example.com")),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scim-server"))
        .args(["import", "users", "--directory"])
        .arg(app.directory_id.to_string())
        .arg(&file)
        .env("DATABASE_URL", app.settings.database_url.expose())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["format"], "jsonl");
    assert_eq!(summary["created"], 1);
    assert_eq!(summary["linked"], 0);
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["failures"][0]["line"], 2);
    assert_eq!(summary["failures"][0]["status"], "409");
    assert_eq!(summary["failures"][0]["scimType"], "uniqueness");
    find_user(&app, "p1@example.com").await;
}
