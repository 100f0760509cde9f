//! The organization's change-event feed, oldest first, resumable from a
//! cursor (the sequence number of the last event read).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::AdminPrincipal;
use super::{int_cursor, page_limit};
use crate::admin_error::{AdminError, AdminResult, codes};
use crate::http::AppState;
use crate::store::events::{self, EventType};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Events after this cursor (the `next_cursor` of an earlier page, or
    /// a `seq`); none: from the oldest kept event.
    pub after: Option<String>,
    /// Only these types, comma-separated (e.g. `account.deactivated,group.member_added`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub r#type: Option<String>,
    /// Page size (default 50, at most `SCIM_MAX_RESULTS`).
    pub limit: Option<String>,
}

/// The `type` filter: every name must be a known event type.
pub fn parse_types(raw: Option<&str>) -> AdminResult<Vec<EventType>> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(vec![]);
    };
    raw.split(',')
        .map(str::trim)
        .map(|t| {
            EventType::parse(t).ok_or_else(|| {
                AdminError::invalid(format!(
                    "unknown event type {t:?}; known types: {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ))
            })
        })
        .collect()
}

/// The `after` cursor: a sequence number (0 or more).
pub fn parse_after(raw: Option<&str>) -> AdminResult<Option<i64>> {
    match int_cursor(raw)? {
        Some(n) if n < 0 => Err(AdminError::bad_request(
            codes::INVALID_CURSOR,
            "the cursor is not one this server issued; start again without a cursor",
        )),
        c => Ok(c),
    }
}

#[utoipa::path(get, path = "/admin/v1/orgs/{org_id}/events", tag = "events",
    params(super::OrgPath, EventParams),
    responses((status = 200, description = "Oldest first: {items, next_cursor, has_more}. Each item: id, seq (the organization's sequence number: commit order), type, occurred_at, organization_id, directory_id, actor, request_id, data. next_cursor is where to resume (pass it as `after`), also when the page is empty or the last one."),
        (status = 400, description = "invalid_request (unknown type, bad limit) / invalid_cursor")))]
pub async fn list(
    state: web::Data<AppState>,
    admin: AdminPrincipal,
    params: web::Query<EventParams>,
) -> AdminResult<HttpResponse> {
    let limit = page_limit(&state, params.limit.as_deref())?;
    let after = parse_after(params.after.as_deref())?;
    let types = parse_types(params.r#type.as_deref())?;
    let mut rows = events::page(
        state.store.reader(),
        admin.org_id(),
        after,
        &types,
        limit + 1,
    )
    .await?;
    let has_more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = rows
        .last()
        .map(events::FeedEvent::seq)
        .or(after)
        .unwrap_or(0);
    Ok(HttpResponse::Ok().json(json!({
        "items": rows.iter().map(events::FeedEvent::to_json).collect::<Vec<_>>(),
        "next_cursor": next.to_string(),
        "has_more": has_more,
    })))
}
