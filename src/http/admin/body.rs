//! The JSON body of admin writes. Decoding errors are kept, not raised:
//! actix runs a handler's extractors together, so a raised body error
//! could answer before the admin key is checked (400 to a caller without
//! a key, instead of 401). Handlers take the principal, then the body.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::admin_error::{AdminError, AdminResult};
use crate::startup::AppState;

pub struct Body<T>(AdminResult<T>);

impl<T> Body<T> {
    /// The decoded body, or why it could not be decoded.
    pub fn into_inner(self) -> AdminResult<T> {
        self.0
    }
}

fn content_type_ok(req: &HttpRequest) -> AdminResult<()> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or_default().trim();
    if mime == "application/json" || mime.ends_with("+json") {
        Ok(())
    } else {
        Err(super::error::unsupported_media_type())
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<AppState>>()
            .map_or(1024 * 1024, |s| s.settings.max_body_bytes);
        let ct = content_type_ok(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            let value = async {
                if declared.is_some_and(|n| n > limit) {
                    return Err(super::error::too_large(limit));
                }
                let mut buf = web::BytesMut::new();
                while let Some(chunk) = payload.next().await {
                    let chunk = chunk.map_err(|e| {
                        AdminError::invalid(format!("could not read the request body: {e}"))
                    })?;
                    if buf.len() + chunk.len() > limit {
                        return Err(super::error::too_large(limit));
                    }
                    buf.extend_from_slice(&chunk);
                }
                ct?;
                serde_json::from_slice::<T>(&buf)
                    .map_err(|e| AdminError::invalid(format!("invalid JSON body: {e}")))
            }
            .await;
            Ok(Body(value))
        })
    }
}
