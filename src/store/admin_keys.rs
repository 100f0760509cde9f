//! Admin API keys: one organization each, stored hashed like directory
//! tokens, shown once at creation.

use chrono::{DateTime, Utc};
use entity::admin_key;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use super::db_error;
use crate::domain::error::DomainResult;
use crate::domain::secrets;

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
) -> DomainResult<(admin_key::Model, String)> {
    create_expiring(db, org_id, label, None).await
}

/// [`create`] with an expiry: after `expires_at` the key is refused.
pub async fn create_expiring<C: ConnectionTrait>(
    db: &C,
    org_id: Uuid,
    label: Option<String>,
    expires_at: Option<DateTime<Utc>>,
) -> DomainResult<(admin_key::Model, String)> {
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
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await
    .map_err(db_error)?;
    Ok((model, key))
}

/// Looks a presented key up by its hash; revoked and expired keys are not
/// found.
pub async fn authenticate<C: ConnectionTrait>(
    db: &C,
    key: &str,
) -> DomainResult<Option<AdminIdentity>> {
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
    if k.expires_at.is_some_and(|e| e <= Utc::now()) {
        return Ok(None);
    }
    Ok(Some(AdminIdentity {
        key_id: k.id,
        org_id: k.org_id,
    }))
}

/// An admin key as listings show it (read model: never the hash).
#[derive(Debug, Clone)]
pub struct AdminKeyView {
    pub id: Uuid,
    pub hint: String,
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl AdminKeyView {
    /// The key as the admin API and the CLI list it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "hint": self.hint,
            "label": self.label,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
            "expired": self.expires_at.is_some_and(|e| e <= Utc::now()),
            "revoked_at": self.revoked_at,
        })
    }
}

impl From<admin_key::Model> for AdminKeyView {
    fn from(k: admin_key::Model) -> Self {
        Self {
            id: k.id,
            hint: k.hint,
            label: k.label,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// The organization's keys, oldest first (hints, never values).
pub async fn list<C: ConnectionTrait>(db: &C, org_id: Uuid) -> DomainResult<Vec<AdminKeyView>> {
    let rows = admin_key::Entity::find()
        .filter(admin_key::Column::OrgId.eq(org_id))
        .order_by_asc(admin_key::Column::CreatedAt)
        .order_by_asc(admin_key::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    Ok(rows.into_iter().map(AdminKeyView::from).collect())
}

/// Revokes a key of the organization: refused from the next request on,
/// and the web-page sessions it opened end with it. False when the
/// organization has no such key not yet revoked.
pub async fn revoke<C: ConnectionTrait>(db: &C, org_id: Uuid, key_id: Uuid) -> DomainResult<bool> {
    let res = admin_key::Entity::update_many()
        .col_expr(admin_key::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(admin_key::Column::Id.eq(key_id))
        .filter(admin_key::Column::OrgId.eq(org_id))
        .filter(admin_key::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(db_error)?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    super::admin_sessions::end_for_key(db, key_id).await?;
    Ok(true)
}
