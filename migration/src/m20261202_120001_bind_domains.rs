//! Trust model: one organization per verified domain, platform-wide, and
//! each verified domain bound to the directory that is authoritative for
//! its accounts.
//!
//! - `domains.directory_id`: the directory bound to the domain (NULL: the
//!   org's only directory, if it has exactly one; otherwise none).
//! - Domains verified by several organizations (possible before this
//!   migration): the earliest verification stays, the others are
//!   un-verified, each with an audit entry in its organization's log.
//! - A unique index on the names of verified domains enforces the rule
//!   from now on.
//! - Organizations that already have several directories keep a writer:
//!   their verified domains are bound to their oldest directory.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_120001_bind_domains"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("domains"))
                    .add_column(ColumnDef::new(Alias::new("directory_id")).uuid().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let now = match backend {
            DbBackend::Postgres => "$1",
            _ => "?",
        };
        // The losers: verified, and another org verified the same name
        // earlier (ties broken by id).
        let losers = "SELECT d.id FROM domains d WHERE d.verified AND EXISTS (
                SELECT 1 FROM domains e WHERE e.name = d.name AND e.verified AND e.id <> d.id
                AND (e.verified_at < d.verified_at OR (e.verified_at = d.verified_at AND e.id < d.id)
                     OR (d.verified_at IS NULL AND e.verified_at IS NOT NULL)))";
        let audit = format!(
            "INSERT INTO audit_log (org_id, at, actor_type, actor_id, action, target_type, target_id, detail)
             SELECT org_id, {now}, 'operator', 'migration', 'domain.unverify', 'domain', name,
                    'verified by another organization earlier; one organization per verified domain'
             FROM domains WHERE id IN ({losers})"
        );
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            audit,
            [chrono::Utc::now().into()],
        ))
        .await?;
        db.execute_unprepared(&format!(
            "UPDATE domains SET verified = FALSE, verified_at = NULL WHERE id IN ({losers})"
        ))
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_domains_verified_name ON domains (name) WHERE verified",
        )
        .await?;
        // Several directories: the oldest one keeps writing.
        let bind = "UPDATE domains SET directory_id = (
                SELECT d.id FROM directories d WHERE d.org_id = domains.org_id
                ORDER BY d.created_at, d.id LIMIT 1)
             WHERE verified AND directory_id IS NULL
               AND (SELECT COUNT(*) FROM directories d WHERE d.org_id = domains.org_id) > 1";
        db.execute_unprepared(bind).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS ux_domains_verified_name")
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("domains"))
                    .drop_column(Alias::new("directory_id"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
