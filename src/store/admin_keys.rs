//! Admin API keys: one organization each, stored hashed like directory
//! tokens, shown once at creation.

use chrono::Utc;
use entity::admin_key;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::db_error;
use crate::domain::secrets;
use crate::error::ScimResult;

/// Who a valid admin key speaks for.
#[derive(Debug, Clone, Copy)]
pub struct AdminIdentity {
    pub key_id: Uuid,
    pub org_id: Uuid,
}

/// A new key for the organization; the clear value is returned once.
pub async fn create<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    label: Option<String>,
) -> ScimResult<(admin_key::Model, String)> {
    let key = secrets::new_token("scimadm");
    let model = admin_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(org_id),
        key_hash: Set(secrets::token_hash(&key)),
        hint: Set(secrets::token_hint(&key)),
        label: Set(label),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(db)
    .await
    .map_err(db_error)?;
    Ok((model, key))
}

/// Looks a presented key up by its hash; revoked keys are not found.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    key: &str,
) -> ScimResult<Option<AdminIdentity>> {
    let hash = secrets::token_hash(key);
    let Some(k) = admin_key::Entity::find()
        .filter(admin_key::Column::KeyHash.eq(hash.clone()))
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    if !secrets::constant_time_eq(&k.key_hash, &hash) || k.revoked_at.is_some() {
        return Ok(None);
    }
    Ok(Some(AdminIdentity {
        key_id: k.id,
        org_id: k.org_id,
    }))
}
