//! Accounts as the admin API sees them: the managed-accounts list and
//! summary, what one organization may see of an account, lifecycle
//! (deactivate, reactivate, delete, cancel, purge), email and profile
//! edits, security state. Account-level effects the SCIM API shares
//! (deactivate, reactivate) live here too.

use super::account_detail::AccountView;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{
    account, account_api_token, account_session, directory, group_member, product_access,
    scim_user, scim_user_value, site, site_membership, sync_log,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::audit::{self, Actor, AuditEntry};
use super::events::{self, EventType, NewEvent, Recorder};
use super::{Store, db_error, is_unique_violation};
use crate::domain::admin_rules::{OrgView, ProfileField};
use crate::domain::lifecycle::AccountStatus;
use crate::domain::types::Email;
use crate::error::{ScimError, ScimResult};

type Time = DateTime<Utc>;

fn not_found(id: Uuid) -> ScimError {
    ScimError::not_found(format!("no account {id} in this organization"))
}

/// `EXISTS` a provisioning link of `accounts.id` in one of the org's
/// directories: the account is IdP-synced for this org.
fn synced_in(org_id: Uuid) -> SimpleExpr {
    Expr::exists(
        scim_user::Entity::find()
            .select_only()
            .expr(Expr::val(1))
            .inner_join(directory::Entity)
            .filter(
                Expr::col((scim_user::Entity, scim_user::Column::AccountId))
                    .equals((account::Entity, account::Column::Id)),
            )
            .filter(directory::Column::OrgId.eq(org_id))
            .into_query(),
    )
}

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

/// `LIKE` pattern for a contains-search: lower-cased, wildcards escaped.
pub(crate) fn contains_pattern(q: &str) -> LikeExpr {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    LikeExpr::new(p).escape('\\')
}

/// Text search on name and email (lower-cased on both sides).
pub(crate) fn text_search(q: &str) -> Condition {
    Condition::any()
        .add(Expr::col((account::Entity, account::Column::EmailLower)).like(contains_pattern(q)))
        .add(
            Expr::expr(Func::lower(Expr::col((
                account::Entity,
                account::Column::DisplayName,
            ))))
            .like(contains_pattern(q)),
        )
}

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
) -> ScimResult<Vec<AccountView>> {
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
) -> ScimResult<HashMap<Uuid, String>> {
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
) -> ScimResult<Vec<(Uuid, String, Uuid, String, Time)>> {
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
pub async fn summary<C: ConnectionTrait>(db: &C, org_id: Uuid) -> ScimResult<Summary> {
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

/// The account, if the org may see it: it manages it, or the account is
/// on one of its sites or provisioned by one of its directories.
pub async fn visible<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    id: Uuid,
) -> ScimResult<Option<account::Model>> {
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
) -> ScimResult<OrgView> {
    Ok(OrgView {
        account: super::users::facts(a),
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
) -> ScimResult<(account::Model, OrgView)> {
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

async fn set_status<C: ConnectionTrait>(
    tx: &C,
    id: Uuid,
    from: AccountStatus,
    cols: Vec<(account::Column, SimpleExpr)>,
) -> ScimResult<u64> {
    let mut q = account::Entity::update_many()
        .col_expr(account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(account::Column::Id.eq(id))
        .filter(account::Column::Status.eq(from));
    for (c, v) in cols {
        q = q.col_expr(c, v);
    }
    Ok(q.exec(tx).await.map_err(db_error)?.rows_affected)
}

/// Every open session of the account ends now.
pub async fn end_sessions<C: ConnectionTrait>(
    tx: &C,
    account_id: Uuid,
    only: Option<Uuid>,
) -> ScimResult<u64> {
    let mut q = account_session::Entity::update_many()
        .col_expr(account_session::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(account_session::Column::AccountId.eq(account_id))
        .filter(account_session::Column::RevokedAt.is_null());
    if let Some(s) = only {
        q = q.filter(account_session::Column::Id.eq(s));
    }
    Ok(q.exec(tx).await.map_err(db_error)?.rows_affected)
}

/// Active → deactivated: it can't log in anywhere, sessions end,
/// memberships are kept.
pub async fn deactivate<C: Recorder>(tx: &C, account_id: Uuid) -> ScimResult<()> {
    let n = set_status(
        tx,
        account_id,
        AccountStatus::Active,
        vec![
            (
                account::Column::Status,
                Expr::value(AccountStatus::Deactivated),
            ),
            (account::Column::DeactivatedAt, Expr::value(Utc::now())),
        ],
    )
    .await?;
    end_sessions(tx, account_id, None).await?;
    if n > 0 {
        events::for_account(tx, account_id, EventType::AccountDeactivated, json!({})).await?;
    }
    Ok(())
}

pub async fn reactivate<C: Recorder>(tx: &C, account_id: Uuid) -> ScimResult<()> {
    let n = set_status(
        tx,
        account_id,
        AccountStatus::Deactivated,
        vec![
            (account::Column::Status, Expr::value(AccountStatus::Active)),
            (
                account::Column::DeactivatedAt,
                Expr::value(Option::<Time>::None),
            ),
        ],
    )
    .await?;
    if n > 0 {
        events::for_account(tx, account_id, EventType::AccountReactivated, json!({})).await?;
    }
    Ok(())
}

/// → pending deletion until `purge_after`; sessions end.
pub async fn request_deletion<C: Recorder>(
    tx: &C,
    a: &account::Model,
    purge_after: Time,
) -> ScimResult<()> {
    let n = set_status(
        tx,
        a.id,
        a.status,
        vec![
            (
                account::Column::Status,
                Expr::value(AccountStatus::PendingDeletion),
            ),
            (
                account::Column::DeletionRequestedAt,
                Expr::value(Utc::now()),
            ),
            (account::Column::PurgeAfter, Expr::value(purge_after)),
        ],
    )
    .await?;
    end_sessions(tx, a.id, None).await?;
    if n > 0 {
        let data = json!({"purge_after": purge_after});
        events::for_account(tx, a.id, EventType::AccountDeletionScheduled, data).await?;
    }
    Ok(())
}

pub async fn cancel_deletion<C: Recorder>(
    tx: &C,
    id: Uuid,
    back_to: AccountStatus,
) -> ScimResult<()> {
    let n = set_status(
        tx,
        id,
        AccountStatus::PendingDeletion,
        vec![
            (account::Column::Status, Expr::value(back_to)),
            (
                account::Column::DeletionRequestedAt,
                Expr::value(Option::<Time>::None),
            ),
            (
                account::Column::PurgeAfter,
                Expr::value(Option::<Time>::None),
            ),
        ],
    )
    .await?;
    if n > 0 {
        let data = json!({"status": back_to});
        events::for_account(tx, id, EventType::AccountDeletionCancelled, data).await?;
    }
    Ok(())
}

pub async fn change_email<C: Recorder>(tx: &C, id: Uuid, email: &Email) -> ScimResult<()> {
    account::Entity::update_many()
        .col_expr(account::Column::Email, Expr::value(email.as_str()))
        .col_expr(account::Column::EmailLower, Expr::value(email.lower()))
        .col_expr(account::Column::EmailDomain, Expr::value(email.domain()))
        .col_expr(account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(account::Column::Id.eq(id))
        .exec(tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                ScimError::uniqueness(format!("another account already uses the email {email}"))
            } else {
                db_error(e)
            }
        })?;
    events::for_account(tx, id, EventType::AccountEmailChanged, json!({})).await?;
    Ok(())
}

fn profile_column(f: ProfileField) -> account::Column {
    match f {
        ProfileField::DisplayName => account::Column::DisplayName,
        ProfileField::Nickname => account::Column::Nickname,
        ProfileField::JobTitle => account::Column::JobTitle,
        ProfileField::Department => account::Column::Department,
        ProfileField::Organization => account::Column::Organization,
        ProfileField::Location => account::Column::Location,
        ProfileField::Timezone => account::Column::Timezone,
        ProfileField::Locale => account::Column::Locale,
        ProfileField::ProfilePhotoUrl => account::Column::ProfilePhotoUrl,
    }
}

pub async fn update_profile<C: Recorder>(
    tx: &C,
    id: Uuid,
    changes: &[(ProfileField, Option<String>)],
) -> ScimResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut q = account::Entity::update_many()
        .col_expr(account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(account::Column::Id.eq(id));
    for (f, v) in changes {
        q = q.col_expr(profile_column(*f), Expr::value(v.clone()));
    }
    q.exec(tx).await.map_err(db_error)?;
    let changed: Vec<&str> = changes.iter().map(|(f, _)| f.key()).collect();
    let data = json!({"changed": changed});
    events::for_account(tx, id, EventType::AccountProfileUpdated, data).await?;
    Ok(())
}

/// Security flags the integrating products read.
pub async fn set_two_step_exclusion<C: ConnectionTrait>(
    tx: &C,
    id: Uuid,
    until: Option<Time>,
) -> ScimResult<()> {
    account::Entity::update_many()
        .col_expr(account::Column::TwoStepExcludedUntil, Expr::value(until))
        .col_expr(account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(account::Column::Id.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub async fn require_password_reset<C: ConnectionTrait>(tx: &C, id: Uuid) -> ScimResult<()> {
    account::Entity::update_many()
        .col_expr(account::Column::PasswordResetRequired, Expr::value(true))
        .col_expr(account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(account::Column::Id.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub async fn api_tokens<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
) -> ScimResult<Vec<account_api_token::Model>> {
    account_api_token::Entity::find()
        .filter(account_api_token::Column::AccountId.eq(account_id))
        .order_by_desc(account_api_token::Column::CreatedAt)
        .limit(1000)
        .all(db)
        .await
        .map_err(db_error)
}

/// Revokes one of the account's API tokens (`None`: all); how many were.
pub async fn revoke_api_tokens<C: ConnectionTrait>(
    tx: &C,
    account_id: Uuid,
    only: Option<Uuid>,
) -> ScimResult<u64> {
    let mut q = account_api_token::Entity::update_many()
        .col_expr(
            account_api_token::Column::RevokedAt,
            Expr::value(Utc::now()),
        )
        .filter(account_api_token::Column::AccountId.eq(account_id))
        .filter(account_api_token::Column::RevokedAt.is_null());
    if let Some(t) = only {
        q = q.filter(account_api_token::Column::Id.eq(t));
    }
    Ok(q.exec(tx).await.map_err(db_error)?.rows_affected)
}

pub async fn sessions<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
) -> ScimResult<Vec<account_session::Model>> {
    account_session::Entity::find()
        .filter(account_session::Column::AccountId.eq(account_id))
        .order_by_desc(account_session::Column::LastSeenAt)
        .limit(1000)
        .all(db)
        .await
        .map_err(db_error)
}

/// Open API tokens and sessions of the account.
pub async fn security_counts<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
) -> ScimResult<(u64, u64)> {
    use sea_orm::PaginatorTrait;
    let tokens = account_api_token::Entity::find()
        .filter(account_api_token::Column::AccountId.eq(account_id))
        .filter(account_api_token::Column::RevokedAt.is_null())
        .count(db)
        .await
        .map_err(db_error)?;
    let sessions = account_session::Entity::find()
        .filter(account_session::Column::AccountId.eq(account_id))
        .filter(account_session::Column::RevokedAt.is_null())
        .count(db)
        .await
        .map_err(db_error)?;
    Ok((tokens, sessions))
}

/// Accounts whose grace period ended, oldest first (at most `limit`).
async fn due<C: ConnectionTrait>(db: &C, now: Time, limit: u64) -> ScimResult<Vec<Uuid>> {
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
async fn purge_one<C: ConnectionTrait>(tx: &C, id: Uuid, now: Time) -> ScimResult<bool> {
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
pub async fn purge_due(store: &Store, now: Time) -> ScimResult<u64> {
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
