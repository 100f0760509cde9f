//! SCIM Users: provisioning links (`scim_users`) with their multi-valued
//! attributes (`scim_user_values`), and the rows of the accounts behind
//! them: queries and writes only; what to write is decided in
//! `service::users`.
//!
//! - `read.rs`: a user read whole in one statement (GET, lock)
//! - `page.rs`: `GET /Users` pages
//! - `rows.rs`: row mapping (link columns, value rows, account facts)
//! - `provision.rs`: one-by-one provisioning lookups and writes
//! - `probe.rs`: the batched create path (`/Bulk`, import)

mod page;
mod probe;
mod provision;
mod read;
mod rows;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::error::DomainError;
use crate::domain::user::UserAttrs;
use entity::scim_user;

pub use page::{PageReader, UserPage, list};
pub use probe::{PlainCreate, create_plain, taken_emails, taken_names};
pub(crate) use provision::account_created;
pub use provision::{
    AccountChange, LinkedAccount, ProvisionProbe, account_by_email, account_by_id, account_linked,
    by_user_name, directory_groups_of, insert_account, insert_link, linked_account,
    provision_probe, required_email, unlink, update_account, update_link,
};
pub use read::{by_user_name_with_token, get, get_with_token, lock, lock_linked};
pub use rows::{FIRST_VERSION, facts, profile_of};

/// A provisioning link as the SCIM API shows it.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub link: scim_user::Model,
    pub attrs: UserAttrs,
    /// Groups of this directory the account is a member of: (id, name).
    pub groups: Vec<(Uuid, String)>,
    /// Attributes the write that returned this user did not apply to the
    /// account, its directory not being authoritative for it (empty on
    /// reads). The sync log records them.
    pub ignored: Vec<&'static str>,
}

impl StoredUser {
    /// The SCIM id.
    pub fn id(&self) -> Uuid {
        self.link.id
    }

    /// The ETag's version.
    pub fn version(&self) -> i64 {
        self.link.version
    }

    pub fn created(&self) -> DateTime<Utc> {
        self.link.created_at
    }

    pub fn last_modified(&self) -> DateTime<Utc> {
        self.link.last_modified
    }

    /// What the sync log says of the ignored attributes, if any.
    pub fn ignored_note(&self) -> Option<String> {
        (!self.ignored.is_empty()).then(|| {
            format!(
                "not authoritative: directory {} is not authoritative for this account; ignored {}",
                self.link.directory_id,
                self.ignored.join(", ")
            )
        })
    }
}

fn not_found(id: &str) -> DomainError {
    DomainError::not_found(format!("no User with id {id:?}"))
}
