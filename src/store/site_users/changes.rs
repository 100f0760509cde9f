//! Membership writes: invites, status moves, activity, removal from a
//! site, and the suspensions a SCIM deactivation makes and undoes.

use chrono::Utc;
use entity::{account, product_access, site, site_membership};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

use super::Time;
use crate::domain::admin_rules::MembershipStatus;
use crate::domain::error::{DomainError, DomainResult};
use crate::domain::lifecycle::AccountStatus;
use crate::domain::types::Email;
use crate::store::events::{self, EventType, Recorder};
use crate::store::{db_error, is_unique_violation};

/// Finds the account by email or creates it (external unless `managed_by`).
pub async fn find_or_create_account<C: ConnectionTrait>(
    tx: &C,
    email: &Email,
    managed_by: Option<Uuid>,
) -> DomainResult<(account::Model, bool)> {
    if let Some(a) = account::Entity::find()
        .filter(account::Column::EmailLower.eq(email.lower()))
        .one(tx)
        .await
        .map_err(db_error)?
    {
        return Ok((a, false));
    }
    let now = Utc::now();
    let a = account::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(Some(email.as_str().to_owned())),
        email_lower: Set(Some(email.lower().to_owned())),
        email_domain: Set(Some(email.domain().to_owned())),
        status: Set(AccountStatus::Active),
        managing_org_id: Set(managed_by),
        two_step_enabled: Set(false),
        saml_sso: Set(false),
        password_reset_required: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::taken(format!("another account already uses the email {email}"))
        } else {
            db_error(e)
        }
    })?;
    Ok((a, true))
}

/// An explicit invite: a new membership is `invited`; an existing one is
/// marked as invited directly (it then outlives group grants).
pub async fn invite<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
) -> DomainResult<(site_membership::Model, bool)> {
    if let Some(m) = site_membership::Entity::find_by_id((site_id, account_id))
        .one(tx)
        .await
        .map_err(db_error)?
    {
        let mut am: site_membership::ActiveModel = m.into();
        am.invited_directly = Set(true);
        am.updated_at = Set(Utc::now());
        return Ok((am.update(tx).await.map_err(db_error)?, false));
    }
    let now = Utc::now();
    let m = site_membership::ActiveModel {
        site_id: Set(site_id),
        account_id: Set(account_id),
        status: Set(MembershipStatus::Invited),
        suspended_by: Set(None),
        invited_directly: Set(true),
        last_active_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx)
    .await
    .map_err(db_error)?;
    let data = json!({"status": m.status, "via": "direct"});
    events::for_site(tx, site_id, account_id, EventType::MembershipInvited, data).await?;
    Ok((m, true))
}

/// Moves a membership to `status` (`suspended_by` set with suspensions).
pub async fn set_status<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
    status: MembershipStatus,
    suspended_by: Option<&str>,
) -> DomainResult<()> {
    let res = site_membership::Entity::update_many()
        .col_expr(site_membership::Column::Status, Expr::value(status))
        .col_expr(
            site_membership::Column::SuspendedBy,
            Expr::value(suspended_by.map(str::to_owned)),
        )
        .col_expr(site_membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site_membership::Column::SiteId.eq(site_id))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    if res.rows_affected > 0 {
        let kind = if status == MembershipStatus::Suspended {
            EventType::MembershipSuspended
        } else {
            EventType::MembershipRestored
        };
        let data = json!({"status": status, "via": "direct"});
        events::for_site(tx, site_id, account_id, kind, data).await?;
    }
    Ok(())
}

/// Activity on the site: the membership was last active `at` (and the
/// account, when the site's org manages it); an invite becomes active.
pub async fn record_activity<C: Recorder>(
    tx: &C,
    site_id: Uuid,
    account_id: Uuid,
    at: Time,
) -> DomainResult<()> {
    // An invite turns active with its first activity.
    let activated = site_membership::Entity::update_many()
        .col_expr(
            site_membership::Column::Status,
            Expr::value(MembershipStatus::Active),
        )
        .filter(site_membership::Column::SiteId.eq(site_id))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .filter(site_membership::Column::Status.eq(MembershipStatus::Invited))
        .exec(tx)
        .await
        .map_err(db_error)?;
    if activated.rows_affected > 0 {
        let data = json!({"status": MembershipStatus::Active, "via": "direct"});
        events::for_site(
            tx,
            site_id,
            account_id,
            EventType::MembershipActivated,
            data,
        )
        .await?;
    }
    site_membership::Entity::update_many()
        .col_expr(
            site_membership::Column::Status,
            Expr::value(MembershipStatus::Active),
        )
        .col_expr(site_membership::Column::LastActiveAt, Expr::value(at))
        .col_expr(site_membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site_membership::Column::SiteId.eq(site_id))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    // The account-wide time moves only with its managing org's sites:
    // another org's activity says nothing it may write there.
    let site_org = Query::select()
        .column(site::Column::OrgId)
        .from(site::Entity)
        .and_where(Expr::col(site::Column::Id).eq(site_id))
        .to_owned();
    account::Entity::update_many()
        .col_expr(account::Column::LastActiveAt, Expr::value(at))
        .filter(account::Column::Id.eq(account_id))
        .filter(account::Column::ManagingOrgId.in_subquery(site_org))
        .exec(tx)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Removal from the site: direct product access and the membership go.
pub async fn remove<C: Recorder>(tx: &C, site_id: Uuid, account_id: Uuid) -> DomainResult<()> {
    let revoked = product_access::Entity::delete_many()
        .filter(product_access::Column::SiteId.eq(site_id))
        .filter(product_access::Column::AccountId.eq(account_id))
        .exec_with_returning(tx)
        .await
        .map_err(db_error)?;
    for p in revoked {
        let data = json!({"product": p.product, "role": p.role, "via": "direct"});
        events::for_site(
            tx,
            site_id,
            account_id,
            EventType::ProductAccessRevoked,
            data,
        )
        .await?;
    }
    let removed = site_membership::Entity::delete_many()
        .filter(site_membership::Column::SiteId.eq(site_id))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .exec(tx)
        .await
        .map_err(db_error)?;
    if removed.rows_affected > 0 {
        let data = json!({"via": "direct"});
        events::for_site(tx, site_id, account_id, EventType::MembershipRemoved, data).await?;
    }
    Ok(())
}

/// Suspends the account's memberships on the org's sites (those not
/// suspended yet), marked `suspended_by`; returns them.
pub async fn suspend_org_memberships<C: ConnectionTrait>(
    tx: &C,
    org_id: Uuid,
    account_id: Uuid,
    suspended_by: &str,
) -> DomainResult<Vec<site_membership::Model>> {
    let org_sites = Query::select()
        .column(site::Column::Id)
        .from(site::Entity)
        .and_where(Expr::col(site::Column::OrgId).eq(org_id))
        .to_owned();
    site_membership::Entity::update_many()
        .col_expr(
            site_membership::Column::Status,
            Expr::value(MembershipStatus::Suspended),
        )
        .col_expr(
            site_membership::Column::SuspendedBy,
            Expr::value(suspended_by.to_owned()),
        )
        .col_expr(site_membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .filter(site_membership::Column::Status.ne(MembershipStatus::Suspended))
        .filter(site_membership::Column::SiteId.in_subquery(org_sites))
        .exec_with_returning(tx)
        .await
        .map_err(db_error)
}

/// Restores the account's memberships `suspended_by` suspended: back to
/// active, or to invited if never used (first activity is what turns an
/// invite active); returns them.
pub async fn restore_memberships<C: ConnectionTrait>(
    tx: &C,
    account_id: Uuid,
    suspended_by: &str,
) -> DomainResult<Vec<site_membership::Model>> {
    let restored = SimpleExpr::Case(Box::new(
        Expr::case(
            Expr::col(site_membership::Column::LastActiveAt).is_null(),
            MembershipStatus::Invited,
        )
        .finally(MembershipStatus::Active),
    ));
    site_membership::Entity::update_many()
        .col_expr(site_membership::Column::Status, restored)
        .col_expr(
            site_membership::Column::SuspendedBy,
            Expr::value(Option::<String>::None),
        )
        .col_expr(site_membership::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(site_membership::Column::AccountId.eq(account_id))
        .filter(site_membership::Column::SuspendedBy.eq(suspended_by))
        .exec_with_returning(tx)
        .await
        .map_err(db_error)
}
