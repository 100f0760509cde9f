//! `/Groups`. Members are streamed from the database a page at a time, so
//! reading a group of a million members keeps memory bounded; with
//! `excludedAttributes=members` they are not touched at all.

use std::collections::VecDeque;

use actix_web::http::{StatusCode, header};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Directory;
use super::error::SCIM_CONTENT_TYPE;
use super::scim::{
    ProjectionParams, ResourceName, ResourcePath, directory_base, limits, list_head, not_modified,
};
use super::search::Search;
use super::writes::{Answer, Writes};
use crate::domain::error::DomainError;
use crate::domain::group::{self as domain_group, MemberView};
use crate::domain::projection::Projection;
use crate::domain::query::{ListQuery, RawListQuery, parse_projection};
use crate::domain::schema::ResourceKind;
use crate::domain::user::Meta;
use crate::error::ScimResult;
use crate::http::AppState;
use crate::store::groups::{self, ScimGroup};
use crate::store::org_schemas;

/// Members read per database round trip while streaming.
const MEMBER_PAGE: u64 = 1000;

fn meta(base: &str, g: &ScimGroup) -> Meta {
    Meta {
        id: g.id.to_string(),
        resource_type: "Group",
        created: g.created_at,
        last_modified: g.last_modified,
        version: g.version,
        location: format!("{base}/Groups/{}", g.id),
    }
}

/// A group's JSON (projected) and, when members are to be returned, the
/// text it must be split at to insert them.
pub(super) struct Rendered {
    /// The JSON without its closing `}`, when members follow.
    open: Option<String>,
    /// The whole JSON, when no members follow.
    whole: Option<String>,
    group_id: Uuid,
}

pub(super) fn render(
    base: &str,
    g: &ScimGroup,
    p: &Projection,
    custom: &org_schemas::GroupCustom,
) -> Rendered {
    let m = meta(base, g);
    let mut v = domain_group::group_json(&g.display_name, g.external_id.as_deref(), &m);
    org_schemas::add_group_values(&mut v, custom.values.get(&g.id));
    let v = p.apply_with(ResourceKind::Group, v, &custom.schemas);
    let text = v.to_string();
    if p.excludes(ResourceKind::Group, "members") {
        return Rendered {
            open: None,
            whole: Some(text),
            group_id: g.id,
        };
    }
    let open = text.strip_suffix('}').unwrap_or(&text).to_owned();
    Rendered {
        open: Some(open),
        whole: None,
        group_id: g.id,
    }
}

enum Phase {
    /// Emit the next group's head (or the list's tail).
    NextGroup,
    /// Emit the next page of the current group's members.
    Members {
        group_id: Uuid,
        after: Option<Uuid>,
        first: bool,
    },
    Done,
}

/// Where streamed members are read from.
pub(super) use crate::store::groups::MemberReader as Reader;

struct StreamState {
    db: Option<Reader>,
    directory_id: Uuid,
    users_base: String,
    projection: Projection,
    groups: VecDeque<Rendered>,
    /// Text before the first group, between groups, after the last.
    head: Option<String>,
    sep: &'static str,
    tail: String,
    first_group: bool,
    phase: Phase,
}

fn project_members(p: &Projection, page: &[(Uuid, MemberView)], base: &str) -> Vec<Value> {
    let members: Vec<Value> = page.iter().map(|(_, m)| m.to_json(base)).collect();
    if p.is_default() {
        return members;
    }
    match p.apply(ResourceKind::Group, json!({"members": members})) {
        Value::Object(mut o) => match o.remove("members") {
            Some(Value::Array(a)) => a,
            _ => vec![],
        },
        _ => vec![],
    }
}

async fn next_chunk(mut st: StreamState) -> Option<(Result<Bytes, actix_web::Error>, StreamState)> {
    match std::mem::replace(&mut st.phase, Phase::Done) {
        Phase::Done => None,
        Phase::NextGroup => {
            let mut out = st.head.take().unwrap_or_default();
            match st.groups.pop_front() {
                None => {
                    out.push_str(&st.tail);
                    st.tail.clear();
                    st.phase = Phase::Done;
                    if let Some(db) = st.db.take() {
                        db.finish().await;
                    }
                    Some((Ok(Bytes::from(out)), st))
                }
                Some(r) => {
                    if !st.first_group {
                        out.push_str(st.sep);
                    }
                    st.first_group = false;
                    match (r.whole, r.open) {
                        (Some(whole), _) => {
                            out.push_str(&whole);
                            st.phase = Phase::NextGroup;
                        }
                        (None, Some(open)) => {
                            out.push_str(&open);
                            out.push_str(",\"members\":[");
                            st.phase = Phase::Members {
                                group_id: r.group_id,
                                after: None,
                                first: true,
                            };
                        }
                        (None, None) => st.phase = Phase::NextGroup,
                    }
                    Some((Ok(Bytes::from(out)), st))
                }
            }
        }
        Phase::Members {
            group_id,
            after,
            first,
        } => {
            let page = match st.db.as_ref() {
                Some(db) => db.page(st.directory_id, group_id, after, MEMBER_PAGE).await,
                None => Err(DomainError::internal("member stream without a reader")),
            };
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    // The status line is gone; end the body so the
                    // client sees a truncated (invalid) document.
                    tracing::error!(error = %e.chain(), "streaming group members failed");
                    return Some((Err(actix_web::error::ErrorInternalServerError("")), st));
                }
            };
            let last = page.last().map(|(a, _)| *a);
            let mut out = String::new();
            let items = project_members(&st.projection, &page, &st.users_base);
            for (i, m) in items.iter().enumerate() {
                if !(first && i == 0) {
                    out.push(',');
                }
                out.push_str(&m.to_string());
            }
            match last {
                Some(a) if page.len() as u64 == MEMBER_PAGE => {
                    st.phase = Phase::Members {
                        group_id,
                        after: Some(a),
                        first: first && items.is_empty(),
                    };
                }
                _ => {
                    out.push_str("]}");
                    st.phase = Phase::NextGroup;
                }
            }
            Some((Ok(Bytes::from(out)), st))
        }
    }
}

pub(super) fn stream_body(
    reader: Reader,
    directory_id: Uuid,
    base: &str,
    projection: Projection,
    groups: Vec<Rendered>,
    head: String,
    tail: String,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> + 'static {
    let st = StreamState {
        db: Some(reader),
        directory_id,
        users_base: format!("{base}/Users"),
        projection,
        groups: groups.into(),
        head: Some(head),
        sep: ",",
        tail,
        first_group: true,
        phase: Phase::NextGroup,
    };
    stream::unfold(st, next_chunk)
}

/// A page of groups fitted to its byte budget (`SCIM_MAX_PAGE_BYTES`).
pub(super) struct Fitted {
    /// The JSON of the groups shown, comma-separated; when `rest` is set,
    /// the last one is open: its members continue in a stream.
    pub text: String,
    /// Groups shown.
    pub shown: usize,
    /// (group, member to continue after, no member written yet) of a
    /// first group that alone passes the budget.
    rest: Option<(Uuid, Option<Uuid>, bool)>,
}

/// Renders `groups` (a page, in order) whole while they fit in `budget`,
/// reading their members [`MEMBER_PAGE`] at a time and no further than
/// the budget: a group that does not fit ends the page before it, its
/// members unread past the budget. The page's first resource is shown
/// whatever its size: when it alone passes the budget, the rest of its
/// members is streamed ([`respond`]) instead of held in memory.
pub(super) async fn fit(
    reader: &Reader,
    directory_id: Uuid,
    base: &str,
    projection: &Projection,
    groups: Vec<Rendered>,
    budget: &mut super::users::PageBudget,
) -> ScimResult<Fitted> {
    let users_base = format!("{base}/Users");
    let mut out = Fitted {
        text: String::new(),
        shown: 0,
        rest: None,
    };
    for r in groups {
        let first = budget.shown == 0;
        let text = match (r.whole, r.open) {
            (Some(whole), _) => whole,
            (None, Some(open)) => {
                let mut text = format!("{open},\"members\":[");
                let (mut after, mut any) = (None, false);
                loop {
                    let page = reader
                        .page(directory_id, r.group_id, after, MEMBER_PAGE)
                        .await?;
                    for m in project_members(projection, &page, &users_base) {
                        if any {
                            text.push(',');
                        }
                        text.push_str(&m.to_string());
                        any = true;
                    }
                    if (page.len() as u64) < MEMBER_PAGE {
                        text.push_str("]}");
                        break;
                    }
                    after = page.last().map(|(a, _)| *a);
                    if text.len() > budget.room() {
                        if !first {
                            // Does not fit: the page ends before it.
                            return Ok(out);
                        }
                        budget.take(text.len());
                        out.text.push_str(&text);
                        out.shown += 1;
                        out.rest = Some((r.group_id, after, !any));
                        return Ok(out);
                    }
                }
                text
            }
            (None, None) => continue,
        };
        if !budget.take(text.len()) {
            break;
        }
        if out.shown > 0 {
            out.text.push(',');
        }
        out.text.push_str(&text);
        out.shown += 1;
    }
    Ok(out)
}

/// The list response: `head`, the fitted groups, `tail`; in one body, or
/// streamed when a group's members continue past the budget.
pub(super) async fn respond(
    reader: Reader,
    directory_id: Uuid,
    base: &str,
    projection: Projection,
    head: String,
    fitted: Fitted,
    tail: String,
) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE));
    let prefix = head + &fitted.text;
    let Some((group_id, after, first)) = fitted.rest else {
        reader.finish().await;
        return res.body(prefix + &tail);
    };
    let st = StreamState {
        db: Some(reader),
        directory_id,
        users_base: format!("{base}/Users"),
        projection,
        groups: VecDeque::new(),
        head: None,
        sep: ",",
        tail,
        first_group: false,
        phase: Phase::Members {
            group_id,
            after,
            first,
        },
    };
    res.streaming(
        stream::once(async move { Ok::<_, actix_web::Error>(Bytes::from(prefix)) })
            .chain(stream::unfold(st, next_chunk)),
    )
}

async fn group_response(
    reader: Reader,
    status: StatusCode,
    dir: &Directory,
    base: &str,
    g: &ScimGroup,
    p: Projection,
) -> ScimResult<HttpResponse> {
    let m = meta(base, g);
    let custom = reader.custom(dir.org_id, &[g.id]).await?;
    let rendered = render(base, g, &p, &custom);
    let mut res = HttpResponse::build(status);
    res.insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE))
        .insert_header((header::ETAG, m.etag()))
        .insert_header((header::LOCATION, m.location.clone()));
    if let Some(whole) = rendered.whole {
        reader.finish().await;
        return Ok(res.body(whole));
    }
    Ok(res.streaming(stream_body(
        reader,
        dir.directory_id,
        base,
        p,
        vec![rendered],
        String::new(),
        String::new(),
    )))
}

/// `GET /Groups` and `POST /Groups/.search`.
pub struct Groups;

impl ResourceName for Groups {
    const NAME: &'static str = "Group";
}

impl Search for Groups {
    async fn search(
        state: &AppState,
        dir: &Directory,
        req: &HttpRequest,
        raw: &RawListQuery,
    ) -> ScimResult<HttpResponse> {
        let q = ListQuery::parse(raw, state.settings.max_results, limits(state))?;
        // The page and its members from one state of the database.
        let snapshot = state.store.snapshot().await?;
        let page = groups::list(&snapshot, dir, &q).await?;
        let base = directory_base(state, req, dir.directory_id);
        let ids: Vec<Uuid> = page.groups.iter().map(|g| g.id).collect();
        let custom = org_schemas::GroupCustom::load(&snapshot, dir.org_id, &ids).await?;
        let rendered: Vec<Rendered> = page
            .groups
            .iter()
            .map(|g| render(&base, g, &q.projection, &custom))
            .collect();
        let reader = Reader::Snapshot(snapshot);
        // The page stops early (honest `itemsPerPage`, a cursor resuming after
        // the last group shown) once its resources pass SCIM_MAX_PAGE_BYTES.
        let mut budget = super::users::PageBudget::new(state.settings.max_page_bytes);
        let fitted = fit(
            &reader,
            dir.directory_id,
            &base,
            &q.projection,
            rendered,
            &mut budget,
        )
        .await?;
        let next_cursor = if fitted.shown < page.groups.len() {
            fitted
                .shown
                .checked_sub(1)
                .and_then(|i| page.cursors.get(i).cloned())
        } else {
            page.next_cursor
        };
        let head = list_head(page.total, &q, fitted.shown, next_cursor.as_deref()).to_string();
        let head = format!(
            "{},\"Resources\":[",
            head.strip_suffix('}').unwrap_or(&head)
        );
        Ok(respond(
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
}

pub async fn get(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    id: ResourcePath<Groups>,
    params: web::Query<ProjectionParams>,
) -> ScimResult<HttpResponse> {
    let p = parse_projection(
        params.attributes.as_deref(),
        params.excluded_attributes.as_deref(),
    )?;
    let gid = id.id()?.id;
    // The head (and so the ETag) and the members from one state.
    let snapshot = state.store.snapshot().await?;
    let g = groups::get(&snapshot, &dir, gid)
        .await?
        .ok_or_else(|| id.not_found())?;
    if let Some(res) = not_modified(&req, g.version) {
        return Ok(res);
    }
    let base = directory_base(&state, &req, dir.directory_id);
    group_response(
        Reader::Snapshot(snapshot),
        StatusCode::OK,
        &dir,
        &base,
        &g,
        p,
    )
    .await
}

impl Writes for Groups {
    type Resource = ScimGroup;

    /// The group as written, its members read afresh.
    async fn respond(a: Answer<'_>, g: &ScimGroup) -> ScimResult<HttpResponse> {
        let reader = Reader::Pool(a.state.store.reader().clone());
        group_response(reader, a.status, a.dir, &a.base, g, a.projection).await
    }

    /// A PATCH answers 204 (members can be many) unless the client asks
    /// for attributes.
    fn patch_shows_resource(params: &ProjectionParams) -> bool {
        params.attributes.is_some() || params.excluded_attributes.is_some()
    }
}
