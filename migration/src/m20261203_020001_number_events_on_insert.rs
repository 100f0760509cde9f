//! SQLite numbers an event as it is inserted: writes there are serialised
//! on one writer connection, so insert order is commit order, and the
//! trigger below (bump the organization's counter, set `seq`) runs inside
//! the INSERT statement: an event costs one statement, and
//! `store::events::flush` has nothing left to do. The partial index of
//! pending events served only that flush: SQLite drops it (every event
//! would enter and leave it within its INSERT).
//!
//! PostgreSQL keeps numbering at the end of the transaction (several
//! instances write at once there; see `store::events`): nothing changes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_020001_number_events_on_insert"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        // Events left unnumbered by an older server cannot exist: it
        // numbered them before its commit.
        db.execute_unprepared(
            "CREATE TRIGGER IF NOT EXISTS events_number AFTER INSERT ON events \
             FOR EACH ROW WHEN NEW.seq IS NULL \
             BEGIN \
               INSERT INTO event_counters (org_id, last_seq) VALUES (NEW.org_id, 1) \
                 ON CONFLICT (org_id) DO UPDATE SET last_seq = event_counters.last_seq + 1; \
               UPDATE events SET seq = \
                 (SELECT c.last_seq FROM event_counters c WHERE c.org_id = NEW.org_id) \
               WHERE id = NEW.id; \
             END",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS ix_events_pending")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP TRIGGER IF EXISTS events_number")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_events_pending ON events (org_id, id) WHERE seq IS NULL",
        )
        .await?;
        Ok(())
    }
}
