//! Table `webhook_attempts`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub endpoint_id: Uuid,
    pub event_seq: i64,
    pub event_type: String,
    pub attempted_at: DateTimeUtc,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub success: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
