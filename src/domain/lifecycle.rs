//! The rules of the product spec that decide what a SCIM write does to an
//! account: claim on provisioning, deactivate vs suspend on `active`,
//! email changes, unlinking on DELETE. Pure decisions; `store` carries
//! them out in the request's transaction.

use uuid::Uuid;

use crate::error::{ScimError, ScimResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Deactivated,
    PendingDeletion,
    Deleted,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deactivated => "deactivated",
            Self::PendingDeletion => "pending_deletion",
            Self::Deleted => "deleted",
        }
    }
    pub fn parse(s: &str) -> Self {
        match s {
            "deactivated" => Self::Deactivated,
            "pending_deletion" => Self::PendingDeletion,
            "deleted" => Self::Deleted,
            _ => Self::Active,
        }
    }
}

/// What the rules need to know about an account.
#[derive(Debug, Clone)]
pub struct AccountFacts {
    pub id: Uuid,
    pub status: AccountStatus,
    pub managing_org: Option<Uuid>,
}

impl AccountFacts {
    pub fn managed_by(&self, org: Uuid) -> bool {
        self.managing_org == Some(org)
    }
}

/// What `POST /Users` does with the account behind the new link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionPlan {
    /// No account has this email: create one, managed by the org when the
    /// email's domain is verified, else external.
    Create { managed: bool },
    /// An account exists: link it; `claim` when the org now manages it.
    Link { account: Uuid, claim: bool },
}

/// `POST /Users`: find-or-create by email, claim on a verified domain.
pub fn plan_provision(
    existing: Option<&AccountFacts>,
    domain_verified: bool,
    reject_unverified: bool,
    email: &str,
) -> ScimResult<ProvisionPlan> {
    if !domain_verified && reject_unverified {
        return Err(ScimError::invalid_value(format!(
            "the domain of {email} is not verified by this organization, and this directory only provisions accounts on verified domains"
        )));
    }
    Ok(match existing {
        None => ProvisionPlan::Create {
            managed: domain_verified,
        },
        Some(a) if a.status == AccountStatus::Deleted => {
            return Err(ScimError::conflict(format!(
                "the account for {email} has been deleted"
            )));
        }
        Some(a) => ProvisionPlan::Link {
            account: a.id,
            // An account another org manages stays theirs.
            claim: domain_verified && a.managing_org.is_none(),
        },
    })
}

/// What a change of `active` does (product spec, SCIM mapping table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveEffect {
    Nothing,
    /// Managed: the account can't log in anywhere; sessions end;
    /// memberships are kept.
    DeactivateAccount,
    ReactivateAccount,
    /// External: suspend its memberships on the org's sites.
    SuspendOrgMemberships,
    /// External: restore what `SuspendOrgMemberships` suspended.
    RestoreOrgMemberships,
}

pub fn on_active_change(
    account: &AccountFacts,
    org: Uuid,
    was: bool,
    now: bool,
) -> ScimResult<ActiveEffect> {
    let managed = account.managed_by(org);
    Ok(match (was, now) {
        (true, false) if managed => ActiveEffect::DeactivateAccount,
        (true, false) => ActiveEffect::SuspendOrgMemberships,
        (false, true) => {
            if matches!(
                account.status,
                AccountStatus::PendingDeletion | AccountStatus::Deleted
            ) {
                return Err(ScimError::conflict(
                    "the account is pending deletion; an organization admin must cancel the deletion before it can be reactivated",
                ));
            }
            if managed {
                ActiveEffect::ReactivateAccount
            } else {
                ActiveEffect::RestoreOrgMemberships
            }
        }
        _ => ActiveEffect::Nothing,
    })
}

/// The effect of a new primary email on the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailEffect {
    /// Managed account: its platform email changes.
    UpdateAccount,
    /// External account: only the directory's view changes; the org does
    /// not own the account's attributes.
    ViewOnly,
}

pub fn on_email_change(
    account: &AccountFacts,
    org: Uuid,
    new_email: &str,
    domain_verified: bool,
) -> ScimResult<EmailEffect> {
    if !account.managed_by(org) {
        return Ok(EmailEffect::ViewOnly);
    }
    if !domain_verified {
        return Err(ScimError::invalid_value(format!(
            "{new_email} is not on a domain this organization has verified; a managed account's email can only change to an address on a verified domain"
        )));
    }
    Ok(EmailEffect::UpdateAccount)
}

/// `DELETE /Users/{id}`: deactivate (managed) or suspend (external), drop
/// the directory's group memberships, unlink. The account stays.
pub fn on_delete(account: &AccountFacts, org: Uuid) -> ActiveEffect {
    if account.managed_by(org) {
        if account.status == AccountStatus::Active {
            ActiveEffect::DeactivateAccount
        } else {
            ActiveEffect::Nothing
        }
    } else {
        ActiveEffect::SuspendOrgMemberships
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(managing_org: Option<Uuid>, status: AccountStatus) -> AccountFacts {
        AccountFacts {
            id: Uuid::nil(),
            status,
            managing_org,
        }
    }

    #[test]
    fn verified_domain_claims_new_and_unmanaged_accounts() {
        assert_eq!(
            plan_provision(None, true, false, "a@b.c").unwrap(),
            ProvisionPlan::Create { managed: true }
        );
        assert_eq!(
            plan_provision(None, false, false, "a@b.c").unwrap(),
            ProvisionPlan::Create { managed: false }
        );
        let other = Uuid::now_v7();
        let theirs = account(Some(other), AccountStatus::Active);
        assert_eq!(
            plan_provision(Some(&theirs), true, false, "a@b.c").unwrap(),
            ProvisionPlan::Link {
                account: Uuid::nil(),
                claim: false
            }
        );
        assert_eq!(
            plan_provision(None, false, true, "a@b.c")
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn active_false_deactivates_managed_and_suspends_external() {
        let org = Uuid::now_v7();
        let managed = account(Some(org), AccountStatus::Active);
        let external = account(None, AccountStatus::Active);
        assert_eq!(
            on_active_change(&managed, org, true, false).unwrap(),
            ActiveEffect::DeactivateAccount
        );
        assert_eq!(
            on_active_change(&external, org, true, false).unwrap(),
            ActiveEffect::SuspendOrgMemberships
        );
        assert_eq!(
            on_active_change(&external, org, false, true).unwrap(),
            ActiveEffect::RestoreOrgMemberships
        );
        let pending = account(Some(org), AccountStatus::PendingDeletion);
        assert_eq!(
            on_active_change(&pending, org, false, true)
                .unwrap_err()
                .status(),
            409
        );
    }

    #[test]
    fn managed_email_moves_only_to_verified_domains() {
        let org = Uuid::now_v7();
        let managed = account(Some(org), AccountStatus::Active);
        assert!(on_email_change(&managed, org, "x@y.z", false).is_err());
        assert_eq!(
            on_email_change(&managed, org, "x@y.z", true).unwrap(),
            EmailEffect::UpdateAccount
        );
        let external = account(None, AccountStatus::Active);
        assert_eq!(
            on_email_change(&external, org, "x@y.z", false).unwrap(),
            EmailEffect::ViewOnly
        );
    }
}
