//! Sync status of the organization's directories: last sync, what they
//! provision, recent failures, and the sync log itself.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use entity::sync_log;
pub use entity::sync_log::SyncOutcome;
use entity::{directory, group, scim_user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DerivePartialModel, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use uuid::Uuid;

use super::db_error;
use super::directories::{DirectoryView, last_sync, last_sync_columns, latest_of};
use crate::domain::error::{DomainError, DomainResult};

/// The organization's directories, by name.
pub async fn directories_of<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> DomainResult<Vec<DirectoryView>> {
    let rows = directory::Entity::find()
        .filter(directory::Column::OrgId.eq(org_id))
        .order_by_asc(directory::Column::Name)
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(DirectoryView::from).collect())
}

/// Each directory of the organization with its sync status: what the
/// admin API's directory list and the web page's both show.
pub async fn overview<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> DomainResult<Vec<(DirectoryView, Status)>> {
    let dirs = directories_of(db, org_id).await?;
    let mut statuses = statuses_of_org(db, org_id).await?;
    Ok(dirs
        .into_iter()
        .map(|d| {
            let s = statuses.remove(&d.id).unwrap_or_default();
            (d, s)
        })
        .collect())
}

/// The [`Status`] of every directory of `org_id` in one statement,
/// whatever their number: a row a directory, each figure an index-backed
/// scalar subquery (what [`status`] asks in five; the last sync is three,
/// [`last_sync_columns`]).
async fn statuses_of_org<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
) -> DomainResult<HashMap<Uuid, Status>> {
    let backend = db.get_database_backend();
    let (org, since) = match backend {
        DatabaseBackend::Postgres => ("$1", "$2"),
        _ => ("?1", "?2"),
    };
    let sql = format!(
        "SELECT d.id, \
         (SELECT COUNT(*) FROM scim_users u WHERE u.directory_id = d.id), \
         (SELECT COUNT(*) FROM groups g WHERE g.directory_id = d.id), \
         (SELECT COUNT(*) FROM sync_log l WHERE l.directory_id = d.id \
            AND l.outcome = 'failure' AND l.at >= {since}), \
         (SELECT COUNT(*) FROM sync_log l WHERE l.directory_id = d.id \
            AND l.outcome = 'warning' AND l.at >= {since}), \
         {last} \
         FROM directories d WHERE d.org_id = {org}",
        last = last_sync_columns("d.id"),
    );
    let since = Utc::now() - Duration::hours(24);
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [org_id.into(), since.into()],
        ))
        .await
        .map_err(db_error)?;
    let count = |r: &sea_orm::QueryResult, i: usize| -> DomainResult<u64> {
        let n = r.try_get_by_index::<i64>(i).map_err(db_error)?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let id = r.try_get_by_index::<Uuid>(0).map_err(db_error)?;
        let status = Status {
            users: count(r, 1)?,
            groups: count(r, 2)?,
            failed_last_24h: count(r, 3)?,
            warnings_last_24h: count(r, 4)?,
            last_sync: latest_of(r, 5)?,
        };
        out.insert(id, status);
    }
    Ok(out)
}

/// A directory of the organization as shown (404 when it has none by `id`).
pub async fn directory_view<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    id: Uuid,
) -> DomainResult<DirectoryView> {
    directory_of(db, org_id, id).await.map(DirectoryView::from)
}

pub async fn directory_of<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    id: Uuid,
) -> DomainResult<directory::Model> {
    directory::Entity::find_by_id(id)
        .filter(directory::Column::OrgId.eq(org_id))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| DomainError::not_found(format!("no directory {id} in this organization")))
}

#[derive(Debug, Default)]
pub struct Status {
    pub last_sync: Option<chrono::DateTime<Utc>>,
    pub users: u64,
    pub groups: u64,
    pub failed_last_24h: u64,
    /// Attributes dropped in the last 24 h (no registered schema knew them).
    pub warnings_last_24h: u64,
}

/// Five index-backed queries per directory.
pub async fn status<C: ConnectionTrait>(db: &C, directory_id: Uuid) -> DomainResult<Status> {
    let users = scim_user::Entity::find()
        .filter(scim_user::Column::DirectoryId.eq(directory_id))
        .count(db)
        .await
        .map_err(db_error)?;
    let groups = group::Entity::find()
        .filter(group::Column::DirectoryId.eq(directory_id))
        .count(db)
        .await
        .map_err(db_error)?;
    let failed_last_24h = sync_log::Entity::find()
        .filter(sync_log::Column::DirectoryId.eq(directory_id))
        .filter(sync_log::Column::Outcome.eq("failure"))
        .filter(sync_log::Column::At.gte(Utc::now() - Duration::hours(24)))
        .count(db)
        .await
        .map_err(db_error)?;
    let warnings_last_24h = sync_log::Entity::find()
        .filter(sync_log::Column::DirectoryId.eq(directory_id))
        .filter(sync_log::Column::Outcome.eq("warning"))
        .filter(sync_log::Column::At.gte(Utc::now() - Duration::hours(24)))
        .count(db)
        .await
        .map_err(db_error)?;
    Ok(Status {
        last_sync: last_sync(db, directory_id).await?,
        warnings_last_24h,
        users,
        groups,
        failed_last_24h,
    })
}

#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    /// success / failure / warning.
    pub outcome: Option<SyncOutcome>,
    /// e.g. `POST /Users`.
    pub operation: Option<String>,
    /// User / Group / Bulk.
    pub resource_type: Option<String>,
}

/// A sync log entry as the admin API and the web page show it (read
/// model).
#[derive(Debug, Clone, DerivePartialModel)]
#[sea_orm(entity = "sync_log::Entity")]
pub struct SyncLogView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub operation: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: SyncOutcome,
    pub status: i32,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

/// Newest first, keyset on the id (`before`: last id of the previous page).
pub async fn log_page<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    f: &LogFilter,
    before: Option<i64>,
    limit: u64,
) -> DomainResult<Vec<SyncLogView>> {
    let mut q = sync_log::Entity::find()
        .filter(sync_log::Column::DirectoryId.eq(directory_id))
        .order_by_desc(sync_log::Column::Id)
        .limit(limit);
    if let Some(o) = &f.outcome {
        q = q.filter(sync_log::Column::Outcome.eq(*o));
    }
    if let Some(o) = &f.operation {
        q = q.filter(sync_log::Column::Operation.eq(o.as_str()));
    }
    if let Some(r) = &f.resource_type {
        q = q.filter(sync_log::Column::ResourceType.eq(r.as_str()));
    }
    if let Some(b) = before {
        q = q.filter(sync_log::Column::Id.lt(b));
    }
    q.into_partial_model::<SyncLogView>()
        .all(db)
        .await
        .map_err(db_error)
}
