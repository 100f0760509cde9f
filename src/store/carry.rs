//! SQLite: statements whose results a write never reads (an event's
//! INSERT, the sync log's) are held by the write's transaction and sent
//! with the next statement it runs, as one multi-statement query: one
//! round trip to the connection's thread instead of two. Every statement
//! still runs in the order it was made, against the state it was made in:
//! the held ones run first, before whatever comes next
//! ([`crate::store::WriteTx`] sends them ahead of any statement, a
//! savepoint and the commit). A query carries them in its own round trip
//! (they return no rows); a statement whose count of changed rows is read
//! sends them on their own first. In a group commit's batch what a
//! request still holds when its work ends goes with the next request's
//! first statement ([`crate::store::group_commit`]).
//!
//! sqlx binds a multi-statement query's parameters statement by statement,
//! a bare `?` from a running count and `?NNN` by absolute number. But
//! SQLite counts a statement's parameters up to its highest number, so a
//! statement using `?9` alone has eight nameless ones before it, which
//! sqlx counts as bare `?`s: past the end of the values it stops binding
//! and the rest are NULL. So every placeholder becomes a bare `?`, its
//! value put in the order the placeholders come (a numbered one used
//! twice, twice).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, Value};

use super::events::Recorder;

/// Statements held for the next round trip (SQLite only).
#[derive(Debug, Default)]
pub struct Held {
    sql: String,
    values: Vec<Value>,
    /// Round trips that took held statements, and those of them that came
    /// back (a request dropped meanwhile leaves one in flight): what a
    /// group commit's savepoint ([`Mark`]) needs to know.
    sends: u64,
    landed: u64,
}

/// Where the held statements ended at one moment, to tell later whether
/// what was pushed after it went to the database ([`Held::since`]).
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    sends: u64,
    sql: usize,
    values: usize,
}

/// What became of the statements pushed after a [`Mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Still held: they can be taken back ([`Held::truncate`]).
    No,
    /// Taken for a round trip that has not come back: whether they ran is
    /// unknown.
    InFlight,
    /// Taken for a round trip that came back (each ran, or one failed and
    /// the rest did not).
    Yes,
}

impl Held {
    pub fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    /// Holds `stmt` after those already held.
    pub fn push(&mut self, stmt: Statement) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        let values = stmt.values.map(|v| v.0).unwrap_or_default();
        in_order(&stmt.sql, values, &mut self.sql, &mut self.values);
    }

    /// The held statements as one query (none: `None`), emptied. Once its
    /// round trip is back, the sender calls [`Held::landed`].
    pub fn take(&mut self) -> Option<Statement> {
        if self.is_empty() {
            return None;
        }
        self.sends += 1;
        let sql = std::mem::take(&mut self.sql);
        let values = std::mem::take(&mut self.values);
        Some(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        ))
    }

    /// The round trip of the last [`Held::take`] came back.
    pub fn landed(&mut self) {
        self.landed = self.sends;
    }

    pub fn mark(&self) -> Mark {
        Mark {
            sends: self.sends,
            sql: self.sql.len(),
            values: self.values.len(),
        }
    }

    /// What became of the statements pushed after `mark`.
    pub fn since(&self, mark: &Mark) -> Sent {
        if self.sends == mark.sends {
            Sent::No
        } else if self.landed <= mark.sends {
            Sent::InFlight
        } else {
            Sent::Yes
        }
    }

    /// The held statements' SQL.
    #[cfg(test)]
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// Holds `sql` (a statement without parameters) ahead of those held.
    pub fn prepend(&mut self, sql: &str) {
        if self.sql.is_empty() {
            self.sql.push_str(sql);
        } else {
            self.sql.insert_str(0, &format!("{sql};\n"));
        }
    }

    /// Takes back the statements pushed after `mark` (still held:
    /// [`Sent::No`]).
    pub fn truncate(&mut self, mark: &Mark) {
        debug_assert_eq!(self.since(mark), Sent::No, "truncating what was sent");
        self.sql.truncate(mark.sql);
        self.values.truncate(mark.values);
    }

    /// Drops every held statement.
    pub fn clear(&mut self) {
        self.sql.clear();
        self.values.clear();
    }
}

/// Appends `sql` to `out` with each placeholder a bare `?`, and to
/// `out_values` the value of each placeholder in the order they come
/// (SQLite's numbering: `?N` is the N-th value, a bare `?` the one after
/// the highest number so far). Quoted text (`'…'`, `"…"`) is copied as
/// it is.
///
/// It runs for every statement a write holds, in the write's turn on the
/// writer: it copies the text between placeholders in one piece (quotes,
/// `?` and digits are ASCII, so a byte never falls inside a character),
/// and moves the values when the placeholders take them once each, in
/// order (sea-query's bare `?`s, the usual case).
fn in_order(sql: &str, values: Vec<Value>, out: &mut String, out_values: &mut Vec<Value>) {
    let bytes = sql.as_bytes();
    // The value index of each placeholder (`None`: past any value).
    let mut picks: Vec<Option<usize>> = Vec::with_capacity(values.len());
    let mut highest = 0;
    let (mut copied, mut i) = (0, 0);
    out.reserve(sql.len());
    // From one quote or placeholder to the next (memchr: a POST's held
    // statements are ~4 KB of SQL, mostly quoted names).
    while let Some(at) = memchr::memchr3(b'?', b'\'', b'"', &bytes[i..]) {
        i += at;
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                i = memchr::memchr(quote, &bytes[i + 1..]).map_or(bytes.len(), |end| i + end + 2);
            }
            _ => {
                out.push_str(&sql[copied..=i]);
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                let n = if digits == 0 {
                    highest + 1
                } else {
                    sql[i + 1..i + 1 + digits].parse::<usize>().unwrap_or(0)
                };
                highest = highest.max(n);
                // A number past the values binds NULL, as SQLite does.
                picks.push(n.checked_sub(1).filter(|&k| k < values.len()));
                i += 1 + digits;
                copied = i;
            }
        }
    }
    out.push_str(&sql[copied..]);
    let each_once_in_order =
        picks.len() == values.len() && picks.iter().enumerate().all(|(k, p)| *p == Some(k));
    if each_once_in_order {
        out_values.extend(values);
    } else {
        out_values.extend(picks.into_iter().map(|p| match p {
            Some(k) => values[k].clone(),
            None => Value::String(None),
        }));
    }
}

/// Whether `tx` holds statements for its next round trip (SQLite; on
/// PostgreSQL each runs when made).
pub fn holds<C: Recorder>(tx: &C) -> bool {
    tx.get_database_backend() == DbBackend::Sqlite
}

/// Runs `stmt`, a write whose result is not read and which nothing can
/// refuse (its rows were checked under the write lock): on SQLite it goes
/// to the database with the next statement; elsewhere now.
pub async fn write_later<C: Recorder>(tx: &C, stmt: Statement) -> Result<(), DbErr> {
    if holds(tx) {
        tx.hold(stmt);
        return Ok(());
    }
    tx.execute_raw(stmt).await.map(drop)
}

/// Where a write whose result is not read, and which nothing can refuse,
/// can be left: a write transaction holds it for its next statement
/// ([`write_later`]); a connection outside one runs it now.
#[async_trait::async_trait]
pub trait WriteLater: ConnectionTrait {
    async fn write_later(&self, stmt: Statement) -> Result<(), DbErr>;
}

#[async_trait::async_trait]
impl WriteLater for DatabaseConnection {
    async fn write_later(&self, stmt: Statement) -> Result<(), DbErr> {
        self.execute_raw(stmt).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_bare_with_their_values_in_order() {
        let mut h = Held::default();
        for (sql, n) in [
            (
                "INSERT INTO a VALUES (?1, ?2, json_insert(?2, '$.x?', ?1))",
                2,
            ),
            ("INSERT INTO b VALUES (?, ?, \"c?\", ?)", 3),
            ("UPDATE c SET x = ?2 WHERE y = ?1", 2),
        ] {
            let base = h.values.len() as i64 * 10;
            let values: Vec<Value> = (0..n).map(|i| Value::from(base + i)).collect();
            h.push(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                values,
            ));
        }
        let held = h.take().unwrap();
        assert_eq!(
            held.sql,
            "INSERT INTO a VALUES (?, ?, json_insert(?, '$.x?', ?));\n\
             INSERT INTO b VALUES (?, ?, \"c?\", ?);\n\
             UPDATE c SET x = ? WHERE y = ?"
        );
        let values: Vec<i64> = held
            .values
            .unwrap()
            .0
            .into_iter()
            .map(|v| match v {
                Value::BigInt(Some(n)) => n,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(values, [0, 1, 1, 0, 40, 41, 42, 71, 70]);
    }

    /// Against SQLite through sqlx: with placeholders numbered absolutely
    /// (`?7, ?8` in the fourth statement), sqlx counted the nameless
    /// parameters below each statement's lowest number, ran past the
    /// values and bound the rest NULL.
    #[tokio::test]
    async fn many_held_statements_bind_every_value() {
        use sea_orm::Database;
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("CREATE TABLE t (k INTEGER NOT NULL, v TEXT NOT NULL)")
            .await
            .unwrap();
        let mut h = Held::default();
        for k in 0..6i64 {
            let sql = if k % 2 == 0 {
                "INSERT INTO t (k, v) VALUES (?1, ?2)"
            } else {
                "INSERT INTO t (k, v) VALUES (?, ?)"
            };
            let values = [Value::from(k), Value::from(format!("v{k}"))];
            h.push(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                values,
            ));
        }
        db.execute_raw(h.take().unwrap()).await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT k, v FROM t ORDER BY k",
            ))
            .await
            .unwrap();
        let got: Vec<(i64, String)> = rows
            .iter()
            .map(|r| {
                (
                    r.try_get_by_index(0).unwrap(),
                    r.try_get_by_index(1).unwrap(),
                )
            })
            .collect();
        let want: Vec<(i64, String)> = (0..6).map(|k| (k, format!("v{k}"))).collect();
        assert_eq!(got, want);
    }

    /// Text that is not ASCII, a placeholder past the values (NULL, as
    /// SQLite binds it), a number too big for any value, a doubled quote
    /// inside quotes and a quote left open are copied and bound as SQLite
    /// reads them.
    #[test]
    fn placeholders_in_odd_places_bind_as_sqlite_reads_them() {
        let mut h = Held::default();
        h.push(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT 'été?', ?, \"x\"\"?\", ?3, ?99999999999999999999999, 'it''s ?', ?, 'open ?",
            [Value::from(1i64), Value::from(2i64)],
        ));
        let held = h.take().unwrap();
        assert_eq!(
            held.sql,
            "SELECT 'été?', ?, \"x\"\"?\", ?, ?, 'it''s ?', ?, 'open ?"
        );
        let null = Value::String(None);
        assert_eq!(
            held.values.unwrap().0,
            [Value::from(1i64), null.clone(), null.clone(), null]
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

    #[test]
    fn a_mark_tells_what_became_of_what_was_pushed_after_it() {
        let stmt = |sql: &str, v: i64| {
            Statement::from_sql_and_values(DbBackend::Sqlite, sql, [Value::from(v)])
        };
        let mut h = Held::default();
        h.push(stmt("INSERT INTO a VALUES (?)", 1));
        let mark = h.mark();
        assert_eq!(h.since(&mark), Sent::No);
        h.push(stmt("INSERT INTO b VALUES (?)", 2));
        h.truncate(&mark);
        let taken = h.take().unwrap();
        assert_eq!(
            taken.sql, "INSERT INTO a VALUES (?)",
            "only what came before"
        );
        assert_eq!(taken.values.unwrap().0, vec![Value::from(1i64)]);

        let mark = h.mark();
        h.push(stmt("INSERT INTO c VALUES (?)", 3));
        h.take().unwrap();
        assert_eq!(h.since(&mark), Sent::InFlight, "taken, not back");
        h.landed();
        assert_eq!(h.since(&mark), Sent::Yes);
        h.push(stmt("INSERT INTO d VALUES (?)", 4));
        assert_eq!(h.since(&mark), Sent::Yes, "later pushes change nothing");
    }
}
