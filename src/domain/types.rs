//! Newtypes for values parsed once at the boundary.

use std::fmt;

use uuid::Uuid;

use crate::error::{ScimError, ScimResult};

/// Longest string attribute value accepted.
pub const MAX_STRING_LEN: usize = 2048;

/// A SCIM `id` (ours are UUIDs), parsed once where a request names one
/// (the `{id}` of a path, a group member's `value`, a `/Bulk` path). A
/// value that is not one names no resource: "not found" for a path, "not
/// a User of this directory" for a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId(Uuid);

impl ResourceId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::parse_str(s).ok().map(Self)
    }
    pub fn uuid(self) -> Uuid {
        self.0
    }
}

impl Default for ResourceId {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Uuid> for ResourceId {
    fn from(u: Uuid) -> Self {
        Self(u)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A `userName`: non-empty, compared case-insensitively.
#[derive(Debug, Clone)]
pub struct UserName {
    raw: String,
    lower: String,
}

impl UserName {
    pub fn parse(s: &str) -> ScimResult<Self> {
        if s.trim().is_empty() {
            return Err(ScimError::invalid_value("userName must not be empty"));
        }
        if s.chars().count() > 256 {
            return Err(ScimError::invalid_value(
                "userName is longer than 256 characters",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ScimError::invalid_value(
                "userName must not contain control characters",
            ));
        }
        Ok(Self {
            raw: s.to_owned(),
            lower: s.to_lowercase(),
        })
    }
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn lower(&self) -> &str {
        &self.lower
    }
    /// The userName as an email, when it is one (Okta's default).
    pub fn as_email(&self) -> Option<Email> {
        Email::parse(&self.raw).ok()
    }
}

impl PartialEq for UserName {
    fn eq(&self, other: &Self) -> bool {
        self.lower == other.lower
    }
}
impl Eq for UserName {}

/// An email address: `local@domain`, stored as given, compared lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    raw: String,
    lower: String,
}

impl Email {
    pub fn parse(s: &str) -> ScimResult<Self> {
        let s = s.trim();
        let valid = s.len() <= 320
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            });
        if !valid {
            return Err(ScimError::invalid_value(format!(
                "{s:?} is not a valid email address"
            )));
        }
        Ok(Self {
            raw: s.to_owned(),
            lower: s.to_lowercase(),
        })
    }
    pub fn as_str(&self) -> &str {
        &self.raw
    }
    pub fn lower(&self) -> &str {
        &self.lower
    }
    /// The lower-cased domain part.
    pub fn domain(&self) -> &str {
        self.lower.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// A DNS domain name as an org registers it: lower-cased, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let d = s.trim().trim_end_matches('.').to_lowercase();
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if ok {
            Ok(Self(d))
        } else {
            Err(format!("{s:?} is not a valid domain name"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_compare_case_insensitively() {
        assert_eq!(
            UserName::parse("BJensen@Example.com").unwrap(),
            UserName::parse("bjensen@example.com").unwrap()
        );
        assert!(UserName::parse("  ").is_err());
    }

    #[test]
    fn emails_need_a_domain() {
        assert_eq!(
            Email::parse("Jane@Acme.Example").unwrap().domain(),
            "acme.example"
        );
        assert!(Email::parse("jane").is_err());
        assert!(Email::parse("jane@localhost").is_err());
        assert!(Email::parse("a b@c.d").is_err());
    }

    #[test]
    fn domain_names_are_normalised() {
        assert_eq!(
            DomainName::parse("Acme.Example.").unwrap().as_str(),
            "acme.example"
        );
        assert!(DomainName::parse("../etc").is_err());
    }
}
