//! SCIM Users, one function per use case: `POST` ([`create`]), `PUT`
//! ([`replace`]), `PATCH` ([`patch`]), `DELETE` ([`delete`]). Each reads
//! top to bottom: prepare (decode, hash a password) → [`write`] (begin →
//! lock and load → the `lifecycle` decision → writes → sync log, events →
//! commit). The `*_in` functions are the same use cases inside a
//! transaction the caller owns (`/Bulk`, `import users`).

use std::collections::{HashMap, HashSet};

use entity::{account, site_membership};
use serde_json::{Value, json};
use tracing::instrument;
use uuid::Uuid;

use super::{PathId, ScimResource, ScimWrite, Tx, write_on_writer};
use crate::domain::etag::IfMatch;
use crate::domain::filter::Limits;
use crate::domain::lifecycle::{
    AccountStatus, ActiveEffect, Authority, EmailEffect, ProvisionPlan, on_active_change,
    on_delete, on_email_change, plan_provision, seeds_profile,
};
use crate::domain::patch::{self, PatchOp};
use crate::domain::secrets;
use crate::domain::user::{AccountProfile, Password, Prehashed, UserAttrs, UserInput};
use crate::error::{ScimError, ScimResult};
use crate::store::audit::{self, Actor, AuditEntry};
use crate::store::directories::{DirectoryPrincipal, authorities, authority_of};
use crate::store::events::{self, EventType, NewEvent};
use crate::store::sync_log::SyncEntry;
use crate::store::users::{
    self as store, AccountChange, PlainCreate, StoredUser, facts, profile_of, required_email,
};
use crate::store::{ROWS_PER_INSERT, Store, accounts, org_schemas, site_users};

impl ScimResource for StoredUser {
    const KIND: &'static str = "User";

    /// `POST /Users`: find the account by email or create it, link it to the
    /// directory.
    #[instrument(skip_all, fields(directory = %w.dir.directory_id), err(level = "debug"))]
    async fn create(store: &Store, w: &ScimWrite, body: &Value) -> ScimResult<Self> {
        let (input, dropped) = decode(store.reader(), &w.dir, body).await?;
        let input = hash_first(input).await?;
        let w = w.clone();
        write_on_writer(store, w.origin(), async move |tx| {
            let done = provision(tx, &w.dir, input).await?;
            let id = Some(done.user.link.id.to_string());
            w.succeeded(tx, id.clone(), 201, done.user.ignored_note())
                .await?;
            w.dropped(tx, id, 201, &dropped).await?;
            Ok(done.user)
        })
        .await
    }

    /// `PUT /Users/{id}`: the IdP's view replaces ours.
    #[instrument(skip_all, fields(directory = %w.dir.directory_id, id = id.raw), err(level = "debug"))]
    async fn replace(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        body: &Value,
        if_match: Option<&IfMatch>,
    ) -> ScimResult<Self> {
        let (input, dropped) = decode(store.reader(), &w.dir, body).await?;
        let input = hash_first(input).await?;
        let (w, if_match, uid, rid) = (w.clone(), if_match.cloned(), id.id, id.logged());
        write_on_writer(store, w.origin(), async move |tx| {
            let u = replace_in(tx, &w.dir, uid, input, if_match.as_ref()).await?;
            w.dropped(tx, rid.clone(), 200, &dropped).await?;
            w.succeeded(tx, rid, 200, u.ignored_note()).await?;
            Ok(u)
        })
        .await
    }

    /// `PATCH /Users/{id}` (`{"active": false}` among others): the
    /// operations apply to the stored document, which then goes the way of
    /// a PUT (`status`: 200, a User's PATCH always shows it).
    #[instrument(skip_all, fields(directory = %w.dir.directory_id, id = id.raw), err(level = "debug"))]
    async fn patch(
        store: &Store,
        w: &ScimWrite,
        id: PathId<'_>,
        body: &Value,
        limits: Limits,
        if_match: Option<&IfMatch>,
        status: u16,
    ) -> ScimResult<Self> {
        let ops = patch::parse_request(body, limits)?;
        let passwords = Prehashed::hash(patch::passwords(&ops))
            .await
            .map_err(ScimError::internal)?;
        let (w, if_match, uid, rid) = (w.clone(), if_match.cloned(), id.id, id.logged());
        write_on_writer(store, w.origin(), async move |tx| {
            let u = patch_in(tx, &w.dir, uid, &ops, &passwords, if_match.as_ref()).await?;
            w.succeeded(tx, rid, status, u.ignored_note()).await?;
            Ok(u)
        })
        .await
    }

    /// `DELETE /Users/{id}` in the caller's transaction: deactivate or
    /// suspend, leave the directory's groups, unlink. The account and its
    /// data stay.
    #[instrument(level = "debug", skip_all, fields(directory = %dir.directory_id, user = %id), err(level = "debug"))]
    async fn delete_in(
        tx: &Tx,
        dir: &DirectoryPrincipal,
        id: Uuid,
        if_match: Option<&IfMatch>,
    ) -> ScimResult<()> {
        let (current, linked) = store::lock_linked(tx, dir, id, if_match).await?;
        let (account, authority) = (linked.account, linked.authority);
        let effect = if current.link.active {
            on_delete(
                &facts(&account),
                authority.is_authoritative(dir.directory_id),
            )
        } else {
            // `active: false` already took effect.
            ActiveEffect::Nothing
        };
        let effect = skip_absent_memberships(effect, linked.has_memberships);
        apply_effect(tx, dir, account.id, effect).await?;
        // Leaving each group ends the access it granted, with its events,
        // exactly as a member removal does.
        for group_id in store::directory_groups_of(tx, dir, account.id).await? {
            crate::store::groups::remove_members(tx, group_id, &[account.id]).await?;
        }
        Ok(store::unlink(tx, id).await?)
    }

    fn version(&self) -> i64 {
        self.link.version
    }
}

/// A User body decoded, with the organization's extensions: the input and
/// the attribute paths no registered schema knows (dropped).
pub async fn decode<C: sea_orm::ConnectionTrait>(
    db: &C,
    dir: &DirectoryPrincipal,
    body: &Value,
) -> ScimResult<(UserInput, Vec<String>)> {
    let input = UserInput::from_body(body)?;
    Ok(org_schemas::with_custom(db, dir, body, input).await?)
}

/// Hashes a new password (argon2, tens of milliseconds) on the bounded
/// hashing pool before the write transaction opens, so the database's
/// write lock is not held meanwhile.
pub async fn hash_first(mut input: UserInput) -> ScimResult<UserInput> {
    let Some(clear) = input.clear_password() else {
        return Ok(input);
    };
    let hash = secrets::hash_password_bounded(clear.to_owned())
        .await
        .map_err(ScimError::internal)?;
    input.password = Some(Password::Hashed(hash));
    Ok(input)
}

/// What `POST /Users` did about the account behind the new link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountOutcome {
    /// No account had the email: one was created.
    Created,
    /// An account with the email existed and was linked to the directory.
    Linked,
}

/// A provisioned user and what happened to its account.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub user: StoredUser,
    pub account: AccountOutcome,
}

/// `POST /Users` as one logged write, in the caller's transaction: the
/// user is provisioned and the success appended to the sync log (`log`
/// names the operation; its id and status are filled in here). `import
/// users` goes through here, so an imported row is exactly a POST.
#[instrument(level = "debug", skip_all, fields(directory = %dir.directory_id), err(level = "debug"))]
pub async fn create_logged(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    input: UserInput,
    log: SyncEntry,
) -> ScimResult<Provisioned> {
    let done = provision(tx, dir, input).await?;
    let entry = SyncEntry {
        resource_id: Some(done.user.link.id.to_string()),
        status: 201,
        detail: done.user.ignored_note(),
        ..log
    };
    crate::store::sync_log::record(tx, entry).await?;
    Ok(done)
}

/// `POST /Users` in the caller's transaction, telling whether the account
/// was created or linked.
#[instrument(level = "debug", skip_all, fields(directory = %dir.directory_id), err(level = "debug"))]
pub async fn provision(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    input: UserInput,
) -> ScimResult<Provisioned> {
    let mut attrs = input.attrs;
    let taken = |id: Uuid| {
        ScimError::uniqueness(format!(
            "userName {:?} is already in use in this directory (id {id})",
            attrs.user_name.as_str(),
        ))
    };
    let email = match required_email(&attrs) {
        Ok(email) => email,
        Err(e) => {
            // A taken userName is the answer before a missing email.
            if let Some(existing) = store::by_user_name(tx, dir, &attrs.user_name).await? {
                return Err(taken(existing.id));
            }
            return Err(e.into());
        }
    };
    // The userName, the domain's authority and the email's account in one
    // statement (this runs under the write lock).
    let probe = store::provision_probe(tx, dir, &attrs.user_name, &email).await?;
    if let Some(id) = probe.taken_by {
        return Err(taken(id));
    }
    let authority = probe.authority;
    let authoritative = authority.is_authoritative(dir.directory_id);
    let existing = probe.existing;
    let plan = plan_provision(
        existing.as_ref().map(facts).as_ref(),
        &authority,
        dir.org_id,
        dir.reject_unverified_domains,
        email.as_str(),
    )?;
    let outcome = match plan {
        ProvisionPlan::Create { .. } => AccountOutcome::Created,
        ProvisionPlan::Link { .. } => AccountOutcome::Linked,
    };
    // Passwords are kept only from the authoritative directory.
    let password = input.password.as_ref().filter(|_| authoritative);
    let mut ignored = Vec::new();
    if input.password.is_some() && !authoritative {
        ignored.push("password");
    }
    let mut created_event = None;
    let account = match plan {
        ProvisionPlan::Create { managing_org } => {
            let seeds = seeds_profile(&authority, dir.directory_id);
            if !seeds {
                ignored.extend(attrs.keep_account_profile(&AccountProfile::default(), None));
            }
            let created = store::insert_account(
                tx,
                managing_org,
                &email,
                seeds.then(|| attrs.account_profile()),
                password,
            )
            .await?;
            // Recorded once the link is written (below): its INSERT then
            // goes to the database with the next statement that can carry
            // it (the sync log's), not on its own (`store::carry`).
            created_event =
                managing_org.map(|org| store::account_created(org, dir, created.id, &email));
            created
        }
        ProvisionPlan::Link { account: id, claim } => {
            let current =
                existing.ok_or_else(|| ScimError::internal("planned link without account"))?;
            if probe.existing_linked {
                return Err(ScimError::uniqueness(format!(
                    "the account with email {email} is already provisioned in this directory under another userName"
                )));
            }
            let mut change = AccountChange::default();
            if claim {
                // The org that verified the domain claims it: a password
                // someone else set does not survive.
                change.claim_by = authority.managing_org;
                if let Some(org) = authority.managing_org {
                    audit::record(
                        tx,
                        AuditEntry::new(
                            org,
                            Actor::Directory(dir.directory_id),
                            "account.claim",
                            "account",
                            current.id,
                        )
                        .detail("claimed on provisioning; password cleared, reset required"),
                    )
                    .await?;
                    let data = json!({"account_id": current.id, "email": current.email});
                    let e = NewEvent::new(org, EventType::AccountClaimed, data);
                    events::record(tx, e.directory(dir.directory_id)).await?;
                }
            }
            if authoritative {
                if profile_of(&current) != attrs.account_profile() {
                    let data = json!({"changed": profile_changes(&current, &attrs)});
                    events::for_account(tx, id, EventType::AccountProfileUpdated, data).await?;
                }
                change.profile = Some(attrs.account_profile());
                change.password = password.cloned();
            } else if authority.managing_org.is_some() {
                ignored.extend(
                    attrs.keep_account_profile(&profile_of(&current), current.email.as_deref()),
                );
            }
            if claim || authoritative {
                store::update_account(tx, current, change).await?
            } else {
                // Nothing of the account is this directory's to write.
                current
            }
        }
    };
    let link = store::insert_link(tx, dir, account.id, &attrs).await?;
    if let Some(e) = created_event {
        events::record(tx, e).await?;
    }
    // Provisioned inactive: the rules apply as if it had just turned off.
    // Provisioned active onto an account an earlier unlink deactivated or
    // suspended: as if it had just turned on again.
    let f = facts(&account);
    let effect = if !attrs.active {
        on_active_change(&f, authoritative, true, false)?
    } else if f.status != AccountStatus::Active || !authoritative {
        on_active_change(&f, authoritative, false, true)?
    } else {
        ActiveEffect::Nothing
    };
    // A new account has no site membership to suspend or restore.
    let effect = skip_absent_memberships(effect, outcome == AccountOutcome::Linked);
    apply_effect(tx, dir, account.id, effect).await?;
    // What was written is what a read would return: no need to read it back.
    Ok(Provisioned {
        user: StoredUser {
            link,
            attrs,
            groups: vec![],
            ignored,
        },
        account: outcome,
    })
}

/// `PUT /Users/{id}` in the caller's transaction.
#[instrument(level = "debug", skip_all, fields(directory = %dir.directory_id, user = %id), err(level = "debug"))]
pub async fn replace_in(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    id: Uuid,
    input: UserInput,
    if_match: Option<&IfMatch>,
) -> ScimResult<StoredUser> {
    let (current, linked) = store::lock_linked(tx, dir, id, if_match).await?;
    update(tx, dir, current, linked, input).await
}

/// `PATCH /Users/{id}` in the caller's transaction. A password the
/// operations set takes its hash from `passwords` ([`patch::passwords`],
/// hashed before the transaction).
#[instrument(level = "debug", skip_all, fields(directory = %dir.directory_id, user = %id), err(level = "debug"))]
pub async fn patch_in(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    id: Uuid,
    ops: &[PatchOp],
    passwords: &Prehashed,
    if_match: Option<&IfMatch>,
) -> ScimResult<StoredUser> {
    let (current, linked) = store::lock_linked(tx, dir, id, if_match).await?;
    let ext = if current.attrs.custom.is_empty() && !patch::mentions_extension(ops) {
        vec![]
    } else {
        org_schemas::user_extensions(tx, dir.org_id).await?
    };
    let mut doc = current.attrs.to_json();
    patch::apply_to_user_with(&mut doc, ops, &ext)?;
    let doc = Value::Object(doc);
    let (input, _ignored) = UserInput::from_json(&doc)?.with_custom(&doc, &ext)?;
    let input = passwords.apply(input);
    update(tx, dir, current, linked, input).await
}

/// A PUT or PATCH of a locked link (with its account, as locked): what
/// the writing directory may change of the account (the trust model), the
/// email rule, the `active` effect, then the link itself.
async fn update(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    current: StoredUser,
    linked: store::LinkedAccount,
    input: UserInput,
) -> ScimResult<StoredUser> {
    let mut attrs = input.attrs;
    let (account, authority) = (linked.account, linked.authority);
    let f = facts(&account);
    let authoritative = authority.is_authoritative(dir.directory_id);
    let mut ignored = Vec::new();
    if !authoritative && authority.managing_org.is_some() {
        // Another directory's account: the directory's view keeps showing
        // the account as it is.
        ignored = attrs.keep_account_profile(&profile_of(&account), account.email.as_deref());
    }
    if input.password.is_some() && !authoritative {
        ignored.push("password");
    }

    let mut change = AccountChange::default();
    let profile_changed = authoritative && profile_of(&account) != attrs.account_profile();
    let new_email = required_email(&attrs)?;
    if account.email_lower.as_deref() != Some(new_email.lower()) {
        let verified = authority_of(tx, new_email.domain()).await?.managing_org == Some(dir.org_id);
        if on_email_change(authoritative, new_email.as_str(), verified)?
            == EmailEffect::UpdateAccount
        {
            change.email = Some(new_email.clone());
        }
    }
    let email_changed = change.email.is_some();
    if authoritative {
        change.profile = Some(attrs.account_profile());
        change.password = input.password.clone();
    }
    // Only what changes is written: a PATCH of `active` leaves the row be.
    if email_changed || profile_changed || change.password.is_some() {
        store::update_account(tx, account.clone(), change).await?;
    }
    if profile_changed {
        let data = json!({"changed": profile_changes(&account, &attrs)});
        events::for_account(tx, account.id, EventType::AccountProfileUpdated, data).await?;
    }
    if email_changed {
        let data = json!({"previous_email": account.email});
        events::for_account(tx, account.id, EventType::AccountEmailChanged, data).await?;
    }
    let effect = on_active_change(&f, authoritative, current.link.active, attrs.active)?;
    let effect = skip_absent_memberships(effect, linked.has_memberships);
    let link = store::update_link(tx, dir, current.link, &current.attrs, &attrs).await?;
    // Last, so that its events' INSERTs go to the database with the sync
    // log's (`store::carry`), not each on its own.
    apply_effect(tx, dir, account.id, effect).await?;
    Ok(StoredUser {
        link,
        attrs,
        groups: current.groups,
        ignored,
    })
}

/// `effect`, less a suspension or restoration of site memberships the
/// account does not have (`has_memberships` false): no statement for
/// nothing.
fn skip_absent_memberships(effect: ActiveEffect, has_memberships: bool) -> ActiveEffect {
    match effect {
        ActiveEffect::SuspendOrgMemberships | ActiveEffect::RestoreOrgMemberships
            if !has_memberships =>
        {
            ActiveEffect::Nothing
        }
        effect => effect,
    }
}

/// Carries out what `lifecycle` decided.
async fn apply_effect(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    account_id: Uuid,
    effect: ActiveEffect,
) -> ScimResult<()> {
    let suspended_by = format!("directory:{}", dir.directory_id);
    match effect {
        ActiveEffect::Nothing => {}
        ActiveEffect::DeactivateAccount => accounts::deactivate(tx, account_id).await?,
        ActiveEffect::ReactivateAccount => accounts::reactivate(tx, account_id).await?,
        ActiveEffect::SuspendOrgMemberships => {
            let suspended =
                site_users::suspend_org_memberships(tx, dir.org_id, account_id, &suspended_by)
                    .await?;
            membership_events(tx, dir, suspended, EventType::MembershipSuspended).await?;
        }
        ActiveEffect::RestoreOrgMemberships => {
            let restored = site_users::restore_memberships(tx, account_id, &suspended_by).await?;
            membership_events(tx, dir, restored, EventType::MembershipRestored).await?;
        }
    }
    Ok(())
}

/// One event per membership a SCIM `active` change suspended or restored
/// (on the directory's org's sites, so the org's events).
async fn membership_events(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    rows: Vec<site_membership::Model>,
    kind: EventType,
) -> ScimResult<()> {
    let list = rows
        .into_iter()
        .map(|m| {
            let data = json!({"status": m.status, "via": "directory"});
            let data = events::site_data(m.site_id, m.account_id, data);
            NewEvent::new(dir.org_id, kind, data).directory(dir.directory_id)
        })
        .collect();
    Ok(events::record_many(tx, list).await?)
}

/// Names of the profile attributes `attrs` changes on the account.
fn profile_changes(a: &account::Model, attrs: &UserAttrs) -> Vec<&'static str> {
    let (old, new) = (profile_of(a), attrs.account_profile());
    let fields = [
        ("display_name", old.display_name != new.display_name),
        ("nickname", old.nickname != new.nickname),
        ("job_title", old.job_title != new.job_title),
        ("department", old.department != new.department),
        ("organization", old.organization != new.organization),
        ("location", old.location != new.location),
        ("timezone", old.timezone != new.timezone),
        ("locale", old.locale != new.locale),
        (
            "profile_photo_url",
            old.profile_photo_url != new.profile_photo_url,
        ),
    ];
    fields
        .into_iter()
        .filter_map(|(k, changed)| changed.then_some(k))
        .collect()
}

/// What the database holds about a window of users about to be created:
/// the userNames already taken in the directory, the emails that already
/// have an account, and who writes accounts on their domains, read
/// in three queries for the whole window instead of three per user. The
/// fast path of `/Bulk` and `import users` ([`store::create_plain`]).
#[derive(Debug, Default)]
pub struct CreateProbe {
    names: HashSet<String>,
    emails: HashSet<String>,
    authority: HashMap<String, Authority>,
}

/// What [`CreateProbe::claim`] found.
#[derive(Debug)]
pub enum Claim {
    Plain(PlainCreate),
    /// Not plain: to provision one by one ([`provision`]).
    OneByOne(UserInput),
}

impl CreateProbe {
    pub async fn read<C: sea_orm::ConnectionTrait>(
        db: &C,
        dir: &DirectoryPrincipal,
        window: &[&UserAttrs],
    ) -> ScimResult<Self> {
        let mut names = Vec::with_capacity(window.len());
        let mut emails = Vec::with_capacity(window.len());
        let mut domains = HashSet::new();
        for a in window {
            names.push(a.user_name.lower().to_owned());
            if let Ok(Some(e)) = a.account_email() {
                emails.push(e.lower().to_owned());
                domains.insert(e.domain().to_owned());
            }
        }
        let mut probe = Self::default();
        probe
            .names
            .extend(store::taken_names(db, dir.directory_id, &names).await?);
        probe.emails.extend(store::taken_emails(db, &emails).await?);
        let domains: Vec<String> = domains.into_iter().collect();
        for chunk in domains.chunks(ROWS_PER_INSERT) {
            probe.authority.extend(authorities(db, chunk).await?);
        }
        Ok(probe)
    }

    /// Whether `input` is a plain create: active, its userName free, no
    /// account with its email, allowed by the provisioning decision, and
    /// nothing of it ignored (the directory may seed the profile and keep
    /// a password). Its userName and email count as taken afterwards
    /// either way, so a later user of the window with the same keys is not
    /// plain: it goes the one-by-one way ([`provision`]) and sees what the
    /// earlier one did.
    pub fn claim(&mut self, dir: &DirectoryPrincipal, input: UserInput) -> Claim {
        let attrs = &input.attrs;
        let name_free = self.names.insert(attrs.user_name.lower().to_owned());
        let Ok(Some(email)) = attrs.account_email() else {
            return Claim::OneByOne(input);
        };
        let email_free = self.emails.insert(email.lower().to_owned());
        let authority = self
            .authority
            .get(email.domain())
            .copied()
            .unwrap_or_default();
        // The same decision `provision` takes; a refusal is its to word.
        let plan = plan_provision(
            None,
            &authority,
            dir.org_id,
            dir.reject_unverified_domains,
            email.as_str(),
        );
        let nothing_ignored = seeds_profile(&authority, dir.directory_id)
            && (input.password.is_none() || authority.is_authoritative(dir.directory_id));
        match plan {
            Ok(ProvisionPlan::Create { managing_org })
                if name_free && email_free && nothing_ignored && attrs.active =>
            {
                Claim::Plain(PlainCreate {
                    input,
                    email,
                    managing_org,
                })
            }
            _ => Claim::OneByOne(input),
        }
    }
}
