//! List query parameters (RFC 7644 §3.4.2): filter, paging, sorting and
//! projection, parsed once into typed values.

use super::filter::{self, AttrPath, Filter, Limits};
use super::projection::Projection;
use crate::error::{ScimError, ScimResult, ScimType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

/// How a list is paged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// RFC 7644 §3.4.2.4: 1-based `startIndex`.
    Index { start_index: u64 },
    /// RFC 9865: after the position a cursor names (`None`: first page).
    Cursor(Option<Cursor>),
}

/// An RFC 9865 cursor: the keyset position after the last row of a page,
/// bound to the query it came from. Opaque to clients (hex of JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// Sort key of the last row (when sorting by an attribute).
    #[serde(rename = "k", skip_serializing_if = "Option::is_none", default)]
    pub key: Option<String>,
    /// Id of the last row (the tie-break).
    #[serde(rename = "i")]
    pub id: uuid::Uuid,
    /// Fingerprint of the query (filter, sortBy, sortOrder).
    #[serde(rename = "q")]
    pub query: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        hex::encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(s: &str, fingerprint: &str) -> ScimResult<Self> {
        let invalid = || {
            ScimError::bad_request(
                ScimType::InvalidCursor,
                "the cursor is not one this server issued for this query; start again with an empty cursor",
            )
        };
        let bytes = hex::decode(s).map_err(|_| invalid())?;
        let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if c.query != fingerprint {
            return Err(invalid());
        }
        Ok(c)
    }
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub paging: Paging,
    /// Clamped to the server maximum.
    pub count: u64,
    pub sort_by: Option<AttrPath>,
    pub sort_order: SortOrder,
    pub projection: Projection,
}

/// The raw strings of a list request, from the query string or a
/// `.search` body.
#[derive(Debug, Clone, Default)]
pub struct RawListQuery {
    pub filter: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    /// RFC 9865 `cursor` (empty: first page).
    pub cursor: Option<String>,
}

pub fn parse_attr_list(list: Option<&str>, param: &str) -> ScimResult<Vec<AttrPath>> {
    let Some(list) = list else {
        return Ok(vec![]);
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            filter::parse_attr_path(s)
                .map_err(|e| ScimError::invalid_value(format!("{param}: {s:?}: {e}")))
        })
        .collect()
}

pub fn parse_projection(
    attributes: Option<&str>,
    excluded: Option<&str>,
) -> ScimResult<Projection> {
    Ok(Projection {
        attributes: parse_attr_list(attributes, "attributes")?,
        excluded: parse_attr_list(excluded, "excludedAttributes")?,
    })
}

fn number(v: Option<&str>, param: &str) -> ScimResult<Option<i64>> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<i64>().map(Some).map_err(|_| {
            ScimError::invalid_value(format!("{param} must be an integer, got {s:?}"))
        }),
    }
}

impl ListQuery {
    pub fn parse(raw: &RawListQuery, max_results: u64, limits: Limits) -> ScimResult<Self> {
        let filter = match raw.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(
                filter::parse_filter(f, limits)
                    .map_err(|e| ScimError::invalid_filter(format!("invalid filter: {e}")))?,
            ),
        };
        // RFC 7644 §3.4.2.4: startIndex < 1 is 1, count < 0 is 0.
        let start_index = number(raw.start_index.as_deref(), "startIndex")?;
        let count = number(raw.count.as_deref(), "count")?
            .map_or(max_results, |c| c.max(0) as u64)
            .min(max_results);
        let sort_by = match raw.sort_by.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                filter::parse_attr_path(s)
                    .map_err(|e| ScimError::invalid_value(format!("sortBy {s:?}: {e}")))?,
            ),
        };
        let sort_order = match raw.sort_order.as_deref().map(str::trim) {
            None | Some("") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("ascending") => SortOrder::Ascending,
            Some(s) if s.eq_ignore_ascii_case("descending") => SortOrder::Descending,
            Some(s) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be ascending or descending, got {s:?}"
                )));
            }
        };
        let mut q = Self {
            filter,
            paging: Paging::Index { start_index: 1 },
            count,
            sort_by,
            sort_order,
            projection: parse_projection(
                raw.attributes.as_deref(),
                raw.excluded_attributes.as_deref(),
            )?,
        };
        q.paging = match (&raw.cursor, start_index) {
            (Some(_), Some(_)) => {
                return Err(ScimError::invalid_value(
                    "use either startIndex (index paging) or cursor (cursor paging), not both",
                ));
            }
            (Some(c), None) if c.trim().is_empty() => Paging::Cursor(None),
            (Some(c), None) => Paging::Cursor(Some(Cursor::decode(c.trim(), &q.fingerprint())?)),
            (None, s) => Paging::Index {
                start_index: s.unwrap_or(1).max(1) as u64,
            },
        };
        Ok(q)
    }

    /// 1-based index of the first result (cursor pages: 1).
    pub fn start_index(&self) -> u64 {
        match self.paging {
            Paging::Index { start_index } => start_index,
            Paging::Cursor(_) => 1,
        }
    }

    /// What a cursor is bound to: the same filter and order.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = format!(
            "{}|{}|{:?}",
            self.filter
                .as_ref()
                .map(|f| f.to_string())
                .unwrap_or_default(),
            self.sort_by
                .as_ref()
                .map(|p| p.to_string().to_lowercase())
                .unwrap_or_default(),
            self.sort_order
        );
        hex::encode(&Sha256::digest(text.as_bytes())[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(cursor: Option<&str>, start: Option<&str>) -> RawListQuery {
        RawListQuery {
            filter: Some("userName sw \"a\"".into()),
            cursor: cursor.map(str::to_owned),
            start_index: start.map(str::to_owned),
            ..RawListQuery::default()
        }
    }

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_query() {
        let q = ListQuery::parse(&raw(Some(""), None), 100, Limits::default()).unwrap();
        assert_eq!(q.paging, Paging::Cursor(None));
        let c = Cursor {
            key: Some("bob".into()),
            id: uuid::Uuid::nil(),
            query: q.fingerprint(),
        };
        let encoded = c.encode();
        assert!(encoded.chars().all(|ch| ch.is_ascii_hexdigit()));
        let q2 = ListQuery::parse(&raw(Some(&encoded), None), 100, Limits::default()).unwrap();
        assert_eq!(q2.paging, Paging::Cursor(Some(c.clone())));
        let other = RawListQuery {
            filter: Some("userName sw \"b\"".into()),
            cursor: Some(encoded),
            ..RawListQuery::default()
        };
        let err = ListQuery::parse(&other, 100, Limits::default()).unwrap_err();
        assert_eq!(err.scim_type(), Some(ScimType::InvalidCursor));
        let err = ListQuery::parse(&raw(Some("zz"), None), 100, Limits::default()).unwrap_err();
        assert_eq!(err.scim_type(), Some(ScimType::InvalidCursor));
        let err = ListQuery::parse(&raw(Some(""), Some("1")), 100, Limits::default()).unwrap_err();
        assert_eq!(err.status(), 400);
    }
}
