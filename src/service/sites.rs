//! An organization admin's site-user and group actions, one function
//! each: invite, record activity, suspend, restore, remove, direct
//! product access; admin-made groups and their members; group grants.
//! Each: begin → lock and load → the `admin_rules` decision → the change
//! → audit → commit ([`write`]).

use chrono::Utc;
use entity::site_membership;
use tracing::instrument;
use uuid::Uuid;

use super::accounts::AdminAct;
use super::{Tx, write};
use crate::admin_error::{AdminError, AdminResult};
use crate::domain::admin_rules::{self, MembershipStatus, ProductRole};
use crate::domain::types::Email;
use crate::store::Store;
use crate::store::account_detail::AccountView;
use crate::store::admin_groups::GroupView;
use crate::store::audit::{self, AuditEntry};
use crate::store::events::Origin;
use crate::store::groups::GrantView;
use crate::store::site_users::{self, MembershipView, SiteView};
use crate::store::{accounts, admin_groups, directories, groups};

/// What [`invite`] did: the membership, its account, whether the
/// membership is new.
pub struct Invited {
    pub membership: MembershipView,
    pub account: AccountView,
    pub new: bool,
}

/// Invites `email` to one of the org's sites (the account is created if
/// there is none, managed at once by the org that verified its domain).
#[instrument(skip_all, fields(org = %who.org_id, site = %site_id), err(level = "debug"))]
pub async fn invite(
    store: &Store,
    who: &AdminAct,
    site_id: Uuid,
    email: &Email,
) -> AdminResult<Invited> {
    let org_id = who.org_id;
    write(store, &who.origin, async |tx| {
        let site = site_users::site_of_org(tx, org_id, site_id).await?;
        // A new account is managed at once by the org that verified its
        // domain (this one or another).
        let claim = directories::authority_of(tx, email.domain())
            .await?
            .managing_org;
        let (a, created) = site_users::find_or_create_account(tx, email, claim).await?;
        accounts::facts(tx, org_id, &a).await?.invite()?;
        let (m, new) = site_users::invite(tx, site.id, a.id).await?;
        let mut entry = AuditEntry::new(
            org_id,
            who.actor.clone(),
            "site.invite",
            "site_membership",
            a.id,
        )
        .detail(format!("site {}", site.name));
        if created {
            entry.detail = Some(format!("site {}; account created", site.name));
        }
        audit::record(tx, entry).await?;
        Ok(Invited {
            membership: m.into(),
            account: a.into(),
            new,
        })
    })
    .await
}

/// What an admin does to a site membership.
#[derive(Debug, Clone, Copy)]
pub enum MembershipChange {
    RecordActivity,
    Suspend,
    Restore,
    Remove,
    SetProduct {
        product: &'static str,
        role: ProductRole,
    },
    RemoveProduct {
        product: &'static str,
    },
}

impl MembershipChange {
    fn audit_action(self) -> &'static str {
        match self {
            Self::RecordActivity => "site.activity",
            Self::Suspend => "site.suspend",
            Self::Restore => "site.restore",
            Self::Remove => "site.remove",
            Self::SetProduct { .. } => "site.grant_product",
            Self::RemoveProduct { .. } => "site.remove_product",
        }
    }
}

/// One membership write: lock the account, load the membership, ask the
/// rules, apply, audit, commit. Returns the account and the membership
/// after the change (`None`: removed).
#[instrument(skip_all, fields(org = %who.org_id, site = %site_id, account = %account_id, change = change.audit_action()), err(level = "debug"))]
pub async fn change_membership(
    store: &Store,
    who: &AdminAct,
    site_id: Uuid,
    account_id: Uuid,
    change: MembershipChange,
) -> AdminResult<(AccountView, Option<MembershipView>)> {
    let org_id = who.org_id;
    write(store, &who.origin, async |tx| {
        let site = site_users::site_of_org(tx, org_id, site_id).await?;
        let (a, _) = accounts::lock(tx, org_id, account_id).await?;
        let m = site_users::membership(tx, site.id, a.id).await?;
        apply(tx, org_id, &m, change).await?;
        audit::record(
            tx,
            AuditEntry::new(
                org_id,
                who.actor.clone(),
                change.audit_action(),
                "site_membership",
                a.id,
            )
            .detail(format!("site {}", site.name)),
        )
        .await?;
        let after = match change {
            MembershipChange::Remove => None,
            _ => Some(site_users::membership(tx, site.id, a.id).await?.into()),
        };
        Ok((a.into(), after))
    })
    .await
}

async fn apply(
    tx: &Tx,
    org_id: Uuid,
    m: &site_membership::Model,
    change: MembershipChange,
) -> AdminResult<()> {
    match change {
        MembershipChange::RecordActivity => {
            admin_rules::record_activity(m.status)?;
            site_users::record_activity(tx, m.site_id, m.account_id, Utc::now()).await?;
        }
        MembershipChange::Suspend => {
            admin_rules::suspend(m.status)?;
            site_users::set_status(
                tx,
                m.site_id,
                m.account_id,
                MembershipStatus::Suspended,
                Some("admin"),
            )
            .await?;
        }
        MembershipChange::Restore => {
            let by_directory = match m
                .suspended_by
                .as_deref()
                .and_then(|s| s.strip_prefix("directory:"))
            {
                Some(id) => {
                    let id = Uuid::parse_str(id).map_err(AdminError::internal)?;
                    let name = crate::store::sync_status::directory_of(tx, org_id, id)
                        .await
                        .map(|d| d.name)
                        .unwrap_or_else(|_| id.to_string());
                    Some(name)
                }
                None => None,
            };
            let back = admin_rules::restore(
                m.status,
                by_directory.as_deref(),
                m.last_active_at.is_some(),
            )?;
            site_users::set_status(tx, m.site_id, m.account_id, back, None).await?;
        }
        MembershipChange::Remove => {
            let synced = site_users::synced_grant(tx, m.site_id, m.account_id).await?;
            admin_rules::remove_from_site(synced.as_deref())?;
            for g in site_users::admin_groups_granting(tx, m.site_id, m.account_id).await? {
                groups::remove_members(tx, g, &[m.account_id]).await?;
            }
            site_users::remove(tx, m.site_id, m.account_id).await?;
        }
        MembershipChange::SetProduct { product, role } => {
            site_users::set_product(tx, m.site_id, m.account_id, product, role).await?;
        }
        MembershipChange::RemoveProduct { product } => {
            if !site_users::remove_product(tx, m.site_id, m.account_id, product).await? {
                return Err(AdminError::not_found(format!(
                    "the user has no direct {product} access on this site"
                )));
            }
        }
    }
    Ok(())
}

/// Creates an admin-made group (`name` already checked).
#[instrument(skip_all, fields(org = %who.org_id), err(level = "debug"))]
pub async fn create_group(
    store: &Store,
    who: &AdminAct,
    name: &str,
    description: Option<String>,
) -> AdminResult<GroupView> {
    write(store, &who.origin, async |tx| {
        let g = admin_groups::create(tx, who.org_id, name, description).await?;
        audit::record(
            tx,
            AuditEntry::new(who.org_id, who.actor.clone(), "group.create", "group", g.id)
                .detail(name.to_owned()),
        )
        .await?;
        Ok(g.into())
    })
    .await
}

/// Adds the account to an admin-made group (`add`) or removes it; synced
/// groups are the IdP's. Access the group grants follows.
#[instrument(skip_all, fields(org = %who.org_id, group = %group_id, account = %account_id, add = add), err(level = "debug"))]
pub async fn change_group_member(
    store: &Store,
    who: &AdminAct,
    group_id: Uuid,
    account_id: Uuid,
    add: bool,
) -> AdminResult<()> {
    let org_id = who.org_id;
    write(store, &who.origin, async |tx| {
        let (g, synced_by) = admin_groups::get(tx, org_id, group_id).await?;
        admin_rules::edit_group_members(synced_by.as_deref())?;
        let (a, _) = accounts::lock(tx, org_id, account_id).await?;
        let action = if add {
            groups::add_members(tx, g.id, &[a.id]).await?;
            "group.add_member"
        } else {
            groups::remove_members(tx, g.id, &[a.id]).await?;
            "group.remove_member"
        };
        audit::record(
            tx,
            AuditEntry::new(org_id, who.actor.clone(), action, "group", g.id)
                .detail(format!("account {}", a.id)),
        )
        .await?;
        Ok(())
    })
    .await
}

/// Removes a group's grant: each member loses the product it gave, and
/// the site membership where that was its last path to the site (with the
/// events of each). Returns the grant removed.
#[instrument(skip_all, fields(org = %who.org_id, group = %group_id, grant = %grant_id), err(level = "debug"))]
pub async fn ungrant(
    store: &Store,
    who: &AdminAct,
    group_id: Uuid,
    grant_id: Uuid,
) -> AdminResult<GrantView> {
    let org_id = who.org_id;
    write(store, &who.origin, async |tx| {
        let (g, _) = admin_groups::get(tx, org_id, group_id).await?;
        let grant = groups::ungrant(tx, g.id, grant_id).await?;
        audit::record(
            tx,
            AuditEntry::new(org_id, who.actor.clone(), "group.ungrant", "group", g.id).detail(
                format!(
                    "{} ({}) on site {}",
                    grant.product, grant.role, grant.site_id
                ),
            ),
        )
        .await?;
        Ok(grant)
    })
    .await
}

/// Grants a product (with a role) on one of the org's sites to a group's
/// members. Returns the grant, the group and the site.
#[instrument(skip_all, fields(org = %who.org_id, group = %group_id, site = %site_id, product = product), err(level = "debug"))]
pub async fn grant(
    store: &Store,
    who: &AdminAct,
    group_id: Uuid,
    site_id: Uuid,
    product: &'static str,
    role: ProductRole,
) -> AdminResult<(GrantView, GroupView, SiteView)> {
    let org_id = who.org_id;
    write(store, &who.origin, async |tx| {
        let (g, _) = admin_groups::get(tx, org_id, group_id).await?;
        let site = site_users::site_of_org(tx, org_id, site_id).await?;
        let grant = groups::grant(tx, g.id, &site.name, product, role).await?;
        audit::record(
            tx,
            AuditEntry::new(org_id, who.actor.clone(), "group.grant", "group", g.id)
                .detail(format!("{product} ({role}) on {}", site.name)),
        )
        .await?;
        Ok((grant, g, site))
    })
    .await
}

/// The operator's grant (`group grant`): a group of any kind, by id, and
/// a site of its organization, by name. Returns the grant.
#[instrument(skip_all, fields(group = %group_id, site = site_name, product = product), err(level = "debug"))]
pub async fn operator_grant(
    store: &Store,
    origin: &Origin,
    group_id: Uuid,
    site_name: &str,
    product: &'static str,
    role: ProductRole,
) -> AdminResult<GrantView> {
    write(store, origin, async |tx| {
        Ok(groups::grant(tx, group_id, site_name, product, role).await?)
    })
    .await
}

/// The operator's `group ungrant`: removes a grant of a group of any kind.
#[instrument(skip_all, fields(group = %group_id, grant = %grant_id), err(level = "debug"))]
pub async fn operator_ungrant(
    store: &Store,
    origin: &Origin,
    group_id: Uuid,
    grant_id: Uuid,
) -> AdminResult<GrantView> {
    write(store, origin, async |tx| {
        Ok(groups::ungrant(tx, group_id, grant_id).await?)
    })
    .await
}
