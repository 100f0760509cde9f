//! The one error type of the SCIM API, rendered as RFC 7644 §3.12 by
//! `http::error`. `detail` is written for the client; causes (database
//! errors and the like) go to the log only.

use std::fmt;

use crate::domain::error::{DomainError, Rule};

/// `scimType` values of RFC 7644 §3.12 (plus `tooLarge` from §3.7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    TooLarge,
    /// RFC 9865.
    InvalidCursor,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
            Self::TooLarge => "tooLarge",
            Self::InvalidCursor => "invalidCursor",
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScimError {
    /// 400 with an optional `scimType`.
    #[error("{detail}")]
    BadRequest {
        scim_type: Option<ScimType>,
        detail: String,
    },
    /// 401 without a token (RFC 6750 §3.1: no error code).
    #[error("{0}")]
    Unauthorized(String),
    /// 401 for a token that is unknown, revoked, expired or fails its
    /// checks: `WWW-Authenticate` carries `error="invalid_token"`.
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: `uniqueness` or a lifecycle conflict (no scimType).
    #[error("{detail}")]
    Conflict {
        scim_type: Option<ScimType>,
        detail: String,
    },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// The database is busy or unreachable: 503 with Retry-After.
    #[error("service unavailable: {cause}")]
    Unavailable { cause: String },
    /// Anything unexpected; `cause` goes to the log, never to the wire.
    #[error("internal error: {cause}")]
    Internal { cause: String },
}

impl ScimError {
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::Conflict {
            scim_type: Some(ScimType::Uniqueness),
            detail: detail.into(),
        }
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            scim_type: None,
            detail: detail.into(),
        }
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(detail.into())
    }
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::Internal {
            cause: cause.to_string(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized(_) | Self::InvalidToken(_) => 401,
            Self::Forbidden(_) => 403,
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

    pub fn scim_type(&self) -> Option<ScimType> {
        match self {
            Self::BadRequest { scim_type, .. } | Self::Conflict { scim_type, .. } => *scim_type,
            Self::PayloadTooLarge(_) => Some(ScimType::TooLarge),
            _ => None,
        }
    }

    /// What the client reads in `detail`.
    pub fn detail(&self) -> String {
        match self {
            Self::Internal { .. } => "internal server error".to_owned(),
            Self::Unavailable { .. } => {
                "the server is temporarily busy; retry after the delay in Retry-After".to_owned()
            }
            Self::TooManyRequests { retry_after_secs } => {
                format!("rate limit exceeded; retry after {retry_after_secs} seconds")
            }
            other => other.to_string(),
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after_secs } => Some(*retry_after_secs),
            Self::Unavailable { .. } => Some(1),
            _ => None,
        }
    }

    /// The RFC 7644 §3.12 body.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status().to_string(),
            "detail": self.detail(),
        });
        if let (Some(t), Some(obj)) = (self.scim_type(), body.as_object_mut()) {
            obj.insert("scimType".into(), t.as_str().into());
        }
        body
    }
}

pub type ScimResult<T> = Result<T, ScimError>;

/// The SCIM API's answer: the status, `scimType` and `detail` it has
/// always given.
impl From<DomainError> for ScimError {
    fn from(e: DomainError) -> Self {
        let cause = e.chain();
        match e {
            DomainError::NotFound(d) => Self::NotFound(d),
            DomainError::Conflict(d) => Self::uniqueness(d),
            DomainError::PreconditionFailed(d) => Self::PreconditionFailed(d),
            DomainError::Rule(rule) => match rule {
                Rule::Invalid(d) | Rule::EmailDomainNotVerified(d) => Self::invalid_value(d),
                Rule::NotManaged(d) => Self::Forbidden(d),
                Rule::IdpOwned(d) | Rule::State(d) => Self::conflict(d),
            },
            DomainError::Protocol(e) => e,
            DomainError::Unavailable(_) => Self::Unavailable { cause },
            DomainError::Internal { .. } => Self::Internal { cause },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_status_as_string_and_scim_type() {
        let e = ScimError::uniqueness("userName \"bjensen\" is already in use in this directory");
        assert_eq!(
            e.to_json(),
            serde_json::json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "409",
                "scimType": "uniqueness",
                "detail": "userName \"bjensen\" is already in use in this directory",
            })
        );
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ScimError::internal("connection reset by peer at 10.0.0.1");
        let body = e.to_json();
        assert_eq!(body["status"], "500");
        assert_eq!(body["detail"], "internal server error");
        assert!(body.get("scimType").is_none());
    }
}
