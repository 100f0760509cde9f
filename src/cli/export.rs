//! `export`: CSV to stdout.

use std::io::Write;

use clap::Subcommand;

use super::CliError;
use crate::domain::export;
use crate::store::{Store, directories, exports};

#[derive(Debug, Subcommand)]
pub enum ExportCmd {
    /// The organization's managed accounts (same columns as the admin API).
    ///
    /// Example: scim-server export managed-accounts --org acme > accounts.csv
    #[command(name = "managed-accounts")]
    ManagedAccounts {
        #[arg(long)]
        org: String,
    },
}

pub(super) async fn run(store: &Store, cmd: ExportCmd) -> Result<(), CliError> {
    let ExportCmd::ManagedAccounts { org } = cmd;
    let org = directories::org_by_name(store.reader(), &org).await?;
    let mut out = std::io::stdout().lock();
    let (mut after, mut first) = (None, true);
    loop {
        let (rows, next) = exports::managed_page(store.reader(), org.id, after).await?;
        let bytes = export::managed_csv(&rows, first).map_err(CliError::Usage)?;
        out.write_all(&bytes)
            .map_err(|e| CliError::Usage(format!("cannot write to stdout: {e}")))?;
        first = false;
        match next {
            Some(n) => after = Some(n),
            None => return Ok(()),
        }
    }
}
