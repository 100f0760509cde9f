//! Webhook endpoints of an organization (each with its own cursor in the
//! organization's event feed: delivery is in order per endpoint) and the
//! log of delivery attempts.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_180002_create_webhooks"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn ts(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn ts_null(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("webhook_endpoints"))
                    .if_not_exists()
                    .col(ColumnDef::new(a("id")).uuid().not_null().primary_key())
                    .col(ColumnDef::new(a("org_id")).uuid().not_null())
                    .col(ColumnDef::new(a("url")).text().not_null())
                    .col(ColumnDef::new(a("secret")).text().not_null())
                    .col(ColumnDef::new(a("types")).text().null())
                    .col(ColumnDef::new(a("enabled")).boolean().not_null())
                    .col(ColumnDef::new(a("disabled_reason")).text().null())
                    .col(ColumnDef::new(a("cursor_seq")).big_integer().not_null())
                    .col(ColumnDef::new(a("attempts")).integer().not_null())
                    .col(ts_null("failing_since"))
                    .col(ts_null("next_attempt_at"))
                    .col(ts_null("lease_until"))
                    .col(ts("created_at"))
                    .col(ts("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_endpoints_org_id")
                            .from(a("webhook_endpoints"), a("org_id"))
                            .to(a("organizations"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_endpoints_org")
                    .table(a("webhook_endpoints"))
                    .col(a("org_id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(a("webhook_attempts"))
                    .if_not_exists()
                    .col(
                        ColumnDef::new(a("id"))
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(a("endpoint_id")).uuid().not_null())
                    .col(ColumnDef::new(a("event_seq")).big_integer().not_null())
                    .col(ColumnDef::new(a("event_type")).text().not_null())
                    .col(ts("attempted_at"))
                    .col(ColumnDef::new(a("status_code")).integer().null())
                    .col(ColumnDef::new(a("error")).text().null())
                    .col(ColumnDef::new(a("success")).boolean().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_attempts_endpoint_id")
                            .from(a("webhook_attempts"), a("endpoint_id"))
                            .to(a("webhook_endpoints"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_webhook_attempts_endpoint_id")
                    .table(a("webhook_attempts"))
                    .col(a("endpoint_id"))
                    .col(a("id"))
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in ["webhook_attempts", "webhook_endpoints"] {
            manager
                .drop_table(Table::drop().table(a(t)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
