//! Table `groups`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "groups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub directory_id: Option<Uuid>,
    pub display_name: String,
    pub display_name_lower: String,
    pub external_id: Option<String>,
    pub description: Option<String>,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub last_modified: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
