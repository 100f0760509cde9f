//! More text columns hold only the names the server knows, as the status
//! columns do since `m20261203_030001_constrain_statuses`: the product
//! role of `product_access.role` and `group_grant.role`
//! (`entity::product_access::ProductRole`), `sync_log.outcome`
//! (`entity::sync_log::SyncOutcome`) and `audit_log.actor_type`
//! (`entity::audit_log::ActorType`). Reading any
//! other value is an error, so the schema refuses to store one: a CHECK
//! constraint on PostgreSQL; on SQLite, which can't add one to an existing
//! table, triggers refuse an INSERT, or an UPDATE of the column, with
//! another value.
//!
//! The lists are written out here, not taken from the entities: a
//! migration is what the schema was at that step, whatever the code
//! becomes. A later kind is a later migration.

use sea_orm_migration::prelude::*;

use crate::constrain::{self, Allowed};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_010001_constrain_kinds"
    }
}

pub(crate) const KINDS: [Allowed; 4] = [
    Allowed {
        table: "product_access",
        column: "role",
        name: "ck_product_access_role",
        values: &["user", "admin"],
    },
    Allowed {
        table: "group_grants",
        column: "role",
        name: "ck_group_grants_role",
        values: &["user", "admin"],
    },
    Allowed {
        table: "sync_log",
        column: "outcome",
        name: "ck_sync_log_outcome",
        values: &["success", "failure", "warning"],
    },
    Allowed {
        table: "audit_log",
        column: "actor_type",
        name: "ck_audit_log_actor_type",
        values: &["admin_key", "directory", "system", "operator"],
    },
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        constrain::add(manager, &KINDS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        constrain::drop(manager, &KINDS).await
    }
}
