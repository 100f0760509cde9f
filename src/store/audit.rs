//! The organization's audit log: every admin write appends one entry in
//! its own transaction (who, what, on what, when).

use chrono::{DateTime, Utc};
use entity::audit_log::{self, ActorType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DerivePartialModel, EntityTrait, NotSet,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::db_error;
use crate::domain::error::DomainResult;

/// Who did it: an admin key, a directory (SCIM) or the server itself.
#[derive(Debug, Clone)]
pub enum Actor {
    AdminKey(Uuid),
    Directory(Uuid),
    System(&'static str),
}

impl Actor {
    pub(crate) fn parts(&self) -> (ActorType, String) {
        match self {
            Self::AdminKey(id) => (ActorType::AdminKey, id.to_string()),
            Self::Directory(id) => (ActorType::Directory, id.to_string()),
            Self::System(what) => (ActorType::System, (*what).to_owned()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub org_id: Uuid,
    pub actor: Actor,
    /// e.g. `account.deactivate`, `domain.add`.
    pub action: &'static str,
    /// e.g. `account`, `domain`, `site_membership`.
    pub target_type: &'static str,
    pub target_id: Option<String>,
    pub detail: Option<String>,
}

impl AuditEntry {
    pub fn new(
        org_id: Uuid,
        actor: Actor,
        action: &'static str,
        target_type: &'static str,
        target_id: impl ToString,
    ) -> Self {
        Self {
            org_id,
            actor,
            action,
            target_type,
            target_id: Some(target_id.to_string()),
            detail: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

pub async fn record<C: ConnectionTrait>(db: &C, entry: AuditEntry) -> DomainResult<()> {
    let (actor_type, actor_id) = entry.actor.parts();
    audit_log::ActiveModel {
        id: NotSet,
        org_id: Set(entry.org_id),
        at: Set(Utc::now()),
        actor_type: Set(actor_type),
        actor_id: Set(actor_id),
        action: Set(entry.action.to_owned()),
        target_type: Set(entry.target_type.to_owned()),
        target_id: Set(entry.target_id),
        detail: Set(entry.detail),
    }
    .insert(db)
    .await
    .map_err(db_error)?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub target_id: Option<String>,
}

/// An audit log entry as the admin API shows it (read model).
#[derive(Debug, Clone, DerivePartialModel)]
#[sea_orm(entity = "audit_log::Entity")]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_type: ActorType,
    pub actor_id: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub detail: Option<String>,
}

/// Newest first, keyset on the id (`before`: the last id of the previous
/// page).
pub async fn page<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: u64,
) -> DomainResult<Vec<AuditView>> {
    let mut q = audit_log::Entity::find()
        .filter(audit_log::Column::OrgId.eq(org_id))
        .order_by_desc(audit_log::Column::Id)
        .limit(limit);
    if let Some(a) = &filter.action {
        q = q.filter(audit_log::Column::Action.eq(a.as_str()));
    }
    if let Some(t) = &filter.target_id {
        q = q.filter(audit_log::Column::TargetId.eq(t.as_str()));
    }
    if let Some(b) = before {
        q = q.filter(audit_log::Column::Id.lt(b));
    }
    q.into_partial_model::<AuditView>()
        .all(db)
        .await
        .map_err(db_error)
}
