//! An account's security state: sessions, API tokens, the flags the
//! integrating products read.

use chrono::Utc;
use entity::{account, account_api_token, account_session};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::Time;
use crate::domain::error::DomainResult;
use crate::store::account_detail::{SessionView, TokenView};
use crate::store::db_error;

/// Every open session of the account ends now.
pub async fn end_sessions<C: ConnectionTrait>(
    tx: &C,
    account_id: Uuid,
    only: Option<Uuid>,
) -> DomainResult<u64> {
    let mut q = account_session::Entity::update_many()
        .col_expr(account_session::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(account_session::Column::AccountId.eq(account_id))
        .filter(account_session::Column::RevokedAt.is_null());
    if let Some(s) = only {
        q = q.filter(account_session::Column::Id.eq(s));
    }
    Ok(q.exec(tx).await.map_err(db_error)?.rows_affected)
}

/// Security flags the integrating products read.
pub async fn set_two_step_exclusion<C: ConnectionTrait>(
    tx: &C,
    id: Uuid,
    until: Option<Time>,
) -> DomainResult<()> {
    account::Entity::update_many()
        .col_expr(account::Column::TwoStepExcludedUntil, Expr::value(until))
        .col_expr(account::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(account::Column::Id.eq(id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub async fn require_password_reset<C: ConnectionTrait>(tx: &C, id: Uuid) -> DomainResult<()> {
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
) -> DomainResult<Vec<TokenView>> {
    let rows = account_api_token::Entity::find()
        .filter(account_api_token::Column::AccountId.eq(account_id))
        .order_by_desc(account_api_token::Column::CreatedAt)
        .limit(1000)
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(TokenView::from).collect())
}

/// Revokes one of the account's API tokens (`None`: all); how many were.
pub async fn revoke_api_tokens<C: ConnectionTrait>(
    tx: &C,
    account_id: Uuid,
    only: Option<Uuid>,
) -> DomainResult<u64> {
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
) -> DomainResult<Vec<SessionView>> {
    let rows = account_session::Entity::find()
        .filter(account_session::Column::AccountId.eq(account_id))
        .order_by_desc(account_session::Column::LastSeenAt)
        .limit(1000)
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(SessionView::from).collect())
}

/// Open API tokens and sessions of the account.
pub async fn security_counts<C: ConnectionTrait>(
    db: &C,
    account_id: Uuid,
) -> DomainResult<(u64, u64)> {
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
