//! `/Bulk` (RFC 7644 §3.7): operations in order, each atomic on its own (a
//! savepoint inside one transaction, so a bulk of N users costs one commit),
//! `bulkId` references resolved as resources are created, `failOnErrors`.
//! Runs of `POST /Users` (what sync jobs send) write their plain creates
//! with multi-row inserts (`service::batch`, which import runs too); the
//! answers are those of one by one.

use std::collections::HashMap;

use serde_json::{Map, Value};
use tracing::instrument;
use uuid::Uuid;

use super::batch::{self, Item, Operations};
use super::groups as service_groups;
use super::users as service_users;
use super::{ScimResource, Tx, savepoint, write_on_writer};
use crate::domain::custom_attrs;
use crate::domain::etag::{IfMatch, etag};
use crate::domain::filter::Limits;
use crate::domain::group::{self as domain_group, GroupInput};
use crate::domain::json::{self, JsonObject};
use crate::domain::patch;
use crate::domain::types::ResourceId;
use crate::domain::user::{Prehashed, UserInput};
use crate::error::{ScimError, ScimResult};
use crate::store::Store;
use crate::store::audit::Actor;
use crate::store::directories::DirectoryPrincipal;
use crate::store::events::Origin;
use crate::store::groups::ScimGroup;
use crate::store::org_schemas;
use crate::store::sync_log::{self, SyncEntry};
use crate::store::users::{self, StoredUser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    User,
    Group,
}

struct Operation {
    method: Method,
    bulk_id: Option<String>,
    path: String,
    version: Option<String>,
    /// Moved out of the request: the operations go to the writer thread
    /// ([`write_on_writer`]). Cloned only where it is rewritten ([`run`]
    /// resolves `bulkId` references).
    data: Option<Value>,
    /// The passwords the operation sets, hashed before the transaction
    /// opens ([`hash_passwords`]).
    passwords: Prehashed,
}

/// What one operation produced.
struct Done {
    status: u16,
    id: Option<Uuid>,
    version: Option<i64>,
    /// For the sync log: attributes the write ignored.
    note: Option<String>,
    /// Attribute paths no registered schema knows (not stored).
    dropped: Vec<String>,
}

fn parse_operation(i: usize, v: Value) -> ScimResult<Operation> {
    let Value::Object(mut map) = v else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}] must be an object"
        )));
    };
    let o = JsonObject::new(&map, "bulk operation");
    let method = match o.get("method").and_then(Value::as_str) {
        Some(m) if m.eq_ignore_ascii_case("POST") => Method::Post,
        Some(m) if m.eq_ignore_ascii_case("PUT") => Method::Put,
        Some(m) if m.eq_ignore_ascii_case("PATCH") => Method::Patch,
        Some(m) if m.eq_ignore_ascii_case("DELETE") => Method::Delete,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "Operations[{i}].method must be POST, PUT, PATCH or DELETE"
            )));
        }
    };
    let path = o
        .string("path")?
        .ok_or_else(|| ScimError::invalid_syntax(format!("Operations[{i}] needs a path")))?;
    let bulk_id = o.string("bulkId")?;
    if method == Method::Post && bulk_id.is_none() {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}]: POST needs a bulkId"
        )));
    }
    let version = o.string("version")?;
    Ok(Operation {
        method,
        bulk_id,
        path,
        version,
        data: json::take(&mut map, "data"),
        passwords: Prehashed::default(),
    })
}

/// The clear passwords an operation would set: a User POST/PUT body's
/// `password` (decoded as the operation will decode it), the passwords of a
/// User PATCH's operations ([`patch::passwords`]). Bodies that don't decode
/// fail later, in their place.
fn clear_passwords(op: &Operation, limits: Limits) -> Vec<String> {
    let (Some(Kind::User), Some(data)) = (path_kind(&op.path), op.data.as_ref()) else {
        return vec![];
    };
    match op.method {
        // Without a `password` key (in any case) there is none to hash:
        // no need to decode the body twice.
        Method::Post | Method::Put if !names_password(data) => vec![],
        Method::Post | Method::Put => UserInput::from_body(data)
            .ok()
            .and_then(|i| i.clear_password().map(str::to_owned))
            .into_iter()
            .collect(),
        Method::Patch => patch::parse_request(data, limits)
            .map(|ops| patch::passwords(&ops))
            .unwrap_or_default(),
        Method::Delete => vec![],
    }
}

/// Whether a User body has a top-level `password` key, in any case (the
/// decoder reads it there and nowhere else).
fn names_password(data: &Value) -> bool {
    data.as_object()
        .is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case("password")))
}

/// Hashes the passwords of every User operation (argon2, tens of
/// milliseconds each) on the bounded hashing pool before the transaction
/// opens, so the database's write lock is not held meanwhile. More than
/// `max` passwords in one request: 413, before any hashing.
async fn hash_passwords(ops: &mut [Operation], limits: Limits, max: usize) -> ScimResult<()> {
    let clear: Vec<Vec<String>> = ops.iter().map(|op| clear_passwords(op, limits)).collect();
    let n: usize = clear.iter().map(Vec::len).sum();
    if n > max {
        return Err(ScimError::PayloadTooLarge(format!(
            "the request sets {n} passwords; at most {max} are accepted in one /Bulk request \
             (each takes tens of milliseconds to hash): split it"
        )));
    }
    if n == 0 {
        return Ok(());
    }
    let hashed = Prehashed::hash_groups(clear)
        .await
        .map_err(ScimError::internal)?;
    for (op, passwords) in ops.iter_mut().zip(hashed) {
        op.passwords = passwords;
    }
    Ok(())
}

/// Replaces every `"bulkId:<id>"` string in `v` with the created id.
fn resolve_refs(v: &mut Value, created: &HashMap<String, Uuid>) -> ScimResult<()> {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix("bulkId:") {
                let real = created.get(id).ok_or_else(|| {
                    ScimError::conflict(format!(
                        "bulkId {id:?} does not name a resource created earlier in this request"
                    ))
                })?;
                *s = real.to_string();
            }
        }
        Value::Array(items) => {
            for item in items {
                resolve_refs(item, created)?;
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                resolve_refs(item, created)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The resource type a bulk path names, whatever its id.
fn path_kind(path: &str) -> Option<Kind> {
    let trimmed = path.trim().trim_start_matches('/');
    let res = trimmed.split_once('/').map_or(trimmed, |(r, _)| r);
    if res.eq_ignore_ascii_case("Users") {
        Some(Kind::User)
    } else if res.eq_ignore_ascii_case("Groups") {
        Some(Kind::Group)
    } else {
        None
    }
}

/// `/Users`, `/Groups`, `/Users/{id}`, `/Groups/{id}` (id maybe `bulkId:x`).
fn parse_path(path: &str, created: &HashMap<String, Uuid>) -> ScimResult<(Kind, Option<Uuid>)> {
    let trimmed = path.trim().trim_start_matches('/');
    let (res, id) = match trimmed.split_once('/') {
        Some((r, id)) => (r, Some(id)),
        None => (trimmed, None),
    };
    let kind = if res.eq_ignore_ascii_case("Users") {
        Kind::User
    } else if res.eq_ignore_ascii_case("Groups") {
        Kind::Group
    } else {
        return Err(ScimError::invalid_path(format!(
            "bulk path {path:?} must be /Users or /Groups[/id]"
        )));
    };
    let id = match id {
        None => None,
        Some(id) => {
            let mut v = Value::String(id.to_owned());
            resolve_refs(&mut v, created)?;
            let s = v.as_str().unwrap_or_default().to_owned();
            let id = ResourceId::parse(&s)
                .ok_or_else(|| ScimError::not_found(format!("no resource {s:?} at {path}")))?;
            Some(id.uuid())
        }
    };
    Ok((kind, id))
}

/// One operation: the same use case as the single request
/// (`service::users`, `service::groups`), in the savepoint `tx`.
async fn run(
    tx: &Tx,
    dir: &DirectoryPrincipal,
    limits: Limits,
    op: &Operation,
    created: &HashMap<String, Uuid>,
) -> ScimResult<Done> {
    let (kind, id) = parse_path(&op.path, created)?;
    let if_match = op.version.as_deref().map(IfMatch::parse);
    let mut data = op.data.clone().unwrap_or(Value::Null);
    resolve_refs(&mut data, created)?;
    let need_id = || {
        id.ok_or_else(|| ScimError::invalid_path(format!("{} needs /{{id}}", op.method.as_str())))
    };
    let body = || -> ScimResult<&Value> {
        if data.is_null() {
            Err(ScimError::invalid_syntax(format!(
                "{} {} needs data",
                op.method.as_str(),
                op.path
            )))
        } else {
            Ok(&data)
        }
    };
    let im = if_match.as_ref();
    let user = |status, u: StoredUser, dropped| Done {
        status,
        id: Some(u.link.id),
        version: Some(u.link.version),
        note: u.ignored_note(),
        dropped,
    };
    let group = |status, g: entity::group::Model, dropped| Done {
        status,
        id: Some(g.id),
        version: Some(g.version),
        note: None,
        dropped,
    };
    let deleted = Done {
        status: 204,
        id,
        version: None,
        note: None,
        dropped: vec![],
    };
    Ok(match (kind, op.method) {
        (Kind::User, Method::Post) => {
            if id.is_some() {
                return Err(ScimError::invalid_path("POST goes to /Users"));
            }
            let (input, dropped) = service_users::decode(tx, dir, body()?).await?;
            let input = op.passwords.apply(input);
            user(
                201,
                service_users::provision(tx, dir, input).await?.user,
                dropped,
            )
        }
        (Kind::User, Method::Put) => {
            let (input, dropped) = service_users::decode(tx, dir, body()?).await?;
            let input = op.passwords.apply(input);
            let u = service_users::replace_in(tx, dir, need_id()?, input, im).await?;
            user(200, u, dropped)
        }
        (Kind::User, Method::Patch) => {
            let ops = patch::parse_request(body()?, limits)?;
            let u = service_users::patch_in(tx, dir, need_id()?, &ops, &op.passwords, im).await?;
            user(200, u, vec![])
        }
        (Kind::User, Method::Delete) => {
            StoredUser::delete_in(tx, dir, need_id()?, im).await?;
            deleted
        }
        (Kind::Group, Method::Post) => {
            if id.is_some() {
                return Err(ScimError::invalid_path("POST goes to /Groups"));
            }
            let input = GroupInput::from_json(body()?)?;
            let dropped = org_schemas::group_ignored(tx, dir, &input.extensions).await?;
            group(
                201,
                service_groups::create_in(tx, dir, input).await?,
                dropped,
            )
        }
        (Kind::Group, Method::Put) => {
            let input = GroupInput::from_json(body()?)?;
            let dropped = org_schemas::group_ignored(tx, dir, &input.extensions).await?;
            group(
                200,
                service_groups::replace_in(tx, dir, need_id()?, input, im).await?,
                dropped,
            )
        }
        (Kind::Group, Method::Patch) => {
            let changes = domain_group::changes(&patch::parse_request(body()?, limits)?)?;
            group(
                200,
                service_groups::patch_in(tx, dir, need_id()?, changes, im).await?,
                vec![],
            )
        }
        (Kind::Group, Method::Delete) => {
            ScimGroup::delete_in(tx, dir, need_id()?, im).await?;
            deleted
        }
    })
}

/// `POST /Users` with no `bulkId` reference in it: such runs of operations
/// (what sync jobs send) take the batched path ([`batch::run`]).
fn plain_user_post(op: &Operation) -> bool {
    op.method == Method::Post
        && matches!(
            parse_path(&op.path, &HashMap::new()),
            Ok((Kind::User, None))
        )
        && op
            .data
            .as_ref()
            .is_some_and(|d| d.is_object() && !has_refs(d) && !custom_attrs::mentions_extension(d))
}

/// The user a [`plain_user_post`] creates, its password hashed.
fn user_input(op: &Operation) -> ScimResult<UserInput> {
    let data = op.data.as_ref().unwrap_or(&Value::Null);
    UserInput::from_body(data).map(|i| op.passwords.apply(i))
}

fn has_refs(v: &Value) -> bool {
    match v {
        Value::String(s) => s.starts_with("bulkId:"),
        Value::Array(items) => items.iter().any(has_refs),
        Value::Object(map) => map.values().any(has_refs),
        _ => false,
    }
}

/// One `/Bulk` request being carried out inside its transaction.
struct Bulk<'a> {
    tx: &'a Tx,
    dir: &'a DirectoryPrincipal,
    limits: Limits,
    base: String,
    request_id: Option<String>,
    fail_on_errors: Option<u64>,
    created: HashMap<String, Uuid>,
    results: Vec<Value>,
    errors: u64,
}

impl Bulk<'_> {
    fn log(&self, op: &Operation, kind: Kind, status: u16) -> SyncEntry {
        let (resource_type, collection) = match kind {
            Kind::User => ("User", "/Users"),
            Kind::Group => ("Group", "/Groups"),
        };
        SyncEntry {
            directory_id: self.dir.directory_id,
            operation: format!("{} {collection} (bulk)", op.method.as_str()),
            resource_type,
            resource_id: None,
            status,
            detail: None,
            request_id: self.request_id.clone(),
        }
    }

    fn succeeded(&mut self, op: &Operation, kind: Kind, done: &Done) {
        if let (Some(b), Some(id)) = (&op.bulk_id, done.id)
            && op.method == Method::Post
        {
            self.created.insert(b.clone(), id);
        }
        let mut entry = Map::new();
        entry.insert("method".into(), op.method.as_str().into());
        if let Some(b) = &op.bulk_id {
            entry.insert("bulkId".into(), b.clone().into());
        }
        if let Some(id) = done.id {
            let collection = match kind {
                Kind::User => "Users",
                Kind::Group => "Groups",
            };
            entry.insert(
                "location".into(),
                format!("{}/{collection}/{id}", self.base).into(),
            );
        }
        if let Some(v) = done.version {
            entry.insert("version".into(), etag(v).into());
        }
        entry.insert("status".into(), done.status.to_string().into());
        self.results.push(Value::Object(entry));
    }

    fn failed(&mut self, op: &Operation, e: &ScimError) {
        self.errors += 1;
        let mut entry = Map::new();
        entry.insert("method".into(), op.method.as_str().into());
        if let Some(b) = &op.bulk_id {
            entry.insert("bulkId".into(), b.clone().into());
        }
        entry.insert("status".into(), e.status().to_string().into());
        entry.insert("response".into(), e.to_json());
        self.results.push(Value::Object(entry));
    }
}

impl<'a> Operations for Bulk<'a> {
    type Op = &'a Operation;

    fn entry(&self, op: &&'a Operation) -> SyncEntry {
        self.log(op, Kind::User, 201)
    }

    /// One operation in its own savepoint. A user to create is decoded
    /// again, as the single request decodes it (custom schemas and all):
    /// `_create` is not used.
    async fn one(
        &mut self,
        op: &'a Operation,
        _create: Option<ScimResult<UserInput>>,
    ) -> ScimResult<()> {
        let (dir, limits, created) = (self.dir, self.limits, &self.created);
        let outcome = savepoint(self.tx, async |sp| run(sp, dir, limits, op, created).await).await;
        let (kind, _) = parse_path(&op.path, &self.created).unwrap_or((Kind::User, None));
        match outcome {
            Ok(done) => {
                let entry = SyncEntry {
                    resource_id: done.id.map(|i| i.to_string()),
                    detail: done.note.clone(),
                    ..self.log(op, kind, done.status)
                };
                sync_log::record(self.tx, entry.clone()).await?;
                sync_log::record_ignored(self.tx, &entry, &done.dropped).await?;
                self.succeeded(op, kind, &done);
            }
            Err(e) => {
                if matches!(
                    e,
                    ScimError::Internal { .. } | ScimError::Unavailable { .. }
                ) {
                    // The database itself failed: the whole request does.
                    return Err(e);
                }
                let entry = SyncEntry {
                    detail: Some(e.detail()),
                    ..self.log(op, kind, e.status())
                };
                sync_log::record(self.tx, entry).await?;
                self.failed(op, &e);
            }
        }
        Ok(())
    }

    async fn created(&mut self, op: &'a Operation, id: Uuid) -> ScimResult<()> {
        let done = Done {
            status: 201,
            id: Some(id),
            version: Some(users::FIRST_VERSION),
            note: None,
            dropped: vec![],
        };
        self.succeeded(op, Kind::User, &done);
        Ok(())
    }

    /// `failOnErrors` reached: the remaining operations are not performed.
    fn stopped(&self) -> bool {
        self.fail_on_errors
            .is_some_and(|limit| self.errors >= limit)
    }
}

/// `POST /Bulk`: the operations (checked for size by the caller) in
/// order in one transaction, each in a savepoint of its own; the
/// BulkResponse's `Operations`. `base` is the directory's SCIM base URL
/// (for `location`). Parsed and their passwords hashed here, the
/// operations take their turn on the writer thread ([`write_on_writer`]).
#[allow(clippy::too_many_arguments)]
#[instrument(skip_all, fields(directory = %dir.directory_id, operations = raw_ops.len()), err(level = "debug"))]
pub async fn bulk(
    store: &Store,
    dir: &DirectoryPrincipal,
    request_id: Option<String>,
    base: String,
    raw_ops: Vec<Value>,
    fail_on_errors: Option<u64>,
    limits: Limits,
    max_passwords: usize,
) -> ScimResult<Vec<Value>> {
    let mut ops = raw_ops
        .into_iter()
        .enumerate()
        .map(|(i, v)| parse_operation(i, v))
        .collect::<ScimResult<Vec<_>>>()?;
    hash_passwords(&mut ops, limits, max_passwords).await?;
    let origin = Origin::new(Actor::Directory(dir.directory_id), request_id.clone());
    let dir = dir.clone();
    write_on_writer(store, origin, async move |tx| {
        let mut bulk = Bulk {
            tx,
            dir: &dir,
            limits,
            base,
            request_id,
            fail_on_errors,
            created: HashMap::new(),
            results: Vec::with_capacity(ops.len()),
            errors: 0,
        };
        let items = ops
            .iter()
            .map(|op| Item {
                op,
                create: plain_user_post(op).then(|| user_input(op)),
            })
            .collect();
        batch::run(tx, &dir, &mut bulk, items).await?;
        Ok(bulk.results)
    })
    .await
}
