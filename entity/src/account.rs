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
    pub status: String,
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
