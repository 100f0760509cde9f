//! The INSERT of a row and the UPDATE of a row by its primary key, as
//! sea-orm builds them, with their SQL built once. For rows of
//! one entity with the same columns set, sea-orm builds the same text
//! every time, one parameter a column. So the text is kept the first time,
//! and each later row binds its values in column order. Building the
//! statements anew cost ~45,000 instructions of a POST's turn on the
//! writer (the account's and the link's INSERTs, callgrind).
//!
//! The first row of each shape is built by sea-orm as before, and its
//! values are compared with the ones this module takes from the row. The
//! text is kept only when they are the same: any shape sea-orm builds
//! otherwise (a value written as a literal, say) keeps being built by it.
//! That the text does not depend on the values (a NULL, say) is what
//! `rows::tests::row_statements_built_once_bind_as_sea_orm_builds_them`
//! checks, row by row: an entity written through here has rows there.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use super::prepared;
use sea_orm::{
    ActiveModelTrait, ActiveValue, DbBackend, DbErr, EntityTrait, Iterable, PrimaryKeyToColumn,
    QueryTrait, Statement, Value,
};

/// How a row is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowWrite {
    /// Every column that is set or unchanged.
    Insert,
    /// The set columns, by the primary key's (unchanged) value.
    Update,
}

/// A statement's shape: the backend, the entity, the write, the columns
/// it writes and the rows (an INSERT of several, [`insert_many`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Shape {
    backend: usize,
    entity: TypeId,
    write: RowWrite,
    columns: u64,
    rows: usize,
}

/// The most shapes kept: an UPDATE's shape is the columns a request
/// changes, and requests choose those. Past it, a new shape is built by
/// sea-orm each time.
const MAX_SHAPES: usize = 512;

/// Each shape's SQL, or `None` when sea-orm builds it in a way this
/// module does not bind.
static BUILT: LazyLock<RwLock<HashMap<Shape, Option<Arc<str>>>>> = LazyLock::new(RwLock::default);

/// The statement that writes `row` on `backend`, as sea-orm builds it.
pub fn statement<A>(backend: DbBackend, write: RowWrite, mut row: A) -> Result<Statement, DbErr>
where
    A: ActiveModelTrait,
    A::Entity: 'static,
{
    let Some(shape) = shape(backend, write, &row) else {
        return build(backend, write, row);
    };
    match lookup(&shape) {
        Some(Some(sql)) => Ok(Statement::from_sql_and_values(
            backend,
            sql.to_string(),
            take_values(write, &mut row),
        )),
        Some(None) => build(backend, write, row),
        None => {
            let values = take_values(write, &mut row.clone());
            let built = build(backend, write, row)?;
            remember(shape, &built, &values, write);
            Ok(built)
        }
    }
}

/// The INSERT of `rows` in one statement, as sea-orm's `insert_many`
/// builds it, its SQL built once for each count of rows that all set the
/// same columns (a user's multi-valued attributes: a POST's, a PUT's).
pub fn insert_many<A>(backend: DbBackend, rows: Vec<A>) -> Result<Statement, DbErr>
where
    A: ActiveModelTrait,
    A::Entity: 'static,
{
    let first = rows
        .first()
        .and_then(|r| shape(backend, RowWrite::Insert, r));
    let alike = first.filter(|s| {
        rows.iter()
            .all(|r| shape(backend, RowWrite::Insert, r) == Some(*s))
    });
    let Some(one) = alike else {
        return Ok(A::Entity::insert_many(rows).build(backend));
    };
    let shape = Shape {
        rows: rows.len(),
        ..one
    };
    let values = |rows: Vec<A>| -> Vec<Value> {
        rows.into_iter()
            .flat_map(|mut r| take_values(RowWrite::Insert, &mut r))
            .collect()
    };
    match lookup(&shape) {
        Some(Some(sql)) => Ok(Statement::from_sql_and_values(
            backend,
            sql.to_string(),
            values(rows),
        )),
        Some(None) => Ok(A::Entity::insert_many(rows).build(backend)),
        None => {
            let taken = values(rows.clone());
            let built = A::Entity::insert_many(rows).build(backend);
            remember(shape, &built, &taken, RowWrite::Insert);
            Ok(built)
        }
    }
}

/// The SQL kept for `shape`: `Some(None)` when sea-orm builds it in a way
/// this module does not bind, `None` when not seen yet.
fn lookup(shape: &Shape) -> Option<Option<Arc<str>>> {
    BUILT
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(shape)
        .cloned()
}

/// Keeps the SQL of `built`, the first statement of `shape`, when it binds
/// `values` (the columns' values, in order).
fn remember(shape: Shape, built: &Statement, values: &[Value], write: RowWrite) {
    let same = built.values.as_ref().is_some_and(|v| v.0 == values);
    if !same {
        tracing::debug!(
            ?write,
            "a row's statement binds values other than its columns': built each time"
        );
    }
    let mut known = BUILT.write().unwrap_or_else(|e| e.into_inner());
    if known.len() < MAX_SHAPES {
        known.insert(shape, same.then(|| Arc::from(built.sql.as_str())));
    }
}

/// Whether `row`'s shape has its SQL kept (bound, not built, from now on).
#[cfg(test)]
pub fn kept<A>(backend: DbBackend, write: RowWrite, row: &A) -> bool
where
    A: ActiveModelTrait,
    A::Entity: 'static,
{
    shape(backend, write, row).is_some_and(|shape| lookup(&shape).is_some_and(|s| s.is_some()))
}

/// Whether the INSERT of `rows` ([`insert_many`]) has its SQL kept.
#[cfg(test)]
pub fn kept_many<A>(backend: DbBackend, rows: &[A]) -> bool
where
    A: ActiveModelTrait,
    A::Entity: 'static,
{
    rows.first()
        .and_then(|r| shape(backend, RowWrite::Insert, r))
        .is_some_and(|one| {
            let shape = Shape {
                rows: rows.len(),
                ..one
            };
            lookup(&shape).is_some_and(|s| s.is_some())
        })
}

fn build<A: ActiveModelTrait>(
    backend: DbBackend,
    write: RowWrite,
    row: A,
) -> Result<Statement, DbErr> {
    Ok(match write {
        RowWrite::Insert => A::Entity::insert(row).build(backend),
        RowWrite::Update => A::Entity::update(row).validate()?.build(backend),
    })
}

/// The columns `write` writes of `row` (`None`: more than 64 columns).
fn shape<A>(backend: DbBackend, write: RowWrite, row: &A) -> Option<Shape>
where
    A: ActiveModelTrait,
    A::Entity: 'static,
{
    let mut columns = 0u64;
    for (i, c) in <A::Entity as EntityTrait>::Column::iter().enumerate() {
        if i >= 64 {
            return None;
        }
        let written = match write {
            RowWrite::Insert => !row.is_not_set(c),
            RowWrite::Update => matches!(row.get(c), ActiveValue::Set(_)),
        };
        if written {
            columns |= 1 << i;
        }
    }
    Some(Shape {
        backend: prepared::slot(backend),
        entity: TypeId::of::<A::Entity>(),
        write,
        columns,
        rows: 1,
    })
}

/// The values `write` binds, in the order sea-orm binds them: the written
/// columns in column order, then (for an UPDATE) the primary key's.
fn take_values<A: ActiveModelTrait>(write: RowWrite, row: &mut A) -> Vec<Value> {
    let mut values = vec![];
    for c in <A::Entity as EntityTrait>::Column::iter() {
        let key = <A::Entity as EntityTrait>::PrimaryKey::from_column(c).is_some();
        match (write, key) {
            (RowWrite::Insert, _) => values.extend(row.take(c).into_value()),
            (RowWrite::Update, false) => {
                if let ActiveValue::Set(v) = row.take(c) {
                    values.push(v);
                }
            }
            (RowWrite::Update, true) => {}
        }
    }
    if write == RowWrite::Update {
        for k in <A::Entity as EntityTrait>::PrimaryKey::iter() {
            values.extend(row.take(k.into_column()).into_value());
        }
    }
    values
}
