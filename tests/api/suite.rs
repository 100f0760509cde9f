//! The suite itself: it runs on the database `TEST_DATABASE_URL` names,
//! and refuses a value it can't honour rather than quietly using SQLite.

use crate::helpers::*;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

async fn scalar(db: &sea_orm::DatabaseConnection, sql: &str) -> String {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("the query runs")
        .expect("one row")
        .try_get_by_index(0)
        .expect("a text column")
}

/// CI's PostgreSQL pass (`TEST_DATABASE_URL=postgres://…`) fails here if
/// the app ran on anything else.
#[tokio::test]
async fn the_app_runs_on_the_database_test_database_url_names() {
    let app = spawn_app().await;
    let db = app.db().await;
    match test_backend() {
        TestBackend::Postgres(_) => {
            assert_eq!(db.get_database_backend(), DatabaseBackend::Postgres);
            let version = scalar(&db, "SELECT version()").await;
            assert!(version.starts_with("PostgreSQL "), "{version}");
            // The app migrated its tables into this test's own schema.
            let schema = scalar(&db, "SELECT current_schema()::text").await;
            assert!(schema.starts_with("scim_test_"), "{schema}");
            let tables = scalar(
                &db,
                "SELECT COUNT(*)::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = 'accounts'",
            )
            .await;
            assert_eq!(tables, "1");
        }
        TestBackend::Sqlite => {
            assert_eq!(db.get_database_backend(), DatabaseBackend::Sqlite);
            let version = scalar(&db, "SELECT sqlite_version()").await;
            assert!(version.starts_with("3."), "{version}");
            let tables = scalar(
                &db,
                "SELECT CAST(COUNT(*) AS TEXT) FROM sqlite_master \
                 WHERE type = 'table' AND name = 'accounts'",
            )
            .await;
            assert_eq!(tables, "1");
        }
    }
}

#[test]
fn test_database_url_selects_the_backend() {
    assert_eq!(backend_from(None), TestBackend::Sqlite);
    assert_eq!(backend_from(Some("sqlite::memory:")), TestBackend::Sqlite);
    assert_eq!(
        backend_from(Some("postgres://postgres@127.0.0.1:5432/test")),
        TestBackend::Postgres("postgres://postgres@127.0.0.1:5432/test".into())
    );
    assert_eq!(
        backend_from(Some("postgresql://db/test")),
        TestBackend::Postgres("postgresql://db/test".into())
    );
}

#[test]
#[should_panic(expected = "neither a postgres://… nor a sqlite:… URL")]
fn a_test_database_url_of_another_kind_panics() {
    backend_from(Some("mysql://root@localhost/test"));
}

#[test]
#[should_panic(expected = "neither a postgres://… nor a sqlite:… URL")]
fn an_empty_test_database_url_panics() {
    backend_from(Some(""));
}

/// The "changes nothing" check sees every table, and a change in any row.
#[tokio::test]
async fn db_rows_sees_every_table_and_any_changed_row() {
    let app = spawn_app().await;
    let id = app.create_user(user("rows@example.com")).await;
    let before = db_rows(&app).await;
    for table in [
        "accounts",
        "scim_users",
        "scim_user_values",
        "groups",
        "group_members",
        "site_memberships",
        "product_access",
        "sync_log",
        "directory_tokens",
        "audit_log",
    ] {
        assert!(before.contains_key(table), "{table}: {:?}", before.keys());
    }
    assert_eq!(before["scim_users"].len(), 1);
    assert!(before["scim_users"][0].contains("rows@example.com"));
    assert_db_unchanged(&app, &before).await;
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            serde_json::json!([{"op": "replace", "path": "title", "value": "Changed"}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = db_rows(&app).await;
    assert_ne!(after["scim_users"], before["scim_users"]);
    assert_ne!(after["sync_log"], before["sync_log"], "a success entry");
    let caught = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        assert_db_unchanged(&app, &before),
    ))
    .await;
    assert!(caught.is_err(), "the change is reported");
}
