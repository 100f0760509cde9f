//! The directory's sync log: one entry per SCIM write, success or failure.

use chrono::Utc;
use entity::sync_log;
use sea_orm::{ActiveModelTrait, ConnectionTrait, NotSet, Set};
use uuid::Uuid;

use super::db_error;
use crate::error::ScimResult;

#[derive(Debug, Clone)]
pub struct SyncEntry {
    pub directory_id: Uuid,
    /// e.g. `POST /Users`, `PATCH /Groups`.
    pub operation: String,
    pub resource_type: &'static str,
    pub resource_id: Option<String>,
    pub status: u16,
    /// The error detail the client got, for failures.
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

pub async fn record<C: ConnectionTrait>(db: &C, entry: SyncEntry) -> ScimResult<()> {
    let outcome = if entry.status < 400 {
        "success"
    } else {
        "failure"
    };
    sync_log::ActiveModel {
        id: NotSet,
        directory_id: Set(entry.directory_id),
        at: Set(Utc::now()),
        operation: Set(entry.operation),
        resource_type: Set(entry.resource_type.to_owned()),
        resource_id: Set(entry.resource_id),
        outcome: Set(outcome.to_owned()),
        status: Set(i32::from(entry.status)),
        detail: Set(entry.detail),
        request_id: Set(entry.request_id),
    }
    .insert(db)
    .await
    .map_err(db_error)?;
    Ok(())
}
