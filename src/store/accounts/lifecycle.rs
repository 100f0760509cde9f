//! Account status moves (deactivate, reactivate, deletion and its
//! cancellation), email and profile edits, each with its event.

use chrono::Utc;
use entity::account;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::Time;
use super::security::end_sessions;
use crate::domain::admin_rules::ProfileField;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::lifecycle::AccountStatus;
use crate::domain::types::Email;
use crate::store::events::{self, EventType, Recorder};
use crate::store::{db_error, is_unique_violation};

async fn set_status<C: ConnectionTrait>(
    tx: &C,
    id: Uuid,
    from: AccountStatus,
    cols: Vec<(account::Column, SimpleExpr)>,
) -> DomainResult<u64> {
    let mut q = account::Entity::update_many()
        .col_expr(account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(account::Column::Id.eq(id))
        .filter(account::Column::Status.eq(from));
    for (c, v) in cols {
        q = q.col_expr(c, v);
    }
    Ok(q.exec(tx).await.map_err(db_error)?.rows_affected)
}

/// Active → deactivated: it can't log in anywhere, sessions end,
/// memberships are kept.
pub async fn deactivate<C: Recorder>(tx: &C, account_id: Uuid) -> DomainResult<()> {
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

pub async fn reactivate<C: Recorder>(tx: &C, account_id: Uuid) -> DomainResult<()> {
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
) -> DomainResult<()> {
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
) -> DomainResult<()> {
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

pub async fn change_email<C: Recorder>(tx: &C, id: Uuid, email: &Email) -> DomainResult<()> {
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
                DomainError::taken(format!("another account already uses the email {email}"))
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
) -> DomainResult<()> {
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
