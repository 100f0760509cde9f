//! The org's managed accounts page by page, their summary, and which of
//! its directories provision an account.

use std::collections::HashMap;

use entity::{account, directory, scim_user};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Time, synced_in, text_search};
use crate::domain::error::DomainResult;
use crate::domain::lifecycle::AccountStatus;
use crate::store::account_detail::AccountView;
use crate::store::db_error;

#[derive(Debug, Default, Clone)]
pub struct AccountFilter {
    /// Without it, every status but `deleted` (tombstones).
    pub status: Option<AccountStatus>,
    pub synced: Option<bool>,
    pub q: Option<String>,
}

/// A page of the org's managed accounts in id order after `after`
/// (keyset: `managing_org_id, id` index). `limit` rows at most.
pub async fn managed_page<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    f: &AccountFilter,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<Vec<AccountView>> {
    let mut q = account::Entity::find()
        .filter(account::Column::ManagingOrgId.eq(org_id))
        .order_by_asc(account::Column::Id)
        .limit(limit);
    q = match f.status {
        Some(s) => q.filter(account::Column::Status.eq(s)),
        None => q.filter(account::Column::Status.ne(AccountStatus::Deleted)),
    };
    match f.synced {
        Some(true) => q = q.filter(synced_in(org_id)),
        Some(false) => q = q.filter(synced_in(org_id).not()),
        None => {}
    }
    if let Some(text) = f.q.as_deref().filter(|t| !t.trim().is_empty()) {
        q = q.filter(text_search(text.trim()));
    }
    if let Some(a) = after {
        q = q.filter(account::Column::Id.gt(a));
    }
    let rows = q.all(db).await.map_err(db_error)?;
    Ok(rows.into_iter().map(AccountView::from).collect())
}

/// Account → name of the org's directory that provisions it.
pub async fn synced_by<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    accounts: &[Uuid],
) -> DomainResult<HashMap<Uuid, String>> {
    if accounts.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String)> = scim_user::Entity::find()
        .select_only()
        .column(scim_user::Column::AccountId)
        .column_as(
            Expr::col((directory::Entity, directory::Column::Name)),
            "name",
        )
        .inner_join(directory::Entity)
        .filter(Expr::col((directory::Entity, directory::Column::OrgId)).eq(org_id))
        .filter(scim_user::Column::AccountId.is_in(accounts.to_vec()))
        .order_by_asc(directory::Column::Name)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    let mut out = HashMap::new();
    for (a, name) in rows {
        out.entry(a).or_insert(name);
    }
    Ok(out)
}

/// The org's provisioning links of one account: (directory id, directory
/// name, SCIM id, userName, last synced), by directory name (the first is
/// the directory [`synced_by`] names).
pub async fn links<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    account_id: Uuid,
) -> DomainResult<Vec<(Uuid, String, Uuid, String, Time)>> {
    scim_user::Entity::find()
        .select_only()
        .column(scim_user::Column::DirectoryId)
        .column_as(
            Expr::col((directory::Entity, directory::Column::Name)),
            "name",
        )
        .column(scim_user::Column::Id)
        .column(scim_user::Column::UserName)
        .column(scim_user::Column::LastModified)
        .inner_join(directory::Entity)
        .filter(Expr::col((directory::Entity, directory::Column::OrgId)).eq(org_id))
        .filter(scim_user::Column::AccountId.eq(account_id))
        .order_by_asc(directory::Column::Name)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)
}

pub struct Summary {
    pub total: u64,
    pub deactivated: u64,
    pub secure_login: u64,
    pub pending_deletion: u64,
}

/// Counts over the org's managed accounts (tombstones left out), in one
/// pass over the `managing_org_id` index.
pub async fn summary<C: ConnectionTrait>(db: &C, org_id: Uuid) -> DomainResult<Summary> {
    let with_status = |s: AccountStatus| {
        let case = Expr::case(Expr::col(account::Column::Status).eq(s), 1).finally(0);
        Func::sum(SimpleExpr::Case(Box::new(case)))
    };
    let stmt = Query::select()
        .expr(Expr::cust("COUNT(*)"))
        .expr(with_status(AccountStatus::Deactivated))
        .expr(Expr::cust(
            "SUM(CASE WHEN saml_sso OR two_step_enabled THEN 1 ELSE 0 END)",
        ))
        .expr(with_status(AccountStatus::PendingDeletion))
        .from(account::Entity)
        .and_where(Expr::col(account::Column::ManagingOrgId).eq(org_id))
        .and_where(Expr::col(account::Column::Status).ne(AccountStatus::Deleted))
        .to_owned();
    let row = db.query_one(&stmt).await.map_err(db_error)?;
    let n = |i: usize| -> u64 {
        row.as_ref()
            .and_then(|r| r.try_get_by_index::<Option<i64>>(i).ok().flatten())
            .map_or(0, |v| u64::try_from(v).unwrap_or(0))
    };
    Ok(Summary {
        total: n(0),
        deactivated: n(1),
        secure_login: n(2),
        pending_deletion: n(3),
    })
}
