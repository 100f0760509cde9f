//! HTTP: routes, extractors, DTOs and error rendering. No SQL here.

pub mod admin;
pub mod auth;
pub mod body;
pub mod bulk;
pub mod discovery;
pub mod error;
pub mod groups;
pub mod health;
pub mod me;
pub mod oauth;
pub mod observe;
pub mod root_search;
pub mod scim;
pub mod search;
pub mod users;

use actix_web::web;

/// Every route of the server.
pub fn routes(cfg: &mut web::ServiceConfig, bulk_limit: usize) {
    let m405 = || web::to(error::method_not_allowed);
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(observe::metrics))
        .service(
            web::resource("/oauth/token")
                .post(oauth::token)
                .default_service(web::to(oauth::method_not_allowed)),
        )
        .service(
            web::scope("/scim/v2/directories/{directory_id}")
                .service(
                    web::resource("/ServiceProviderConfig")
                        .get(discovery::service_provider_config)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/ResourceTypes")
                        .get(discovery::resource_types_list)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/ResourceTypes/{id}")
                        .get(discovery::resource_type)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/Schemas")
                        .get(discovery::schemas_list)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/Schemas/{id}")
                        .get(discovery::schema)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/Users")
                        .get(users::list)
                        .post(users::create)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/Users/.search")
                        .post(users::search_post)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/Users/{id}")
                        .get(users::get)
                        .put(users::replace)
                        .patch(users::patch)
                        .delete(users::delete)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/Groups")
                        .get(groups::list)
                        .post(groups::create)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/Groups/.search")
                        .post(groups::search_post)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/Groups/{id}")
                        .get(groups::get)
                        .put(groups::replace)
                        .patch(groups::patch)
                        .delete(groups::delete)
                        .default_service(m405()),
                )
                .service(web::resource("/Me").to(me::not_implemented))
                .service(web::resource("/Me/{rest:.*}").to(me::not_implemented))
                .service(
                    web::resource("/Bulk")
                        .app_data(body::BodyLimit(bulk_limit))
                        .post(bulk::bulk)
                        .default_service(m405()),
                )
                .service(
                    web::resource("/.search")
                        .post(root_search::search)
                        .default_service(m405()),
                )
                .default_service(web::to(error::not_found)),
        );
}
