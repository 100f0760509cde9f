//! The organization's groups as admins see them: synced ones (read-only
//! here) and admin-made ones (`directory_id` NULL), which admins create
//! and whose members they manage. Membership changes reuse
//! `store::groups`, so access follows exactly as for synced groups.

use chrono::Utc;
use entity::{directory, group};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::events::{self, EventType, Recorder};
use super::{db_error, is_unique_violation};
use crate::domain::error::{DomainError, DomainResult};

/// A group as the admin API shows it (read model).
#[derive(Debug, Clone)]
pub struct GroupView {
    pub id: Uuid,
    pub display_name: String,
    pub description: Option<String>,
    /// The directory that syncs it (`None`: admin-made).
    pub directory_id: Option<Uuid>,
    pub created_at: chrono::DateTime<Utc>,
}

impl From<group::Model> for GroupView {
    fn from(g: group::Model) -> Self {
        Self {
            id: g.id,
            display_name: g.display_name,
            description: g.description,
            directory_id: g.directory_id,
            created_at: g.created_at,
        }
    }
}

/// A group and the name of the directory that syncs it (if any).
pub type GroupRow = (GroupView, Option<String>);

/// A page of the org's groups in id order after `after`.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> DomainResult<Vec<GroupRow>> {
    let mut q = group::Entity::find()
        .filter(group::Column::OrgId.eq(org_id))
        .order_by_asc(group::Column::Id)
        .limit(limit);
    if let Some(a) = after {
        q = q.filter(group::Column::Id.gt(a));
    }
    let groups = q.all(db).await.map_err(db_error)?;
    let dirs: Vec<Uuid> = groups.iter().filter_map(|g| g.directory_id).collect();
    let names: Vec<(Uuid, String)> = if dirs.is_empty() {
        vec![]
    } else {
        directory::Entity::find()
            .select_only()
            .column(directory::Column::Id)
            .column(directory::Column::Name)
            .filter(directory::Column::Id.is_in(dirs))
            .into_tuple()
            .all(db)
            .await
            .map_err(db_error)?
    };
    Ok(groups
        .into_iter()
        .map(|g| {
            let dir = g.directory_id.and_then(|d| {
                names
                    .iter()
                    .find(|(id, _)| *id == d)
                    .map(|(_, n)| n.clone())
            });
            (g.into(), dir)
        })
        .collect())
}

/// The org's group `id` with its syncing directory's name, else 404.
pub async fn get<C: ConnectionTrait>(db: &C, org_id: Uuid, id: Uuid) -> DomainResult<GroupRow> {
    let g = group::Entity::find_by_id(id)
        .filter(group::Column::OrgId.eq(org_id))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| DomainError::not_found(format!("no group {id} in this organization")))?;
    let dir = match g.directory_id {
        None => None,
        Some(d) => directory::Entity::find_by_id(d)
            .one(db)
            .await
            .map_err(db_error)?
            .map(|d| d.name),
    };
    Ok((g.into(), dir))
}

/// An admin-made group; its name is unique (case-insensitive) among the
/// org's groups, synced ones included.
pub async fn create<C: Recorder>(
    tx: &C,
    org_id: Uuid,
    name: &str,
    description: Option<String>,
) -> DomainResult<group::Model> {
    let taken = || {
        DomainError::taken(format!(
            "a group named {name:?} already exists in this organization"
        ))
    };
    let exists = group::Entity::find()
        .select_only()
        .column(group::Column::Id)
        .filter(group::Column::OrgId.eq(org_id))
        .filter(group::Column::DisplayNameLower.eq(name.to_lowercase()))
        .into_tuple::<Uuid>()
        .one(tx)
        .await
        .map_err(db_error)?;
    if exists.is_some() {
        return Err(taken());
    }
    let now = Utc::now();
    let g = group::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org_id),
        directory_id: Set(None),
        display_name: Set(name.to_owned()),
        display_name_lower: Set(name.to_lowercase()),
        external_id: Set(None),
        description: Set(description),
        version: Set(1),
        created_at: Set(now),
        last_modified: Set(now),
    }
    .insert(tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            taken()
        } else {
            db_error(e)
        }
    })?;
    events::record(tx, super::groups::group_event(&g, EventType::GroupCreated)).await?;
    Ok(g)
}
