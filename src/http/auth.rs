//! The SCIM principal: the directory a bearer token belongs to. The token
//! is either a static directory token or an OAuth access token (a JWT from
//! `/oauth/token`). A valid token of another directory gets 404, never that
//! directory's data. The per-directory rate limit is counted here, once
//! the directory is known.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev, web};
use uuid::Uuid;

use crate::domain::{oauth, secrets};
use crate::error::ScimError;
use crate::http::AppState;
use crate::store::directories::{self, DirectoryPrincipal};
use crate::store::oauth as oauth_store;

pub struct Directory(pub DirectoryPrincipal);

impl std::ops::Deref for Directory {
    type Target = DirectoryPrincipal;
    fn deref(&self) -> &DirectoryPrincipal {
        &self.0
    }
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// The directory `token` speaks for, or why it is refused.
async fn authenticate(state: &AppState, token: &str) -> Result<DirectoryPrincipal, ScimError> {
    // Its own pool: never queued behind the read pool's query work.
    let db = state.store.auth();
    // Static tokens first: their lookup is one indexed read, and a
    // bootstrap token may be any string, even one shaped like a JWT.
    if let Some(principal) = directories::authenticate(db, token).await? {
        return Ok(principal);
    }
    authenticate_other(state, token).await
}

/// The directory `token` speaks for when it is not a valid static token
/// (an OAuth access token), or why it is refused.
async fn authenticate_other(
    state: &AppState,
    token: &str,
) -> Result<DirectoryPrincipal, ScimError> {
    if !oauth::looks_like_jwt(token) {
        return Err(ScimError::InvalidToken(
            "the bearer token is not valid".into(),
        ));
    }
    let issuer = state.settings.oauth_issuer();
    oauth_store::authenticate_access_token(state.store.auth(), token, &issuer)
        .await?
        .map_err(|e| ScimError::InvalidToken(e.to_string()))
}

/// Admits `principal` to the directory the path names (`wanted`): another
/// directory's token gets 404; then the directory's rate limit.
fn admit(
    state: &AppState,
    wanted: Option<&str>,
    principal: DirectoryPrincipal,
) -> Result<Directory, ScimError> {
    let same = wanted
        .and_then(|w| Uuid::parse_str(w).ok())
        .is_some_and(|w| w == principal.directory_id);
    if !same {
        return Err(ScimError::not_found("no such directory"));
    }
    if let Some(limiter) = &state.rate_limiter {
        limiter
            .check(principal.directory_id)
            .map_err(|retry_after_secs| ScimError::TooManyRequests { retry_after_secs })?;
    }
    Ok(Directory(principal))
}

fn missing_token() -> ScimError {
    ScimError::Unauthorized("a bearer token is required (Authorization: Bearer <token>)".into())
}

impl FromRequest for Directory {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let wanted = req.match_info().get("directory_id").map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ScimError::internal("no app state"))?;
            let token = token.ok_or_else(missing_token)?;
            let principal = authenticate(&state, &token).await?;
            Ok(admit(&state, wanted.as_deref(), principal)?)
        })
    }
}

/// A request's bearer token, not yet checked: for a handler that checks
/// it in the statement that reads what the request asks for (a GET by id:
/// one statement instead of two), then [`Bearer::admit`]s the principal
/// that statement found, exactly as [`Directory`] would.
pub struct Bearer {
    token: String,
    wanted: Option<String>,
}

impl Bearer {
    /// The token's hash, as static tokens are looked up.
    pub fn token_hash(&self) -> String {
        secrets::token_hash(&self.token)
    }

    /// The request's directory: `found` (the static token the caller's
    /// statement found valid) or, none found, the token's other
    /// credentials; the same refusals as [`Directory`].
    pub async fn admit(
        &self,
        state: &AppState,
        found: Option<DirectoryPrincipal>,
    ) -> Result<Directory, ScimError> {
        let principal = match found {
            Some(p) => p,
            None => authenticate_other(state, &self.token).await?,
        };
        admit(state, self.wanted.as_deref(), principal)
    }

    /// The request's directory, the token checked on its own.
    pub async fn directory(&self, state: &AppState) -> Result<Directory, ScimError> {
        let principal = authenticate(state, &self.token).await?;
        admit(state, self.wanted.as_deref(), principal)
    }
}

impl FromRequest for Bearer {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        let wanted = req.match_info().get("directory_id").map(str::to_owned);
        std::future::ready(
            bearer(req)
                .map(|token| Bearer { token, wanted })
                .ok_or_else(|| missing_token().into()),
        )
    }
}
