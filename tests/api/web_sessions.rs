//! The admin web page's sign-in, over plain HTTP with the cookie: the key
//! is exchanged for a server-side session whose id alone is in the
//! cookie; sign-out, expiry and the key's revocation end it; forms need
//! their CSRF token.

use chrono::{Duration, Utc};
use entity::{admin_key, admin_session};
use reqwest::header::SET_COOKIE;
use scim_server::domain::secrets::token_hash;
use scim_server::http::web::session::csrf_token;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::admin::{Admin, admin, seed_account};
use crate::helpers::*;

pub(crate) const SESSION_COOKIE: &str = "scim_admin_session";

/// A client that shows redirects instead of following them and keeps no
/// cookies (each request says which cookie it sends).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .build()
        .unwrap()
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The value `name` is set to by `cookies` (not a removal).
fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|c| {
        let (pair, _) = c.split_once(';').unwrap_or((c, ""));
        let (n, v) = pair.split_once('=')?;
        (n.trim() == name && !v.is_empty()).then(|| v.to_owned())
    })
}

/// Signs in with `key` through the form, as a browser does; returns the
/// session cookie's value and every `Set-Cookie` of the answer.
pub(crate) async fn sign_in(app: &TestApp, key: &str) -> (String, Vec<String>) {
    sign_in_from(app, key, None).await
}

/// [`sign_in`] from a browser that still has session cookie `old`.
async fn sign_in_from(app: &TestApp, key: &str, old: Option<&str>) -> (String, Vec<String>) {
    let http = browser();
    let res = http
        .get(format!("{}/admin/sign-in", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let token = cookie_value(&set_cookies(&res), "scim_admin_sign_in").expect("a form token");
    let res = http
        .post(format!("{}/admin/sign-in", app.address))
        .header(
            "Cookie",
            match old {
                Some(old) => format!("scim_admin_sign_in={token}; {SESSION_COOKIE}={old}"),
                None => format!("scim_admin_sign_in={token}"),
            },
        )
        .form(&[("key", key), ("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/directories");
    let cookies = set_cookies(&res);
    let session = cookie_value(&cookies, SESSION_COOKIE).expect("a session cookie");
    (session, cookies)
}

/// The status of the accounts page with `session` (200 signed in, 303 to
/// the sign-in form otherwise).
async fn page_status(app: &TestApp, session: &str) -> u16 {
    let res = browser()
        .get(format!("{}/admin/accounts", app.address))
        .header("Cookie", format!("{SESSION_COOKIE}={session}"))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    if status == 303 {
        assert_eq!(res.headers()["location"], "/admin/sign-in");
    }
    status
}

async fn sessions(app: &TestApp) -> Vec<admin_session::Model> {
    admin_session::Entity::find()
        .all(&app.db().await)
        .await
        .unwrap()
}

async fn key_id(app: &TestApp, a: &Admin) -> uuid::Uuid {
    let hash = token_hash(&a.key);
    admin_key::Entity::find()
        .filter(admin_key::Column::KeyHash.eq(hash))
        .one(&app.db().await)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Before: the cookie held the admin key itself. Now it holds a random
/// session id; the table keeps only its SHA-256.
#[tokio::test]
async fn signing_in_sets_a_session_cookie_that_does_not_carry_the_key() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let (session, cookies) = sign_in(&app, &a.key).await;
    for c in &cookies {
        assert!(!c.contains(&a.key), "{c}");
        assert!(!c.contains(a.key.trim_start_matches("scimadm_")), "{c}");
    }
    let session_cookie = cookies
        .iter()
        .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(session_cookie.contains(attr), "{session_cookie}");
    }
    let rows = sessions(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id_hash, token_hash(&session));
    assert_ne!(rows[0].id_hash, session, "only the hash is stored");
    assert_eq!(rows[0].key_id, key_id(&app, &a).await);
    assert!(rows[0].expires_at > Utc::now() + Duration::hours(11));
    assert!(rows[0].idle_expires_at < Utc::now() + Duration::minutes(31));
    assert_eq!(page_status(&app, &session).await, 200);

    // The key in a cookie, as earlier versions kept it, signs nobody in.
    let res = browser()
        .get(format!("{}/admin/accounts", app.address))
        .header("Cookie", format!("scim_admin_key={}", a.key))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    // Nor does a made-up session id.
    assert_eq!(page_status(&app, "scimsess_forged").await, 303);

    // Signing in again from the same browser replaces its session.
    let (again, _) = sign_in_from(&app, &a.key, Some(&session)).await;
    assert_ne!(again, session);
    assert_eq!(page_status(&app, &session).await, 303);
    assert_eq!(page_status(&app, &again).await, 200);
    let rows = sessions(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id_hash, token_hash(&again));
}

/// Before: sign-out only deleted the cookie; a copy of it stayed valid.
/// Now the session row is deleted: the old cookie replayed is signed out.
#[tokio::test]
async fn a_signed_out_session_cannot_be_replayed() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let (session, _) = sign_in(&app, &a.key).await;
    let (other, _) = sign_in(&app, &a.key).await;
    assert_eq!(page_status(&app, &session).await, 200);

    let sign_out = |csrf: String| {
        browser()
            .post(format!("{}/admin/sign-out", app.address))
            .header("Cookie", format!("{SESSION_COOKIE}={session}"))
            .form(&[("csrf", csrf)])
            .send()
    };
    // A forged sign-out (no or another session's token) changes nothing.
    for forged in [String::new(), csrf_token(&other), csrf_token(&a.key)] {
        let res = sign_out(forged).await.unwrap();
        assert_eq!(res.status(), 403);
        assert_eq!(page_status(&app, &session).await, 200);
    }
    let res = sign_out(csrf_token(&session)).await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/sign-in");
    assert!(
        set_cookies(&res)
            .iter()
            .any(|c| c.starts_with(&format!("{SESSION_COOKIE}=;"))),
        "the browser drops the cookie"
    );
    let rows = sessions(&app).await;
    assert_eq!(rows.len(), 1, "only the other session is left");
    assert_eq!(rows[0].id_hash, token_hash(&other));

    assert_eq!(page_status(&app, &session).await, 303, "replayed cookie");
    let res = sign_out(csrf_token(&session)).await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/sign-in");
    assert_eq!(page_status(&app, &other).await, 200, "other sessions stay");
}

/// A session ends after `SCIM_ADMIN_SESSION_IDLE_SECS` without a request
/// and `SCIM_ADMIN_SESSION_MAX_SECS` after sign-in, however active.
#[tokio::test]
async fn idle_and_expired_sessions_are_signed_out() {
    let app = spawn_app_with(|s| s.admin_session_idle_secs = 1).await;
    let a = admin(&app, "default").await;
    let (idle, _) = sign_in(&app, &a.key).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(page_status(&app, &idle).await, 303, "idle for 1.5 s");

    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let (old, _) = sign_in(&app, &a.key).await;
    let (active, _) = sign_in(&app, &a.key).await;
    let db = app.db().await;
    // Signed in 13 hours ago, last used a minute ago: past the absolute
    // expiry, however recent the use.
    admin_session::Entity::update_many()
        .col_expr(
            admin_session::Column::CreatedAt,
            Expr::value(Utc::now() - Duration::hours(13)),
        )
        .col_expr(
            admin_session::Column::ExpiresAt,
            Expr::value(Utc::now() - Duration::hours(1)),
        )
        .filter(admin_session::Column::IdHash.eq(token_hash(&old)))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(
        page_status(&app, &old).await,
        303,
        "past its absolute expiry"
    );

    // Use moves the idle expiry on (marked at most once a minute).
    let two_minutes_ago = Utc::now() - Duration::minutes(2);
    admin_session::Entity::update_many()
        .col_expr(
            admin_session::Column::LastSeenAt,
            Expr::value(two_minutes_ago),
        )
        .col_expr(
            admin_session::Column::IdleExpiresAt,
            Expr::value(Utc::now() + Duration::seconds(30)),
        )
        .filter(admin_session::Column::IdHash.eq(token_hash(&active)))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(page_status(&app, &active).await, 200);
    let row = admin_session::Entity::find_by_id(token_hash(&active))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.last_seen_at > two_minutes_ago + Duration::minutes(1));
    assert!(
        row.idle_expires_at > Utc::now() + Duration::minutes(29),
        "{row:?}"
    );
}

/// Revoking a key deletes its sessions; an expired key's sessions are
/// refused. Other keys' sessions stay.
#[tokio::test]
async fn revoking_or_expiring_the_key_ends_its_sessions() {
    let app = spawn_app().await;
    let first = admin(&app, "default").await;
    let second = admin(&app, "default").await;
    let (s1, _) = sign_in(&app, &first.key).await;
    let (s2, _) = sign_in(&app, &second.key).await;
    assert_eq!(page_status(&app, &s1).await, 200);
    assert_eq!(page_status(&app, &s2).await, 200);

    let first_id = key_id(&app, &first).await;
    let (status, body) = second.delete(&format!("/admin-keys/{first_id}")).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(page_status(&app, &s1).await, 303, "revoked key");
    let left = sessions(&app).await;
    assert_eq!(left.len(), 1, "the revoked key's sessions are deleted");
    assert_eq!(left[0].id_hash, token_hash(&s2));
    assert_eq!(page_status(&app, &s2).await, 200);

    // The second key expires.
    let db = app.db().await;
    admin_key::Entity::update_many()
        .col_expr(
            admin_key::Column::ExpiresAt,
            Expr::value(Utc::now() - Duration::seconds(1)),
        )
        .filter(admin_key::Column::Id.eq(key_id(&app, &second).await))
        .exec(&db)
        .await
        .unwrap();
    assert_eq!(page_status(&app, &s2).await, 303, "expired key");

    // Revoked through the CLI: the same.
    let third = admin(&app, "default").await;
    let (s3, _) = sign_in(&app, &third.key).await;
    let third_id = key_id(&app, &third).await.to_string();
    let out = app
        .cli_oauth(&["admin-key", "revoke", "--org", "default", "--id", &third_id])
        .await;
    assert_eq!(out["revoked"], true);
    assert_eq!(page_status(&app, &s3).await, 303);
    let n = admin_session::Entity::find()
        .filter(admin_session::Column::KeyId.eq(third_id.parse::<uuid::Uuid>().unwrap()))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

/// Forms post only with the session's CSRF token; the sign-in form with
/// its double-submit token. (Moved here from the browser-only module, and
/// adapted to sessions.)
#[tokio::test]
async fn forms_need_the_csrf_token_and_pages_need_a_valid_session() {
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    let carol = seed_account(&app, "carol@acme.example", Some(&a.org_id)).await;
    let http = browser();
    let web = format!("{}/admin", app.address);

    let res = http.get(format!("{web}/accounts")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/admin/sign-in");

    let (session, _) = sign_in(&app, &a.key).await;
    let cookie = format!("{SESSION_COOKIE}={session}");
    let res = http
        .get(format!("{web}/accounts"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("carol@acme.example"));
    let token = csrf_token(&session);
    assert!(
        page.contains(&format!("name=\"csrf\" value=\"{token}\"")),
        "the page's forms carry the session's token"
    );
    assert!(!page.contains(&a.key), "the page never shows the key");

    let deactivate = format!("{web}/accounts/{carol}/deactivate");
    // No token, a guess, and the token an earlier version derived from
    // the key.
    for forged in ["", "0000", csrf_token(&a.key).as_str()] {
        let res = http
            .post(&deactivate)
            .header("Cookie", &cookie)
            .form(&[("csrf", forged)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
    let (_, d) = a.get(&format!("/accounts/{carol}")).await;
    assert_eq!(d["status"], "active", "a forged form changes nothing");

    let res = http
        .post(&deactivate)
        .header("Cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (_, d) = a.get(&format!("/accounts/{carol}")).await;
    assert_eq!(d["status"], "deactivated");

    // The sign-in form is double-submit protected: no session is opened.
    let res = http
        .post(format!("{web}/sign-in"))
        .form(&[("key", a.key.as_str()), ("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(cookie_value(&set_cookies(&res), SESSION_COOKIE).is_none());
    // A wrong key: 401, no session either.
    let res = http.get(format!("{web}/sign-in")).send().await.unwrap();
    let form = cookie_value(&set_cookies(&res), "scim_admin_sign_in").unwrap();
    let res = http
        .post(format!("{web}/sign-in"))
        .header("Cookie", format!("scim_admin_sign_in={form}"))
        .form(&[("key", "scimadm_wrong"), ("csrf", form.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(cookie_value(&set_cookies(&res), SESSION_COOKIE).is_none());
    assert_eq!(sessions(&app).await.len(), 1);
}

/// The periodic job deletes sessions past their idle or absolute expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_job_deletes_expired_sessions() {
    let app = spawn_app_with(|s| s.purge_interval_secs = 1).await;
    let a = admin(&app, "default").await;
    let (idle, _) = sign_in(&app, &a.key).await;
    let (old, _) = sign_in(&app, &a.key).await;
    let (live, _) = sign_in(&app, &a.key).await;
    let db = app.db().await;
    for (session, col) in [
        (&idle, admin_session::Column::IdleExpiresAt),
        (&old, admin_session::Column::ExpiresAt),
    ] {
        admin_session::Entity::update_many()
            .col_expr(col, Expr::value(Utc::now() - Duration::seconds(1)))
            .filter(admin_session::Column::IdHash.eq(token_hash(session)))
            .exec(&db)
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left = sessions(&app).await;
        if left.len() == 1 {
            assert_eq!(left[0].id_hash, token_hash(&live));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{left:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(page_status(&app, &live).await, 200);
}
