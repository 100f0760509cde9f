//! The status columns hold only the names the server knows
//! (`entity::account::AccountStatus`, `entity::site_membership::
//! MembershipStatus`): reading any other value is an error, so the schema
//! refuses to store one. PostgreSQL gets a CHECK constraint on each
//! column; SQLite can't add one to an existing table, so triggers refuse
//! an INSERT, or an UPDATE of the column, with another value.
//!
//! The lists are written out here, not taken from the entities: a
//! migration is what the schema was at that step, whatever the code
//! becomes. A later status is a later migration.

use sea_orm_migration::prelude::*;

use crate::constrain::{self, Allowed};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_030001_constrain_statuses"
    }
}

pub(crate) const STATUSES: [Allowed; 2] = [
    Allowed {
        table: "accounts",
        column: "status",
        name: "ck_accounts_status",
        values: &["active", "deactivated", "pending_deletion", "deleted"],
    },
    Allowed {
        table: "site_memberships",
        column: "status",
        name: "ck_site_memberships_status",
        values: &["active", "invited", "suspended"],
    },
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        constrain::add(manager, &STATUSES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        constrain::drop(manager, &STATUSES).await
    }
}
