//! The SQLite guards of `m20261203_030001_constrain_statuses` and
//! `m20261204_010001_constrain_kinds` refused a value with `NEW.column NOT
//! IN (…)`. Of more than two values, SQLite builds such a list into an
//! ephemeral index for each statement that fires the trigger: a b-tree
//! with a page cache of its own, opened, filled and dropped. Every
//! `POST /Users` inserts an account and a sync log entry, so it built two,
//! about a tenth of its work on the writer connection. The triggers now
//! compare the value with each allowed one in turn (`NOT (NEW.column =
//! 'a' OR …)`): the same values refused, the same message. PostgreSQL's
//! CHECK constraints are left as they are.

use sea_orm_migration::prelude::*;

use crate::constrain::{self, Test};
use crate::m20261203_030001_constrain_statuses::STATUSES;
use crate::m20261204_010001_constrain_kinds::KINDS;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000001_guards_compare_in_place"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        constrain::triggers(manager, &STATUSES, Test::Compared).await?;
        constrain::triggers(manager, &KINDS, Test::Compared).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        constrain::triggers(manager, &STATUSES, Test::NotIn).await?;
        constrain::triggers(manager, &KINDS, Test::NotIn).await
    }
}
