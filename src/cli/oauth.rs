//! `oauth-client` and `signing-key`: a directory's OAuth 2.0 clients and
//! the keys that sign access tokens.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CliError, DirectoryArg, origin, scim_base_url, token_url};
use crate::config::Settings;
use crate::service;
use crate::store::{Store, directories, oauth};

#[derive(Debug, Subcommand)]
pub enum OauthClientCmd {
    /// Create a client; prints its client_id and client_secret (the secret
    /// is shown once) and the token endpoint.
    ///
    /// Example: scim-server oauth-client create --directory 0190...
    Create(DirectoryArg),
    /// Issue a new secret; the old one and the access tokens obtained with
    /// it stop working at once.
    ///
    /// Example: scim-server oauth-client rotate --directory 0190... --client-id scimc_...
    Rotate {
        #[command(flatten)]
        dir: DirectoryArg,
        #[arg(long)]
        client_id: String,
    },
    /// Revoke a client: its secret and access tokens stop working.
    ///
    /// Example: scim-server oauth-client revoke --directory 0190... --client-id scimc_...
    Revoke {
        #[command(flatten)]
        dir: DirectoryArg,
        #[arg(long)]
        client_id: String,
    },
    /// List the directory's clients (never their secrets).
    List(DirectoryArg),
}

#[derive(Debug, Subcommand)]
pub enum SigningKeyCmd {
    /// Add a new key and sign new tokens with it; older keys keep
    /// verifying the tokens they signed until retired.
    ///
    /// Example: scim-server signing-key rotate
    Rotate,
    /// Retire a key: the tokens it signed stop working at once.
    ///
    /// Example: scim-server signing-key retire --kid 0193...
    Retire {
        #[arg(long)]
        kid: String,
    },
    /// List keys (kid, age, retired or not; never the secret).
    List,
}

pub(super) async fn client(
    settings: &Settings,
    store: &Store,
    cmd: OauthClientCmd,
) -> Result<Value, CliError> {
    let db = store.reader();
    Ok(match cmd {
        OauthClientCmd::Create(d) => {
            let (c, secret) = service::oauth::create_client(store, &origin(), d.directory).await?;
            json!({
                "directory_id": c.directory_id,
                "client_id": c.client_id,
                "client_secret": secret,
                "token_url": token_url(settings),
                "scim_base_url": scim_base_url(settings, c.directory_id),
            })
        }
        OauthClientCmd::Rotate { dir, client_id } => {
            let (c, secret) =
                service::oauth::rotate_client_secret(store, &origin(), dir.directory, &client_id)
                    .await?;
            json!({
                "directory_id": c.directory_id,
                "client_id": c.client_id,
                "client_secret": secret,
                "secret_version": c.secret_version,
            })
        }
        OauthClientCmd::Revoke { dir, client_id } => {
            service::oauth::revoke_client(store, &origin(), dir.directory, &client_id).await?;
            json!({"client_id": client_id, "revoked": true})
        }
        OauthClientCmd::List(d) => {
            directories::directory_by_id(db, d.directory).await?;
            let list: Vec<_> = oauth::list_clients(db, d.directory)
                .await?
                .into_iter()
                .map(|c| {
                    json!({
                        "client_id": c.client_id,
                        "created_at": c.created_at,
                        "revoked_at": c.revoked_at,
                        "secret_version": c.secret_version,
                    })
                })
                .collect();
            json!(list)
        }
    })
}

pub(super) async fn signing_key(store: &Store, cmd: SigningKeyCmd) -> Result<Value, CliError> {
    Ok(match cmd {
        SigningKeyCmd::Rotate => {
            let key = service::oauth::rotate_signing_key(store, &origin()).await?;
            json!({"kid": key.kid(), "current": true})
        }
        SigningKeyCmd::Retire { kid } => {
            service::oauth::retire_signing_key(store, &origin(), &kid).await?;
            json!({"kid": kid, "retired": true})
        }
        SigningKeyCmd::List => {
            let keys = oauth::list_signing_keys(store.reader()).await?;
            let current = keys
                .iter()
                .find(|k| k.retired_at.is_none())
                .map(|k| k.kid.clone());
            let list: Vec<_> = keys
                .into_iter()
                .map(|k| {
                    json!({
                        "kid": k.kid,
                        "algorithm": k.algorithm,
                        "created_at": k.created_at,
                        "retired_at": k.retired_at,
                        "current": current.as_deref() == Some(k.kid.as_str()),
                    })
                })
                .collect();
            json!(list)
        }
    })
}
