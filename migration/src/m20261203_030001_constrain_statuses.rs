//! The status columns hold only the names the server knows
//! (`entity::account::AccountStatus`, `entity::site_membership::
//! MembershipStatus`): reading any other value is an error, so the schema
//! refuses to store one. PostgreSQL gets a CHECK constraint on each
//! column; SQLite can't add one to an existing table, so triggers refuse
//! an INSERT, or an UPDATE of the column, with another value.
//!
//! The lists are written out here, not taken from the entities: a
//! migration is what the schema was at that step, whatever the code
//! becomes. A later status is a later migration.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_030001_constrain_statuses"
    }
}

/// (table, constraint/trigger stem, allowed values).
const STATUSES: [(&str, &str, &[&str]); 2] = [
    (
        "accounts",
        "ck_accounts_status",
        &["active", "deactivated", "pending_deletion", "deleted"],
    ),
    (
        "site_memberships",
        "ck_site_memberships_status",
        &["active", "invited", "suspended"],
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
        for (table, name, values) in STATUSES {
            let list = in_list(values);
            if !sqlite {
                db.execute_unprepared(&format!(
                    "ALTER TABLE {table} ADD CONSTRAINT {name} CHECK (status IN ({list}))"
                ))
                .await?;
                continue;
            }
            let message = format!("{table}.status must be one of {}", values.join(", "));
            for (suffix, event) in [("insert", "INSERT"), ("update", "UPDATE OF status")] {
                db.execute_unprepared(&format!(
                    "CREATE TRIGGER IF NOT EXISTS {name}_{suffix} BEFORE {event} ON {table} \
                     FOR EACH ROW WHEN NEW.status NOT IN ({list}) \
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
        for (table, name, _) in STATUSES {
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
