//! Migrations that change what the schema enforces, run down and up again
//! over rows already there.

use chrono::Utc;
use entity::sync_log::{self, SyncOutcome};
use entity::{account, directory, scim_user, scim_user_value};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, NotSet, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::helpers::fresh_database_url;

/// A user of `dir` with an email value and a custom value under a
/// unique key; returns the user's id.
async fn user_with_values(db: &DatabaseConnection, dir: Uuid, name: &str) -> Uuid {
    let now = Utc::now();
    let (acc, id) = (Uuid::now_v7(), Uuid::now_v7());
    account::Entity::insert(account::ActiveModel {
        id: Set(acc),
        email: Set(Some(name.into())),
        email_lower: Set(Some(name.into())),
        email_domain: Set(Some("example.com".into())),
        status: Set(account::AccountStatus::Active),
        two_step_enabled: Set(false),
        saml_sso: Set(false),
        password_reset_required: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await
    .unwrap();
    scim_user::Entity::insert(scim_user::ActiveModel {
        id: Set(id),
        directory_id: Set(dir),
        account_id: Set(acc),
        user_name: Set(name.into()),
        user_name_lower: Set(name.into()),
        active: Set(true),
        version: Set(1),
        created_at: Set(now),
        last_modified: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await
    .unwrap();
    value(db, id, dir, "emails", None).await.unwrap();
    value(db, id, dir, "urn:x:badge", Some(&format!("badge-{name}")))
        .await
        .unwrap();
    id
}

async fn value(
    db: &DatabaseConnection,
    user: Uuid,
    dir: Uuid,
    attr: &str,
    unique_key: Option<&str>,
) -> Result<i64, sea_orm::DbErr> {
    let row = scim_user_value::ActiveModel {
        id: NotSet,
        user_id: Set(user),
        directory_id: Set(dir),
        attr: Set(attr.into()),
        position: Set(0),
        value: Set(Some("v".into())),
        value_lower: Set(Some("v".into())),
        unique_key: Set(unique_key.map(str::to_owned)),
        ..Default::default()
    };
    Ok(scim_user_value::Entity::insert(row)
        .exec(db)
        .await?
        .last_insert_id)
}

/// A fresh database, migrated all the way up, with its first directory.
async fn migrated_with_directory() -> (DatabaseConnection, Uuid) {
    let url = fresh_database_url().await;
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let (dir, _) = scim_server::store::directories::bootstrap(&db, None)
        .await
        .unwrap()
        .unwrap();
    (db, dir.id)
}

async fn value_ids(db: &DatabaseConnection) -> Vec<i64> {
    scim_user_value::Entity::find()
        .order_by_asc(scim_user_value::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect()
}

/// `m20261205_000001_drop_value_directory_key` and
/// `m20261205_000002_partial_indexes` (below the guards' rewrite,
/// `m20261206_000001_guards_compare_in_place`, and
/// `m20261207_000001_drop_sync_log_time_index`): down puts the key and the full
/// indexes back, up takes them away again, and the rows, their ids and
/// what the schema refuses stay what they were.
#[tokio::test]
async fn the_value_directory_key_and_the_partial_indexes_migrate_down_and_up_over_rows() {
    let (db, dir) = migrated_with_directory().await;
    let nowhere = Uuid::now_v7();
    let jane = user_with_values(&db, dir, "jane@example.com").await;
    // A value of a deleted row: its id must not come back.
    let gone = value(&db, jane, dir, "phoneNumbers", None).await.unwrap();
    scim_user_value::Entity::delete_by_id(gone)
        .exec(&db)
        .await
        .unwrap();
    let ids = value_ids(&db).await;
    let taken = Some("badge-jane@example.com");
    assert_eq!(ids.len(), 2);

    Migrator::down(&db, Some(4)).await.unwrap();
    assert_eq!(value_ids(&db).await, ids);
    assert!(
        value(&db, jane, nowhere, "emails", None).await.is_err(),
        "down: a value's directory must exist again"
    );
    assert!(
        value(&db, jane, dir, "urn:x:badge", taken).await.is_err(),
        "down: the unique key still refuses a second value"
    );

    Migrator::up(&db, None).await.unwrap();
    assert_eq!(value_ids(&db).await, ids, "up keeps the rows and their ids");
    assert!(
        value(&db, jane, dir, "urn:x:badge", taken).await.is_err(),
        "up: the unique key still refuses a second value"
    );
    let next = value(&db, jane, dir, "emails", None).await.unwrap();
    assert!(next > gone, "{next} reuses an id ({gone} was deleted)");
    // The key is gone: the value's user is what ties it to a directory.
    value(&db, jane, nowhere, "emails", None).await.unwrap();

    // Removing the directory removes its users' values, through them.
    let john = user_with_values(&db, dir, "john@example.com").await;
    directory::Entity::delete_by_id(dir)
        .exec(&db)
        .await
        .unwrap();
    let left = scim_user_value::Entity::find()
        .filter(scim_user_value::Column::UserId.is_in([jane, john]))
        .all(&db)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    let _ = db.close().await;
}

/// `m20261206_000001_guards_compare_in_place` (below
/// `m20261207_000001_drop_sync_log_time_index`): down puts the `NOT IN`
/// triggers back, up the compared ones; at each step an account's status
/// is refused unless it is one the server knows, and every known one is
/// taken.
#[tokio::test]
async fn the_guards_refuse_the_same_statuses_down_and_up() {
    use sea_orm::ConnectionTrait;
    let (db, dir) = migrated_with_directory().await;
    user_with_values(&db, dir, "jane@example.com").await;
    for step in ["up", "down", "up again"] {
        match step {
            "down" => Migrator::down(&db, Some(2)).await.unwrap(),
            "up again" => Migrator::up(&db, None).await.unwrap(),
            _ => {}
        }
        for bad in ["bogus", "Active", ""] {
            let sql = format!("UPDATE accounts SET status = '{bad}'");
            assert!(
                db.execute_unprepared(&sql).await.is_err(),
                "{step}: {bad:?} was stored"
            );
        }
        for good in account::AccountStatus::ALL {
            let sql = format!("UPDATE accounts SET status = '{good}'");
            db.execute_unprepared(&sql)
                .await
                .unwrap_or_else(|e| panic!("{step}: {good} refused: {e}"));
        }
    }
    let _ = db.close().await;
}

/// A sync-log entry of `dir` made `hours_ago`, with `outcome`.
async fn logged(db: &DatabaseConnection, dir: Uuid, outcome: SyncOutcome, hours_ago: i64) {
    sync_log::Entity::insert(sync_log::ActiveModel {
        id: NotSet,
        directory_id: Set(dir),
        at: Set(Utc::now() - chrono::Duration::hours(hours_ago)),
        operation: Set("POST /Users".into()),
        resource_type: Set("User".into()),
        resource_id: Set(None),
        outcome: Set(outcome),
        status: Set(201),
        detail: Set(None),
        request_id: Set(None),
    })
    .exec(db)
    .await
    .unwrap();
}

/// `m20261207_000001_drop_sync_log_time_index`: the index of the sync
/// log by directory and time goes (up) and comes back (down), and a
/// directory's last sync is its latest entry's time throughout, whatever
/// that entry's outcome, alone and in the organization's overview.
#[tokio::test]
async fn the_last_sync_is_the_latest_entry_without_the_time_index() {
    use scim_server::store::{directories, sync_status};
    let (db, dir) = migrated_with_directory().await;
    let org = directory::Entity::find_by_id(dir)
        .one(&db)
        .await
        .unwrap()
        .unwrap()
        .org_id;
    let schema = migration::SchemaManager::new(&db);
    let indexed = async || {
        schema
            .has_index("sync_log", "ix_sync_log_directory_at")
            .await
            .unwrap()
    };
    assert!(!indexed().await, "up drops the index");
    assert_eq!(directories::last_sync(&db, dir).await.unwrap(), None);
    for (outcome, hours_ago) in [
        (SyncOutcome::Success, 4),
        (SyncOutcome::Warning, 1),
        (SyncOutcome::Failure, 2),
        (SyncOutcome::Success, 3),
    ] {
        logged(&db, dir, outcome, hours_ago).await;
    }
    let newest = sync_log::Entity::find()
        .order_by_desc(sync_log::Column::At)
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest.outcome, SyncOutcome::Warning);
    for step in ["up", "down", "up again"] {
        match step {
            "down" => {
                Migrator::down(&db, Some(1)).await.unwrap();
                assert!(indexed().await, "down puts the index back");
            }
            "up again" => {
                Migrator::up(&db, None).await.unwrap();
                assert!(!indexed().await);
            }
            _ => {}
        }
        let last = directories::last_sync(&db, dir).await.unwrap();
        assert_eq!(last, Some(newest.at), "{step}");
        let overview = sync_status::overview(&db, org).await.unwrap();
        let (_, status) = overview.iter().find(|(d, _)| d.id == dir).unwrap();
        assert_eq!(status.last_sync, Some(newest.at), "{step}: overview");
    }
    let _ = db.close().await;
}
