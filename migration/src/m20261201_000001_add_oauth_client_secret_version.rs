//! `oauth_clients.secret_version`: bumped by every secret rotation and
//! carried in the access tokens issued under that secret, so rotating a
//! client's secret also invalidates the tokens the old secret obtained.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000001_add_oauth_client_secret_version"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("oauth_clients"))
                    .add_column(
                        ColumnDef::new(Alias::new("secret_version"))
                            .integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("oauth_clients"))
                    .drop_column(Alias::new("secret_version"))
                    .to_owned(),
            )
            .await
    }
}
