//! HTTP: routes, extractors, DTOs and error rendering. No SQL here.

pub mod admin;
pub mod auth;
pub mod body;
pub mod bulk;
pub mod discovery;
pub mod error;
pub mod forwarded;
pub mod groups;
pub mod health;
pub mod me;
pub mod oauth;
pub mod observe;
pub mod root_search;
pub mod scim;
pub mod search;
pub mod state;
pub mod timeouts;
pub mod users;
pub mod web;
pub mod writes;

pub use state::AppState;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::uri::{PathAndQuery, Uri};
use actix_web::middleware::Next;
use actix_web::web::{ServiceConfig, get, resource, scope, to};

/// SCIM paths with a trailing slash (`GET /Users/?filter=…`, as some
/// clients send them) are routed as without it. Only under `/scim/v2/`:
/// the admin web page has routes that end in a slash.
pub async fn trim_scim_trailing_slash(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let path = req.path();
    if path.starts_with("/scim/v2/") && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = PathAndQuery::try_from(pq) {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                req.match_info_mut().get_mut().update(&uri);
                req.head_mut().uri = uri;
            }
        }
    }
    next.call(req).await
}

/// Every route of the server.
pub fn routes(cfg: &mut ServiceConfig, bulk_limit: usize) {
    let m405 = || to(error::method_not_allowed);
    cfg.route("/healthz", get().to(health::healthz))
        .route("/readyz", get().to(health::readyz))
        .route("/metrics", get().to(observe::metrics))
        .service(
            resource("/oauth/token")
                .post(oauth::token)
                .default_service(to(oauth::method_not_allowed)),
        )
        .service(
            scope("/scim/v2/directories/{directory_id}")
                .service(
                    resource("/ServiceProviderConfig")
                        .get(discovery::service_provider_config)
                        .default_service(m405()),
                )
                .service(
                    resource("/ResourceTypes")
                        .get(discovery::resource_types_list)
                        .default_service(m405()),
                )
                .service(
                    resource("/ResourceTypes/{id}")
                        .get(discovery::resource_type)
                        .default_service(m405()),
                )
                .service(
                    resource("/Schemas")
                        .get(discovery::schemas_list)
                        .default_service(m405()),
                )
                .service(
                    resource("/Schemas/{id}")
                        .get(discovery::schema)
                        .default_service(m405()),
                )
                .service(
                    resource("/Users")
                        .get(users::list)
                        .post(writes::write::<users::Users>)
                        .default_service(m405()),
                )
                .service(
                    resource("/Users/.search")
                        .post(search::search_post::<users::Users>)
                        .default_service(m405()),
                )
                .service(
                    resource("/Users/{id}")
                        .get(users::get)
                        .put(writes::write::<users::Users>)
                        .patch(writes::write::<users::Users>)
                        .delete(writes::write::<users::Users>)
                        .default_service(m405()),
                )
                .service(
                    resource("/Groups")
                        .get(search::list::<groups::Groups>)
                        .post(writes::write::<groups::Groups>)
                        .default_service(m405()),
                )
                .service(
                    resource("/Groups/.search")
                        .post(search::search_post::<groups::Groups>)
                        .default_service(m405()),
                )
                .service(
                    resource("/Groups/{id}")
                        .get(groups::get)
                        .put(writes::write::<groups::Groups>)
                        .patch(writes::write::<groups::Groups>)
                        .delete(writes::write::<groups::Groups>)
                        .default_service(m405()),
                )
                .service(resource("/Me").to(me::not_implemented))
                .service(resource("/Me/{rest:.*}").to(me::not_implemented))
                .service(
                    resource("/Bulk")
                        .app_data(body::BodyLimit(bulk_limit))
                        .post(bulk::bulk)
                        .default_service(m405()),
                )
                .service(
                    resource("/.search")
                        .post(root_search::search)
                        .default_service(m405()),
                )
                .default_service(to(error::not_found)),
        );
}
