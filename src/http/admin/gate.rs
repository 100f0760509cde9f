//! Checks the admin key of every request under `/orgs/{org_id}` before
//! the handler's extractors run. Actix runs those together, so a body or
//! path error could otherwise answer first: 400 to a caller without a
//! valid key instead of 401, or to another organization's key instead
//! of 404.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};

use super::auth::AdminPrincipal;

pub async fn require_admin_key(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let principal = req.extract::<AdminPrincipal>().await?;
    // The handler's `AdminPrincipal` reads it from here (one lookup).
    req.extensions_mut().insert(principal.0);
    next.call(req).await
}
