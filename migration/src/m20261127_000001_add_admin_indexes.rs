//! Indexes the admin API's keyset pages walk: managed accounts of an org
//! in id order, a directory's sync log and an org's audit log newest
//! first.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000001_add_admin_indexes"
    }
}

const INDEXES: [(&str, &str, [&str; 2]); 3] = [
    (
        "accounts",
        "ix_accounts_managing_org_id",
        ["managing_org_id", "id"],
    ),
    (
        "sync_log",
        "ix_sync_log_directory_id",
        ["directory_id", "id"],
    ),
    ("audit_log", "ix_audit_log_org_id", ["org_id", "id"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name, cols) in INDEXES {
            let mut idx = Index::create();
            idx.name(name).table(Alias::new(table)).if_not_exists();
            for c in cols {
                idx.col(Alias::new(c));
            }
            manager.create_index(idx.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
