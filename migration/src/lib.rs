//! Database migrations, applied at server start (`Migrator::up`).

pub use sea_orm_migration::prelude::*;

mod constrain;
mod m20261126_000001_create_schema;
mod m20261127_000001_add_admin_indexes;
mod m20261201_000001_add_oauth_client_secret_version;
mod m20261202_000001_add_paging_indexes;
mod m20261202_120001_bind_domains;
mod m20261202_160001_add_admin_key_expiry;
mod m20261202_170001_create_org_schemas;
mod m20261202_170002_add_reject_unknown_attributes;
mod m20261202_180001_create_events;
mod m20261202_180002_create_webhooks;
mod m20261203_010001_add_custom_values;
mod m20261203_010001_create_admin_sessions;
mod m20261203_020001_number_events_on_insert;
mod m20261203_030001_constrain_statuses;
mod m20261203_040001_count_events_in_insert;
mod m20261204_000001_events_without_counter_writes;
mod m20261204_010001_constrain_kinds;
mod m20261205_000001_drop_value_directory_key;
mod m20261205_000002_partial_indexes;
mod m20261206_000001_guards_compare_in_place;
mod m20261207_000001_drop_sync_log_time_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_create_schema::Migration),
            Box::new(m20261127_000001_add_admin_indexes::Migration),
            Box::new(m20261201_000001_add_oauth_client_secret_version::Migration),
            Box::new(m20261202_000001_add_paging_indexes::Migration),
            Box::new(m20261202_120001_bind_domains::Migration),
            Box::new(m20261202_160001_add_admin_key_expiry::Migration),
            Box::new(m20261202_170001_create_org_schemas::Migration),
            Box::new(m20261202_170002_add_reject_unknown_attributes::Migration),
            Box::new(m20261202_180001_create_events::Migration),
            Box::new(m20261202_180002_create_webhooks::Migration),
            Box::new(m20261203_010001_create_admin_sessions::Migration),
            Box::new(m20261203_010001_add_custom_values::Migration),
            Box::new(m20261203_020001_number_events_on_insert::Migration),
            Box::new(m20261203_030001_constrain_statuses::Migration),
            Box::new(m20261203_040001_count_events_in_insert::Migration),
            Box::new(m20261204_000001_events_without_counter_writes::Migration),
            Box::new(m20261204_010001_constrain_kinds::Migration),
            Box::new(m20261205_000001_drop_value_directory_key::Migration),
            Box::new(m20261205_000002_partial_indexes::Migration),
            Box::new(m20261206_000001_guards_compare_in_place::Migration),
            Box::new(m20261207_000001_drop_sync_log_time_index::Migration),
        ]
    }
}
