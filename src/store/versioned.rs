//! The write lock of a versioned SCIM resource (a user, a group) and its
//! `If-Match` check: one helper for both.

use sea_orm::sea_query::{Expr, ExprTrait, ReturningClause, SimpleExpr, UpdateStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryResult, QueryTrait, UpdateMany,
};

use super::db_error;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::etag::{IfMatch, etag};

/// Locks one resource for a write: bumps its `version` (the row lock
/// until the transaction ends) where the client's `If-Match` accepts the
/// current version, and the bump returns the locked resource
/// (`returning`: what a read of it selects, mapped by `map`), so a write
/// that finds its resource pays one round trip for lock and load.
///
/// `row` is an update already filtered to the resource's id and
/// directory (it may set more columns, say `last_modified`). Nothing
/// bumped: `current_version` is read to tell 412 (an `If-Match` was sent
/// and the resource exists: the error names its version) from `None` (no
/// such resource; the caller names it in its 404).
pub async fn lock<C, E, T>(
    tx: &C,
    row: UpdateMany<E>,
    version_col: E::Column,
    if_match: Option<&IfMatch>,
    returning: Vec<Expr>,
    map: impl FnOnce(&QueryResult) -> DomainResult<T>,
    current_version: impl AsyncFnOnce() -> DomainResult<Option<i64>>,
) -> DomainResult<Option<T>>
where
    C: ConnectionTrait,
    E: EntityTrait,
{
    let update = bump(row, version_col, if_match, returning);
    if let Some(locked) = tx.query_one(&update).await.map_err(db_error)? {
        return map(&locked).map(Some);
    }
    missed(if_match, current_version).await
}

/// The version bump of [`lock`]: `row` with `version` raised where
/// `if_match` accepts it, returning `returning`.
pub fn bump<E: EntityTrait>(
    row: UpdateMany<E>,
    version_col: E::Column,
    if_match: Option<&IfMatch>,
    returning: Vec<Expr>,
) -> UpdateStatement {
    let mut update = row
        .col_expr(version_col, Expr::col(version_col).add(1))
        .filter(version_matches(version_col, if_match))
        .into_query();
    update.returning(ReturningClause::Exprs(returning));
    update
}

/// What a bump that locked nothing means: 412 when an `If-Match` was
/// sent and the resource exists (the error names its version), else
/// `None` (no such resource).
pub async fn missed<T>(
    if_match: Option<&IfMatch>,
    current_version: impl AsyncFnOnce() -> DomainResult<Option<i64>>,
) -> DomainResult<Option<T>> {
    match current_version().await? {
        Some(version) if if_match.is_some() => Err(precondition_failed(version)),
        _ => Ok(None),
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
