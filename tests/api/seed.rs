//! Direct inserts for tests that need many rows fast.

use crate::helpers::TestApp;
use chrono::Utc;
use entity::{account, group_member, scim_user};
use sea_orm::{EntityTrait, Set};
use uuid::Uuid;

/// `n` users of the app's directory, all members of group `gid`.
pub async fn members(app: &TestApp, gid: &str, n: usize) {
    let db = app.db().await;
    let gid = Uuid::parse_str(gid).unwrap();
    let now = Utc::now();
    let ids: Vec<(Uuid, Uuid)> = (0..n).map(|_| (Uuid::now_v7(), Uuid::now_v7())).collect();
    for chunk in ids.chunks(200) {
        account::Entity::insert_many(chunk.iter().enumerate().map(|(i, (acc, _))| {
            let email = format!("seed-{acc}-{i}@example.com");
            account::ActiveModel {
                id: Set(*acc),
                email: Set(Some(email.clone())),
                email_lower: Set(Some(email)),
                email_domain: Set(Some("example.com".into())),
                status: Set(entity::account::AccountStatus::Active),
                two_step_enabled: Set(false),
                saml_sso: Set(false),
                password_reset_required: Set(false),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
        }))
        .exec(&db)
        .await
        .unwrap();
        scim_user::Entity::insert_many(chunk.iter().map(|(acc, id)| scim_user::ActiveModel {
            id: Set(*id),
            directory_id: Set(app.directory_id),
            account_id: Set(*acc),
            user_name: Set(format!("seed-{id}")),
            user_name_lower: Set(format!("seed-{id}")),
            active: Set(true),
            version: Set(1),
            created_at: Set(now),
            last_modified: Set(now),
            ..Default::default()
        }))
        .exec(&db)
        .await
        .unwrap();
        group_member::Entity::insert_many(chunk.iter().map(|(acc, _)| group_member::ActiveModel {
            group_id: Set(gid),
            account_id: Set(*acc),
            created_at: Set(now),
        }))
        .exec(&db)
        .await
        .unwrap();
    }
}
