//! `scim_user_values.directory_id` no longer references `directories`: the
//! row's user does (`user_id` → `scim_users`, whose `directory_id` →
//! `directories`, both `ON DELETE CASCADE`), and the server writes a value
//! row with its user's directory only. The key repeated that chain: it
//! refused nothing the other two let through, and removing a directory
//! removes its users' values through their users all the same. What it
//! cost was a check per value row written (on PostgreSQL a
//! `SELECT … FOR KEY SHARE` of the directory row, about a sixth of
//! PostgreSQL's time in a `/Bulk` import). The column stays: the filter
//! index (`directory_id, attr, value_lower`) leads with it.
//!
//! PostgreSQL drops the constraint. SQLite can't drop one: the table is
//! rebuilt without it (its rows, its AUTOINCREMENT counter and its indexes
//! kept), in this migration's transaction. `down` puts the key back the
//! same way.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000001_drop_value_directory_key"
    }
}

const TABLE: &str = "scim_user_values";

/// The table's columns, in order.
const COLUMNS: [&str; 17] = [
    "id",
    "user_id",
    "directory_id",
    "attr",
    "position",
    "value",
    "value_lower",
    "display",
    "type",
    "primary",
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
    "unique_key",
];

/// The table's column definitions as SQLite has them at this step.
const SQLITE_COLUMNS: &str = r#""id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "user_id" uuid_text NOT NULL, "directory_id" uuid_text NOT NULL, "attr" text NOT NULL, "position" integer NOT NULL, "value" text NULL, "value_lower" text NULL, "display" text NULL, "type" text NULL, "primary" boolean NULL, "formatted" text NULL, "street_address" text NULL, "locality" text NULL, "region" text NULL, "postal_code" text NULL, "country" text NULL, "unique_key" text NULL"#;
const SQLITE_USER_KEY: &str =
    r#"FOREIGN KEY ("user_id") REFERENCES "scim_users" ("id") ON DELETE CASCADE"#;
const SQLITE_DIRECTORY_KEY: &str =
    r#"FOREIGN KEY ("directory_id") REFERENCES "directories" ("id") ON DELETE CASCADE"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// SQLite's rebuild is a drop and a rename: all or nothing.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            return rebuild_sqlite(manager, &[SQLITE_USER_KEY]).await;
        }
        manager
            .drop_foreign_key(
                ForeignKey::drop()
                    .name("fk_scim_user_values_directory_id")
                    .table(Alias::new(TABLE))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            return rebuild_sqlite(manager, &[SQLITE_USER_KEY, SQLITE_DIRECTORY_KEY]).await;
        }
        manager
            .create_foreign_key(
                ForeignKey::create()
                    .name("fk_scim_user_values_directory_id")
                    .from(Alias::new(TABLE), Alias::new("directory_id"))
                    .to(Alias::new("directories"), Alias::new("id"))
                    .on_delete(ForeignKeyAction::Cascade)
                    .to_owned(),
            )
            .await
    }
}

/// SQLite's way to change a table's constraints: a new table with `keys`,
/// the rows copied (ids kept), the old one dropped, the new one renamed,
/// the AUTOINCREMENT counter and every index of the old table put back.
/// No other table references this one, and it has no trigger.
async fn rebuild_sqlite(manager: &SchemaManager<'_>, keys: &[&str]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let text = |sql: String| Statement::from_string(DbBackend::Sqlite, sql);
    let indexes: Vec<String> = db
        .query_all_raw(text(format!(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{TABLE}' \
             AND sql IS NOT NULL"
        )))
        .await?
        .iter()
        .map(|r| r.try_get_by_index(0))
        .collect::<Result<_, _>>()?;
    let seq: Option<i64> = db
        .query_one_raw(text(format!(
            "SELECT seq FROM sqlite_sequence WHERE name = '{TABLE}'"
        )))
        .await?
        .map(|r| r.try_get_by_index(0))
        .transpose()?;
    let new = format!("{TABLE}_rebuilt");
    let columns = COLUMNS
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    db.execute_unprepared(&format!(
        "CREATE TABLE \"{new}\" ( {SQLITE_COLUMNS}, {} )",
        keys.join(", ")
    ))
    .await?;
    db.execute_unprepared(&format!(
        "INSERT INTO \"{new}\" ({columns}) SELECT {columns} FROM \"{TABLE}\""
    ))
    .await?;
    db.execute_unprepared(&format!("DROP TABLE \"{TABLE}\""))
        .await?;
    db.execute_unprepared(&format!("ALTER TABLE \"{new}\" RENAME TO \"{TABLE}\""))
        .await?;
    if let Some(seq) = seq {
        // The copy left the counter at the largest id kept (or none, if
        // the table was empty); AUTOINCREMENT promises that no id of a
        // deleted row comes back either.
        db.execute_unprepared(&format!(
            "UPDATE sqlite_sequence SET seq = MAX(seq, {seq}) WHERE name = '{TABLE}'"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "INSERT INTO sqlite_sequence (name, seq) SELECT '{TABLE}', {seq} \
             WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = '{TABLE}')"
        ))
        .await?;
    }
    for sql in indexes {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}
