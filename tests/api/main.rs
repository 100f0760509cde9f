//! The integration-test binary: one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// The deepest admin tests await futures nested past the default limit of
// 128 (a write runs inside `service::write` and the group commit).
#![recursion_limit = "256"]

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
mod migrations;
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
mod statuses;
mod suite;
mod trust;
mod users;
#[cfg(feature = "browser")]
mod web;
mod web_sessions;
mod webhooks;
