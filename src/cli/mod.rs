//! The `scim-server` command line: serve, and the operator commands that
//! work on the same database while the server runs. One module per
//! command group (its clap type and what it does); each write goes
//! through a `service/` function, the same one the admin API calls where
//! there is one, so it commits in one transaction with its audit entry.

mod admin_key;
mod directory;
mod domain;
mod events;
mod export;
mod group;
mod import;
mod oauth;
mod schema;
mod site;
mod token;
mod webhook;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde_json::{Value, json};
use uuid::Uuid;
use validator::Validate;

pub use admin_key::AdminKeyCmd;
pub use directory::DirectoryCmd;
pub use domain::DomainCmd;
pub use events::EventsCmd;
pub use export::ExportCmd;
pub use group::GroupCmd;
pub use import::ImportCmd;
pub use oauth::{OauthClientCmd, SigningKeyCmd};
pub use schema::SchemaCmd;
pub use site::SiteCmd;
pub use token::TokenCmd;
pub use webhook::WebhookCmd;

use crate::admin_error::AdminError;
use crate::config::Settings;
use crate::domain::error::DomainError;
use crate::error::ScimError;
use crate::import::{ImportError, Summary};
use crate::input;
use crate::service::accounts::AdminAct;
use crate::startup::{StartupError, open_store};
use crate::store::audit::Actor;
use crate::store::events::{self as event_store, Origin};
use crate::store::{Store, accounts, directories};

#[derive(Debug, Parser)]
#[command(
    name = "scim-server",
    version,
    about = "SCIM 2.0 provisioning server",
    after_help = "Without a command, `serve` runs.\n\nExamples:\n  scim-server\n  scim-server directory create --org acme --name okta\n  scim-server token list --directory 0190...\n  scim-server domain add --org acme acme.example\n  scim-server domain verify --org acme acme.example\n  scim-server oauth-client create --directory 0190...\n  scim-server signing-key rotate\n  scim-server import users --directory 0190... users.csv"
)]
pub struct Cli {
    /// Optional TOML configuration file (keys as in the README's table).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Manage directories (IdP connections).
    #[command(subcommand)]
    Directory(DirectoryCmd),
    /// Manage a directory's SCIM bearer tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Manage an organization's domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Manage an organization's sites.
    #[command(subcommand)]
    Site(SiteCmd),
    /// Manage what groups grant.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Purge the accounts whose deletion grace period has ended and delete
    /// sync-log and audit-log rows past their retention (the server also
    /// does both periodically).
    #[command(name = "purge-due")]
    PurgeDue,
    /// Export as CSV to stdout.
    #[command(subcommand)]
    Export(ExportCmd),
    /// Manage the admin API keys of an organization.
    #[command(subcommand, name = "admin-key")]
    AdminKey(AdminKeyCmd),
    /// Manage a directory's OAuth 2.0 clients (client credentials grant).
    #[command(subcommand)]
    OauthClient(OauthClientCmd),
    /// Manage the keys that sign OAuth access tokens.
    #[command(subcommand)]
    SigningKey(SigningKeyCmd),
    /// Provision users from a file, as an IdP's POST /Users would.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Manage an organization's custom schema extensions (custom attributes).
    #[command(subcommand)]
    Schema(SchemaCmd),
    /// Read an organization's change events.
    #[command(subcommand)]
    Events(EventsCmd),
    /// Manage an organization's webhook endpoints.
    #[command(subcommand)]
    Webhook(WebhookCmd),
}

#[derive(Debug, Args)]
pub struct DirectoryArg {
    /// Directory id.
    #[arg(long)]
    pub directory: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Startup(#[from] StartupError),
    #[error("{0}")]
    Import(#[from] ImportError),
    #[error("{}", .0.detail())]
    Scim(#[from] ScimError),
    /// A refusal of a use case shared with the admin API: its message.
    #[error("{}", .0.message())]
    Admin(#[from] AdminError),
    /// A store read or a rule's refusal; the operator reads the causes too.
    #[error("{}", .0.chain())]
    Domain(#[from] DomainError),
    #[error("{0}")]
    Usage(String),
}

/// The names a command creates (an organization, a directory, a site, a
/// key's label), checked as the admin API checks names.
#[derive(Debug, Default, Validate)]
struct NewNames<'a> {
    #[validate(custom(function = "input::one_line_name"))]
    org: Option<&'a str>,
    #[validate(custom(function = "input::one_line_name"))]
    name: Option<&'a str>,
    #[validate(custom(function = "input::one_line_name"))]
    label: Option<&'a str>,
}

impl NewNames<'_> {
    fn check(&self) -> Result<(), CliError> {
        self.validate()
            .map_err(|e| CliError::Usage(input::first_failure(&e)))
    }
}

fn public_base(settings: &Settings) -> String {
    settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.bind))
}

/// The OAuth token endpoint as printed for operators.
pub fn token_url(settings: &Settings) -> String {
    format!("{}/oauth/token", public_base(settings))
}

pub fn scim_base_url(settings: &Settings, directory_id: Uuid) -> String {
    format!(
        "{}/scim/v2/directories/{directory_id}",
        public_base(settings)
    )
}

fn print(v: Value) {
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

/// Who the events and audit entries of an operator command name.
fn origin() -> Origin {
    Origin::new(Actor::System("operator cli"), None)
}

/// The operator acting for the organization named `name`.
async fn for_org(store: &Store, name: &str) -> Result<AdminAct, CliError> {
    let org = directories::org_by_name(store.reader(), name).await?;
    Ok(AdminAct::operator(org.id))
}

/// The operator acting for the organization of directory `id`.
async fn for_directory(store: &Store, id: Uuid) -> Result<AdminAct, CliError> {
    let dir = directories::directory_by_id(store.reader(), id).await?;
    Ok(AdminAct::operator(dir.org_id))
}

/// Runs an operator command (everything but `serve`) and prints what it
/// answers as JSON.
pub async fn run(settings: &Settings, command: Command) -> Result<(), CliError> {
    if matches!(command, Command::Serve) {
        return Err(CliError::Usage("serve is not an operator command".into()));
    }
    let store = open_store(settings).await?;
    let out = dispatch(settings, &store, command).await;
    store.close().await;
    if let Some(v) = out? {
        print(v);
    }
    Ok(())
}

/// One command group each; `None`: the command wrote its own output.
async fn dispatch(
    settings: &Settings,
    store: &Store,
    command: Command,
) -> Result<Option<Value>, CliError> {
    Ok(Some(match command {
        Command::Serve => return Err(CliError::Usage("serve is not an operator command".into())),
        Command::Directory(cmd) => directory::run(settings, store, cmd).await?,
        Command::Token(cmd) => token::run(store, cmd).await?,
        Command::Domain(cmd) => domain::run(settings, store, cmd).await?,
        Command::Site(cmd) => site::run(store, cmd).await?,
        Command::Group(cmd) => group::run(store, cmd).await?,
        Command::PurgeDue => purge_due(settings, store).await?,
        Command::Export(cmd) => return export::run(store, cmd).await.map(|()| None),
        Command::AdminKey(cmd) => admin_key::run(settings, store, cmd).await?,
        Command::OauthClient(cmd) => oauth::client(settings, store, cmd).await?,
        Command::SigningKey(cmd) => oauth::signing_key(store, cmd).await?,
        Command::Import(cmd) => import::run(settings, store, cmd).await?,
        Command::Schema(cmd) => schema::run(store, cmd).await?,
        Command::Events(cmd) => return events::run(store, cmd).await.map(|()| None),
        Command::Webhook(cmd) => webhook::run(settings, store, cmd).await?,
    }))
}

/// `purge-due`: accounts past their grace period, log rows and events past
/// their retention.
async fn purge_due(settings: &Settings, store: &Store) -> Result<Value, CliError> {
    let now = chrono::Utc::now();
    let n = accounts::purge_due(store, now).await?;
    let r = crate::startup::retention(store, settings).await?;
    let events = event_store::apply_retention(store, now, settings.event_retention_days).await?;
    Ok(json!({
        "purged": n,
        "sync_log_rows_deleted": r.sync_log,
        "audit_log_rows_deleted": r.audit_log,
        "events_deleted": events,
    }))
}

/// Runs an `import` command without a progress bar and returns its summary.
pub async fn run_import(settings: &Settings, command: Command) -> Result<Summary, CliError> {
    let Command::Import(cmd) = command else {
        return Err(CliError::Usage("not an import command".into()));
    };
    let store = open_store(settings).await?;
    let out = import::import(settings, &store, cmd, false).await;
    store.close().await;
    Ok(out?)
}

/// Runs an `oauth-client`, `signing-key`, `token` or `admin-key` command
/// and returns what `run` prints (tests read the secrets from it).
pub async fn run_oauth(settings: &Settings, command: Command) -> Result<Value, CliError> {
    let store = open_store(settings).await?;
    let out = match command {
        Command::OauthClient(cmd) => oauth::client(settings, &store, cmd).await,
        Command::SigningKey(cmd) => oauth::signing_key(&store, cmd).await,
        Command::Token(cmd) => token::run(&store, cmd).await,
        Command::AdminKey(cmd) => admin_key::run(settings, &store, cmd).await,
        _ => Err(CliError::Usage(
            "not an oauth-client, signing-key, token or admin-key command".into(),
        )),
    };
    store.close().await;
    out
}
