//! The whole domain schema of the product spec: organizations and their
//! domains, directories, sites and groups; platform-wide accounts with their
//! security facts; provisioning links (SCIM users) with their multi-valued
//! attributes; site memberships, product access, group grants; sync and audit
//! logs; the credentials of directories, admins and OAuth clients.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261126_000001_create_schema"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
}

fn uuid_pk(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .uuid()
        .not_null()
        .primary_key()
        .to_owned()
}
fn uuid(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).uuid().not_null().to_owned()
}
fn uuid_null(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).uuid().null().to_owned()
}
fn text(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).text().not_null().to_owned()
}
fn text_null(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).text().null().to_owned()
}
fn boolean(name: &str, default: bool) -> ColumnDef {
    ColumnDef::new(a(name))
        .boolean()
        .not_null()
        .default(default)
        .to_owned()
}
fn boolean_null(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).boolean().null().to_owned()
}
fn big(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).big_integer().not_null().to_owned()
}
fn int(name: &str) -> ColumnDef {
    ColumnDef::new(a(name)).integer().not_null().to_owned()
}
fn ts(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}
fn ts_null(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}
fn serial_pk(name: &str) -> ColumnDef {
    ColumnDef::new(a(name))
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn fk(table: &str, col: &str, to: &str, on_delete: ForeignKeyAction) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{col}"))
        .from(a(table), a(col))
        .to(a(to), a("id"))
        .on_delete(on_delete)
        .to_owned()
}

fn index(table: &str, name: &str, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(format!("ix_{table}_{name}")).table(a(table));
    for c in cols {
        idx.col(a(c));
    }
    if unique {
        idx.unique();
    }
    idx.to_owned()
}

/// Columns compared bytewise by the filter lowering.
const BYTEWISE_COLUMNS: [(&str, &str); 7] = [
    ("scim_users", "user_name_lower"),
    ("scim_users", "display_name_lower"),
    ("scim_users", "external_id"),
    ("scim_user_values", "value_lower"),
    ("scim_user_values", "value"),
    ("groups", "display_name_lower"),
    ("groups", "external_id"),
];

struct TableSpec {
    name: &'static str,
    columns: Vec<ColumnDef>,
    foreign_keys: Vec<(&'static str, &'static str, ForeignKeyAction)>,
    indexes: Vec<(&'static str, Vec<&'static str>, bool)>,
    primary_key: Option<Vec<&'static str>>,
}

fn tables() -> Vec<TableSpec> {
    use ForeignKeyAction::{Cascade, SetNull};
    vec![
        TableSpec {
            name: "organizations",
            columns: vec![uuid_pk("id"), text("name"), ts("created_at")],
            foreign_keys: vec![],
            indexes: vec![("name", vec!["name"], true)],
            primary_key: None,
        },
        TableSpec {
            name: "domains",
            columns: vec![
                uuid_pk("id"),
                uuid("org_id"),
                text("name"),
                boolean("verified", false),
                text("verification_token"),
                ts_null("verified_at"),
                ts("created_at"),
            ],
            foreign_keys: vec![("org_id", "organizations", Cascade)],
            indexes: vec![
                ("org_name", vec!["org_id", "name"], true),
                ("name_verified", vec!["name", "verified"], false),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "accounts",
            columns: vec![
                uuid_pk("id"),
                text_null("email"),
                text_null("email_lower"),
                text_null("email_domain"),
                text_null("display_name"),
                text_null("nickname"),
                text_null("job_title"),
                text_null("department"),
                text_null("organization"),
                text_null("location"),
                text_null("timezone"),
                text_null("locale"),
                text_null("profile_photo_url"),
                text("status"),
                uuid_null("managing_org_id"),
                ts_null("last_active_at"),
                boolean("two_step_enabled", false),
                boolean("saml_sso", false),
                ts_null("two_step_excluded_until"),
                boolean("password_reset_required", false),
                text_null("password_hash"),
                ts_null("deactivated_at"),
                ts_null("deletion_requested_at"),
                ts_null("purge_after"),
                ts_null("deleted_at"),
                ts("created_at"),
                ts("updated_at"),
            ],
            foreign_keys: vec![("managing_org_id", "organizations", SetNull)],
            indexes: vec![
                ("email_lower", vec!["email_lower"], true),
                (
                    "email_domain",
                    vec!["email_domain", "managing_org_id"],
                    false,
                ),
                ("managing_org", vec!["managing_org_id", "status"], false),
                ("purge_after", vec!["status", "purge_after"], false),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "account_api_tokens",
            columns: vec![
                uuid_pk("id"),
                uuid("account_id"),
                text("label"),
                ts("created_at"),
                ts_null("last_used_at"),
                ts_null("expires_at"),
                ts_null("revoked_at"),
            ],
            foreign_keys: vec![("account_id", "accounts", Cascade)],
            indexes: vec![("account", vec!["account_id"], false)],
            primary_key: None,
        },
        TableSpec {
            name: "account_sessions",
            columns: vec![
                uuid_pk("id"),
                uuid("account_id"),
                text("device"),
                text_null("ip_address"),
                ts("created_at"),
                ts("last_seen_at"),
                ts_null("revoked_at"),
            ],
            foreign_keys: vec![("account_id", "accounts", Cascade)],
            indexes: vec![("account", vec!["account_id"], false)],
            primary_key: None,
        },
        TableSpec {
            name: "directories",
            columns: vec![
                uuid_pk("id"),
                uuid("org_id"),
                text("name"),
                boolean("reject_unverified_domains", false),
                ts("created_at"),
            ],
            foreign_keys: vec![("org_id", "organizations", Cascade)],
            indexes: vec![("org_name", vec!["org_id", "name"], true)],
            primary_key: None,
        },
        TableSpec {
            name: "directory_tokens",
            columns: vec![
                uuid_pk("id"),
                uuid("directory_id"),
                text("token_hash"),
                text("hint"),
                ts("created_at"),
                ts_null("expires_at"),
                ts_null("revoked_at"),
                ts_null("last_used_at"),
            ],
            foreign_keys: vec![("directory_id", "directories", Cascade)],
            indexes: vec![
                ("hash", vec!["token_hash"], true),
                ("directory", vec!["directory_id"], false),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "scim_users",
            columns: vec![
                uuid_pk("id"),
                uuid("directory_id"),
                uuid("account_id"),
                text("user_name"),
                text("user_name_lower"),
                text_null("external_id"),
                text_null("display_name"),
                text_null("display_name_lower"),
                text_null("nick_name"),
                text_null("profile_url"),
                text_null("title"),
                text_null("user_type"),
                text_null("preferred_language"),
                text_null("locale"),
                text_null("timezone"),
                boolean("active", true),
                text_null("name_formatted"),
                text_null("name_family_name"),
                text_null("name_given_name"),
                text_null("name_middle_name"),
                text_null("name_honorific_prefix"),
                text_null("name_honorific_suffix"),
                text_null("employee_number"),
                text_null("cost_center"),
                text_null("organization"),
                text_null("division"),
                text_null("department"),
                text_null("manager_value"),
                big("version"),
                ts("created_at"),
                ts("last_modified"),
            ],
            foreign_keys: vec![
                ("directory_id", "directories", Cascade),
                ("account_id", "accounts", Cascade),
            ],
            indexes: vec![
                ("user_name", vec!["directory_id", "user_name_lower"], true),
                ("account", vec!["account_id", "directory_id"], true),
                ("external_id", vec!["directory_id", "external_id"], false),
                (
                    "display_name",
                    vec!["directory_id", "display_name_lower"],
                    false,
                ),
                (
                    "family_name",
                    vec!["directory_id", "name_family_name"],
                    false,
                ),
                (
                    "last_modified",
                    vec!["directory_id", "last_modified"],
                    false,
                ),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "scim_user_values",
            columns: vec![
                serial_pk("id"),
                uuid("user_id"),
                uuid("directory_id"),
                text("attr"),
                int("position"),
                text_null("value"),
                text_null("value_lower"),
                text_null("display"),
                text_null("type"),
                boolean_null("primary"),
                text_null("formatted"),
                text_null("street_address"),
                text_null("locality"),
                text_null("region"),
                text_null("postal_code"),
                text_null("country"),
            ],
            foreign_keys: vec![
                ("user_id", "scim_users", Cascade),
                ("directory_id", "directories", Cascade),
            ],
            indexes: vec![
                ("user", vec!["user_id", "attr", "position"], false),
                ("value", vec!["directory_id", "attr", "value_lower"], false),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "sites",
            columns: vec![
                uuid_pk("id"),
                uuid("org_id"),
                text("name"),
                ts("created_at"),
            ],
            foreign_keys: vec![("org_id", "organizations", Cascade)],
            indexes: vec![("name", vec!["name"], true), ("org", vec!["org_id"], false)],
            primary_key: None,
        },
        TableSpec {
            name: "site_memberships",
            columns: vec![
                uuid("site_id"),
                uuid("account_id"),
                text("status"),
                text_null("suspended_by"),
                boolean("invited_directly", false),
                ts_null("last_active_at"),
                ts("created_at"),
                ts("updated_at"),
            ],
            foreign_keys: vec![
                ("site_id", "sites", Cascade),
                ("account_id", "accounts", Cascade),
            ],
            indexes: vec![
                ("account", vec!["account_id", "site_id"], true),
                ("site_status", vec!["site_id", "status"], false),
            ],
            primary_key: Some(vec!["site_id", "account_id"]),
        },
        TableSpec {
            name: "product_access",
            columns: vec![
                uuid("site_id"),
                uuid("account_id"),
                text("product"),
                text("role"),
                ts("created_at"),
            ],
            foreign_keys: vec![
                ("site_id", "sites", Cascade),
                ("account_id", "accounts", Cascade),
            ],
            indexes: vec![("account", vec!["account_id"], false)],
            primary_key: Some(vec!["site_id", "account_id", "product"]),
        },
        TableSpec {
            name: "groups",
            columns: vec![
                uuid_pk("id"),
                uuid("org_id"),
                uuid_null("directory_id"),
                text("display_name"),
                text("display_name_lower"),
                text_null("external_id"),
                text_null("description"),
                big("version"),
                ts("created_at"),
                ts("last_modified"),
            ],
            foreign_keys: vec![
                ("org_id", "organizations", Cascade),
                ("directory_id", "directories", Cascade),
            ],
            indexes: vec![
                ("display_name", vec!["org_id", "display_name_lower"], true),
                (
                    "directory_name",
                    vec!["directory_id", "display_name_lower"],
                    false,
                ),
                ("external_id", vec!["directory_id", "external_id"], false),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "group_members",
            columns: vec![uuid("group_id"), uuid("account_id"), ts("created_at")],
            foreign_keys: vec![
                ("group_id", "groups", Cascade),
                ("account_id", "accounts", Cascade),
            ],
            indexes: vec![("account", vec!["account_id", "group_id"], true)],
            primary_key: Some(vec!["group_id", "account_id"]),
        },
        TableSpec {
            name: "group_grants",
            columns: vec![
                uuid_pk("id"),
                uuid("group_id"),
                uuid("site_id"),
                text("product"),
                text("role"),
                ts("created_at"),
            ],
            foreign_keys: vec![
                ("group_id", "groups", Cascade),
                ("site_id", "sites", Cascade),
            ],
            indexes: vec![
                ("unique", vec!["group_id", "site_id", "product"], true),
                ("site", vec!["site_id", "group_id"], false),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "sync_log",
            columns: vec![
                serial_pk("id"),
                uuid("directory_id"),
                ts("at"),
                text("operation"),
                text("resource_type"),
                text_null("resource_id"),
                text("outcome"),
                int("status"),
                text_null("detail"),
                text_null("request_id"),
            ],
            foreign_keys: vec![("directory_id", "directories", Cascade)],
            indexes: vec![
                ("directory_at", vec!["directory_id", "at"], false),
                (
                    "directory_outcome",
                    vec!["directory_id", "outcome", "at"],
                    false,
                ),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "audit_log",
            columns: vec![
                serial_pk("id"),
                uuid("org_id"),
                ts("at"),
                text("actor_type"),
                text("actor_id"),
                text("action"),
                text("target_type"),
                text_null("target_id"),
                text_null("detail"),
            ],
            foreign_keys: vec![("org_id", "organizations", Cascade)],
            indexes: vec![("org_at", vec!["org_id", "at"], false)],
            primary_key: None,
        },
        TableSpec {
            name: "admin_keys",
            columns: vec![
                uuid_pk("id"),
                uuid("org_id"),
                text("key_hash"),
                text("hint"),
                text_null("label"),
                ts("created_at"),
                ts_null("revoked_at"),
                ts_null("last_used_at"),
            ],
            foreign_keys: vec![("org_id", "organizations", Cascade)],
            indexes: vec![
                ("hash", vec!["key_hash"], true),
                ("org", vec!["org_id"], false),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "oauth_clients",
            columns: vec![
                uuid_pk("id"),
                uuid("directory_id"),
                text("client_id"),
                text("secret_hash"),
                ts("created_at"),
                ts_null("revoked_at"),
            ],
            foreign_keys: vec![("directory_id", "directories", Cascade)],
            indexes: vec![
                ("client_id", vec!["client_id"], true),
                ("directory", vec!["directory_id"], false),
            ],
            primary_key: None,
        },
        TableSpec {
            name: "signing_keys",
            columns: vec![
                ColumnDef::new(a("kid"))
                    .text()
                    .not_null()
                    .primary_key()
                    .to_owned(),
                text("algorithm"),
                text("secret"),
                ts("created_at"),
                ts_null("retired_at"),
            ],
            foreign_keys: vec![],
            indexes: vec![],
            primary_key: None,
        },
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for spec in tables() {
            let mut table = Table::create();
            table.table(a(spec.name)).if_not_exists();
            for mut col in spec.columns {
                table.col(&mut col);
            }
            if let Some(pk) = &spec.primary_key {
                let mut p = Index::create();
                for c in pk {
                    p.col(a(c));
                }
                table.primary_key(&mut p);
            }
            for (col, to, action) in &spec.foreign_keys {
                table.foreign_key(&mut fk(spec.name, col, to, *action));
            }
            manager.create_table(table.to_owned()).await?;
            if manager.get_database_backend()
                == sea_orm_migration::sea_orm::DatabaseBackend::Postgres
            {
                // Filters compare these bytewise (lower-cased copies or
                // caseExact values): "C" collation makes `>=`/`<` ranges and
                // `LIKE 'x%'` use their indexes, as BINARY does on SQLite.
                for (table, column) in BYTEWISE_COLUMNS.iter().filter(|(t, _)| *t == spec.name) {
                    manager
                        .get_connection()
                        .execute_unprepared(&format!(
                            "ALTER TABLE \"{table}\" ALTER COLUMN \"{column}\" TYPE text COLLATE \"C\""
                        ))
                        .await?;
                }
            }
            for (name, cols, unique) in &spec.indexes {
                manager
                    .create_index(
                        index(spec.name, name, cols, *unique)
                            .if_not_exists()
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for spec in tables().into_iter().rev() {
            manager
                .drop_table(Table::drop().table(a(spec.name)).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
