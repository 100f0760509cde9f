//! Indexes SCIM list pages walk: a directory's users and groups in id
//! order (keyset cursor pages and the default order), so a page never sorts
//! the whole directory.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000001_add_paging_indexes"
    }
}

const INDEXES: [(&str, &str, [&str; 2]); 2] = [
    (
        "scim_users",
        "ix_scim_users_directory_id",
        ["directory_id", "id"],
    ),
    ("groups", "ix_groups_directory_id", ["directory_id", "id"]),
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
