//! What the admin API's and the CLI's input DTOs check, declared with
//! `validator` (`#[derive(Validate)]` on the DTO): the custom checks they
//! share, and a failure rendered once as the admin API's 400
//! `invalid_request` (`From<ValidationErrors> for AdminError`).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use validator::{ValidationError, ValidationErrors};

use crate::admin_error::AdminError;

/// Longest name (a group, an organization, a directory, a site, a key's
/// label), in characters.
pub const MAX_NAME_LEN: usize = 256;

/// Longest free text (a group's description), in characters.
pub const MAX_TEXT_LEN: u64 = 2048;

fn refused(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(Cow::Borrowed(message))
}

/// A name shown on one line: 1 to 256 characters once trimmed, no
/// control characters.
pub fn one_line_name(s: &str) -> Result<(), ValidationError> {
    let t = s.trim();
    if t.is_empty() || t.chars().count() > MAX_NAME_LEN || t.chars().any(char::is_control) {
        return Err(refused(
            "name",
            "must be 1 to 256 characters without control characters",
        ));
    }
    Ok(())
}

/// A time that has not passed yet.
pub fn in_the_future(t: &DateTime<Utc>) -> Result<(), ValidationError> {
    if *t <= Utc::now() {
        return Err(refused("future", "must be in the future"));
    }
    Ok(())
}

/// The first failure (fields in name order, so the answer is stable) as
/// `"{field} {message}"`.
pub fn first_failure(errors: &ValidationErrors) -> String {
    let mut fields: Vec<_> = errors.field_errors().into_iter().collect();
    fields.sort_by(|a, b| a.0.cmp(&b.0));
    fields
        .iter()
        .find_map(|(field, errs)| {
            errs.first().map(|e| match &e.message {
                Some(m) => format!("{field} {m}"),
                None => format!("{field} is not valid ({})", e.code),
            })
        })
        .unwrap_or_else(|| "the request is not valid".to_owned())
}

/// A DTO that broke its `#[validate]` rules: 400 `invalid_request`.
impl From<ValidationErrors> for AdminError {
    fn from(errors: ValidationErrors) -> Self {
        Self::invalid(first_failure(&errors))
    }
}

#[cfg(test)]
mod tests {
    use validator::Validate;

    use super::*;

    #[derive(Validate)]
    struct Group<'a> {
        #[validate(custom(function = "one_line_name"))]
        name: &'a str,
        #[validate(length(max = "MAX_TEXT_LEN", message = "must be at most 2048 characters"))]
        description: Option<String>,
    }

    fn check(name: &str, description: Option<String>) -> Result<(), String> {
        Group { name, description }
            .validate()
            .map_err(|e| AdminError::from(e).message())
    }

    #[test]
    fn names_are_one_line_of_1_to_256_characters() {
        assert_eq!(check("Engineering", None), Ok(()));
        assert_eq!(check(&"é".repeat(256), None), Ok(()));
        let refusal = Err("name must be 1 to 256 characters without control characters".to_owned());
        assert_eq!(check("", None), refusal);
        assert_eq!(check("   ", None), refusal);
        assert_eq!(check(&"é".repeat(257), None), refusal);
        assert_eq!(check("a\u{7}b", None), refusal);
    }

    #[test]
    fn text_is_at_most_2048_characters() {
        assert_eq!(check("g", Some("é".repeat(2048))), Ok(()));
        assert_eq!(
            check("g", Some("é".repeat(2049))),
            Err("description must be at most 2048 characters".to_owned())
        );
    }

    #[test]
    fn the_first_field_in_name_order_is_named() {
        assert_eq!(
            check("", Some("x".repeat(3000))),
            Err("description must be at most 2048 characters".to_owned())
        );
    }

    #[test]
    fn times_must_be_in_the_future() {
        assert!(in_the_future(&(Utc::now() + chrono::Duration::hours(1))).is_ok());
        assert!(in_the_future(&(Utc::now() - chrono::Duration::hours(1))).is_err());
    }
}
