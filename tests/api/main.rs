//! The integration-test binary: one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod discovery;
mod groups;
mod helpers;
mod oauth;
mod queries;
mod seed;
mod users;
