//! Read models of an account as an organization's admin sees it: what the
//! admin API's `GET /accounts/{id}` and the web page's account page both
//! render (composed once, in `service::accounts::detail`), and the rows of
//! the managed-accounts page.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::account::{self, AccountStatus};
use entity::site_membership::{self, MembershipStatus};
use entity::{account_api_token, account_session};
use uuid::Uuid;

use super::site_users::{Access, GroupOf};
use crate::domain::admin_rules::OrgView;
use crate::domain::custom_attrs::CustomValues;

type Time = DateTime<Utc>;

/// An account's profile and state (never its password hash).
#[derive(Debug, Clone)]
pub struct AccountView {
    pub id: Uuid,
    pub email: Option<String>,
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
    pub last_active_at: Option<Time>,
    pub two_step_enabled: bool,
    pub saml_sso: bool,
    pub two_step_excluded_until: Option<Time>,
    pub password_reset_required: bool,
    pub deactivated_at: Option<Time>,
    pub deletion_requested_at: Option<Time>,
    pub purge_after: Option<Time>,
    pub deleted_at: Option<Time>,
}

impl From<account::Model> for AccountView {
    fn from(a: account::Model) -> Self {
        Self {
            id: a.id,
            email: a.email,
            display_name: a.display_name,
            nickname: a.nickname,
            job_title: a.job_title,
            department: a.department,
            organization: a.organization,
            location: a.location,
            timezone: a.timezone,
            locale: a.locale,
            profile_photo_url: a.profile_photo_url,
            status: a.status,
            managing_org_id: a.managing_org_id,
            last_active_at: a.last_active_at,
            two_step_enabled: a.two_step_enabled,
            saml_sso: a.saml_sso,
            two_step_excluded_until: a.two_step_excluded_until,
            password_reset_required: a.password_reset_required,
            deactivated_at: a.deactivated_at,
            deletion_requested_at: a.deletion_requested_at,
            purge_after: a.purge_after,
            deleted_at: a.deleted_at,
        }
    }
}

/// One of the org's directories provisioning the account.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub directory_id: Uuid,
    pub directory: String,
    pub scim_id: Uuid,
    pub user_name: String,
    pub last_synced_at: Time,
    /// Its custom extension values, if any.
    pub custom: Option<CustomValues>,
}

/// The account's membership of one of the org's sites, with the products
/// it has there.
#[derive(Debug, Clone)]
pub struct SiteView {
    pub site_id: Uuid,
    pub site: String,
    pub status: MembershipStatus,
    pub last_active_at: Option<Time>,
    pub invited_directly: bool,
    pub access: Vec<Access>,
}

impl SiteView {
    /// Memberships (with their site names) and the account's access rows,
    /// grouped by site in the access rows' order.
    pub fn compose(
        memberships: Vec<(site_membership::Model, String)>,
        access: Vec<Access>,
    ) -> Vec<Self> {
        let mut by_site: HashMap<Uuid, Vec<Access>> = HashMap::new();
        for r in access {
            by_site.entry(r.site_id).or_default().push(r);
        }
        memberships
            .into_iter()
            .map(|(m, site)| Self {
                access: by_site.remove(&m.site_id).unwrap_or_default(),
                site_id: m.site_id,
                site,
                status: m.status,
                last_active_at: m.last_active_at,
                invited_directly: m.invited_directly,
            })
            .collect()
    }
}

/// Active API tokens and sessions of the account.
#[derive(Debug, Clone, Copy)]
pub struct SecurityCounts {
    pub api_tokens: u64,
    pub sessions: u64,
}

/// An account as the acting organization sees it.
#[derive(Debug, Clone)]
pub struct AccountDetail {
    pub account: AccountView,
    /// What the rules need (managed, synced by which directory).
    pub facts: OrgView,
    /// The org manages it: it sees the account's own state (profile,
    /// status, security); otherwise name, email and its own facts only.
    pub full: bool,
    pub links: Vec<LinkView>,
    pub sites: Vec<SiteView>,
    pub groups: Vec<GroupOf>,
    /// Only when `full`.
    pub security: Option<SecurityCounts>,
}

/// One of an account's API tokens as the admin API lists it (read model).
#[derive(Debug, Clone)]
pub struct TokenView {
    pub id: Uuid,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<account_api_token::Model> for TokenView {
    fn from(t: account_api_token::Model) -> Self {
        Self {
            id: t.id,
            label: t.label,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// One of an account's sessions (devices) as the admin API lists it
/// (read model).
#[derive(Debug, Clone)]
pub struct SessionView {
    pub id: Uuid,
    pub device: String,
    pub ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<account_session::Model> for SessionView {
    fn from(s: account_session::Model) -> Self {
        Self {
            id: s.id,
            device: s.device,
            ip_address: s.ip_address,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            revoked_at: s.revoked_at,
        }
    }
}
