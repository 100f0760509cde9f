//! Statements whose SQL is the same text on every request, built once.
//! sea-query builds such a statement with a marker value in the place of
//! each parameter a request binds; each request then binds its own values
//! in the markers' places. Building it anew cost a few percent of a
//! request's CPU (a GET by id, a write's lock and its token lookup).

use sea_orm::{DbBackend, Statement, Value};

/// A statement's SQL, built once, and what each of its parameters binds:
/// a request's value of kind `P`, or a value of the statement's own.
#[derive(Debug)]
pub struct Prepared<P> {
    backend: DbBackend,
    sql: String,
    params: Vec<Param<P>>,
}

#[derive(Debug)]
enum Param<P> {
    Bound(P),
    Fixed(Value),
}

impl<P: Copy + PartialEq> Prepared<P> {
    /// `built` was built with `markers`: a distinct value for each kind of
    /// parameter a request binds. Any other value is the statement's own
    /// (a flag it compares with, say) and is bound as it is.
    pub fn new(built: Statement, markers: &[(Value, P)]) -> Self {
        let params = built
            .values
            .map(|v| v.0)
            .unwrap_or_default()
            .into_iter()
            .map(|v| match markers.iter().find(|(m, _)| *m == v) {
                Some((_, kind)) => Param::Bound(*kind),
                None => Param::Fixed(v),
            })
            .collect();
        Self {
            backend: built.db_backend,
            sql: built.sql,
            params,
        }
    }

    /// The statement, with `value(kind)` bound for each parameter of a
    /// request's kind.
    pub fn bind(&self, mut value: impl FnMut(P) -> Value) -> Statement {
        Statement::from_sql_and_values(
            self.backend,
            self.sql.as_str(),
            self.params.iter().map(|p| match p {
                Param::Bound(kind) => value(*kind),
                Param::Fixed(v) => v.clone(),
            }),
        )
    }

    /// How many parameters bind a request's value of `kind`.
    pub fn binds(&self, kind: P) -> usize {
        self.params
            .iter()
            .filter(|p| matches!(p, Param::Bound(k) if *k == kind))
            .count()
    }
}

/// The slot of `backend` in a table of statements built once per backend.
pub fn slot(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Postgres => 0,
        DbBackend::Sqlite => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Markers become the request's values; the statement's own values
    /// stay.
    #[test]
    fn a_request_binds_its_values_in_the_markers_places() {
        let built = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT ? WHERE a = ? AND b = ? AND c = ?",
            [
                Value::from("\u{0}a"),
                Value::from(true),
                Value::from("\u{0}b"),
                Value::from("\u{0}a"),
            ],
        );
        let p = Prepared::new(built, &[("\u{0}a".into(), 'a'), ("\u{0}b".into(), 'b')]);
        assert_eq!((p.binds('a'), p.binds('b')), (2, 1));
        let bound = p.bind(|k| format!("value {k}").into());
        assert_eq!(bound.sql, "SELECT ? WHERE a = ? AND b = ? AND c = ?");
        assert_eq!(
            bound.values.unwrap().0,
            [
                Value::from("value a"),
                Value::from(true),
                Value::from("value b"),
                Value::from("value a"),
            ]
        );
    }
}
