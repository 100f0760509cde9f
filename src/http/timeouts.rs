//! Slow clients are cut off: the request head must arrive within
//! `SCIM_CLIENT_HEADER_TIMEOUT_MS` (actix's `client_request_timeout`, set in
//! `startup`), the whole body within `SCIM_CLIENT_BODY_TIMEOUT_MS` of the
//! head (this middleware), so a client trickling a body byte by byte can't
//! hold a connection and a worker's attention for ever.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use futures_util::StreamExt;

use crate::http::AppState;

/// Wraps the request's body stream: past the deadline it ends with an
/// error, which body extractors turn into a 4xx, and the connection closes.
pub async fn body_deadline(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(0, |s| s.settings.client_body_timeout_ms);
    if limit > 0 {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(limit);
        let payload = req.take_payload();
        let stream = futures_util::stream::unfold(Some(payload), move |state| async move {
            let mut payload = state?;
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Ok(Some(item)) => Some((item, Some(payload))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the request body did not arrive within {limit} ms"),
                    ))),
                    None,
                )),
            }
        });
        let boxed: std::pin::Pin<
            Box<dyn futures_util::Stream<Item = Result<web::Bytes, PayloadError>>>,
        > = Box::pin(stream);
        req.set_payload(Payload::from(boxed));
    }
    next.call(req).await
}
