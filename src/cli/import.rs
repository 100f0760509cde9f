//! `import users`: provision users from a file, as an IdP's POST /Users
//! would (the import service, batch by batch).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{CliError, print};
use crate::config::Settings;
use crate::import::{Format, ImportError, ImportOptions, Summary, import_users};
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ImportCmd {
    /// Provision the users of a CSV or JSON-lines file into a directory.
    ///
    /// Each row goes through exactly what SCIM POST /Users does: the
    /// account is found by email and linked, or created; a userName already
    /// in the directory, a bad email and the like fail that row only. Every
    /// row is recorded in the directory's sync log ("POST /Users (import)").
    /// The file is streamed and written in batches (one transaction per
    /// batch, a savepoint per row), so the server keeps running alongside.
    ///
    /// At the end a JSON summary goes to stdout: rows, created, linked
    /// (an existing account got linked), failed, and the first 100 failures
    /// with their line and SCIM error. The exit status is 0 when the whole
    /// file was read, even if rows failed; 1 when the import could not
    /// start or stopped (the summary then tells what was imported).
    #[command(after_help = IMPORT_HELP)]
    Users {
        /// Directory id (the users are provisioned as its IdP would).
        #[arg(long)]
        directory: Uuid,
        /// File format; by default from the extension (.csv; .jsonl or .ndjson).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Rows per transaction.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
        /// The CSV or JSON-lines file.
        file: PathBuf,
    },
}

const IMPORT_HELP: &str = "\
CSV: a header row naming the columns (case-insensitive, any order; unknown
columns are an error), then one user a row. Empty cells are left out.
  userName     userName (required)
  email        emails[0].value (type work, primary)
  givenName    name.givenName
  familyName   name.familyName
  displayName  displayName
  externalId   externalId
  active       active (true or false; default true)
  title        title
  department   the enterprise extension's department
  urn:…:attr   a custom attribute of a registered schema, by its full path

JSON lines: one SCIM User body (as for POST /Users) a line; blank lines are
skipped.

Examples:
  scim-server import users --directory 0190... users.csv
  scim-server import users --directory 0190... okta-export.jsonl
  scim-server import users --directory 0190... --format jsonl users.txt > summary.json
  DATABASE_URL=postgres://scim@db/scim scim-server import users --directory 0190... users.csv";

/// Runs the import with a progress bar when stderr is a terminal. The
/// summary is the answer; when the import stopped it is printed before
/// the error (what was imported is in the database).
pub(super) async fn run(
    settings: &Settings,
    store: &Store,
    cmd: ImportCmd,
) -> Result<Value, CliError> {
    let progress = std::io::stderr().is_terminal();
    match import(settings, store, cmd, progress).await {
        Ok(summary) => Ok(json!(summary)),
        Err(ImportError::Stopped {
            line,
            cause,
            summary,
        }) => {
            print(json!(summary));
            Err(ImportError::Stopped {
                line,
                cause,
                summary,
            }
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn import(
    settings: &Settings,
    store: &Store,
    cmd: ImportCmd,
    progress: bool,
) -> Result<Summary, ImportError> {
    let ImportCmd::Users {
        directory,
        format,
        batch_size,
        file,
    } = cmd;
    let opts = ImportOptions {
        directory,
        file,
        format,
        batch_size: batch_size as usize,
        max_line_bytes: settings.max_body_bytes,
        progress,
    };
    import_users(store, &opts).await
}
