//! `scim-server import users`: provisions users from a CSV or JSON-lines
//! file through the same domain and store code as `POST /Users`. The file
//! is streamed (memory stays flat whatever its size) and written in
//! batches: one transaction per batch, a savepoint per row.

pub mod source;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use uuid::Uuid;

use crate::domain::user::UserInput;
use crate::error::ScimError;
use crate::service::import::{BatchFailed, BatchRow, RowResult, write_batch};
use crate::store::Store;
use crate::store::directories::{self, DirectoryPrincipal};
use crate::store::org_schemas;
use crate::store::sync_log::SyncEntry;
pub use source::{CSV_COLUMNS, Format};
use source::{Rows, SourceError};

/// The sync log's name for an imported row.
pub const OPERATION: &str = "POST /Users (import)";
/// At most this many failures are listed in the summary (all are counted).
pub const MAX_LISTED_FAILURES: usize = 100;

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub directory: Uuid,
    pub file: PathBuf,
    /// `None`: from the file's extension.
    pub format: Option<Format>,
    pub batch_size: usize,
    /// Longest JSON line accepted (the server's body limit).
    pub max_line_bytes: usize,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// What an import did; printed as JSON at the end.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub file: String,
    pub format: &'static str,
    pub directory_id: Uuid,
    /// Rows read (blank JSON lines aside).
    pub rows: u64,
    /// New accounts created and linked to the directory.
    pub created: u64,
    /// Existing accounts (same email) linked to the directory.
    pub linked: u64,
    pub failed: u64,
    /// The first `MAX_LISTED_FAILURES` failures, in file order.
    pub failures: Vec<Failure>,
    /// Sync-log request id of this import's entries.
    pub request_id: String,
}

/// A row that was not imported, with the error `POST /Users` would have
/// answered.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub line: u64,
    pub status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Nothing was imported: bad arguments, unreadable file, bad header.
    #[error("{0}")]
    Refused(String),
    /// The import began and stopped: the batches before `line` are in
    /// the database (see `summary`), the batch holding it is not.
    #[error("the import stopped at line {line}: {cause}; rows before its batch were imported")]
    Stopped {
        line: u64,
        cause: String,
        summary: Box<Summary>,
    },
}

impl Summary {
    fn add(&mut self, line: u64, result: RowResult) {
        self.rows += 1;
        match result {
            RowResult::Created => self.created += 1,
            RowResult::Linked => self.linked += 1,
            RowResult::Failed(e) => {
                self.failed += 1;
                if self.failures.len() < MAX_LISTED_FAILURES {
                    self.failures.push(Failure {
                        line,
                        status: e.status().to_string(),
                        scim_type: e.scim_type().map(|t| t.as_str()),
                        detail: e.detail(),
                    });
                }
            }
        }
    }
}

fn open(path: &Path) -> Result<File, ImportError> {
    File::open(path)
        .map_err(|e| ImportError::Refused(format!("cannot open {}: {e}", path.display())))
}

fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} ({eta}) {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Imports the file into the directory. Row failures are counted, listed
/// and logged, and do not stop the import; a database failure does.
pub async fn import_users(store: &Store, opts: &ImportOptions) -> Result<Summary, ImportError> {
    let format = match opts.format.or_else(|| Format::from_path(&opts.file)) {
        Some(f) => f,
        None => {
            return Err(ImportError::Refused(format!(
                "cannot tell the format of {} from its extension (.csv, .jsonl, .ndjson): give --format csv|jsonl",
                opts.file.display()
            )));
        }
    };
    let dir: DirectoryPrincipal = directories::operator_principal(store.writer(), opts.directory)
        .await
        .map_err(|e| ImportError::Refused(ScimError::from(e).detail()))?;
    // Custom extension values (JSON-lines bodies, CSV columns named by
    // their full path) are typed against the organization's schemas.
    let ext = org_schemas::user_extensions(store.reader(), dir.org_id)
        .await
        .map_err(|e| ImportError::Refused(ScimError::from(e).detail()))?;
    // Attributes no schema knows: sync-log warnings, or refused rows when
    // the directory refuses them (as for SCIM requests).
    let reject_unknown = org_schemas::rejects_unknown_attributes(store.reader(), dir.directory_id)
        .await
        .map_err(|e| ImportError::Refused(ScimError::from(e).detail()))?;
    let file = open(&opts.file)?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut rows =
        Rows::new(format, BufReader::new(file), opts.max_line_bytes).map_err(|e| match e {
            SourceError::Header(m) => ImportError::Refused(format!("{}: {m}", opts.file.display())),
            SourceError::Io(e) => {
                ImportError::Refused(format!("cannot read {}: {e}", opts.file.display()))
            }
        })?;
    let request_id = format!("import-{}", Uuid::now_v7());
    let log = SyncEntry {
        directory_id: dir.directory_id,
        operation: OPERATION.to_owned(),
        resource_type: "User",
        resource_id: None,
        status: 201,
        detail: None,
        request_id: Some(request_id.clone()),
    };
    let mut summary = Summary {
        file: opts.file.display().to_string(),
        format: format.as_str(),
        directory_id: dir.directory_id,
        request_id,
        ..Summary::default()
    };
    let bar = progress_bar(opts.progress, total);
    let batch_size = opts.batch_size.max(1);
    let mut batch = Vec::with_capacity(batch_size);
    let mut last_line = 0;
    loop {
        let row = match rows.next_row() {
            Ok(row) => row,
            Err(e) => {
                bar.abandon();
                return Err(ImportError::Stopped {
                    line: last_line + 1,
                    cause: e.to_string(),
                    summary: Box::new(summary),
                });
            }
        };
        let end = row.is_none();
        if let Some(row) = row {
            last_line = row.line;
            let mut ignored = Vec::new();
            let input = row.body.and_then(|b| {
                let input = UserInput::from_body(&b)?;
                let (input, dropped) = org_schemas::custom_with(&b, input, &ext, reject_unknown)?;
                ignored = dropped;
                Ok(input)
            });
            batch.push(BatchRow {
                line: row.line,
                input,
                ignored,
            });
        }
        if batch.len() >= batch_size || (end && !batch.is_empty()) {
            let rows_of_batch = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            match write_batch(store, &dir, rows_of_batch, &log).await {
                Ok(results) => {
                    for (line, result) in results {
                        summary.add(line, result);
                    }
                }
                Err(BatchFailed { line, error }) => {
                    bar.abandon();
                    tracing::error!(error = %error, line, "import stopped");
                    return Err(ImportError::Stopped {
                        line,
                        cause: stop_cause(&error),
                        summary: Box::new(summary),
                    });
                }
            }
            bar.set_position(rows.position());
            bar.set_message(format!(
                "{} created, {} linked, {} failed",
                summary.created, summary.linked, summary.failed
            ));
        }
        if end {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// An operator reads the cause the log would have (there is no client to
/// hide it from).
fn stop_cause(e: &ScimError) -> String {
    match e {
        ScimError::Internal { cause } => format!("database error: {cause}"),
        ScimError::Unavailable { cause } => format!("database busy: {cause}"),
        other => other.detail(),
    }
}
