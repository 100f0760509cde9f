//! OAuth clients and signing keys (tables `oauth_clients`, `signing_keys`,
//! shared by every server instance on the database), and the check of an
//! access token against them. The cryptography is in `domain::oauth`.

use chrono::{DateTime, Utc};
use entity::{directory, oauth_client, signing_key};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::directories::{Credential, DirectoryPrincipal};
use super::{Store, db_error};
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::oauth::{self, ClientCredentials, SigningKey, TokenError};
use crate::domain::secrets;

/// A new client of the directory; the clear secret is returned once and
/// only its hash is kept.
pub async fn create_client<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
) -> DomainResult<(oauth_client::Model, String)> {
    let secret = oauth::new_client_secret();
    let model = oauth_client::ActiveModel {
        id: Set(Uuid::now_v7()),
        directory_id: Set(directory_id),
        client_id: Set(oauth::new_client_id()),
        secret_hash: Set(secrets::token_hash(&secret)),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        secret_version: Set(1),
    }
    .insert(db)
    .await
    .map_err(db_error)?;
    Ok((model, secret))
}

async fn client_of_directory<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    client_id: &str,
) -> DomainResult<oauth_client::Model> {
    oauth_client::Entity::find()
        .filter(oauth_client::Column::ClientId.eq(client_id))
        .filter(oauth_client::Column::DirectoryId.eq(directory_id))
        .one(db)
        .await
        .map_err(db_error)?
        .ok_or_else(|| {
            DomainError::not_found(format!(
                "no OAuth client {client_id} in directory {directory_id}"
            ))
        })
}

/// A new secret for an active client. The old secret stops working at
/// once, and so do the access tokens obtained with it (`secret_version`).
pub async fn rotate_client_secret<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    client_id: &str,
) -> DomainResult<(oauth_client::Model, String)> {
    let secret = oauth::new_client_secret();
    let res = oauth_client::Entity::update_many()
        .col_expr(
            oauth_client::Column::SecretHash,
            Expr::value(secrets::token_hash(&secret)),
        )
        .col_expr(
            oauth_client::Column::SecretVersion,
            Expr::col(oauth_client::Column::SecretVersion).add(1),
        )
        .filter(oauth_client::Column::ClientId.eq(client_id))
        .filter(oauth_client::Column::DirectoryId.eq(directory_id))
        .filter(oauth_client::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(db_error)?;
    if res.rows_affected == 0 {
        return Err(DomainError::not_found(format!(
            "no active OAuth client {client_id} in directory {directory_id}"
        )));
    }
    Ok((
        client_of_directory(db, directory_id, client_id).await?,
        secret,
    ))
}

/// Revokes a client: its secret and its access tokens stop working.
pub async fn revoke_client<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
    client_id: &str,
) -> DomainResult<()> {
    let res = oauth_client::Entity::update_many()
        .col_expr(oauth_client::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(oauth_client::Column::ClientId.eq(client_id))
        .filter(oauth_client::Column::DirectoryId.eq(directory_id))
        .filter(oauth_client::Column::RevokedAt.is_null())
        .exec(db)
        .await
        .map_err(db_error)?;
    if res.rows_affected == 0 {
        return Err(DomainError::not_found(format!(
            "no active OAuth client {client_id} in directory {directory_id}"
        )));
    }
    Ok(())
}

pub async fn list_clients<C: ConnectionTrait>(
    db: &C,
    directory_id: Uuid,
) -> DomainResult<Vec<oauth_client::Model>> {
    oauth_client::Entity::find()
        .filter(oauth_client::Column::DirectoryId.eq(directory_id))
        .order_by_asc(oauth_client::Column::CreatedAt)
        .all(db)
        .await
        .map_err(db_error)
}

/// An OAuth client its credentials authenticated: what a token issued to
/// it carries (read model: never its secret hash).
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub directory_id: Uuid,
    pub client_id: String,
    /// Bumped by each secret rotation; access tokens carry it (`ver`).
    pub secret_version: i32,
}

/// The active client these credentials authenticate, if any.
pub async fn authenticate_client<C: ConnectionTrait>(
    db: &C,
    creds: &ClientCredentials,
) -> DomainResult<Option<AuthenticatedClient>> {
    let hash = secrets::token_hash(&creds.client_secret);
    let Some(client) = oauth_client::Entity::find()
        .filter(oauth_client::Column::ClientId.eq(creds.client_id.as_str()))
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    if !secrets::constant_time_eq(&client.secret_hash, &hash) || client.revoked_at.is_some() {
        return Ok(None);
    }
    Ok(Some(AuthenticatedClient {
        directory_id: client.directory_id,
        client_id: client.client_id,
        secret_version: client.secret_version,
    }))
}

fn key_of(row: &signing_key::Model) -> Option<SigningKey> {
    let key = SigningKey::from_stored(&row.kid, &row.algorithm, &row.secret);
    if key.is_none() {
        tracing::warn!(kid = %row.kid, "signing key row is not a usable HS256 key");
    }
    key
}

async fn newest_key<C: ConnectionTrait>(db: &C) -> DomainResult<Option<SigningKey>> {
    let row = signing_key::Entity::find()
        .filter(signing_key::Column::RetiredAt.is_null())
        .filter(signing_key::Column::Algorithm.eq(oauth::ALGORITHM_NAME))
        .order_by_desc(signing_key::Column::CreatedAt)
        .order_by_desc(signing_key::Column::Kid)
        .one(db)
        .await
        .map_err(db_error)?;
    Ok(row.as_ref().and_then(key_of))
}

async fn insert_key<C: ConnectionTrait>(db: &C) -> DomainResult<SigningKey> {
    let key = SigningKey::generate();
    signing_key::ActiveModel {
        kid: Set(key.kid().to_owned()),
        algorithm: Set(oauth::ALGORITHM_NAME.to_owned()),
        secret: Set(key.stored_secret()),
        created_at: Set(Utc::now()),
        retired_at: Set(None),
    }
    .insert(db)
    .await
    .map_err(db_error)?;
    Ok(key)
}

/// The key new tokens are signed with: the newest one not retired,
/// generated on first need. Instances racing on an empty table may each
/// add one; both verify, and the newest signs from then on.
pub async fn current_signing_key(store: &Store) -> DomainResult<SigningKey> {
    if let Some(key) = newest_key(store.reader()).await? {
        return Ok(key);
    }
    // Check again holding the write lock (SQLite), so this instance makes
    // one key however many requests ask at once.
    let tx = store.begin().await?;
    let key = match newest_key(&tx).await? {
        Some(key) => key,
        None => insert_key(&tx).await?,
    };
    tx.commit().await.map_err(db_error)?;
    Ok(key)
}

/// A new current key. Older keys keep verifying until retired.
pub async fn rotate_signing_key<C: ConnectionTrait>(db: &C) -> DomainResult<SigningKey> {
    insert_key(db).await
}

/// Retires a key: tokens it signed stop verifying at once.
pub async fn retire_signing_key<C: ConnectionTrait>(db: &C, kid: &str) -> DomainResult<()> {
    let res = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::RetiredAt, Expr::value(Utc::now()))
        .filter(signing_key::Column::Kid.eq(kid))
        .filter(signing_key::Column::RetiredAt.is_null())
        .exec(db)
        .await
        .map_err(db_error)?;
    if res.rows_affected == 0 {
        return Err(DomainError::not_found(format!(
            "no signing key {kid:?} in use (unknown or already retired)"
        )));
    }
    Ok(())
}

/// Every key, newest first (for listings: never print `secret`).
pub async fn list_signing_keys<C: ConnectionTrait>(
    db: &C,
) -> DomainResult<Vec<signing_key::Model>> {
    signing_key::Entity::find()
        .order_by_desc(signing_key::Column::CreatedAt)
        .order_by_desc(signing_key::Column::Kid)
        .all(db)
        .await
        .map_err(db_error)
}

async fn verifying_key<C: ConnectionTrait>(db: &C, kid: &str) -> DomainResult<Option<SigningKey>> {
    let row = signing_key::Entity::find_by_id(kid.to_owned())
        .filter(signing_key::Column::RetiredAt.is_null())
        .one(db)
        .await
        .map_err(db_error)?;
    Ok(row.as_ref().and_then(key_of))
}

/// Checks an access token: a key in use signed it, it is unexpired and
/// ours (`iss`), its client is active with the same secret version, and
/// its audience is that client's directory. The outer error is the
/// database's; the inner one why the token is refused.
pub async fn authenticate_access_token<C: ConnectionTrait>(
    db: &C,
    token: &str,
    issuer: &str,
) -> DomainResult<Result<DirectoryPrincipal, TokenError>> {
    let kid = match oauth::header_kid(token) {
        Ok(kid) => kid,
        Err(e) => return Ok(Err(e)),
    };
    let Some(key) = verifying_key(db, &kid).await? else {
        return Ok(Err(TokenError::UnknownKey));
    };
    let claims = match oauth::verify(token, &key, issuer) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    // The client with its directory, in one statement (as a static
    // token's lookup): read on every request, so a revoked client or a
    // rotated secret stops its tokens at once on every instance.
    type Row = (Uuid, Uuid, Option<DateTime<Utc>>, i32, Uuid, bool);
    let row: Option<Row> = oauth_client::Entity::find()
        .select_only()
        .column(oauth_client::Column::Id)
        .column(oauth_client::Column::DirectoryId)
        .column(oauth_client::Column::RevokedAt)
        .column(oauth_client::Column::SecretVersion)
        .column(directory::Column::OrgId)
        .column(directory::Column::RejectUnverifiedDomains)
        .inner_join(directory::Entity)
        .filter(oauth_client::Column::ClientId.eq(claims.sub.as_str()))
        .into_tuple()
        .one(db)
        .await
        .map_err(db_error)?;
    let Some((client_id, directory_id, revoked_at, secret_version, org_id, reject)) = row else {
        return Ok(Err(TokenError::Client));
    };
    if revoked_at.is_some() || secret_version != claims.ver {
        return Ok(Err(TokenError::Client));
    }
    if claims.directory_id() != Some(directory_id) {
        return Ok(Err(TokenError::Audience));
    }
    Ok(Ok(DirectoryPrincipal {
        directory_id,
        org_id,
        reject_unverified_domains: reject,
        credential: Credential::OAuthClient(client_id),
    }))
}
