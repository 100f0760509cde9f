//! What one organization may see of an account, the facts its rules
//! need, and the lock of an admin's write.

use entity::{account, site, site_membership};
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
};
use uuid::Uuid;

use super::list::synced_by;
use super::{not_found, synced_in};
use crate::domain::admin_rules::OrgView;
use crate::domain::error::DomainResult;
use crate::store::{db_error, users};

/// `EXISTS` a membership of `accounts.id` on one of the org's sites.
fn member_of_org_site(org_id: Uuid) -> SimpleExpr {
    Expr::exists(
        site_membership::Entity::find()
            .select_only()
            .expr(Expr::val(1))
            .inner_join(site::Entity)
            .filter(
                Expr::col((site_membership::Entity, site_membership::Column::AccountId))
                    .equals((account::Entity, account::Column::Id)),
            )
            .filter(site::Column::OrgId.eq(org_id))
            .into_query(),
    )
}

/// The account, if the org may see it: it manages it, or the account is
/// on one of its sites or provisioned by one of its directories.
pub async fn visible<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    id: Uuid,
) -> DomainResult<Option<account::Model>> {
    account::Entity::find_by_id(id)
        .filter(
            Condition::any()
                .add(account::Column::ManagingOrgId.eq(org_id))
                .add(member_of_org_site(org_id))
                .add(synced_in(org_id)),
        )
        .one(db)
        .await
        .map_err(db_error)
}

pub async fn facts<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    a: &account::Model,
) -> DomainResult<OrgView> {
    Ok(OrgView {
        account: users::facts(a),
        org: org_id,
        synced_by: synced_by(db, org_id, &[a.id]).await?.remove(&a.id),
    })
}

/// Locks the account row for the transaction (a no-op update first, so
/// concurrent writers queue on it) and loads what the rules need.
pub async fn lock<C: ConnectionTrait>(
    tx: &C,
    org_id: Uuid,
    id: Uuid,
) -> DomainResult<(account::Model, OrgView)> {
    account::Entity::update_many()
        .col_expr(
            account::Column::UpdatedAt,
            Expr::col(account::Column::UpdatedAt),
        )
        .filter(account::Column::Id.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    let a = visible(tx, org_id, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let f = facts(tx, org_id, &a).await?;
    Ok((a, f))
}
