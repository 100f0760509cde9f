//! Site users: memberships of one site (managed and external accounts),
//! invites, activity, suspend/restore, removal, direct product access,
//! and the product access and groups an account has on the org's sites.
//!
//! - `members.rs`: membership reads (a site's page, an account's sites)
//! - `changes.rs`: membership writes (invite, status, activity, removal,
//!   the suspensions a SCIM deactivation makes and undoes)
//! - `access.rs`: product access (direct and through group grants) and the
//!   groups an account is in

mod access;
mod changes;
mod members;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::site;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DerivePartialModel, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::db_error;
use crate::domain::error::{DomainError, DomainResult};

pub use access::{
    Access, GroupOf, access_of, admin_groups_granting, groups_of, remove_product, set_product,
    synced_grant,
};
pub use changes::{
    find_or_create_account, invite, record_activity, remove, restore_memberships, set_status,
    suspend_org_memberships,
};
pub use members::{MemberFilter, MembershipView, members_page, membership, memberships_of};

type Time = DateTime<Utc>;

/// A site of the organization as the admin API and the web page show it
/// (read model).
#[derive(Debug, Clone, DerivePartialModel)]
#[sea_orm(entity = "site::Entity")]
pub struct SiteView {
    pub id: Uuid,
    pub name: String,
    pub created_at: Time,
}

pub async fn sites_of_org<C: ConnectionTrait>(db: &C, org_id: Uuid) -> DomainResult<Vec<SiteView>> {
    site::Entity::find()
        .filter(site::Column::OrgId.eq(org_id))
        .order_by_asc(site::Column::Name)
        .into_partial_model::<SiteView>()
        .all(db)
        .await
        .map_err(db_error)
}

/// The org's site `id`, else 404.
pub async fn site_of_org<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    id: Uuid,
) -> DomainResult<SiteView> {
    site::Entity::find_by_id(id)
        .filter(site::Column::OrgId.eq(org_id))
        .into_partial_model::<SiteView>()
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| DomainError::not_found(format!("no site {id} in this organization")))
}

/// Groups by account, for rendering a page.
pub fn by_account<T: Clone>(rows: &[T], account: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<T>> {
    let mut m: HashMap<Uuid, Vec<T>> = HashMap::new();
    for r in rows {
        m.entry(account(r)).or_default().push(r.clone());
    }
    m
}
