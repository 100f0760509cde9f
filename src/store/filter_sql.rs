//! The one place where the filter AST becomes SQL: a recursive lowering of
//! `domain::filter::Filter` into a sea-query condition. Values are always
//! bound parameters; case-insensitive attributes compare lower-cased.

use chrono::{DateTime, Utc};
use entity::{group, group_member, scim_user, scim_user_value};
use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, LikeExpr, Query, QueryStatementBuilder, SimpleExpr,
};
use uuid::Uuid;

use crate::domain::custom_schema::{CustomSchema, is_reserved_urn};
use crate::domain::filter::{AttrPath, CompValue, CompareOp, Filter};
use crate::domain::schema::{AttrDef, AttrType, ResourceKind, SchemaPart, registry};
use crate::error::{ScimError, ScimResult};

/// How an attribute is stored.
#[derive(Debug, Clone)]
pub enum Column {
    /// A column of the resource's table. `lowered`: the column already
    /// holds the lower-cased value.
    Plain {
        expr: SimpleExpr,
        ty: AttrType,
        case_exact: bool,
        lowered: bool,
        nullable: bool,
    },
    /// The resource id (UUID).
    Id(SimpleExpr),
    /// A multi-valued attribute kept in `scim_user_values` (of the
    /// directory being queried).
    Multi {
        attr: &'static str,
        def: &'static AttrDef,
        directory_id: Uuid,
    },
    /// `schemas` of a User: the core schema always; the enterprise
    /// extension when any of its attributes is set.
    UserSchemas,
    /// A User's `groups` (read-only): the directory's groups it is in.
    UserGroups { sub: &'static str },
    /// A constant (e.g. `meta.resourceType`).
    Constant(&'static str),
    /// A group's members (`members`, `members.value`): SCIM User ids.
    Members,
    /// An attribute of a custom extension, kept in `scim_user_values` (or
    /// `scim_group_values`, per `owner`) under `key` (`{urn}:{attr}`), one
    /// row a scalar; `sub` for a sub-attribute of a complex one.
    Custom {
        key: String,
        def: AttrDef,
        sub: Option<AttrDef>,
        directory_id: Uuid,
        owner: Owner,
    },
}

/// The resource custom values belong to: where they are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    User,
    Group,
}

impl Owner {
    /// The value table (both have the same value columns).
    fn table(self) -> Alias {
        Alias::new(match self {
            Self::User => "scim_user_values",
            Self::Group => "scim_group_values",
        })
    }

    /// The value table's column naming the resource.
    fn owner_col(self) -> Alias {
        Alias::new(match self {
            Self::User => "user_id",
            Self::Group => "group_id",
        })
    }

    /// The id of the resource row being filtered.
    fn resource_id(self) -> SimpleExpr {
        match self {
            Self::User => Expr::col((scim_user::Entity, scim_user::Column::Id)),
            Self::Group => Expr::col((group::Entity, group::Column::Id)),
        }
    }
}

/// Where a custom attribute (`urn:…:attr[.sub]` of one of `custom`) is
/// stored, if `path` names one.
fn custom_column(
    path: &AttrPath,
    directory_id: Uuid,
    custom: &[CustomSchema],
    owner: Owner,
) -> ScimResult<Option<Column>> {
    let Some(urn) = path.urn.as_deref() else {
        return Ok(None);
    };
    let Some(schema) = custom.iter().find(|s| s.id.eq_ignore_ascii_case(urn)) else {
        return Ok(None);
    };
    let def = schema
        .def
        .attr(&path.attr)
        .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute {path}")))?;
    let sub = match path.sub_attr.as_deref() {
        Some(s) => Some(
            def.sub(s)
                .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute {path}")))?
                .clone(),
        ),
        None => None,
    };
    Ok(Some(Column::Custom {
        key: format!("{}:{}", schema.id, def.name),
        def: def.clone(),
        sub,
        directory_id,
        owner,
    }))
}

fn user_col(c: scim_user::Column) -> SimpleExpr {
    Expr::col((scim_user::Entity, c))
}

fn value_col(c: scim_user_value::Column) -> SimpleExpr {
    Expr::col((Alias::new("v"), c))
}

/// Where a User attribute (`attr[.sub]`, resolved) is stored.
pub fn user_column(path: &AttrPath, directory_id: Uuid) -> ScimResult<Column> {
    user_column_with(path, directory_id, &[])
}

/// [`user_column`] knowing the organization's custom User extensions.
pub fn user_column_with(
    path: &AttrPath,
    directory_id: Uuid,
    custom: &[CustomSchema],
) -> ScimResult<Column> {
    use scim_user::Column as C;
    if let Some(col) = custom_column(path, directory_id, custom, Owner::User)? {
        return Ok(col);
    }
    let reg = registry();
    let resolved = reg
        .resolve(
            ResourceKind::User,
            path.urn.as_deref(),
            &path.attr,
            path.sub_attr.as_deref(),
        )
        .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute {path}")))?;
    let attr = resolved.attr.name.as_str();
    let sub = resolved.sub.map(|s| s.name.as_str());
    let plain = |c: C, lowered: bool| {
        let def = resolved.leaf();
        Ok(Column::Plain {
            expr: user_col(c),
            ty: def.ty,
            case_exact: def.case_exact,
            lowered,
            nullable: true,
        })
    };
    match (resolved.part, attr, sub) {
        (SchemaPart::Enterprise, "employeeNumber", None) => plain(C::EmployeeNumber, false),
        (SchemaPart::Enterprise, "costCenter", None) => plain(C::CostCenter, false),
        (SchemaPart::Enterprise, "organization", None) => plain(C::Organization, false),
        (SchemaPart::Enterprise, "division", None) => plain(C::Division, false),
        (SchemaPart::Enterprise, "department", None) => plain(C::Department, false),
        (SchemaPart::Enterprise, "manager", None | Some("value")) => plain(C::ManagerValue, false),
        (SchemaPart::Enterprise, _, _) => Err(ScimError::invalid_filter(format!(
            "filtering on {path} is not supported"
        ))),
        (_, "id", None) => Ok(Column::Id(user_col(C::Id))),
        (_, "userName", None) => Ok(Column::Plain {
            expr: user_col(C::UserNameLower),
            ty: AttrType::String,
            case_exact: false,
            lowered: true,
            nullable: false,
        }),
        (_, "externalId", None) => plain(C::ExternalId, false),
        (_, "displayName", None) => plain(C::DisplayNameLower, true),
        (_, "nickName", None) => plain(C::NickName, false),
        (_, "profileUrl", None) => plain(C::ProfileUrl, false),
        (_, "title", None) => plain(C::Title, false),
        (_, "userType", None) => plain(C::UserType, false),
        (_, "preferredLanguage", None) => plain(C::PreferredLanguage, false),
        (_, "locale", None) => plain(C::Locale, false),
        (_, "timezone", None) => plain(C::Timezone, false),
        (_, "active", None) => Ok(Column::Plain {
            expr: user_col(C::Active),
            ty: AttrType::Boolean,
            case_exact: true,
            lowered: false,
            nullable: false,
        }),
        (_, "name", Some("formatted")) => plain(C::NameFormatted, false),
        (_, "name", Some("familyName")) => plain(C::NameFamilyName, false),
        (_, "name", Some("givenName")) => plain(C::NameGivenName, false),
        (_, "name", Some("middleName")) => plain(C::NameMiddleName, false),
        (_, "name", Some("honorificPrefix")) => plain(C::NameHonorificPrefix, false),
        (_, "name", Some("honorificSuffix")) => plain(C::NameHonorificSuffix, false),
        (_, "meta", Some("created")) => Ok(Column::Plain {
            expr: user_col(C::CreatedAt),
            ty: AttrType::DateTime,
            case_exact: true,
            lowered: false,
            nullable: false,
        }),
        (_, "meta", Some("lastModified")) => Ok(Column::Plain {
            expr: user_col(C::LastModified),
            ty: AttrType::DateTime,
            case_exact: true,
            lowered: false,
            nullable: false,
        }),
        (_, "meta", Some("resourceType")) => Ok(Column::Constant("User")),
        (
            _,
            "emails" | "phoneNumbers" | "ims" | "photos" | "entitlements" | "roles"
            | "x509Certificates" | "addresses",
            _,
        ) => {
            let def: &'static AttrDef = registry()
                .user
                .attr(attr)
                .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute {path}")))?;
            Ok(Column::Multi {
                attr: static_name(attr),
                def,
                directory_id,
            })
        }
        (_, "schemas", None) => Ok(Column::UserSchemas),
        (_, "groups", None | Some("value")) => Ok(Column::UserGroups { sub: "value" }),
        (_, "groups", Some("display")) => Ok(Column::UserGroups { sub: "display" }),
        _ => Err(ScimError::invalid_filter(format!(
            "filtering on {path} is not supported"
        ))),
    }
}

fn static_name(attr: &str) -> &'static str {
    match attr {
        "emails" => "emails",
        "phoneNumbers" => "phoneNumbers",
        "ims" => "ims",
        "photos" => "photos",
        "entitlements" => "entitlements",
        "roles" => "roles",
        "x509Certificates" => "x509Certificates",
        _ => "addresses",
    }
}

/// A sub-attribute of an entry in `scim_user_values` (alias `v`).
fn value_column(def: &AttrDef, sub: &str) -> ScimResult<Column> {
    use scim_user_value::Column as V;
    let sub_def = def.sub(sub).ok_or_else(|| {
        ScimError::invalid_filter(format!("{} has no sub-attribute {sub:?}", def.name))
    })?;
    let plain = |c: V, lowered: bool| Column::Plain {
        expr: value_col(c),
        ty: sub_def.ty,
        case_exact: sub_def.case_exact,
        lowered,
        nullable: true,
    };
    Ok(match sub_def.name.as_str() {
        // `value_lower` holds the value lower-cased: case-insensitive
        // comparisons on it use the (directory, attr, value_lower) index.
        "value" if !sub_def.case_exact => plain(V::ValueLower, true),
        "value" => plain(V::Value, false),
        "display" => plain(V::Display, false),
        "type" => plain(V::Type, false),
        // Left out by the client (NULL) reads as false.
        "primary" => Column::Plain {
            expr: Func::coalesce([value_col(V::Primary), Expr::val(false)]).into(),
            ty: AttrType::Boolean,
            case_exact: true,
            lowered: false,
            nullable: false,
        },
        "formatted" => plain(V::Formatted, false),
        "streetAddress" => plain(V::StreetAddress, false),
        "locality" => plain(V::Locality, false),
        "region" => plain(V::Region, false),
        "postalCode" => plain(V::PostalCode, false),
        "country" => plain(V::Country, false),
        other => {
            return Err(ScimError::invalid_filter(format!(
                "filtering on {}.{other} is not supported",
                def.name
            )));
        }
    })
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn like(e: SimpleExpr, pattern: String) -> SimpleExpr {
    e.like(LikeExpr::new(pattern).escape('\\'))
}

fn always(b: bool) -> SimpleExpr {
    Expr::cust(if b { "1 = 1" } else { "1 = 0" })
}

/// Lowers a comparison on a stored column.
fn compare(
    col: Column,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
) -> ScimResult<SimpleExpr> {
    match col {
        Column::Constant(c) => {
            let CompValue::String(v) = value else {
                return Ok(always(op == CompareOp::Ne));
            };
            let eq = c.eq_ignore_ascii_case(v);
            Ok(always(match op {
                CompareOp::Eq => eq,
                CompareOp::Ne => !eq,
                _ => false,
            }))
        }
        Column::Id(expr) => match (op, value) {
            (CompareOp::Eq | CompareOp::Ne, CompValue::String(s)) => {
                // `id` is caseExact: only the form the server returns
                // (lower-case, hyphenated) names a resource.
                let cond = match Uuid::parse_str(s) {
                    Ok(id) if id.hyphenated().to_string() == *s => expr.eq(id),
                    _ => always(false),
                };
                Ok(if op == CompareOp::Eq {
                    cond
                } else {
                    cond.not()
                })
            }
            _ => Err(ScimError::invalid_filter(
                "id supports only eq and ne with a string",
            )),
        },
        Column::Multi {
            attr,
            def,
            directory_id,
        } => {
            let inner = compare(value_column(def, "value")?, op, value, path)?;
            Ok(exists_value(attr, directory_id, inner))
        }
        Column::UserSchemas => {
            let CompValue::String(s) = value else {
                return Err(ScimError::invalid_filter(
                    "schemas compares with a URN string",
                ));
            };
            let has = if s.eq_ignore_ascii_case(crate::domain::schema::USER_SCHEMA) {
                always(true)
            } else if s.eq_ignore_ascii_case(crate::domain::schema::ENTERPRISE_USER_SCHEMA) {
                enterprise_present()
            } else {
                always(false)
            };
            match op {
                CompareOp::Eq => Ok(has),
                CompareOp::Ne => Ok(has.not()),
                _ => Err(ScimError::invalid_filter("schemas supports only eq and ne")),
            }
        }
        Column::UserGroups { sub } => user_groups(sub, op, value),
        Column::Custom {
            key,
            def,
            sub,
            directory_id,
            owner,
        } => {
            let leaf = sub.as_ref().unwrap_or(&def);
            if leaf.ty == AttrType::Complex {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is complex: compare one of its sub-attributes"
                )));
            }
            let inner = custom_row("v", sub.as_ref().map(|s| s.name.as_str()))
                .and(compare_custom("v", leaf, op, value, path, &key)?);
            Ok(exists_key(owner, &key, directory_id, inner))
        }
        Column::Members => match (op, value) {
            (CompareOp::Eq, CompValue::String(s)) => Ok(match Uuid::parse_str(s) {
                Ok(id) => exists_member(Some(id)),
                Err(_) => always(false),
            }),
            _ => Err(ScimError::invalid_filter(
                "members supports only value eq \"<User id>\" and pr",
            )),
        },
        Column::Plain {
            expr,
            ty,
            case_exact,
            lowered,
            nullable,
        } => compare_plain(expr, ty, case_exact, lowered, nullable, op, value, path),
    }
}

#[allow(clippy::too_many_arguments)]
fn compare_plain(
    expr: SimpleExpr,
    ty: AttrType,
    case_exact: bool,
    lowered: bool,
    nullable: bool,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
) -> ScimResult<SimpleExpr> {
    if let CompValue::Null = value {
        return match op {
            CompareOp::Eq => Ok(expr.is_null()),
            CompareOp::Ne => Ok(expr.is_not_null()),
            _ => Err(ScimError::invalid_filter(format!(
                "{path}: null can only be compared with eq or ne"
            ))),
        };
    }
    let cond = match ty {
        AttrType::Boolean => {
            let CompValue::Bool(b) = value else {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is a boolean; compare it with true or false"
                )));
            };
            match op {
                CompareOp::Eq => expr.clone().eq(*b),
                CompareOp::Ne => expr.clone().ne(*b),
                _ => {
                    return Err(ScimError::invalid_filter(format!(
                        "{path} is a boolean; only eq and ne apply"
                    )));
                }
            }
        }
        AttrType::DateTime => {
            let CompValue::String(s) = value else {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is a dateTime; compare it with a quoted RFC 3339 time"
                )));
            };
            let t: DateTime<Utc> = DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    ScimError::invalid_filter(format!("{path}: {s:?} is not an RFC 3339 time"))
                })?
                .with_timezone(&Utc);
            // Compare at the precision times are rendered (milliseconds):
            // `meta.lastModified gt "<what the server returned>"` must not
            // match that same resource, whose stored time has more digits.
            let (floor, ceil) = ms_bounds(t);
            let next = floor + chrono::TimeDelta::milliseconds(1);
            match op {
                CompareOp::Eq if floor == t => expr.clone().gte(t).and(expr.clone().lt(next)),
                CompareOp::Eq => always(false),
                CompareOp::Ne if floor == t => expr.clone().lt(t).or(expr.clone().gte(next)),
                CompareOp::Ne => always(true),
                CompareOp::Gt => expr.clone().gte(next),
                CompareOp::Ge => expr.clone().gte(ceil),
                CompareOp::Lt => expr.clone().lt(ceil),
                CompareOp::Le => expr.clone().lt(next),
                _ => {
                    return Err(ScimError::invalid_filter(format!(
                        "{path} is a dateTime; co, sw and ew do not apply"
                    )));
                }
            }
        }
        _ => {
            let CompValue::String(s) = value else {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is a string; compare it with a quoted string"
                )));
            };
            let (lhs, v) = if case_exact {
                (expr.clone(), s.clone())
            } else if lowered {
                (expr.clone(), s.to_lowercase())
            } else {
                (
                    SimpleExpr::from(Func::lower(expr.clone())),
                    s.to_lowercase(),
                )
            };
            match op {
                CompareOp::Eq => lhs.eq(v),
                CompareOp::Ne => lhs.ne(v),
                CompareOp::Co => like(lhs, format!("%{}%", escape_like(&v))),
                CompareOp::Sw if case_exact || lowered => {
                    // A range the column's index can use, and LIKE for
                    // exactness (columns compare bytewise: BINARY on
                    // SQLite, COLLATE "C" on PostgreSQL).
                    let upper = format!("{v}\u{10FFFF}");
                    lhs.clone()
                        .gte(v.clone())
                        .and(lhs.clone().lt(upper))
                        .and(like(lhs, format!("{}%", escape_like(&v))))
                }
                CompareOp::Sw => like(lhs, format!("{}%", escape_like(&v))),
                CompareOp::Ew => like(lhs, format!("%{}", escape_like(&v))),
                CompareOp::Gt => lhs.gt(v),
                CompareOp::Ge => lhs.gte(v),
                CompareOp::Lt => lhs.lt(v),
                CompareOp::Le => lhs.lte(v),
            }
        }
    };
    // Two-valued logic: an absent attribute matches `ne` and, under `not`,
    // never turns the whole condition into NULL.
    Ok(if !nullable {
        cond
    } else if op == CompareOp::Ne {
        expr.is_null().or(cond)
    } else {
        expr.is_not_null().and(cond)
    })
}

/// `t` rounded down and up to whole milliseconds.
fn ms_bounds(t: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let sub_ms = chrono::TimeDelta::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1_000_000));
    let floor = t - sub_ms;
    let ceil = if sub_ms.is_zero() {
        floor
    } else {
        floor + chrono::TimeDelta::milliseconds(1)
    };
    (floor, ceil)
}

fn present(col: Column) -> SimpleExpr {
    match col {
        Column::Constant(_) | Column::Id(_) => always(true),
        Column::Multi {
            attr, directory_id, ..
        } => exists_value(attr, directory_id, always(true)),
        Column::Members => exists_member(None),
        Column::UserSchemas => always(true),
        Column::UserGroups { .. } => user_in_groups(always(true)),
        Column::Custom {
            key,
            sub,
            directory_id,
            owner,
            ..
        } => {
            let inner = match &sub {
                Some(s) => custom_row("v", Some(&s.name)),
                None => always(true),
            };
            exists_key(owner, &key, directory_id, inner)
        }
        Column::Plain { expr, ty, .. } => {
            if ty == AttrType::String || ty == AttrType::Reference {
                expr.clone().is_not_null().and(expr.ne(""))
            } else {
                expr.is_not_null()
            }
        }
    }
}

/// Users with an entry of `attr` matching `inner`: an uncorrelated
/// `id IN (SELECT user_id …)` so the (directory, attr, value_lower) index
/// drives the lookup instead of a scan of the users.
fn exists_value(attr: &'static str, directory_id: Uuid, inner: SimpleExpr) -> SimpleExpr {
    let v = Alias::new("v");
    let sub = Query::select()
        .column((v.clone(), scim_user_value::Column::UserId))
        .from_as(scim_user_value::Entity, v.clone())
        .and_where(Expr::col((v.clone(), scim_user_value::Column::DirectoryId)).eq(directory_id))
        .and_where(Expr::col((v, scim_user_value::Column::Attr)).eq(attr))
        .and_where(inner)
        .to_owned();
    Expr::col((scim_user::Entity, scim_user::Column::Id)).in_subquery(sub)
}

fn enterprise_present() -> SimpleExpr {
    use scim_user::Column as C;
    [
        C::EmployeeNumber,
        C::CostCenter,
        C::Organization,
        C::Division,
        C::Department,
        C::ManagerValue,
    ]
    .into_iter()
    .map(|c| user_col(c).is_not_null())
    .reduce(|a, b| a.or(b))
    .unwrap_or_else(|| always(false))
}

/// Users that are members of a group (of their directory) matching `cond`.
fn user_in_groups(cond: SimpleExpr) -> SimpleExpr {
    let gm = Alias::new("ugm");
    let g = Alias::new("ug");
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from_as(group_member::Entity, gm.clone())
            .join_as(
                sea_orm::sea_query::JoinType::InnerJoin,
                group::Entity,
                g.clone(),
                Expr::col((g.clone(), group::Column::Id))
                    .equals((gm.clone(), group_member::Column::GroupId)),
            )
            .and_where(
                Expr::col((gm, group_member::Column::AccountId))
                    .equals((scim_user::Entity, scim_user::Column::AccountId)),
            )
            .and_where(
                Expr::col((g.clone(), group::Column::DirectoryId))
                    .equals((scim_user::Entity, scim_user::Column::DirectoryId)),
            )
            .and_where(cond)
            .to_owned(),
    )
}

fn user_groups(sub: &str, op: CompareOp, value: &CompValue) -> ScimResult<SimpleExpr> {
    let g = Alias::new("ug");
    let col = if sub == "value" {
        Column::Id(Expr::col((g, group::Column::Id)))
    } else {
        Column::Plain {
            expr: Expr::col((g, group::Column::DisplayNameLower)),
            ty: AttrType::String,
            case_exact: false,
            lowered: true,
            nullable: false,
        }
    };
    let path = AttrPath {
        urn: None,
        attr: "groups".into(),
        sub_attr: Some(sub.to_owned()),
    };
    let inner = compare(col, op, value, &path)?;
    Ok(user_in_groups(inner))
}

/// A column of the custom value row aliased `alias` (the value tables
/// share their column names).
fn alias_col(alias: &str, c: scim_user_value::Column) -> SimpleExpr {
    Expr::col((Alias::new(alias), c))
}

/// Rows of a custom attribute's key: the scalar itself (`sub` none) or
/// the given sub-attribute of complex entries.
fn custom_row(alias: &str, sub: Option<&str>) -> SimpleExpr {
    match sub {
        None => alias_col(alias, scim_user_value::Column::Display).is_null(),
        Some(s) => alias_col(alias, scim_user_value::Column::Display).eq(s),
    }
}

/// Resources with a row of `key` matching `inner` (alias `v`); the
/// (directory, attr, value_lower) index drives `eq`.
fn exists_key(owner: Owner, key: &str, directory_id: Uuid, inner: SimpleExpr) -> SimpleExpr {
    let v = Alias::new("v");
    let sub = Query::select()
        .column((v.clone(), owner.owner_col()))
        .from_as(owner.table(), v.clone())
        .and_where(Expr::col((v.clone(), scim_user_value::Column::DirectoryId)).eq(directory_id))
        .and_where(Expr::col((v, scim_user_value::Column::Attr)).eq(key))
        .and_where(inner)
        .to_owned();
    owner.resource_id().in_subquery(sub)
}

/// A stored custom value (text, alias `alias`) of `key` as a number. The
/// CASE keeps PostgreSQL from casting rows of other attributes, whatever
/// order it evaluates the conditions in.
fn as_number(alias: &str, key: &str) -> SimpleExpr {
    use scim_user_value::Column as V;
    let a = Alias::new(alias);
    Expr::case(
        Expr::col((a.clone(), V::Attr)).eq(key),
        Func::cast_as(Expr::col((a, V::Value)), "DOUBLE PRECISION"),
    )
    .into()
}

/// A comparison on one stored custom scalar (alias `v`), by its type.
fn compare_custom(
    alias: &str,
    def: &AttrDef,
    op: CompareOp,
    value: &CompValue,
    path: &AttrPath,
    key: &str,
) -> ScimResult<SimpleExpr> {
    use scim_user_value::Column as V;
    let value_col = |c: V| alias_col(alias, c);
    if let CompValue::Null = value {
        // A stored row is never null: `eq null` matches nothing here (the
        // caller's EXISTS), `ne null` everything that has a value.
        return match op {
            CompareOp::Eq => Ok(always(false)),
            CompareOp::Ne => Ok(always(true)),
            _ => Err(ScimError::invalid_filter(format!(
                "{path}: null can only be compared with eq or ne"
            ))),
        };
    }
    let order = |e: SimpleExpr, v: SimpleExpr| -> ScimResult<SimpleExpr> {
        Ok(match op {
            CompareOp::Eq => e.eq(v),
            CompareOp::Ne => e.ne(v),
            CompareOp::Gt => e.gt(v),
            CompareOp::Ge => e.gte(v),
            CompareOp::Lt => e.lt(v),
            CompareOp::Le => e.lte(v),
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "{path}: co, sw and ew apply to strings only"
                )));
            }
        })
    };
    match def.ty {
        AttrType::Boolean => {
            let CompValue::Bool(b) = value else {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is a boolean; compare it with true or false"
                )));
            };
            match op {
                CompareOp::Eq | CompareOp::Ne => {
                    order(value_col(V::ValueLower), Expr::val(b.to_string()))
                }
                _ => Err(ScimError::invalid_filter(format!(
                    "{path} is a boolean; only eq and ne apply"
                ))),
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            let CompValue::Number(n) = value else {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is a number; compare it with a number"
                )));
            };
            // `eq` on an integer compares the stored text (indexed).
            if def.ty == AttrType::Integer
                && matches!(op, CompareOp::Eq | CompareOp::Ne)
                && let Some(i) = n.as_i64()
            {
                return order(value_col(V::ValueLower), Expr::val(i.to_string()));
            }
            let f = n
                .as_f64()
                .ok_or_else(|| ScimError::invalid_filter(format!("{path}: {n} is not a number")))?;
            order(as_number(alias, key), Expr::val(f))
        }
        AttrType::DateTime => {
            let CompValue::String(s) = value else {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is a dateTime; compare it with a quoted RFC 3339 time"
                )));
            };
            let t = DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    ScimError::invalid_filter(format!("{path}: {s:?} is not an RFC 3339 time"))
                })?
                .with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            // Stored in the same fixed form: text order is time order.
            order(value_col(V::Value), Expr::val(t))
        }
        _ => {
            let case_exact = def.case_exact;
            let cond = compare_plain(
                value_col(V::ValueLower),
                AttrType::String,
                false,
                true,
                false,
                op,
                value,
                path,
            )?;
            // caseExact: the lower-cased comparison uses the index, the
            // exact one decides.
            if case_exact
                && matches!(op, CompareOp::Eq | CompareOp::Ne)
                && let CompValue::String(v) = value
            {
                let exact = value_col(V::Value).eq(v.clone());
                return Ok(if op == CompareOp::Eq {
                    cond.and(exact)
                } else {
                    cond.or(exact.not())
                });
            }
            if case_exact {
                return compare_plain(
                    value_col(V::Value),
                    AttrType::String,
                    true,
                    false,
                    false,
                    op,
                    value,
                    path,
                );
            }
            Ok(cond)
        }
    }
}

/// The condition inside `urn:…:attr[...]` of a custom multi-valued
/// attribute, any filter expression (and/or/not over comparisons and
/// `pr`). A simple attribute's entry is one row (its scalar, compared as
/// `value`). A complex one's entry is a row per sub-attribute at the same
/// position: the rows of the key (alias `v`) stand for their entry, and
/// each comparison asks for a row of its sub-attribute at that position
/// (alias `w`), so `[type eq "work" and value sw "1"]` holds within one
/// entry.
fn custom_value_condition(
    owner: Owner,
    def: &AttrDef,
    key: &str,
    directory_id: Uuid,
    filter: &Filter,
) -> ScimResult<SimpleExpr> {
    let leaf_of = |p: &AttrPath| -> ScimResult<(Option<String>, AttrDef)> {
        let name = relative(p)?;
        if def.ty == AttrType::Complex {
            let sub = def.sub(&name).ok_or_else(|| {
                ScimError::invalid_filter(format!("{} has no sub-attribute {name:?}", def.name))
            })?;
            Ok((Some(sub.name.clone()), sub.clone()))
        } else if name.eq_ignore_ascii_case("value") {
            Ok((None, def.clone()))
        } else {
            Err(ScimError::invalid_filter(format!(
                "{}[...] compares its values as value",
                def.name
            )))
        }
    };
    // One comparison over the row aliased `alias`.
    let row = |alias: &str, f: &Filter| -> ScimResult<SimpleExpr> {
        Ok(match f {
            Filter::Compare { path, op, value } => {
                let (sub, leaf) = leaf_of(path)?;
                custom_row(alias, sub.as_deref())
                    .and(compare_custom(alias, &leaf, *op, value, path, key)?)
            }
            Filter::Present(path) => {
                let (sub, _) = leaf_of(path)?;
                custom_row(alias, sub.as_deref())
            }
            _ => return Err(ScimError::invalid_filter("value filters can't be nested")),
        })
    };
    // A row of the same entry as `v` (same resource, key and position).
    let same_entry = |cond: SimpleExpr| -> SimpleExpr {
        let w = Alias::new("w");
        Expr::exists(
            Query::select()
                .expr(Expr::val(1))
                .from_as(owner.table(), w.clone())
                .and_where(
                    Expr::col((w.clone(), owner.owner_col()))
                        .equals((Alias::new("v"), owner.owner_col())),
                )
                .and_where(Expr::col((w.clone(), scim_user_value::Column::Attr)).eq(key))
                .and_where(
                    Expr::col((w, scim_user_value::Column::Position))
                        .equals((Alias::new("v"), scim_user_value::Column::Position)),
                )
                .and_where(cond)
                .to_owned(),
        )
    };
    fn walk(
        f: &Filter,
        leaf: &dyn Fn(&Filter) -> ScimResult<SimpleExpr>,
    ) -> ScimResult<SimpleExpr> {
        Ok(match f {
            Filter::And(a, b) => walk(a, leaf)?.and(walk(b, leaf)?),
            Filter::Or(a, b) => walk(a, leaf)?.or(walk(b, leaf)?),
            Filter::Not(x) => walk(x, leaf)?.not(),
            other => leaf(other)?,
        })
    }
    fn conjuncts<'a>(f: &'a Filter, out: &mut Vec<&'a Filter>) {
        match f {
            Filter::And(a, b) => {
                conjuncts(a, out);
                conjuncts(b, out);
            }
            other => out.push(other),
        }
    }
    let positive = |f: &Filter| matches!(f, Filter::Compare { .. } | Filter::Present(_));
    let inner = match filter {
        // One comparison: the matching row itself (the index drives `eq`).
        f if positive(f) => row("v", f)?,
        _ if def.ty != AttrType::Complex => walk(filter, &|f| row("v", f))?,
        _ => {
            // The first comparison of a conjunction picks the entries (the
            // rows `v`, through the index for `eq`); the rest of it asks
            // for rows of the same entry.
            let mut parts = Vec::new();
            conjuncts(filter, &mut parts);
            match parts.iter().position(|f| positive(f)) {
                Some(i) => {
                    let mut cond = row("v", parts[i])?;
                    for (j, f) in parts.iter().enumerate() {
                        if j != i {
                            cond = cond.and(walk(f, &|f| Ok(same_entry(row("w", f)?)))?);
                        }
                    }
                    cond
                }
                None => walk(filter, &|f| Ok(same_entry(row("w", f)?)))?,
            }
        }
    };
    Ok(exists_key(owner, key, directory_id, inner))
}

/// `sortBy` on a custom single-valued simple attribute: its stored value
/// (a scalar subquery) and whether it sorts as text.
pub fn custom_sort(col: &Column) -> Option<(SimpleExpr, bool)> {
    use scim_user_value::Column as V;
    let Column::Custom {
        key,
        def,
        sub,
        owner,
        ..
    } = col
    else {
        return None;
    };
    let leaf = sub.as_ref().unwrap_or(def);
    if def.multi_valued || leaf.ty == AttrType::Complex {
        return None;
    }
    let v = Alias::new("sv");
    let (value, text): (SimpleExpr, bool) = match leaf.ty {
        AttrType::Integer | AttrType::Decimal => (as_number("sv", key), false),
        AttrType::String | AttrType::Reference if !leaf.case_exact => {
            (Expr::col((v.clone(), V::ValueLower)), true)
        }
        _ => (Expr::col((v.clone(), V::Value)), true),
    };
    let display = Expr::col((v.clone(), V::Display));
    let q = Query::select()
        .expr(value)
        .from_as(owner.table(), v.clone())
        .and_where(match owner {
            Owner::User => Expr::col((v.clone(), owner.owner_col()))
                .equals((scim_user::Entity, scim_user::Column::Id)),
            Owner::Group => {
                Expr::col((v.clone(), owner.owner_col())).equals((group::Entity, group::Column::Id))
            }
        })
        .and_where(Expr::col((v, V::Attr)).eq(key.as_str()))
        .and_where(match &sub {
            Some(s) => display.eq(s.name.as_str()),
            None => display.is_null(),
        })
        .limit(1)
        .to_owned();
    Some((
        SimpleExpr::SubQuery(None, Box::new(q.into_sub_query_statement())),
        text,
    ))
}

/// Whether a filter or `sortBy` names an extension the server does not
/// define itself (so the organization's schemas are needed to lower it).
pub fn names_custom(filter: Option<&Filter>, sort_by: Option<&AttrPath>) -> bool {
    fn foreign(p: &AttrPath) -> bool {
        p.urn.as_deref().is_some_and(|u| {
            !is_reserved_urn(u)
                && !u.eq_ignore_ascii_case(crate::domain::schema::ENTERPRISE_USER_SCHEMA)
        })
    }
    fn walk(f: &Filter) -> bool {
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => walk(a) || walk(b),
            Filter::Not(x) => walk(x),
            Filter::Present(p) | Filter::Compare { path: p, .. } => foreign(p),
            Filter::ValuePath { path, .. } => foreign(path),
        }
    }
    filter.is_some_and(walk) || sort_by.is_some_and(foreign)
}

/// Lowers a filter over the Users of a directory.
pub fn users_condition(filter: &Filter, directory_id: Uuid) -> ScimResult<SimpleExpr> {
    users_condition_with(filter, directory_id, &[])
}

/// [`users_condition`] knowing the organization's custom User extensions.
pub fn users_condition_with(
    filter: &Filter,
    directory_id: Uuid,
    custom: &[CustomSchema],
) -> ScimResult<SimpleExpr> {
    let rec = |f: &Filter| users_condition_with(f, directory_id, custom);
    Ok(match filter {
        Filter::And(a, b) => rec(a)?.and(rec(b)?),
        Filter::Or(a, b) => rec(a)?.or(rec(b)?),
        Filter::Not(f) => rec(f)?.not(),
        Filter::Present(path) => match user_column_with(path, directory_id, custom)? {
            Column::Multi {
                attr,
                def,
                directory_id,
            } => match path.sub_attr.as_deref() {
                Some(sub) => exists_value(attr, directory_id, present(value_column(def, sub)?)),
                None => exists_value(attr, directory_id, always(true)),
            },
            col => present(col),
        },
        // `emails.type eq "work"`: some entry matches; `emails co "x"`
        // compares the entries' `value`.
        Filter::Compare { path, op, value } => {
            match user_column_with(path, directory_id, custom)? {
                Column::Multi {
                    attr,
                    def,
                    directory_id,
                } => {
                    let sub = path.sub_attr.as_deref().unwrap_or("value");
                    exists_value(
                        attr,
                        directory_id,
                        compare(value_column(def, sub)?, *op, value, path)?,
                    )
                }
                col => compare(col, *op, value, path)?,
            }
        }
        Filter::ValuePath { path, filter } => {
            let col = user_column_with(path, directory_id, custom)?;
            if let Column::Custom {
                key,
                def,
                sub: None,
                directory_id,
                owner,
            } = &col
                && def.multi_valued
            {
                return custom_value_condition(*owner, def, key, *directory_id, filter);
            }
            let Column::Multi {
                attr,
                def,
                directory_id,
            } = col
            else {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is not multi-valued; [..] does not apply"
                )));
            };
            exists_value(attr, directory_id, value_condition(def, filter)?)
        }
    })
}

/// The condition inside `attr[...]`, over the entry alias `v`.
fn value_condition(def: &AttrDef, filter: &Filter) -> ScimResult<SimpleExpr> {
    Ok(match filter {
        Filter::And(a, b) => value_condition(def, a)?.and(value_condition(def, b)?),
        Filter::Or(a, b) => value_condition(def, a)?.or(value_condition(def, b)?),
        Filter::Not(f) => value_condition(def, f)?.not(),
        Filter::Present(p) => present(value_column(def, &relative(p)?)?),
        Filter::Compare { path, op, value } => {
            compare(value_column(def, &relative(path)?)?, *op, value, path)?
        }
        Filter::ValuePath { .. } => {
            return Err(ScimError::invalid_filter("value filters can't be nested"));
        }
    })
}

fn relative(p: &AttrPath) -> ScimResult<String> {
    if p.urn.is_some() || p.sub_attr.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "{p}: inside [..] name a sub-attribute"
        )));
    }
    Ok(p.attr.clone())
}

/// `EXISTS` a member of `groups.id` (the User with SCIM id `user`, if given).
fn exists_member(user: Option<Uuid>) -> SimpleExpr {
    let gm = Alias::new("gm");
    let mut q = Query::select();
    q.expr(Expr::val(1))
        .from_as(group_member::Entity, gm.clone())
        .and_where(
            Expr::col((gm.clone(), group_member::Column::GroupId))
                .equals((group::Entity, group::Column::Id)),
        );
    if let Some(id) = user {
        q.inner_join(
            scim_user::Entity,
            Expr::col((scim_user::Entity, scim_user::Column::AccountId))
                .equals((gm, group_member::Column::AccountId))
                .and(
                    Expr::col((scim_user::Entity, scim_user::Column::DirectoryId))
                        .equals((group::Entity, group::Column::DirectoryId)),
                ),
        )
        .and_where(Expr::col((scim_user::Entity, scim_user::Column::Id)).eq(id));
    }
    Expr::exists(q.to_owned())
}

/// Where a Group attribute is stored.
pub fn group_column(path: &AttrPath) -> ScimResult<Column> {
    group_column_with(path, Uuid::nil(), &[])
}

/// [`group_column`] knowing the organization's custom Group extensions
/// (whose values are the directory's, `directory_id`).
pub fn group_column_with(
    path: &AttrPath,
    directory_id: Uuid,
    custom: &[CustomSchema],
) -> ScimResult<Column> {
    use group::Column as C;
    if let Some(col) = custom_column(path, directory_id, custom, Owner::Group)? {
        return Ok(col);
    }
    let resolved = registry()
        .resolve(
            ResourceKind::Group,
            path.urn.as_deref(),
            &path.attr,
            path.sub_attr.as_deref(),
        )
        .ok_or_else(|| ScimError::invalid_filter(format!("unknown attribute {path}")))?;
    let col =
        |expr: C, ty: AttrType, case_exact: bool, lowered: bool, nullable: bool| Column::Plain {
            expr: Expr::col((group::Entity, expr)),
            ty,
            case_exact,
            lowered,
            nullable,
        };
    Ok(
        match (
            resolved.attr.name.as_str(),
            resolved.sub.map(|s| s.name.as_str()),
        ) {
            ("id", None) => Column::Id(Expr::col((group::Entity, C::Id))),
            ("displayName", None) => col(C::DisplayNameLower, AttrType::String, false, true, false),
            ("externalId", None) => col(C::ExternalId, AttrType::String, true, false, true),
            ("meta", Some("created")) => col(C::CreatedAt, AttrType::DateTime, true, false, false),
            ("meta", Some("lastModified")) => {
                col(C::LastModified, AttrType::DateTime, true, false, false)
            }
            ("meta", Some("resourceType")) => Column::Constant("Group"),
            ("members", None | Some("value")) => Column::Members,
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "filtering on {path} is not supported"
                )));
            }
        },
    )
}

/// Lowers a filter over Groups.
pub fn groups_condition(filter: &Filter) -> ScimResult<SimpleExpr> {
    groups_condition_with(filter, Uuid::nil(), &[])
}

/// [`groups_condition`] over the Groups of a directory, knowing the
/// organization's custom Group extensions.
pub fn groups_condition_with(
    filter: &Filter,
    directory_id: Uuid,
    custom: &[CustomSchema],
) -> ScimResult<SimpleExpr> {
    let rec = |f: &Filter| groups_condition_with(f, directory_id, custom);
    let column = |p: &AttrPath| group_column_with(p, directory_id, custom);
    Ok(match filter {
        Filter::And(a, b) => rec(a)?.and(rec(b)?),
        Filter::Or(a, b) => rec(a)?.or(rec(b)?),
        Filter::Not(f) => rec(f)?.not(),
        Filter::Present(path) => present(column(path)?),
        Filter::Compare { path, op, value } => compare(column(path)?, *op, value, path)?,
        Filter::ValuePath { path, filter } => {
            let col = column(path)?;
            if let Column::Custom {
                key,
                def,
                sub: None,
                directory_id,
                owner,
            } = &col
                && def.multi_valued
            {
                return custom_value_condition(*owner, def, key, *directory_id, filter);
            }
            let Column::Members = col else {
                return Err(ScimError::invalid_filter(format!(
                    "{path} is not multi-valued; [..] does not apply"
                )));
            };
            match filter.as_ref() {
                Filter::Compare { path: p, op, value } if p.attr.eq_ignore_ascii_case("value") => {
                    compare(Column::Members, *op, value, p)?
                }
                _ => {
                    return Err(ScimError::invalid_filter(
                        "members[...] supports only value eq \"<User id>\"",
                    ));
                }
            }
        }
    })
}
