//! Product access on the org's sites, direct and through group grants,
//! and the groups an account is in.

use chrono::Utc;
use entity::{directory, group, group_grant, group_member, product_access, site};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    RelationTrait, Set,
};
use serde_json::json;
use uuid::Uuid;

use crate::domain::error::DomainResult;
use crate::store::db_error;
use crate::store::events::{self, EventType, Recorder};
use entity::product_access::ProductRole;

/// One product an account has on a site, directly or through a group.
#[derive(Debug, Clone)]
pub struct Access {
    pub account_id: Uuid,
    pub site_id: Uuid,
    pub site_name: String,
    pub product: String,
    pub role: ProductRole,
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
) -> DomainResult<Vec<Access>> {
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
    let rows: Vec<(Uuid, Uuid, String, String, ProductRole)> =
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
        ProductRole,
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
) -> DomainResult<Vec<GroupOf>> {
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

/// A synced group of the account that grants access on the site: the
/// name of its directory.
pub async fn synced_grant<C: ConnectionTrait>(
    db: &C,
    site_id: Uuid,
    account_id: Uuid,
) -> DomainResult<Option<String>> {
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
) -> DomainResult<Vec<Uuid>> {
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

/// Direct product access (insert or change the role).
pub async fn set_product<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
    product: &str,
    role: ProductRole,
) -> DomainResult<()> {
    product_access::Entity::insert(product_access::ActiveModel {
        site_id: Set(site_id),
        account_id: Set(account_id),
        product: Set(product.to_owned()),
        role: Set(role),
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
) -> DomainResult<bool> {
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
