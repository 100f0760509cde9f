//! Change events, a transactional outbox: a write records its events in
//! its own transaction ([`record`]), so a failed request leaves none and a
//! committed one has all of its own. An event is one INSERT where the
//! change is made: the organization it belongs to (an account's managing
//! organization, a site's organization) is looked up inside that INSERT,
//! and who caused it (actor, request id, directory) comes from the write
//! transaction's [`EventSink`].
//!
//! Numbering (`seq`, a total order per organization that is also commit
//! order, so a reader resuming after N never misses an event committed
//! later with a smaller number):
//! - SQLite serialises every write on its one writer connection, so an
//!   event is numbered as it is inserted: the INSERT itself reads the
//!   organization's last number (one probe of `ux_events_org_seq`, or its
//!   `event_counters` row if that is larger: see below) and writes the
//!   next. Nothing else is written per event: the row and its two
//!   indexes. Multi-row inserts ([`record_many`]) leave `seq` null and a
//!   trigger (`events_number`) numbers each row the same way. [`flush`]
//!   has nothing to do.
//! - PostgreSQL, with several instances writing at once, numbers just
//!   before the commit ([`flush`]): one statement bumps the counter row of
//!   each organization with pending events, whose row lock then holds
//!   every other event-writing transaction of that organization until
//!   this one commits, and numbers the events. A transaction writing for
//!   several organizations locks their counters in id order (no deadlock).
//!   A transaction that recorded no event skips that statement (the
//!   sink's `pending` flag).
//!
//! Counters are never deleted with events, and retention raises each
//! organization's counter to the last number it deletes ([`delete_before`]),
//! so numbers never restart or go backwards.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use entity::event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, NotSet, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement, Value,
};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::audit::Actor;
use super::{Store, carry, db_error, insert_chunks};
use crate::domain::error::DomainResult;

/// Every event type the server records (`type` of an event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    AccountCreated,
    AccountClaimed,
    AccountProfileUpdated,
    AccountEmailChanged,
    AccountDeactivated,
    AccountReactivated,
    AccountDeletionScheduled,
    AccountDeletionCancelled,
    AccountPurged,
    MembershipInvited,
    MembershipActivated,
    MembershipSuspended,
    MembershipRestored,
    MembershipRemoved,
    ProductAccessGranted,
    ProductAccessRevoked,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    GroupMemberAdded,
    GroupMemberRemoved,
    DirectorySyncFailed,
}

impl EventType {
    pub const ALL: [EventType; 22] = [
        Self::AccountCreated,
        Self::AccountClaimed,
        Self::AccountProfileUpdated,
        Self::AccountEmailChanged,
        Self::AccountDeactivated,
        Self::AccountReactivated,
        Self::AccountDeletionScheduled,
        Self::AccountDeletionCancelled,
        Self::AccountPurged,
        Self::MembershipInvited,
        Self::MembershipActivated,
        Self::MembershipSuspended,
        Self::MembershipRestored,
        Self::MembershipRemoved,
        Self::ProductAccessGranted,
        Self::ProductAccessRevoked,
        Self::GroupCreated,
        Self::GroupUpdated,
        Self::GroupDeleted,
        Self::GroupMemberAdded,
        Self::GroupMemberRemoved,
        Self::DirectorySyncFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountCreated => "account.created",
            Self::AccountClaimed => "account.claimed",
            Self::AccountProfileUpdated => "account.profile_updated",
            Self::AccountEmailChanged => "account.email_changed",
            Self::AccountDeactivated => "account.deactivated",
            Self::AccountReactivated => "account.reactivated",
            Self::AccountDeletionScheduled => "account.deletion_scheduled",
            Self::AccountDeletionCancelled => "account.deletion_cancelled",
            Self::AccountPurged => "account.purged",
            Self::MembershipInvited => "site_membership.invited",
            Self::MembershipActivated => "site_membership.activated",
            Self::MembershipSuspended => "site_membership.suspended",
            Self::MembershipRestored => "site_membership.restored",
            Self::MembershipRemoved => "site_membership.removed",
            Self::ProductAccessGranted => "product_access.granted",
            Self::ProductAccessRevoked => "product_access.revoked",
            Self::GroupCreated => "group.created",
            Self::GroupUpdated => "group.updated",
            Self::GroupDeleted => "group.deleted",
            Self::GroupMemberAdded => "group.member_added",
            Self::GroupMemberRemoved => "group.member_removed",
            Self::DirectorySyncFailed => "directory.sync_failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event about to be recorded. `data` never holds a password, token or
/// secret: ids, emails, names and the facts of the change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub org_id: Uuid,
    pub kind: EventType,
    pub directory_id: Option<Uuid>,
    pub data: Json,
}

impl NewEvent {
    pub fn new(org_id: Uuid, kind: EventType, data: Json) -> Self {
        Self {
            org_id,
            kind,
            directory_id: None,
            data,
        }
    }

    pub fn directory(mut self, directory_id: Uuid) -> Self {
        self.directory_id = Some(directory_id);
        self
    }
}

/// Where a write transaction's events go: who caused them (stamped on
/// each event as it is recorded) and whether events are recorded at all
/// (`SCIM_EVENTS_ENABLED`, set on the [`Store`]; it exists to measure
/// what events cost, tests and library users never turn it off).
#[derive(Debug, Clone)]
pub struct EventSink {
    origin: Origin,
    /// The `actor` of the transaction's events, spelled once.
    actor: String,
    on: bool,
    /// Whether an event was recorded since the last [`flush`]: shared by
    /// the transaction and its savepoints, so PostgreSQL's numbering
    /// statement runs only for a transaction that has something to number.
    pending: Arc<AtomicBool>,
}

impl EventSink {
    pub fn new(origin: Origin, on: bool) -> Self {
        Self {
            actor: origin.actor_label(),
            origin,
            on,
            pending: Arc::default(),
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Whether events are recorded.
    pub fn on(&self) -> bool {
        self.on
    }

    fn recorded(&self) {
        self.pending.store(true, Ordering::Relaxed);
    }
}

/// A connection events are recorded on: a write transaction that knows
/// its [`EventSink`] ([`super::WriteTx`]).
#[async_trait::async_trait]
pub trait Recorder: ConnectionTrait {
    fn sink(&self) -> &EventSink;
    /// Holds `stmt` to go to the database with the transaction's next
    /// statement (SQLite: [`super::carry`]).
    fn hold(&self, stmt: Statement);
    /// Sends what is held now.
    async fn send_held(&self) -> Result<(), sea_orm::DbErr>;
}

fn row(e: NewEvent, at: DateTime<Utc>, sink: &EventSink) -> event::ActiveModel {
    event::ActiveModel {
        id: NotSet,
        org_id: Set(e.org_id),
        seq: Set(None),
        r#type: Set(e.kind.as_str().to_owned()),
        occurred_at: Set(at),
        directory_id: Set(e.directory_id.or(sink.origin.directory())),
        actor: Set(Some(sink.actor.clone())),
        request_id: Set(sink.origin.request_id.clone()),
        data: Set(e.data.to_string()),
    }
}

/// Records an event in the caller's transaction (one INSERT).
pub async fn record<C: Recorder>(tx: &C, e: NewEvent) -> DomainResult<()> {
    if !tx.sink().on {
        return Ok(());
    }
    insert(
        tx,
        e.kind,
        e.directory_id,
        e.data.to_string(),
        OrgOf::Given,
        e.org_id,
    )
    .await
}

/// Records events in order, in multi-row inserts.
pub async fn record_many<C: Recorder>(tx: &C, events: Vec<NewEvent>) -> DomainResult<()> {
    let sink = tx.sink();
    if !sink.on {
        return Ok(());
    }
    if events.is_empty() {
        return Ok(());
    }
    sink.recorded();
    let at = Utc::now();
    insert_chunks(tx, events.into_iter().map(|e| row(e, at, sink))).await
}

/// Records an `account.*` event for the account's managing organization
/// (an account no organization manages has none): `data` gets the
/// account's id and email. One statement: the INSERT reads the
/// organization and email from the account row (`data` wins over both).
pub async fn for_account<C: Recorder>(
    tx: &C,
    account_id: Uuid,
    kind: EventType,
    data: Json,
) -> DomainResult<()> {
    if !tx.sink().on {
        return Ok(());
    }
    let mut body = json!({"account_id": account_id});
    merge(&mut body, data);
    insert(tx, kind, None, body.to_string(), OrgOf::Account, account_id).await
}

/// Records a site membership or product access event for the site's
/// organization: `data` gets the site and account ids. One statement: the
/// INSERT reads the organization from the site row.
pub async fn for_site<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
    kind: EventType,
    data: Json,
) -> DomainResult<()> {
    if !tx.sink().on {
        return Ok(());
    }
    let body = site_data(site_id, account_id, data).to_string();
    insert(tx, kind, None, body, OrgOf::Site, site_id).await
}

/// Where the INSERT of one event takes its organization from.
#[derive(Clone, Copy)]
enum OrgOf {
    /// The event names it.
    Given,
    /// The managing organization of the account (no row when none).
    Account,
    /// The site's organization.
    Site,
}

/// SQLite: the organization's next number, read by the INSERT: one more
/// than its last event's, or than its counter where retention left it
/// higher (all of its events gone).
macro_rules! next_seq {
    ($org:literal) => {
        concat!(
            "MAX(COALESCE((SELECT e.seq FROM events e WHERE e.org_id = ",
            $org,
            " AND e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1), 0), ",
            "COALESCE((SELECT c.last_seq FROM event_counters c WHERE c.org_id = ",
            $org,
            "), 0)) + 1"
        )
    };
}

/// `INSERT INTO events …` of one event, per backend and [`OrgOf`].
/// Parameters: 1 type, 2 time, 3 directory, 4 actor, 5 request id, 6 data,
/// 7 the organization (`Given`), account or site id. Constant text: the
/// connection's prepared statement is found without building it.
fn insert_sql(backend: DbBackend, org: OrgOf) -> &'static str {
    match (backend, org) {
        (DbBackend::Postgres, OrgOf::Given) => {
            "INSERT INTO events (org_id, type, occurred_at, directory_id, actor, request_id, data) \
             VALUES ($7, $1, $2, $3, $4, $5, $6)"
        }
        // `data`'s own email wins (`||` keeps the right-hand side's keys).
        (DbBackend::Postgres, OrgOf::Account) => {
            "INSERT INTO events (org_id, type, occurred_at, directory_id, actor, request_id, data) \
             SELECT a.managing_org_id, $1, $2, $3, $4, $5, \
                    (jsonb_build_object('email', a.email) || CAST($6 AS jsonb))::text \
             FROM accounts a WHERE a.id = $7 AND a.managing_org_id IS NOT NULL"
        }
        (DbBackend::Postgres, OrgOf::Site) => {
            "INSERT INTO events (org_id, type, occurred_at, directory_id, actor, request_id, data) \
             SELECT s.org_id, $1, $2, $3, $4, $5, $6 FROM sites s WHERE s.id = $7"
        }
        (_, OrgOf::Given) => concat!(
            "INSERT INTO events (org_id, type, occurred_at, directory_id, actor, request_id, data, seq) ",
            "SELECT ?7, ?1, ?2, ?3, ?4, ?5, ?6, ",
            next_seq!("?7")
        ),
        // `data`'s own email wins (json_insert adds only what is absent).
        (_, OrgOf::Account) => concat!(
            "INSERT INTO events (org_id, type, occurred_at, directory_id, actor, request_id, data, seq) ",
            "SELECT a.managing_org_id, ?1, ?2, ?3, ?4, ?5, json_insert(?6, '$.email', a.email), ",
            next_seq!("a.managing_org_id"),
            " FROM accounts a WHERE a.id = ?7 AND a.managing_org_id IS NOT NULL"
        ),
        (_, OrgOf::Site) => concat!(
            "INSERT INTO events (org_id, type, occurred_at, directory_id, actor, request_id, data, seq) ",
            "SELECT s.org_id, ?1, ?2, ?3, ?4, ?5, ?6, ",
            next_seq!("s.org_id"),
            " FROM sites s WHERE s.id = ?7"
        ),
    }
}

/// One event in one statement ([`insert_sql`]): `id` is the organization
/// (`Given`), the account or the site; the directory is the event's own,
/// else the writer's.
async fn insert<C: Recorder>(
    tx: &C,
    kind: EventType,
    directory_id: Option<Uuid>,
    data: String,
    org: OrgOf,
    id: Uuid,
) -> DomainResult<()> {
    let sink = tx.sink();
    let backend = tx.get_database_backend();
    let values: Vec<Value> = vec![
        kind.as_str().into(),
        Utc::now().into(),
        directory_id.or(sink.origin.directory()).into(),
        sink.actor.clone().into(),
        sink.origin.request_id.clone().into(),
        data.into(),
        id.into(),
    ];
    let stmt = Statement::from_sql_and_values(backend, insert_sql(backend, org), values);
    if carry::holds(tx) {
        // Numbered inside the INSERT: nothing for [`flush`] to do, and
        // nothing to wait for (it goes with the next statement).
        tx.hold(stmt);
        return Ok(());
    }
    let done = tx.execute_raw(stmt).await.map_err(db_error)?;
    if done.rows_affected() > 0 {
        sink.recorded();
    }
    Ok(())
}

/// `{"site_id", "account_id", …data}`.
pub fn site_data(site_id: Uuid, account_id: Uuid, data: Json) -> Json {
    let mut body = json!({"site_id": site_id, "account_id": account_id});
    merge(&mut body, data);
    body
}

fn merge(into: &mut Json, data: Json) {
    if let (Json::Object(into), Json::Object(data)) = (into, data) {
        into.extend(data);
    }
}

/// Who caused the events of a transaction and in which request.
#[derive(Debug, Clone)]
pub struct Origin {
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl Origin {
    pub fn new(actor: Actor, request_id: Option<String>) -> Self {
        Self { actor, request_id }
    }

    fn actor_label(&self) -> String {
        let (kind, id) = self.actor.parts();
        format!("{kind}:{id}")
    }

    fn directory(&self) -> Option<Uuid> {
        match self.actor {
            Actor::Directory(d) => Some(d),
            _ => None,
        }
    }
}

/// Numbers the transaction's pending events: call it last, right before
/// the commit (once per request is fine: it numbers what is pending).
/// SQLite numbered them as they were inserted (see the module doc): it
/// sends the INSERTs still held for the next statement ([`super::carry`]),
/// if nothing carried them yet. PostgreSQL: one statement, whatever the number of
/// organizations: an upsert of `INSERT … SELECT … GROUP BY org_id ORDER
/// BY org_id` bumps the counter of each organization with pending events
/// (rows locked in id order) and returns the new last numbers, from which
/// the UPDATE numbers each organization's events in id order.
pub async fn flush<C: Recorder>(tx: &C) -> DomainResult<()> {
    let backend = tx.get_database_backend();
    if carry::holds(tx) {
        // What was recorded since the last statement goes now.
        return tx.send_held().await.map_err(db_error);
    }
    // Nothing recorded since the last flush: nothing to number.
    if backend != DbBackend::Postgres || !tx.sink().pending.swap(false, Ordering::Relaxed) {
        return Ok(());
    }
    // The UPDATE can't see the upsert's rows (one snapshot for the whole
    // statement), only what it returns; it sees the pending events (its
    // own transaction's: other transactions' are invisible until they
    // commit, numbered).
    let sql = "WITH bumped AS ( \
                 INSERT INTO event_counters (org_id, last_seq) \
                 SELECT org_id, COUNT(*) FROM events WHERE seq IS NULL \
                 GROUP BY org_id ORDER BY org_id \
                 ON CONFLICT (org_id) DO UPDATE \
                 SET last_seq = event_counters.last_seq + excluded.last_seq \
                 RETURNING org_id, last_seq), \
               pending AS ( \
                 SELECT id, org_id, \
                        ROW_NUMBER() OVER (PARTITION BY org_id ORDER BY id) AS rn, \
                        COUNT(*) OVER (PARTITION BY org_id) AS n \
                 FROM events WHERE seq IS NULL) \
               UPDATE events SET seq = b.last_seq - p.n + p.rn \
               FROM pending p JOIN bumped b ON b.org_id = p.org_id \
               WHERE events.id = p.id";
    // Prepared (and so cached by the connection, and counted in
    // `db_statements_total`), not sent as a simple query parsed each time.
    tx.execute_raw(Statement::from_string(backend, sql))
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The organization's last event sequence number (0: none yet): where a
/// reader starting "from now" begins (one probe of the (org, seq) index).
pub async fn last_seq<C: ConnectionTrait>(db: &C, org_id: Uuid) -> DomainResult<i64> {
    let seq: Option<Option<i64>> = event::Entity::find()
        .select_only()
        .column_as(event::Column::Seq.max(), "m")
        .filter(event::Column::OrgId.eq(org_id))
        .into_tuple()
        .one(db)
        .await
        .map_err(db_error)?;
    Ok(seq.flatten().unwrap_or(0))
}

/// A page of the organization's feed: events after sequence number
/// `after`, oldest first, of the given types (none: all).
pub async fn page<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    after: Option<i64>,
    types: &[EventType],
    limit: u64,
) -> DomainResult<Vec<FeedEvent>> {
    let mut q = event::Entity::find()
        .filter(event::Column::OrgId.eq(org_id))
        .filter(event::Column::Seq.gt(after.unwrap_or(0)))
        .order_by_asc(event::Column::Seq)
        .limit(limit);
    if !types.is_empty() {
        q = q.filter(event::Column::Type.is_in(types.iter().map(|t| t.as_str())));
    }
    let rows = q.all(db).await.map_err(db_error)?;
    Ok(rows.into_iter().map(FeedEvent).collect())
}

/// A committed event as the feed, the CLI and webhooks show it (the
/// stored row stays inside `store/`).
#[derive(Debug, Clone)]
pub struct FeedEvent(event::Model);

impl FeedEvent {
    /// Its organization's sequence number (committed events have one).
    pub fn seq(&self) -> i64 {
        self.0.seq.unwrap_or_default()
    }

    /// `type`, e.g. `account.created`.
    pub fn kind(&self) -> &str {
        &self.0.r#type
    }

    pub fn to_json(&self) -> Json {
        let e = &self.0;
        let data: Json = serde_json::from_str(&e.data).unwrap_or(Json::Null);
        json!({
            "id": format!("evt_{}_{}", e.org_id.simple(), e.seq.unwrap_or_default()),
            "seq": e.seq,
            "type": e.r#type,
            "occurred_at": e.occurred_at,
            "organization_id": e.org_id,
            "directory_id": e.directory_id,
            "actor": e.actor,
            "request_id": e.request_id,
            "data": data,
        })
    }
}

/// Retention: deletes the events that occurred before `cutoff`, oldest
/// (smallest id) first, `batch` at a time (each batch its own short
/// transaction), and stops at the first event still within retention (ids
/// follow the time events are recorded, so only the primary key is read);
/// how many went. Before a batch goes, each organization's counter is
/// raised to the last number it deletes: the numbering goes on from there
/// once an organization's events are all gone.
pub async fn delete_before(store: &Store, cutoff: DateTime<Utc>, batch: u64) -> DomainResult<u64> {
    let mut deleted = 0;
    loop {
        let oldest: Vec<(i64, DateTime<Utc>)> = event::Entity::find()
            .select_only()
            .column(event::Column::Id)
            .column(event::Column::OccurredAt)
            .order_by_asc(event::Column::Id)
            .limit(batch)
            .into_tuple()
            .all(store.writer())
            .await
            .map_err(db_error)?;
        let expired = oldest.iter().take_while(|(_, at)| *at < cutoff).count();
        let Some(&(upto, _)) = expired.checked_sub(1).and_then(|i| oldest.get(i)) else {
            return Ok(deleted);
        };
        let tx = store.begin().await?;
        let backend = store.backend();
        let raise = match backend {
            DbBackend::Postgres => {
                "INSERT INTO event_counters (org_id, last_seq) \
                 SELECT org_id, MAX(seq) FROM events WHERE id <= $1 AND seq IS NOT NULL \
                 GROUP BY org_id ORDER BY org_id \
                 ON CONFLICT (org_id) DO UPDATE \
                 SET last_seq = GREATEST(event_counters.last_seq, excluded.last_seq)"
            }
            _ => {
                "INSERT INTO event_counters (org_id, last_seq) \
                 SELECT org_id, MAX(seq) FROM events WHERE id <= ?1 AND seq IS NOT NULL \
                 GROUP BY org_id \
                 ON CONFLICT (org_id) DO UPDATE \
                 SET last_seq = MAX(event_counters.last_seq, excluded.last_seq)"
            }
        };
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            raise,
            [upto.into()],
        ))
        .await
        .map_err(db_error)?;
        // The time again: on PostgreSQL a transaction that took a smaller
        // id may have committed since the read above; its event is not
        // expired and stays.
        let res = event::Entity::delete_many()
            .filter(event::Column::Id.lte(upto))
            .filter(event::Column::OccurredAt.lt(cutoff))
            .exec(&tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        deleted += res.rows_affected;
        if expired < oldest.len() || (oldest.len() as u64) < batch {
            return Ok(deleted);
        }
    }
}

/// Deletes the events older than `days` days (0: none), in batches of
/// 1,000; how many went.
pub async fn apply_retention(store: &Store, now: DateTime<Utc>, days: u32) -> DomainResult<u64> {
    if days == 0 {
        return Ok(0);
    }
    delete_before(store, now - Duration::days(i64::from(days)), 1000).await
}

/// Records `directory.sync_failed` in its own transaction, at most once a
/// minute per directory (across instances: a conditional upsert on
/// `event_throttle` decides). Returns whether it was recorded.
pub async fn sync_failed(
    store: &Store,
    org_id: Uuid,
    directory_id: Uuid,
    data: Json,
    origin: &Origin,
) -> DomainResult<bool> {
    let now = Utc::now();
    let tx = store.begin_write(origin).await?;
    let backend = tx.get_database_backend();
    let (k, at, cutoff) = match backend {
        DbBackend::Postgres => ("$1", "$2", "$3"),
        _ => ("?", "?", "?"),
    };
    let sql = format!(
        "INSERT INTO event_throttle (key, last_at) VALUES ({k}, {at}) \
         ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at \
         WHERE event_throttle.last_at < {cutoff} RETURNING key"
    );
    let key = format!("sync_failed:{directory_id}");
    let won = tx
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [key.into(), now.into(), (now - Duration::seconds(60)).into()],
        ))
        .await
        .map_err(db_error)?
        .is_some();
    if won {
        record(
            &tx,
            NewEvent::new(org_id, EventType::DirectorySyncFailed, data).directory(directory_id),
        )
        .await?;
        flush(&tx).await?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(won)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_parses_back_from_its_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("account.exploded"), None);
    }
}
