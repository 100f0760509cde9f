//! Rendering `ScimError` (RFC 7644 §3.12) and routing every framework
//! error (bad JSON, query, path; unknown routes; wrong methods) into it.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, error};

use crate::error::ScimError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

impl ResponseError for ScimError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ScimError::Internal { cause } => tracing::error!(%cause, "request failed"),
            ScimError::Unavailable { cause } => tracing::warn!(%cause, "database busy"),
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE));
        if let Some(secs) = self.retry_after() {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        match self {
            ScimError::Unauthorized(_) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"scim\""),
                ));
            }
            ScimError::InvalidToken(_) => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"scim\", error=\"invalid_token\""),
                ));
            }
            _ => {}
        }
        res.body(self.to_json().to_string())
    }
}

pub fn query_error(err: error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ScimError::invalid_value(format!("invalid query string: {err}")).into()
}

pub fn path_error(_err: error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ScimError::not_found("no such resource").into()
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ScimError> {
    Err(ScimError::not_found(format!(
        "no endpoint {} {}",
        req.method(),
        req.path()
    )))
}

pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ScimError> {
    Err(ScimError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        req.path()
    )))
}
