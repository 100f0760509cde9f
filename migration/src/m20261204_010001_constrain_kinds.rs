//! More text columns hold only the names the server knows, as the status
//! columns do since `m20261203_030001_constrain_statuses`: the product
//! role of `product_access.role` and `group_grant.role`
//! (`entity::product_access::ProductRole`), `sync_log.outcome`
//! (`entity::sync_log::SyncOutcome`) and `audit_log.actor_type`
//! (`entity::audit_log::ActorType`). Reading any
//! other value is an error, so the schema refuses to store one: a CHECK
//! constraint on PostgreSQL; on SQLite, which can't add one to an existing
//! table, triggers refuse an INSERT, or an UPDATE of the column, with
//! another value.
//!
//! The lists are written out here, not taken from the entities: a
//! migration is what the schema was at that step, whatever the code
//! becomes. A later kind is a later migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_010001_constrain_kinds"
    }
}

/// (table, column, constraint/trigger stem, allowed values).
const KINDS: [(&str, &str, &str, &[&str]); 4] = [
    (
        "product_access",
        "role",
        "ck_product_access_role",
        &["user", "admin"],
    ),
    (
        "group_grants",
        "role",
        "ck_group_grants_role",
        &["user", "admin"],
    ),
    (
        "sync_log",
        "outcome",
        "ck_sync_log_outcome",
        &["success", "failure", "warning"],
    ),
    (
        "audit_log",
        "actor_type",
        "ck_audit_log_actor_type",
        &["admin_key", "directory", "system", "operator"],
    ),
];

fn in_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        for (table, column, name, values) in KINDS {
            let list = in_list(values);
            if !sqlite {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({column} IN ({list}))"
                ))
                .await?;
                continue;
            }
            let message = format!("{table}.{column} must be one of {}", values.join(", "));
            let update = format!("UPDATE OF {column}");
            for (suffix, event) in [("insert", "INSERT"), ("update", update.as_str())] {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER IF NOT EXISTS {name}_{suffix} BEFORE {event} ON {table} \
                     FOR EACH ROW WHEN NEW.{column} NOT IN ({list}) \
                     BEGIN SELECT RAISE(ABORT, '{message}'); END"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
        for (table, _, name, _) in KINDS {
            if sqlite {
                for suffix in ["insert", "update"] {
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name}_{suffix}"))
                        .await?;
                }
            } else {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"
                ))
                .await?;
            }
        }
        Ok(())
    }
}
