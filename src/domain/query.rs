//! List query parameters (RFC 7644 §3.4.2): filter, paging, sorting and
//! projection, parsed once into typed values.

use super::filter::{self, AttrPath, Filter, Limits};
use super::projection::Projection;
use crate::error::{ScimError, ScimResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// 1-based.
    pub start_index: u64,
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
        let start_index = number(raw.start_index.as_deref(), "startIndex")?
            .unwrap_or(1)
            .max(1) as u64;
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
        Ok(Self {
            filter,
            start_index,
            count,
            sort_by,
            sort_order,
            projection: parse_projection(
                raw.attributes.as_deref(),
                raw.excluded_attributes.as_deref(),
            )?,
        })
    }
}
