//! A resource type's writes: `POST /{Resources}` and `PUT`, `PATCH`,
//! `DELETE /{Resources}/{id}`, one handler each over the type's
//! [`Writes`]: extract, call the type's service function (counted and, on
//! failure, logged by [`SyncOp`]), render. The list pair is
//! `super::search`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::AppState;
use super::auth::Directory;
use super::body::ScimBody;
use super::scim::{ProjectionParams, ResourceName, ResourcePath, SyncOp, if_match, limits};
use crate::domain::etag::{IfMatch, etag};
use crate::domain::filter::Limits;
use crate::domain::projection::Projection;
use crate::error::ScimResult;
use crate::service::{PathId, ScimWrite};
use crate::store::Store;

/// How one resource type carries out and answers the SCIM writes.
pub trait Writes: ResourceName {
    /// The resource type (`User`, `Group`) the sync log, the metrics and
    /// a 404 name.
    const KIND: &'static str;
    /// What a write returns: the resource as written.
    type Written;

    fn create(
        store: &Store,
        w: &ScimWrite,
        body: &Value,
    ) -> impl Future<Output = ScimResult<Self::Written>>;

    fn replace(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        body: &Value,
        if_match: Option<&IfMatch>,
    ) -> impl Future<Output = ScimResult<Self::Written>>;

    /// `status`: what the PATCH answers (200, or 204 when the response
    /// has no body; the sync log records it).
    fn patch(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        body: &Value,
        limits: Limits,
        if_match: Option<&IfMatch>,
        status: u16,
    ) -> impl Future<Output = ScimResult<Self::Written>>;

    fn delete(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        if_match: Option<&IfMatch>,
    ) -> impl Future<Output = ScimResult<()>>;

    /// The response to a write that shows the resource (`status`: 201 or
    /// 200), projected by `p`, with its ETag and Location.
    fn respond(
        state: &AppState,
        req: &HttpRequest,
        dir: &Directory,
        status: StatusCode,
        written: &Self::Written,
        p: Projection,
    ) -> impl Future<Output = ScimResult<HttpResponse>>;

    /// Whether a PATCH answers with the resource (200) rather than 204
    /// and the new ETag. Users: always.
    fn patch_shows_resource(_params: &ProjectionParams) -> bool {
        true
    }

    /// The version (the ETag) of what a write returned.
    fn version(written: &Self::Written) -> i64;
}

/// `POST /{Resources}`.
pub async fn create<R: Writes>(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    body: ScimBody,
    params: web::Query<ProjectionParams>,
) -> ScimResult<HttpResponse> {
    let op = SyncOp::new(&dir, &req, R::KIND);
    let (written, p) = op
        .run(&state, None, async {
            let p = params.projection()?;
            let written = R::create(&state.store, &op.write, &body.into_value()?).await?;
            Ok((written, p))
        })
        .await?;
    R::respond(&state, &req, &dir, StatusCode::CREATED, &written, p).await
}

/// `PUT /{Resources}/{id}`.
pub async fn replace<R: Writes>(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    id: ResourcePath<R>,
    body: ScimBody,
    params: web::Query<ProjectionParams>,
) -> ScimResult<HttpResponse> {
    let op = SyncOp::new(&dir, &req, R::KIND);
    let (written, p) = op
        .run(&state, Some(id.raw()), async {
            let p = params.projection()?;
            let rid = id.id()?;
            let (body, im) = (body.into_value()?, if_match(&req));
            let written = R::replace(&state.store, &op.write, rid, &body, im.as_ref());
            Ok((written.await?, p))
        })
        .await?;
    R::respond(&state, &req, &dir, StatusCode::OK, &written, p).await
}

/// `PATCH /{Resources}/{id}`.
pub async fn patch<R: Writes>(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    id: ResourcePath<R>,
    body: ScimBody,
    params: web::Query<ProjectionParams>,
) -> ScimResult<HttpResponse> {
    let op = SyncOp::new(&dir, &req, R::KIND);
    let shows_resource = R::patch_shows_resource(&params);
    let (written, p) = op
        .run(&state, Some(id.raw()), async {
            let p = params.projection()?;
            let rid = id.id()?;
            let (body, im) = (body.into_value()?, if_match(&req));
            let status = if shows_resource { 200 } else { 204 };
            let limits = limits(&state);
            let written = R::patch(
                &state.store,
                &op.write,
                rid,
                &body,
                limits,
                im.as_ref(),
                status,
            );
            Ok((written.await?, p))
        })
        .await?;
    if !shows_resource {
        return Ok(HttpResponse::NoContent()
            .insert_header((header::ETAG, etag(R::version(&written))))
            .finish());
    }
    R::respond(&state, &req, &dir, StatusCode::OK, &written, p).await
}

/// `DELETE /{Resources}/{id}`.
pub async fn delete<R: Writes>(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    id: ResourcePath<R>,
) -> ScimResult<HttpResponse> {
    let op = SyncOp::new(&dir, &req, R::KIND);
    op.run(&state, Some(id.raw()), async {
        let rid = id.id()?;
        let im = if_match(&req);
        R::delete(&state.store, &op.write, rid, im.as_ref()).await
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
