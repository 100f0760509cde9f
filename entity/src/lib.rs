//! sea-orm entities: one module a table (see `migration/` for the schema).

pub mod account;
pub mod account_api_token;
pub mod account_session;
pub mod admin_key;
pub mod admin_session;
pub mod audit_log;
pub mod directory;
pub mod directory_token;
pub mod domain;
pub mod event;
pub mod group;
pub mod group_grant;
pub mod group_member;
pub mod oauth_client;
pub mod org_schema;
pub mod organization;
pub mod product_access;
pub mod scim_group_value;
pub mod scim_user;
pub mod scim_user_value;
pub mod signing_key;
pub mod site;
pub mod site_membership;
pub mod sync_log;
pub mod webhook_attempt;
pub mod webhook_endpoint;
