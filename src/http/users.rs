//! `/Users`: HTTP in, one `service::users` call per write, SCIM JSON out
//! (the write handlers are `super::writes` over [`Writes`]).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;
use uuid::Uuid;

use super::auth::{Bearer, Directory};
use super::scim::{
    ListParams, ProjectionParams, ResourceName, ResourcePath, directory_base, limits, list_head,
    not_modified, scim_response,
};
use super::search::Search;
use super::writes::{Answer, Writes};
use crate::domain::custom_schema::CustomSchema;
use crate::domain::filter::{CompValue, CompareOp, Filter};
use crate::domain::projection::Projection;
use crate::domain::query::{ListQuery, Paging, RawListQuery, parse_projection};
use crate::domain::schema::{ResourceKind, USER_SCHEMA};
use crate::domain::user::{GroupRef, ManagerRef, Meta};
use crate::error::ScimResult;
use crate::http::AppState;
use crate::store::managers::{self, ManagerNames};
use crate::store::org_schemas;
use crate::store::users::{self, StoredUser};

/// The managers of `users` that are Users of the directory (one query).
pub(super) async fn manager_names(
    state: &AppState,
    dir: &Directory,
    users: &[&StoredUser],
) -> ScimResult<ManagerNames> {
    Ok(managers::names(state.store.reader(), dir.directory_id, users).await?)
}

/// The organization's User extensions, when any of `users` has values of
/// them (for projection and `returned`).
pub(super) async fn custom_of(
    state: &AppState,
    dir: &Directory,
    users: &[&StoredUser],
) -> ScimResult<Vec<CustomSchema>> {
    if users.iter().all(|u| u.attrs.custom.is_empty()) {
        return Ok(vec![]);
    }
    Ok(org_schemas::user_extensions(state.store.reader(), dir.org_id).await?)
}

pub(super) fn render(base: &str, u: &StoredUser, managers: &ManagerNames) -> (Value, Meta) {
    let meta = Meta {
        id: u.id().to_string(),
        resource_type: "User",
        created: u.created(),
        last_modified: u.last_modified(),
        version: u.version(),
        location: format!("{base}/Users/{}", u.id()),
    };
    let groups: Vec<GroupRef> = u
        .groups
        .iter()
        .map(|(id, name)| GroupRef {
            id: id.to_string(),
            display: name.clone(),
            location: format!("{base}/Groups/{id}"),
        })
        .collect();
    let manager = u
        .attrs
        .enterprise
        .manager
        .as_deref()
        .and_then(|m| Uuid::parse_str(m).ok())
        .and_then(|id| {
            let display_name = managers.get(&id)?.clone();
            Some(ManagerRef {
                location: format!("{base}/Users/{id}"),
                display_name,
            })
        });
    (u.attrs.to_resource(&meta, &groups, manager.as_ref()), meta)
}

async fn resource_response(
    state: &AppState,
    dir: &Directory,
    status: StatusCode,
    base: &str,
    u: &StoredUser,
    p: &Projection,
) -> ScimResult<HttpResponse> {
    let managers = manager_names(state, dir, &[u]).await?;
    let custom = custom_of(state, dir, &[u]).await?;
    let (body, meta) = render(base, u, &managers);
    let body = p.apply_with(ResourceKind::User, body, &custom);
    let mut res = scim_response(status, &body);
    if let Ok(v) = header::HeaderValue::from_str(&meta.etag()) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if let Ok(v) = header::HeaderValue::from_str(&meta.location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// `GET /Users` and `POST /Users/.search`.
pub struct Users;

impl ResourceName for Users {
    const NAME: &'static str = "User";
}

impl Search for Users {
    async fn search(
        state: &AppState,
        dir: &Directory,
        req: &HttpRequest,
        raw: &RawListQuery,
    ) -> ScimResult<HttpResponse> {
        let q = ListQuery::parse(raw, state.settings.max_results, limits(state))?;
        list_page(state, dir, req, &q).await
    }
}

/// A parsed list query's page.
async fn list_page(
    state: &AppState,
    dir: &Directory,
    req: &HttpRequest,
    q: &ListQuery,
) -> ScimResult<HttpResponse> {
    let page = users::list(state.store.reader(), dir, q).await?;
    let base = directory_base(state, req, dir.directory_id);
    // The page stops early (honest `itemsPerPage`, a cursor resuming after
    // the last user shown) once its resources pass SCIM_MAX_PAGE_BYTES;
    // at least one user is always shown.
    let listed = page.users.len();
    let mut budget = PageBudget::new(state.settings.max_page_bytes);
    let resources =
        render_within(state, dir, &base, &q.projection, page.users, &mut budget).await?;
    let next_cursor = if resources.len() < listed {
        resources
            .len()
            .checked_sub(1)
            .and_then(|i| page.cursors.get(i).cloned())
    } else {
        page.next_cursor
    };
    let mut body = list_head(page.total, q, resources.len(), next_cursor.as_deref());
    if let Some(o) = body.as_object_mut() {
        o.insert("Resources".into(), Value::Array(resources));
    }
    Ok(scim_response(StatusCode::OK, &body))
}

/// The userName a list query looks up, when it is a `userName eq "…"`
/// lookup of the first page (the most frequent list request: IdPs look a
/// user up before creating it): at most one user, so its page is known
/// without a count and its authentication can ride on its statement.
fn user_name_lookup(q: &ListQuery) -> Option<&str> {
    let Some(Filter::Compare {
        path,
        op: CompareOp::Eq,
        value: CompValue::String(name),
    }) = &q.filter
    else {
        return None;
    };
    let core = path
        .urn
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(USER_SCHEMA));
    let first_page = matches!(q.paging, Paging::Index { start_index: 1 }) && q.count > 0;
    (core
        && path.attr.eq_ignore_ascii_case("userName")
        && path.sub_attr.is_none()
        && q.sort_by.is_none()
        && first_page)
        .then_some(name.as_str())
}

/// `GET /Users`: a `userName eq` lookup is one statement with its
/// authentication (as a GET by id); any other query is authenticated,
/// then paged.
pub async fn list(
    state: web::Data<AppState>,
    bearer: Bearer,
    req: HttpRequest,
    params: web::Query<ListParams>,
) -> ScimResult<HttpResponse> {
    let raw: RawListQuery = params.into_inner().into();
    let q = match ListQuery::parse(&raw, state.settings.max_results, limits(&state)) {
        Ok(q) => q,
        Err(e) => {
            // Refused tokens are told so before the query is looked at.
            bearer.directory(&state).await?;
            return Err(e);
        }
    };
    let Some(name) = user_name_lookup(&q) else {
        let dir = bearer.directory(&state).await?;
        return list_page(&state, &dir, &req, &q).await;
    };
    // The filter lowering compares userName lower-cased on both sides.
    let lower = name.to_lowercase();
    let db = state.store.reader();
    let (dir, u) = match users::by_user_name_with_token(db, &bearer.token_hash(), &lower).await? {
        Some((principal, u)) => (bearer.admit(&state, Some(principal)).await?, u),
        None => {
            let dir = bearer.admit(&state, None).await?;
            return list_page(&state, &dir, &req, &q).await;
        }
    };
    let base = directory_base(&state, &req, dir.directory_id);
    let resources = match &u {
        Some(u) => {
            let managers = manager_names(&state, &dir, &[u]).await?;
            let custom = custom_of(&state, &dir, &[u]).await?;
            let body = render(&base, u, &managers).0;
            vec![q.projection.apply_with(ResourceKind::User, body, &custom)]
        }
        None => vec![],
    };
    let total = resources.len() as u64;
    let mut body = list_head(Some(total), &q, resources.len(), None);
    if let Some(o) = body.as_object_mut() {
        o.insert("Resources".into(), Value::Array(resources));
    }
    Ok(scim_response(StatusCode::OK, &body))
}

/// What a list page may still hold: `SCIM_MAX_PAGE_BYTES` of resources,
/// and at least one resource whatever its size.
pub(super) struct PageBudget {
    pub limit: usize,
    pub used: usize,
    pub shown: usize,
}

impl PageBudget {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: 0,
            shown: 0,
        }
    }

    /// Bytes the page may still grow by.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    /// Takes a resource of `size` bytes if it fits (the first always
    /// does); false: the page ends before it.
    pub fn take(&mut self, size: usize) -> bool {
        if self.shown > 0 && self.used.saturating_add(size) > self.limit {
            return false;
        }
        self.used = self.used.saturating_add(size);
        self.shown += 1;
        true
    }
}

/// The users of `reader` (a page, in order) rendered until `budget` is
/// spent; their values are read from the database only as far as the
/// page goes (see [`users::PageReader`]).
pub(super) async fn render_within(
    state: &AppState,
    dir: &Directory,
    base: &str,
    projection: &Projection,
    mut reader: users::PageReader,
    budget: &mut PageBudget,
) -> ScimResult<Vec<Value>> {
    let db = state.store.reader();
    let mut resources = vec![];
    let mut custom: Option<Vec<CustomSchema>> = None;
    loop {
        let batch = reader
            .next_users(db, budget.room(), budget.shown == 0)
            .await?;
        if batch.is_empty() {
            return Ok(resources);
        }
        let refs = batch.iter().collect::<Vec<_>>();
        let managers = manager_names(state, dir, &refs).await?;
        if custom.is_none() {
            let found = custom_of(state, dir, &refs).await?;
            custom = (!found.is_empty()).then_some(found);
        }
        let custom = custom.as_deref().unwrap_or_default();
        for u in &batch {
            let v = projection.apply_with(ResourceKind::User, render(base, u, &managers).0, custom);
            if !budget.take(json_size(&v)) {
                return Ok(resources);
            }
            resources.push(v);
        }
    }
}

/// Bytes `v` takes as JSON, without keeping them.
pub(super) fn json_size(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

/// `GET /Users/{id}`: authentication and the user in one statement when
/// the bearer is a static token (the hot read of every IdP).
pub async fn get(
    state: web::Data<AppState>,
    bearer: Bearer,
    req: HttpRequest,
    id: ResourcePath<Users>,
    params: web::Query<ProjectionParams>,
) -> ScimResult<HttpResponse> {
    let projection = || {
        parse_projection(
            params.attributes.as_deref(),
            params.excluded_attributes.as_deref(),
        )
    };
    let Ok(uid) = id.id().map(|p| p.id) else {
        // Refused tokens are told so before the id is looked at.
        bearer.directory(&state).await?;
        projection()?;
        return Err(id.not_found());
    };
    let db = state.store.reader();
    let (dir, u) = match users::get_with_token(db, &bearer.token_hash(), uid).await? {
        Some((principal, u)) => (bearer.admit(&state, Some(principal)).await?, u),
        None => {
            let dir = bearer.admit(&state, None).await?;
            let u = users::get(db, &dir, uid).await?;
            (dir, u)
        }
    };
    let p = projection()?;
    let u = u.ok_or_else(|| id.not_found())?;
    if let Some(res) = not_modified(&req, u.version()) {
        return Ok(res);
    }
    let base = directory_base(&state, &req, dir.directory_id);
    resource_response(&state, &dir, StatusCode::OK, &base, &u, &p).await
}

impl Writes for Users {
    type Resource = StoredUser;

    async fn respond(a: Answer<'_>, u: &StoredUser) -> ScimResult<HttpResponse> {
        resource_response(a.state, a.dir, a.status, &a.base, u, &a.projection).await
    }
}
