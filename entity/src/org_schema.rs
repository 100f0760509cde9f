//! Table `org_schemas`: custom schema extensions of an organization.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "org_schemas")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    /// The schema URN as registered.
    pub urn: String,
    pub urn_lower: String,
    /// `User` or `Group`.
    pub resource_type: String,
    /// The validated Schema document (JSON), as served under `/Schemas`.
    pub document: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
