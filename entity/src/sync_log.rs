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
    pub outcome: String,
    pub status: i32,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
