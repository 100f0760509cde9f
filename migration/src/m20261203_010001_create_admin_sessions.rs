//! Server-side sessions of the admin web page: the cookie carries a random
//! session id, the table only its SHA-256. Each session belongs to the
//! admin key that signed in (revoking or deleting the key ends it) and has
//! an idle and an absolute expiry, both indexed for the periodic clean-up.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_010001_create_admin_sessions"
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
                    .table(a("admin_sessions"))
                    .if_not_exists()
                    .col(ColumnDef::new(a("id_hash")).text().not_null().primary_key())
                    .col(ColumnDef::new(a("key_id")).uuid().not_null())
                    .col(
                        ColumnDef::new(a("created_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(a("last_seen_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(a("idle_expires_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(a("expires_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_admin_sessions_key_id")
                            .from(a("admin_sessions"), a("key_id"))
                            .to(a("admin_keys"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_admin_sessions_key_id", "key_id"),
            ("ix_admin_sessions_idle_expires_at", "idle_expires_at"),
            ("ix_admin_sessions_expires_at", "expires_at"),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(a("admin_sessions"))
                        .col(a(col))
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("admin_sessions")).to_owned())
            .await
    }
}
