//! Table `accounts`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub email: Option<String>,
    pub email_lower: Option<String>,
    pub email_domain: Option<String>,
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub organization: Option<String>,
    pub location: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub profile_photo_url: Option<String>,
    pub status: AccountStatus,
    pub managing_org_id: Option<Uuid>,
    pub last_active_at: Option<DateTimeUtc>,
    pub two_step_enabled: bool,
    pub saml_sso: bool,
    pub two_step_excluded_until: Option<DateTimeUtc>,
    pub password_reset_required: bool,
    pub password_hash: Option<String>,
    pub deactivated_at: Option<DateTimeUtc>,
    pub deletion_requested_at: Option<DateTimeUtc>,
    pub purge_after: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// `accounts.status`, stored as its snake_case name (`pending_deletion`).
/// A row holding any other value fails to load (an error, not a guess),
/// and the schema refuses to store one (a CHECK constraint on PostgreSQL,
/// triggers on SQLite).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, serde::Serialize)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Deactivated,
    PendingDeletion,
    Deleted,
}

impl AccountStatus {
    pub const ALL: [Self; 4] = [
        Self::Active,
        Self::Deactivated,
        Self::PendingDeletion,
        Self::Deleted,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn statuses_are_stored_shown_and_serialized_as_their_names() {
        assert_eq!(
            AccountStatus::iter().collect::<Vec<_>>(),
            AccountStatus::ALL
        );
        let names: Vec<String> = AccountStatus::ALL.iter().map(|s| s.to_value()).collect();
        assert_eq!(
            names,
            ["active", "deactivated", "pending_deletion", "deleted"]
        );
        for s in AccountStatus::iter() {
            assert_eq!(AccountStatus::try_from_value(&s.to_value()).unwrap(), s);
            assert_eq!(AccountStatus::from_name(&s.to_value()), Some(s));
            assert_eq!(s.to_string(), s.to_value());
            assert_eq!(serde_json::to_value(s).unwrap(), s.to_value());
        }
        assert!(AccountStatus::try_from_value(&"Active".to_owned()).is_err());
        assert_eq!(AccountStatus::from_name("unknown"), None);
    }
}
