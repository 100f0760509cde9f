//! Domain: typed SCIM resources, the filter AST, the PATCH engine, the
//! lifecycle rules. No HTTP and no database types here.

pub mod admin_rules;
pub mod custom_attrs;
pub mod custom_schema;
pub mod error;
pub mod etag;
pub mod export;
pub mod filter;
pub mod group;
pub mod json;
pub mod lifecycle;
pub mod lifetime;
pub mod oauth;
pub mod patch;
pub mod projection;
pub mod query;
pub mod rate_limit;
pub mod schema;
pub mod secrets;
pub mod types;
pub mod user;
pub mod webhook;
