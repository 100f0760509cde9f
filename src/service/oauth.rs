//! The operator's OAuth 2.0 credentials: a directory's clients (create,
//! rotate the secret, revoke) and the keys that sign access tokens
//! (rotate, retire). Each in its own write transaction.

use entity::oauth_client;
use tracing::instrument;
use uuid::Uuid;

use super::write;
use crate::admin_error::AdminResult;
use crate::domain::oauth::SigningKey;
use crate::store::events::Origin;
use crate::store::{Store, directories, oauth};

/// A new client of the directory; its secret is returned this once.
#[instrument(skip_all, fields(directory = %directory_id), err(level = "debug"))]
pub async fn create_client(
    store: &Store,
    origin: &Origin,
    directory_id: Uuid,
) -> AdminResult<(oauth_client::Model, String)> {
    write(store, origin, async |tx| {
        directories::directory_by_id(tx, directory_id).await?;
        Ok(oauth::create_client(tx, directory_id).await?)
    })
    .await
}

/// A new secret for the client; the old one and its tokens stop working.
#[instrument(skip_all, fields(directory = %directory_id), err(level = "debug"))]
pub async fn rotate_client_secret(
    store: &Store,
    origin: &Origin,
    directory_id: Uuid,
    client_id: &str,
) -> AdminResult<(oauth_client::Model, String)> {
    write(store, origin, async |tx| {
        Ok(oauth::rotate_client_secret(tx, directory_id, client_id).await?)
    })
    .await
}

/// Revokes the client: its secret and access tokens stop working.
#[instrument(skip_all, fields(directory = %directory_id), err(level = "debug"))]
pub async fn revoke_client(
    store: &Store,
    origin: &Origin,
    directory_id: Uuid,
    client_id: &str,
) -> AdminResult<()> {
    write(store, origin, async |tx| {
        Ok(oauth::revoke_client(tx, directory_id, client_id).await?)
    })
    .await
}

/// A new current signing key.
#[instrument(skip_all, err(level = "debug"))]
pub async fn rotate_signing_key(store: &Store, origin: &Origin) -> AdminResult<SigningKey> {
    write(store, origin, async |tx| {
        Ok(oauth::rotate_signing_key(tx).await?)
    })
    .await
}

/// Retires a signing key: the tokens it signed stop verifying.
#[instrument(skip_all, fields(kid = kid), err(level = "debug"))]
pub async fn retire_signing_key(store: &Store, origin: &Origin, kid: &str) -> AdminResult<()> {
    write(store, origin, async |tx| {
        Ok(oauth::retire_signing_key(tx, kid).await?)
    })
    .await
}
