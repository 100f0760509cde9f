//! Membership reads: a site's members page by page, an account's
//! memberships on the org's sites, one membership.

use entity::{account, product_access, site, site_membership};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::domain::admin_rules::MembershipStatus;
use crate::domain::error::{DomainError, DomainResult};
use crate::store::account_detail::AccountView;
use crate::store::accounts::text_search;
use crate::store::db_error;

/// The account's memberships on the org's sites: (membership, site name).
pub async fn memberships_of<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    account_id: Uuid,
) -> DomainResult<Vec<(site_membership::Model, String)>> {
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
) -> DomainResult<Vec<(MembershipView, AccountView)>> {
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
) -> DomainResult<site_membership::Model> {
    site_membership::Entity::find_by_id((site_id, account_id))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| {
            DomainError::not_found(format!(
                "account {account_id} is not a user of this site; invite it first"
            ))
        })
}
