//! Accounts as the admin API sees them: the managed-accounts list and
//! summary, what one organization may see of an account, lifecycle
//! (deactivate, reactivate, delete, cancel, purge), email and profile
//! edits, security state. Account-level effects the SCIM API shares
//! (deactivate, reactivate) live here too.
//!
//! - `list.rs`: the managed-accounts page, summary, provisioning links
//! - `visible.rs`: what one org may see of an account, its facts, the lock
//! - `lifecycle.rs`: status moves, email and profile edits
//! - `security.rs`: sessions, API tokens, security flags
//! - `purge.rs`: the purge job

mod lifecycle;
mod list;
mod purge;
mod security;
mod visible;

use chrono::{DateTime, Utc};
use entity::{account, directory, scim_user};
use sea_orm::Condition;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, SimpleExpr};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, QueryTrait};
use uuid::Uuid;

use crate::domain::error::DomainError;

pub use lifecycle::{
    cancel_deletion, change_email, deactivate, reactivate, request_deletion, update_profile,
};
pub use list::{AccountFilter, Summary, links, managed_page, summary, synced_by};
pub use purge::purge_due;
pub use security::{
    api_tokens, end_sessions, require_password_reset, revoke_api_tokens, security_counts, sessions,
    set_two_step_exclusion,
};
pub use visible::{facts, lock, visible};

type Time = DateTime<Utc>;

fn not_found(id: Uuid) -> DomainError {
    DomainError::not_found(format!("no account {id} in this organization"))
}

/// `EXISTS` a provisioning link of `accounts.id` in one of the org's
/// directories: the account is IdP-synced for this org.
fn synced_in(org_id: Uuid) -> SimpleExpr {
    Expr::exists(
        scim_user::Entity::find()
            .select_only()
            .expr(Expr::val(1))
            .inner_join(directory::Entity)
            .filter(
                Expr::col((scim_user::Entity, scim_user::Column::AccountId))
                    .equals((account::Entity, account::Column::Id)),
            )
            .filter(directory::Column::OrgId.eq(org_id))
            .into_query(),
    )
}

/// `LIKE` pattern for a contains-search: lower-cased, wildcards escaped.
pub(crate) fn contains_pattern(q: &str) -> LikeExpr {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    LikeExpr::new(p).escape('\\')
}

/// Text search on name and email (lower-cased on both sides).
pub(crate) fn text_search(q: &str) -> Condition {
    Condition::any()
        .add(Expr::col((account::Entity, account::Column::EmailLower)).like(contains_pattern(q)))
        .add(
            Expr::expr(Func::lower(Expr::col((
                account::Entity,
                account::Column::DisplayName,
            ))))
            .like(contains_pattern(q)),
        )
}
