//! Values of custom Group extensions (`scim_group_values`, one row a
//! scalar, as `scim_user_values` keeps a User's), and `unique_key` on both
//! value tables: a unique index enforces `uniqueness: server|global` of
//! custom attributes (the key is a hash of the scope and the value).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_010001_add_custom_values"
    }
}

fn a(name: &str) -> Alias {
    Alias::new(name)
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
    idx.if_not_exists().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(a("scim_group_values"))
                    .if_not_exists()
                    .col(
                        ColumnDef::new(a("id"))
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(a("group_id")).uuid().not_null())
                    .col(ColumnDef::new(a("directory_id")).uuid().not_null())
                    .col(ColumnDef::new(a("attr")).text().not_null())
                    .col(ColumnDef::new(a("position")).integer().not_null())
                    .col(ColumnDef::new(a("value")).text().null())
                    .col(ColumnDef::new(a("value_lower")).text().null())
                    .col(ColumnDef::new(a("display")).text().null())
                    .col(ColumnDef::new(a("type")).text().null())
                    .col(ColumnDef::new(a("unique_key")).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_scim_group_values_group_id")
                            .from(a("scim_group_values"), a("group_id"))
                            .to(a("groups"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_scim_group_values_directory_id")
                            .from(a("scim_group_values"), a("directory_id"))
                            .to(a("directories"), a("id"))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            // Compared bytewise by the filter lowering, as in scim_user_values.
            for column in ["value", "value_lower"] {
                manager
                    .get_connection()
                    .execute_unprepared(&format!(
                        "ALTER TABLE \"scim_group_values\" ALTER COLUMN \"{column}\" TYPE text COLLATE \"C\""
                    ))
                    .await?;
            }
        }
        manager
            .alter_table(
                Table::alter()
                    .table(a("scim_user_values"))
                    .add_column(ColumnDef::new(a("unique_key")).text().null())
                    .to_owned(),
            )
            .await?;
        for (table, name, cols, unique) in [
            (
                "scim_group_values",
                "group",
                &["group_id", "attr", "position"][..],
                false,
            ),
            (
                "scim_group_values",
                "value",
                &["directory_id", "attr", "value_lower"][..],
                false,
            ),
            (
                "scim_group_values",
                "unique",
                &["attr", "unique_key"][..],
                true,
            ),
            (
                "scim_user_values",
                "unique",
                &["attr", "unique_key"][..],
                true,
            ),
        ] {
            manager
                .create_index(index(table, name, cols, unique))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_scim_user_values_unique")
                    .table(a("scim_user_values"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(a("scim_user_values"))
                    .drop_column(a("unique_key"))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(a("scim_group_values")).to_owned())
            .await
    }
}
