//! `/Bulk` (RFC 7644 §3.7): operations in order, each atomic on its own (a
//! savepoint inside one transaction, so a bulk of N users costs one commit),
//! `bulkId` references resolved as resources are created, `failOnErrors`.
//! Runs of `POST /Users` (what sync jobs send) write their plain creates
//! with multi-row inserts; the answers are those of one by one.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::auth::Directory;
use super::body::ScimBody;
use super::scim::{directory_base, scim_response};
use crate::domain::custom_attrs;
use crate::domain::etag::{IfMatch, etag};
use crate::domain::filter::Limits;
use crate::domain::group::{self as domain_group, GroupInput};
use crate::domain::json::JsonObject;
use crate::domain::patch;
use crate::domain::user::{Prehashed, UserInput};
use crate::error::{ScimError, ScimResult};
use crate::startup::AppState;
use crate::store::audit::Actor;
use crate::store::db_error;
use crate::store::directories::DirectoryPrincipal;
use crate::store::events::{self, Origin};
use crate::store::sync_log::{self, SyncEntry};
use crate::store::{groups, org_schemas, users};

pub const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";

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
}

fn parse_operation(i: usize, v: &Value) -> ScimResult<Operation> {
    let Value::Object(o) = v else {
        return Err(ScimError::invalid_syntax(format!(
            "Operations[{i}] must be an object"
        )));
    };
    let o = JsonObject::new(o, "bulk operation");
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
    Ok(Operation {
        method,
        bulk_id,
        path,
        version: o.string("version")?,
        data: o.get("data").cloned(),
        passwords: Prehashed::default(),
    })
}

/// The clear passwords an operation would set: a User POST/PUT body's
/// `password` (decoded as the operation will decode it), the passwords of a
/// User PATCH's operations ([`patch::passwords`]). Bodies that don't decode
/// fail later, in their place.
fn clear_passwords(op: &Operation, limits: Limits) -> Vec<String> {
    let (Some(Kind::User), Some(data)) = (path_kind(&op.path), &op.data) else {
        return vec![];
    };
    match op.method {
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
            Some(
                Uuid::parse_str(&s)
                    .map_err(|_| ScimError::not_found(format!("no resource {s:?} at {path}")))?,
            )
        }
    };
    Ok((kind, id))
}

async fn run(
    tx: &DatabaseTransaction,
    dir: &DirectoryPrincipal,
    limits: Limits,
    op: &Operation,
    created: &HashMap<String, Uuid>,
    ignored: &mut Vec<String>,
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
    Ok(match (kind, op.method) {
        (Kind::User, Method::Post) => {
            if id.is_some() {
                return Err(ScimError::invalid_path("POST goes to /Users"));
            }
            let input = UserInput::from_body(body()?)?;
            let (input, dropped) = org_schemas::with_custom(tx, dir, body()?, input).await?;
            *ignored = dropped;
            let input = op.passwords.apply(input);
            let u = users::create(tx, dir, input).await?;
            Done {
                status: 201,
                id: Some(u.link.id),
                version: Some(u.link.version),
                note: u.ignored_note(),
            }
        }
        (Kind::User, Method::Put) => {
            let input = UserInput::from_body(body()?)?;
            let (input, dropped) = org_schemas::with_custom(tx, dir, body()?, input).await?;
            *ignored = dropped;
            let input = op.passwords.apply(input);
            let u = users::replace(tx, dir, need_id()?, input, im).await?;
            Done {
                status: 200,
                id: Some(u.link.id),
                version: Some(u.link.version),
                note: u.ignored_note(),
            }
        }
        (Kind::User, Method::Patch) => {
            let ops = patch::parse_request(body()?, limits)?;
            let u = users::patch(tx, dir, need_id()?, &ops, &op.passwords, im).await?;
            Done {
                status: 200,
                id: Some(u.link.id),
                version: Some(u.link.version),
                note: u.ignored_note(),
            }
        }
        (Kind::User, Method::Delete) => {
            users::delete(tx, dir, need_id()?, im).await?;
            Done {
                status: 204,
                id,
                version: None,
                note: None,
            }
        }
        (Kind::Group, Method::Post) => {
            if id.is_some() {
                return Err(ScimError::invalid_path("POST goes to /Groups"));
            }
            let input = GroupInput::from_json(body()?)?;
            *ignored = org_schemas::group_ignored(tx, dir, &input.extensions).await?;
            let g = groups::create(tx, dir, input).await?;
            Done {
                status: 201,
                id: Some(g.id),
                version: Some(g.version),
                note: None,
            }
        }
        (Kind::Group, Method::Put) => {
            let input = GroupInput::from_json(body()?)?;
            *ignored = org_schemas::group_ignored(tx, dir, &input.extensions).await?;
            let g = groups::replace(tx, dir, need_id()?, input, im).await?;
            Done {
                status: 200,
                id: Some(g.id),
                version: Some(g.version),
                note: None,
            }
        }
        (Kind::Group, Method::Patch) => {
            let changes = domain_group::changes(&patch::parse_request(body()?, limits)?)?;
            let g = groups::apply(tx, dir, need_id()?, changes, im).await?;
            Done {
                status: 200,
                id: Some(g.id),
                version: Some(g.version),
                note: None,
            }
        }
        (Kind::Group, Method::Delete) => {
            groups::delete(tx, dir, need_id()?, im).await?;
            Done {
                status: 204,
                id,
                version: None,
                note: None,
            }
        }
    })
}

/// `POST /Users` with no `bulkId` reference in it: such runs of operations
/// (what sync jobs send) take the batched path.
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
    tx: &'a DatabaseTransaction,
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
    /// `failOnErrors` reached: the remaining operations are not performed.
    fn stopped(&self) -> bool {
        self.fail_on_errors
            .is_some_and(|limit| self.errors >= limit)
    }

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

    /// One operation in its own savepoint.
    async fn one(&mut self, op: &Operation) -> ScimResult<()> {
        let sp = self.tx.begin().await.map_err(db_error)?;
        let mut ignored = Vec::new();
        let outcome = run(&sp, self.dir, self.limits, op, &self.created, &mut ignored).await;
        let (kind, _) = parse_path(&op.path, &self.created).unwrap_or((Kind::User, None));
        match outcome {
            Ok(done) => {
                sp.commit().await.map_err(db_error)?;
                let entry = SyncEntry {
                    resource_id: done.id.map(|i| i.to_string()),
                    detail: done.note.clone(),
                    ..self.log(op, kind, done.status)
                };
                sync_log::record(self.tx, entry.clone()).await?;
                sync_log::record_ignored(self.tx, &entry, &ignored).await?;
                self.succeeded(op, kind, &done);
            }
            Err(e) => {
                sp.rollback().await.map_err(db_error)?;
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

    /// A run of [`plain_user_post`] operations: the users that are plain
    /// creates ([`users::CreateProbe`]) are written together, the others
    /// one by one in their place, so the outcome is the same as doing them
    /// all one by one.
    async fn user_posts(&mut self, window: &[Operation]) -> ScimResult<()> {
        let inputs: Vec<Option<UserInput>> = window
            .iter()
            .map(|op| {
                op.data
                    .as_ref()
                    .and_then(|d| UserInput::from_body(d).ok())
                    .map(|i| op.passwords.apply(i))
            })
            .collect();
        let attrs: Vec<_> = inputs.iter().flatten().map(|i| &i.attrs).collect();
        let mut probe = users::CreateProbe::read(self.tx, self.dir, &attrs).await?;
        let mut batch = Vec::new();
        for (op, input) in window.iter().zip(inputs) {
            match input.map(|i| probe.claim(self.dir, i)) {
                Some(users::Claim::Plain(plain)) => batch.push((op, plain)),
                _ => {
                    self.write_plain(std::mem::take(&mut batch)).await?;
                    self.one(op).await?;
                    if self.stopped() {
                        return Ok(());
                    }
                }
            }
        }
        self.write_plain(batch).await
    }

    async fn write_plain(
        &mut self,
        batch: Vec<(&Operation, users::PlainCreate)>,
    ) -> ScimResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let sp = self.tx.begin().await.map_err(db_error)?;
        let (ops, rows): (Vec<&Operation>, Vec<_>) = batch
            .into_iter()
            .map(|(op, plain)| (op, (plain, self.log(op, Kind::User, 201))))
            .unzip();
        match users::create_plain(&sp, self.dir, &rows).await {
            Ok(ids) => {
                sp.commit().await.map_err(db_error)?;
                for (op, id) in ops.into_iter().zip(ids) {
                    let done = Done {
                        status: 201,
                        id: Some(id),
                        version: Some(users::FIRST_VERSION),
                        note: None,
                    };
                    self.succeeded(op, Kind::User, &done);
                }
            }
            Err(e) => {
                // Say a writer on another instance took a userName since
                // the probe: one by one, each gets its own answer.
                tracing::info!(error = %e, cause = ?e, users = ops.len(),
                    "batched creates failed; provisioning them one by one");
                sp.rollback().await.map_err(db_error)?;
                for op in ops {
                    self.one(op).await?;
                    if self.stopped() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

pub async fn bulk(
    state: web::Data<AppState>,
    dir: Directory,
    req: HttpRequest,
    body: ScimBody,
) -> ScimResult<HttpResponse> {
    let settings = &state.settings;
    let body = body.into_value()?;
    let Value::Object(map) = &body else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let o = JsonObject::new(map, "BulkRequest");
    if let Some(schemas) = o.get("schemas") {
        let ok = schemas.as_array().is_some_and(|l| {
            l.iter().any(|s| {
                s.as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(BULK_REQUEST))
            })
        });
        if !ok {
            return Err(ScimError::invalid_value(format!(
                "schemas must be [\"{BULK_REQUEST}\"]"
            )));
        }
    }
    let fail_on_errors = match o.get("failOnErrors") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(n) if n >= 1 => Some(n),
            _ => {
                return Err(ScimError::invalid_value(
                    "failOnErrors must be a positive integer",
                ));
            }
        },
        Some(_) => {
            return Err(ScimError::invalid_value(
                "failOnErrors must be a positive integer",
            ));
        }
    };
    let Some(Value::Array(raw_ops)) = o.get("Operations") else {
        return Err(ScimError::invalid_syntax(
            "a BulkRequest needs an Operations array",
        ));
    };
    if raw_ops.len() > settings.bulk_max_operations {
        return Err(ScimError::PayloadTooLarge(format!(
            "the request has {} operations; at most {} are accepted (maxOperations)",
            raw_ops.len(),
            settings.bulk_max_operations
        )));
    }
    let mut ops = raw_ops
        .iter()
        .enumerate()
        .map(|(i, v)| parse_operation(i, v))
        .collect::<ScimResult<Vec<_>>>()?;
    let limits = Limits {
        max_len: settings.filter_max_len,
        max_depth: settings.filter_max_depth,
    };
    hash_passwords(&mut ops, limits, settings.bulk_max_passwords).await?;

    let base = directory_base(&state, &req, dir.directory_id);
    let request_id = req
        .extensions()
        .get::<super::observe::RequestId>()
        .map(|r| r.0.clone());
    let tx = state.store.begin().await?;
    let mut bulk = Bulk {
        tx: &tx,
        dir: &dir,
        limits,
        base,
        request_id,
        fail_on_errors,
        created: HashMap::new(),
        results: Vec::with_capacity(ops.len()),
        errors: 0,
    };
    let mut i = 0;
    while i < ops.len() && !bulk.stopped() {
        let run = ops[i..].iter().take_while(|op| plain_user_post(op)).count();
        if run == 0 {
            bulk.one(&ops[i]).await?;
            i += 1;
        } else {
            bulk.user_posts(&ops[i..i + run]).await?;
            i += run;
        }
    }
    let results = bulk.results;
    let origin = Origin::new(Actor::Directory(dir.directory_id), bulk.request_id);
    events::flush(&tx, &origin).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(scim_response(
        StatusCode::OK,
        &json!({"schemas": [BULK_RESPONSE], "Operations": results}),
    ))
}
