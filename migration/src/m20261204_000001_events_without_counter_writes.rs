//! Events cost fewer pages per write.
//!
//! - `ix_events_occurred_at` goes: retention deletes the oldest events
//!   by id (which follows the time they were recorded) and stops at the
//!   first one still within retention, so it needs only the primary key.
//! - SQLite: an event's number is one more than the larger of its
//!   organization's last event (`ux_events_org_seq`, one probe) and its
//!   `event_counters` row, and the counter is no longer written per event
//!   (the `events_count` trigger goes). Retention raises each counter to
//!   the last number it deletes, so numbers never restart or go back once
//!   an organization's events are all gone. The trigger numbering rows
//!   inserted without a number (multi-row inserts) reads the same way.
//!   PostgreSQL numbers at commit from its counters as before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000001_events_without_counter_writes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_events_occurred_at")
            .await?;
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        db.execute_unprepared("DROP TRIGGER IF EXISTS events_count")
            .await?;
        db.execute_unprepared("DROP TRIGGER IF EXISTS events_number")
            .await?;
        db.execute_unprepared(
            "CREATE TRIGGER events_number AFTER INSERT ON events \
             FOR EACH ROW WHEN NEW.seq IS NULL \
             BEGIN \
               UPDATE events SET seq = MAX( \
                   COALESCE((SELECT e.seq FROM events e WHERE e.org_id = NEW.org_id \
                             AND e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1), 0), \
                   COALESCE((SELECT c.last_seq FROM event_counters c \
                             WHERE c.org_id = NEW.org_id), 0)) + 1 \
               WHERE id = NEW.id; \
             END",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_events_occurred_at ON events (occurred_at)",
        )
        .await?;
        if manager.get_database_backend() != DbBackend::Sqlite {
            return Ok(());
        }
        // Counters written per event again: bring each up to its last
        // event first.
        db.execute_unprepared(
            "INSERT INTO event_counters (org_id, last_seq) \
             SELECT org_id, MAX(seq) FROM events WHERE seq IS NOT NULL GROUP BY org_id \
             ON CONFLICT (org_id) DO UPDATE SET last_seq = MAX(event_counters.last_seq, excluded.last_seq)",
        )
        .await?;
        db.execute_unprepared("DROP TRIGGER IF EXISTS events_number")
            .await?;
        db.execute_unprepared(
            "CREATE TRIGGER events_number AFTER INSERT ON events \
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
        db.execute_unprepared(
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
}
