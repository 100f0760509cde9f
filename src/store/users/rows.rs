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

/// Sets the SCIM columns of the link from `a`, those whose value changes
/// only: an UPDATE then writes those columns, and SQLite rewrites the
/// entries of the indexes over them only (a PATCH of `active` touches one
/// index, `last_modified`'s, instead of seven: it wrote 7.6 pages to the
/// WAL, 3.7 now). A new link's columns are all set.
pub(super) fn set_link_attrs(m: &mut scim_user::ActiveModel, a: &UserAttrs) {
    m.user_name.set_ne(a.user_name.as_str().to_owned());
    m.user_name_lower.set_ne(a.user_name.lower().to_owned());
    m.external_id.set_ne(a.external_id.clone());
    m.display_name.set_ne(a.display_name.clone());
    m.display_name_lower
        .set_ne(a.display_name.as_ref().map(|d| d.to_lowercase()));
    m.nick_name.set_ne(a.nick_name.clone());
    m.profile_url.set_ne(a.profile_url.clone());
    m.title.set_ne(a.title.clone());
    m.user_type.set_ne(a.user_type.clone());
    m.preferred_language.set_ne(a.preferred_language.clone());
    m.locale.set_ne(a.locale.clone());
    m.timezone.set_ne(a.timezone.clone());
    m.active.set_ne(a.active);
    m.name_formatted.set_ne(a.name.formatted.clone());
    m.name_family_name.set_ne(a.name.family_name.clone());
    m.name_given_name.set_ne(a.name.given_name.clone());
    m.name_middle_name.set_ne(a.name.middle_name.clone());
    m.name_honorific_prefix
        .set_ne(a.name.honorific_prefix.clone());
    m.name_honorific_suffix
        .set_ne(a.name.honorific_suffix.clone());
    m.employee_number
        .set_ne(a.enterprise.employee_number.clone());
    m.cost_center.set_ne(a.enterprise.cost_center.clone());
    m.organization.set_ne(a.enterprise.organization.clone());
    m.division.set_ne(a.enterprise.division.clone());
    m.department.set_ne(a.enterprise.department.clone());
    m.manager_value.set_ne(a.enterprise.manager.clone());
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

/// Sets the account's profile columns whose value changes (as
/// [`set_link_attrs`]: an UPDATE writes those only).
pub(super) fn set_profile(m: &mut account::ActiveModel, p: AccountProfile) {
    m.display_name.set_ne(p.display_name);
    m.nickname.set_ne(p.nickname);
    m.job_title.set_ne(p.job_title);
    m.department.set_ne(p.department);
    m.organization.set_ne(p.organization);
    m.location.set_ne(p.location);
    m.timezone.set_ne(p.timezone);
    m.locale.set_ne(p.locale);
    m.profile_photo_url.set_ne(p.profile_photo_url);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use sea_orm::{ActiveModelTrait, Iterable, TryIntoModel};
    use serde_json::json;

    use super::*;
    use crate::domain::user::UserInput;
    use crate::store::directories::Credential;

    fn attrs(active: bool, title: &str) -> UserAttrs {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "Ada@acme.example", "externalId": "x1", "displayName": "Ada L",
            "title": title, "active": active,
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@acme.example", "primary": true}],
        });
        UserInput::from_body(&body).unwrap().attrs
    }

    /// The columns an UPDATE of `m` writes.
    fn written(m: &scim_user::ActiveModel) -> Vec<String> {
        scim_user::Column::iter()
            .filter(|c| m.get(*c).is_set())
            .map(|c| format!("{c:?}"))
            .collect()
    }

    /// A link's UPDATE writes the columns that change, nothing else: each
    /// column set is an index entry SQLite deletes and inserts again.
    #[test]
    fn a_link_update_sets_only_what_changes() {
        let dir = DirectoryPrincipal {
            directory_id: Uuid::now_v7(),
            org_id: Uuid::now_v7(),
            reject_unverified_domains: false,
            credential: Credential::StaticToken(Uuid::now_v7()),
        };
        let new = new_link(&dir, Uuid::now_v7(), &attrs(true, "Engineer"), Utc::now());
        assert_eq!(
            written(&new).len(),
            scim_user::Column::iter().count(),
            "a new link: all"
        );
        let stored: scim_user::ActiveModel = new.try_into_model().unwrap().into();

        let mut same = stored.clone();
        set_link_attrs(&mut same, &attrs(true, "Engineer"));
        assert!(written(&same).is_empty(), "{:?}", written(&same));

        let mut off = stored.clone();
        set_link_attrs(&mut off, &attrs(false, "Engineer"));
        assert_eq!(written(&off), ["Active"]);

        let mut retitled = stored;
        set_link_attrs(&mut retitled, &attrs(false, "Analyst"));
        assert_eq!(written(&retitled), ["Title", "Active"]);
    }

    /// The statements [`row_sql`] binds once a shape's SQL is known are the
    /// ones sea-orm builds, on SQLite and PostgreSQL: new accounts (with
    /// and without an org), new links, link UPDATEs of two shapes and
    /// sync-log entries, each shape written three times (built, then
    /// bound) with different values, NULLs among them.
    #[test]
    fn row_statements_built_once_bind_as_sea_orm_builds_them() {
        use sea_orm::{DbBackend, EntityTrait, QueryTrait};

        use crate::store::row_sql::{self, RowWrite};

        fn same<A: ActiveModelTrait + Clone>(write: RowWrite, row: A)
        where
            A::Entity: 'static,
        {
            for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
                let expected = match write {
                    RowWrite::Insert => A::Entity::insert(row.clone()).build(backend),
                    RowWrite::Update => A::Entity::update(row.clone())
                        .validate()
                        .unwrap()
                        .build(backend),
                };
                let got = row_sql::statement(backend, write, row.clone()).unwrap();
                assert!(row_sql::kept(backend, write, &row), "{}", got.sql);
                assert_eq!(got.sql, expected.sql);
                assert_eq!(got.values, expected.values, "{}", got.sql);
            }
        }

        let dir = DirectoryPrincipal {
            directory_id: Uuid::now_v7(),
            org_id: Uuid::now_v7(),
            reject_unverified_domains: false,
            credential: Credential::StaticToken(Uuid::now_v7()),
        };
        for i in 0..3 {
            let email = Email::parse(&format!("user{i}@acme.example")).unwrap();
            let org = (i % 2 == 0).then(Uuid::now_v7);
            same(
                RowWrite::Insert,
                new_account(org, &email, None, None, Utc::now()).unwrap(),
            );
            let title = format!("Title {i}");
            let link = new_link(&dir, Uuid::now_v7(), &attrs(i == 1, &title), Utc::now());
            same(RowWrite::Insert, link.clone());

            let stored: scim_user::ActiveModel = link.try_into_model().unwrap().into();
            let mut off = stored.clone();
            set_link_attrs(&mut off, &attrs(i != 1, &title));
            same(RowWrite::Update, off);
            let mut retitled = stored;
            set_link_attrs(&mut retitled, &attrs(i != 1, &format!("Other {i}")));
            same(RowWrite::Update, retitled);
            // One value, then three of two attributes.
            let many = json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "Ada@acme.example",
                "emails": [{"value": "ada@acme.example", "primary": true},
                           {"value": "ada@home.example", "type": "home"}],
                "phoneNumbers": [{"value": "+1 555 0100", "type": "work"}],
            });
            let many = UserInput::from_body(&many).unwrap().attrs;
            let of = if i == 0 { attrs(true, &title) } else { many };
            let values = value_rows(Uuid::now_v7(), &dir, &of);
            assert_eq!(values.len(), if i == 0 { 1 } else { 3 });
            for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
                let expected = scim_user_value::Entity::insert_many(values.clone()).build(backend);
                let got = row_sql::insert_many(backend, values.clone()).unwrap();
                assert!(row_sql::kept_many(backend, &values), "{}", got.sql);
                assert_eq!(got.sql, expected.sql);
                assert_eq!(got.values, expected.values, "{}", got.sql);
            }
            let entry = crate::store::sync_log::SyncEntry {
                directory_id: dir.directory_id,
                operation: "POST /Users".into(),
                resource_type: "User",
                resource_id: (i != 0).then(|| i.to_string()),
                status: [201, 409, 200][i],
                detail: (i == 1).then(|| "taken".to_owned()),
                request_id: (i != 2).then(|| format!("req-{i}")),
            };
            same(
                RowWrite::Insert,
                crate::store::sync_log::row(entry, Utc::now()),
            );
        }
    }
}
