//! The one error type of the admin API: a stable machine `code`, a
//! `message` written for the admin, the HTTP status. Rendered once by
//! `http::admin::error` as `{"code": …, "message": …}`; causes (database
//! errors and the like) go to the log only.

use std::fmt;

use crate::domain::error::{DomainError, Rule};
use crate::error::{ScimError, ScimType};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// 400: the request can't be carried out as sent (bad input, a rule).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    /// 403: a rule of the product forbids it (e.g. the account is not
    /// managed by this organization).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the current state forbids it (IdP-owned, wrong status, taken).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 412: a precondition of the request (an `If-Match`) does not hold.
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: a body that is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429 with Retry-After: a rate limit.
    #[error("rate limit exceeded; retry after {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    /// 501: a feature this server does not offer.
    #[error("{0}")]
    NotImplemented(String),
    /// The database is busy or unreachable: 503 with Retry-After.
    #[error("service unavailable: {cause}")]
    Unavailable { cause: String },
    /// Anything unexpected; `cause` goes to the log, never to the wire.
    #[error("internal error: {cause}")]
    Internal { cause: String },
}

/// Codes used in more than one place.
pub mod codes {
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const ACCOUNT_NOT_MANAGED: &str = "account_not_managed";
    pub const MANAGED_BY_IDP: &str = "managed_by_identity_provider";
    pub const INVALID_STATE: &str = "invalid_state";
    pub const ALREADY_EXISTS: &str = "already_exists";
    pub const EMAIL_DOMAIN_NOT_VERIFIED: &str = "email_domain_not_verified";
    pub const INVALID_CURSOR: &str = "invalid_cursor";
}

impl AdminError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::bad_request(codes::INVALID_REQUEST, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::Internal {
            cause: cause.to_string(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden { .. } => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed(_) => 405,
            Self::Conflict { .. } => 409,
            Self::PreconditionFailed(_) => 412,
            Self::PayloadTooLarge(_) => 413,
            Self::UnsupportedMediaType(_) => 415,
            Self::TooManyRequests { .. } => 429,
            Self::NotImplemented(_) => 501,
            Self::Unavailable { .. } => 503,
            Self::Internal { .. } => 500,
        }
    }

    /// The stable machine code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::PreconditionFailed(_) => "precondition_failed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::NotImplemented(_) => "not_implemented",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal { .. } => "internal_error",
        }
    }

    /// What the admin reads in `message`.
    pub fn message(&self) -> String {
        match self {
            Self::Internal { .. } => "internal server error".to_owned(),
            Self::Unavailable { .. } => {
                "the server is temporarily busy; retry after the delay in Retry-After".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// The delay a `Retry-After` header names, for the errors that have
    /// one (a rate limit; a busy database: 1 s).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            Self::Unavailable { .. } => Some(1),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"code": self.code(), "message": self.message()})
    }
}

/// The admin API's answer: the status, `code` and `message` it has always
/// given.
impl From<DomainError> for AdminError {
    fn from(e: DomainError) -> Self {
        let cause = e.chain();
        match e {
            DomainError::NotFound(m) => Self::NotFound(m),
            DomainError::Conflict(m) => Self::conflict(codes::ALREADY_EXISTS, m),
            DomainError::PreconditionFailed(m) => Self::PreconditionFailed(m),
            DomainError::Rule(rule) => match rule {
                Rule::Invalid(m) => Self::invalid(m),
                Rule::EmailDomainNotVerified(m) => {
                    Self::bad_request(codes::EMAIL_DOMAIN_NOT_VERIFIED, m)
                }
                Rule::NotManaged(m) => Self::forbidden(codes::ACCOUNT_NOT_MANAGED, m),
                Rule::IdpOwned(m) => Self::conflict(codes::MANAGED_BY_IDP, m),
                Rule::State(m) => Self::conflict(codes::INVALID_STATE, m),
            },
            DomainError::Protocol(e) => Self::from_protocol(e),
            DomainError::Unavailable(_) => Self::Unavailable { cause },
            DomainError::Internal { .. } => Self::Internal { cause },
        }
    }
}

impl AdminError {
    /// A SCIM protocol engine's error (a cursor, a filter) in the admin
    /// API's shape: the same status and message; 400s are
    /// `invalid_request` (`invalid_cursor` for a cursor).
    pub fn from_protocol(e: ScimError) -> Self {
        let detail = e.detail();
        match e {
            ScimError::Internal { cause } => Self::Internal { cause },
            ScimError::Unavailable { cause } => Self::Unavailable { cause },
            ScimError::Unauthorized(m) | ScimError::InvalidToken(m) => Self::Unauthorized(m),
            ScimError::PreconditionFailed(m) => Self::PreconditionFailed(m),
            ScimError::NotImplemented(m) => Self::NotImplemented(m),
            ScimError::TooManyRequests { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            ScimError::NotFound(m) => Self::NotFound(m),
            ScimError::MethodNotAllowed(m) => Self::MethodNotAllowed(m),
            ScimError::PayloadTooLarge(m) => Self::PayloadTooLarge(m),
            ScimError::UnsupportedMediaType(m) => Self::UnsupportedMediaType(m),
            ScimError::Forbidden(m) => Self::forbidden("forbidden", m),
            ScimError::Conflict {
                scim_type: Some(ScimType::Uniqueness),
                detail,
            } => Self::conflict(codes::ALREADY_EXISTS, detail),
            ScimError::Conflict { detail, .. } => Self::conflict(codes::INVALID_STATE, detail),
            other => {
                let code = match other.scim_type() {
                    Some(ScimType::InvalidCursor) => codes::INVALID_CURSOR,
                    _ => codes::INVALID_REQUEST,
                };
                Self::bad_request(code, detail)
            }
        }
    }
}

pub type AdminResult<T> = Result<T, AdminError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_code_and_message() {
        let e = AdminError::conflict(
            codes::MANAGED_BY_IDP,
            "the email of this account is managed by the identity provider of directory \"okta\"",
        );
        assert_eq!(e.status(), 409);
        assert_eq!(
            e.to_json(),
            serde_json::json!({
                "code": "managed_by_identity_provider",
                "message": "the email of this account is managed by the identity provider of directory \"okta\"",
            })
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = AdminError::internal("connection reset by peer at 10.0.0.1");
        assert_eq!(
            e.to_json(),
            serde_json::json!({"code": "internal_error", "message": "internal server error"})
        );
        let e = AdminError::from_protocol(ScimError::internal("secret cause"));
        assert_eq!(e.status(), 500);
        assert!(!e.to_json().to_string().contains("secret"));
    }

    #[test]
    fn scim_errors_keep_status_and_detail() {
        let e =
            AdminError::from_protocol(ScimError::uniqueness("a site named \"x\" already exists"));
        assert_eq!((e.status(), e.code()), (409, "already_exists"));
        assert_eq!(e.message(), "a site named \"x\" already exists");
        let e = AdminError::from_protocol(ScimError::not_found("no directory"));
        assert_eq!((e.status(), e.code()), (404, "not_found"));
        let e = AdminError::from_protocol(ScimError::invalid_value("bad"));
        assert_eq!((e.status(), e.code()), (400, "invalid_request"));
    }

    /// The conversion keeps each status: a precondition that failed stays
    /// 412, an unsupported feature 501, a rejected token 401, a rate limit
    /// 429 with its delay (it was 400, 400, 400 and 503).
    #[test]
    fn scim_errors_keep_every_status() {
        let cases: Vec<(ScimError, u16, &str)> = vec![
            (
                ScimError::PreconditionFailed("the resource changed".into()),
                412,
                "precondition_failed",
            ),
            (
                ScimError::NotImplemented("sorting by that attribute".into()),
                501,
                "not_implemented",
            ),
            (
                ScimError::InvalidToken("the token expired".into()),
                401,
                "unauthorized",
            ),
            (
                ScimError::TooManyRequests {
                    retry_after_secs: 7,
                },
                429,
                "too_many_requests",
            ),
        ];
        for (scim, status, code) in cases {
            let scim_status = scim.status();
            let detail = scim.detail();
            let e = AdminError::from_protocol(scim);
            assert_eq!(e.status(), scim_status, "{detail}");
            assert_eq!((e.status(), e.code()), (status, code), "{detail}");
            assert_eq!(e.message(), detail);
        }
        let e = AdminError::from_protocol(ScimError::TooManyRequests {
            retry_after_secs: 7,
        });
        assert_eq!(e.retry_after_secs(), Some(7));
        let e = AdminError::from_protocol(ScimError::Unavailable { cause: "x".into() });
        assert_eq!(e.retry_after_secs(), Some(1));
    }
}
