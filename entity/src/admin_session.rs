//! Table `admin_sessions`: web-page sessions, keyed by the SHA-256 of the
//! session id the cookie carries.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "admin_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id_hash: String,
    pub key_id: Uuid,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub idle_expires_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::admin_key::Entity",
        from = "Column::KeyId",
        to = "super::admin_key::Column::Id"
    )]
    AdminKey,
}

impl Related<super::admin_key::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AdminKey.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
