//! `POST /.search` at the directory's root (RFC 7644 §3.4.3): Users then
//! Groups, one index-paged list. A filter naming an attribute one resource
//! type doesn't have matches nothing of that type.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::auth::Directory;
use super::body::ScimBody;
use super::error::SCIM_CONTENT_TYPE;
use super::scim::directory_base;
use super::search::raw_query_from_body;
use super::{groups as http_groups, users as http_users};
use crate::domain::filter::Limits;
use crate::domain::query::{ListQuery, Paging};
use crate::domain::schema::{LIST_RESPONSE_SCHEMA, ResourceKind};
use crate::error::{ScimError, ScimResult, ScimType};
use crate::startup::AppState;
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
    let limits = Limits {
        max_len: state.settings.filter_max_len,
        max_depth: state.settings.filter_max_depth,
    };
    let q = ListQuery::parse(&raw, state.settings.max_results, limits)?;
    let start = q.start_index();
    let base = directory_base(&state, &req, dir.directory_id);

    // `sortBy` orders each type by the attribute where the type has it.
    let mut uq = q.clone();
    if let Some(p) = &uq.sort_by
        && filter_sql::user_column(p, dir.directory_id).is_err()
    {
        uq.sort_by = None;
    }
    let (users_total, users_page, users_err) =
        match users::list(state.store.reader(), &dir, &uq).await {
            Ok(p) => (p.total.unwrap_or_default(), p.users, None),
            Err(e) if unknown_attribute(&e) => (0, vec![], Some(e)),
            Err(e) => return Err(e),
        };
    // Groups continue where Users end.
    let mut gq = q.clone();
    let skip_groups = (start - 1).saturating_sub(users_total);
    gq.paging = Paging::Index {
        start_index: skip_groups + 1,
    };
    gq.count = q.count - users_page.len() as u64;
    if let Some(p) = &gq.sort_by
        && filter_sql::group_column(p).is_err()
    {
        gq.sort_by = None;
    }
    let (groups_total, groups_page) = match groups::list(state.store.reader(), &dir, &gq).await {
        Ok(p) => (p.total.unwrap_or_default(), p.groups),
        Err(e) if unknown_attribute(&e) => match users_err {
            // Neither type knows the attribute: the filter is wrong.
            Some(ue) => return Err(ue),
            None => (0, vec![]),
        },
        Err(e) => return Err(e),
    };
    let managers =
        http_users::manager_names(&state, &dir, &users_page.iter().collect::<Vec<_>>()).await?;
    let custom =
        http_users::custom_of(&state, &dir, &users_page.iter().collect::<Vec<_>>()).await?;
    let users_json: Vec<String> = users_page
        .iter()
        .map(|u| {
            q.projection
                .apply_with(
                    ResourceKind::User,
                    http_users::render(&base, u, &managers).0,
                    &custom,
                )
                .to_string()
        })
        .collect();
    let head = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": users_total + groups_total,
        "startIndex": start,
        "itemsPerPage": users_page.len() + groups_page.len(),
    })
    .to_string();
    let mut head = format!(
        "{},\"Resources\":[{}",
        head.strip_suffix('}').unwrap_or(&head),
        users_json.join(",")
    );
    if !users_json.is_empty() && !groups_page.is_empty() {
        head.push(',');
    }
    let ids: Vec<uuid::Uuid> = groups_page.iter().map(|g| g.id).collect();
    let group_custom =
        crate::store::org_schemas::GroupCustom::load(state.store.reader(), dir.org_id, &ids)
            .await?;
    let rendered = groups_page
        .iter()
        .map(|g| http_groups::render(&base, g, &q.projection, &group_custom))
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE))
        .streaming(http_groups::stream_body(
            http_groups::Reader::Pool(state.store.reader().clone()),
            dir.directory_id,
            &base,
            q.projection.clone(),
            rendered,
            head,
            "]}".into(),
        )))
}
