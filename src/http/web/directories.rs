//! Directories page: each directory's sync status, and its sync log with
//! filters and paging. A failure shows the error detail the IdP got.

use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::error::{WebError, WebResult};
use super::layout::{Section, badge, pager, when};
use super::session::WebAdmin;
use super::{given, query_string};
use crate::http::AppState;
use crate::http::admin::directories::LogParams;
use crate::http::admin::{int_cursor, page_limit, split_page};
use crate::store::sync_status::{self, LogFilter, SyncOutcome};

/// What the operation filter suggests (it accepts any text).
const OPERATIONS: &[&str] = &[
    "POST /Users",
    "PUT /Users/{id}",
    "PATCH /Users/{id}",
    "DELETE /Users/{id}",
    "POST /Groups",
    "PUT /Groups/{id}",
    "PATCH /Groups/{id}",
    "DELETE /Groups/{id}",
    "POST /Bulk",
];

pub async fn list(state: web::Data<AppState>, admin: WebAdmin) -> WebResult<HttpResponse> {
    let db = state.store.reader();
    let rows = sync_status::overview(db, admin.org_id()).await?;
    let body = html! {
        h1 { "Directories" }
        p.lead { "Identity-provider connections of your organization and how their sync is going." }
        @if rows.is_empty() {
            p.empty { "No directories yet. An operator creates one with "
                code { "scim-server directory create" } "." }
        } @else {
            table {
                thead { tr {
                    th { "Directory" } th { "Last sync" } th.num { "Synced users" }
                    th.num { "Synced groups" } th.num { "Failures (24 h)" }
                    th.num { "Ignored attributes (24 h)" } th { "Sync log" }
                } }
                tbody {
                    @for (d, s) in &rows {
                        tr {
                            td { strong { (d.name) } br; small.muted { (d.id) } }
                            td { (when(s.last_sync, "never")) }
                            td.num { (s.users) }
                            td.num { (s.groups) }
                            td.num {
                                @if s.failed_last_24h > 0 {
                                    a.failures href=(format!("/admin/directories/{}/sync-log?outcome=failure", d.id)) {
                                        (s.failed_last_24h)
                                    }
                                } @else { "0" }
                            }
                            td.num {
                                @if s.warnings_last_24h > 0 {
                                    a.warnings href=(format!("/admin/directories/{}/sync-log?outcome=warning", d.id)) {
                                        (s.warnings_last_24h)
                                    }
                                } @else { "0" }
                            }
                            td { a href=(format!("/admin/directories/{}/sync-log", d.id)) { "View sync log" } }
                        }
                    }
                }
            }
        }
    };
    Ok(admin.page(Section::Directories, "Directories", body))
}

#[derive(Debug, Deserialize)]
pub struct DirectoryPath {
    pub directory_id: Uuid,
}

pub async fn sync_log(
    state: web::Data<AppState>,
    admin: WebAdmin,
    path: web::Path<DirectoryPath>,
    params: web::Query<LogParams>,
) -> WebResult<HttpResponse> {
    let limit = page_limit(&state, params.limit.as_deref())?;
    let before = int_cursor(params.cursor.as_deref())?;
    let outcome = given(&params.outcome);
    let f = LogFilter {
        outcome: match outcome.as_deref() {
            None => None,
            Some(o) => Some(SyncOutcome::from_name(o).ok_or_else(|| {
                WebError::bad_request(format!(
                    "outcome must be success, failure or warning, got {o:?}"
                ))
            })?),
        },
        operation: given(&params.operation),
        resource_type: given(&params.resource_type),
    };
    let db = state.store.reader();
    let d = sync_status::directory_view(db, admin.org_id(), path.directory_id).await?;
    let rows = sync_status::log_page(db, d.id, &f, before, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |r| r.id);
    let base = format!("/admin/directories/{}/sync-log", d.id);
    let limit_param = given(&params.limit);
    let link = |cursor: Option<&str>| {
        let q = query_string([
            ("outcome", outcome.as_deref()),
            ("operation", f.operation.as_deref()),
            ("resource_type", f.resource_type.as_deref()),
            ("limit", limit_param.as_deref()),
            ("cursor", cursor),
        ]);
        format!("{base}{q}")
    };
    let first = before.is_some().then(|| link(None));
    let next = next.as_deref().map(|c| link(Some(c)));
    let selected = |field: &Option<String>, v: &str| field.as_deref() == Some(v);
    let title = format!("Sync log of {}", d.name);
    let body = html! {
        p.crumbs { a href="/admin/directories" { "Directories" } " / " (d.name) }
        h1 { "Sync log of " (d.name) }
        form.filters method="get" action=(base) {
            label { "Outcome "
                select name="outcome" {
                    option value="" { "any" }
                    option value="success" selected[selected(&outcome, "success")] { "success" }
                    option value="failure" selected[selected(&outcome, "failure")] { "failure" }
                    option value="warning" selected[selected(&outcome, "warning")] { "warning" }
                }
            }
            label { "Operation "
                input name="operation" list="operations" value=[f.operation.as_deref()]
                    placeholder="any, e.g. POST /Users";
            }
            datalist #operations { @for o in OPERATIONS { option value=(o) {} } }
            label { "Resource type "
                select name="resource_type" {
                    option value="" { "any" }
                    @for t in ["User", "Group", "Bulk"] {
                        option value=(t) selected[selected(&f.resource_type, t)] { (t) }
                    }
                }
            }
            @if let Some(l) = &limit_param { input type="hidden" name="limit" value=(l); }
            button type="submit" { "Filter" }
            " " a href=(base) { "Clear" }
        }
        @if rows.is_empty() {
            p.empty { "No entries match." }
        } @else {
            table.log {
                thead { tr {
                    th { "When" } th { "Operation" } th { "Resource" } th { "Outcome" }
                    th.num { "HTTP" } th { "Detail" }
                } }
                tbody {
                    @for r in &rows {
                        tr class=(format!("entry-{}", r.outcome)) {
                            td { (when(Some(r.at), "")) }
                            td { code { (r.operation) } }
                            td { (r.resource_type)
                                @if let Some(id) = &r.resource_id { br; small.muted { (id) } } }
                            td { (badge(&r.outcome.to_string())) }
                            td.num { (r.status) }
                            td {
                                @if let Some(detail) = &r.detail { p.detail { (detail) } }
                                @if let Some(rid) = &r.request_id { small.muted { "request " (rid) } }
                            }
                        }
                    }
                }
            }
        }
        (pager(first, next))
    };
    Ok(admin.page(Section::Directories, &title, body))
}
