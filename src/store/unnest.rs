//! PostgreSQL multi-row writes and lookups with a handful of parameters,
//! whatever the number of rows: `INSERT … SELECT … FROM UNNEST($1::uuid[],
//! …)` with one array a column, and probes of many keys through one array.
//!
//! What PostgreSQL spends on such a statement besides the rows themselves
//! is parsing the array literals (`array_in`, then each element's input
//! function, `timestamptz_in` dearest): a column whose value is the same in
//! every row (the directory, `now`, a status, a flag) is bound once, as a
//! typed scalar, and a column that is NULL in every row is not bound at
//! all; only the columns that vary travel as arrays.

use sea_orm::sea_query::{ColumnType, Value};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseBackend, EntityName, EntityTrait, IdenStatic, Iterable,
    Statement,
};

/// A PostgreSQL array literal (`{"a","b",NULL}`) of `items`, to bind as
/// text and cast (`$1::text[]`): every element quoted, `"` and `\`
/// escaped, so any text round-trips.
pub fn array_literal<'a>(items: impl IntoIterator<Item = Option<&'a str>>) -> String {
    let mut literal = String::from("{");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            literal.push(',');
        }
        match item {
            None => literal.push_str("NULL"),
            Some(t) => {
                literal.reserve(t.len() + 2);
                literal.push('"');
                for c in t.chars() {
                    if c == '"' || c == '\\' {
                        literal.push('\\');
                    }
                    literal.push(c);
                }
                literal.push('"');
            }
        }
    }
    literal.push('}');
    literal
}

/// The PostgreSQL type a column's values are cast to, for the column
/// types this module spells.
fn pg_type(ty: &ColumnType) -> Option<&'static str> {
    Some(match ty {
        ColumnType::Uuid => "uuid",
        ColumnType::Text | ColumnType::String(_) => "text",
        ColumnType::Boolean => "bool",
        ColumnType::SmallInteger => "int2",
        ColumnType::Integer => "int4",
        ColumnType::BigInteger => "int8",
        ColumnType::TimestampWithTimeZone => "timestamptz",
        _ => return None,
    })
}

/// A value as an element of an array literal; `None` (outer) when its
/// type is not one this module spells.
fn element_text(v: Value) -> Option<Option<String>> {
    Some(match v {
        Value::Bool(v) => v.map(|b| if b { "t" } else { "f" }.to_owned()),
        Value::SmallInt(v) => v.map(|n| n.to_string()),
        Value::Int(v) => v.map(|n| n.to_string()),
        Value::BigInt(v) => v.map(|n| n.to_string()),
        Value::String(v) => v,
        Value::Uuid(v) => v.map(|u| u.to_string()),
        Value::ChronoDateTimeUtc(v) => {
            v.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        }
        _ => return None,
    })
}

fn is_null(v: &Value) -> bool {
    matches!(
        v,
        Value::Bool(None)
            | Value::SmallInt(None)
            | Value::Int(None)
            | Value::BigInt(None)
            | Value::String(None)
            | Value::Uuid(None)
            | Value::ChronoDateTimeUtc(None)
    )
}

/// `INSERT INTO t (c…) SELECT … FROM UNNEST($1::type[], …)` of `rows`:
/// the columns that vary between rows as one array literal each, a column
/// with one value in every row as that value (one typed parameter), a
/// column NULL in every row as `NULL`. `None` when a column has a type or
/// a value this does not spell, or when the rows do not all set the same
/// columns: the caller then inserts them as usual.
pub fn insert<A: ActiveModelTrait>(rows: &[A]) -> Option<Statement> {
    let first = rows.first()?;
    let mut names = Vec::new();
    let mut select = Vec::new();
    let mut arrays = Vec::new();
    let mut values = Vec::new();
    for col in <A::Entity as EntityTrait>::Column::iter() {
        let Some(head) = first.get(col).into_value() else {
            // Left to the database (a serial id): no row may set it.
            if rows.iter().any(|r| r.get(col).into_value().is_some()) {
                return None;
            }
            continue;
        };
        let ty = pg_type(col.def().get_column_type())?;
        let mut column = Vec::with_capacity(rows.len());
        let mut uniform = true;
        for row in rows {
            let v = row.get(col).into_value()?;
            uniform = uniform && v == head;
            column.push(v);
        }
        names.push(format!("\"{}\"", col.as_str()));
        if uniform && is_null(&head) {
            select.push(format!("NULL::{ty}"));
        } else if uniform {
            element_text(head.clone())?;
            values.push(head);
            select.push(format!("${}::{ty}", values.len()));
        } else {
            let texts = column
                .into_iter()
                .map(element_text)
                .collect::<Option<Vec<_>>>()?;
            values.push(Value::String(Some(array_literal(
                texts.iter().map(Option::as_deref),
            ))));
            let alias = format!("c{}", arrays.len());
            arrays.push((format!("${}::{ty}[]", values.len()), alias.clone()));
            select.push(format!("u.{alias}"));
        }
    }
    let from = if arrays.is_empty() {
        // Every column the same in every row: as many rows all the same.
        values.push(Value::BigInt(Some(i64::try_from(rows.len()).ok()?)));
        format!("generate_series(1, ${}::int8) AS u", values.len())
    } else {
        let (params, aliases): (Vec<_>, Vec<_>) = arrays.into_iter().unzip();
        format!("UNNEST({}) AS u({})", params.join(", "), aliases.join(", "))
    };
    let sql = format!(
        "INSERT INTO \"{}\" ({}) SELECT {} FROM {from}",
        A::Entity::default().table_name(),
        names.join(", "),
        select.join(", "),
    );
    Some(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        sql,
        values,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_quote_every_element_and_escape_quotes_and_backslashes() {
        let items = [
            Some("a"),
            None,
            Some(r#"say "hi" \o/"#),
            Some(""),
            Some("NULL"),
        ];
        assert_eq!(
            array_literal(items),
            r#"{"a",NULL,"say \"hi\" \\o/","","NULL"}"#
        );
        assert_eq!(array_literal([]), "{}");
    }
}
