//! Change events (a transactional outbox): `events` holds each committed
//! change with its organization's sequence number; `event_counters` hands
//! out those numbers (its row lock orders an organization's event-writing
//! transactions, so sequence order is commit order); `event_throttle`
//! rate-limits noisy event types (directory sync failures).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_180001_create_events"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("event_counters"))
                    .if_not_exists()
                    .col(ColumnDef::new(a("org_id")).uuid().not_null().primary_key())
                    .col(ColumnDef::new(a("last_seq")).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_event_counters_org_id")
                            .from(a("event_counters"), a("org_id"))
                            .to(a("organizations"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("events"))
                    .if_not_exists()
                    .col(
                        ColumnDef::new(a("id"))
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(a("org_id")).uuid().not_null())
                    // Null until the transaction that wrote the event is
                    // about to commit (`store::events::flush`).
                    .col(ColumnDef::new(a("seq")).big_integer().null())
                    .col(ColumnDef::new(a("type")).text().not_null())
                    .col(
                        ColumnDef::new(a("occurred_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(a("directory_id")).uuid().null())
                    .col(ColumnDef::new(a("actor")).text().null())
                    .col(ColumnDef::new(a("request_id")).text().null())
                    .col(ColumnDef::new(a("data")).text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_events_org_id")
                            .from(a("events"), a("org_id"))
                            .to(a("organizations"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The feed: keyset on (org, seq).
        manager
            .create_index(
                Index::create()
                    .name("ux_events_org_seq")
                    .table(a("events"))
                    .col(a("org_id"))
                    .col(a("seq"))
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // The feed filtered by type.
        manager
            .create_index(
                Index::create()
                    .name("ix_events_org_type_seq")
                    .table(a("events"))
                    .col(a("org_id"))
                    .col(a("type"))
                    .col(a("seq"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Retention deletes the oldest first.
        manager
            .create_index(
                Index::create()
                    .name("ix_events_occurred_at")
                    .table(a("events"))
                    .col(a("occurred_at"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // The pending events of the committing transaction (a partial
        // index: committed events never enter it).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS ix_events_pending ON events (org_id, id) WHERE seq IS NULL",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("event_throttle"))
                    .if_not_exists()
                    .col(ColumnDef::new(a("key")).text().not_null().primary_key())
                    .col(
                        ColumnDef::new(a("last_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["event_throttle", "events", "event_counters"] {
            manager
                .drop_table(Table::drop().table(a(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
