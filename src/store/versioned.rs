//! The write lock of a versioned SCIM resource (a user, a group) and its
//! `If-Match` check: one helper for both.

use sea_orm::sea_query::{Expr, ExprTrait, ReturningClause, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryResult, QueryTrait, UpdateMany,
};

use super::db_error;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::etag::{IfMatch, etag};

/// Locks one resource for a write: bumps its `version` (the row lock
/// until the transaction ends) where the client's `If-Match` accepts the
/// current version, then reads the locked resource with `read`.
///
/// `row` is an update already filtered to the resource's id and
/// directory (it may set more columns, say `last_modified`). Nothing
/// bumped: 412 naming the current version when an `If-Match` was sent and
/// the resource exists, else `not_found`.
pub async fn lock<C, E, T>(
    tx: &C,
    row: UpdateMany<E>,
    version_col: E::Column,
    if_match: Option<&IfMatch>,
    read: impl AsyncFnOnce() -> DomainResult<Option<T>>,
    version_of: impl FnOnce(&T) -> i64,
    not_found: impl FnOnce() -> DomainError,
) -> DomainResult<T>
where
    C: ConnectionTrait,
    E: EntityTrait,
{
    let bumped = row
        .col_expr(version_col, Expr::col(version_col).add(1))
        .filter(version_matches(version_col, if_match))
        .exec(tx)
        .await
        .map_err(db_error)?
        .rows_affected
        > 0;
    match read().await? {
        Some(current) if bumped => Ok(current),
        Some(current) if if_match.is_some() => Err(precondition_failed(version_of(&current))),
        _ => Err(not_found()),
    }
}

/// [`lock`] in one statement: the bump returns the locked resource
/// (`returning`: what a read of it selects, mapped by `map`), so a write
/// that finds its resource pays one round trip for lock and load. Only
/// when nothing was bumped is it read again, to tell 412 from 404.
#[allow(clippy::too_many_arguments)]
pub async fn lock_returning<C, E, T>(
    tx: &C,
    row: UpdateMany<E>,
    version_col: E::Column,
    if_match: Option<&IfMatch>,
    returning: Vec<Expr>,
    map: impl FnOnce(&QueryResult) -> DomainResult<T>,
    read: impl AsyncFnOnce() -> DomainResult<Option<T>>,
    version_of: impl FnOnce(&T) -> i64,
    not_found: impl FnOnce() -> DomainError,
) -> DomainResult<T>
where
    C: ConnectionTrait,
    E: EntityTrait,
{
    let mut update = row
        .col_expr(version_col, Expr::col(version_col).add(1))
        .filter(version_matches(version_col, if_match))
        .into_query();
    update.returning(ReturningClause::Exprs(returning));
    if let Some(locked) = tx.query_one(&update).await.map_err(db_error)? {
        return map(&locked);
    }
    match read().await? {
        Some(current) if if_match.is_some() => Err(precondition_failed(version_of(&current))),
        _ => Err(not_found()),
    }
}

/// The `version` condition of an `If-Match` (none, or `*`: any version).
fn version_matches(col: impl ColumnTrait, if_match: Option<&IfMatch>) -> SimpleExpr {
    match if_match {
        Some(IfMatch::Versions(v)) => col.is_in(v.clone()),
        _ => Expr::cust("1 = 1"),
    }
}

fn precondition_failed(version: i64) -> DomainError {
    DomainError::PreconditionFailed(format!(
        "the resource has changed; its current version is {}",
        etag(version)
    ))
}
