//! The admin web page in a real headless browser: Chromium driven through
//! chromedriver by fantoccini, with JavaScript switched off (the pages
//! need none). Chromedriver missing is a failure, not a skip: CI installs
//! it (`.ci/run`). Screenshots of each page land in `target/screenshots/`.

use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use crate::admin::{admin, seed_account, site, verify_domain};
use crate::helpers::*;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver child process on a free port, killed on drop.
struct Chromedriver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn start_chromedriver() -> Chromedriver {
    let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| CHROMEDRIVER.to_owned());
    assert!(
        Path::new(&bin).exists() && Path::new(CHROMIUM).exists(),
        "{bin} or {CHROMIUM} is missing: install them with `apt-get install -y chromium chromium-driver` \
         (.ci/run does); this test fails rather than skips"
    );
    let port = free_port();
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = std::env::temp_dir().join(format!("scim-web-test-{}", Uuid::new_v4()));
    let driver = Chromedriver {
        child,
        port,
        profile,
    };
    let status = format!("http://127.0.0.1:{port}/status");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::get(&status).await
            && r.status().is_success()
        {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Chromedriver) -> Client {
    // reqwest brings rustls' ring backend and hyper-rustls aws-lc-rs: pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
                format!("--user-data-dir={}", driver.profile.display()),
            ],
            // The pages work without JavaScript; prove it.
            "prefs": {"profile.managed_default_content_settings.javascript": 2},
        }),
    );
    ClientBuilder::rustls()
        .expect("rustls connector")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshots directory");
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).expect("screenshot saved");
}

/// Waits until the browser is on `path` (after a redirect or a form post).
async fn wait_for_path(c: &Client, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = c.current_url().await.expect("current url");
        if url.path() == path {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected to be on {path}, still on {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Pages load slowly on a busy machine: look again until it is there.
async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
}

async fn text(c: &Client, css: &str) -> String {
    find(c, css).await.text().await.expect("element text")
}

/// Waits until the text of `css` contains `needle` (the page after a form
/// post may still be the one before).
async fn text_with(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await
            && let Ok(t) = e.text().await
            && t.to_lowercase().contains(&needle.to_lowercase())
        {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never showed {needle:?}: {}",
            c.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Follows a link or submits a form; waits for the page it leads to when
/// it is a link.
async fn click(c: &Client, css: &str) {
    let e = find(c, css).await;
    let href = e.attr("href").await.expect("attribute");
    e.click().await.expect("click");
    if let Some(h) = href {
        let path = h.split('?').next().unwrap_or_default().to_owned();
        let path = path
            .strip_prefix("http://")
            .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
            .unwrap_or(path);
        wait_for_path(c, &path).await;
    }
}

#[tokio::test]
async fn an_admin_signs_in_and_sees_synced_accounts_and_sync_failures_in_a_browser() {
    let driver = start_chromedriver().await;
    let app = spawn_app().await;
    let a = admin(&app, "default").await;
    verify_domain(&a, "acme.example").await;
    let c = browser(&driver).await;
    // Close the session (and its Chromium) even when an assertion fails.
    let walked = AssertUnwindSafe(walk_the_pages(&app, &a, &c))
        .catch_unwind()
        .await;
    let _ = c.close().await;
    if let Err(panic) = walked {
        std::panic::resume_unwind(panic);
    }
}

async fn walk_the_pages(app: &TestApp, a: &crate::admin::Admin, c: &Client) {
    let web = format!("{}/admin", app.address);

    // Not signed in: /admin/ leads to the sign-in form.
    c.goto(&format!("{web}/")).await.unwrap();
    wait_for_path(c, "/admin/sign-in").await;
    screenshot(c, "01-sign-in").await;
    find(c, "input[name=key]")
        .await
        .send_keys("scimadm_not-a-key")
        .await
        .unwrap();
    click(c, "form[action='/admin/sign-in'] button[type=submit]").await;
    text_with(c, ".error", "not valid").await;

    find(c, "input[name=key]")
        .await
        .send_keys(&a.key)
        .await
        .unwrap();
    click(c, "form[action='/admin/sign-in'] button[type=submit]").await;
    wait_for_path(c, "/admin/directories").await;

    // The IdP provisions a user, then sends a duplicate.
    let (status, created) = app.post("/Users", user("ada@acme.example")).await;
    assert_eq!(status, 201, "{created}");
    let (status, dup) = app.post("/Users", user("ada@acme.example")).await;
    assert_scim_error(status, &dup, 409, Some("uniqueness"));
    let detail = dup["detail"].as_str().unwrap().to_owned();

    c.refresh().await.unwrap();
    let row = text(c, "tbody tr").await;
    assert!(row.contains("default"), "{row}");
    assert_eq!(text(c, "a.failures").await, "1");
    screenshot(c, "02-directories").await;

    // Managed accounts: synced by the default directory, active.
    click(c, "header nav a[href='/admin/accounts']").await;
    wait_for_path(c, "/admin/accounts").await;
    let row = "tr[data-email='ada@acme.example']";
    assert_eq!(
        text(c, &format!("{row} td.status")).await.to_lowercase(),
        "active"
    );
    assert_eq!(text(c, &format!("{row} td.sync")).await, "synced · default");
    assert_eq!(text(c, "dl.figures div:first-child dd").await, "1");
    screenshot(c, "03-managed-accounts").await;

    // Its detail: deactivation belongs to the IdP, so the button is disabled.
    click(c, &format!("{row} td a")).await;
    let deactivate = find(c, "button.action-deactivate").await;
    assert!(!deactivate.is_enabled().await.unwrap());
    let reason = text(c, ".disabled-action .reason").await;
    assert!(
        reason.contains("identity provider") && reason.contains("\"default\""),
        "{reason}"
    );
    screenshot(c, "04-account-synced").await;

    // An account no directory provisions: the forms work.
    let carol = seed_account(app, "carol@acme.example", Some(&a.org_id)).await;
    c.goto(&format!("{web}/accounts/{carol}")).await.unwrap();
    click(c, "button.action-deactivate").await;
    wait_for_path(c, &format!("/admin/accounts/{carol}")).await;
    text_with(c, ".notice", "deactivated").await;
    assert_eq!(text(c, "h1 .badge").await.to_lowercase(), "deactivated");
    screenshot(c, "05-account-deactivated").await;
    click(c, "button.action-reactivate").await;
    text_with(c, ".notice", "reactivated").await;
    assert_eq!(text(c, "h1 .badge").await.to_lowercase(), "active");

    // The sync log, filtered to failures, shows what the IdP was told.
    click(c, "header nav a[href='/admin/directories']").await;
    click(c, "td a[href$='/sync-log']").await;
    find(c, "select[name=outcome]")
        .await
        .select_by_value("failure")
        .await
        .unwrap();
    click(c, "form.filters button[type=submit]").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("outcome=failure")
    {
        assert!(Instant::now() < deadline, "the filter was not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = c
        .find_all(Locator::Css("table.log tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let failure = rows[0].text().await.unwrap();
    assert!(
        failure.contains("POST /Users") && failure.contains("409"),
        "{failure}"
    );
    assert_eq!(text(c, "tr.entry-failure p.detail").await, detail);
    screenshot(c, "06-sync-log-failures").await;

    // Sites and a site's users.
    let site_id = site(app, a, "acme.example.net").await;
    let (status, invited) = a
        .post(
            &format!("/sites/{site_id}/users"),
            json!({"email": "ada@acme.example"}),
        )
        .await;
    assert_eq!(status, 201, "{invited}");
    click(c, "header nav a[href='/admin/sites']").await;
    text_with(c, "tbody", "acme.example.net").await;
    screenshot(c, "07-sites").await;
    click(c, &format!("a[href='/admin/sites/{site_id}/users']")).await;
    let user_row = text(c, "tbody tr").await;
    assert!(
        user_row.contains("ada@acme.example") && user_row.to_lowercase().contains("invited"),
        "{user_row}"
    );
    screenshot(c, "08-site-users").await;

    // Signing out ends the session (its HTTP-level checks, with the
    // CSRF ones, are in `web_sessions`).
    click(c, "form.signout button").await;
    wait_for_path(c, "/admin/sign-in").await;
    c.goto(&format!("{web}/accounts")).await.unwrap();
    wait_for_path(c, "/admin/sign-in").await;
}
