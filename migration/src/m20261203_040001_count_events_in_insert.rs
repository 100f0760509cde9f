//! SQLite: a single event's INSERT writes its own `seq` (the
//! organization's counter + 1, read inside the statement), and the trigger
//! below only moves the counter up to it. The trigger of
//! `m20261203_020001_number_events_on_insert` set `seq` with an UPDATE
//! after the insert, so every event was written twice (the row and its
//! two `seq` index entries); it stays for the rows that still come
//! without a number (multi-row inserts), which it numbers as before.
//!
//! PostgreSQL numbers at the end of the transaction: nothing changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_040001_count_events_in_insert"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TRIGGER IF NOT EXISTS events_count AFTER INSERT ON events \
                 FOR EACH ROW WHEN NEW.seq IS NOT NULL \
                 BEGIN \
                   INSERT INTO event_counters (org_id, last_seq) VALUES (NEW.org_id, NEW.seq) \
                     ON CONFLICT (org_id) DO UPDATE SET last_seq = excluded.last_seq \
                     WHERE excluded.last_seq > event_counters.last_seq; \
                 END",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP TRIGGER IF EXISTS events_count")
            .await?;
        Ok(())
    }
}
