//! Rendering `AdminError` as `{"code", "message"}` JSON, and routing the
//! framework's errors (bad JSON, query, path; unknown routes; wrong
//! methods) into it for everything under `/admin/v1`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, error};

use crate::admin_error::AdminError;

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AdminError::Internal { cause } => tracing::error!(%cause, "admin request failed"),
            AdminError::Unavailable { cause } => tracing::warn!(%cause, "database busy"),
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CONTENT_TYPE, "application/json"));
        if let Some(secs) = self.retry_after_secs() {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if matches!(self, AdminError::Unauthorized(_)) {
            res.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"admin\""),
            ));
        }
        res.body(self.to_json().to_string())
    }
}

pub fn json_error(err: error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    match err {
        error::JsonPayloadError::Overflow { limit }
        | error::JsonPayloadError::OverflowKnownLength { limit, .. } => {
            AdminError::PayloadTooLarge(format!(
                "the request body is larger than the {limit} bytes this server accepts"
            ))
            .into()
        }
        error::JsonPayloadError::ContentType => AdminError::UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json".into(),
        )
        .into(),
        other => AdminError::invalid(format!("invalid JSON body: {other}")).into(),
    }
}

pub fn query_error(err: error::QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    AdminError::invalid(format!("invalid query string: {err}")).into()
}

pub fn path_error(_err: error::PathError, _req: &HttpRequest) -> actix_web::Error {
    AdminError::not_found("no such resource").into()
}

pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, AdminError> {
    Err(AdminError::not_found(format!(
        "no endpoint {} {}",
        req.method(),
        req.path()
    )))
}

pub async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, AdminError> {
    Err(AdminError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        req.method(),
        req.path()
    )))
}
