//! The rules of the product spec that decide what a SCIM write does to an
//! account: claim on provisioning, deactivate vs suspend on `active`,
//! email changes, unlinking on DELETE. Pure decisions; `store` carries
//! them out in the request's transaction.

use uuid::Uuid;

use crate::error::{ScimError, ScimResult};

/// The stored account status is the one the rules decide over (a column
/// type, `entity::account::AccountStatus`: no string form in between).
pub use entity::account::AccountStatus;

/// What the rules need to know about an account: the one set of facts
/// the SCIM rules (here) and the admin rules (`admin_rules::OrgView`)
/// decide over.
#[derive(Debug, Clone)]
pub struct AccountFacts {
    pub id: Uuid,
    pub status: AccountStatus,
    pub managing_org: Option<Uuid>,
    /// It was deactivated (before a deletion request, if any: cancelling
    /// the deletion restores that).
    pub deactivated: bool,
}

impl AccountFacts {
    pub fn managed_by(&self, org: Uuid) -> bool {
        self.managing_org == Some(org)
    }
}

/// Who may write an account (the trust model): the organization that
/// verified the account's email domain manages it, and the directory bound
/// to that domain is the only one whose attribute writes reach it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Authority {
    /// The org that verified the email's domain; none: nobody manages it.
    pub managing_org: Option<Uuid>,
    /// The directory authoritative for the domain, if one is bound.
    pub directory: Option<Uuid>,
}

impl Authority {
    /// Whether `directory` writes the account's profile, email, password
    /// and account-wide status.
    pub fn is_authoritative(&self, directory: Uuid) -> bool {
        self.directory == Some(directory)
    }
}

/// What `POST /Users` does with the account behind the new link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionPlan {
    /// No account has this email: create one, managed by the org that
    /// verified the email's domain (whoever creates it), else external.
    Create { managing_org: Option<Uuid> },
    /// An account exists: link it; `claim` when the org that verified its
    /// domain does not manage it yet.
    Link { account: Uuid, claim: bool },
}

/// `POST /Users`: find-or-create by email; the managing org follows the
/// email's domain.
pub fn plan_provision(
    existing: Option<&AccountFacts>,
    authority: &Authority,
    org: Uuid,
    reject_unverified: bool,
    email: &str,
) -> ScimResult<ProvisionPlan> {
    if authority.managing_org != Some(org) && reject_unverified {
        return Err(ScimError::invalid_value(format!(
            "the domain of {email} is not verified by this organization, and this directory only provisions accounts on verified domains"
        )));
    }
    Ok(match existing {
        None => ProvisionPlan::Create {
            managing_org: authority.managing_org,
        },
        Some(a) if a.status == AccountStatus::Deleted => {
            return Err(ScimError::conflict(format!(
                "the account for {email} has been deleted"
            )));
        }
        Some(a) => ProvisionPlan::Link {
            account: a.id,
            claim: authority.managing_org.is_some() && a.managing_org != authority.managing_org,
        },
    })
}

/// Whether a write seeds the profile of a new account: the authoritative
/// directory always; anyone when nobody manages the account (external);
/// never a directory writing into another's managed account.
pub fn seeds_profile(authority: &Authority, directory: Uuid) -> bool {
    authority.is_authoritative(directory) || authority.managing_org.is_none()
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

/// `authoritative`: the writing directory is authoritative for the account
/// ([`Authority`]); any other directory only suspends and restores the
/// account on its own org's sites.
pub fn on_active_change(
    account: &AccountFacts,
    authoritative: bool,
    was: bool,
    now: bool,
) -> ScimResult<ActiveEffect> {
    let managed = authoritative;
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
    /// Not the authoritative directory: only the directory's view
    /// changes; the account's email stays.
    ViewOnly,
}

/// `domain_verified`: the new email's domain is verified by the writing
/// directory's organization.
pub fn on_email_change(
    authoritative: bool,
    new_email: &str,
    domain_verified: bool,
) -> ScimResult<EmailEffect> {
    if !authoritative {
        return Ok(EmailEffect::ViewOnly);
    }
    email_domain_rule(new_email, domain_verified).map_err(ScimError::invalid_value)?;
    Ok(EmailEffect::UpdateAccount)
}

/// The email rule (product spec, rule 7), for SCIM and admin writes
/// alike: a managed account's email changes only to an address on a
/// domain the organization has verified. `Err` is the refusal's wording.
pub fn email_domain_rule(new_email: &str, domain_verified: bool) -> Result<(), String> {
    if domain_verified {
        return Ok(());
    }
    Err(format!(
        "{new_email} is not on a domain this organization has verified; a managed account's email can only change to an address on a verified domain"
    ))
}

/// `DELETE /Users/{id}`: deactivate (from the authoritative directory) or
/// suspend on the org's sites (any other), drop the directory's group
/// memberships, unlink. The account stays.
pub fn on_delete(account: &AccountFacts, authoritative: bool) -> ActiveEffect {
    if authoritative {
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
            deactivated: status == AccountStatus::Deactivated,
        }
    }

    #[test]
    fn new_accounts_are_managed_by_whoever_verified_their_domain() {
        let org = Uuid::now_v7();
        let other = Uuid::now_v7();
        let ours = Authority {
            managing_org: Some(org),
            directory: None,
        };
        let theirs = Authority {
            managing_org: Some(other),
            directory: None,
        };
        assert_eq!(
            plan_provision(None, &ours, org, false, "a@b.c").unwrap(),
            ProvisionPlan::Create {
                managing_org: Some(org)
            }
        );
        // Created by another org's IdP: still the verifying org's.
        assert_eq!(
            plan_provision(None, &theirs, org, false, "a@b.c").unwrap(),
            ProvisionPlan::Create {
                managing_org: Some(other)
            }
        );
        assert_eq!(
            plan_provision(None, &Authority::default(), org, false, "a@b.c").unwrap(),
            ProvisionPlan::Create { managing_org: None }
        );
        let managed = account(Some(other), AccountStatus::Active);
        assert_eq!(
            plan_provision(Some(&managed), &theirs, org, false, "a@b.c").unwrap(),
            ProvisionPlan::Link {
                account: Uuid::nil(),
                claim: false
            }
        );
        let unmanaged = account(None, AccountStatus::Active);
        assert_eq!(
            plan_provision(Some(&unmanaged), &ours, org, false, "a@b.c").unwrap(),
            ProvisionPlan::Link {
                account: Uuid::nil(),
                claim: true
            }
        );
        for authority in [Authority::default(), theirs] {
            let e = plan_provision(None, &authority, org, true, "a@b.c").unwrap_err();
            assert_eq!(e.status(), 400);
        }
        let deleted = account(None, AccountStatus::Deleted);
        assert_eq!(
            plan_provision(Some(&deleted), &ours, org, false, "a@b.c")
                .unwrap_err()
                .status(),
            409
        );
    }

    #[test]
    fn only_the_bound_directory_is_authoritative_and_seeds_profiles() {
        let dir = Uuid::now_v7();
        let sibling = Uuid::now_v7();
        let bound = Authority {
            managing_org: Some(Uuid::now_v7()),
            directory: Some(dir),
        };
        assert!(bound.is_authoritative(dir));
        assert!(!bound.is_authoritative(sibling));
        assert!(seeds_profile(&bound, dir));
        assert!(!seeds_profile(&bound, sibling));
        let unbound = Authority {
            managing_org: bound.managing_org,
            directory: None,
        };
        assert!(!unbound.is_authoritative(dir));
        assert!(!seeds_profile(&unbound, dir));
        assert!(seeds_profile(&Authority::default(), sibling));
    }

    #[test]
    fn active_false_deactivates_from_the_authority_and_suspends_otherwise() {
        let org = Uuid::now_v7();
        let managed = account(Some(org), AccountStatus::Active);
        let external = account(None, AccountStatus::Active);
        assert_eq!(
            on_active_change(&managed, true, true, false).unwrap(),
            ActiveEffect::DeactivateAccount
        );
        assert_eq!(
            on_active_change(&managed, false, true, false).unwrap(),
            ActiveEffect::SuspendOrgMemberships
        );
        assert_eq!(
            on_active_change(&external, false, true, false).unwrap(),
            ActiveEffect::SuspendOrgMemberships
        );
        assert_eq!(
            on_active_change(&external, false, false, true).unwrap(),
            ActiveEffect::RestoreOrgMemberships
        );
        let deactivated = account(Some(org), AccountStatus::Deactivated);
        assert_eq!(
            on_active_change(&deactivated, true, false, true).unwrap(),
            ActiveEffect::ReactivateAccount
        );
        assert_eq!(
            on_active_change(&managed, true, true, true).unwrap(),
            ActiveEffect::Nothing
        );
        let pending = account(Some(org), AccountStatus::PendingDeletion);
        for authoritative in [true, false] {
            assert_eq!(
                on_active_change(&pending, authoritative, false, true)
                    .unwrap_err()
                    .status(),
                409
            );
        }
    }

    #[test]
    fn delete_deactivates_from_the_authority_and_suspends_otherwise() {
        let org = Uuid::now_v7();
        let managed = account(Some(org), AccountStatus::Active);
        assert_eq!(on_delete(&managed, true), ActiveEffect::DeactivateAccount);
        assert_eq!(
            on_delete(&managed, false),
            ActiveEffect::SuspendOrgMemberships
        );
        let deactivated = account(Some(org), AccountStatus::Deactivated);
        assert_eq!(on_delete(&deactivated, true), ActiveEffect::Nothing);
    }

    #[test]
    fn email_moves_only_from_the_authority_and_only_to_verified_domains() {
        assert!(on_email_change(true, "x@y.z", false).is_err());
        assert_eq!(
            on_email_change(true, "x@y.z", true).unwrap(),
            EmailEffect::UpdateAccount
        );
        for verified in [true, false] {
            assert_eq!(
                on_email_change(false, "x@y.z", verified).unwrap(),
                EmailEffect::ViewOnly
            );
        }
    }

    #[test]
    fn statuses_are_named_as_stored_and_nothing_else_is_one() {
        for (status, name) in [
            (AccountStatus::Active, "active"),
            (AccountStatus::Deactivated, "deactivated"),
            (AccountStatus::PendingDeletion, "pending_deletion"),
            (AccountStatus::Deleted, "deleted"),
        ] {
            assert_eq!(status.to_string(), name);
            assert_eq!(AccountStatus::from_name(name), Some(status));
        }
        assert_eq!(AccountStatus::from_name("unknown"), None);
        assert_eq!(AccountStatus::from_name("Active"), None);
    }

    #[test]
    fn an_account_is_managed_only_by_its_managing_org() {
        let org = Uuid::now_v7();
        assert!(account(Some(org), AccountStatus::Active).managed_by(org));
        assert!(!account(Some(Uuid::now_v7()), AccountStatus::Active).managed_by(org));
        assert!(!account(None, AccountStatus::Active).managed_by(org));
    }

    #[test]
    fn only_the_verifying_org_may_provision_when_unverified_domains_are_refused() {
        let org = Uuid::now_v7();
        let ours = Authority {
            managing_org: Some(org),
            directory: None,
        };
        assert_eq!(
            plan_provision(None, &ours, org, true, "a@b.c").unwrap(),
            ProvisionPlan::Create {
                managing_org: Some(org)
            }
        );
        let e = plan_provision(None, &Authority::default(), org, true, "a@b.c").unwrap_err();
        assert!(e.to_string().contains("a@b.c"), "{e}");
        // A deleted account is refused whoever manages it.
        let deleted = account(Some(org), AccountStatus::Deleted);
        assert_eq!(
            plan_provision(Some(&deleted), &Authority::default(), org, false, "a@b.c")
                .unwrap_err()
                .status(),
            409
        );
        // Linking an account the verifying org already manages is no claim.
        let managed = account(Some(org), AccountStatus::Active);
        assert_eq!(
            plan_provision(Some(&managed), &ours, org, false, "a@b.c").unwrap(),
            ProvisionPlan::Link {
                account: Uuid::nil(),
                claim: false
            }
        );
        let unmanaged = account(None, AccountStatus::Active);
        assert_eq!(
            plan_provision(Some(&unmanaged), &Authority::default(), org, false, "a@b.c").unwrap(),
            ProvisionPlan::Link {
                account: Uuid::nil(),
                claim: false
            }
        );
    }

    #[test]
    fn delete_from_the_authority_of_a_pending_or_deleted_account_does_nothing() {
        for status in [AccountStatus::PendingDeletion, AccountStatus::Deleted] {
            let a = account(None, status);
            assert_eq!(on_delete(&a, true), ActiveEffect::Nothing);
            assert_eq!(on_delete(&a, false), ActiveEffect::SuspendOrgMemberships);
        }
        let deleted = account(None, AccountStatus::Deleted);
        assert_eq!(
            on_active_change(&deleted, false, false, true)
                .unwrap_err()
                .status(),
            409
        );
        let active = account(None, AccountStatus::Active);
        assert_eq!(
            on_active_change(&active, false, false, false).unwrap(),
            ActiveEffect::Nothing
        );
    }
}
