//! `/Bulk` (RFC 7644 §3.7): operations in order, each atomic on its own (a
//! savepoint inside one transaction, so a bulk of N users costs one commit),
//! `bulkId` references resolved as resources are created, `failOnErrors`.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::auth::Directory;
use super::body::ScimBody;
use super::scim::{directory_base, scim_response};
use crate::domain::etag::{IfMatch, etag};
use crate::domain::filter::Limits;
use crate::domain::group::{self as domain_group, GroupInput};
use crate::domain::json::JsonObject;
use crate::domain::patch;
use crate::domain::user::UserInput;
use crate::error::{ScimError, ScimResult};
use crate::startup::AppState;
use crate::store::db_error;
use crate::store::directories::DirectoryPrincipal;
use crate::store::sync_log::{self, SyncEntry};
use crate::store::{groups, users};

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
}

/// What one operation produced.
struct Done {
    status: u16,
    id: Option<Uuid>,
    version: Option<i64>,
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
    })
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
            let u = users::create(tx, dir, UserInput::from_body(body()?)?).await?;
            Done {
                status: 201,
                id: Some(u.link.id),
                version: Some(u.link.version),
            }
        }
        (Kind::User, Method::Put) => {
            let input = UserInput::from_body(body()?)?;
            let u = users::replace(tx, dir, need_id()?, input, im).await?;
            Done {
                status: 200,
                id: Some(u.link.id),
                version: Some(u.link.version),
            }
        }
        (Kind::User, Method::Patch) => {
            let ops = patch::parse_request(body()?, limits)?;
            let u = users::patch(tx, dir, need_id()?, &ops, im).await?;
            Done {
                status: 200,
                id: Some(u.link.id),
                version: Some(u.link.version),
            }
        }
        (Kind::User, Method::Delete) => {
            users::delete(tx, dir, need_id()?, im).await?;
            Done {
                status: 204,
                id,
                version: None,
            }
        }
        (Kind::Group, Method::Post) => {
            if id.is_some() {
                return Err(ScimError::invalid_path("POST goes to /Groups"));
            }
            let g = groups::create(tx, dir, GroupInput::from_json(body()?)?).await?;
            Done {
                status: 201,
                id: Some(g.id),
                version: Some(g.version),
            }
        }
        (Kind::Group, Method::Put) => {
            let g =
                groups::replace(tx, dir, need_id()?, GroupInput::from_json(body()?)?, im).await?;
            Done {
                status: 200,
                id: Some(g.id),
                version: Some(g.version),
            }
        }
        (Kind::Group, Method::Patch) => {
            let changes = domain_group::changes(&patch::parse_request(body()?, limits)?)?;
            let g = groups::apply(tx, dir, need_id()?, changes, im).await?;
            Done {
                status: 200,
                id: Some(g.id),
                version: Some(g.version),
            }
        }
        (Kind::Group, Method::Delete) => {
            groups::delete(tx, dir, need_id()?, im).await?;
            Done {
                status: 204,
                id,
                version: None,
            }
        }
    })
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
    let ops = raw_ops
        .iter()
        .enumerate()
        .map(|(i, v)| parse_operation(i, v))
        .collect::<ScimResult<Vec<_>>>()?;

    let limits = Limits {
        max_len: settings.filter_max_len,
        max_depth: settings.filter_max_depth,
    };
    let base = directory_base(&state, &req, dir.directory_id);
    let request_id = req
        .extensions()
        .get::<super::observe::RequestId>()
        .map(|r| r.0.clone());
    let tx = state.store.begin().await?;
    let mut created: HashMap<String, Uuid> = HashMap::new();
    let mut results = Vec::with_capacity(ops.len());
    let mut errors = 0u64;
    for op in &ops {
        if fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        let sp = tx.begin().await.map_err(db_error)?;
        let outcome = run(&sp, &dir, limits, op, &created).await;
        let (kind, _) = parse_path(&op.path, &created).unwrap_or((Kind::User, None));
        let resource_type = if kind == Kind::User { "User" } else { "Group" };
        let mut entry = Map::new();
        entry.insert("method".into(), op.method.as_str().into());
        if let Some(b) = &op.bulk_id {
            entry.insert("bulkId".into(), b.clone().into());
        }
        let log = |status: u16, resource_id: Option<String>, detail: Option<String>| SyncEntry {
            directory_id: dir.directory_id,
            operation: format!(
                "{} {} (bulk)",
                op.method.as_str(),
                if kind == Kind::User {
                    "/Users"
                } else {
                    "/Groups"
                }
            ),
            resource_type,
            resource_id,
            status,
            detail,
            request_id: request_id.clone(),
        };
        match outcome {
            Ok(done) => {
                sp.commit().await.map_err(db_error)?;
                if let (Some(b), Some(id)) = (&op.bulk_id, done.id)
                    && op.method == Method::Post
                {
                    created.insert(b.clone(), id);
                }
                if let Some(id) = done.id {
                    let collection = if kind == Kind::User {
                        "Users"
                    } else {
                        "Groups"
                    };
                    entry.insert(
                        "location".into(),
                        format!("{base}/{collection}/{id}").into(),
                    );
                }
                if let Some(v) = done.version {
                    entry.insert("version".into(), etag(v).into());
                }
                entry.insert("status".into(), done.status.to_string().into());
                sync_log::record(&tx, log(done.status, done.id.map(|i| i.to_string()), None))
                    .await?;
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
                errors += 1;
                entry.insert("status".into(), e.status().to_string().into());
                entry.insert("response".into(), e.to_json());
                sync_log::record(&tx, log(e.status(), None, Some(e.detail()))).await?;
            }
        }
        results.push(Value::Object(entry));
    }
    tx.commit().await.map_err(db_error)?;
    Ok(scim_response(
        StatusCode::OK,
        &json!({"schemas": [BULK_RESPONSE], "Operations": results}),
    ))
}
