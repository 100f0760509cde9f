//! `sync_log (directory_id, at)` served one query: a directory's last
//! sync, the latest `at` of its entries. That is the latest of each
//! outcome's, which `(directory_id, outcome, at)` gives with one seek each
//! (`store::directories::last_sync_columns`): the same answer from the
//! other index. Every sync-log entry written (one a SCIM write) was also an
//! entry of this one. `down` puts it back.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000001_drop_sync_log_time_index"
    }
}

const INDEX: &str = "ix_sync_log_directory_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(Alias::new("sync_log"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Alias::new("sync_log"))
                    .col(Alias::new("directory_id"))
                    .col(Alias::new("at"))
                    .to_owned(),
            )
            .await
    }
}
