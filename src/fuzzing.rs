//! Entry points the fuzz targets (`fuzz/`) and the corpus regression test
//! share: each takes arbitrary bytes and must never panic, hang or
//! allocate without bound.

use serde_json::Value;

use crate::domain::filter::{self, Limits};
use crate::domain::{group, patch, user};

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The filter parser, and the Display round trip of what it accepts. The
/// printed form may be longer than the input (`"x"and y pr` prints as
/// `"x" and y pr`), so the length limit does not apply to the re-parse.
pub fn filter(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(f) = filter::parse_filter(s, Limits::default()) {
        let relaxed = Limits {
            max_len: usize::MAX,
            ..Limits::default()
        };
        let again = filter::parse_filter(&f.to_string(), relaxed);
        assert_eq!(again.ok(), Some(f), "a parsed filter re-parses to itself");
    }
}

/// The PATCH path parser.
pub fn patch_path(data: &[u8]) {
    if let Some(s) = text(data) {
        let _ = filter::parse_patch_path(s, Limits::default());
        let _ = filter::parse_attr_path(s);
    }
}

fn json(data: &[u8]) -> Option<Value> {
    serde_json::from_slice(data).ok()
}

/// A PatchOp body applied to a User (then decoded, as the store does).
pub fn patch_user(data: &[u8]) {
    let Some(body) = json(data) else { return };
    let Ok(ops) = patch::parse_request(&body, Limits::default()) else {
        return;
    };
    let base = serde_json::json!({
        "userName": "fuzz@example.com",
        "name": {"givenName": "F", "familyName": "Z"},
        "emails": [{"value": "fuzz@example.com", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m"}},
    });
    let Ok(input) = user::UserInput::from_json(&base) else {
        return;
    };
    let mut doc = input.attrs.to_json();
    if patch::apply_to_user(&mut doc, &ops).is_ok() {
        let _ = user::UserInput::from_json(&Value::Object(doc));
    }
}

/// A PatchOp body turned into Group changes.
pub fn patch_group(data: &[u8]) {
    let Some(body) = json(data) else { return };
    if let Ok(ops) = patch::parse_request(&body, Limits::default()) {
        let _ = group::changes(&ops);
    }
}

/// SCIM JSON bodies decoded as a User and as a Group.
pub fn body(data: &[u8]) {
    let Some(body) = json(data) else { return };
    if let Ok(u) = user::UserInput::from_json(&user::input_body(&body)) {
        let again = user::UserInput::from_json(&Value::Object(u.attrs.to_json()));
        assert!(again.is_ok(), "an accepted User encodes to a valid User");
    }
    let _ = group::GroupInput::from_json(&body);
}
