//! `POST /.search` at the directory's root (RFC 7644 §3.4.3): Users then
//! Groups, one index-paged list. A filter naming an attribute one resource
//! type doesn't have matches nothing of that type.

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::auth::Directory;
use super::body::ScimBody;
use super::scim::{directory_base, limits};
use super::search::raw_query_from_body;
use super::{groups as http_groups, users as http_users};
use crate::domain::query::{ListQuery, Paging};
use crate::domain::schema::LIST_RESPONSE_SCHEMA;
use crate::error::{ScimError, ScimResult, ScimType};
use crate::http::AppState;
use crate::store::{filter_sql, groups, users};

fn unknown_attribute(e: &ScimError) -> bool {
    e.scim_type() == Some(ScimType::InvalidFilter) && e.detail().starts_with("unknown attribute")
}

pub async fn search(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    body: ScimBody,
) -> ScimResult<HttpResponse> {
    let raw = raw_query_from_body(&body.into_value()?)?;
    if raw.cursor.is_some() {
        return Err(ScimError::invalid_value(
            "cursor paging is offered on /Users and /Groups, not on the root /.search; use startIndex",
        ));
    }
    let q = ListQuery::parse(&raw, state.settings.max_results, limits(&state))?;
    let start = q.start_index();
    let base = directory_base(&state, &req, dir.directory_id);

    // `sortBy` orders each type by the attribute where the type has it.
    let mut uq = q.clone();
    if let Some(p) = &uq.sort_by
        && filter_sql::user_column(p, dir.directory_id).is_err()
    {
        uq.sort_by = None;
    }
    let (users_total, users_links, users_err) = match users::list(state.store.reader(), &dir, &uq)
        .await
        .map_err(ScimError::from)
    {
        Ok(p) => (p.total.unwrap_or_default(), p.users, None),
        Err(e) if unknown_attribute(&e) => {
            (0, users::PageReader::new(dir.directory_id, vec![]), Some(e))
        }
        Err(e) => return Err(e),
    };
    // One byte budget (SCIM_MAX_PAGE_BYTES) for the whole page: Users
    // first; a page the Users fill shows no Groups, and the next
    // `startIndex` (start + itemsPerPage) continues where it stopped.
    let mut budget = http_users::PageBudget::new(state.settings.max_page_bytes);
    let listed = users_links.len();
    let users_json =
        http_users::render_within(&state, &dir, &base, &q.projection, users_links, &mut budget)
            .await?;
    let users_cut = users_json.len() < listed;
    // Groups continue where Users end.
    let mut gq = q.clone();
    let skip_groups = (start - 1).saturating_sub(users_total);
    gq.paging = Paging::Index {
        start_index: skip_groups + 1,
    };
    gq.count = if users_cut {
        0
    } else {
        q.count - users_json.len() as u64
    };
    if let Some(p) = &gq.sort_by
        && filter_sql::group_column(p).is_err()
    {
        gq.sort_by = None;
    }
    let (groups_total, groups_page) = match groups::list(state.store.reader(), &dir, &gq)
        .await
        .map_err(ScimError::from)
    {
        Ok(p) => (p.total.unwrap_or_default(), p.groups),
        Err(e) if unknown_attribute(&e) => match users_err {
            // Neither type knows the attribute: the filter is wrong.
            Some(ue) => return Err(ue),
            None => (0, vec![]),
        },
        Err(e) => return Err(e),
    };
    let ids: Vec<uuid::Uuid> = groups_page.iter().map(|g| g.id).collect();
    let group_custom =
        crate::store::org_schemas::GroupCustom::load(state.store.reader(), dir.org_id, &ids)
            .await?;
    let rendered = groups_page
        .iter()
        .map(|g| http_groups::render(&base, g, &q.projection, &group_custom))
        .collect();
    let reader = http_groups::Reader::Pool(state.store.reader().clone());
    let fitted = http_groups::fit(
        &reader,
        dir.directory_id,
        &base,
        &q.projection,
        rendered,
        &mut budget,
    )
    .await?;
    let head = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": users_total + groups_total,
        "startIndex": start,
        "itemsPerPage": users_json.len() + fitted.shown,
    })
    .to_string();
    let users_json: Vec<String> = users_json.iter().map(|v| v.to_string()).collect();
    let mut head = format!(
        "{},\"Resources\":[{}",
        head.strip_suffix('}').unwrap_or(&head),
        users_json.join(",")
    );
    if !users_json.is_empty() && fitted.shown > 0 {
        head.push(',');
    }
    Ok(http_groups::respond(
        reader,
        dir.directory_id,
        &base,
        q.projection.clone(),
        head,
        fitted,
        "]}".into(),
    )
    .await)
}
