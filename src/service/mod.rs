//! Use cases: one function each (SCIM `create/replace/patch/delete` of
//! Users and Groups, `/Bulk`, import, an admin's account, site, group,
//! domain, directory, schema, webhook and admin-key actions, and the
//! operator CLI's writes), each
//! owning its transaction: prepare what
//! needs no lock (parse, hash passwords off the async runtime) → begin →
//! lock and load → ask `domain/` for the decision → write → record (sync
//! log, events) → commit. Handlers in `http/` extract, call one of these
//! and render; `store/` only queries and maps rows.
//!
//! Every write transaction begins and commits in [`write`], and every
//! savepoint in [`savepoint`]: nowhere else.
//!
//! Each use case has a span; a refusal is logged in it at debug only (its
//! detail may name a person; 5xx causes are logged where they are
//! rendered).

pub mod accounts;
mod batch;
pub mod bulk;
pub mod directories;
pub mod domains;
pub mod groups;
pub mod import;
pub mod keys;
pub mod oauth;
pub mod schemas;
pub mod sites;
pub mod users;
pub mod webhooks;

use serde_json::Value;
use tracing::instrument;
use uuid::Uuid;

use crate::domain::error::DomainError;
use crate::domain::etag::IfMatch;
use crate::domain::filter::Limits;
use crate::error::{ScimError, ScimResult};
use crate::store::audit::Actor;
use crate::store::directories::DirectoryPrincipal;
use crate::store::events::{self, Origin};
use crate::store::sync_log::{self, SyncEntry};
use crate::store::{Store, WriteTx, db_error};

/// The transaction a use case writes in (a savepoint of a `/Bulk` or
/// import batch, or a request's own).
pub type Tx = WriteTx;

/// Runs `f` in a write transaction: begin, `f` (its events stamped with
/// `origin`), number the events it recorded, commit. An error from `f`
/// rolls back everything `f` wrote. The one place a write transaction
/// begins and commits (SCIM and admin errors alike: `E`). On SQLite,
/// writes arriving together share one transaction and its commit, each in
/// a savepoint of its own ([`crate::store::group_commit`]); `f`'s output
/// is returned once the commit is durable either way.
pub async fn write<T, E: From<DomainError>>(
    store: &Store,
    origin: &Origin,
    f: impl AsyncFnOnce(&Tx) -> Result<T, E>,
) -> Result<T, E> {
    if let Some(group) = store.group_commit() {
        // SQLite: what `f` still holds (its sync-log entry, its events)
        // goes with the next request's first statement, or the commit.
        return group.run(store, origin, f).await;
    }
    let tx = store.begin_write(origin).await?;
    let out = f(&tx).await?;
    events::flush(&tx).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(out)
}

/// [`write`], with `f`'s turn on the store's writer thread
/// ([`Store::on_writer`]: on SQLite the thread kept with the writer
/// connection's on one CPU, so the turn's hand-overs stay on it). The SCIM
/// writes go this way; what comes before and after `f` (decoding, hashing,
/// the response) stays on the request's worker. `f` owns what it uses.
pub async fn write_on_writer<T, F>(store: &Store, origin: Origin, f: F) -> ScimResult<T>
where
    T: Send + 'static,
    F: AsyncFnOnce(&Tx) -> ScimResult<T> + Send + 'static,
{
    let on = store.clone();
    store
        .on_writer(move || async move { write(&on, &origin, f).await })
        .await
}

/// Runs `f` in a savepoint of `tx`: released when `f` succeeds, rolled
/// back when it fails (the error is handed on; `tx` goes on).
pub async fn savepoint<T>(tx: &Tx, f: impl AsyncFnOnce(&Tx) -> ScimResult<T>) -> ScimResult<T> {
    let sp = tx.savepoint().await.map_err(db_error)?;
    match f(&sp).await {
        Ok(out) => {
            sp.commit().await.map_err(db_error)?;
            Ok(out)
        }
        Err(e) => {
            sp.rollback().await.map_err(db_error)?;
            Err(e)
        }
    }
}

/// One SCIM write as the sync log and the events name it: the directory
/// writing, the operation (`PATCH /Users/{id}`), the resource type and the
/// request.
#[derive(Debug, Clone)]
pub struct ScimWrite {
    pub dir: DirectoryPrincipal,
    pub operation: String,
    pub resource_type: &'static str,
    pub request_id: Option<String>,
}

impl ScimWrite {
    pub fn entry(
        &self,
        resource_id: Option<String>,
        status: u16,
        detail: Option<String>,
    ) -> SyncEntry {
        SyncEntry {
            directory_id: self.dir.directory_id,
            operation: self.operation.clone(),
            resource_type: self.resource_type,
            resource_id,
            status,
            detail,
            request_id: self.request_id.clone(),
        }
    }

    /// Who the write's events name.
    pub fn origin(&self) -> Origin {
        Origin::new(
            Actor::Directory(self.dir.directory_id),
            self.request_id.clone(),
        )
    }

    /// Logs success in the write's transaction (`note`: say, what was
    /// ignored).
    pub async fn succeeded(
        &self,
        tx: &Tx,
        resource_id: Option<String>,
        status: u16,
        note: Option<String>,
    ) -> ScimResult<()> {
        Ok(sync_log::record(tx, self.entry(resource_id, status, note)).await?)
    }

    /// Logs the attributes a successful write dropped (no registered
    /// schema knows them) as warnings, in the write's transaction.
    pub async fn dropped(
        &self,
        tx: &Tx,
        resource_id: Option<String>,
        status: u16,
        dropped: &[String],
    ) -> ScimResult<()> {
        Ok(sync_log::record_ignored(tx, &self.entry(resource_id, status, None), dropped).await?)
    }

    /// Logs a failed write (its transaction is already rolled back) and,
    /// for the directory's own errors (4xx), a `directory.sync_failed`
    /// event; hands the error on.
    pub async fn failed(
        &self,
        store: &Store,
        resource_id: Option<String>,
        err: ScimError,
    ) -> ScimError {
        let entry = self.entry(resource_id.clone(), err.status(), Some(err.detail()));
        if let Err(e) = sync_log::record(store.writer(), entry).await {
            tracing::warn!(error = %e, "could not record a failed SCIM write in the sync log");
        }
        // Server-side trouble (5xx) is the operator's, not the directory's.
        if err.status() < 500 {
            let data = serde_json::json!({
                "operation": self.operation,
                "resource_type": self.resource_type,
                "resource_id": resource_id,
                "status": err.status(),
                "detail": err.detail(),
            });
            let recorded = events::sync_failed(
                store,
                self.dir.org_id,
                self.dir.directory_id,
                data,
                &self.origin(),
            )
            .await;
            if let Err(e) = recorded {
                tracing::warn!(error = %e, "could not record a directory.sync_failed event");
            }
        }
        err
    }
}

/// A SCIM resource type's writes (`POST /{Resources}`, `PUT`, `PATCH`,
/// `DELETE /{Resources}/{id}`), one use case each in its own [`write`]
/// transaction, answering with `Self`: the resource as written.
/// `users` implements it for `StoredUser`, `groups` for `ScimGroup`
/// (the `DELETE` of both is [`ScimResource::delete`] over their `delete_in`);
/// `http::writes` is the one handler set over it.
pub trait ScimResource: Sized {
    /// The resource type (`User`, `Group`) the sync log and the metrics
    /// name.
    const KIND: &'static str;

    fn create(store: &Store, w: &ScimWrite, body: &Value)
    -> impl Future<Output = ScimResult<Self>>;

    fn replace(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        body: &Value,
        if_match: Option<&IfMatch>,
    ) -> impl Future<Output = ScimResult<Self>>;

    /// `status`: what the PATCH answers (200, or a Group's 204 when the
    /// response shows no resource), for the sync log.
    fn patch(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        body: &Value,
        limits: Limits,
        if_match: Option<&IfMatch>,
        status: u16,
    ) -> impl Future<Output = ScimResult<Self>>;

    /// `DELETE /{Resources}/{id}` in the caller's transaction (`/Bulk`'s
    /// too).
    fn delete_in(
        tx: &Tx,
        dir: &DirectoryPrincipal,
        id: Uuid,
        if_match: Option<&IfMatch>,
    ) -> impl Future<Output = ScimResult<()>>;

    /// `DELETE /{Resources}/{id}`: [`Self::delete_in`] in its own
    /// transaction, logged as answered (204).
    #[instrument(skip_all, fields(kind = Self::KIND, directory = %w.dir.directory_id, id = id.raw), err(level = "debug"))]
    fn delete(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        if_match: Option<&IfMatch>,
    ) -> impl Future<Output = ScimResult<()>> {
        async move {
            let (w, if_match, uid, rid) = (w.clone(), if_match.cloned(), id.id, id.logged());
            write_on_writer(store, w.origin(), async move |tx| {
                Self::delete_in(tx, &w.dir, uid, if_match.as_ref()).await?;
                w.succeeded(tx, rid, 204, None).await
            })
            .await
        }
    }

    /// The version (the ETag) of the resource as written.
    fn version(&self) -> i64;
}

/// The SCIM resource id a request's path names (parsed once, by
/// `http::scim::ResourcePath`) with the text the client sent (the sync
/// log names it).
#[derive(Debug, Clone, Copy)]
pub struct PathId<'a> {
    pub raw: &'a str,
    pub id: Uuid,
}

impl PathId<'_> {
    /// The id as the sync log records it.
    pub fn logged(&self) -> Option<String> {
        Some(self.raw.to_owned())
    }
}
