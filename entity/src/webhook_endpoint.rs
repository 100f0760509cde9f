//! Table `webhook_endpoints`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org_id: Uuid,
    pub url: String,
    /// `whsec_…` (an HMAC key: needed to sign, so stored as is).
    pub secret: String,
    /// Comma-separated event types; null: all.
    pub types: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Sequence number of the last event delivered (or skipped).
    pub cursor_seq: i64,
    /// Failed attempts at the current event.
    pub attempts: i32,
    pub failing_since: Option<DateTimeUtc>,
    pub next_attempt_at: Option<DateTimeUtc>,
    /// A delivery worker holds the endpoint until then.
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
