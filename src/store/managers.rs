//! The enterprise `manager` of Users as responses show it: the manager's
//! `displayName` when the manager is a User of the same directory.

use std::collections::HashMap;

use entity::scim_user;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::db_error;
use super::users::StoredUser;
use crate::domain::error::DomainResult;

/// Manager id (as stored) → the manager's `displayName`, for the managers
/// of `users` that are Users of `directory_id`. One query per page.
pub type ManagerNames = HashMap<Uuid, Option<String>>;

pub async fn names<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    users: &[&StoredUser],
) -> DomainResult<ManagerNames> {
    let mut ids: Vec<Uuid> = users
        .iter()
        .filter_map(|u| u.attrs.enterprise.manager.as_deref())
        .filter_map(|m| Uuid::parse_str(m).ok())
        .collect();
    if ids.is_empty() {
        return Ok(ManagerNames::new());
    }
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<(Uuid, Option<String>)> = scim_user::Entity::find()
        .select_only()
        .column(scim_user::Column::Id)
        .column(scim_user::Column::DisplayName)
        .filter(scim_user::Column::DirectoryId.eq(directory_id))
        .filter(scim_user::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().collect())
}
