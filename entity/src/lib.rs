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

/// For text enums (`DeriveActiveEnum` over `String`, each with its
/// `ALL`): `from_name`, the variant stored as `name` if one is (request
/// parameters and the CLI name them the same way), and `Display` as the
/// stored name.
macro_rules! stored_names {
    ($($t:ty),* $(,)?) => {$(
        impl $t {
            /// The variant stored as `name`, if one is.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL
                    .into_iter()
                    .find(|v| sea_orm::ActiveEnum::to_value(v) == name)
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&sea_orm::ActiveEnum::to_value(self))
            }
        }
    )*};
}

stored_names!(
    account::AccountStatus,
    site_membership::MembershipStatus,
    product_access::ProductRole,
    sync_log::SyncOutcome,
    audit_log::ActorType,
);
