//! A SCIM 2.0 provisioning server: identity providers push users and
//! groups; the server maps each SCIM operation onto the lifecycle of
//! accounts and site membership.

pub mod admin_error;
pub mod cli;
pub mod config;
pub mod cpus;
pub mod dns;
pub mod domain;
pub mod error;
pub mod fuzzing;
pub mod http;
pub mod import;
pub mod input;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod webhooks;
