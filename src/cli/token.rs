//! `token`: a directory's SCIM bearer tokens.

use clap::Subcommand;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{CliError, DirectoryArg, for_directory};
use crate::domain::lifetime::Lifetime;
use crate::service;
use crate::store::{Store, directories};

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a new token; it is shown once.
    ///
    /// Example: scim-server token create --directory 0190... --expires-in 90d
    Create {
        #[command(flatten)]
        dir: DirectoryArg,
        /// Lifetime (e.g. 90d, 12h); 401 invalid_token after it. Default:
        /// no expiry.
        #[arg(long, value_parser = Lifetime::parse)]
        expires_in: Option<Lifetime>,
    },
    /// Revoke a token (effective on the next request).
    ///
    /// Example: scim-server token revoke --directory 0190... --id 0191...
    Revoke {
        #[command(flatten)]
        dir: DirectoryArg,
        /// Token id (from `token list`).
        #[arg(long)]
        id: Uuid,
    },
    /// List tokens (ids and hints, never values).
    List(DirectoryArg),
}

/// A credential's expiry as listings show it.
fn expiry(expires_at: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    json!({
        "expires_at": expires_at,
        "expired": expires_at.is_some_and(|e| e <= chrono::Utc::now()),
    })
}

fn with_expiry(mut v: Value, expires_at: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    if let (Value::Object(o), Value::Object(e)) = (&mut v, expiry(expires_at)) {
        o.extend(e);
    }
    v
}

pub(super) async fn run(store: &Store, cmd: TokenCmd) -> Result<Value, CliError> {
    Ok(match cmd {
        TokenCmd::Create { dir, expires_in } => {
            let who = for_directory(store, dir.directory).await?;
            let expires_at = expires_in.map(|l| l.expires_at(chrono::Utc::now()));
            let t =
                service::directories::create_token(store, &who, dir.directory, expires_at).await?;
            json!({"id": t.id, "directory_id": dir.directory, "token": t.token, "expires_at": t.expires_at})
        }
        TokenCmd::Revoke { dir, id } => {
            let who = for_directory(store, dir.directory).await?;
            service::directories::revoke_token(store, &who, dir.directory, id).await?;
            json!({"id": id, "revoked": true})
        }
        TokenCmd::List(d) => {
            let db = store.reader();
            directories::directory_by_id(db, d.directory).await?;
            let list: Vec<_> = directories::list_tokens(db, d.directory)
                .await?
                .into_iter()
                .map(|t| {
                    with_expiry(
                        json!({
                            "id": t.id,
                            "hint": t.hint,
                            "created_at": t.created_at,
                            "revoked_at": t.revoked_at,
                        }),
                        t.expires_at,
                    )
                })
                .collect();
            json!(list)
        }
    })
}
