//! The integration-test binary: one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod custom_attributes;
mod discovery;
mod dns;
mod events;
mod fuzz_corpus;
mod group_commit;
mod groups;
mod hardening;
mod helpers;
mod idp_flows;
mod import;
mod oauth;
mod observability;
mod page_bytes;
mod processes;
mod protocol;
mod protocol_details;
mod queries;
mod security;
mod seed;
mod starvation;
mod statements;
mod suite;
mod trust;
mod users;
#[cfg(feature = "browser")]
mod web;
mod web_sessions;
mod webhooks;
