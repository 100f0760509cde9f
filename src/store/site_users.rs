//! Site users: memberships of one site (managed and external accounts),
//! invites, activity, suspend/restore, removal, direct product access,
//! and the product access and groups an account has on the org's sites.

use super::account_detail::AccountView;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    account, directory, group, group_grant, group_member, product_access, site, site_membership,
};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait, Set,
};
use serde_json::json;
use uuid::Uuid;

use super::accounts::text_search;
use super::events::{self, EventType, Recorder};
use super::{db_error, is_unique_violation};
use crate::domain::admin_rules::MembershipStatus;
use crate::domain::lifecycle::AccountStatus;
use crate::domain::types::Email;
use crate::error::{ScimError, ScimResult};

type Time = DateTime<Utc>;

pub async fn sites_of_org<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> ScimResult<Vec<site::Model>> {
    site::Entity::find()
        .filter(site::Column::OrgId.eq(org_id))
        .order_by_asc(site::Column::Name)
        .all(db)
        .await
        .map_err(db_error)
}

/// The org's site `id`, else 404.
pub async fn site_of_org<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    id: Uuid,
) -> ScimResult<site::Model> {
    site::Entity::find_by_id(id)
        .filter(site::Column::OrgId.eq(org_id))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| ScimError::not_found(format!("no site {id} in this organization")))
}

/// One product an account has on a site, directly or through a group.
#[derive(Debug, Clone)]
pub struct Access {
    pub account_id: Uuid,
    pub site_id: Uuid,
    pub site_name: String,
    pub product: String,
    pub role: String,
    /// The granting group: (id, name, synced-by directory name).
    pub via_group: Option<(Uuid, String, Option<String>)>,
}

/// Product access of `accounts` on the org's sites (one site if `only`):
/// direct rows and group grants, two queries whatever the page size.
pub async fn access_of<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    only: Option<Uuid>,
    accounts: &[Uuid],
) -> ScimResult<Vec<Access>> {
    if accounts.is_empty() {
        return Ok(vec![]);
    }
    let mut direct = product_access::Entity::find()
        .select_only()
        .column(product_access::Column::AccountId)
        .column(product_access::Column::SiteId)
        .column_as(Expr::col((site::Entity, site::Column::Name)), "site_name")
        .column(product_access::Column::Product)
        .column(product_access::Column::Role)
        .inner_join(site::Entity)
        .filter(Expr::col((site::Entity, site::Column::OrgId)).eq(org_id))
        .filter(product_access::Column::AccountId.is_in(accounts.to_vec()));
    if let Some(s) = only {
        direct = direct.filter(product_access::Column::SiteId.eq(s));
    }
    let rows: Vec<(Uuid, Uuid, String, String, String)> =
        direct.into_tuple().all(db).await.map_err(db_error)?;
    let mut out: Vec<Access> = rows
        .into_iter()
        .map(|(account_id, site_id, site_name, product, role)| Access {
            account_id,
            site_id,
            site_name,
            product,
            role,
            via_group: None,
        })
        .collect();

    let mut via_groups = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::AccountId)
        .column(group_grant::Column::SiteId)
        .column(site::Column::Name)
        .column(group_grant::Column::Product)
        .column(group_grant::Column::Role)
        .column(group::Column::Id)
        .column(group::Column::DisplayName)
        .column(directory::Column::Name)
        .inner_join(group::Entity)
        .join(JoinType::InnerJoin, group::Relation::GroupGrant.def())
        .join(JoinType::InnerJoin, group_grant::Relation::Site.def())
        .join(JoinType::LeftJoin, group::Relation::Directory.def())
        .filter(site::Column::OrgId.eq(org_id))
        .filter(group_member::Column::AccountId.is_in(accounts.to_vec()));
    if let Some(s) = only {
        via_groups = via_groups.filter(group_grant::Column::SiteId.eq(s));
    }
    type ViaGroup = (
        Uuid,
        Uuid,
        String,
        String,
        String,
        Uuid,
        String,
        Option<String>,
    );
    let rows: Vec<ViaGroup> = via_groups.into_tuple().all(db).await.map_err(db_error)?;
    out.extend(rows.into_iter().map(
        |(account_id, site_id, site_name, product, role, group_id, group, synced_by)| Access {
            account_id,
            site_id,
            site_name,
            product,
            role,
            via_group: Some((group_id, group, synced_by)),
        },
    ));
    out.sort_by(|a, b| {
        (&a.site_name, &a.product, a.via_group.is_some()).cmp(&(
            &b.site_name,
            &b.product,
            b.via_group.is_some(),
        ))
    });
    Ok(out)
}

/// A group an account is a member of.
#[derive(Debug, Clone)]
pub struct GroupOf {
    pub account_id: Uuid,
    pub group_id: Uuid,
    pub name: String,
    /// The directory that syncs it (`None`: admin-made).
    pub synced_by: Option<String>,
}

/// The org's groups `accounts` are members of.
pub async fn groups_of<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    accounts: &[Uuid],
) -> ScimResult<Vec<GroupOf>> {
    if accounts.is_empty() {
        return Ok(vec![]);
    }
    let rows: Vec<(Uuid, Uuid, String, Option<String>)> = group_member::Entity::find()
        .select_only()
        .column(group_member::Column::AccountId)
        .column(group::Column::Id)
        .column(group::Column::DisplayName)
        .column(directory::Column::Name)
        .inner_join(group::Entity)
        .join(JoinType::LeftJoin, group::Relation::Directory.def())
        .filter(group::Column::OrgId.eq(org_id))
        .filter(group_member::Column::AccountId.is_in(accounts.to_vec()))
        .order_by_asc(group::Column::DisplayNameLower)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(account_id, group_id, name, synced_by)| GroupOf {
            account_id,
            group_id,
            name,
            synced_by,
        })
        .collect())
}

/// The account's memberships on the org's sites: (membership, site name).
pub async fn memberships_of<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    account_id: Uuid,
) -> ScimResult<Vec<(site_membership::Model, String)>> {
    let rows = site_membership::Entity::find()
        .inner_join(site::Entity)
        .select_also(site::Entity)
        .filter(site_membership::Column::AccountId.eq(account_id))
        .filter(Expr::col((site::Entity, site::Column::OrgId)).eq(org_id))
        .all(db)
        .await
        .map_err(db_error)?;
    let mut out: Vec<(site_membership::Model, String)> = rows
        .into_iter()
        .filter_map(|(m, s)| s.map(|s| (m, s.name)))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

#[derive(Debug, Default, Clone)]
pub struct MemberFilter {
    pub status: Option<MembershipStatus>,
    pub q: Option<String>,
    /// Only users with direct access to this product.
    pub product: Option<String>,
}

/// A page of the site's memberships in account-id order after `after`
/// (keyset on the primary key `site_id, account_id`).
pub async fn members_page<C: ConnectionTrait>(
    db: &C,
    site_id: Uuid,
    f: &MemberFilter,
    after: Option<Uuid>,
    limit: u64,
) -> ScimResult<Vec<(MembershipView, AccountView)>> {
    let mut q = site_membership::Entity::find()
        .inner_join(account::Entity)
        .select_also(account::Entity)
        .filter(site_membership::Column::SiteId.eq(site_id))
        .order_by_asc(site_membership::Column::AccountId)
        .limit(limit);
    if let Some(s) = f.status {
        q = q.filter(site_membership::Column::Status.eq(s));
    }
    if let Some(text) = f.q.as_deref().filter(|t| !t.trim().is_empty()) {
        q = q.filter(text_search(text.trim()));
    }
    if let Some(p) = &f.product {
        q = q.filter(Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from(product_access::Entity)
                .and_where(
                    Expr::col((product_access::Entity, product_access::Column::SiteId))
                        .equals((site_membership::Entity, site_membership::Column::SiteId)),
                )
                .and_where(
                    Expr::col((product_access::Entity, product_access::Column::AccountId))
                        .equals((site_membership::Entity, site_membership::Column::AccountId)),
                )
                .and_where(
                    Expr::col((product_access::Entity, product_access::Column::Product))
                        .eq(p.as_str()),
                )
                .to_owned(),
        ));
    }
    if let Some(a) = after {
        q = q.filter(site_membership::Column::AccountId.gt(a));
    }
    let rows = q.all(db).await.map_err(db_error)?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, a)| a.map(|a| (m.into(), a.into())))
        .collect())
}

/// A site membership as the admin API and the web page show it (read
/// model).
#[derive(Debug, Clone)]
pub struct MembershipView {
    pub site_id: Uuid,
    pub account_id: Uuid,
    pub status: MembershipStatus,
    pub invited_directly: bool,
    pub last_active_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<site_membership::Model> for MembershipView {
    fn from(m: site_membership::Model) -> Self {
        Self {
            site_id: m.site_id,
            account_id: m.account_id,
            status: m.status,
            invited_directly: m.invited_directly,
            last_active_at: m.last_active_at,
        }
    }
}

pub async fn membership<C: ConnectionTrait>(
    db: &C,
    site_id: Uuid,
    account_id: Uuid,
) -> ScimResult<site_membership::Model> {
    site_membership::Entity::find_by_id((site_id, account_id))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "account {account_id} is not a user of this site; invite it first"
            ))
        })
}

/// Finds the account by email or creates it (external unless `managed_by`).
pub async fn find_or_create_account<C: ConnectionTrait>(
    tx: &C,
    email: &Email,
    managed_by: Option<Uuid>,
) -> ScimResult<(account::Model, bool)> {
    if let Some(a) = account::Entity::find()
        .filter(account::Column::EmailLower.eq(email.lower()))
        .one(tx)
        .await
        .map_err(db_error)?
    {
        return Ok((a, false));
    }
    let now = Utc::now();
    let a = account::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(Some(email.as_str().to_owned())),
        email_lower: Set(Some(email.lower().to_owned())),
        email_domain: Set(Some(email.domain().to_owned())),
        status: Set(AccountStatus::Active),
        managing_org_id: Set(managed_by),
        two_step_enabled: Set(false),
        saml_sso: Set(false),
        password_reset_required: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            ScimError::uniqueness(format!("another account already uses the email {email}"))
        } else {
            db_error(e)
        }
    })?;
    Ok((a, true))
}

/// An explicit invite: a new membership is `invited`; an existing one is
/// marked as invited directly (it then outlives group grants).
pub async fn invite<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
) -> ScimResult<(site_membership::Model, bool)> {
    if let Some(m) = site_membership::Entity::find_by_id((site_id, account_id))
        .one(tx)
        .await
        .map_err(db_error)?
    {
        let mut am: site_membership::ActiveModel = m.into();
        am.invited_directly = Set(true);
        am.updated_at = Set(Utc::now());
        return Ok((am.update(tx).await.map_err(db_error)?, false));
    }
    let now = Utc::now();
    let m = site_membership::ActiveModel {
        site_id: Set(site_id),
        account_id: Set(account_id),
        status: Set(MembershipStatus::Invited),
        suspended_by: Set(None),
        invited_directly: Set(true),
        last_active_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx)
    .await
    .map_err(db_error)?;
    let data = json!({"status": m.status, "via": "direct"});
    events::for_site(tx, site_id, account_id, EventType::MembershipInvited, data).await?;
    Ok((m, true))
}

/// Moves a membership to `status` (`suspended_by` set with suspensions).
pub async fn set_status<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
    status: MembershipStatus,
    suspended_by: Option<&str>,
) -> ScimResult<()> {
    let res = site_membership::Entity::update_many()
        .col_expr(site_membership::Column::Status, Expr::value(status))
        .col_expr(
            site_membership::Column::SuspendedBy,
            Expr::value(suspended_by.map(str::to_owned)),
        )
        .col_expr(site_membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site_membership::Column::SiteId.eq(site_id))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    if res.rows_affected > 0 {
        let kind = if status == MembershipStatus::Suspended {
            EventType::MembershipSuspended
        } else {
            EventType::MembershipRestored
        };
        let data = json!({"status": status, "via": "direct"});
        events::for_site(tx, site_id, account_id, kind, data).await?;
    }
    Ok(())
}

/// Activity on the site: the membership was last active `at` (and the
/// account, when the site's org manages it); an invite becomes active.
pub async fn record_activity<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
    at: Time,
) -> ScimResult<()> {
    // An invite turns active with its first activity.
    let activated = site_membership::Entity::update_many()
        .col_expr(
            site_membership::Column::Status,
            Expr::value(MembershipStatus::Active),
        )
        .filter(site_membership::Column::SiteId.eq(site_id))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .filter(site_membership::Column::Status.eq(MembershipStatus::Invited))
        .exec(tx)
        .await
        .map_err(db_error)?;
    if activated.rows_affected > 0 {
        let data = json!({"status": MembershipStatus::Active, "via": "direct"});
        events::for_site(
            tx,
            site_id,
            account_id,
            EventType::MembershipActivated,
            data,
        )
        .await?;
    }
    site_membership::Entity::update_many()
        .col_expr(
            site_membership::Column::Status,
            Expr::value(MembershipStatus::Active),
        )
        .col_expr(site_membership::Column::LastActiveAt, Expr::value(at))
        .col_expr(site_membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site_membership::Column::SiteId.eq(site_id))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    // The account-wide time moves only with its managing org's sites:
    // another org's activity says nothing it may write there.
    let site_org = Query::select()
        .column(site::Column::OrgId)
        .from(site::Entity)
        .and_where(Expr::col(site::Column::Id).eq(site_id))
        .to_owned();
    account::Entity::update_many()
        .col_expr(account::Column::LastActiveAt, Expr::value(at))
        .filter(account::Column::Id.eq(account_id))
        .filter(account::Column::ManagingOrgId.in_subquery(site_org))
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A synced group of the account that grants access on the site: the
/// name of its directory.
pub async fn synced_grant<C: ConnectionTrait>(
    db: &C,
    site_id: Uuid,
    account_id: Uuid,
) -> ScimResult<Option<String>> {
    group_member::Entity::find()
        .select_only()
        .column(directory::Column::Name)
        .inner_join(group::Entity)
        .join(JoinType::InnerJoin, group::Relation::GroupGrant.def())
        .join(JoinType::InnerJoin, group::Relation::Directory.def())
        .filter(group_member::Column::AccountId.eq(account_id))
        .filter(group_grant::Column::SiteId.eq(site_id))
        .into_tuple()
        .one(db)
        .await
        .map_err(db_error)
}

/// The org's admin-made groups the account is in that grant access on
/// the site: what "remove from site" takes away.
pub async fn admin_groups_granting<C: ConnectionTrait>(
    db: &C,
    site_id: Uuid,
    account_id: Uuid,
) -> ScimResult<Vec<Uuid>> {
    group_member::Entity::find()
        .select_only()
        .column(group_member::Column::GroupId)
        .distinct()
        .inner_join(group::Entity)
        .join(JoinType::InnerJoin, group::Relation::GroupGrant.def())
        .filter(group_member::Column::AccountId.eq(account_id))
        .filter(group::Column::DirectoryId.is_null())
        .filter(group_grant::Column::SiteId.eq(site_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)
}

/// Removal from the site: direct product access and the membership go.
pub async fn remove<C: Recorder>(tx: &C, site_id: Uuid, account_id: Uuid) -> ScimResult<()> {
    let revoked = product_access::Entity::delete_many()
        .filter(product_access::Column::SiteId.eq(site_id))
        .filter(product_access::Column::AccountId.eq(account_id))
        .exec_with_returning(tx)
        .await
        .map_err(db_error)?;
    for p in revoked {
        let data = json!({"product": p.product, "role": p.role, "via": "direct"});
        events::for_site(
            tx,
            site_id,
            account_id,
            EventType::ProductAccessRevoked,
            data,
        )
        .await?;
    }
    let removed = site_membership::Entity::delete_many()
        .filter(site_membership::Column::SiteId.eq(site_id))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    if removed.rows_affected > 0 {
        let data = json!({"via": "direct"});
        events::for_site(tx, site_id, account_id, EventType::MembershipRemoved, data).await?;
    }
    Ok(())
}

/// Direct product access (insert or change the role).
pub async fn set_product<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
    product: &str,
    role: &str,
) -> ScimResult<()> {
    product_access::Entity::insert(product_access::ActiveModel {
        site_id: Set(site_id),
        account_id: Set(account_id),
        product: Set(product.to_owned()),
        role: Set(role.to_owned()),
        created_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::columns([
            product_access::Column::SiteId,
            product_access::Column::AccountId,
            product_access::Column::Product,
        ])
        .update_column(product_access::Column::Role)
        .to_owned(),
    )
    .exec(tx)
    .await
    .map_err(db_error)?;
    let data = json!({"product": product, "role": role, "via": "direct"});
    events::for_site(
        tx,
        site_id,
        account_id,
        EventType::ProductAccessGranted,
        data,
    )
    .await?;
    Ok(())
}

/// Removes direct product access; false when there was none.
pub async fn remove_product<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
    product: &str,
) -> ScimResult<bool> {
    let res = product_access::Entity::delete_many()
        .filter(product_access::Column::SiteId.eq(site_id))
        .filter(product_access::Column::AccountId.eq(account_id))
        .filter(product_access::Column::Product.eq(product))
        .exec(tx)
        .await
        .map_err(db_error)?;
    if res.rows_affected > 0 {
        let data = json!({"product": product, "via": "direct"});
        events::for_site(
            tx,
            site_id,
            account_id,
            EventType::ProductAccessRevoked,
            data,
        )
        .await?;
    }
    Ok(res.rows_affected > 0)
}

/// Groups by account, for rendering a page.
pub fn by_account<T: Clone>(rows: &[T], account: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<T>> {
    let mut m: HashMap<Uuid, Vec<T>> = HashMap::new();
    for r in rows {
        m.entry(account(r)).or_default().push(r.clone());
    }
    m
}
