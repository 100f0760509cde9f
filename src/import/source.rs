//! Reading an import file one row at a time: CSV with a header row, or
//! JSON lines. Each row becomes the SCIM User body a client would have
//! POSTed; nothing here knows about the database.

use std::io::{self, BufRead, Read};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::domain::schema::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};
use crate::error::ScimError;

/// The kind of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A header row, then one user a row (columns below).
    Csv,
    /// One SCIM User body (a JSON object) a line.
    Jsonl,
}

impl Format {
    /// The format an extension stands for: `.csv`, `.jsonl`, `.ndjson`.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Self::Csv),
            "jsonl" | "ndjson" => Some(Self::Jsonl),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Jsonl => "jsonl",
        }
    }
}

/// The columns a CSV file may have (matched case-insensitively, in any
/// order; only `userName` is required).
pub const CSV_COLUMNS: [&str; 9] = [
    "userName",
    "email",
    "givenName",
    "familyName",
    "displayName",
    "externalId",
    "active",
    "title",
    "department",
];

/// One row of the file: the line it starts on and the User body it
/// stands for, or why it stands for none.
#[derive(Debug)]
pub struct Row {
    pub line: u64,
    pub body: Result<Value, ScimError>,
}

/// Why a file can't be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The CSV header is not one this command reads.
    #[error("{0}")]
    Header(String),
}

/// Rows of a file, read as they are needed.
pub enum Rows<R: BufRead> {
    Csv(CsvRows<R>),
    Jsonl(JsonlRows<R>),
}

impl<R: BufRead> Rows<R> {
    /// Reads the header of a CSV file at once, so a bad one fails before
    /// anything is written. `max_line` caps a JSON line (the server's
    /// body limit): longer lines fail on their own, memory stays flat.
    pub fn new(format: Format, reader: R, max_line: usize) -> Result<Self, SourceError> {
        Ok(match format {
            Format::Csv => Self::Csv(CsvRows::new(reader)?),
            Format::Jsonl => Self::Jsonl(JsonlRows::new(reader, max_line)),
        })
    }

    pub fn next_row(&mut self) -> Result<Option<Row>, SourceError> {
        match self {
            Self::Csv(r) => r.next_row(),
            Self::Jsonl(r) => r.next_row(),
        }
    }

    /// Bytes read so far (for progress).
    pub fn position(&self) -> u64 {
        match self {
            Self::Csv(r) => r.reader.position().byte(),
            Self::Jsonl(r) => r.position,
        }
    }
}

pub struct CsvRows<R> {
    reader: csv::Reader<R>,
    /// Index into `CSV_COLUMNS` of each column of the file; past its end,
    /// into `paths`.
    columns: Vec<usize>,
    /// Custom attribute columns, named by their full path
    /// (`urn:…:acme:2.0:User:costCode`).
    paths: Vec<String>,
    record: csv::StringRecord,
}

impl<R: Read> CsvRows<R> {
    fn new(reader: R) -> Result<Self, SourceError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let header = reader
            .headers()
            .map_err(|e| csv_fatal(e, "the header row"))?;
        let (columns, paths) = header_columns(header.iter())?;
        Ok(Self {
            reader,
            columns,
            paths,
            record: csv::StringRecord::new(),
        })
    }

    fn next_row(&mut self) -> Result<Option<Row>, SourceError> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => Ok(None),
            Ok(true) => {
                let line = self.record.position().map_or(0, csv::Position::line);
                let body = csv_body(&self.columns, &self.paths, &self.record);
                Ok(Some(Row {
                    line,
                    body: Ok(body),
                }))
            }
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                let detail = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!("the row has {len} fields; the header has {expected_len}"),
                    csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_owned(),
                    _ => return Err(csv_fatal(e, "a row")),
                };
                Ok(Some(Row {
                    line,
                    body: Err(ScimError::invalid_syntax(detail)),
                }))
            }
        }
    }
}

fn csv_fatal(e: csv::Error, what: &str) -> SourceError {
    let line = e.position().map(csv::Position::line);
    match e.into_kind() {
        csv::ErrorKind::Io(io) => SourceError::Io(io),
        other => SourceError::Header(match line {
            Some(l) => format!("cannot read {what} (line {l}): {other:?}"),
            None => format!("cannot read {what}: {other:?}"),
        }),
    }
}

/// Maps header names to known columns; unknown or repeated names are an
/// error naming them all.
fn header_columns<'a>(
    names: impl Iterator<Item = &'a str>,
) -> Result<(Vec<usize>, Vec<String>), SourceError> {
    let mut columns = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    let mut unknown = Vec::new();
    let mut repeated = Vec::new();
    for name in names {
        // Spreadsheets often start UTF-8 files with a byte-order mark.
        let name = name.trim_start_matches('\u{feff}').trim();
        // A custom attribute, named by its full path.
        if name.len() > 4 && name[..4].eq_ignore_ascii_case("urn:") && name.contains(':') {
            if paths.iter().any(|p| p.eq_ignore_ascii_case(name)) {
                repeated.push(format!("{name:?}"));
            } else {
                columns.push(CSV_COLUMNS.len() + paths.len());
                paths.push(name.to_owned());
            }
            continue;
        }
        match CSV_COLUMNS
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
        {
            Some(i) if columns.contains(&i) => repeated.push(format!("{name:?}")),
            Some(i) => columns.push(i),
            None => unknown.push(format!("{name:?}")),
        }
    }
    let mut problems = Vec::new();
    if !unknown.is_empty() {
        problems.push(format!("unknown column(s) {}", unknown.join(", ")));
    }
    if !repeated.is_empty() {
        problems.push(format!("repeated column(s) {}", repeated.join(", ")));
    }
    if problems.is_empty() && !columns.contains(&0) {
        problems.push("no userName column".to_owned());
    }
    if problems.is_empty() {
        Ok((columns, paths))
    } else {
        Err(SourceError::Header(format!(
            "{}; the columns are {} (case-insensitive, any order), and custom attributes by their full path (urn:…:attr)",
            problems.join("; "),
            CSV_COLUMNS.join(", ")
        )))
    }
}

/// The User body of a CSV row; empty cells are left out.
fn csv_body(columns: &[usize], paths: &[String], record: &csv::StringRecord) -> Value {
    let mut body = Map::new();
    let mut name = Map::new();
    let mut enterprise = Map::new();
    for (&col, cell) in columns.iter().zip(record.iter()) {
        if cell.is_empty() {
            continue;
        }
        let cell = Value::String(cell.to_owned());
        if let Some(path) = col
            .checked_sub(CSV_COLUMNS.len())
            .and_then(|i| paths.get(i))
        {
            // A flat `urn:…:attr` key, typed by the schema when decoded.
            body.insert(path.clone(), cell);
            continue;
        }
        match CSV_COLUMNS[col] {
            "email" => {
                body.insert(
                    "emails".into(),
                    json!([{"value": cell, "type": "work", "primary": true}]),
                );
            }
            "givenName" => {
                name.insert("givenName".into(), cell);
            }
            "familyName" => {
                name.insert("familyName".into(), cell);
            }
            "department" => {
                enterprise.insert("department".into(), cell);
            }
            // userName, displayName, externalId, active, title: as named.
            attr => {
                body.insert(attr.into(), cell);
            }
        }
    }
    let mut schemas = vec![Value::from(USER_SCHEMA)];
    if !name.is_empty() {
        body.insert("name".into(), Value::Object(name));
    }
    if !enterprise.is_empty() {
        schemas.push(ENTERPRISE_USER_SCHEMA.into());
        body.insert(ENTERPRISE_USER_SCHEMA.into(), Value::Object(enterprise));
    }
    body.insert("schemas".into(), Value::Array(schemas));
    Value::Object(body)
}

pub struct JsonlRows<R> {
    reader: R,
    line: u64,
    position: u64,
    max_line: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonlRows<R> {
    fn new(reader: R, max_line: usize) -> Self {
        Self {
            reader,
            line: 0,
            position: 0,
            max_line,
            buf: Vec::new(),
        }
    }

    fn next_row(&mut self) -> Result<Option<Row>, SourceError> {
        loop {
            self.buf.clear();
            let limit = self.max_line as u64 + 1;
            let n = (&mut self.reader)
                .take(limit)
                .read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.position += n as u64;
            if self.buf.len() > self.max_line && self.buf.last() != Some(&b'\n') {
                self.skip_rest_of_line()?;
                return Ok(Some(Row {
                    line: self.line,
                    body: Err(ScimError::PayloadTooLarge(format!(
                        "the line is longer than {} bytes",
                        self.max_line
                    ))),
                }));
            }
            if self.buf.trim_ascii().is_empty() {
                continue;
            }
            let body = serde_json::from_slice::<Value>(&self.buf)
                .map_err(|e| ScimError::invalid_syntax(format!("the line is not valid JSON: {e}")));
            return Ok(Some(Row {
                line: self.line,
                body,
            }));
        }
    }

    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            self.buf.clear();
            let n = (&mut self.reader)
                .take(64 * 1024)
                .read_until(b'\n', &mut self.buf)?;
            self.position += n as u64;
            if n == 0 || self.buf.last() == Some(&b'\n') {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(format: Format, text: &str) -> Vec<Row> {
        let mut r = Rows::new(format, text.as_bytes(), 200).unwrap();
        let mut out = vec![];
        while let Some(row) = r.next_row().unwrap() {
            out.push(row);
        }
        out
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(Format::from_path(Path::new("a.CSV")), Some(Format::Csv));
        assert_eq!(
            Format::from_path(Path::new("a.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_path(Path::new("a.jsonl")), Some(Format::Jsonl));
        assert_eq!(Format::from_path(Path::new("a.txt")), None);
        assert_eq!(Format::from_path(Path::new("users")), None);
    }

    #[test]
    fn a_csv_row_becomes_a_scim_user_body() {
        let text = "\u{feff}UserName,email,givenName,familyName,displayName,externalId,active,title,department\n\
                    jane@acme.example, jane@acme.example ,Jane,Doe,Jane Doe,e1,false,CTO,R&D\n";
        let rows = rows(Format::Csv, text);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].line, 2);
        assert_eq!(
            rows[0].body.as_ref().unwrap(),
            &json!({
                "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "jane@acme.example",
                "emails": [{"value": "jane@acme.example", "type": "work", "primary": true}],
                "name": {"givenName": "Jane", "familyName": "Doe"},
                "displayName": "Jane Doe",
                "externalId": "e1",
                "active": "false",
                "title": "CTO",
                ENTERPRISE_USER_SCHEMA: {"department": "R&D"},
            })
        );
    }

    #[test]
    fn empty_cells_are_left_out() {
        let rows = rows(Format::Csv, "email,userName,title\n,bob,\n");
        assert_eq!(
            rows[0].body.as_ref().unwrap(),
            &json!({"schemas": [USER_SCHEMA], "userName": "bob"})
        );
    }

    #[test]
    fn unknown_and_repeated_columns_are_named() {
        let Err(SourceError::Header(msg)) = Rows::new(
            Format::Csv,
            "userName,mail,Phone,email,EMAIL\n".as_bytes(),
            10,
        ) else {
            panic!("the header is refused");
        };
        assert!(
            msg.contains(r#"unknown column(s) "mail", "Phone""#),
            "{msg}"
        );
        assert!(msg.contains(r#"repeated column(s) "EMAIL""#), "{msg}");
        assert!(msg.contains("userName, email, givenName"), "{msg}");
        let Err(SourceError::Header(msg)) = Rows::new(Format::Csv, "email\n".as_bytes(), 10) else {
            panic!("the header is refused");
        };
        assert!(msg.contains("no userName column"), "{msg}");
    }

    #[test]
    fn a_short_csv_row_fails_alone_with_its_line() {
        let rows = rows(
            Format::Csv,
            "userName,email\na,a@x.example\nb\nc,c@x.example\n",
        );
        assert_eq!(rows.len(), 3);
        assert!(rows[0].body.is_ok());
        assert_eq!(rows[1].line, 3);
        let err = rows[1].body.as_ref().unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.detail(), "the row has 1 fields; the header has 2");
        assert_eq!(rows[2].line, 4);
        assert!(rows[2].body.is_ok());
    }

    #[test]
    fn json_lines_keep_their_line_numbers_and_skip_blank_lines() {
        let long = format!("{{\"userName\": \"{}\"}}", "x".repeat(300));
        let text =
            format!("{{\"userName\": \"a\"}}\n\n  \n{{not json\n{long}\n{{\"userName\": \"b\"}}");
        let rows = rows(Format::Jsonl, &text);
        let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 4, 5, 6]);
        assert_eq!(rows[0].body.as_ref().unwrap()["userName"], "a");
        assert_eq!(rows[1].body.as_ref().unwrap_err().status(), 400);
        assert_eq!(rows[2].body.as_ref().unwrap_err().status(), 413);
        assert_eq!(rows[3].body.as_ref().unwrap()["userName"], "b");
    }
}
