//! Table `site_memberships`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "site_memberships")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub site_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    pub status: MembershipStatus,
    /// Who suspended it: `directory:<id>` (SCIM `active: false`) or `admin`.
    pub suspended_by: Option<String>,
    pub invited_directly: bool,
    pub last_active_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::site::Entity",
        from = "Column::SiteId",
        to = "super::site::Column::Id"
    )]
    Site,
    #[sea_orm(
        belongs_to = "super::account::Entity",
        from = "Column::AccountId",
        to = "super::account::Column::Id"
    )]
    Account,
}

impl Related<super::site::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Site.def()
    }
}

impl Related<super::account::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Account.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// `site_memberships.status`, stored as its name. A row holding any other
/// value fails to load, and the schema refuses to store one (a CHECK
/// constraint on PostgreSQL, triggers on SQLite).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    Active,
    Invited,
    Suspended,
}

impl MembershipStatus {
    pub const ALL: [Self; 3] = [Self::Active, Self::Invited, Self::Suspended];
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn statuses_are_stored_shown_and_serialized_as_their_names() {
        assert_eq!(
            MembershipStatus::iter().collect::<Vec<_>>(),
            MembershipStatus::ALL
        );
        let names: Vec<String> = MembershipStatus::ALL.iter().map(|s| s.to_value()).collect();
        assert_eq!(names, ["active", "invited", "suspended"]);
        for s in MembershipStatus::iter() {
            assert_eq!(MembershipStatus::try_from_value(&s.to_value()).unwrap(), s);
            assert_eq!(MembershipStatus::from_name(&s.to_value()), Some(s));
            assert_eq!(s.to_string(), s.to_value());
            assert_eq!(serde_json::to_value(s).unwrap(), s.to_value());
        }
        assert!(MembershipStatus::try_from_value(&"removed".to_owned()).is_err());
        assert_eq!(MembershipStatus::from_name("Active"), None);
    }
}
