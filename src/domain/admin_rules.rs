//! The admin API's rules (product spec, "Rules from the admin documents"):
//! who may change what on an account, a site membership or a group. Pure
//! decisions over facts the store gathered; the store carries them out.
//!
//! - Lifecycle and attributes belong to the managing organization only
//!   (403 `account_not_managed` for anyone else).
//! - What an identity provider syncs is read-only here: profile, email,
//!   active/deactivated, synced group membership (409
//!   `managed_by_identity_provider`, naming the directory).
//! - Security actions and non-synced site access stay with the admin.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::error::{DomainError, DomainResult, Rule};
use super::lifecycle::{AccountFacts, AccountStatus, email_domain_rule};
use super::types::MAX_STRING_LEN;

/// Products a site offers: (key used in the API, column name in exports).
pub const PRODUCTS: [(&str, &str); 8] = [
    ("jira", "Jira"),
    ("confluence", "Confluence"),
    ("jira-service-management", "Jira Service Management"),
    ("jira-product-discovery", "Jira Product Discovery"),
    ("bitbucket", "Bitbucket"),
    ("trello", "Trello"),
    ("opsgenie", "Opsgenie"),
    ("statuspage", "Statuspage"),
];

/// A product key, checked against `PRODUCTS`.
pub fn parse_product(s: &str) -> DomainResult<&'static str> {
    let lower = s.trim().to_ascii_lowercase();
    PRODUCTS
        .iter()
        .map(|(k, _)| *k)
        .find(|k| *k == lower)
        .ok_or_else(|| {
            let keys: Vec<&str> = PRODUCTS.iter().map(|(k, _)| *k).collect();
            DomainError::invalid(format!("unknown product {s:?}; one of {}", keys.join(", ")))
        })
}

pub use entity::product_access::ProductRole;

/// A product role: `user` (default) or `admin`.
pub fn parse_role(s: Option<&str>) -> DomainResult<ProductRole> {
    match s.map(str::trim) {
        None => Ok(ProductRole::User),
        Some(name) => ProductRole::from_name(name).ok_or_else(|| {
            DomainError::invalid(format!("role must be user or admin, got {name:?}"))
        }),
    }
}

/// Profile attributes an admin can edit on a managed account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileField {
    DisplayName,
    Nickname,
    JobTitle,
    Department,
    Organization,
    Location,
    Timezone,
    Locale,
    ProfilePhotoUrl,
}

impl ProfileField {
    pub const ALL: [ProfileField; 9] = [
        Self::DisplayName,
        Self::Nickname,
        Self::JobTitle,
        Self::Department,
        Self::Organization,
        Self::Location,
        Self::Timezone,
        Self::Locale,
        Self::ProfilePhotoUrl,
    ];

    /// The JSON key in requests and responses.
    pub fn key(self) -> &'static str {
        match self {
            Self::DisplayName => "display_name",
            Self::Nickname => "nickname",
            Self::JobTitle => "job_title",
            Self::Department => "department",
            Self::Organization => "organization",
            Self::Location => "location",
            Self::Timezone => "timezone",
            Self::Locale => "locale",
            Self::ProfilePhotoUrl => "profile_photo_url",
        }
    }
}

/// A profile edit body: each key given is set (a string) or cleared
/// (`null` or an empty string); keys not given stay as they are.
pub fn parse_profile_changes(
    body: &serde_json::Map<String, serde_json::Value>,
) -> DomainResult<Vec<(ProfileField, Option<String>)>> {
    let mut out = Vec::with_capacity(body.len());
    for (key, value) in body {
        let Some(field) = ProfileField::ALL.into_iter().find(|f| f.key() == key) else {
            let hint = if key == "email" {
                "; change the email with PUT …/accounts/{account_id}/email".to_owned()
            } else {
                let keys: Vec<&str> = ProfileField::ALL.iter().map(|f| f.key()).collect();
                format!("; editable: {}", keys.join(", "))
            };
            return Err(DomainError::invalid(format!(
                "{key:?} is not an editable profile attribute{hint}"
            )));
        };
        let v = match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => {
                let t = s.trim();
                if t.chars().count() > MAX_STRING_LEN || t.chars().any(char::is_control) {
                    return Err(DomainError::invalid(format!(
                        "{key} must be at most {MAX_STRING_LEN} characters without control characters"
                    )));
                }
                (!t.is_empty()).then(|| t.to_owned())
            }
            _ => {
                return Err(DomainError::invalid(format!(
                    "{key} must be a string or null"
                )));
            }
        };
        out.push((field, v));
    }
    Ok(out)
}

/// An account seen from the acting organization: the one
/// [`AccountFacts`] and what the org adds to them.
#[derive(Debug, Clone)]
pub struct OrgView {
    pub account: AccountFacts,
    /// The acting organization.
    pub org: Uuid,
    /// Name of the acting org's directory that provisions it, if any.
    pub synced_by: Option<String>,
}

fn not_managed(action: &str) -> DomainError {
    Rule::NotManaged(format!(
        "only the organization that manages an account can {action}; this account is not managed by your organization (verify its email domain to claim it)"
    ))
    .into()
}

/// The refusal naming the directory that owns `what`.
pub fn idp_owned(what: &str, directory: &str) -> DomainError {
    Rule::IdpOwned(format!(
        "{what} is managed by the identity provider of directory {directory:?}; make the change there and it will sync"
    ))
    .into()
}

fn invalid_state(message: impl Into<String>) -> DomainError {
    DomainError::state(message)
}

impl OrgView {
    /// Managed by the acting organization.
    pub fn managed(&self) -> bool {
        self.account.managed_by(self.org)
    }

    fn require_managed(&self, action: &str) -> DomainResult<()> {
        if !self.managed() {
            return Err(not_managed(action));
        }
        if self.account.status == AccountStatus::Deleted {
            return Err(invalid_state("the account has been deleted"));
        }
        Ok(())
    }

    fn require_not_synced(&self, what: &str) -> DomainResult<()> {
        match &self.synced_by {
            Some(dir) => Err(idp_owned(what, dir)),
            None => Ok(()),
        }
    }

    /// Profile attributes (name, job title, …).
    pub fn edit_profile(&self) -> DomainResult<()> {
        self.require_managed("edit its details")?;
        self.require_not_synced("the profile of this account")
    }

    /// Email change: managed, not synced, and only to a domain the org has
    /// verified (the admin documents: else the user creates a new account).
    pub fn change_email(&self, new_email: &str, domain_verified: bool) -> DomainResult<()> {
        self.require_managed("change its email address")?;
        self.require_not_synced("the email address of this account")?;
        email_domain_rule(new_email, domain_verified)
    }

    pub fn deactivate(&self) -> DomainResult<()> {
        self.require_managed("deactivate it")?;
        self.require_not_synced("whether this account is active")?;
        match self.account.status {
            AccountStatus::Active => Ok(()),
            AccountStatus::Deactivated => Err(invalid_state("the account is already deactivated")),
            _ => Err(invalid_state(
                "the account is pending deletion; cancel the deletion first",
            )),
        }
    }

    pub fn reactivate(&self) -> DomainResult<()> {
        self.require_managed("reactivate it")?;
        self.require_not_synced("whether this account is active")?;
        match self.account.status {
            AccountStatus::Deactivated => Ok(()),
            AccountStatus::Active => Err(invalid_state("the account is already active")),
            _ => Err(invalid_state(
                "the account is pending deletion; cancel the deletion to restore it",
            )),
        }
    }

    /// Deletion (not owned by the IdP: "deleting an account for good stays
    /// an admin action"). Returns when the account will be purged.
    pub fn request_deletion(
        &self,
        now: DateTime<Utc>,
        grace_days: u32,
    ) -> DomainResult<DateTime<Utc>> {
        self.require_managed("delete it")?;
        if self.account.status == AccountStatus::PendingDeletion {
            return Err(invalid_state("the account is already pending deletion"));
        }
        Ok(now + Duration::days(i64::from(grace_days)))
    }

    /// Cancel a deletion: back to what it was before the request.
    pub fn cancel_deletion(&self) -> DomainResult<AccountStatus> {
        self.require_managed("cancel its deletion")?;
        if self.account.status != AccountStatus::PendingDeletion {
            return Err(invalid_state("the account is not pending deletion"));
        }
        Ok(if self.account.deactivated {
            AccountStatus::Deactivated
        } else {
            AccountStatus::Active
        })
    }

    /// Force logout, revoke API tokens, require a password reset, 2SV
    /// exclusion: allowed on synced accounts too.
    pub fn security_action(&self) -> DomainResult<()> {
        self.require_managed("change its security settings")
    }

    /// Inviting to a site works for managed and external accounts alike,
    /// but not for accounts on their way out.
    pub fn invite(&self) -> DomainResult<()> {
        match self.account.status {
            AccountStatus::PendingDeletion | AccountStatus::Deleted => Err(invalid_state(
                "the account is deleted or pending deletion and can't be invited",
            )),
            _ => Ok(()),
        }
    }
}

/// Admins change the members of admin-made groups only; `synced_by` is
/// the directory of a synced group.
pub fn edit_group_members(synced_by: Option<&str>) -> DomainResult<()> {
    match synced_by {
        Some(dir) => Err(idp_owned("the membership of this group", dir)),
        None => Ok(()),
    }
}

/// Removing from a site drops the membership, direct product access and
/// admin-group memberships; access a synced group grants can only end in
/// the IdP.
pub fn remove_from_site(synced_grant_by: Option<&str>) -> DomainResult<()> {
    match synced_grant_by {
        Some(dir) => Err(idp_owned(
            "this user's access to the site (granted by a synced group)",
            dir,
        )),
        None => Ok(()),
    }
}

/// Whether an org sees an account in full (status, activity, security,
/// profile): only the org that manages it. Any other org sees its name,
/// email and its own sites' facts.
pub fn sees_in_full(managing_org: Option<Uuid>, org: Uuid) -> bool {
    managing_org == Some(org)
}

/// A domain can't be removed while the org's managed accounts on it are
/// deactivated or pending deletion: without the domain nobody could
/// reactivate them or cancel their deletion.
pub fn check_domain_removal(domain: &str, stranded: u64) -> DomainResult<()> {
    if stranded == 0 {
        return Ok(());
    }
    Err(DomainError::state(format!(
        "{stranded} managed account(s) on {domain} are deactivated or pending deletion; reactivate them, cancel their deletion or let the purge finish before removing the domain"
    )))
}

/// An account status named in a request (`?status=`).
pub fn parse_account_status(s: &str) -> DomainResult<AccountStatus> {
    AccountStatus::from_name(s).ok_or_else(|| {
        DomainError::invalid(format!(
            "status must be active, deactivated, pending_deletion or deleted, got {s:?}"
        ))
    })
}

/// Site membership states (the stored column type) and, below, the
/// admin's moves between them.
pub use entity::site_membership::MembershipStatus;

/// A membership status named in a request (`?status=`).
pub fn parse_membership_status(s: &str) -> DomainResult<MembershipStatus> {
    MembershipStatus::from_name(s).ok_or_else(|| {
        DomainError::invalid(format!(
            "status must be active, invited or suspended, got {s:?}"
        ))
    })
}

/// Suspend: access stops, product access and groups are kept.
pub fn suspend(current: MembershipStatus) -> DomainResult<()> {
    if current == MembershipStatus::Suspended {
        return Err(invalid_state("the user is already suspended on this site"));
    }
    Ok(())
}

/// Restore what an admin suspended; a suspension by a directory (SCIM
/// `active: false` of an external account) is the IdP's to lift.
/// Returns the status to go back to.
pub fn restore(
    current: MembershipStatus,
    suspended_by_directory: Option<&str>,
    ever_active: bool,
) -> DomainResult<MembershipStatus> {
    if current != MembershipStatus::Suspended {
        return Err(invalid_state("the user is not suspended on this site"));
    }
    if let Some(dir) = suspended_by_directory {
        return Err(idp_owned("this suspension", dir));
    }
    Ok(if ever_active {
        MembershipStatus::Active
    } else {
        MembershipStatus::Invited
    })
}

/// Activity on a site: an invite becomes active; a suspended user has no
/// access, so no activity.
pub fn record_activity(current: MembershipStatus) -> DomainResult<MembershipStatus> {
    match current {
        MembershipStatus::Suspended => Err(invalid_state(
            "the user is suspended on this site and can't be active there",
        )),
        _ => Ok(MembershipStatus::Active),
    }
}

/// Share of accounts with a secure login (SAML SSO or two-step
/// verification), in percent with one decimal; 0 when there are none.
pub fn secure_login_percentage(secure: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    ((secure as f64) * 1000.0 / (total as f64)).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_error::AdminError;

    fn facts(status: AccountStatus, managed: bool, synced_by: Option<&str>) -> OrgView {
        let org = Uuid::from_u128(1);
        OrgView {
            account: AccountFacts {
                id: Uuid::nil(),
                status,
                managing_org: managed.then_some(org),
                deactivated: false,
            },
            org,
            synced_by: synced_by.map(str::to_owned),
        }
    }

    #[test]
    fn unmanaged_accounts_are_not_the_orgs_to_change() {
        let f = facts(AccountStatus::Active, false, None);
        for e in [
            f.edit_profile().map_err(AdminError::from).unwrap_err(),
            f.deactivate().map_err(AdminError::from).unwrap_err(),
            f.request_deletion(Utc::now(), 14)
                .map_err(AdminError::from)
                .unwrap_err(),
            f.change_email("a@b.c", true)
                .map_err(AdminError::from)
                .unwrap_err(),
            f.security_action().map_err(AdminError::from).unwrap_err(),
        ] {
            assert_eq!((e.status(), e.code()), (403, "account_not_managed"));
            assert!(e.message().contains("not managed by your organization"));
        }
        assert!(f.invite().is_ok());
    }

    #[test]
    fn synced_accounts_are_read_only_for_what_the_idp_owns() {
        let f = facts(AccountStatus::Active, true, Some("okta"));
        for e in [
            f.edit_profile().map_err(AdminError::from).unwrap_err(),
            f.deactivate().map_err(AdminError::from).unwrap_err(),
            f.change_email("a@b.c", true)
                .map_err(AdminError::from)
                .unwrap_err(),
        ] {
            assert_eq!(
                (e.status(), e.code()),
                (409, "managed_by_identity_provider")
            );
            assert!(e.message().contains("\"okta\""), "{}", e.message());
        }
        let deactivated = facts(AccountStatus::Deactivated, true, Some("okta"));
        assert_eq!(
            deactivated
                .reactivate()
                .map_err(AdminError::from)
                .unwrap_err()
                .status(),
            409
        );
        // What stays with the admin.
        assert!(f.security_action().is_ok());
        assert!(f.request_deletion(Utc::now(), 14).is_ok());
    }

    #[test]
    fn lifecycle_moves_follow_the_status() {
        let active = facts(AccountStatus::Active, true, None);
        assert!(active.deactivate().is_ok());
        assert_eq!(
            active
                .reactivate()
                .map_err(AdminError::from)
                .unwrap_err()
                .code(),
            "invalid_state"
        );
        let now = Utc::now();
        assert_eq!(
            active.request_deletion(now, 14).unwrap(),
            now + Duration::days(14)
        );
        assert_eq!(
            active
                .cancel_deletion()
                .map_err(AdminError::from)
                .unwrap_err()
                .code(),
            "invalid_state"
        );
        let pending = facts(AccountStatus::PendingDeletion, true, None);
        assert_eq!(pending.cancel_deletion().unwrap(), AccountStatus::Active);
        assert_eq!(
            pending
                .reactivate()
                .map_err(AdminError::from)
                .unwrap_err()
                .status(),
            409
        );
        let pending_deactivated = OrgView {
            account: AccountFacts {
                deactivated: true,
                ..pending.account.clone()
            },
            ..pending
        };
        assert_eq!(
            pending_deactivated.cancel_deletion().unwrap(),
            AccountStatus::Deactivated
        );
        let deleted = facts(AccountStatus::Deleted, true, None);
        assert_eq!(
            deleted
                .edit_profile()
                .map_err(AdminError::from)
                .unwrap_err()
                .status(),
            409
        );
        assert_eq!(
            deleted
                .invite()
                .map_err(AdminError::from)
                .unwrap_err()
                .status(),
            409
        );
    }

    #[test]
    fn email_moves_only_to_verified_domains() {
        let f = facts(AccountStatus::Active, true, None);
        let e = f
            .change_email("jane@gmail.example", false)
            .map_err(AdminError::from)
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "email_domain_not_verified"));
        assert!(e.message().contains("verified domain"));
        assert!(f.change_email("jane@acme.example", true).is_ok());
    }

    #[test]
    fn synced_groups_and_idp_suspensions_are_the_idps() {
        assert_eq!(
            edit_group_members(Some("entra"))
                .map_err(AdminError::from)
                .unwrap_err()
                .status(),
            409
        );
        assert!(edit_group_members(None).is_ok());
        assert_eq!(
            remove_from_site(Some("entra"))
                .map_err(AdminError::from)
                .unwrap_err()
                .status(),
            409
        );
        assert_eq!(
            restore(MembershipStatus::Suspended, Some("okta"), true)
                .map_err(AdminError::from)
                .unwrap_err()
                .code(),
            "managed_by_identity_provider"
        );
        assert_eq!(
            restore(MembershipStatus::Suspended, None, false).unwrap(),
            MembershipStatus::Invited
        );
        assert_eq!(
            restore(MembershipStatus::Suspended, None, true).unwrap(),
            MembershipStatus::Active
        );
        assert!(suspend(MembershipStatus::Suspended).is_err());
        assert_eq!(
            record_activity(MembershipStatus::Invited).unwrap(),
            MembershipStatus::Active
        );
        assert!(record_activity(MembershipStatus::Suspended).is_err());
    }

    #[test]
    fn profile_edits_set_clear_and_name_unknown_keys() {
        let body = serde_json::json!({"job_title": " Engineer ", "nickname": null, "location": ""});
        let changes = parse_profile_changes(body.as_object().unwrap()).unwrap();
        assert!(changes.contains(&(ProfileField::JobTitle, Some("Engineer".into()))));
        assert!(changes.contains(&(ProfileField::Nickname, None)));
        assert!(changes.contains(&(ProfileField::Location, None)));
        let body = serde_json::json!({"email": "x@y.z"});
        let e = parse_profile_changes(body.as_object().unwrap())
            .map_err(AdminError::from)
            .unwrap_err();
        assert!(e.message().contains("/email"), "{}", e.message());
        let body = serde_json::json!({"job_title": 3});
        assert!(parse_profile_changes(body.as_object().unwrap()).is_err());
    }

    #[test]
    fn products_roles_and_percentages() {
        assert_eq!(parse_product("Jira").unwrap(), "jira");
        assert!(parse_product("excel").is_err());
        assert_eq!(parse_role(None).unwrap(), ProductRole::User);
        assert_eq!(parse_role(Some("admin")).unwrap(), ProductRole::Admin);
        assert!(parse_role(Some("owner")).is_err());
        assert_eq!(secure_login_percentage(1, 3), 33.3);
        assert_eq!(secure_login_percentage(0, 0), 0.0);
    }

    // Killed mutants (cargo-mutants, see the README): each rule's edges.

    #[test]
    fn profile_values_are_bounded_in_length_and_free_of_control_characters() {
        let body = |v: &str| {
            let mut m = serde_json::Map::new();
            m.insert("display_name".into(), serde_json::Value::String(v.into()));
            m
        };
        let longest = "x".repeat(MAX_STRING_LEN);
        let changes = parse_profile_changes(&body(&longest)).unwrap();
        assert_eq!(changes, vec![(ProfileField::DisplayName, Some(longest))]);
        let too_long = "x".repeat(MAX_STRING_LEN + 1);
        let e = parse_profile_changes(&body(&too_long))
            .map_err(AdminError::from)
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "invalid_request"));
        assert!(e.message().contains("at most"), "{}", e.message());
        // Short, but with a control character: refused as well.
        let e = parse_profile_changes(&body("Ada\u{7}Lovelace"))
            .map_err(AdminError::from)
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "invalid_request"));
        assert!(
            e.message().contains("control characters"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn deactivating_twice_or_reactivating_an_active_account_says_so() {
        let e = facts(AccountStatus::Deactivated, true, None)
            .deactivate()
            .map_err(AdminError::from)
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "invalid_state"));
        assert!(
            e.message().contains("already deactivated"),
            "{}",
            e.message()
        );
        assert!(
            facts(AccountStatus::Deactivated, true, None)
                .reactivate()
                .is_ok()
        );
        let e = facts(AccountStatus::Active, true, None)
            .reactivate()
            .map_err(AdminError::from)
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "invalid_state"));
        assert!(e.message().contains("already active"), "{}", e.message());
        let e = facts(AccountStatus::PendingDeletion, true, None)
            .reactivate()
            .map_err(AdminError::from)
            .unwrap_err();
        assert!(e.message().contains("pending deletion"), "{}", e.message());
    }

    #[test]
    fn only_the_managing_org_sees_an_account_in_full() {
        let (org, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert!(sees_in_full(Some(org), org));
        assert!(!sees_in_full(Some(other), org));
        assert!(!sees_in_full(None, org));
    }

    #[test]
    fn a_domain_with_stranded_accounts_is_kept() {
        assert!(check_domain_removal("acme.example", 0).is_ok());
        let e = check_domain_removal("acme.example", 2)
            .map_err(AdminError::from)
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (409, "invalid_state"));
        assert!(
            e.message()
                .starts_with("2 managed account(s) on acme.example"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn membership_statuses_have_their_names() {
        for (status, name) in [
            (MembershipStatus::Active, "active"),
            (MembershipStatus::Invited, "invited"),
            (MembershipStatus::Suspended, "suspended"),
        ] {
            assert_eq!(status.to_string(), name);
            assert_eq!(parse_membership_status(name).unwrap(), status);
        }
        let e = parse_membership_status("removed")
            .map_err(AdminError::from)
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "invalid_request"));
        assert_eq!(
            parse_account_status("pending_deletion").unwrap(),
            AccountStatus::PendingDeletion
        );
        let e = parse_account_status("Active")
            .map_err(AdminError::from)
            .unwrap_err();
        assert_eq!((e.status(), e.code()), (400, "invalid_request"));
    }
}
