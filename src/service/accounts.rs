//! An organization admin's actions on an account, one function each
//! (lifecycle, email and profile edits, security actions), shared by the
//! admin API and the web page. Each runs in [`account_write`]: begin →
//! lock the account and load its facts → the `admin_rules` decision → the
//! change → audit → commit.

use chrono::{DateTime, Utc};
use entity::account;
use tracing::instrument;
use uuid::Uuid;

use super::{Tx, write};
use crate::admin_error::{AdminError, AdminResult};
use crate::domain::admin_rules;
use crate::domain::admin_rules::{OrgView, ProfileField};
use crate::domain::error::DomainResult;
use crate::domain::types::Email;
use crate::store::Store;
use crate::store::account_detail::{
    AccountDetail, AccountView, LinkView, SecurityCounts, SiteView,
};
use crate::store::accounts;
use crate::store::audit::{self, Actor, AuditEntry};
use crate::store::directories;
use crate::store::events::Origin;
use crate::store::{org_schemas, site_users};

/// Who acts: the admin's organization, who the audit log names, who the
/// events name.
#[derive(Debug, Clone)]
pub struct AdminAct {
    pub org_id: Uuid,
    pub actor: Actor,
    pub origin: Origin,
}

impl AdminAct {
    /// An audit entry of this act: the org, who acts, `action` on the
    /// target.
    pub fn entry(
        &self,
        action: &'static str,
        target_type: &'static str,
        target_id: impl ToString,
    ) -> AuditEntry {
        AuditEntry::new(
            self.org_id,
            self.actor.clone(),
            action,
            target_type,
            target_id,
        )
    }

    /// The operator CLI acting for the org (audited as `operator cli`).
    pub fn operator(org_id: Uuid) -> Self {
        let actor = Actor::System("operator cli");
        Self {
            org_id,
            origin: Origin::new(actor.clone(), None),
            actor,
        }
    }
}

/// One write on an account in its own transaction: lock, ask the rules
/// (`apply` does, with the account's [`OrgView`]), apply, audit (`apply`
/// returns the audit detail), commit.
pub async fn account_write(
    store: &Store,
    who: &AdminAct,
    id: Uuid,
    action: &'static str,
    apply: impl AsyncFnOnce(&Tx, &account::Model, &OrgView) -> AdminResult<Option<String>>,
) -> AdminResult<()> {
    write(store, &who.origin, async |tx| {
        let (a, facts) = accounts::lock(tx, who.org_id, id).await?;
        let detail = apply(tx, &a, &facts).await?;
        let mut entry = AuditEntry::new(who.org_id, who.actor.clone(), action, "account", id);
        entry.detail = detail;
        audit::record(tx, entry).await?;
        Ok(())
    })
    .await
}

/// The account, if the org may see it (404 otherwise).
async fn visible(store: &Store, org_id: Uuid, id: Uuid) -> AdminResult<account::Model> {
    accounts::visible(store.reader(), org_id, id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("no account {id} in this organization")))
}

/// The account's id when the org may read its security section (the
/// rules of security actions: it manages the account); their refusal
/// otherwise.
#[instrument(skip_all, fields(org = %org_id, account = %id), err(level = "debug"))]
pub async fn security_readable(store: &Store, org_id: Uuid, id: Uuid) -> AdminResult<Uuid> {
    let a = visible(store, org_id, id).await?;
    accounts::facts(store.reader(), org_id, &a)
        .await?
        .security_action()?;
    Ok(a.id)
}

/// One account as the org's admin sees it (the admin API's account and
/// the web page's account page): the account, the org's links to it with
/// their custom values, its memberships on the org's sites with product
/// access, its groups, and the security counts when the org manages it.
/// 404 unless the org may see the account.
#[instrument(skip_all, fields(org = %org_id, account = %id), err(level = "debug"))]
pub async fn detail(store: &Store, org_id: Uuid, id: Uuid) -> AdminResult<AccountDetail> {
    let db = store.reader();
    let a = visible(store, org_id, id).await?;
    let links = accounts::links(db, org_id, a.id).await?;
    let scim_ids: Vec<Uuid> = links.iter().map(|(_, _, id, _, _)| *id).collect();
    let mut custom = org_schemas::custom_values_of(db, &scim_ids).await?;
    let memberships = site_users::memberships_of(db, org_id, a.id).await?;
    let access = site_users::access_of(db, org_id, None, &[a.id]).await?;
    let groups = site_users::groups_of(db, org_id, &[a.id]).await?;
    let full = admin_rules::sees_in_full(a.managing_org_id, org_id);
    let security = if full {
        let (api_tokens, sessions) = accounts::security_counts(db, a.id).await?;
        Some(SecurityCounts {
            api_tokens,
            sessions,
        })
    } else {
        None
    };
    // What the rules need, from the rows already read: the directory that
    // syncs it is the first link (by name), as `accounts::facts` finds it.
    let facts = OrgView {
        account: crate::store::users::facts(&a),
        org: org_id,
        synced_by: links.first().map(|(_, name, ..)| name.clone()),
    };
    let links = links
        .into_iter()
        .map(
            |(directory_id, directory, scim_id, user_name, at)| LinkView {
                custom: custom.remove(&scim_id),
                directory_id,
                directory,
                scim_id,
                user_name,
                last_synced_at: at,
            },
        )
        .collect();
    Ok(AccountDetail {
        account: AccountView::from(a),
        facts,
        full,
        links,
        sites: SiteView::compose(memberships, access),
        groups,
        security,
    })
}

/// The lifecycle actions of a managed account, shared by the JSON API and
/// the web page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    Deactivate,
    Reactivate,
    Delete,
    CancelDeletion,
}

impl Lifecycle {
    pub const ALL: [Lifecycle; 4] = [
        Self::Deactivate,
        Self::Reactivate,
        Self::Delete,
        Self::CancelDeletion,
    ];

    /// The path segment (`/accounts/{id}/{slug}` on the web page).
    pub fn slug(self) -> &'static str {
        match self {
            Self::Deactivate => "deactivate",
            Self::Reactivate => "reactivate",
            Self::Delete => "delete",
            Self::CancelDeletion => "cancel-deletion",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.slug() == s)
    }

    fn audit_action(self) -> &'static str {
        match self {
            Self::Deactivate => "account.deactivate",
            Self::Reactivate => "account.reactivate",
            Self::Delete => "account.delete",
            Self::CancelDeletion => "account.cancel_deletion",
        }
    }

    /// Whether the rules allow it now; the error says why not.
    pub fn check(self, f: &OrgView, grace_days: u32) -> DomainResult<()> {
        match self {
            Self::Deactivate => f.deactivate(),
            Self::Reactivate => f.reactivate(),
            Self::Delete => f.request_deletion(Utc::now(), grace_days).map(|_| ()),
            Self::CancelDeletion => f.cancel_deletion().map(|_| ()),
        }
    }
}

/// Deactivate, reactivate, delete (after `grace_days`) or cancel the
/// deletion of a managed account.
#[instrument(skip_all, fields(org = %who.org_id, account = %id, action = action.slug()), err(level = "debug"))]
pub async fn lifecycle(
    store: &Store,
    who: &AdminAct,
    id: Uuid,
    action: Lifecycle,
    grace_days: u32,
) -> AdminResult<()> {
    account_write(
        store,
        who,
        id,
        action.audit_action(),
        async |tx, a, f| match action {
            Lifecycle::Deactivate => {
                f.deactivate()?;
                accounts::deactivate(tx, a.id).await?;
                Ok(None)
            }
            Lifecycle::Reactivate => {
                f.reactivate()?;
                accounts::reactivate(tx, a.id).await?;
                Ok(None)
            }
            Lifecycle::Delete => {
                let purge_after = f.request_deletion(Utc::now(), grace_days)?;
                accounts::request_deletion(tx, a, purge_after).await?;
                Ok(Some(format!("purge after {}", purge_after.to_rfc3339())))
            }
            Lifecycle::CancelDeletion => {
                let back_to = f.cancel_deletion()?;
                accounts::cancel_deletion(tx, a.id, back_to).await?;
                Ok(None)
            }
        },
    )
    .await
}

/// A managed account's email, to an address on a domain the org verified.
#[instrument(skip_all, fields(org = %who.org_id, account = %id), err(level = "debug"))]
pub async fn change_email(
    store: &Store,
    who: &AdminAct,
    id: Uuid,
    email: &Email,
) -> AdminResult<()> {
    let org_id = who.org_id;
    account_write(store, who, id, "account.change_email", async |tx, a, f| {
        let verified = directories::domain_verified(tx, org_id, email.domain()).await?;
        f.change_email(email.as_str(), verified)?;
        accounts::change_email(tx, a.id, email).await?;
        Ok(Some(format!(
            "from {} to {}",
            a.email.as_deref().unwrap_or_default(),
            email
        )))
    })
    .await
}

/// Profile attributes of a managed account not synced by an IdP.
#[instrument(skip_all, fields(org = %who.org_id, account = %id), err(level = "debug"))]
pub async fn edit_profile(
    store: &Store,
    who: &AdminAct,
    id: Uuid,
    changes: &[(ProfileField, Option<String>)],
) -> AdminResult<()> {
    account_write(store, who, id, "account.edit_profile", async |tx, a, f| {
        f.edit_profile()?;
        accounts::update_profile(tx, a.id, changes).await?;
        let keys: Vec<&str> = changes.iter().map(|(f, _)| f.key()).collect();
        Ok(Some(keys.join(", ")))
    })
    .await
}

/// Revokes one of the account's API tokens.
#[instrument(skip_all, fields(org = %who.org_id, account = %id), err(level = "debug"))]
pub async fn revoke_api_token(
    store: &Store,
    who: &AdminAct,
    id: Uuid,
    token: Uuid,
) -> AdminResult<()> {
    account_write(
        store,
        who,
        id,
        "account.revoke_api_token",
        async |tx, a, f| {
            f.security_action()?;
            if accounts::revoke_api_tokens(tx, a.id, Some(token)).await? == 0 {
                return Err(AdminError::not_found(format!(
                    "no active API token {token} on this account"
                )));
            }
            Ok(Some(format!("token {token}")))
        },
    )
    .await
}

/// Ends every session of the account (`session` none) or one.
#[instrument(skip_all, fields(org = %who.org_id, account = %id), err(level = "debug"))]
pub async fn logout(
    store: &Store,
    who: &AdminAct,
    id: Uuid,
    session: Option<Uuid>,
) -> AdminResult<()> {
    let action = match session {
        None => "account.logout_all",
        Some(_) => "account.logout",
    };
    account_write(store, who, id, action, async |tx, a, f| {
        f.security_action()?;
        let n = accounts::end_sessions(tx, a.id, session).await?;
        match session {
            None => Ok(Some(format!("{n} sessions ended"))),
            Some(s) if n == 0 => Err(AdminError::not_found(format!(
                "no active session {s} on this account"
            ))),
            Some(s) => Ok(Some(format!("session {s}"))),
        }
    })
    .await
}

/// Excludes the account from two-step verification until `until`, or
/// (none) ends the exclusion.
#[instrument(skip_all, fields(org = %who.org_id, account = %id), err(level = "debug"))]
pub async fn two_step_exclusion(
    store: &Store,
    who: &AdminAct,
    id: Uuid,
    until: Option<DateTime<Utc>>,
) -> AdminResult<()> {
    let action = match until {
        Some(_) => "account.exclude_two_step",
        None => "account.end_two_step_exclusion",
    };
    account_write(store, who, id, action, async |tx, a, f| {
        f.security_action()?;
        accounts::set_two_step_exclusion(tx, a.id, until).await?;
        Ok(until.map(|u| format!("until {}", u.to_rfc3339())))
    })
    .await
}

/// The user must reset the password at next login.
#[instrument(skip_all, fields(org = %who.org_id, account = %id), err(level = "debug"))]
pub async fn require_password_reset(store: &Store, who: &AdminAct, id: Uuid) -> AdminResult<()> {
    account_write(
        store,
        who,
        id,
        "account.require_password_reset",
        async |tx, a, f| {
            f.security_action()?;
            accounts::require_password_reset(tx, a.id).await?;
            Ok(None)
        },
    )
    .await
}
