//! Webhook endpoints and their delivery state: each endpoint has a cursor
//! in its organization's event feed and moves it past each event delivered
//! (never past one not delivered), so delivery is in order per endpoint
//! and at least once. A worker claims an
//! endpoint with a conditional update of its lease (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL picks one no other instance is claiming).

use chrono::{DateTime, Duration, Utc};
use entity::{event, webhook_attempt, webhook_endpoint};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, DerivePartialModel,
    EntityTrait, NotSet, QueryFilter, QueryOrder, QuerySelect, Set,
    sea_query::{LockBehavior, LockType},
};
use uuid::Uuid;

use super::{Store, db_error};
use crate::domain::error::{DomainError, DomainResult};

type Time = DateTime<Utc>;

/// How long a claimed endpoint stays with its worker by default
/// (`SCIM_WEBHOOK_LEASE_SECS`; at least twice the delivery's total
/// timeout).
pub const LEASE_SECS: i64 = 60;

fn not_found(id: Uuid) -> DomainError {
    DomainError::not_found(format!("no webhook {id} in this organization"))
}

pub async fn create<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    url: &str,
    secret: &str,
    types: Option<String>,
    cursor_seq: i64,
) -> DomainResult<webhook_endpoint::Model> {
    let now = Utc::now();
    webhook_endpoint::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org_id),
        url: Set(url.to_owned()),
        secret: Set(secret.to_owned()),
        types: Set(types),
        enabled: Set(true),
        disabled_reason: Set(None),
        cursor_seq: Set(cursor_seq),
        attempts: Set(0),
        failing_since: Set(None),
        next_attempt_at: Set(None),
        lease_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(db_error)
}

/// An endpoint and its delivery state as the admin API and the CLI show
/// it (read model: never its secret).
#[derive(Debug, Clone)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    /// The stored list of event types (comma-separated); none: all.
    pub types: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub cursor_seq: i64,
    pub failing_since: Option<Time>,
    pub next_attempt_at: Option<Time>,
    pub created_at: Time,
}

impl From<webhook_endpoint::Model> for WebhookView {
    fn from(w: webhook_endpoint::Model) -> Self {
        Self {
            id: w.id,
            url: w.url,
            types: w.types,
            enabled: w.enabled,
            disabled_reason: w.disabled_reason,
            cursor_seq: w.cursor_seq,
            failing_since: w.failing_since,
            next_attempt_at: w.next_attempt_at,
            created_at: w.created_at,
        }
    }
}

pub async fn list<C: ConnectionTrait>(db: &C, org_id: Uuid) -> DomainResult<Vec<WebhookView>> {
    let rows = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .order_by_asc(webhook_endpoint::Column::Id)
        .limit(1000)
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(WebhookView::from).collect())
}

/// One endpoint of the org as shown (404 when the org has none by `id`).
pub async fn view<C: ConnectionTrait>(db: &C, org_id: Uuid, id: Uuid) -> DomainResult<WebhookView> {
    get(db, org_id, id).await.map(WebhookView::from)
}

pub async fn get<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    id: Uuid,
) -> DomainResult<webhook_endpoint::Model> {
    webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| not_found(id))
}

/// What an admin may change.
#[derive(Debug, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub types: Option<Option<String>>,
    pub enabled: Option<bool>,
}

pub async fn update<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    id: Uuid,
    change: EndpointChange,
) -> DomainResult<webhook_endpoint::Model> {
    let current = get(db, org_id, id).await?;
    let mut m: webhook_endpoint::ActiveModel = current.into();
    if let Some(u) = change.url {
        m.url = Set(u);
    }
    if let Some(t) = change.types {
        m.types = Set(t);
    }
    if let Some(e) = change.enabled {
        m.enabled = Set(e);
        if e {
            // Enabled again: retry the current event at once.
            m.disabled_reason = Set(None);
            m.attempts = Set(0);
            m.failing_since = Set(None);
            m.next_attempt_at = Set(None);
        } else {
            m.disabled_reason = Set(Some("disabled by an admin".to_owned()));
        }
    }
    m.updated_at = Set(Utc::now());
    m.update(db).await.map_err(db_error)
}

pub async fn delete<C: ConnectionTrait>(db: &C, org_id: Uuid, id: Uuid) -> DomainResult<()> {
    let res = webhook_endpoint::Entity::delete_many()
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(webhook_endpoint::Column::OrgId.eq(org_id))
        .exec(db)
        .await
        .map_err(db_error)?;
    if res.rows_affected == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// Manual redelivery: the endpoint goes back to just after `after` (and
/// is enabled, with its failure state cleared).
pub async fn redeliver<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    id: Uuid,
    after: i64,
) -> DomainResult<webhook_endpoint::Model> {
    let current = get(db, org_id, id).await?;
    let mut m: webhook_endpoint::ActiveModel = current.into();
    m.cursor_seq = Set(after);
    m.enabled = Set(true);
    m.disabled_reason = Set(None);
    m.attempts = Set(0);
    m.failing_since = Set(None);
    m.next_attempt_at = Set(None);
    m.updated_at = Set(Utc::now());
    m.update(db).await.map_err(db_error)
}

/// A delivery attempt as the admin API shows it (read model).
#[derive(Debug, Clone, DerivePartialModel)]
#[sea_orm(entity = "webhook_attempt::Entity")]
pub struct AttemptView {
    pub id: i64,
    pub event_seq: i64,
    pub event_type: String,
    pub attempted_at: Time,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub success: bool,
}

/// Attempts newest first, keyset on the id.
pub async fn attempts<C: ConnectionTrait>(
    db: &C,
    endpoint_id: Uuid,
    before: Option<i64>,
    limit: u64,
) -> DomainResult<Vec<AttemptView>> {
    let mut q = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::EndpointId.eq(endpoint_id))
        .order_by_desc(webhook_attempt::Column::Id)
        .limit(limit);
    if let Some(b) = before {
        q = q.filter(webhook_attempt::Column::Id.lt(b));
    }
    q.into_partial_model::<AttemptView>()
        .all(db)
        .await
        .map_err(db_error)
}

/// Claims one endpoint that is due and has events past its cursor: its
/// lease is set to `now + lease` by a conditional update.
pub async fn claim(
    store: &Store,
    now: Time,
    lease: Duration,
) -> DomainResult<Option<webhook_endpoint::Model>> {
    let tx = store.begin().await?;
    let pending = Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(event::Entity)
            .and_where(
                Expr::col((event::Entity, event::Column::OrgId))
                    .equals((webhook_endpoint::Entity, webhook_endpoint::Column::OrgId)),
            )
            .and_where(
                Expr::col((event::Entity, event::Column::Seq)).gt(Expr::col((
                    webhook_endpoint::Entity,
                    webhook_endpoint::Column::CursorSeq,
                ))),
            )
            .to_owned(),
    );
    let free = || {
        Condition::any()
            .add(webhook_endpoint::Column::LeaseUntil.is_null())
            .add(webhook_endpoint::Column::LeaseUntil.lt(now))
    };
    let mut q = webhook_endpoint::Entity::find()
        .select_only()
        .column(webhook_endpoint::Column::Id)
        .filter(webhook_endpoint::Column::Enabled.eq(true))
        .filter(
            Condition::any()
                .add(webhook_endpoint::Column::NextAttemptAt.is_null())
                .add(webhook_endpoint::Column::NextAttemptAt.lte(now)),
        )
        .filter(free())
        .filter(pending)
        .order_by_asc(webhook_endpoint::Column::UpdatedAt)
        .limit(1);
    if store.backend() == DbBackend::Postgres {
        q = q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let Some(id) = q.into_tuple::<Uuid>().one(&tx).await.map_err(db_error)? else {
        tx.commit().await.map_err(db_error)?;
        return Ok(None);
    };
    let claimed = webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::LeaseUntil,
            Expr::value(now + lease),
        )
        .filter(webhook_endpoint::Column::Id.eq(id))
        .filter(free())
        .exec_with_returning(&tx)
        .await
        .map_err(db_error)?
        .pop();
    tx.commit().await.map_err(db_error)?;
    Ok(claimed)
}

/// The next events (at most `limit`) past the endpoint's cursor of the
/// types it wants; when none, the cursor moves past the events it skipped
/// (their numbers are commit order: a later matching event has a higher
/// number) and the claim is released.
pub async fn next_events<C: ConnectionTrait>(
    db: &C,
    ep: &webhook_endpoint::Model,
    types: &[super::events::EventType],
    limit: u64,
) -> DomainResult<Vec<super::events::FeedEvent>> {
    let next = super::events::page(db, ep.org_id, Some(ep.cursor_seq), types, limit).await?;
    if next.is_empty() {
        let last = super::events::last_seq(db, ep.org_id).await?;
        webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::CursorSeq, Expr::value(last))
            .col_expr(
                webhook_endpoint::Column::LeaseUntil,
                Expr::value(Option::<Time>::None),
            )
            .filter(webhook_endpoint::Column::Id.eq(ep.id))
            .filter(webhook_endpoint::Column::CursorSeq.lt(last))
            .exec(db)
            .await
            .map_err(db_error)?;
    }
    Ok(next)
}

/// One attempt's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status_code: Option<u16>,
    pub error: Option<String>,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.status_code.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What the endpoint's state becomes after a failed attempt: retry after a
/// backoff, or disable once it has been failing for `give_up_after`.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterFailure {
    RetryAt(Time),
    Disable(String),
}

/// One delivery attempt to record.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub event_seq: i64,
    pub event_type: String,
    pub at: Time,
    pub outcome: Outcome,
}

/// Where an endpoint stands after a group of attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    /// The last event delivered (or the cursor as it was).
    pub cursor_seq: i64,
    pub attempts: i32,
    pub failing_since: Option<Time>,
    pub next_attempt_at: Option<Time>,
    /// Disabled, and why.
    pub disabled: Option<String>,
}

/// Records attempts (one multi-row insert) and moves the endpoint to
/// `standing`, in the caller's transaction; the lease is released, or held
/// until `keep_until` when the worker goes on. Only if the endpoint's
/// cursor is still `expected_cursor`: returns false when an admin's
/// redeliver came first (the endpoint is left as the admin set it).
pub async fn finish<C: ConnectionTrait>(
    db: &C,
    endpoint_id: Uuid,
    expected_cursor: i64,
    attempts: Vec<Attempt>,
    standing: Standing,
    now: Time,
    keep_until: Option<Time>,
) -> DomainResult<bool> {
    super::insert_chunks(
        db,
        attempts.into_iter().map(|a| webhook_attempt::ActiveModel {
            id: NotSet,
            endpoint_id: Set(endpoint_id),
            event_seq: Set(a.event_seq),
            event_type: Set(a.event_type),
            attempted_at: Set(a.at),
            status_code: Set(a.outcome.status_code.map(i32::from)),
            success: Set(a.outcome.success()),
            error: Set(a.outcome.error),
        }),
    )
    .await?;
    let mut q = webhook_endpoint::Entity::update_many()
        .col_expr(
            webhook_endpoint::Column::LeaseUntil,
            Expr::value(keep_until),
        )
        .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            webhook_endpoint::Column::CursorSeq,
            Expr::value(standing.cursor_seq),
        )
        .col_expr(
            webhook_endpoint::Column::Attempts,
            Expr::value(standing.attempts),
        )
        .col_expr(
            webhook_endpoint::Column::FailingSince,
            Expr::value(standing.failing_since),
        )
        .col_expr(
            webhook_endpoint::Column::NextAttemptAt,
            Expr::value(standing.next_attempt_at),
        )
        .filter(webhook_endpoint::Column::Id.eq(endpoint_id))
        .filter(webhook_endpoint::Column::CursorSeq.eq(expected_cursor));
    if let Some(reason) = standing.disabled {
        q = q
            .col_expr(webhook_endpoint::Column::Enabled, Expr::value(false))
            .col_expr(
                webhook_endpoint::Column::DisabledReason,
                Expr::value(reason),
            );
    }
    let res = q.exec(db).await.map_err(db_error)?;
    Ok(res.rows_affected > 0)
}
