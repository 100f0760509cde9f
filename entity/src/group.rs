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
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::directory::Entity",
        from = "Column::DirectoryId",
        to = "super::directory::Column::Id"
    )]
    Directory,
    #[sea_orm(has_many = "super::group_grant::Entity")]
    GroupGrant,
    #[sea_orm(has_many = "super::group_member::Entity")]
    GroupMember,
}

impl Related<super::directory::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Directory.def()
    }
}

impl Related<super::group_grant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::GroupGrant.def()
    }
}

impl Related<super::group_member::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::GroupMember.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
