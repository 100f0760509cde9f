//! The `scim-server` command line: serve, and the operator commands that
//! work on the same database while the server runs.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::Settings;
use crate::dns;
use crate::domain::custom_schema::CustomSchema;
use crate::domain::export;
use crate::domain::lifetime::Lifetime;
use crate::domain::types::DomainName;
use crate::error::ScimError;
use crate::import::{Format, ImportError, ImportOptions, Summary, import_users};
use crate::startup::{StartupError, open_store};
use crate::store::audit::{self, Actor, AuditEntry};
use crate::store::events::{self, Origin};
use crate::store::{
    Store, accounts, admin_keys, db_error, directories, exports, groups, oauth, org_schemas,
};

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

#[derive(Debug, Subcommand)]
pub enum WebhookCmd {
    /// Add an endpoint (https); prints it with its secret, shown once.
    ///
    /// Example: scim-server webhook create --org acme --url https://hooks.example.com/scim --type account.deactivated
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        url: String,
        /// Only these event types (comma-separated); default: all.
        #[arg(long = "type")]
        types: Option<String>,
    },
    /// The organization's endpoints and their delivery state.
    List {
        #[arg(long)]
        org: String,
    },
    /// Remove an endpoint.
    Delete {
        #[arg(long)]
        org: String,
        #[arg(long)]
        id: Uuid,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// Print the organization's change events as JSON lines, oldest first
    /// (the same objects as GET /admin/v1/orgs/{org}/events).
    ///
    /// Example: scim-server events tail --org acme --after 120 --follow
    Tail {
        #[arg(long)]
        org: String,
        /// Start after this sequence number (default: from the oldest kept).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Only these types (comma-separated, e.g. account.deactivated).
        #[arg(long = "type")]
        types: Option<String>,
        /// Keep waiting for new events until stopped (Ctrl-C or SIGTERM
        /// end it with status 0).
        #[arg(long)]
        follow: bool,
        /// With --follow: how often to look for new events, in
        /// milliseconds (one indexed query each time).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
        poll_ms: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchemaCmd {
    /// Register an RFC 7643 §7 Schema document (JSON file) for the
    /// organization; every directory of the org serves it.
    ///
    /// Example: scim-server schema add --org acme acme-user.json
    Add {
        #[arg(long)]
        org: String,
        /// User or Group; by default from the URN's last segment.
        #[arg(long)]
        resource_type: Option<String>,
        file: PathBuf,
    },
    /// List the organization's schemas (URN, resource type).
    ///
    /// Example: scim-server schema list --org acme
    List {
        #[arg(long)]
        org: String,
    },
    /// Remove a schema by URN, and the values users have of it.
    ///
    /// Example: scim-server schema remove --org acme urn:ietf:params:scim:schemas:extension:acme:2.0:User
    Remove {
        #[arg(long)]
        org: String,
        urn: String,
    },
    /// What a directory does with attributes no registered schema knows:
    /// `accept` (the default: dropped, with a sync-log warning) or
    /// `reject` (400 invalidSyntax).
    ///
    /// Example: scim-server schema unknown-attributes --directory 0190... reject
    UnknownAttributes {
        #[command(flatten)]
        dir: DirectoryArg,
        #[arg(value_parser = ["accept", "reject"])]
        policy: String,
    },
}

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

#[derive(Debug, Subcommand)]
pub enum AdminKeyCmd {
    /// Create an admin API key for the organization; it is shown once.
    ///
    /// Example: scim-server admin-key create --org acme --expires-in 90d
    Create {
        #[arg(long)]
        org: String,
        /// A note to tell keys apart.
        #[arg(long)]
        label: Option<String>,
        /// Lifetime (e.g. 90d, 12h); refused after it. Default: no expiry.
        #[arg(long, value_parser = Lifetime::parse)]
        expires_in: Option<Lifetime>,
    },
    /// List the organization's keys (ids, hints, labels, expiry; never values).
    ///
    /// Example: scim-server admin-key list --org acme
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a key: refused from the next request on (API and web page).
    ///
    /// Example: scim-server admin-key revoke --org acme --id 0191...
    Revoke {
        #[arg(long)]
        org: String,
        /// Key id (from `admin-key list`).
        #[arg(long)]
        id: Uuid,
    },
}

#[derive(Debug, Subcommand)]
pub enum OauthClientCmd {
    /// Create a client; prints its client_id and client_secret (the secret
    /// is shown once) and the token endpoint.
    ///
    /// Example: scim-server oauth-client create --directory 0190...
    Create(DirectoryArg),
    /// Issue a new secret; the old one and the access tokens obtained with
    /// it stop working at once.
    ///
    /// Example: scim-server oauth-client rotate --directory 0190... --client-id scimc_...
    Rotate {
        #[command(flatten)]
        dir: DirectoryArg,
        #[arg(long)]
        client_id: String,
    },
    /// Revoke a client: its secret and access tokens stop working.
    ///
    /// Example: scim-server oauth-client revoke --directory 0190... --client-id scimc_...
    Revoke {
        #[command(flatten)]
        dir: DirectoryArg,
        #[arg(long)]
        client_id: String,
    },
    /// List the directory's clients (never their secrets).
    List(DirectoryArg),
}

#[derive(Debug, Subcommand)]
pub enum SigningKeyCmd {
    /// Add a new key and sign new tokens with it; older keys keep
    /// verifying the tokens they signed until retired.
    ///
    /// Example: scim-server signing-key rotate
    Rotate,
    /// Retire a key: the tokens it signed stop working at once.
    ///
    /// Example: scim-server signing-key retire --kid 0193...
    Retire {
        #[arg(long)]
        kid: String,
    },
    /// List keys (kid, age, retired or not; never the secret).
    List,
}

#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// Grant a group's members product access on a site (members get a site
    /// membership at once; so will members added later).
    ///
    /// Example: scim-server group grant --group 0190... --site acme.example.net --product jira --role user
    Grant {
        /// Group id (the SCIM id).
        #[arg(long)]
        group: Uuid,
        /// Site name.
        #[arg(long)]
        site: String,
        /// One of: jira, confluence, jira-service-management,
        /// jira-product-discovery, bitbucket, trello, opsgenie, statuspage.
        #[arg(long)]
        product: String,
        /// user or admin.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Remove a group's grant (its `grant_id`): its members lose the
    /// product, and the site membership where it was their last path.
    ///
    /// Example: scim-server group ungrant --group 0190... --grant 0191...
    Ungrant {
        /// Group id (the SCIM id).
        #[arg(long)]
        group: Uuid,
        /// The grant's id (`grant_id` of `group grant`).
        #[arg(long)]
        grant: Uuid,
    },
}

#[derive(Debug, Subcommand)]
pub enum DirectoryCmd {
    /// Change a directory's settings. `--reject-unverified-domains true`:
    /// `POST /Users` of an email on a domain the organization has not
    /// verified is refused (400 invalidValue) instead of synced as an
    /// external account.
    ///
    /// Example: scim-server directory set --directory 0190... --reject-unverified-domains true
    Set {
        #[arg(long)]
        directory: Uuid,
        #[arg(long, action = clap::ArgAction::Set)]
        reject_unverified_domains: bool,
    },
    /// Create a directory (and the organization if needed); prints its SCIM
    /// base URL and a token as JSON.
    ///
    /// Example: scim-server directory create --org acme --name okta
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Make the directory authoritative for a verified domain of its
    /// organization (only it then writes the profile, email, password and
    /// status of the accounts on that domain).
    ///
    /// Example: scim-server directory bind-domain --directory 0190... acme.example
    #[command(name = "bind-domain")]
    BindDomain {
        #[arg(long)]
        directory: Uuid,
        domain: String,
    },
}

#[derive(Debug, Args)]
pub struct DirectoryArg {
    /// Directory id.
    #[arg(long)]
    pub directory: Uuid,
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a new token; it is shown once.
    ///
    /// Example: scim-server token create --directory 0190... --expires-in 90d
    Create {
        #[command(flatten)]
        dir: DirectoryArg,
        /// Lifetime (e.g. 90d, 12h); 401 invalid_token after it. Default:
        /// no expiry.
        #[arg(long, value_parser = Lifetime::parse)]
        expires_in: Option<Lifetime>,
    },
    /// Revoke a token (effective on the next request).
    ///
    /// Example: scim-server token revoke --directory 0190... --id 0191...
    Revoke {
        #[command(flatten)]
        dir: DirectoryArg,
        /// Token id (from `token list`).
        #[arg(long)]
        id: Uuid,
    },
    /// List tokens (ids and hints, never values).
    List(DirectoryArg),
}

#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Add an unverified domain; prints its verification token.
    ///
    /// Example: scim-server domain add --org acme acme.example
    Add {
        #[arg(long)]
        org: String,
        domain: String,
    },
    /// Verify a domain by its DNS TXT record and claim its accounts.
    /// `--force` skips the DNS check (operator override: printed warning,
    /// audit entry).
    ///
    /// Example: scim-server domain verify --org acme acme.example
    Verify {
        #[arg(long)]
        org: String,
        domain: String,
        /// Verify without the DNS proof.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SiteCmd {
    /// Create a site of the organization.
    ///
    /// Example: scim-server site create --org acme acme.example.net
    Create {
        #[arg(long)]
        org: String,
        site: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Startup(#[from] StartupError),
    #[error("{0}")]
    Import(#[from] ImportError),
    #[error("{}", .0.detail())]
    Scim(#[from] ScimError),
    #[error("{0}")]
    Usage(String),
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

async fn webhook(
    settings: &Settings,
    db: &DatabaseConnection,
    cmd: WebhookCmd,
) -> Result<Value, CliError> {
    use crate::domain::webhook::{WebhookSecret, WebhookUrl};
    use crate::store::webhooks;
    let view = |w: &entity::webhook_endpoint::Model| {
        json!({"id": w.id, "url": w.url, "types": w.types, "enabled": w.enabled,
            "disabled_reason": w.disabled_reason, "cursor": w.cursor_seq.to_string(),
            "failing_since": w.failing_since, "next_attempt_at": w.next_attempt_at})
    };
    Ok(match cmd {
        WebhookCmd::Create { org, url, types } => {
            let org = directories::org_by_name(db, &org).await?;
            let url = WebhookUrl::parse(&url, settings.webhook_allow_insecure)
                .map_err(CliError::Usage)?;
            let types = match types.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                None => None,
                Some(t) => Some(
                    t.split(',')
                        .map(|t| {
                            events::EventType::parse(t.trim())
                                .map(events::EventType::as_str)
                                .ok_or_else(|| CliError::Usage(format!("unknown event type {t:?}")))
                        })
                        .collect::<Result<Vec<_>, _>>()?
                        .join(","),
                ),
            };
            let secret = WebhookSecret::generate();
            let cursor = events::last_seq(db, org.id).await?;
            let w =
                webhooks::create(db, org.id, url.as_str(), &secret.expose(), types, cursor).await?;
            audit::record(
                db,
                AuditEntry::new(
                    org.id,
                    Actor::System("operator cli"),
                    "webhook.create",
                    "webhook",
                    w.id,
                )
                .detail(url.as_str()),
            )
            .await?;
            let mut out = view(&w);
            out["secret"] = json!(secret.expose());
            out
        }
        WebhookCmd::List { org } => {
            let org = directories::org_by_name(db, &org).await?;
            let rows = webhooks::list(db, org.id).await?;
            json!(rows.iter().map(view).collect::<Vec<_>>())
        }
        WebhookCmd::Delete { org, id } => {
            let org = directories::org_by_name(db, &org).await?;
            webhooks::delete(db, org.id, id).await?;
            audit::record(
                db,
                AuditEntry::new(
                    org.id,
                    Actor::System("operator cli"),
                    "webhook.delete",
                    "webhook",
                    id,
                ),
            )
            .await?;
            json!({"deleted": id})
        }
    })
}

/// `events tail`: the events after `after` as JSON lines, in pages of 500
/// (keyset on `seq`). With `follow` (the poll interval) it then looks for
/// new events from the last one seen until Ctrl-C or SIGTERM. The cursor
/// moves to the feed's end as it was before each read, also past events
/// the type filter skipped: numbers are commit order, so every event up to
/// that end was already visible, and a selective filter never rescans them.
async fn tail(
    store: &Store,
    org_id: Uuid,
    mut after: i64,
    types: &[events::EventType],
    follow: Option<std::time::Duration>,
) -> Result<(), CliError> {
    use std::io::Write;
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        let end = events::last_seq(store.reader(), org_id).await?;
        loop {
            let rows = events::page(store.reader(), org_id, Some(after), types, 500).await?;
            let mut out = std::io::stdout().lock();
            let written = rows
                .iter()
                .try_for_each(|e| writeln!(out, "{}", events::to_json(e)))
                .and_then(|()| out.flush());
            match written {
                Ok(()) => {}
                // The reader went away (`| head`): done.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                Err(e) => return Err(CliError::Usage(format!("cannot write to stdout: {e}"))),
            }
            if let Some(last) = rows.last().and_then(|e| e.seq) {
                after = last;
            }
            if rows.len() < 500 {
                break;
            }
        }
        after = after.max(end);
        let Some(poll) = follow else {
            return Ok(());
        };
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn print(v: Value) {
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
}

async fn schema(db: &DatabaseConnection, cmd: SchemaCmd) -> Result<Value, CliError> {
    Ok(match cmd {
        SchemaCmd::Add {
            org,
            resource_type,
            file,
        } => {
            let org = directories::org_by_name(db, &org).await?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", file.display())))?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::Usage(format!("{} is not JSON: {e}", file.display())))?;
            let schema = CustomSchema::parse(&doc, resource_type.as_deref())?;
            let m = org_schemas::add(db, org.id, &schema).await?;
            json!({"urn": m.urn, "resource_type": m.resource_type, "organization_id": org.id})
        }
        SchemaCmd::List { org } => {
            let org = directories::org_by_name(db, &org).await?;
            let list: Vec<Value> = org_schemas::list(db, org.id)
                .await?
                .into_iter()
                .map(|m| json!({"urn": m.urn, "resource_type": m.resource_type, "created_at": m.created_at}))
                .collect();
            json!(list)
        }
        SchemaCmd::UnknownAttributes { dir, policy } => {
            let d = directories::directory_by_id(db, dir.directory).await?;
            let reject = policy == "reject";
            org_schemas::set_reject_unknown_attributes(db, d.org_id, d.id, reject).await?;
            json!({"directory_id": d.id, "reject_unknown_attributes": reject})
        }
        SchemaCmd::Remove { org, urn } => {
            let org = directories::org_by_name(db, &org).await?;
            org_schemas::remove(db, org.id, &urn).await?;
            json!({"urn": urn, "removed": true})
        }
    })
}

/// Runs an operator command (everything but `serve`).
pub async fn run(settings: &Settings, command: Command) -> Result<(), CliError> {
    let store = open_store(settings).await?;
    let db = store.writer();
    match command {
        Command::Serve => return Err(CliError::Usage("serve is not an operator command".into())),
        Command::Directory(DirectoryCmd::Set {
            directory,
            reject_unverified_domains,
        }) => {
            use crate::store::audit::{self, Actor, AuditEntry};
            let tx = store.begin().await?;
            let dir = directories::directory_by_id(&tx, directory).await?;
            let dir =
                directories::set_reject_unverified_domains(&tx, dir, reject_unverified_domains)
                    .await?;
            audit::record(
                &tx,
                AuditEntry::new(
                    dir.org_id,
                    Actor::System("operator cli"),
                    "directory.update",
                    "directory",
                    dir.id,
                )
                .detail(format!(
                    "reject_unverified_domains = {}",
                    dir.reject_unverified_domains
                )),
            )
            .await?;
            tx.commit().await.map_err(crate::store::db_error)?;
            print(json!({
                "directory_id": dir.id,
                "reject_unverified_domains": dir.reject_unverified_domains,
            }));
        }
        Command::Directory(DirectoryCmd::Create { org, name }) => {
            let org = directories::find_or_create_org(db, &org).await?;
            let dir = directories::create_directory(db, org.id, &name).await?;
            let (_, token) = directories::create_token(db, dir.id, None).await?;
            print(json!({
                "organization_id": org.id,
                "directory_id": dir.id,
                "scim_base_url": scim_base_url(settings, dir.id),
                "token": token,
            }));
        }
        Command::Token(cmd) => print(token(db, cmd).await?),
        Command::Domain(DomainCmd::Add { org, domain }) => {
            let org = directories::find_or_create_org(db, &org).await?;
            let name = DomainName::parse(&domain).map_err(CliError::Usage)?;
            let d = directories::add_domain(db, org.id, &name).await?;
            print(
                json!({"domain": d.name, "verified": d.verified, "verification_token": d.verification_token}),
            );
        }
        Command::Domain(DomainCmd::Verify { org, domain, force }) => {
            let org = directories::org_by_name(db, &org).await?;
            let name = DomainName::parse(&domain).map_err(CliError::Usage)?;
            let d = directories::domain_by_name(db, org.id, &name).await?;
            if force {
                eprintln!(
                    "warning: verifying {} without its DNS proof (--force); recorded in the audit log",
                    name.as_str()
                );
            } else {
                let record = dns::record_name(&name);
                let expected = dns::record_value(&d.verification_token);
                let finding = dns::DnsProof::new(&settings.dns_resolvers)
                    .txt(&record)
                    .await;
                dns::judge(&record, &expected, &finding).map_err(CliError::Usage)?;
            }
            let tx = store.begin_write(&cli_origin()).await?;
            let claimed = directories::verify_domain(&tx, org.id, &name).await?;
            let detail = if force {
                format!("forced by the operator, without DNS proof; claimed {claimed} accounts")
            } else {
                format!("claimed {claimed} accounts")
            };
            audit::record(
                &tx,
                AuditEntry::new(
                    org.id,
                    Actor::System("operator cli"),
                    "domain.verify",
                    "domain",
                    name.as_str(),
                )
                .detail(detail),
            )
            .await?;
            events::flush(&tx).await?;
            tx.commit().await.map_err(db_error)?;
            print(json!({"domain": name.as_str(), "verified": true, "claimed_accounts": claimed}));
        }
        Command::Directory(DirectoryCmd::BindDomain { directory, domain }) => {
            let dir = directories::directory_by_id(db, directory).await?;
            let name = DomainName::parse(&domain).map_err(CliError::Usage)?;
            let tx = store.begin_write(&cli_origin()).await?;
            directories::bind_domain(&tx, dir.org_id, dir.id, &name).await?;
            audit::record(
                &tx,
                AuditEntry::new(
                    dir.org_id,
                    Actor::System("operator cli"),
                    "directory.bind_domain",
                    "directory",
                    dir.id,
                )
                .detail(domain.clone()),
            )
            .await?;
            let domains = directories::domains_of_directory(&tx, &dir).await?;
            events::flush(&tx).await?;
            tx.commit().await.map_err(db_error)?;
            print(json!({"directory_id": dir.id, "domains": domains}));
        }
        Command::Group(GroupCmd::Grant {
            group,
            site,
            product,
            role,
        }) => {
            // The products list of the admin API (one list).
            let product = crate::domain::admin_rules::parse_product(&product.to_ascii_lowercase())
                .map_err(|e| CliError::Usage(e.message()))?;
            if role != "user" && role != "admin" {
                return Err(CliError::Usage("role must be user or admin".into()));
            }
            let tx = store.begin_write(&cli_origin()).await?;
            let g = groups::grant(&tx, group, &site, product, &role).await?;
            events::flush(&tx).await?;
            tx.commit().await.map_err(db_error)?;
            print(
                json!({"grant_id": g.id, "group_id": g.group_id, "site_id": g.site_id, "product": g.product, "role": g.role}),
            );
        }
        Command::Group(GroupCmd::Ungrant { group, grant }) => {
            let tx = store.begin_write(&cli_origin()).await?;
            let g = groups::ungrant(&tx, group, grant).await?;
            events::flush(&tx).await?;
            tx.commit().await.map_err(db_error)?;
            print(
                json!({"removed_grant_id": g.id, "group_id": g.group_id, "site_id": g.site_id, "product": g.product}),
            );
        }
        Command::Export(ExportCmd::ManagedAccounts { org }) => {
            use std::io::Write;
            let org = directories::org_by_name(db, &org).await?;
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
                    None => break,
                }
            }
        }
        Command::Events(EventsCmd::Tail {
            org,
            after,
            types,
            follow,
            poll_ms,
        }) => {
            let org = directories::org_by_name(db, &org).await?;
            let types = match types.as_deref() {
                None => vec![],
                Some(t) => t
                    .split(',')
                    .map(|t| {
                        events::EventType::parse(t.trim())
                            .ok_or_else(|| CliError::Usage(format!("unknown event type {t:?}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            let follow = follow.then(|| std::time::Duration::from_millis(poll_ms));
            tail(&store, org.id, after, &types, follow).await?;
        }
        Command::Webhook(cmd) => print(webhook(settings, db, cmd).await?),
        Command::PurgeDue => {
            let now = chrono::Utc::now();
            let n = accounts::purge_due(&store, now).await?;
            let r = crate::startup::retention(&store, settings).await?;
            let events =
                events::apply_retention(&store, now, settings.event_retention_days).await?;
            print(json!({
                "purged": n,
                "sync_log_rows_deleted": r.sync_log,
                "audit_log_rows_deleted": r.audit_log,
                "events_deleted": events,
            }));
        }
        Command::AdminKey(cmd) => print(admin_key(settings, db, cmd).await?),
        Command::Site(SiteCmd::Create { org, site }) => {
            let org = directories::find_or_create_org(db, &org).await?;
            let s = directories::create_site(db, org.id, &site).await?;
            print(json!({"site_id": s.id, "name": s.name, "organization_id": org.id}));
        }
        Command::Schema(cmd) => print(schema(db, cmd).await?),
        Command::OauthClient(cmd) => print(oauth_client(settings, db, cmd).await?),
        Command::SigningKey(cmd) => print(signing_key(db, cmd).await?),
        Command::Import(cmd) => {
            let progress = std::io::stderr().is_terminal();
            let result = import(settings, &store, cmd, progress).await;
            store.close().await;
            return match result {
                Ok(summary) => {
                    print(json!(summary));
                    Ok(())
                }
                Err(ImportError::Stopped {
                    line,
                    cause,
                    summary,
                }) => {
                    // What was imported before the stop is in the database.
                    print(json!(summary));
                    Err(ImportError::Stopped {
                        line,
                        cause,
                        summary,
                    }
                    .into())
                }
                Err(e) => Err(e.into()),
            };
        }
    }
    store.close().await;
    Ok(())
}

/// Runs an `import` command without a progress bar and returns its summary.
pub async fn run_import(settings: &Settings, command: Command) -> Result<Summary, CliError> {
    let Command::Import(cmd) = command else {
        return Err(CliError::Usage("not an import command".into()));
    };
    let store = open_store(settings).await?;
    let out = import(settings, &store, cmd, false).await;
    store.close().await;
    Ok(out?)
}

async fn import(
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

/// Runs an `oauth-client`, `signing-key`, `token` or `admin-key` command
/// and returns what `run` prints (tests read the secrets from it).
pub async fn run_oauth(settings: &Settings, command: Command) -> Result<Value, CliError> {
    let store = open_store(settings).await?;
    let out = match command {
        Command::OauthClient(cmd) => oauth_client(settings, store.writer(), cmd).await,
        Command::SigningKey(cmd) => signing_key(store.writer(), cmd).await,
        Command::Token(cmd) => token(store.writer(), cmd).await,
        Command::AdminKey(cmd) => admin_key(settings, store.writer(), cmd).await,
        _ => Err(CliError::Usage(
            "not an oauth-client, signing-key, token or admin-key command".into(),
        )),
    };
    store.close().await;
    out
}

/// A credential's expiry as listings show it.
fn expiry(expires_at: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    json!({
        "expires_at": expires_at,
        "expired": expires_at.is_some_and(|e| e <= chrono::Utc::now()),
    })
}

fn with_expiry(mut v: Value, expires_at: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    if let (Value::Object(o), Value::Object(e)) = (&mut v, expiry(expires_at)) {
        o.extend(e);
    }
    v
}

async fn token(db: &DatabaseConnection, cmd: TokenCmd) -> Result<Value, CliError> {
    Ok(match cmd {
        TokenCmd::Create { dir, expires_in } => {
            directories::directory_by_id(db, dir.directory).await?;
            let expires_at = expires_in.map(|l| l.expires_at(chrono::Utc::now()));
            let (t, token) =
                directories::create_token_expiring(db, dir.directory, None, expires_at).await?;
            json!({"id": t.id, "directory_id": dir.directory, "token": token, "expires_at": t.expires_at})
        }
        TokenCmd::Revoke { dir, id } => {
            directories::revoke_token(db, dir.directory, id).await?;
            json!({"id": id, "revoked": true})
        }
        TokenCmd::List(d) => {
            directories::directory_by_id(db, d.directory).await?;
            let list: Vec<_> = directories::list_tokens(db, d.directory)
                .await?
                .into_iter()
                .map(|t| {
                    with_expiry(
                        json!({
                            "id": t.id,
                            "hint": t.hint,
                            "created_at": t.created_at,
                            "revoked_at": t.revoked_at,
                        }),
                        t.expires_at,
                    )
                })
                .collect();
            json!(list)
        }
    })
}

async fn admin_key(
    settings: &Settings,
    db: &DatabaseConnection,
    cmd: AdminKeyCmd,
) -> Result<Value, CliError> {
    Ok(match cmd {
        AdminKeyCmd::Create {
            org,
            label,
            expires_in,
        } => {
            let org = directories::org_by_name(db, &org).await?;
            let expires_at = expires_in.map(|l| l.expires_at(chrono::Utc::now()));
            let (k, key) = admin_keys::create_expiring(db, org.id, label, expires_at).await?;
            json!({
                "id": k.id,
                "organization_id": org.id,
                "admin_api_base_url": format!("{}/admin/v1/orgs/{}", public_base(settings), org.id),
                "key": key,
                "expires_at": k.expires_at,
            })
        }
        AdminKeyCmd::List { org } => {
            let org = directories::org_by_name(db, &org).await?;
            let list: Vec<_> = admin_keys::list(db, org.id)
                .await?
                .into_iter()
                .map(|k| crate::http::admin::keys::key_json(&k))
                .collect();
            json!(list)
        }
        AdminKeyCmd::Revoke { org, id } => {
            let org = directories::org_by_name(db, &org).await?;
            if !admin_keys::revoke(db, org.id, id).await? {
                return Err(CliError::Usage(format!(
                    "organization {} has no active admin key {id}",
                    org.name
                )));
            }
            json!({"id": id, "revoked": true})
        }
    })
}

async fn oauth_client(
    settings: &Settings,
    db: &DatabaseConnection,
    cmd: OauthClientCmd,
) -> Result<Value, CliError> {
    Ok(match cmd {
        OauthClientCmd::Create(d) => {
            directories::directory_by_id(db, d.directory).await?;
            let (c, secret) = oauth::create_client(db, d.directory).await?;
            json!({
                "directory_id": c.directory_id,
                "client_id": c.client_id,
                "client_secret": secret,
                "token_url": token_url(settings),
                "scim_base_url": scim_base_url(settings, c.directory_id),
            })
        }
        OauthClientCmd::Rotate { dir, client_id } => {
            let (c, secret) = oauth::rotate_client_secret(db, dir.directory, &client_id).await?;
            json!({
                "directory_id": c.directory_id,
                "client_id": c.client_id,
                "client_secret": secret,
                "secret_version": c.secret_version,
            })
        }
        OauthClientCmd::Revoke { dir, client_id } => {
            oauth::revoke_client(db, dir.directory, &client_id).await?;
            json!({"client_id": client_id, "revoked": true})
        }
        OauthClientCmd::List(d) => {
            directories::directory_by_id(db, d.directory).await?;
            let list: Vec<_> = oauth::list_clients(db, d.directory)
                .await?
                .into_iter()
                .map(|c| {
                    json!({
                        "client_id": c.client_id,
                        "created_at": c.created_at,
                        "revoked_at": c.revoked_at,
                        "secret_version": c.secret_version,
                    })
                })
                .collect();
            json!(list)
        }
    })
}

async fn signing_key(db: &DatabaseConnection, cmd: SigningKeyCmd) -> Result<Value, CliError> {
    Ok(match cmd {
        SigningKeyCmd::Rotate => {
            let key = oauth::rotate_signing_key(db).await?;
            json!({"kid": key.kid(), "current": true})
        }
        SigningKeyCmd::Retire { kid } => {
            oauth::retire_signing_key(db, &kid).await?;
            json!({"kid": kid, "retired": true})
        }
        SigningKeyCmd::List => {
            let keys = oauth::list_signing_keys(db).await?;
            let current = keys
                .iter()
                .find(|k| k.retired_at.is_none())
                .map(|k| k.kid.clone());
            let list: Vec<_> = keys
                .into_iter()
                .map(|k| {
                    json!({
                        "kid": k.kid,
                        "algorithm": k.algorithm,
                        "created_at": k.created_at,
                        "retired_at": k.retired_at,
                        "current": current.as_deref() == Some(k.kid.as_str()),
                    })
                })
                .collect();
            json!(list)
        }
    })
}

/// Who the events of an operator command name.
fn cli_origin() -> Origin {
    Origin::new(Actor::System("operator cli"), None)
}
