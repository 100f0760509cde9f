//! Sites page: the organization's sites and each site's users (managed and
//! external accounts alike) with status, last active and product access.

use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::accounts::access_line;
use super::error::WebResult;
use super::layout::{Section, badge, pager, when};
use super::session::WebAdmin;
use super::{given, query_string};
use crate::domain::admin_rules::MembershipStatus;
use crate::http::AppState;
use crate::http::admin::sites::{UsersParams, member_filter};
use crate::http::admin::{page_limit, split_page, uuid_cursor};
use crate::store::site_users::{self, by_account};

pub async fn list(state: web::Data<AppState>, admin: WebAdmin) -> WebResult<HttpResponse> {
    let sites = site_users::sites_of_org(state.store.reader(), admin.org_id()).await?;
    let body = html! {
        h1 { "Sites" }
        @if sites.is_empty() {
            p.empty { "No sites yet. An operator creates one with " code { "scim-server site create" } "." }
        } @else {
            table {
                thead { tr { th { "Site" } th { "Created" } th { "Users" } } }
                tbody { @for s in &sites {
                    tr {
                        td { strong { (s.name) } }
                        td { (when(Some(s.created_at), "")) }
                        td { a href=(format!("/admin/sites/{}/users", s.id)) { "View users" } }
                    }
                } }
            }
        }
    };
    Ok(admin.page(Section::Sites, "Sites", body))
}

#[derive(Debug, Deserialize)]
pub struct SitePath {
    pub site_id: Uuid,
}

pub async fn users(
    state: web::Data<AppState>,
    admin: WebAdmin,
    path: web::Path<SitePath>,
    params: web::Query<UsersParams>,
) -> WebResult<HttpResponse> {
    let params = UsersParams {
        status: given(&params.status),
        q: given(&params.q),
        product: given(&params.product),
        limit: given(&params.limit),
        cursor: given(&params.cursor),
    };
    let limit = page_limit(&state, params.limit.as_deref())?;
    let after = uuid_cursor(params.cursor.as_deref())?;
    let f = member_filter(&params)?;
    let org_id = admin.org_id();
    let db = state.store.reader();
    let site = site_users::site_of_org(db, org_id, path.site_id).await?;
    let rows = site_users::members_page(db, site.id, &f, after, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |(m, _)| m.account_id);
    let ids: Vec<Uuid> = rows.iter().map(|(m, _)| m.account_id).collect();
    let access = site_users::access_of(db, org_id, Some(site.id), &ids).await?;
    let access = by_account(&access, |r| r.account_id);
    let base = format!("/admin/sites/{}/users", site.id);
    let link = |cursor: Option<&str>| {
        let q = query_string([
            ("status", params.status.as_deref()),
            ("q", params.q.as_deref()),
            ("product", params.product.as_deref()),
            ("limit", params.limit.as_deref()),
            ("cursor", cursor),
        ]);
        format!("{base}{q}")
    };
    let first = after.is_some().then(|| link(None));
    let next = next.as_deref().map(|c| link(Some(c)));
    let is = |v: &Option<String>, w: &str| v.as_deref() == Some(w);
    let title = format!("Users of {}", site.name);
    let body = html! {
        p.crumbs { a href="/admin/sites" { "Sites" } " / " (site.name) }
        h1 { (title) }
        form.filters method="get" action=(base) {
            label { "Status "
                select name="status" {
                    option value="" { "any" }
                    @for s in MembershipStatus::ALL.map(|s| s.to_string()) {
                        option value=(s) selected[is(&params.status, &s)] { (s) }
                    }
                }
            }
            label { "Name or email " input type="search" name="q" value=[params.q.as_deref()]; }
            @if let Some(l) = &params.limit { input type="hidden" name="limit" value=(l); }
            button type="submit" { "Filter" }
            " " a href=(base) { "Clear" }
        }
        @if rows.is_empty() {
            p.empty { "No users match." }
        } @else {
            table {
                thead { tr {
                    th { "User" } th { "Account" } th { "Status" } th { "Last active" } th { "Product access" }
                } }
                tbody { @for (m, a) in &rows {
                    tr {
                        td {
                            a href=(format!("/admin/accounts/{}", a.id)) {
                                (a.display_name.as_deref().or(a.email.as_deref()).unwrap_or("(no name)"))
                            }
                            @if let Some(e) = &a.email { br; small.muted { (e) } }
                        }
                        td { @if a.managing_org_id == Some(org_id) { "managed" } @else { span.muted { "external" } } }
                        td { (badge(&m.status.to_string())) }
                        td { (when(m.last_active_at, "never")) }
                        td { @match access.get(&a.id) {
                            Some(list) if !list.is_empty() => ul.plain { @for r in list { (access_line(r, false)) } },
                            _ => span.muted { "none" },
                        } }
                    }
                } }
            }
        }
        (pager(first, next))
    };
    Ok(admin.page(Section::Sites, &title, body))
}
