//! Errors of the web page, rendered once as an HTML page with the same
//! status and message as the JSON admin API (causes go to the log only).
//! Not signed in is a redirect to the sign-in form.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use maud::html;

use super::layout;
use crate::admin_error::AdminError;
use crate::domain::error::DomainError;
use crate::error::ScimError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No valid admin key cookie: go to the sign-in form.
    #[error("sign in first")]
    SignIn,
    #[error("{0}")]
    Admin(#[from] AdminError),
}

impl From<ScimError> for WebError {
    fn from(e: ScimError) -> Self {
        Self::Admin(AdminError::from_protocol(e))
    }
}

impl From<DomainError> for WebError {
    fn from(e: DomainError) -> Self {
        Self::Admin(e.into())
    }
}

impl WebError {
    pub fn not_found() -> Self {
        Self::Admin(AdminError::not_found("there is no such page"))
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Admin(AdminError::invalid(message))
    }
}

pub type WebResult<T> = Result<T, WebError>;

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::Admin(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let e = match self {
            Self::SignIn => return super::see_other("/admin/sign-in"),
            Self::Admin(e) => e,
        };
        match e {
            AdminError::Internal { cause } => tracing::error!(%cause, "admin page failed"),
            AdminError::Unavailable { cause } => tracing::warn!(%cause, "database busy"),
            _ => {}
        }
        let body = html! {
            h1 { "Something went wrong" }
            p.error role="alert" { (e.message()) }
            p { a href="/admin/" { "Back to the admin page" } }
        };
        layout::render(self.status_code(), "Error", None, body)
    }
}
