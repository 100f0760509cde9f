//! Table `events`: the change-event outbox (see `store::events`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: Uuid,
    /// The organization's sequence number; null only inside the writing
    /// transaction, before it commits.
    pub seq: Option<i64>,
    pub r#type: String,
    pub occurred_at: DateTimeUtc,
    pub directory_id: Option<Uuid>,
    pub actor: Option<String>,
    pub request_id: Option<String>,
    /// JSON object.
    pub data: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
