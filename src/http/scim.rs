//! Shared pieces of SCIM handlers: URLs, responses, the sync log of writes.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::SCIM_CONTENT_TYPE;
use crate::domain::etag::{IfMatch, etag, none_match_hits};
use crate::domain::filter::Limits;
use crate::domain::projection::Projection;
use crate::domain::query::{ListQuery, Paging, RawListQuery, parse_projection};
use crate::domain::schema::LIST_RESPONSE_SCHEMA;
use crate::domain::types::ResourceId;
use crate::error::{ScimError, ScimResult};
use crate::http::AppState;
use crate::service::{PathId, ScimWrite};
use crate::store::directories::DirectoryPrincipal;

/// A SCIM resource type, as a 404 names it.
pub trait ResourceName {
    const NAME: &'static str;
}

/// The `{id}` of `/Users/{id}` or `/Groups/{id}`, parsed once as the
/// request is extracted. A value that is not an id names no resource: the
/// same 404 as an unknown id, raised where the handler asks for the id
/// (inside a write, so the failure is in the sync log like any other).
pub struct ResourcePath<K> {
    raw: String,
    id: Option<ResourceId>,
    kind: PhantomData<K>,
}

impl<K: ResourceName> ResourcePath<K> {
    /// The id as the client sent it (what the sync log records).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The id, or 404 if the value is not one.
    pub fn id(&self) -> ScimResult<PathId<'_>> {
        match self.id {
            Some(id) => Ok(PathId {
                raw: &self.raw,
                id: id.uuid(),
            }),
            None => Err(self.not_found()),
        }
    }

    /// 404 naming the id as sent.
    pub fn not_found(&self) -> ScimError {
        ScimError::not_found(format!("no {} with id {:?}", K::NAME, self.raw))
    }
}

impl<K> FromRequest for ResourcePath<K> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        /// The `{id}` segment, percent-decoded as `web::Path` decodes.
        #[derive(serde::Deserialize)]
        struct Segment {
            id: String,
        }
        let segment = web::Path::<Segment>::extract(req).into_inner();
        std::future::ready(segment.map(|s| {
            let raw = s.into_inner().id;
            Self {
                id: ResourceId::parse(&raw),
                raw,
                kind: PhantomData,
            }
        }))
    }
}

/// scheme://host[:port] of this server as the client sees it.
pub fn base_url(state: &AppState, req: &HttpRequest) -> String {
    match &state.settings.public_url {
        Some(u) => u.clone(),
        None => {
            let (scheme, host) = super::forwarded::scheme_and_host(req);
            format!("{scheme}://{host}")
        }
    }
}

/// The filter limits (`SCIM_FILTER_MAX_LEN`, `SCIM_FILTER_MAX_DEPTH`) a
/// request's filters and PATCH paths are parsed within.
pub fn limits(state: &AppState) -> Limits {
    Limits {
        max_len: state.settings.filter_max_len,
        max_depth: state.settings.filter_max_depth,
    }
}

/// The SCIM base URL of a directory.
pub fn directory_base(state: &AppState, req: &HttpRequest, directory_id: Uuid) -> String {
    format!(
        "{}/scim/v2/directories/{directory_id}",
        base_url(state, req)
    )
}

pub fn scim_response(status: StatusCode, body: &Value) -> HttpResponse {
    // Written to bytes directly: `to_string` goes through `fmt::Display`,
    // a slower writer, for the same bytes.
    let mut bytes = Vec::with_capacity(1024);
    if serde_json::to_writer(&mut bytes, body).is_err() {
        bytes = body.to_string().into_bytes();
    }
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE))
        .body(bytes)
}

/// The head of a ListResponse (everything but `Resources`): index pages
/// carry `startIndex`; cursor pages `nextCursor` unless they are the last.
pub fn list_head(
    total: Option<u64>,
    q: &ListQuery,
    items: usize,
    next_cursor: Option<&str>,
) -> Value {
    let mut v = json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "itemsPerPage": items,
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(t) = total {
            o.insert("totalResults".into(), t.into());
        }
        match q.paging {
            Paging::Index { start_index } => {
                o.insert("startIndex".into(), start_index.into());
            }
            Paging::Cursor(_) => {
                if let Some(c) = next_cursor {
                    o.insert("nextCursor".into(), c.into());
                }
            }
        }
    }
    v
}

pub fn list_response(total: u64, start_index: u64, resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

/// Query parameters of list requests (names as RFC 7644 spells them).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListParams {
    pub filter: Option<String>,
    #[serde(rename = "startIndex")]
    pub start_index: Option<String>,
    pub count: Option<String>,
    #[serde(rename = "sortBy")]
    pub sort_by: Option<String>,
    #[serde(rename = "sortOrder")]
    pub sort_order: Option<String>,
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
    pub cursor: Option<String>,
}

impl From<ListParams> for RawListQuery {
    fn from(p: ListParams) -> Self {
        RawListQuery {
            filter: p.filter,
            start_index: p.start_index,
            count: p.count,
            sort_by: p.sort_by,
            sort_order: p.sort_order,
            attributes: p.attributes,
            excluded_attributes: p.excluded_attributes,
            cursor: p.cursor,
        }
    }
}

/// Projection parameters of single-resource requests.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ProjectionParams {
    pub attributes: Option<String>,
    #[serde(rename = "excludedAttributes")]
    pub excluded_attributes: Option<String>,
}

impl ProjectionParams {
    pub fn projection(&self) -> ScimResult<Projection> {
        parse_projection(
            self.attributes.as_deref(),
            self.excluded_attributes.as_deref(),
        )
    }
}

/// One SCIM write of a request: what the sync log and the events name
/// ([`ScimWrite`]), and the request's metrics.
pub struct SyncOp {
    pub write: ScimWrite,
    state: Option<actix_web::web::Data<AppState>>,
}

impl SyncOp {
    pub fn new(dir: &DirectoryPrincipal, req: &HttpRequest, resource_type: &'static str) -> Self {
        let path = req
            .match_pattern()
            .and_then(|p| {
                p.split("/scim/v2/directories/{directory_id}")
                    .nth(1)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| req.path().to_owned());
        Self {
            write: ScimWrite {
                dir: dir.clone(),
                operation: format!("{} {path}", req.method()),
                resource_type,
                request_id: req
                    .extensions()
                    .get::<super::observe::RequestId>()
                    .map(|r| r.0.clone()),
            },
            state: req.app_data::<actix_web::web::Data<AppState>>().cloned(),
        }
    }

    /// Awaits the write's service call: counted, and a failure logged
    /// (`resource_id`: the id the request named).
    pub async fn run<T>(
        &self,
        state: &AppState,
        resource_id: Option<&str>,
        call: impl Future<Output = ScimResult<T>>,
    ) -> ScimResult<T> {
        match call.await {
            Ok(v) => {
                self.count("success");
                Ok(v)
            }
            Err(e) => Err(self.failed(state, resource_id.map(str::to_owned), e).await),
        }
    }

    fn count(&self, outcome: &str) {
        if let Some(state) = &self.state {
            let w = &self.write;
            let dir = w.dir.directory_id.to_string();
            state
                .metrics
                .scim_operations
                .with_label_values(&[dir.as_str(), w.resource_type, &w.operation, outcome])
                .inc();
            if outcome == "failure" {
                state
                    .metrics
                    .sync_failures
                    .with_label_values(&[dir.as_str()])
                    .inc();
            }
        }
    }

    /// Counts and logs a failed write (its transaction is already rolled
    /// back) and hands the error on.
    pub async fn failed(
        &self,
        state: &AppState,
        resource_id: Option<String>,
        err: ScimError,
    ) -> ScimError {
        self.count("failure");
        self.write.failed(&state.store, resource_id, err).await
    }
}

/// The request's `If-Match`, if any.
pub fn if_match(req: &HttpRequest) -> Option<IfMatch> {
    req.headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(IfMatch::parse)
}

/// `304 Not Modified` when `If-None-Match` names the current version.
pub fn not_modified(req: &HttpRequest, version: i64) -> Option<HttpResponse> {
    let header = req.headers().get(header::IF_NONE_MATCH)?.to_str().ok()?;
    none_match_hits(header, version).then(|| {
        HttpResponse::NotModified()
            .insert_header((header::ETAG, etag(version)))
            .finish()
    })
}
