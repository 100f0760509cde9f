//! Status columns are typed (`AccountStatus`, `MembershipStatus`), and so
//! are other kinds (`ProductRole`, `SyncOutcome`, `ActorType`): the schema refuses a value
//! the server does not know, and a row that holds one anyway is an error
//! when read (500), never taken for `active` or shown as it is.

use chrono::Utc;
use entity::{account, audit_log, group_grant, product_access, site_membership, sync_log};
use sea_orm::sea_query::Query;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};
use serde_json::json;
use uuid::Uuid;

use crate::admin::{admin, assert_admin_error, seed_account, site, verify_domain};
use crate::helpers::{TestApp, TestBackend, spawn_app, test_backend, user};

async fn raw(db: &DatabaseConnection, sql: &str) -> Result<(), DbErr> {
    db.execute_unprepared(sql).await.map(|_| ())
}

/// An account (managed by the default org) on a site; returns
/// (admin, account id, site id).
async fn account_on_site(app: &TestApp) -> (crate::admin::Admin, String, String) {
    let a = admin(app, "default").await;
    verify_domain(&a, "acme.example").await;
    let id = seed_account(app, "bob@acme.example", Some(&a.org_id)).await;
    let s = site(app, &a, "acme.example.net").await;
    let (status, body) = a
        .post(
            &format!("/sites/{s}/users"),
            json!({"email": "bob@acme.example"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (a, id, s)
}

#[tokio::test]
async fn the_schema_refuses_a_status_the_server_does_not_know() {
    let app = spawn_app().await;
    let (a, id, s) = account_on_site(&app).await;
    let other = seed_account(&app, "other@acme.example", Some(&a.org_id)).await;
    let db = app.db().await;

    for sql in [
        "UPDATE accounts SET status = 'bogus'",
        "UPDATE accounts SET status = 'Active'",
        "UPDATE site_memberships SET status = 'removed'",
        "UPDATE site_memberships SET status = 'deactivated'",
    ] {
        assert!(raw(&db, sql).await.is_err(), "{sql} was stored");
    }
    let now = Utc::now();
    let insert_account = Query::insert()
        .into_table(account::Entity)
        .columns([
            account::Column::Id,
            account::Column::Status,
            account::Column::TwoStepEnabled,
            account::Column::SamlSso,
            account::Column::PasswordResetRequired,
            account::Column::CreatedAt,
            account::Column::UpdatedAt,
        ])
        .values_panic([
            Uuid::now_v7().into(),
            "bogus".into(),
            false.into(),
            false.into(),
            false.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    assert!(db.execute(&insert_account).await.is_err());
    let insert_membership = Query::insert()
        .into_table(site_membership::Entity)
        .columns([
            site_membership::Column::SiteId,
            site_membership::Column::AccountId,
            site_membership::Column::Status,
            site_membership::Column::InvitedDirectly,
            site_membership::Column::CreatedAt,
            site_membership::Column::UpdatedAt,
        ])
        .values_panic([
            Uuid::parse_str(&s).unwrap().into(),
            Uuid::parse_str(&other).unwrap().into(),
            "removed".into(),
            false.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    assert!(db.execute(&insert_membership).await.is_err());

    // Every known name is still accepted (the guard is not too wide).
    for status in account::AccountStatus::ALL {
        raw(&db, &format!("UPDATE accounts SET status = '{status}'"))
            .await
            .unwrap();
    }
    for status in site_membership::MembershipStatus::ALL {
        raw(
            &db,
            &format!("UPDATE site_memberships SET status = '{status}'"),
        )
        .await
        .unwrap();
    }
    raw(&db, "UPDATE accounts SET status = 'active'")
        .await
        .unwrap();
    raw(&db, "UPDATE site_memberships SET status = 'invited'")
        .await
        .unwrap();
    let (status, d) = a.get(&format!("/accounts/{id}")).await;
    assert_eq!((status, &d["status"]), (200, &json!("active")), "{d}");
    let (status, users) = a.get(&format!("/sites/{s}/users")).await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users["items"].as_array().unwrap().len(), 1, "{users}");
    assert_eq!(users["items"][0]["status"], "invited", "{users}");
}

#[tokio::test]
async fn an_unknown_status_read_back_is_a_500_not_a_guess() {
    let app = spawn_app().await;
    let (a, id, s) = account_on_site(&app).await;
    let db = app.db().await;
    // Lift the schema's guard, as an older or hand-edited database might
    // lack it.
    let lift: &[&str] = match test_backend() {
        TestBackend::Sqlite => &[
            "DROP TRIGGER ck_accounts_status_update",
            "DROP TRIGGER ck_site_memberships_status_update",
        ],
        TestBackend::Postgres(_) => &[
            "ALTER TABLE accounts DROP CONSTRAINT ck_accounts_status",
            "ALTER TABLE site_memberships DROP CONSTRAINT ck_site_memberships_status",
        ],
    };
    for sql in lift {
        raw(&db, sql).await.unwrap();
    }
    raw(&db, "UPDATE accounts SET status = 'suspended'")
        .await
        .unwrap();
    let (status, body) = a.get(&format!("/accounts/{id}")).await;
    assert_admin_error(status, &body, 500, "internal_error");
    assert!(!body.to_string().contains("suspended"), "{body}");
    let (status, body) = a
        .post(&format!("/accounts/{id}/deactivate"), json!({}))
        .await;
    assert_admin_error(status, &body, 500, "internal_error");

    raw(&db, "UPDATE accounts SET status = 'active'")
        .await
        .unwrap();
    raw(&db, "UPDATE site_memberships SET status = 'removed'")
        .await
        .unwrap();
    let (status, body) = a.get(&format!("/sites/{s}/users")).await;
    assert_admin_error(status, &body, 500, "internal_error");
    let (status, body) = a
        .post(&format!("/sites/{s}/users/{id}/suspend"), json!({}))
        .await;
    assert_admin_error(status, &body, 500, "internal_error");
}

/// An audit entry (the admin's invitation) and a sync-log entry (a SCIM
/// create) of the default organization; returns its admin.
async fn logged(app: &TestApp) -> crate::admin::Admin {
    let (a, _, _) = account_on_site(app).await;
    app.create_user(user("kind@example.com")).await;
    a
}

#[tokio::test]
async fn the_schema_refuses_an_outcome_or_actor_type_the_server_does_not_know() {
    let app = spawn_app().await;
    let a = logged(&app).await;
    let db = app.db().await;

    for sql in [
        "UPDATE sync_log SET outcome = 'bogus'",
        "UPDATE sync_log SET outcome = 'Success'",
        "UPDATE audit_log SET actor_type = 'bogus'",
        "UPDATE audit_log SET actor_type = 'admin'",
    ] {
        assert!(raw(&db, sql).await.is_err(), "{sql} was stored");
    }
    let now = Utc::now();
    let insert_entry = Query::insert()
        .into_table(sync_log::Entity)
        .columns([
            sync_log::Column::DirectoryId,
            sync_log::Column::At,
            sync_log::Column::Operation,
            sync_log::Column::ResourceType,
            sync_log::Column::Outcome,
            sync_log::Column::Status,
        ])
        .values_panic([
            app.directory_id.into(),
            now.into(),
            "POST /Users".into(),
            "User".into(),
            "partial".into(),
            201.into(),
        ])
        .to_owned();
    assert!(db.execute(&insert_entry).await.is_err());
    let insert_audit = Query::insert()
        .into_table(audit_log::Entity)
        .columns([
            audit_log::Column::OrgId,
            audit_log::Column::At,
            audit_log::Column::ActorType,
            audit_log::Column::ActorId,
            audit_log::Column::Action,
            audit_log::Column::TargetType,
        ])
        .values_panic([
            Uuid::parse_str(&a.org_id).unwrap().into(),
            now.into(),
            "robot".into(),
            "r2".into(),
            "account.deactivate".into(),
            "account".into(),
        ])
        .to_owned();
    assert!(db.execute(&insert_audit).await.is_err());

    // Every known name is still accepted (the guard is not too wide).
    for outcome in sync_log::SyncOutcome::ALL {
        raw(&db, &format!("UPDATE sync_log SET outcome = '{outcome}'"))
            .await
            .unwrap();
    }
    for actor in audit_log::ActorType::ALL {
        raw(&db, &format!("UPDATE audit_log SET actor_type = '{actor}'"))
            .await
            .unwrap();
    }
    raw(&db, "UPDATE sync_log SET outcome = 'warning'")
        .await
        .unwrap();
    raw(&db, "UPDATE audit_log SET actor_type = 'directory'")
        .await
        .unwrap();
    let (status, log) = a
        .get(&format!(
            "/directories/{}/sync-log?outcome=warning",
            app.directory_id
        ))
        .await;
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log["items"][0]["outcome"], "warning", "{log}");
    let (status, audit) = a.get("/audit-log").await;
    assert_eq!(status, 200, "{audit}");
    assert!(!audit["items"].as_array().unwrap().is_empty(), "{audit}");
    assert_eq!(audit["items"][0]["actor_type"], "directory", "{audit}");
}

#[tokio::test]
async fn an_unknown_outcome_or_actor_type_read_back_is_a_500_not_a_guess() {
    let app = spawn_app().await;
    let a = logged(&app).await;
    let db = app.db().await;
    // Lift the schema's guard, as an older or hand-edited database might
    // lack it.
    let lift: &[&str] = match test_backend() {
        TestBackend::Sqlite => &[
            "DROP TRIGGER ck_sync_log_outcome_update",
            "DROP TRIGGER ck_audit_log_actor_type_update",
        ],
        TestBackend::Postgres(_) => &[
            "ALTER TABLE sync_log DROP CONSTRAINT ck_sync_log_outcome",
            "ALTER TABLE audit_log DROP CONSTRAINT ck_audit_log_actor_type",
        ],
    };
    for sql in lift {
        raw(&db, sql).await.unwrap();
    }
    raw(&db, "UPDATE sync_log SET outcome = 'partial'")
        .await
        .unwrap();
    let (status, body) = a
        .get(&format!("/directories/{}/sync-log", app.directory_id))
        .await;
    assert_admin_error(status, &body, 500, "internal_error");
    assert!(!body.to_string().contains("partial"), "{body}");

    raw(&db, "UPDATE audit_log SET actor_type = 'robot'")
        .await
        .unwrap();
    let (status, body) = a.get("/audit-log").await;
    assert_admin_error(status, &body, 500, "internal_error");
    assert!(!body.to_string().contains("robot"), "{body}");
}

/// A product (jira, as admin) granted directly on the site and one
/// (confluence, as user) through a group the account is in; returns
/// (admin, account id, site id).
async fn granted(app: &TestApp) -> (crate::admin::Admin, String, String) {
    let (a, id, s) = account_on_site(app).await;
    let (status, body) = a
        .put(
            &format!("/sites/{s}/users/{id}/products/jira"),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, g) = a.post("/groups", json!({"name": "Writers"})).await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap();
    let (status, body) = a
        .post(
            &format!("/groups/{gid}/grants"),
            json!({"site_id": s, "product": "confluence"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = a
        .put(&format!("/groups/{gid}/members/{id}"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    (a, id, s)
}

/// The account's product access on the site as the admin API lists it:
/// (product, role) pairs.
async fn roles_shown(a: &crate::admin::Admin, s: &str) -> Vec<(String, String)> {
    let (status, users) = a.get(&format!("/sites/{s}/users")).await;
    assert_eq!(status, 200, "{users}");
    users["items"][0]["product_access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["product"].as_str().unwrap().to_owned(),
                p["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_schema_refuses_a_product_role_the_server_does_not_know() {
    let app = spawn_app().await;
    let (a, id, s) = granted(&app).await;
    let db = app.db().await;
    assert_eq!(
        roles_shown(&a, &s).await,
        vec![
            ("confluence".to_owned(), "user".to_owned()),
            ("jira".to_owned(), "admin".to_owned())
        ]
    );

    for sql in [
        "UPDATE product_access SET role = 'owner'",
        "UPDATE product_access SET role = 'Admin'",
        "UPDATE group_grants SET role = 'owner'",
        "UPDATE group_grants SET role = ''",
    ] {
        assert!(raw(&db, sql).await.is_err(), "{sql} was stored");
    }
    let now = Utc::now();
    let insert_access = Query::insert()
        .into_table(product_access::Entity)
        .columns([
            product_access::Column::SiteId,
            product_access::Column::AccountId,
            product_access::Column::Product,
            product_access::Column::Role,
            product_access::Column::CreatedAt,
        ])
        .values_panic([
            Uuid::parse_str(&s).unwrap().into(),
            Uuid::parse_str(&id).unwrap().into(),
            "bitbucket".into(),
            "owner".into(),
            now.into(),
        ])
        .to_owned();
    assert!(db.execute(&insert_access).await.is_err());
    let grant_group: Uuid = group_grant::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .group_id;
    let insert_grant = Query::insert()
        .into_table(group_grant::Entity)
        .columns([
            group_grant::Column::Id,
            group_grant::Column::GroupId,
            group_grant::Column::SiteId,
            group_grant::Column::Product,
            group_grant::Column::Role,
            group_grant::Column::CreatedAt,
        ])
        .values_panic([
            Uuid::now_v7().into(),
            grant_group.into(),
            Uuid::parse_str(&s).unwrap().into(),
            "bitbucket".into(),
            "owner".into(),
            now.into(),
        ])
        .to_owned();
    assert!(db.execute(&insert_grant).await.is_err());

    // Every known name is still accepted (the guard is not too wide).
    for role in product_access::ProductRole::ALL {
        for table in ["product_access", "group_grants"] {
            raw(&db, &format!("UPDATE {table} SET role = '{role}'"))
                .await
                .unwrap();
        }
    }
    assert_eq!(
        roles_shown(&a, &s).await,
        vec![
            ("confluence".to_owned(), "admin".to_owned()),
            ("jira".to_owned(), "admin".to_owned())
        ]
    );
}

#[tokio::test]
async fn an_unknown_product_role_read_back_is_a_500_not_a_guess() {
    let app = spawn_app().await;
    let (a, _, s) = granted(&app).await;
    let db = app.db().await;
    // Lift the schema's guard, as an older or hand-edited database might
    // lack it.
    let lift: &[&str] = match test_backend() {
        TestBackend::Sqlite => &[
            "DROP TRIGGER ck_product_access_role_update",
            "DROP TRIGGER ck_group_grants_role_update",
        ],
        TestBackend::Postgres(_) => &[
            "ALTER TABLE product_access DROP CONSTRAINT ck_product_access_role",
            "ALTER TABLE group_grants DROP CONSTRAINT ck_group_grants_role",
        ],
    };
    for sql in lift {
        raw(&db, sql).await.unwrap();
    }
    for table in ["product_access", "group_grants"] {
        raw(&db, &format!("UPDATE {table} SET role = 'owner'"))
            .await
            .unwrap();
        let (status, body) = a.get(&format!("/sites/{s}/users")).await;
        assert_admin_error(status, &body, 500, "internal_error");
        assert!(!body.to_string().contains("owner"), "{body}");
        raw(&db, &format!("UPDATE {table} SET role = 'user'"))
            .await
            .unwrap();
    }
    let (status, body) = a.get(&format!("/sites/{s}/users")).await;
    assert_eq!(status, 200, "{body}");
}

/// On SQLite a guard is a trigger, run by every INSERT (and UPDATE of the
/// column) of its table: one that built a temporary table each time (a
/// `NOT IN` of more than two values does: SQLite makes the list an
/// ephemeral index, with a page cache of its own, opened and dropped per
/// statement) cost each `POST /Users` two of them, a tenth of its work on
/// the writer connection. No trigger's program, as `EXPLAIN` lists it
/// (with the programs of the triggers it fires), opens one.
#[tokio::test]
async fn no_trigger_builds_a_temporary_table_on_sqlite() {
    if let TestBackend::Postgres(_) = test_backend() {
        // The guards are CHECK constraints there, evaluated in place.
        return;
    }
    let app = spawn_app().await;
    let db = app.db().await;
    let sql = |s: &str| sea_orm::Statement::from_string(sea_orm::DbBackend::Sqlite, s);
    let triggers = db
        .query_all_raw(sql(
            "SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'trigger'",
        ))
        .await
        .unwrap();
    assert!(triggers.len() >= 12, "the guards' triggers: {triggers:?}");
    for t in triggers {
        let name: String = t.try_get("", "name").unwrap();
        let table: String = t.try_get("", "tbl_name").unwrap();
        let text: String = t.try_get("", "sql").unwrap();
        let fired_by = match text.split_once(" UPDATE OF ") {
            Some((_, rest)) => {
                let column = rest.split_whitespace().next().unwrap();
                // One row by its key: an UPDATE of many may gather their
                // keys in a temporary table of its own, trigger or not.
                format!("UPDATE {table} SET {column} = {column} WHERE rowid = 1")
            }
            None if text.contains(" INSERT ON ") => format!("INSERT INTO {table} DEFAULT VALUES"),
            None => panic!("{name}: neither an INSERT nor an UPDATE OF trigger: {text}"),
        };
        let program = db
            .query_all_raw(sql(&format!("EXPLAIN {fired_by}")))
            .await
            .unwrap();
        let opcodes: Vec<String> = program
            .iter()
            .map(|r| r.try_get("", "opcode").unwrap())
            .collect();
        assert!(
            opcodes.iter().any(|o| o == "Program"),
            "{fired_by} does not run {name}: {opcodes:?}"
        );
        assert!(
            !opcodes.iter().any(|o| o == "OpenEphemeral"),
            "{fired_by} (trigger {name}) builds a temporary table: {text}"
        );
    }
}
