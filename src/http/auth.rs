//! The SCIM principal: the directory a bearer token belongs to. A token of
//! another directory gets 404, never that directory's data.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev, web};
use uuid::Uuid;

use crate::error::ScimError;
use crate::startup::AppState;
use crate::store::directories::{self, DirectoryPrincipal};

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

impl FromRequest for Directory {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let wanted = req.match_info().get("directory_id").map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| ScimError::internal("no app state"))?;
            let token = token.ok_or_else(|| {
                ScimError::Unauthorized(
                    "a bearer token is required (Authorization: Bearer <token>)".into(),
                )
            })?;
            let principal = directories::authenticate(state.store.reader(), &token)
                .await?
                .ok_or_else(|| ScimError::Unauthorized("the bearer token is not valid".into()))?;
            let same = wanted
                .as_deref()
                .and_then(|w| Uuid::parse_str(w).ok())
                .is_some_and(|w| w == principal.directory_id);
            if !same {
                return Err(ScimError::not_found("no such directory").into());
            }
            Ok(Directory(principal))
        })
    }
}
