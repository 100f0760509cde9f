//! Change events, a transactional outbox: a write records its events in
//! its own transaction ([`record`]), so a failed request leaves none and a
//! committed one has all of its own. Just before the commit, [`flush`]
//! numbers the transaction's events per organization: it bumps the
//! organization's row of `event_counters` (an upsert … RETURNING), whose
//! row lock then holds every other event-writing transaction of that
//! organization until this one commits. So sequence order is commit order,
//! also with several server instances on PostgreSQL, and a reader resuming
//! after sequence number N never misses an event committed later with a
//! smaller number. A transaction writing for several organizations locks
//! their counters in id order (no deadlock).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use entity::{account, event, site};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, NotSet, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement, Value,
};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::audit::Actor;
use super::{Store, db_error, insert_chunks};
use crate::error::ScimResult;

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

fn row(e: NewEvent, at: DateTime<Utc>) -> event::ActiveModel {
    event::ActiveModel {
        id: NotSet,
        org_id: Set(e.org_id),
        seq: Set(None),
        r#type: Set(e.kind.as_str().to_owned()),
        occurred_at: Set(at),
        directory_id: Set(e.directory_id),
        actor: Set(None),
        request_id: Set(None),
        data: Set(e.data.to_string()),
    }
}

/// Whether events are recorded (`SCIM_EVENTS_ENABLED`, read by the
/// binary at start). Process-wide on purpose: it exists to measure what
/// events cost (`cargo bench --bench events`), and the store's writers
/// get only a transaction, so the switch cannot ride on one. Tests and
/// library users never turn it off.
static RECORDING: AtomicBool = AtomicBool::new(true);

/// Turns recording on or off for the whole process (see [`RECORDING`]).
pub fn set_recording(on: bool) {
    RECORDING.store(on, Ordering::Relaxed);
}

fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Records an event in the caller's transaction (numbered by [`flush`]).
pub async fn record<C: ConnectionTrait>(tx: &C, e: NewEvent) -> ScimResult<()> {
    if !recording() {
        return Ok(());
    }
    event::Entity::insert(row(e, Utc::now()))
        .exec_without_returning(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Records events in order, in multi-row inserts.
pub async fn record_many<C: ConnectionTrait>(tx: &C, events: Vec<NewEvent>) -> ScimResult<()> {
    if !recording() {
        return Ok(());
    }
    let at = Utc::now();
    insert_chunks(tx, events.into_iter().map(|e| row(e, at))).await
}

/// Records an `account.*` event for the account's managing organization
/// (an account no organization manages has none): `data` gets the
/// account's id and email.
pub async fn for_account<C: ConnectionTrait>(
    tx: &C,
    account_id: Uuid,
    kind: EventType,
    data: Json,
) -> ScimResult<()> {
    if !recording() {
        return Ok(());
    }
    let row: Option<(Option<Uuid>, Option<String>)> = account::Entity::find_by_id(account_id)
        .select_only()
        .column(account::Column::ManagingOrgId)
        .column(account::Column::Email)
        .into_tuple()
        .one(tx)
        .await
        .map_err(db_error)?;
    let Some((Some(org_id), email)) = row else {
        return Ok(());
    };
    let mut body = json!({"account_id": account_id, "email": email});
    merge(&mut body, data);
    record(tx, NewEvent::new(org_id, kind, body)).await
}

/// Records a site membership or product access event for the site's
/// organization: `data` gets the site and account ids.
pub async fn for_site<C: ConnectionTrait>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
    kind: EventType,
    data: Json,
) -> ScimResult<()> {
    if !recording() {
        return Ok(());
    }
    let org: Option<Uuid> = site::Entity::find_by_id(site_id)
        .select_only()
        .column(site::Column::OrgId)
        .into_tuple()
        .one(tx)
        .await
        .map_err(db_error)?;
    let Some(org_id) = org else {
        return Ok(());
    };
    record(
        tx,
        NewEvent::new(org_id, kind, site_data(site_id, account_id, data)),
    )
    .await
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

/// Numbers the transaction's pending events (call it last, right before
/// the commit): one statement bumps the counters of every organization
/// with pending events (an upsert of `INSERT … SELECT … GROUP BY … ORDER
/// BY org_id`, so rows are locked in id order) and returns the new last
/// numbers; then one UPDATE per organization (nearly always one) numbers
/// its events in id order and stamps the actor and request id. A
/// transaction without events pays the one statement, which finds none.
pub async fn flush<C: ConnectionTrait>(tx: &C, origin: &Origin) -> ScimResult<()> {
    if !recording() {
        return Ok(());
    }
    let backend = tx.get_database_backend();
    // SQLite needs the WHERE before an upsert's ON CONFLICT (parsing).
    let sql = "INSERT INTO event_counters (org_id, last_seq) \
               SELECT org_id, COUNT(*) FROM events WHERE seq IS NULL \
               GROUP BY org_id ORDER BY org_id \
               ON CONFLICT (org_id) DO UPDATE \
               SET last_seq = event_counters.last_seq + excluded.last_seq \
               RETURNING org_id, last_seq";
    let bumped = tx
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .map_err(db_error)?;
    for row in bumped {
        let org_id: Uuid = row.try_get_by_index(0).map_err(db_error)?;
        let last: i64 = row.try_get_by_index(1).map_err(db_error)?;
        number(tx, org_id, last, origin).await?;
    }
    Ok(())
}

/// Gives the organization's pending events `last - n + 1 ..= last` in id
/// order (`n` of them).
async fn number<C: ConnectionTrait>(
    tx: &C,
    org_id: Uuid,
    last: i64,
    origin: &Origin,
) -> ScimResult<()> {
    let backend = tx.get_database_backend();
    let p: Vec<String> = (1..=5)
        .map(|i| match backend {
            DbBackend::Postgres => format!("${i}"),
            _ => "?".to_owned(),
        })
        .collect();
    let sql = format!(
        "UPDATE events SET seq = {} - r.n + r.rn, actor = {}, request_id = {}, \
         directory_id = COALESCE(events.directory_id, {}) \
         FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS rn, COUNT(*) OVER () AS n \
               FROM events WHERE org_id = {} AND seq IS NULL) AS r \
         WHERE events.id = r.id",
        p[0], p[1], p[2], p[3], p[4]
    );
    let values: Vec<Value> = vec![
        last.into(),
        origin.actor_label().into(),
        origin.request_id.clone().into(),
        origin.directory().into(),
        org_id.into(),
    ];
    tx.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .map_err(db_error)?;
    Ok(())
}

/// A page of the organization's feed: events after sequence number
/// `after`, oldest first, of the given types (none: all).
pub async fn page<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    after: Option<i64>,
    types: &[EventType],
    limit: u64,
) -> ScimResult<Vec<event::Model>> {
    let mut q = event::Entity::find()
        .filter(event::Column::OrgId.eq(org_id))
        .filter(event::Column::Seq.gt(after.unwrap_or(0)))
        .order_by_asc(event::Column::Seq)
        .limit(limit);
    if !types.is_empty() {
        q = q.filter(event::Column::Type.is_in(types.iter().map(|t| t.as_str())));
    }
    q.all(db).await.map_err(db_error)
}

/// An event as the feed and webhooks show it.
pub fn to_json(e: &event::Model) -> Json {
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

/// Retention: deletes events that occurred before `cutoff`, `batch` at a
/// time (each batch its own statement, so no long lock); how many went.
pub async fn delete_before(store: &Store, cutoff: DateTime<Utc>, batch: u64) -> ScimResult<u64> {
    let mut deleted = 0;
    loop {
        let ids: Vec<i64> = event::Entity::find()
            .select_only()
            .column(event::Column::Id)
            .filter(event::Column::OccurredAt.lt(cutoff))
            .order_by_asc(event::Column::OccurredAt)
            .limit(batch)
            .into_tuple()
            .all(store.writer())
            .await
            .map_err(db_error)?;
        if ids.is_empty() {
            return Ok(deleted);
        }
        let n = ids.len() as u64;
        let res = event::Entity::delete_many()
            .filter(event::Column::Id.is_in(ids))
            .exec(store.writer())
            .await
            .map_err(db_error)?;
        deleted += res.rows_affected;
        if n < batch {
            return Ok(deleted);
        }
    }
}

/// Deletes the events older than `days` days (0: none), in batches of
/// 1,000; how many went.
pub async fn apply_retention(store: &Store, now: DateTime<Utc>, days: u32) -> ScimResult<u64> {
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
) -> ScimResult<bool> {
    let now = Utc::now();
    let tx = store.begin().await?;
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
        flush(&tx, origin).await?;
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
