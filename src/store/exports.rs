//! Export rows, a keyset page at a time: memory stays constant whatever
//! the size of the organization.

use uuid::Uuid;

use super::accounts::{self, AccountFilter};
use super::site_users::{self, MemberFilter, by_account};
use crate::domain::error::DomainResult;
use crate::domain::export::{ManagedRow, SiteUserRow};

/// Rows per page of an export.
pub const EXPORT_PAGE: u64 = 1000;

/// The page of managed accounts after `after`, and the cursor of the next
/// page (`None`: this was the last).
pub async fn managed_page<C: sea_orm::ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    after: Option<Uuid>,
) -> DomainResult<(Vec<ManagedRow>, Option<Uuid>)> {
    let list =
        accounts::managed_page(db, org_id, &AccountFilter::default(), after, EXPORT_PAGE).await?;
    let next = (list.len() as u64 == EXPORT_PAGE)
        .then(|| list.last().map(|a| a.id))
        .flatten();
    let ids: Vec<Uuid> = list.iter().map(|a| a.id).collect();
    let access = site_users::access_of(db, org_id, None, &ids).await?;
    let access = by_account(&access, |a| a.account_id);
    let rows = list
        .into_iter()
        .map(|a| ManagedRow {
            access: access
                .get(&a.id)
                .map(|v| {
                    v.iter()
                        .map(|x| (x.product.clone(), x.site_name.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            name: a.display_name,
            email: a.email,
            last_active: a.last_active_at,
            status: a.status,
            saml_sso: a.saml_sso,
            two_step: a.two_step_enabled,
        })
        .collect();
    Ok((rows, next))
}

/// The page of a site's users after `after`, and the next cursor.
pub async fn site_users_page<C: sea_orm::ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    site_id: Uuid,
    after: Option<Uuid>,
) -> DomainResult<(Vec<SiteUserRow>, Option<Uuid>)> {
    let list =
        site_users::members_page(db, site_id, &MemberFilter::default(), after, EXPORT_PAGE).await?;
    let next = (list.len() as u64 == EXPORT_PAGE)
        .then(|| list.last().map(|(m, _)| m.account_id))
        .flatten();
    let ids: Vec<Uuid> = list.iter().map(|(m, _)| m.account_id).collect();
    let access = site_users::access_of(db, org_id, Some(site_id), &ids).await?;
    let access = by_account(&access, |a| a.account_id);
    let groups = site_users::groups_of(db, org_id, &ids).await?;
    let groups = by_account(&groups, |g| g.account_id);
    let rows = list
        .into_iter()
        .map(|(m, a)| SiteUserRow {
            products: access
                .get(&a.id)
                .map(|v| {
                    let mut p: Vec<String> = v
                        .iter()
                        .map(|x| format!("{} ({})", x.product, x.role))
                        .collect();
                    p.dedup();
                    p
                })
                .unwrap_or_default(),
            groups: groups
                .get(&a.id)
                .map(|v| v.iter().map(|g| g.name.clone()).collect())
                .unwrap_or_default(),
            name: a.display_name,
            email: a.email,
            status: m.status,
            last_active: m.last_active_at,
        })
        .collect();
    Ok((rows, next))
}
