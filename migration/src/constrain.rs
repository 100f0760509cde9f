//! The guard of a text column that holds only the names the server knows
//! (a status, a role, an outcome): a CHECK constraint on PostgreSQL; on
//! SQLite, which can't add one to an existing table, triggers that refuse
//! an INSERT, or an UPDATE of the column, with another value. Migrations
//! name the values themselves (what the schema was at that step).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

/// One guarded column: its table, its name, the constraint's (or the
/// triggers' stem) and the values it allows.
pub struct Allowed {
    pub table: &'static str,
    pub column: &'static str,
    pub name: &'static str,
    pub values: &'static [&'static str],
}

fn in_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a SQLite guard's trigger tests the value.
#[derive(Clone, Copy)]
pub enum Test {
    /// `NEW.column NOT IN ('a', 'b', 'c')`, as first written. Of more than
    /// two values, SQLite builds the list into an ephemeral index, with a
    /// page cache of its own, for each statement that fires the trigger.
    NotIn,
    /// `NOT (NEW.column = 'a' OR NEW.column = 'b' OR …)`: the same rows
    /// refused, compared in place.
    Compared,
}

impl Test {
    fn refuses(self, column: &str, values: &[&str]) -> String {
        match self {
            Test::NotIn => format!("NEW.{column} NOT IN ({})", in_list(values)),
            Test::Compared => {
                let each: Vec<String> = values
                    .iter()
                    .map(|v| format!("NEW.{column} = '{v}'"))
                    .collect();
                format!("NOT ({})", each.join(" OR "))
            }
        }
    }
}

/// Adds the guard of each column.
pub async fn add(manager: &SchemaManager<'_>, guards: &[Allowed]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    if manager.get_database_backend() == DbBackend::Sqlite {
        return triggers(manager, guards, Test::NotIn).await;
    }
    for g in guards {
        db.execute_unprepared(&format!(
            "ALTER TABLE {} ADD CONSTRAINT {} CHECK ({} IN ({}))",
            g.table,
            g.name,
            g.column,
            in_list(g.values)
        ))
        .await?;
    }
    Ok(())
}

/// SQLite: (re)creates the triggers of each guard, testing the value with
/// `test`. Nothing on PostgreSQL, whose CHECK constraints test in place.
pub async fn triggers(
    manager: &SchemaManager<'_>,
    guards: &[Allowed],
    test: Test,
) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let db = manager.get_connection();
    for Allowed {
        table,
        column,
        name,
        values,
    } in guards
    {
        let refuses = test.refuses(column, values);
        let message = format!("{table}.{column} must be one of {}", values.join(", "));
        let update = format!("UPDATE OF {column}");
        for (suffix, event) in [("insert", "INSERT"), ("update", update.as_str())] {
            db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {name}_{suffix}"))
                .await?;
            db.execute_unprepared(&format!(
                "CREATE TRIGGER {name}_{suffix} BEFORE {event} ON {table} \
                 FOR EACH ROW WHEN {refuses} \
                 BEGIN SELECT RAISE(ABORT, '{message}'); END"
            ))
            .await?;
        }
    }
    Ok(())
}

/// Drops the guard of each column.
pub async fn drop(manager: &SchemaManager<'_>, guards: &[Allowed]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let sqlite = manager.get_database_backend() == DbBackend::Sqlite;
    for Allowed { table, name, .. } in guards {
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
