//! Indexes that hold only the rows they are searched for. Each of these
//! indexes a column that is NULL in most rows, and every query that uses
//! it compares that column (`=`, `<=`), which no NULL satisfies; yet each
//! row written took an entry in it, a page write and a WAL record on
//! PostgreSQL. Now the index keeps the rows where the column is set:
//!
//! - `accounts (managing_org_id, status)` and `(managing_org_id, id)`: the
//!   admin's views of an org's managed accounts (`managing_org_id = $1`);
//!   an account no verified domain claims has none;
//! - `accounts (status, purge_after)`: the purge job
//!   (`status = 'pending_deletion' AND purge_after <= $1`); only an
//!   account pending deletion has one;
//! - the unique indexes on `(attr, unique_key)` of `scim_user_values` and
//!   `scim_group_values`: a key is set only on a custom attribute declared
//!   unique, and NULL keys never conflicted.
//!
//! Same names, same columns, same SQL on both backends (PostgreSQL and
//! SQLite plan `col = $1` on an index `WHERE col IS NOT NULL`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000002_partial_indexes"
    }
}

/// (index, table, columns, unique, the column it keeps the rows that set).
const INDEXES: [(&str, &str, &str, bool, &str); 5] = [
    (
        "ix_accounts_managing_org",
        "accounts",
        r#""managing_org_id", "status""#,
        false,
        "managing_org_id",
    ),
    (
        "ix_accounts_managing_org_id",
        "accounts",
        r#""managing_org_id", "id""#,
        false,
        "managing_org_id",
    ),
    (
        "ix_accounts_purge_after",
        "accounts",
        r#""status", "purge_after""#,
        false,
        "purge_after",
    ),
    (
        "ix_scim_user_values_unique",
        "scim_user_values",
        r#""attr", "unique_key""#,
        true,
        "unique_key",
    ),
    (
        "ix_scim_group_values_unique",
        "scim_group_values",
        r#""attr", "unique_key""#,
        true,
        "unique_key",
    ),
];

async fn recreate(manager: &SchemaManager<'_>, partial: bool) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for (name, table, columns, unique, set) in INDEXES {
        db.execute_unprepared(&format!("DROP INDEX IF EXISTS \"{name}\""))
            .await?;
        let unique = if unique { "UNIQUE " } else { "" };
        let filter = if partial {
            format!(" WHERE \"{set}\" IS NOT NULL")
        } else {
            String::new()
        };
        db.execute_unprepared(&format!(
            "CREATE {unique}INDEX \"{name}\" ON \"{table}\" ({columns}){filter}"
        ))
        .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// An index is dropped and made again: all or nothing, on SQLite too.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recreate(manager, false).await
    }
}
