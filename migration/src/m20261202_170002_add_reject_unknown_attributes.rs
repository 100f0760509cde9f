//! A directory setting: attributes no registered schema knows are refused
//! (400 invalidSyntax) instead of dropped with a sync-log warning.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_170002_add_reject_unknown_attributes"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("directories"))
                    .add_column(
                        ColumnDef::new(Alias::new("reject_unknown_attributes"))
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("directories"))
                    .drop_column(Alias::new("reject_unknown_attributes"))
                    .to_owned(),
            )
            .await
    }
}
