//! Managed accounts page: summary figures, the list (status, synced badge,
//! product access) with paging, one account's detail, and its lifecycle
//! forms. The rules that enable or disable a button are the ones the JSON
//! API applies (`domain::admin_rules` through `Lifecycle::check`).

use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::error::{WebError, WebResult};
use super::layout::{Section, badge, csrf_field, pager, when};
use super::session::{CsrfForm, WebAdmin};
use super::{given, query_string, see_other};
use crate::domain::admin_rules;
use crate::domain::lifecycle::AccountStatus;
use crate::http::AppState;
use crate::http::admin::accounts::{self as api, Lifecycle, ListParams};
use crate::http::admin::{page_limit, split_page, uuid_cursor};
use crate::service;
use crate::store::account_detail::AccountView;
use crate::store::accounts;
use crate::store::site_users::{self, Access, by_account};

/// "Jira on acme.example.net (admin, via group Engineering)".
pub fn access_line(r: &Access, with_site: bool) -> Markup {
    html! {
        li {
            strong { (r.product) }
            @if with_site { " on " (r.site_name) }
            @if r.role != admin_rules::ProductRole::User { " (" (r.role) ")" }
            @if let Some((_, group, dir)) = &r.via_group {
                small.muted { " via group " (group)
                    @if let Some(d) = dir { " (synced by " (d) ")" } }
            }
        }
    }
}

fn name_of(a: &AccountView) -> &str {
    a.display_name
        .as_deref()
        .or(a.email.as_deref())
        .unwrap_or("(no name)")
}

fn synced_badge(by: Option<&String>) -> Markup {
    html! {
        @match by {
            Some(d) => span.badge.badge-synced title="Provisioned by this directory; what the IdP owns is read-only here" {
                "synced · " (d)
            },
            None => span.muted { "not synced" },
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    admin: WebAdmin,
    params: web::Query<ListParams>,
) -> WebResult<HttpResponse> {
    let params = ListParams {
        status: given(&params.status),
        synced: given(&params.synced),
        q: given(&params.q),
        limit: given(&params.limit),
        cursor: given(&params.cursor),
    };
    let limit = page_limit(&state, params.limit.as_deref())?;
    let after = uuid_cursor(params.cursor.as_deref())?;
    let f = api::filter_of(&params)?;
    let org_id = admin.org_id();
    let db = state.store.reader();
    let summary = accounts::summary(db, org_id).await?;
    let rows = accounts::managed_page(db, org_id, &f, after, limit + 1).await?;
    let (rows, next) = split_page(rows, limit, |a| a.id);
    let ids: Vec<Uuid> = rows.iter().map(|a| a.id).collect();
    let synced = accounts::synced_by(db, org_id, &ids).await?;
    let access = site_users::access_of(db, org_id, None, &ids).await?;
    let access = by_account(&access, |r| r.account_id);
    let link = |cursor: Option<&str>| {
        let q = query_string([
            ("status", params.status.as_deref()),
            ("synced", params.synced.as_deref()),
            ("q", params.q.as_deref()),
            ("limit", params.limit.as_deref()),
            ("cursor", cursor),
        ]);
        format!("/admin/accounts{q}")
    };
    let first = after.is_some().then(|| link(None));
    let next = next.as_deref().map(|c| link(Some(c)));
    let pct = admin_rules::secure_login_percentage(summary.secure_login, summary.total);
    let is = |v: &Option<String>, w: &str| v.as_deref() == Some(w);
    let body = html! {
        h1 { "Managed accounts" }
        dl.figures {
            div { dt { "Managed accounts" } dd { (summary.total) } }
            div { dt { "Deactivated" } dd { (summary.deactivated) } }
            div { dt { "Secure login" } dd { (format!("{pct:.0}")) "%" } }
            div { dt { "Pending deletion" } dd { (summary.pending_deletion) } }
        }
        form.filters method="get" action="/admin/accounts" {
            label { "Status "
                select name="status" {
                    option value="" { "all but deleted" }
                    @for s in AccountStatus::ALL.map(|s| s.to_string()) {
                        option value=(s) selected[is(&params.status, &s)] { (s.replace('_', " ")) }
                    }
                }
            }
            label { "Synced "
                select name="synced" {
                    option value="" { "any" }
                    option value="yes" selected[is(&params.synced, "yes")] { "yes" }
                    option value="no" selected[is(&params.synced, "no")] { "no" }
                }
            }
            label { "Name or email " input type="search" name="q" value=[params.q.as_deref()]; }
            @if let Some(l) = &params.limit { input type="hidden" name="limit" value=(l); }
            button type="submit" { "Filter" }
            " " a href="/admin/accounts" { "Clear" }
        }
        @if rows.is_empty() {
            p.empty { "No managed accounts match. Accounts become managed when their email domain is verified." }
        } @else {
            table.accounts {
                thead { tr {
                    th { "Account" } th { "Status" } th { "Sync" } th { "Product access" } th { "Last active" }
                } }
                tbody {
                    @for a in &rows {
                        tr data-email=[a.email.as_deref()] {
                            td {
                                a href=(format!("/admin/accounts/{}", a.id)) { (name_of(a)) }
                                @if let Some(e) = &a.email { br; small.muted { (e) } }
                            }
                            td.status { (badge(&a.status.to_string())) }
                            td.sync { (synced_badge(synced.get(&a.id))) }
                            td {
                                @match access.get(&a.id) {
                                    Some(list) if !list.is_empty() => ul.plain { @for r in list { (access_line(r, true)) } },
                                    _ => span.muted { "none" },
                                }
                            }
                            td { (when(a.last_active_at, "never")) }
                        }
                    }
                }
            }
        }
        (pager(first, next))
    };
    Ok(admin.page(Section::Accounts, "Managed accounts", body))
}

#[derive(Debug, Deserialize)]
pub struct AccountPath {
    pub account_id: Uuid,
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailParams {
    /// The lifecycle action that just succeeded.
    pub done: Option<String>,
}

fn done_message(l: Lifecycle) -> &'static str {
    match l {
        Lifecycle::Deactivate => "The account was deactivated: it can't log in anywhere.",
        Lifecycle::Reactivate => "The account was reactivated.",
        Lifecycle::Delete => {
            "The account is pending deletion; you can cancel until the grace period ends."
        }
        Lifecycle::CancelDeletion => "The deletion was cancelled.",
    }
}

fn label(l: Lifecycle) -> &'static str {
    match l {
        Lifecycle::Deactivate => "Deactivate",
        Lifecycle::Reactivate => "Reactivate",
        Lifecycle::Delete => "Delete",
        Lifecycle::CancelDeletion => "Cancel deletion",
    }
}

/// The actions that make sense in a status (the others are not shown).
fn offered(status: AccountStatus) -> &'static [Lifecycle] {
    match status {
        AccountStatus::Active => &[Lifecycle::Deactivate, Lifecycle::Delete],
        AccountStatus::Deactivated => &[Lifecycle::Reactivate, Lifecycle::Delete],
        AccountStatus::PendingDeletion => &[Lifecycle::CancelDeletion],
        _ => &[],
    }
}

pub async fn detail(
    state: web::Data<AppState>,
    admin: WebAdmin,
    path: web::Path<AccountPath>,
    params: web::Query<DetailParams>,
) -> WebResult<HttpResponse> {
    let d = service::accounts::detail(&state.store, admin.org_id(), path.account_id).await?;
    let (a, facts, full) = (&d.account, &d.facts, d.full);
    let (tokens, sessions) = d.security.map_or((0, 0), |s| (s.api_tokens, s.sessions));
    let grace = state.settings.deletion_grace_days;
    let done = params
        .done
        .as_deref()
        .and_then(Lifecycle::parse)
        .map(done_message);
    let profile = [
        ("Display name", &a.display_name),
        ("Nickname", &a.nickname),
        ("Job title", &a.job_title),
        ("Department", &a.department),
        ("Organization", &a.organization),
        ("Location", &a.location),
        ("Timezone", &a.timezone),
        ("Locale", &a.locale),
    ];
    let title = name_of(a).to_owned();
    let body = html! {
        p.crumbs { a href="/admin/accounts" { "Managed accounts" } " / " (title) }
        h1 { (title) @if full { " " (badge(&a.status.to_string())) } }
        @if let Some(m) = done { p.notice role="status" { (m) } }
        dl.facts {
            dt { "Email" } dd { (a.email.as_deref().unwrap_or("—")) }
            dt { "Managed by your organization" } dd { @if facts.managed() { "yes" } @else { "no (external account)" } }
            dt { "Sync" } dd { (synced_badge(facts.synced_by.as_ref())) }
            @if full {
                dt { "Last active" } dd { (when(a.last_active_at, "never")) }
                @if let Some(t) = a.purge_after { dt { "Purged after" } dd { (when(Some(t), "")) } }
            }
        }
        @if full { section {
            h2 { "Lifecycle" }
            @let actions = offered(a.status);
            @if actions.is_empty() { p.muted { "No lifecycle actions for a deleted account." } }
            div.actions {
                @for l in actions {
                    @match l.check(facts, grace) {
                        Ok(()) => form method="post" action=(format!("/admin/accounts/{}/{}", a.id, l.slug())) {
                            (csrf_field(admin.csrf()))
                            button type="submit" class=(format!("action-{}", l.slug())) { (label(*l)) }
                        },
                        Err(e) => div.disabled-action {
                            button type="button" disabled class=(format!("action-{}", l.slug())) { (label(*l)) }
                            p.reason { (e.to_string()) }
                        },
                    }
                }
            }
        } }
        @if !d.links.is_empty() {
            section {
                h2 { "Provisioned by" }
                table {
                    thead { tr { th { "Directory" } th { "userName" } th { "SCIM id" } th { "Last synced" } } }
                    tbody { @for l in &d.links {
                        tr { td { (l.directory) } td { (l.user_name) } td { small { (l.scim_id) } } td { (when(Some(l.last_synced_at), "")) } }
                    } }
                }
                @for l in &d.links {
                    @if let Some(values) = l.custom.as_ref().filter(|v| !v.is_empty()) {
                        h3 { "Custom attributes from " (l.directory) }
                        dl.facts.custom-attributes {
                            @for (path, value) in values.display_lines() { dt { (path) } dd { (value) } }
                        }
                    }
                }
            }
        }
        @if full { section {
            h2 { "Profile" }
            dl.facts { @for (k, v) in profile { dt { (k) } dd { (v.as_deref().unwrap_or("—")) } } }
        } }
        section {
            h2 { "Sites and product access" }
            @if d.sites.is_empty() { p.muted { "Not on any of your sites." } }
            @else {
                table {
                    thead { tr { th { "Site" } th { "Status" } th { "Last active" } th { "Product access" } } }
                    tbody { @for m in &d.sites {
                        tr {
                            td { a href=(format!("/admin/sites/{}/users", m.site_id)) { (m.site) } }
                            td { (badge(&m.status.to_string())) }
                            td { (when(m.last_active_at, "never")) }
                            td { @if m.access.is_empty() { span.muted { "none" } }
                                @else { ul.plain { @for r in &m.access { (access_line(r, false)) } } } }
                        }
                    } }
                }
            }
        }
        section {
            h2 { "Groups" }
            @if d.groups.is_empty() { p.muted { "No groups." } }
            @else { ul { @for g in &d.groups { li { (g.name)
                @if let Some(dir) = &g.synced_by { " " small.muted { "(synced by " (dir) ")" } } } } } }
        }
        @if full { section {
            h2 { "Security" }
            dl.facts {
                dt { "Two-step verification" } dd { @if a.two_step_enabled { "on" } @else { "off" } }
                dt { "Excluded from two-step until" } dd { (when(a.two_step_excluded_until, "not excluded")) }
                dt { "SAML SSO" } dd { @if a.saml_sso { "yes" } @else { "no" } }
                dt { "Password reset required" } dd { @if a.password_reset_required { "yes" } @else { "no" } }
                dt { "Active API tokens" } dd { (tokens) }
                dt { "Active sessions" } dd { (sessions) }
            }
        } }
    };
    Ok(admin.page(Section::Accounts, &title, body))
}

#[derive(Debug, Deserialize)]
pub struct ActionPath {
    pub account_id: Uuid,
    pub action: String,
}

/// A lifecycle form: the same function the JSON API's lifecycle routes run.
pub async fn lifecycle(
    state: web::Data<AppState>,
    admin: WebAdmin,
    path: web::Path<ActionPath>,
    form: web::Form<CsrfForm>,
) -> WebResult<HttpResponse> {
    let action = Lifecycle::parse(&path.action).ok_or_else(WebError::not_found)?;
    admin.check_csrf(&form.csrf)?;
    api::lifecycle(&state, &admin.principal, path.account_id, action).await?;
    Ok(see_other(&format!(
        "/admin/accounts/{}?done={}",
        path.account_id,
        action.slug()
    )))
}
