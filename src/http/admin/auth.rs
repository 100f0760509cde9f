//! The admin principal: the organization an admin key belongs to. A
//! missing or invalid key is 401; a key of another organization gets 404,
//! never that organization's data.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev, web};
use uuid::Uuid;

use crate::admin_error::AdminError;
use crate::http::AppState;
use crate::http::auth::bearer;
use crate::store::admin_keys::{self, AdminIdentity};
use crate::store::audit::Actor;
use crate::store::events::Origin;

/// The key's identity and the request's id (for the events it writes).
pub struct AdminPrincipal(pub AdminIdentity, pub Option<String>);

impl AdminPrincipal {
    pub fn org_id(&self) -> Uuid {
        self.0.org_id
    }
    /// Who the audit log names.
    pub fn actor(&self) -> Actor {
        Actor::AdminKey(self.0.key_id)
    }
    /// Who the events of its writes name.
    pub fn origin(&self) -> Origin {
        Origin::new(self.actor(), self.1.clone())
    }
}

impl FromRequest for AdminPrincipal {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut dev::Payload) -> Self::Future {
        let request_id = actix_web::HttpMessage::extensions(req)
            .get::<crate::http::observe::RequestId>()
            .map(|r| r.0.clone());
        // Checked already by `require_admin_key`.
        if let Some(identity) = actix_web::HttpMessage::extensions(req)
            .get::<AdminIdentity>()
            .copied()
        {
            return Box::pin(async move { Ok(AdminPrincipal(identity, request_id)) });
        }
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = bearer(req);
        let wanted = req.match_info().get("org_id").map(str::to_owned);
        Box::pin(async move {
            let state = state.ok_or_else(|| AdminError::internal("no app state"))?;
            let key = key.ok_or_else(|| {
                AdminError::Unauthorized(
                    "an admin key is required (Authorization: Bearer <admin key>)".into(),
                )
            })?;
            let identity = admin_keys::authenticate(state.store.auth(), &key)
                .await
                .map_err(AdminError::from)?
                .ok_or_else(|| AdminError::Unauthorized("the admin key is not valid".into()))?;
            let same = wanted
                .as_deref()
                .and_then(|w| Uuid::parse_str(w).ok())
                .is_some_and(|w| w == identity.org_id);
            if !same {
                return Err(AdminError::not_found("no such organization").into());
            }
            Ok(AdminPrincipal(identity, request_id))
        })
    }
}

/// Checks the admin key of every request under `/orgs/{org_id}` before the
/// handler's extractors run. Actix runs those together, so a body or path
/// error could otherwise answer first: 400 to a caller without a valid key
/// instead of 401, or to another organization's key instead of 404.
pub async fn require_admin_key(
    mut req: dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<dev::ServiceResponse<impl actix_web::body::MessageBody + 'static>, actix_web::Error> {
    let principal = req.extract::<AdminPrincipal>().await?;
    // The handler's `AdminPrincipal` reads it from here (one lookup).
    actix_web::HttpMessage::extensions_mut(&req).insert(principal.0);
    next.call(req).await
}
