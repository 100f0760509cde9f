//! The purge job: accounts whose grace period ended lose their personal
//! data; a tombstone stays.

use entity::{
    account, account_api_token, account_session, group_member, product_access, scim_user,
    scim_user_value, site_membership, sync_log,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use super::{Time, contains_pattern};
use crate::domain::error::DomainResult;
use crate::domain::lifecycle::AccountStatus;
use crate::store::audit::{self, Actor, AuditEntry};
use crate::store::events::{self, EventType, NewEvent};
use crate::store::{Store, db_error};

/// Accounts whose grace period ended, oldest first (at most `limit`).
async fn due<C: ConnectionTrait>(db: &C, now: Time, limit: u64) -> DomainResult<Vec<Uuid>> {
    account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .filter(account::Column::Status.eq(AccountStatus::PendingDeletion))
        .filter(account::Column::PurgeAfter.lte(now))
        .order_by_asc(account::Column::PurgeAfter)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)
}

/// Purges one account if it is still due: the conditional UPDATE claims
/// the row, so when several instances run the job only one purges it.
/// Personal data is erased; a tombstone row (id, status `deleted`,
/// dates) stays so audit history still resolves.
async fn purge_one<C: ConnectionTrait>(tx: &C, id: Uuid, now: Time) -> DomainResult<bool> {
    let none = || Expr::value(Option::<String>::None);
    let claimed = account::Entity::update_many()
        .col_expr(account::Column::Status, Expr::value(AccountStatus::Deleted))
        .col_expr(account::Column::DeletedAt, Expr::value(now))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(id))
        .filter(account::Column::Status.eq(AccountStatus::PendingDeletion))
        .filter(account::Column::PurgeAfter.lte(now))
        .exec(tx)
        .await
        .map_err(db_error)?;
    if claimed.rows_affected == 0 {
        return Ok(false);
    }
    // Error details in sync logs quote the email or userName the client
    // sent ("userName … is already in use"): erase those too. Not a hot
    // path: this scans the sync log once per purged account.
    let mut names: Vec<String> = scim_user::Entity::find()
        .select_only()
        .column(scim_user::Column::UserNameLower)
        .filter(scim_user::Column::AccountId.eq(id))
        .into_tuple()
        .all(tx)
        .await
        .map_err(db_error)?;
    let email: Option<Option<String>> = account::Entity::find_by_id(id)
        .select_only()
        .column(account::Column::EmailLower)
        .into_tuple()
        .one(tx)
        .await
        .map_err(db_error)?;
    names.extend(email.flatten());
    names.retain(|n| n.contains('@'));
    names.sort();
    names.dedup();
    if !names.is_empty() {
        let mentions = names.iter().fold(Condition::any(), |c, n| {
            c.add(
                Expr::expr(Func::lower(Expr::col(sync_log::Column::Detail)))
                    .like(contains_pattern(n)),
            )
        });
        sync_log::Entity::update_many()
            .col_expr(
                sync_log::Column::Detail,
                Expr::value("(erased: the account was deleted)"),
            )
            .filter(mentions)
            .exec(tx)
            .await
            .map_err(db_error)?;
    }
    account::Entity::update_many()
        .col_expr(account::Column::Email, none())
        .col_expr(account::Column::EmailLower, none())
        .col_expr(account::Column::EmailDomain, none())
        .col_expr(account::Column::DisplayName, none())
        .col_expr(account::Column::Nickname, none())
        .col_expr(account::Column::JobTitle, none())
        .col_expr(account::Column::Department, none())
        .col_expr(account::Column::Organization, none())
        .col_expr(account::Column::Location, none())
        .col_expr(account::Column::Timezone, none())
        .col_expr(account::Column::Locale, none())
        .col_expr(account::Column::ProfilePhotoUrl, none())
        .col_expr(account::Column::PasswordHash, none())
        .col_expr(
            account::Column::LastActiveAt,
            Expr::value(Option::<Time>::None),
        )
        .filter(account::Column::Id.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    let links = Query::select()
        .column(scim_user::Column::Id)
        .from(scim_user::Entity)
        .and_where(Expr::col(scim_user::Column::AccountId).eq(id))
        .to_owned();
    scim_user_value::Entity::delete_many()
        .filter(scim_user_value::Column::UserId.in_subquery(links))
        .exec(tx)
        .await
        .map_err(db_error)?;
    scim_user::Entity::delete_many()
        .filter(scim_user::Column::AccountId.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    group_member::Entity::delete_many()
        .filter(group_member::Column::AccountId.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    product_access::Entity::delete_many()
        .filter(product_access::Column::AccountId.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    site_membership::Entity::delete_many()
        .filter(site_membership::Column::AccountId.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    account_api_token::Entity::delete_many()
        .filter(account_api_token::Column::AccountId.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    account_session::Entity::delete_many()
        .filter(account_session::Column::AccountId.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(true)
}

/// The purge job: every account whose `purge_after` passed, one
/// transaction each (with its audit entry). Returns how many this call
/// purged.
pub async fn purge_due(store: &Store, now: Time) -> DomainResult<u64> {
    let mut purged = 0;
    loop {
        let ids = due(store.writer(), now, 100).await?;
        if ids.is_empty() {
            return Ok(purged);
        }
        let mut progressed = false;
        let origin = events::Origin::new(Actor::System("purge"), None);
        for id in ids {
            let tx = store.begin_write(&origin).await?;
            // The claiming UPDATE comes first: on SQLite a transaction that
            // reads before it writes can't wait for another writer.
            if purge_one(&tx, id, now).await? {
                let org: Option<Option<Uuid>> = account::Entity::find_by_id(id)
                    .select_only()
                    .column(account::Column::ManagingOrgId)
                    .into_tuple()
                    .one(&tx)
                    .await
                    .map_err(db_error)?;
                if let Some(Some(org_id)) = org {
                    let data = json!({"account_id": id});
                    events::record(&tx, NewEvent::new(org_id, EventType::AccountPurged, data))
                        .await?;
                    audit::record(
                        &tx,
                        AuditEntry::new(
                            org_id,
                            Actor::System("purge"),
                            "account.purge",
                            "account",
                            id,
                        ),
                    )
                    .await?;
                }
                purged += 1;
                progressed = true;
            }
            events::flush(&tx).await?;
            tx.commit().await.map_err(db_error)?;
        }
        if !progressed {
            // Another instance is purging the same rows.
            return Ok(purged);
        }
    }
}
