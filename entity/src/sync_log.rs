//! Table `sync_log`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub directory_id: Uuid,
    pub at: DateTimeUtc,
    pub operation: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: SyncOutcome,
    pub status: i32,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// `sync_log.outcome`: a write that succeeded, failed, or succeeded with
/// a warning (an attribute it dropped), stored as its snake_case name. A
/// row holding any other value fails to load, and the schema refuses to
/// store one (`m20261204_010001_constrain_kinds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SyncOutcome {
    Success,
    Failure,
    Warning,
}

impl SyncOutcome {
    pub const ALL: [Self; 3] = [Self::Success, Self::Failure, Self::Warning];
}
