//! The neutral error of `store/` and of the rule-deciding parts of
//! `domain/` (`lifecycle`, `admin_rules`): what went wrong, in the
//! words of the product, with no HTTP status, `scimType` or admin `code`.
//! The edge turns it into the error of the API that asked: a `ScimError`
//! (`From<DomainError> for ScimError`) or an `AdminError`
//! (`From<DomainError> for AdminError`), each keeping the status, type
//! and detail the API has always answered with.
//!
//! The SCIM protocol engines (filter parser and its SQL lowering, PATCH
//! engine, resource and schema validation, cursors) speak `ScimError`:
//! there the error *is* the protocol's (`invalidFilter`, `invalidPath`,
//! `mutability`, …). When the store runs one of them its error passes
//! through unchanged as [`DomainError::Protocol`].
//!
//! Causes (a `DbErr`, a context) travel as the `#[source]` chain; the
//! conversion writes the whole chain into the 5xx error's `cause`, which
//! the renderer logs and never sends.

use std::error::Error as StdError;
use std::fmt;

use crate::error::ScimError;

/// The cause of an `Unavailable` or `Internal` error.
pub type Cause = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// No such resource (as far as the caller may know).
    #[error("{0}")]
    NotFound(String),
    /// A unique value is taken: a userName, an email, a site name.
    #[error("{0}")]
    Conflict(String),
    /// The resource changed since the version the client names (`If-Match`).
    #[error("{0}")]
    PreconditionFailed(String),
    /// A rule of the product refuses it; the rule's reason for the client.
    #[error(transparent)]
    Rule(#[from] Rule),
    /// A SCIM protocol engine's own error, passed through unchanged.
    #[error(transparent)]
    Protocol(ScimError),
    /// The database is busy or unreachable; the client may retry.
    #[error("the database is busy")]
    Unavailable(#[source] Cause),
    /// Anything unexpected: `context` and the chain of `source` go to the
    /// log only.
    #[error("{context}")]
    Internal {
        context: String,
        #[source]
        source: Option<Cause>,
    },
}

/// Why a rule of the product refuses a request. Each carries the
/// sentence the client reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    /// The input breaks a rule (an unknown product, a value too long, a
    /// member that is not a User of this directory).
    #[error("{0}")]
    Invalid(String),
    /// An email on a domain the organization has not verified (rule 7).
    #[error("{0}")]
    EmailDomainNotVerified(String),
    /// Only the organization that manages the account may do it (rules
    /// 5, 6, 8).
    #[error("{0}")]
    NotManaged(String),
    /// The identity provider of a directory owns it (rule 9).
    #[error("{0}")]
    IdpOwned(String),
    /// The current state forbids it (already deactivated, pending
    /// deletion, a lifecycle conflict).
    #[error("{0}")]
    State(String),
}

pub type DomainResult<T> = Result<T, DomainError>;

impl DomainError {
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(detail.into())
    }
    /// A unique value is taken.
    pub fn taken(detail: impl Into<String>) -> Self {
        Self::Conflict(detail.into())
    }
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::Rule(Rule::Invalid(detail.into()))
    }
    pub fn state(detail: impl Into<String>) -> Self {
        Self::Rule(Rule::State(detail.into()))
    }
    /// Something that should not happen, without an underlying error.
    pub fn internal(context: impl fmt::Display) -> Self {
        Self::Internal {
            context: context.to_string(),
            source: None,
        }
    }
    /// Something that should not happen, caused by `source`.
    pub fn internal_from(
        context: impl fmt::Display,
        source: impl StdError + Send + Sync + 'static,
    ) -> Self {
        Self::Internal {
            context: context.to_string(),
            source: Some(Box::new(source)),
        }
    }
    /// Busy for a reason of our own (no underlying error).
    pub fn busy(reason: impl Into<String>) -> Self {
        Self::Unavailable(reason.into().into())
    }
    pub fn unavailable(source: impl StdError + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(source))
    }

    /// The error and its causes, `: `-separated, for the log.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut next = self.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            // Some errors repeat their source's text in their own.
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            next = cause.source();
        }
        out
    }
}

/// A protocol engine's error met on the way (the store lowering a filter,
/// reading a cursor): passed on as it is.
impl From<ScimError> for DomainError {
    fn from(e: ScimError) -> Self {
        Self::Protocol(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin_error::AdminError;
    use crate::error::ScimType;

    #[derive(Debug, thiserror::Error)]
    #[error("connection reset by peer at 10.0.0.1")]
    struct Reset;

    #[derive(Debug, thiserror::Error)]
    #[error("pool timed out")]
    struct Busy(#[source] Reset);

    fn scim(e: DomainError) -> serde_json::Value {
        ScimError::from(e).to_json()
    }

    fn admin(e: DomainError) -> (u16, serde_json::Value) {
        let e = AdminError::from(e);
        (e.status(), e.to_json())
    }

    #[test]
    fn each_error_keeps_the_scim_status_type_and_detail() {
        let cases: Vec<(DomainError, &str, Option<&str>)> = vec![
            (DomainError::not_found("no User"), "404", None),
            (DomainError::taken("taken"), "409", Some("uniqueness")),
            (
                DomainError::PreconditionFailed("changed".into()),
                "412",
                None,
            ),
            (DomainError::invalid("bad"), "400", Some("invalidValue")),
            (
                Rule::EmailDomainNotVerified("off domain".into()).into(),
                "400",
                Some("invalidValue"),
            ),
            (Rule::NotManaged("not yours".into()).into(), "403", None),
            (Rule::IdpOwned("okta's".into()).into(), "409", None),
            (DomainError::state("deactivated"), "409", None),
            (
                ScimError::invalid_filter("no such attribute").into(),
                "400",
                Some("invalidFilter"),
            ),
        ];
        for (e, status, scim_type) in cases {
            let detail = e.to_string();
            let body = scim(e);
            assert_eq!(body["status"], status, "{detail}");
            assert_eq!(body["scimType"].as_str(), scim_type, "{detail}");
            assert_eq!(body["detail"], detail);
        }
    }

    #[test]
    fn each_error_keeps_the_admin_status_code_and_message() {
        let cases: Vec<(DomainError, u16, &str)> = vec![
            (DomainError::not_found("no account"), 404, "not_found"),
            (DomainError::taken("taken"), 409, "already_exists"),
            (
                DomainError::PreconditionFailed("changed".into()),
                412,
                "precondition_failed",
            ),
            (DomainError::invalid("bad"), 400, "invalid_request"),
            (
                Rule::EmailDomainNotVerified("off domain".into()).into(),
                400,
                "email_domain_not_verified",
            ),
            (
                Rule::NotManaged("not yours".into()).into(),
                403,
                "account_not_managed",
            ),
            (
                Rule::IdpOwned("okta's".into()).into(),
                409,
                "managed_by_identity_provider",
            ),
            (DomainError::state("deactivated"), 409, "invalid_state"),
            (
                ScimError::bad_request(ScimType::InvalidCursor, "stale cursor").into(),
                400,
                "invalid_cursor",
            ),
            (
                ScimError::NotImplemented("sorting".into()).into(),
                501,
                "not_implemented",
            ),
        ];
        for (e, status, code) in cases {
            let message = e.to_string();
            let (got_status, body) = admin(e);
            assert_eq!(
                (got_status, &body),
                (
                    status,
                    &serde_json::json!({"code": code, "message": message})
                )
            );
        }
    }

    #[test]
    fn causes_go_to_the_log_not_to_the_client() {
        let e = DomainError::unavailable(Busy(Reset));
        assert_eq!(
            e.chain(),
            "the database is busy: pool timed out: connection reset by peer at 10.0.0.1"
        );
        let ScimError::Unavailable { cause } = ScimError::from(e) else {
            panic!("not 503");
        };
        assert!(cause.contains("10.0.0.1"));

        let e = DomainError::internal_from("loading a user", Reset);
        let body = scim(e);
        assert_eq!(body["status"], "500");
        assert_eq!(body["detail"], "internal server error");
        let (status, body) = admin(DomainError::internal_from("loading a user", Reset));
        assert_eq!(status, 500);
        assert!(!body.to_string().contains("10.0.0.1"));
        let e = AdminError::from(DomainError::internal_from("loading a user", Reset));
        let AdminError::Internal { cause } = e else {
            panic!("not 500");
        };
        assert_eq!(
            cause,
            "loading a user: connection reset by peer at 10.0.0.1"
        );
    }
}
