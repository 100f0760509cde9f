//! `/Me` (RFC 7644 §3.11): a directory token stands for an identity
//! provider, not for a user, so there is no "me" to resolve. Every method
//! answers 501, after authentication like any other SCIM endpoint.

use actix_web::HttpResponse;

use super::auth::Directory;
use crate::error::{ScimError, ScimResult};

pub async fn not_implemented(_dir: Directory) -> ScimResult<HttpResponse> {
    Err(ScimError::NotImplemented(
        "/Me is not supported: a directory token or OAuth client stands for an identity \
         provider, not for a user"
            .into(),
    ))
}
