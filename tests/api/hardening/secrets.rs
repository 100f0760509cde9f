//! Secrets: a revoked token stops working at once; tokens and admin keys
//! are stored hashed.

use super::*;

#[tokio::test]
async fn a_revoked_token_stops_working_on_the_next_request() {
    let app = spawn_app().await;
    let db = app.db().await;
    let (t1, first) = directories::create_token(&db, app.directory_id, None)
        .await
        .unwrap();
    let (_, second) = directories::create_token(&db, app.directory_id, None)
        .await
        .unwrap();
    let _ = db.close().await;
    let get = |token: String| {
        let url = format!("{}/Users", app.base);
        async move { raw(Method::GET, &url, Some(&token), None, None).await }
    };
    assert_eq!(get(first.clone()).await.status, 200);
    app.cli(&[
        "token",
        "revoke",
        "--directory",
        &app.directory_id.to_string(),
        "--id",
        &t1.id.to_string(),
    ])
    .await;
    let r = get(first.clone()).await;
    assert_scim_reply("revoked token", &r, 401, None);
    // Writes too, and the directory's other tokens keep working.
    let r = raw(
        Method::POST,
        &format!("{}/Users", app.base),
        Some(&first),
        Some("application/scim+json"),
        Some(user("after.revoke@acme.example").to_string().into_bytes()),
    )
    .await;
    assert_scim_reply("revoked token, write", &r, 401, None);
    assert_eq!(get(second).await.status, 200);
    assert_eq!(get(app.token.clone()).await.status, 200);
    let (_, list) = app.get("/Users").await;
    assert_eq!(list["totalResults"], 0, "{list}");
}

#[tokio::test]
async fn tokens_and_admin_keys_are_stored_hashed() {
    let app = spawn_app().await;
    let acme = directory(&app, "acme", "okta").await;
    let a = admin(&app, "acme").await;
    let db = app.db().await;
    let tokens = entity::directory_token::Entity::find()
        .into_json()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(tokens.len(), 2);
    let keys = entity::admin_key::Entity::find()
        .into_json()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let _ = db.close().await;
    let stored = json!({"tokens": tokens, "keys": keys}).to_string();
    for secret in [&app.token, &acme.token, &a.key] {
        assert!(!stored.contains(secret.as_str()), "{secret} in {stored}");
        // Nor a long piece of it.
        let middle = &secret[secret.len() / 4..secret.len() * 3 / 4];
        assert!(!stored.contains(middle), "{middle} in {stored}");
    }
    for row in &tokens {
        let hash = row["token_hash"].as_str().unwrap();
        assert_eq!(hash.len(), 64, "{row}");
        assert!(hash.bytes().all(|c| c.is_ascii_hexdigit()), "{row}");
    }
}
