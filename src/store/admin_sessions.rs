//! Sessions of the admin web page. Signing in exchanges an admin key for a
//! random session id: the browser's cookie carries only that id, the table
//! only its SHA-256, so neither a stolen cookie jar nor a database dump
//! yields the key. A session ends on sign-out (its row is deleted, so a
//! replayed cookie is refused), after `idle` without a request, at its
//! absolute expiry, and with its key (revoked, expired or deleted). The
//! rows live in the database, so every server instance honours them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{admin_key, admin_session};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::admin_keys::AdminIdentity;
use super::db_error;
use crate::domain::secrets;
use crate::error::ScimResult;

/// How long a session lives.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    /// Ends after this long without a request.
    pub idle: Duration,
    /// Ends this long after sign-in, however active.
    pub absolute: Duration,
}

/// A session is marked as used at most this often (a write per page view
/// would queue every page behind SQLite's one writer).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// `now + d`, or the end of time for a lifetime too long to add.
fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A signed-in session: who it speaks for, and whether it is due to be
/// marked as used.
#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub identity: AdminIdentity,
    last_seen_at: DateTime<Utc>,
}

impl Session {
    /// A minute after the last mark (sooner with a short idle limit).
    pub fn needs_touch(&self, lifetime: Lifetime, now: DateTime<Utc>) -> bool {
        let every = TOUCH_EVERY.min(lifetime.idle / 4);
        now.signed_duration_since(self.last_seen_at)
            .to_std()
            .is_ok_and(|d| d >= every)
    }
}

/// Opens a session for `key_id`; returns the clear session id (for the
/// cookie, never stored).
pub async fn create<C: ConnectionTrait>(
    db: &C,
    key_id: Uuid,
    lifetime: Lifetime,
    now: DateTime<Utc>,
) -> ScimResult<String> {
    let id = secrets::new_token("scimsess");
    admin_session::ActiveModel {
        id_hash: Set(secrets::token_hash(&id)),
        key_id: Set(key_id),
        created_at: Set(now),
        last_seen_at: Set(now),
        idle_expires_at: Set(after(now, lifetime.idle)),
        expires_at: Set(after(now, lifetime.absolute)),
    }
    .insert(db)
    .await
    .map_err(db_error)?;
    Ok(id)
}

/// The session `id` names, if it is alive and its key still valid: one
/// indexed read (session joined to its key).
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    id: &str,
    now: DateTime<Utc>,
) -> ScimResult<Option<Session>> {
    type Row = (
        Uuid,
        DateTime<Utc>,
        DateTime<Utc>,
        DateTime<Utc>,
        Uuid,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let row: Option<Row> = admin_session::Entity::find()
        .select_only()
        .column(admin_session::Column::KeyId)
        .column(admin_session::Column::LastSeenAt)
        .column(admin_session::Column::IdleExpiresAt)
        .column(admin_session::Column::ExpiresAt)
        .column(admin_key::Column::OrgId)
        .column_as(
            Expr::col((admin_key::Entity, admin_key::Column::RevokedAt)),
            "key_revoked_at",
        )
        .column_as(
            Expr::col((admin_key::Entity, admin_key::Column::ExpiresAt)),
            "key_expires_at",
        )
        .inner_join(admin_key::Entity)
        .filter(admin_session::Column::IdHash.eq(secrets::token_hash(id)))
        .into_tuple()
        .one(db)
        .await
        .map_err(db_error)?;
    let Some((key_id, last_seen_at, idle_expires_at, expires_at, org_id, revoked, key_expires)) =
        row
    else {
        return Ok(None);
    };
    let alive = idle_expires_at > now
        && expires_at > now
        && revoked.is_none()
        && key_expires.is_none_or(|e| e > now);
    Ok(alive.then_some(Session {
        identity: AdminIdentity { key_id, org_id },
        last_seen_at,
    }))
}

/// Marks the session as used now: its idle expiry moves on.
pub async fn touch<C: ConnectionTrait>(
    db: &C,
    id: &str,
    lifetime: Lifetime,
    now: DateTime<Utc>,
) -> ScimResult<()> {
    admin_session::Entity::update_many()
        .col_expr(admin_session::Column::LastSeenAt, Expr::value(now))
        .col_expr(
            admin_session::Column::IdleExpiresAt,
            Expr::value(after(now, lifetime.idle)),
        )
        .filter(admin_session::Column::IdHash.eq(secrets::token_hash(id)))
        .filter(admin_session::Column::IdleExpiresAt.gt(now))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Ends the session `id` (sign-out): a replayed cookie finds nothing.
pub async fn end<C: ConnectionTrait>(db: &C, id: &str) -> ScimResult<()> {
    admin_session::Entity::delete_by_id(secrets::token_hash(id))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Ends every session of a key (its revocation).
pub async fn end_for_key<C: ConnectionTrait>(db: &C, key_id: Uuid) -> ScimResult<u64> {
    let res = admin_session::Entity::delete_many()
        .filter(admin_session::Column::KeyId.eq(key_id))
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(res.rows_affected)
}

/// Deletes the sessions past their idle or absolute expiry (the periodic
/// job; both columns are indexed).
pub async fn delete_expired<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> ScimResult<u64> {
    let res = admin_session::Entity::delete_many()
        .filter(
            Condition::any()
                .add(admin_session::Column::IdleExpiresAt.lte(now))
                .add(admin_session::Column::ExpiresAt.lte(now)),
        )
        .exec(db)
        .await
        .map_err(db_error)?;
    Ok(res.rows_affected)
}
