//! Custom schema extensions an organization registers (RFC 7643 §7 Schema
//! documents for User or Group): each directory of the org serves them.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_170001_create_org_schemas"
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
                    .table(a("org_schemas"))
                    .if_not_exists()
                    .col(ColumnDef::new(a("id")).uuid().not_null().primary_key())
                    .col(ColumnDef::new(a("org_id")).uuid().not_null())
                    .col(ColumnDef::new(a("urn")).text().not_null())
                    .col(ColumnDef::new(a("urn_lower")).text().not_null())
                    .col(ColumnDef::new(a("resource_type")).text().not_null())
                    .col(ColumnDef::new(a("document")).text().not_null())
                    .col(
                        ColumnDef::new(a("created_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_org_schemas_org_id")
                            .from(a("org_schemas"), a("org_id"))
                            .to(a("organizations"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_org_schemas_org_urn")
                    .table(a("org_schemas"))
                    .col(a("org_id"))
                    .col(a("urn_lower"))
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(a("org_schemas")).to_owned())
            .await
    }
}
