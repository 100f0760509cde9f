//! The page frame (head, navigation, sign-out form) and small pieces every
//! page uses: times, badges, paging links.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

/// Which top-level section a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Directories,
    Accounts,
    Sites,
}

/// What the signed-in frame needs: the section to highlight and the
/// sign-out form's CSRF token.
pub struct Nav<'a> {
    pub section: Section,
    pub csrf: &'a str,
}

pub fn render(status: StatusCode, title: &str, nav: Option<Nav<'_>>, body: Markup) -> HttpResponse {
    let link = |s: Section, href: &str, label: &str| {
        let current = nav.as_ref().is_some_and(|n| n.section == s);
        html! {
            a href=(href) aria-current=[current.then_some("page")] { (label) }
        }
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · SCIM admin" }
                link rel="stylesheet" href="/admin/static/admin.css";
            }
            body {
                header.top {
                    a.brand href="/admin/" { "SCIM admin" }
                    @if let Some(n) = &nav {
                        nav {
                            (link(Section::Directories, "/admin/directories", "Directories"))
                            (link(Section::Accounts, "/admin/accounts", "Managed accounts"))
                            (link(Section::Sites, "/admin/sites", "Sites"))
                        }
                        form.signout method="post" action="/admin/sign-out" {
                            (csrf_field(n.csrf))
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.into_string())
}

pub fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// A time for people, with the exact value in `datetime`.
pub fn when(t: Option<DateTime<Utc>>, none: &str) -> Markup {
    match t {
        Some(t) => html! {
            time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) }
        },
        None => html! { span.muted { (none) } },
    }
}

/// A status word as a coloured badge (`badge-<status>` in the CSS).
pub fn badge(word: &str) -> Markup {
    let class = format!("badge badge-{}", word.replace('_', "-"));
    html! { span class=(class) { (word.replace('_', " ")) } }
}

/// "First page" / "Next page" links of a keyset-paged list.
pub fn pager(first: Option<String>, next: Option<String>) -> Markup {
    html! {
        @if first.is_some() || next.is_some() {
            nav.pager aria-label="Pages" {
                @if let Some(f) = first { a href=(f) { "« First page" } }
                @if let Some(n) = next { a href=(n) rel="next" { "Next page »" } }
            }
        }
    }
}
