//! Row mapping: a link's columns and value rows from `UserAttrs`, an
//! account row's facts and profile, the rows of a new account and link.

use chrono::{DateTime, Utc};
use entity::{account, scim_user, scim_user_value};
use sea_orm::{NotSet, Set};
use uuid::Uuid;

use crate::domain::error::{DomainError, DomainResult};
use crate::domain::lifecycle::{AccountFacts, AccountStatus};
use crate::domain::types::Email;
use crate::domain::user::{AccountProfile, MULTI_VALUED, Password, UserAttrs};
use crate::store::directories::DirectoryPrincipal;
use crate::store::org_schemas;

/// Sets every SCIM column of the link from `a`.
pub(super) fn set_link_attrs(m: &mut scim_user::ActiveModel, a: &UserAttrs) {
    m.user_name = Set(a.user_name.as_str().to_owned());
    m.user_name_lower = Set(a.user_name.lower().to_owned());
    m.external_id = Set(a.external_id.clone());
    m.display_name = Set(a.display_name.clone());
    m.display_name_lower = Set(a.display_name.as_ref().map(|d| d.to_lowercase()));
    m.nick_name = Set(a.nick_name.clone());
    m.profile_url = Set(a.profile_url.clone());
    m.title = Set(a.title.clone());
    m.user_type = Set(a.user_type.clone());
    m.preferred_language = Set(a.preferred_language.clone());
    m.locale = Set(a.locale.clone());
    m.timezone = Set(a.timezone.clone());
    m.active = Set(a.active);
    m.name_formatted = Set(a.name.formatted.clone());
    m.name_family_name = Set(a.name.family_name.clone());
    m.name_given_name = Set(a.name.given_name.clone());
    m.name_middle_name = Set(a.name.middle_name.clone());
    m.name_honorific_prefix = Set(a.name.honorific_prefix.clone());
    m.name_honorific_suffix = Set(a.name.honorific_suffix.clone());
    m.employee_number = Set(a.enterprise.employee_number.clone());
    m.cost_center = Set(a.enterprise.cost_center.clone());
    m.organization = Set(a.enterprise.organization.clone());
    m.division = Set(a.enterprise.division.clone());
    m.department = Set(a.enterprise.department.clone());
    m.manager_value = Set(a.enterprise.manager.clone());
}

/// The `scim_user_values` rows of a link's multi-valued attributes.
pub(super) fn value_rows(
    user_id: Uuid,
    dir: &DirectoryPrincipal,
    a: &UserAttrs,
) -> Vec<scim_user_value::ActiveModel> {
    let directory_id = dir.directory_id;
    let mut rows = Vec::new();
    let base = |attr: &str, position: usize| scim_user_value::ActiveModel {
        id: NotSet,
        user_id: Set(user_id),
        directory_id: Set(directory_id),
        attr: Set(attr.to_owned()),
        position: Set(position as i32),
        value: Set(None),
        value_lower: Set(None),
        display: Set(None),
        r#type: Set(None),
        primary: Set(None),
        formatted: Set(None),
        street_address: Set(None),
        locality: Set(None),
        region: Set(None),
        postal_code: Set(None),
        country: Set(None),
        unique_key: Set(None),
    };
    for attr in MULTI_VALUED {
        for (i, v) in a.multi(attr).iter().enumerate() {
            let mut row = base(attr, i);
            row.value = Set(v.value.clone());
            row.value_lower = Set(v.value.as_ref().map(|s| s.to_lowercase()));
            row.display = Set(v.display.clone());
            row.r#type = Set(v.kind.clone());
            row.primary = Set(v.primary);
            rows.push(row);
        }
    }
    for (i, ad) in a.addresses.iter().enumerate() {
        let mut row = base("addresses", i);
        row.formatted = Set(ad.formatted.clone());
        row.street_address = Set(ad.street_address.clone());
        row.locality = Set(ad.locality.clone());
        row.region = Set(ad.region.clone());
        row.postal_code = Set(ad.postal_code.clone());
        row.country = Set(ad.country.clone());
        row.r#type = Set(ad.kind.clone());
        row.primary = Set(ad.primary);
        rows.push(row);
    }
    // Custom extension values: one row a scalar (see `ValueRow`).
    for r in a.custom.rows() {
        let mut row = base(&r.key, 0);
        row.unique_key = Set(org_schemas::unique_key(
            &a.custom,
            &r,
            directory_id,
            dir.org_id,
        ));
        row.position = Set(r.position);
        row.value_lower = Set(Some(r.text.to_lowercase()));
        row.value = Set(Some(r.text));
        row.display = Set(r.sub);
        row.r#type = Set(Some(r.kind.to_owned()));
        rows.push(row);
    }
    rows
}

pub fn facts(a: &account::Model) -> AccountFacts {
    AccountFacts {
        id: a.id,
        status: a.status,
        managing_org: a.managing_org_id,
        deactivated: a.deactivated_at.is_some(),
    }
}

/// Writes the account's profile.
pub(super) fn set_profile(m: &mut account::ActiveModel, p: AccountProfile) {
    m.display_name = Set(p.display_name);
    m.nickname = Set(p.nickname);
    m.job_title = Set(p.job_title);
    m.department = Set(p.department);
    m.organization = Set(p.organization);
    m.location = Set(p.location);
    m.timezone = Set(p.timezone);
    m.locale = Set(p.locale);
    m.profile_photo_url = Set(p.profile_photo_url);
}

/// The account's profile as stored.
pub fn profile_of(a: &account::Model) -> AccountProfile {
    AccountProfile {
        display_name: a.display_name.clone(),
        nickname: a.nickname.clone(),
        job_title: a.job_title.clone(),
        department: a.department.clone(),
        organization: a.organization.clone(),
        location: a.location.clone(),
        timezone: a.timezone.clone(),
        locale: a.locale.clone(),
        profile_photo_url: a.profile_photo_url.clone(),
    }
}

/// The PHC string to store. Every path hashes before its transaction opens
/// (argon2 would hold the write lock for tens of milliseconds a password):
/// a clear password here is a bug, refused rather than hashed.
pub(super) fn hash(password: &Password) -> DomainResult<String> {
    match password {
        Password::Hashed(h) => Ok(h.clone()),
        Password::Clear(_) => Err(DomainError::internal(
            "a password reached the write transaction unhashed",
        )),
    }
}

/// A new active account row for `POST /Users`, managed by `managing_org`,
/// with `profile` (none when the writing directory may not seed it).
pub(super) fn new_account(
    managing_org: Option<Uuid>,
    email: &Email,
    profile: Option<AccountProfile>,
    password: Option<&Password>,
    now: DateTime<Utc>,
) -> DomainResult<account::ActiveModel> {
    let mut m = account::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(Some(email.as_str().to_owned())),
        email_lower: Set(Some(email.lower().to_owned())),
        email_domain: Set(Some(email.domain().to_owned())),
        status: Set(AccountStatus::Active),
        managing_org_id: Set(managing_org),
        last_active_at: Set(None),
        two_step_enabled: Set(false),
        saml_sso: Set(false),
        two_step_excluded_until: Set(None),
        password_reset_required: Set(false),
        password_hash: Set(password.map(hash).transpose()?),
        deactivated_at: Set(None),
        deletion_requested_at: Set(None),
        purge_after: Set(None),
        deleted_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    set_profile(&mut m, profile.unwrap_or_default());
    Ok(m)
}

/// The version (and so the ETag) of a link just created.
pub const FIRST_VERSION: i64 = 1;

/// A new provisioning link ([`FIRST_VERSION`]) of `account` in the directory.
pub(super) fn new_link(
    dir: &DirectoryPrincipal,
    account: Uuid,
    attrs: &UserAttrs,
    now: DateTime<Utc>,
) -> scim_user::ActiveModel {
    let mut link = scim_user::ActiveModel {
        id: Set(Uuid::now_v7()),
        directory_id: Set(dir.directory_id),
        account_id: Set(account),
        version: Set(FIRST_VERSION),
        created_at: Set(now),
        last_modified: Set(now),
        ..Default::default()
    };
    set_link_attrs(&mut link, attrs);
    link
}
