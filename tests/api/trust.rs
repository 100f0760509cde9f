//! The trust model as an attack matrix: accounts are platform-wide, so an
//! organization, a directory or an admin may change only what it owns.
//! Each test replays "org X tries …" and checks the answer and that no row
//! of the victim changed.

use crate::admin::{admin, assert_admin_error, publish_proof, verify_domain};
use crate::helpers::*;
use entity::{account, scim_user, site_membership, sync_log};
use reqwest::Method;
use scim_server::store::directories;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

/// The sync log of a directory, oldest first: (status, detail).
async fn sync_log_of(app: &TestApp, directory_id: Uuid) -> Vec<(i32, Option<String>)> {
    sync_log::Entity::find()
        .filter(sync_log::Column::DirectoryId.eq(directory_id))
        .order_by_asc(sync_log::Column::Id)
        .all(&app.db().await)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.status, e.detail))
        .collect()
}

/// A user with a chosen display name and password.
fn person(email: &str, display: &str, password: Option<&str>) -> Value {
    let mut u = user(email);
    u["displayName"] = json!(display);
    u["title"] = json!(format!("{display}'s title"));
    if let Some(p) = password {
        u["password"] = json!(p);
    }
    u
}

/// Everything the platform holds of the victim: the account row, its
/// links (but the attacker's own), memberships, product access, sessions
/// and tokens, as text.
async fn victim(app: &TestApp, email: &str, attacker: Uuid) -> String {
    let db = app.db().await;
    let a = account_of(app, email).await;
    let links = scim_user::Entity::find()
        .filter(scim_user::Column::AccountId.eq(a.id))
        .filter(scim_user::Column::DirectoryId.ne(attacker))
        .order_by_asc(scim_user::Column::Id)
        .all(&db)
        .await
        .unwrap();
    let memberships = site_membership::Entity::find()
        .filter(site_membership::Column::AccountId.eq(a.id))
        .order_by_asc(site_membership::Column::SiteId)
        .all(&db)
        .await
        .unwrap();
    let access = entity::product_access::Entity::find()
        .filter(entity::product_access::Column::AccountId.eq(a.id))
        .all(&db)
        .await
        .unwrap();
    let sessions = entity::account_session::Entity::find()
        .filter(entity::account_session::Column::AccountId.eq(a.id))
        .all(&db)
        .await
        .unwrap();
    let tokens = entity::account_api_token::Entity::find()
        .filter(entity::account_api_token::Column::AccountId.eq(a.id))
        .all(&db)
        .await
        .unwrap();
    format!("{a:?}\n{links:?}\n{memberships:?}\n{access:?}\n{sessions:?}\n{tokens:?}")
}

/// The account row alone, as text.
async fn account_row(app: &TestApp, email: &str) -> String {
    format!("{:?}", account_of(app, email).await)
}

async fn org_id(app: &TestApp, name: &str) -> Uuid {
    directories::find_or_create_org(&app.db().await, name)
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn org_x_echoing_the_verification_token_claims_nothing() {
    let app = spawn_app().await;
    let idp = &app;
    let (status, _) = idp
        .post(
            "/Users",
            person("ceo@victim.example", "CEO", Some("Own-pass-1")),
        )
        .await;
    assert_eq!(status, 201);
    let before = victim(&app, "ceo@victim.example", Uuid::nil()).await;

    let x = admin(&app, "x").await;
    let (status, d) = x.post("/domains", json!({"name": "victim.example"})).await;
    assert_eq!(status, 201, "{d}");
    let token = d["verification_token"].as_str().unwrap();
    let (status, body) = x
        .post(
            "/domains/victim.example/verify",
            json!({"verification_token": token}),
        )
        .await;
    assert_admin_error(status, &body, 400, "verification_failed");
    let (_, list) = x.get("/domains").await;
    assert_eq!(list["items"][0]["verified"], false);
    assert_eq!(
        victim(&app, "ceo@victim.example", Uuid::nil()).await,
        before
    );
}

#[tokio::test]
async fn verifying_by_dns_claims_the_accounts_and_clears_passwords_others_set() {
    let app = spawn_app().await;
    let idp = &app;
    let (status, _) = idp
        .post(
            "/Users",
            person("ceo@acme.example", "CEO", Some("Set-by-anyone-1")),
        )
        .await;
    assert_eq!(status, 201);
    // Nobody is authoritative for an unverified domain: not kept.
    let a = account_of(&app, "ceo@acme.example").await;
    assert_eq!(a.password_hash, None);
    // A hash from before the trust model (or any other way in) is what a
    // claim must clear.
    let mut m: account::ActiveModel = a.into();
    m.password_hash = sea_orm::Set(Some("$argon2id$legacy".into()));
    sea_orm::ActiveModelTrait::update(m, &app.db().await)
        .await
        .unwrap();
    let acme = admin(&app, "acme").await;
    let v = verify_domain(&acme, "acme.example").await;
    assert_eq!(v["claimed_accounts"], 1, "{v}");
    let a = account_of(&app, "ceo@acme.example").await;
    assert_eq!(a.managing_org_id, Some(org_id(&app, "acme").await));
    assert_eq!(
        a.password_hash, None,
        "the password someone else set is gone"
    );
    assert!(a.password_reset_required);
    let (_, log) = acme.get("/audit-log").await;
    assert!(
        log.to_string().contains("domain.verify"),
        "the claim is audited: {log}"
    );
}

#[tokio::test]
async fn org_x_cannot_verify_a_domain_org_a_has_verified() {
    let app = spawn_app().await;
    let a = admin(&app, "a").await;
    verify_domain(&a, "victim.example").await;
    let idp = app.other_directory("a", "okta").await;
    idp.post("/Users", person("ceo@victim.example", "CEO", None))
        .await;
    let before = victim(&app, "ceo@victim.example", Uuid::nil()).await;

    // X adds the name (unverified names are anyone's) and publishes its
    // own proof: the domain is still A's.
    let x = admin(&app, "x").await;
    let (status, d) = x.post("/domains", json!({"name": "victim.example"})).await;
    assert_eq!(status, 201, "{d}");
    publish_proof(&x, &d);
    let (status, body) = x.verify("victim.example").await;
    assert_admin_error(status, &body, 409, "already_exists");
    let msg = body["message"].as_str().unwrap();
    assert!(msg.contains("another organization"), "{msg}");
    assert!(
        !msg.contains(&a.org_id) && !msg.contains("\"a\""),
        "the other org is not named: {msg}"
    );
    // The operator CLI refuses too, with or without --force.
    for force in [false, true] {
        use clap::Parser;
        let mut argv = vec![
            "scim-server",
            "domain",
            "verify",
            "--org",
            "x",
            "victim.example",
        ];
        if force {
            argv.push("--force");
        }
        let cli = scim_server::cli::Cli::try_parse_from(argv).unwrap();
        let err = scim_server::cli::run(&app.settings, cli.command.unwrap())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("another organization"), "{err}");
    }
    assert_eq!(
        victim(&app, "ceo@victim.example", Uuid::nil()).await,
        before
    );
    // The schema holds the rule on its own.
    let res = entity::domain::Entity::update_many()
        .col_expr(
            entity::domain::Column::Verified,
            sea_orm::sea_query::Expr::value(true),
        )
        .filter(entity::domain::Column::OrgId.eq(org_id(&app, "x").await))
        .exec(&app.db().await)
        .await;
    assert!(
        res.is_err(),
        "a second verified row for the name is refused"
    );
}

#[tokio::test]
async fn org_x_idp_cannot_pre_create_an_account_on_org_y_domain() {
    let app = spawn_app().await;
    let y = admin(&app, "y").await;
    let y_idp = app.other_directory("y", "okta").await;
    verify_domain(&y, "y.example").await;
    let x_idp = &app;

    let (status, created) = x_idp
        .post(
            "/Users",
            person("ceo@y.example", "Chosen by X", Some("X-knows-it-1")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    // The response shows the account as it is, not what X sent.
    assert!(created.get("displayName").is_none(), "{created}");
    assert!(created.get("title").is_none(), "{created}");
    let a = account_of(&app, "ceo@y.example").await;
    assert_eq!(a.managing_org_id, Some(org_id(&app, "y").await));
    assert_eq!(a.password_hash, None);
    assert_eq!(a.display_name, None);
    assert_eq!(a.job_title, None);
    let log = sync_log_of(&app, x_idp.directory_id).await;
    let (status, detail) = log.last().unwrap();
    assert_eq!(*status, 201);
    let detail = detail.as_deref().unwrap();
    assert!(
        detail.starts_with("not authoritative")
            && detail.contains("displayName")
            && detail.contains("password"),
        "{detail}"
    );

    // Y's IdP links it later: Y's values and password, none of X's.
    let (status, linked) = y_idp
        .post(
            "/Users",
            person("ceo@y.example", "The CEO", Some("Y-sets-it-1")),
        )
        .await;
    assert_eq!(status, 201, "{linked}");
    assert_eq!(linked["displayName"], "The CEO");
    let a = account_of(&app, "ceo@y.example").await;
    assert_eq!(a.display_name.as_deref(), Some("The CEO"));
    let hash = a.password_hash.expect("the authoritative password is kept");
    use argon2::PasswordVerifier;
    assert!(
        argon2::Argon2::default()
            .verify_password(b"Y-sets-it-1", &argon2::PasswordHash::new(&hash).unwrap())
            .is_ok()
    );
}

#[tokio::test]
async fn org_x_bulk_creates_accounts_org_y_manages_without_x_passwords() {
    let app = spawn_app().await;
    let y = admin(&app, "y").await;
    verify_domain(&y, "y.example").await;
    let x_idp = &app;
    // Plain creates (the batched path) and one with a password.
    let ops: Vec<Value> = [
        person("a@y.example", "Chosen by X", None),
        person("b@y.example", "Chosen by X", Some("X-knows-it-1")),
        person("c@x.example", "Own user", Some("Own-pass-1")),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, data)| json!({"method": "POST", "path": "/Users", "bulkId": i.to_string(), "data": data}))
    .collect();
    let (status, body) = x_idp
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for r in body["Operations"].as_array().unwrap() {
        assert_eq!(r["status"], "201", "{r}");
    }
    let y_id = org_id(&app, "y").await;
    for email in ["a@y.example", "b@y.example"] {
        let a = account_of(&app, email).await;
        assert_eq!(a.managing_org_id, Some(y_id), "{email}");
        assert_eq!(a.display_name, None, "{email}");
        assert_eq!(a.password_hash, None, "{email}");
    }
    // c@x.example: nobody verified x.example; external, no authority.
    let c = account_of(&app, "c@x.example").await;
    assert_eq!(c.managing_org_id, None);
    assert_eq!(c.display_name.as_deref(), Some("Own user"));
    assert_eq!(c.password_hash, None);
    let notes: Vec<String> = sync_log_of(&app, x_idp.directory_id)
        .await
        .into_iter()
        .filter_map(|(_, d)| d)
        .collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(
        notes.iter().all(|n| n.starts_with("not authoritative")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn org_x_invite_creates_an_account_org_y_manages() {
    let app = spawn_app().await;
    let y = admin(&app, "y").await;
    verify_domain(&y, "y.example").await;
    app.cli(&["site", "create", "--org", "x", "x.example.net"])
        .await;
    let x = admin(&app, "x").await;
    let (_, sites) = x.get("/sites").await;
    let site = sites["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, m) = x
        .post(
            &format!("/sites/{site}/users"),
            json!({"email": "new@y.example"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["managed"], false);
    let a = account_of(&app, "new@y.example").await;
    assert_eq!(a.managing_org_id, Some(org_id(&app, "y").await));
}

#[tokio::test]
async fn a_sibling_directory_cannot_overwrite_an_account_it_is_not_authoritative_for() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    let owner = &app;
    // A second directory of the same org: the first one stays the writer.
    let sibling = app.other_directory("default", "sibling").await;
    let (status, jane) = owner
        .post(
            "/Users",
            person("jane@acme.example", "Jane", Some("Janes-own-1")),
        )
        .await;
    assert_eq!(status, 201, "{jane}");
    app.cli(&["site", "create", "--org", "default", "acme.example.net"])
        .await;
    let acme = admin(&app, "default").await;
    let (_, sites) = acme.get("/sites").await;
    let site = sites["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = acme
        .post(
            &format!("/sites/{site}/users"),
            json!({"email": "jane@acme.example"}),
        )
        .await;
    assert_eq!(status, 201);
    let before = victim(&app, "jane@acme.example", sibling.directory_id).await;
    let account_before = account_row(&app, "jane@acme.example").await;

    // POST of her email: linked, her profile and password untouched.
    let (status, linked) = sibling
        .post(
            "/Users",
            person("jane@acme.example", "Evil", Some("Evil-pass-1")),
        )
        .await;
    assert_eq!(status, 201, "{linked}");
    assert_eq!(linked["displayName"], "Jane", "shown as the account is");
    let id = linked["id"].as_str().unwrap().to_owned();
    assert_eq!(account_row(&app, "jane@acme.example").await, account_before);

    // PUT with another email and name: the account keeps its own.
    let mut moved = person("jane@acme.example", "Evil", None);
    moved["emails"] = json!([{"value": "evil@acme.example", "primary": true}]);
    let (status, put) = sibling
        .send(Method::PUT, &format!("/Users/{id}"), Some(moved))
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["emails"][0]["value"], "jane@acme.example", "{put}");
    assert_eq!(put["displayName"], "Jane");
    assert_eq!(account_row(&app, "jane@acme.example").await, account_before);
    assert_eq!(
        victim(&app, "jane@acme.example", sibling.directory_id).await,
        before
    );
    let log = sync_log_of(&app, sibling.directory_id).await;
    let detail = log.last().unwrap().1.as_deref().unwrap().to_owned();
    assert!(
        detail.contains(&format!(
            "not authoritative: directory {}",
            sibling.directory_id
        )) && detail.contains("emails")
            && detail.contains("displayName"),
        "{detail}"
    );

    // PATCH active:false suspends her on the org's sites, no more.
    let (status, off) = sibling
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(status, 200, "{off}");
    let a = account_of(&app, "jane@acme.example").await;
    assert_eq!(
        a.status.to_string(),
        "active",
        "the account-wide status is the owner's"
    );
    let (_, m) = acme.get(&format!("/sites/{site}/users")).await;
    assert_eq!(m["items"][0]["status"], "suspended", "{m}");
    let (status, _) = sibling
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "replace", "value": {"active": true}}]),
        )
        .await;
    assert_eq!(status, 200);
    // DELETE unlinks and suspends her on the org's sites; the account
    // stays as it was.
    let (status, _) = sibling
        .send(Method::DELETE, &format!("/Users/{id}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(account_row(&app, "jane@acme.example").await, account_before);
    let (_, m) = acme.get(&format!("/sites/{site}/users")).await;
    assert_eq!(m["items"][0]["status"], "suspended", "{m}");

    // The admin moves the domain to the sibling: now it writes, and the
    // first directory no longer does.
    let (status, b) = acme
        .put(
            &format!("/directories/{}/domains", sibling.directory_id),
            json!({"domains": ["acme.example"]}),
        )
        .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["domains"], json!(["acme.example"]));
    let (_, owner_domains) = acme
        .get(&format!("/directories/{}/domains", owner.directory_id))
        .await;
    assert_eq!(owner_domains["domains"], json!([]), "{owner_domains}");
    let (status, _) = sibling
        .post("/Users", person("jane@acme.example", "Jane Doe", None))
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        account_of(&app, "jane@acme.example")
            .await
            .display_name
            .as_deref(),
        Some("Jane Doe")
    );
    let (status, body) = acme
        .put(
            &format!("/directories/{}/domains", sibling.directory_id),
            json!({"domains": ["unverified.example"]}),
        )
        .await;
    assert_admin_error(status, &body, 400, "invalid_request");
}

#[tokio::test]
async fn org_x_sees_only_name_email_and_its_own_sites_of_org_y_account() {
    let app = spawn_app().await;
    let y = admin(&app, "y").await;
    verify_domain(&y, "y.example").await;
    let y_idp = app.other_directory("y", "okta").await;
    y_idp
        .post("/Users", person("ceo@y.example", "The CEO", None))
        .await;
    app.cli(&["site", "create", "--org", "x", "x.example.net"])
        .await;
    let x = admin(&app, "x").await;
    let (_, sites) = x.get("/sites").await;
    let site = sites["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, m) = x
        .post(
            &format!("/sites/{site}/users"),
            json!({"email": "ceo@y.example"}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let id = m["account_id"].as_str().unwrap().to_owned();

    let (status, d) = x.get(&format!("/accounts/{id}")).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["email"], "ceo@y.example");
    assert_eq!(d["display_name"], "The CEO");
    assert_eq!(d["managed"], false);
    assert_eq!(d["sites"][0]["site_id"], site.as_str());
    for hidden in [
        "status",
        "last_active_at",
        "security",
        "profile",
        "purge_after",
    ] {
        assert!(d.get(hidden).is_none(), "{hidden} shows: {d}");
    }
    // Y sees it in full.
    let (_, full) = y.get(&format!("/accounts/{id}")).await;
    assert_eq!(full["status"], "active", "{full}");
    assert!(full.get("security").is_some());

    // Activity on X's site is the membership's, not the account's.
    let (status, _) = x
        .post(&format!("/sites/{site}/users/{id}/activity"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(account_of(&app, "ceo@y.example").await.last_active_at, None);
    let (_, members) = x.get(&format!("/sites/{site}/users")).await;
    assert!(
        members["items"][0]["last_active_at"].is_string(),
        "{members}"
    );
}

#[tokio::test]
async fn a_domain_with_deactivated_accounts_cannot_be_removed() {
    let app = spawn_app().await;
    let acme = admin(&app, "default").await;
    verify_domain(&acme, "acme.example").await;
    let idp = &app;
    let (_, u) = idp.post("/Users", user("jane@acme.example")).await;
    let id = u["id"].as_str().unwrap().to_owned();
    let off = json!([{"op": "replace", "value": {"active": false}}]);
    let (status, _) = idp.patch(&format!("/Users/{id}"), off).await;
    assert_eq!(status, 200);
    assert_eq!(
        account_of(&app, "jane@acme.example")
            .await
            .status
            .to_string(),
        "deactivated"
    );
    let (status, body) = acme.delete("/domains/acme.example").await;
    assert_admin_error(status, &body, 409, "invalid_state");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("1 managed account"),
        "{body}"
    );
    let (_, list) = acme.get("/domains").await;
    assert_eq!(list["items"][0]["verified"], true);

    let on = json!([{"op": "replace", "value": {"active": true}}]);
    let (status, _) = idp.patch(&format!("/Users/{id}"), on).await;
    assert_eq!(status, 200);
    let (status, r) = acme.delete("/domains/acme.example").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["released_accounts"], 1);
}

#[tokio::test]
async fn the_migration_keeps_the_earliest_of_two_verifications_of_a_name() {
    use chrono::{Duration, Utc};
    use migration::{Migrator, MigratorTrait};
    use sea_orm::ConnectionTrait;
    use sea_orm::sea_query::{Alias, Query};
    let url = fresh_database_url().await;
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    // The schema as it was before one org per verified domain.
    let before = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261202_120001_bind_domains")
        .unwrap();
    Migrator::up(&db, Some(before as u32)).await.unwrap();
    let now = Utc::now();
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (id, name) in [(a, "a"), (b, "b"), (c, "c")] {
        let q = Query::insert()
            .into_table(Alias::new("organizations"))
            .columns([
                Alias::new("id"),
                Alias::new("name"),
                Alias::new("created_at"),
            ])
            .values_panic([id.into(), name.into(), now.into()])
            .to_owned();
        db.execute(&q).await.unwrap();
    }
    // b verified first, then a; c only added the name.
    for (org, verified, at) in [
        (a, true, Some(now)),
        (b, true, Some(now - Duration::hours(1))),
        (c, false, None),
    ] {
        let q = Query::insert()
            .into_table(Alias::new("domains"))
            .columns(
                [
                    "id",
                    "org_id",
                    "name",
                    "verified",
                    "verification_token",
                    "verified_at",
                    "created_at",
                ]
                .map(Alias::new),
            )
            .values_panic([
                Uuid::now_v7().into(),
                org.into(),
                "twice.example".into(),
                verified.into(),
                "tok".into(),
                at.into(),
                now.into(),
            ])
            .to_owned();
        db.execute(&q).await.unwrap();
    }
    Migrator::up(&db, None).await.unwrap();
    let rows = entity::domain::Entity::find()
        .filter(entity::domain::Column::Name.eq("twice.example"))
        .all(&db)
        .await
        .unwrap();
    let verified: Vec<Uuid> = rows
        .iter()
        .filter(|d| d.verified)
        .map(|d| d.org_id)
        .collect();
    assert_eq!(
        verified,
        vec![b],
        "the earliest verification stays: {rows:?}"
    );
    let audit = entity::audit_log::Entity::find()
        .filter(entity::audit_log::Column::Action.eq("domain.unverify"))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].org_id, a);
    assert_eq!(audit[0].target_id.as_deref(), Some("twice.example"));
}
