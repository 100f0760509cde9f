//! The request body of SCIM writes: size-limited, `application/scim+json`
//! or `application/json`, decoded to JSON. Decoding errors are kept, not
//! raised, so the handler can record them in the sync log.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, dev, web};
use futures_util::StreamExt;
use serde_json::Value;

use crate::error::{ScimError, ScimResult};
use crate::http::AppState;

pub struct ScimBody(ScimResult<Value>);

/// A per-route body limit (`/Bulk` takes larger bodies).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl ScimBody {
    pub fn into_value(self) -> ScimResult<Value> {
        self.0
    }
}

fn content_type_ok(req: &HttpRequest) -> Result<(), ScimError> {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        // Some sync scripts send none; the body must still be JSON.
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or_default().trim();
    if mime == "application/scim+json" || mime == "application/json" {
        Ok(())
    } else {
        Err(ScimError::UnsupportedMediaType(format!(
            "Content-Type {mime:?} is not accepted; send application/scim+json or application/json"
        )))
    }
}

fn too_large(limit: usize) -> ScimError {
    ScimError::PayloadTooLarge(format!(
        "the request body is larger than the {limit} bytes this server accepts"
    ))
}

impl FromRequest for ScimBody {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut dev::Payload) -> Self::Future {
        let limit = match req.app_data::<BodyLimit>() {
            Some(l) => l.0,
            None => req
                .app_data::<web::Data<AppState>>()
                .map_or(1024 * 1024, |s| s.settings.max_body_bytes),
        };
        let ct = content_type_ok(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|n| n > limit) {
                return Ok(ScimBody(Err(too_large(limit))));
            }
            let mut buf = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        return Ok(ScimBody(Err(ScimError::invalid_syntax(format!(
                            "could not read the request body: {e}"
                        )))));
                    }
                };
                if buf.len() + chunk.len() > limit {
                    return Ok(ScimBody(Err(too_large(limit))));
                }
                buf.extend_from_slice(&chunk);
            }
            if let Err(e) = ct {
                return Ok(ScimBody(Err(e)));
            }
            let value = serde_json::from_slice::<Value>(&buf).map_err(|e| {
                ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}"))
            });
            Ok(ScimBody(value))
        })
    }
}
