//! A resource type's writes: `POST /{Resources}` and `PUT`, `PATCH`,
//! `DELETE /{Resources}/{id}`, one handler ([`write`]) over the type's
//! [`Writes`]: extract, call the type's use case ([`ScimResource`], in
//! `service/`), render. The list pair is `super::search`.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::auth::Directory;
use super::body::ScimBody;
use super::scim::{
    ProjectionParams, ResourceName, ResourcePath, SyncOp, directory_base, if_match, limits,
};
use crate::domain::etag::etag;
use crate::domain::projection::Projection;
use crate::error::{ScimError, ScimResult};
use crate::service::ScimResource;

/// How one resource type's writes answer: what differs between Users and
/// Groups once the use case ([`ScimResource`]) has run.
pub trait Writes: ResourceName {
    /// The resource as a write returns it, and the type's use cases.
    type Resource: ScimResource;

    /// The response showing the resource as written.
    fn respond(
        a: Answer<'_>,
        written: &Self::Resource,
    ) -> impl Future<Output = ScimResult<HttpResponse>>;

    /// Whether a PATCH answers with the resource (200) rather than 204
    /// and the new ETag. Users: always.
    fn patch_shows_resource(_params: &ProjectionParams) -> bool {
        true
    }
}

/// What the response to a write that shows its resource is made of.
pub struct Answer<'a> {
    pub state: &'a AppState,
    pub dir: &'a Directory,
    /// 201 or 200.
    pub status: StatusCode,
    /// The directory's SCIM base URL (the resource's `Location` below it).
    pub base: String,
    pub projection: Projection,
}

/// The write a request asks for, by its method.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Replace,
    Patch,
    Delete,
}

/// The one write handler of a resource type (`POST /{Resources}`: create;
/// `PUT`, `PATCH`, `DELETE /{Resources}/{id}`). Inside the write's
/// [`SyncOp`] (counted, a failure logged in the sync log: a bad
/// projection or id is one too) it parses the projection, then the id,
/// the body and `If-Match`, and calls the type's use case; then renders:
/// 201 or 200 and the resource, or 204 (a DELETE; a PATCH that shows no
/// resource, with its ETag).
pub async fn write<R: Writes>(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    path: Option<ResourcePath<R>>,
    body: ScimBody,
) -> ScimResult<HttpResponse> {
    let op = match *req.method() {
        Method::POST => Op::Create,
        Method::PUT => Op::Replace,
        Method::PATCH => Op::Patch,
        Method::DELETE => Op::Delete,
        _ => return super::error::method_not_allowed(req).await,
    };
    // A DELETE shows nothing: its query is not read.
    let params = match op {
        Op::Delete => ProjectionParams::default(),
        _ => web::Query::<ProjectionParams>::from_query(req.query_string())
            .map_err(|e| ScimError::invalid_value(format!("invalid query string: {e}")))?
            .into_inner(),
    };
    let shows = match op {
        Op::Create | Op::Replace => true,
        Op::Patch => R::patch_shows_resource(&params),
        Op::Delete => false,
    };
    let sync = SyncOp::new(&dir, &req, R::Resource::KIND);
    let (store, w) = (&state.store, &sync.write);
    let id = || match &path {
        Some(path) => path.id(),
        None => Err(ScimError::not_found("no such resource")),
    };
    let raw = path.as_ref().map(ResourcePath::raw);
    let done = sync
        .run(&state, raw, async {
            let p = params.projection()?;
            let written = match op {
                Op::Create => R::Resource::create(store, w, &body.into_value()?).await?,
                Op::Replace => {
                    let (id, body, im) = (id()?, body.into_value()?, if_match(&req));
                    R::Resource::replace(store, w, id, &body, im.as_ref()).await?
                }
                Op::Patch => {
                    let (id, body, im) = (id()?, body.into_value()?, if_match(&req));
                    let status = if shows { 200 } else { 204 };
                    let limits = limits(&state);
                    R::Resource::patch(store, w, id, &body, limits, im.as_ref(), status).await?
                }
                Op::Delete => {
                    let id = id()?;
                    R::Resource::delete(store, w, id, if_match(&req).as_ref()).await?;
                    return Ok(None);
                }
            };
            Ok(Some((written, p)))
        })
        .await?;
    let Some((written, projection)) = done else {
        return Ok(HttpResponse::NoContent().finish());
    };
    if !shows {
        return Ok(HttpResponse::NoContent()
            .insert_header((header::ETAG, etag(written.version())))
            .finish());
    }
    let a = Answer {
        state: &state,
        dir: &dir,
        status: match op {
            Op::Create => StatusCode::CREATED,
            _ => StatusCode::OK,
        },
        base: directory_base(&state, &req, dir.directory_id),
        projection,
    };
    R::respond(a, &written).await
}
