//! Table `audit_log`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: Uuid,
    pub at: DateTimeUtc,
    pub actor_type: ActorType,
    pub actor_id: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub detail: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// `audit_log.actor_type`: who acted, stored as its snake_case name: an
/// admin key, a directory (SCIM), the server itself (`system`), or the
/// operator (`operator`: a migration's own entries). A row holding any
/// other value fails to load, and the schema refuses to store one
/// (`m20261204_010001_constrain_kinds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    AdminKey,
    Directory,
    System,
    Operator,
}

impl ActorType {
    pub const ALL: [Self; 4] = [
        Self::AdminKey,
        Self::Directory,
        Self::System,
        Self::Operator,
    ];
}
