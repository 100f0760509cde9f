//! SQLite: statements whose results a write never reads (an event's
//! INSERT) are held by the write's transaction and sent with the next
//! statement it runs, as one multi-statement query: one round trip to the
//! connection's thread instead of two. Every statement still runs in the
//! order it was made, against the state it was made in: the held ones run
//! first, before whatever comes next ([`crate::store::WriteTx`] sends them
//! ahead of any statement, a savepoint and the commit). The statement
//! that carries them is one whose own result is not read either (the sync
//! log's INSERT, [`Carrier`]); any other sends them on their own first.
//!
//! sqlx binds a multi-statement query's parameters statement by statement:
//! `?NNN` by absolute number, a bare `?` from a running count. So every
//! placeholder is rewritten to its absolute number (`?` → `?k`, `?N` →
//! `?(N + offset)`) and the values are concatenated.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};

/// Statements held for the next round trip (SQLite only).
#[derive(Debug, Default)]
pub struct Held {
    sql: String,
    values: Vec<Value>,
}

impl Held {
    pub fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// Holds `stmt` after those already held.
    pub fn push(&mut self, stmt: Statement) {
        let offset = self.values.len();
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        renumber(&stmt.sql, offset, &mut self.sql);
        if let Some(values) = stmt.values {
            self.values.extend(values.0);
        }
    }

    /// The held statements as one query (none: `None`), emptied.
    pub fn take(&mut self) -> Option<Statement> {
        if self.is_empty() {
            return None;
        }
        let held = std::mem::take(self);
        Some(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            held.sql,
            held.values,
        ))
    }
}

/// Appends `sql` to `out` with each placeholder numbered absolutely,
/// `offset` values already bound before it. Quoted text (`'…'`, `"…"`)
/// is copied as it is.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut bare = 0;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = if digits.is_empty() {
                    bare += 1;
                    bare
                } else {
                    digits.parse::<usize>().unwrap_or(0)
                };
                out.push('?');
                out.push_str(&(n + offset).to_string());
            }
            _ => out.push(c),
        }
    }
}

/// A connection that can send held statements along with a statement of
/// its own whose result nobody reads but for its error.
#[async_trait::async_trait]
pub trait Carrier: ConnectionTrait {
    async fn execute_carrying(&self, stmt: Statement) -> Result<(), DbErr>;
}

#[async_trait::async_trait]
impl Carrier for DatabaseConnection {
    async fn execute_carrying(&self, stmt: Statement) -> Result<(), DbErr> {
        self.execute_raw(stmt).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(stmts: &[(&str, usize)]) -> String {
        let mut h = Held::default();
        for (sql, n) in stmts {
            let values: Vec<Value> = (0..*n).map(|i| Value::from(i as i64)).collect();
            h.push(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                *sql,
                values,
            ));
        }
        h.take().unwrap().sql
    }

    #[test]
    fn placeholders_are_numbered_across_statements() {
        assert_eq!(
            held(&[
                (
                    "INSERT INTO a VALUES (?1, ?2, json_insert(?2, '$.x?', ?1))",
                    2
                ),
                ("INSERT INTO b VALUES (?, ?, \"c?\", ?)", 3),
                ("UPDATE c SET x = ?2 WHERE y = ?1", 2),
            ]),
            "INSERT INTO a VALUES (?1, ?2, json_insert(?2, '$.x?', ?1));\n\
             INSERT INTO b VALUES (?3, ?4, \"c?\", ?5);\n\
             UPDATE c SET x = ?7 WHERE y = ?6"
        );
    }

    #[test]
    fn nothing_held_is_nothing_to_send() {
        assert!(Held::default().take().is_none());
        let mut h = Held::default();
        h.push(Statement::from_string(DbBackend::Sqlite, "SELECT 1"));
        assert!(h.take().is_some());
        assert!(h.take().is_none(), "taken once");
    }
}
