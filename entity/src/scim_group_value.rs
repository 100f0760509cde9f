//! Table `scim_group_values`: values of custom Group extensions, one row a
//! scalar (see `scim_user_values`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_group_values")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub group_id: Uuid,
    pub directory_id: Uuid,
    pub attr: String,
    pub position: i32,
    pub value: Option<String>,
    pub value_lower: Option<String>,
    pub display: Option<String>,
    #[sea_orm(column_name = "type")]
    pub r#type: Option<String>,
    pub unique_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
