//! Table `scim_user_values`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_user_values")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: Uuid,
    pub directory_id: Uuid,
    pub attr: String,
    pub position: i32,
    pub value: Option<String>,
    pub value_lower: Option<String>,
    pub display: Option<String>,
    #[sea_orm(column_name = "type")]
    pub r#type: Option<String>,
    pub primary: Option<bool>,
    pub formatted: Option<String>,
    pub street_address: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    /// Set for values of custom attributes whose `uniqueness` is not
    /// `none`: a hash of the scope and the value (unique index).
    pub unique_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
