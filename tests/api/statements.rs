//! What a read costs in database statements (`db_statements_total` on
//! `/metrics`). On SQLite each statement is a round trip to the
//! connection's thread, and those hand-offs, more than the SQL, are what a
//! read costs: the hot reads are held to a fixed, small number.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::users::urlencode;

/// Statements the server has run, every pool.
pub async fn statements(app: &TestApp) -> u64 {
    let text = app.metrics_text().await;
    let counts: Vec<u64> = text
        .lines()
        .filter(|l| l.starts_with("db_statements_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(!counts.is_empty(), "no db_statements_total in /metrics");
    counts.iter().sum()
}

/// `GET path` (under the SCIM base, with `token`): status, body and the
/// statements it ran.
pub async fn cost_with(app: &TestApp, path: &str, token: &str) -> (u16, Value, u64) {
    let before = statements(app).await;
    let res = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    (status, body, statements(app).await - before)
}

async fn cost(app: &TestApp, path: &str) -> (u16, Value, u64) {
    cost_with(app, path, &app.token).await
}

/// Before: a GET by id ran three statements (the token, its directory,
/// the user with its values and groups) and a `userName eq` lookup six
/// (the token, its directory, the page's ids, their links, values and
/// groups). Now authentication is one statement (the token joined with its
/// directory) and a page of one user is read whole in one; a GET by id
/// and a `userName eq` lookup of the first page read their user in the
/// statement that checks the token.
#[tokio::test]
async fn a_get_by_id_and_a_user_name_lookup_run_one_statement() {
    // No purge job running statements of its own meanwhile.
    let app = spawn_app_with(|s| s.purge_interval_secs = 0).await;
    let mut u = user("ada@acme.example");
    u["phoneNumbers"] = json!([{"value": "+1 555 0100", "type": "work"},
                               {"value": "+1 555 0101", "type": "mobile"}]);
    let id = app.create_user(u).await;
    group_with(&app, "engineering", &id).await;

    let (status, body, n) = cost(&app, &format!("/Users/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phoneNumbers"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["groups"][0]["display"], "engineering", "{body}");
    assert_eq!(n, 1, "GET by id: the token with the user");

    // The same refusals as before: an unknown id, a revoked or unknown token.
    let (status, body, n) = cost(&app, &format!("/Users/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(n, 1, "an unknown id: the token with no user");
    let (status, body, _) = cost_with(&app, &format!("/Users/{id}"), "not-a-token").await;
    assert_eq!(status, 401, "{body}");
    let (status, body, _) = cost(&app, "/Users/not-a-uuid").await;
    assert_eq!(status, 404, "{body}");
    let (status, body, _) = cost_with(&app, "/Users/not-a-uuid", "not-a-token").await;
    assert_eq!(status, 401, "{body}");

    let filter = urlencode("userName eq \"ADA@acme.example\"");
    let (status, body, n) = cost(&app, &format!("/Users?filter={filter}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 1, "{body}");
    let found = &body["Resources"][0];
    assert_eq!(found["id"], id.as_str(), "{body}");
    assert_eq!(found["phoneNumbers"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(found["groups"][0]["display"], "engineering", "{body}");
    assert_eq!(n, 1, "userName eq: the token with the user");

    let filter = urlencode("userName eq \"nobody@acme.example\"");
    let (status, body, n) = cost(&app, &format!("/Users?filter={filter}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 0, "{body}");
    assert_eq!(n, 1, "no match: the token with no user");
}

/// `GET path` (under the SCIM base, with `token`): status and the body as
/// the server wrote it.
async fn raw_get(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let res = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// A `userName eq` lookup of the first page reads its user in the
/// statement that checks the token; its answer is byte for byte the one
/// the paged list gives (`sortBy` takes the paged path), whatever the
/// projection, for a user with every kind of value, and it refuses
/// tokens as the list does.
#[tokio::test]
async fn a_user_name_lookup_answers_as_the_paged_list() {
    use crate::custom_attributes::{ACME, acme_schema};
    let app = spawn_app_with(|s| s.purge_interval_secs = 0).await;
    let a = crate::admin::admin(&app, "default").await;
    let (status, body) = a.post("/schemas", acme_schema()).await;
    assert_eq!(status, 201, "{body}");
    let boss = app.create_user(user("boss@acme.example")).await;
    let mut u = user("Ada@acme.example");
    u["schemas"] = json!([
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ACME
    ]);
    u["name"] = json!({"givenName": "Ada", "familyName": "Lovelace"});
    u["phoneNumbers"] = json!([{"value": "+1 555 0100", "type": "work", "primary": true},
                               {"value": "+1 555 0101", "type": "mobile"}]);
    u["addresses"] = json!([{"locality": "London", "country": "GB", "type": "work"}]);
    u["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] =
        json!({"department": "Engines", "manager": {"value": boss}});
    u[ACME] = json!({"costCode": "E-1", "badge": 7, "tags": ["a", "b"]});
    let id = app.create_user(u).await;
    group_with(&app, "engineering", &id).await;
    group_with(&app, "analysts", &id).await;

    let token = app.token.clone();
    for projection in [
        "",
        "&attributes=userName,emails,groups",
        "&attributes=name.givenName,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        &format!("&attributes={ACME}:costCode"),
        "&excludedAttributes=groups,phoneNumbers",
        &format!("&excludedAttributes={ACME},addresses"),
    ] {
        for name in ["ADA@acme.example", "nobody@acme.example"] {
            let filter = urlencode(&format!("userName eq \"{name}\""));
            let lookup = format!("/Users?filter={filter}{projection}");
            let before = statements(&app).await;
            let (status, fast) = raw_get(&app, &lookup, &token).await;
            let n = statements(&app).await - before;
            assert_eq!(status, 200, "{fast}");
            let (status, paged) = raw_get(&app, &format!("{lookup}&sortBy=userName"), &token).await;
            assert_eq!(status, 200, "{paged}");
            assert_eq!(fast, paged, "{lookup}");
            // The token with the user, then the organization's extensions
            // (the user has values of one) and the manager's name.
            let expected = if name.starts_with("ADA") { 3 } else { 1 };
            assert_eq!(n, expected, "{lookup}: {fast}");
        }
    }
    let filter = urlencode("userName eq \"ada@acme.example\"");
    let (_, fast) = raw_get(&app, &format!("/Users?filter={filter}&count=5"), &token).await;
    let body: Value = serde_json::from_str(&fast).unwrap();
    assert_eq!(body["totalResults"], 1, "{body}");
    assert_eq!(body["Resources"][0]["id"], id.as_str(), "{body}");
    assert_eq!(
        body["Resources"][0]["groups"].as_array().unwrap().len(),
        2,
        "{body}"
    );
    assert_eq!(body["Resources"][0][ACME]["badge"], 7, "{body}");
    // Pages the lookup does not take: a later page, an empty one.
    for (extra, total, shown) in [("&startIndex=2", 1, 0), ("&count=0", 1, 0)] {
        let (status, body) = raw_get(&app, &format!("/Users?filter={filter}{extra}"), &token).await;
        assert_eq!(status, 200, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["totalResults"], total, "{extra}: {body}");
        assert_eq!(body["itemsPerPage"], shown, "{extra}: {body}");
    }

    // Refusals, as before: a bad token before a bad filter, another
    // directory's token, no token.
    let (status, body) = raw_get(&app, &format!("/Users?filter={filter}"), "not-a-token").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = raw_get(&app, "/Users?filter=userName%20eq", "not-a-token").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = raw_get(&app, "/Users?filter=userName%20eq", &token).await;
    assert_eq!(status, 400, "{body}");
    let other = app.other_directory("other-org", "other").await;
    let (status, body) = raw_get(&app, &format!("/Users?filter={filter}"), &other.token).await;
    assert_eq!(status, 404, "{body}");
    let res = app
        .client
        .get(format!("{}/Users?filter={filter}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

/// `POST /Users` (a body of `user(email)`): the statements it ran.
/// A group named `name` with `id` as its one member.
async fn group_with(app: &TestApp, name: &str, id: &str) {
    let (status, g) = app
        .post(
            "/Groups",
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                   "displayName": name, "members": [{"value": id}]}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
}

async fn post_cost(app: &TestApp, email: &str) -> u64 {
    let before = statements(app).await;
    let (status, body) = app.post("/Users", user(email)).await;
    assert_eq!(status, 201, "{body}");
    statements(app).await - before
}

/// What change events cost a write, against the same writes on a server
/// started with `SCIM_EVENTS_ENABLED=0`. On PostgreSQL an event is one
/// statement where the change is made, and the transaction's events are
/// numbered in one more before the commit. On SQLite the event's INSERT
/// (numbered inside it) goes to the database with the write's sync-log
/// INSERT, in one round trip: no statement of its own. A write that
/// records no event costs nothing more: the numbering statement used to
/// run on every write transaction on PostgreSQL.
#[tokio::test]
async fn an_event_costs_no_round_trip_on_sqlite_and_a_write_without_one_nothing() {
    let quiet = |events: bool| {
        move |s: &mut scim_server::config::Settings| {
            s.purge_interval_secs = 0;
            s.events_enabled = events;
        }
    };
    let on = spawn_app_with(quiet(true)).await;
    let off = spawn_app_with(quiet(false)).await;
    for app in [&on, &off] {
        app.verify_domain("acme.example").await;
        app.create_user(user("warm@acme.example")).await;
        app.create_user(user("warm@elsewhere.example")).await;
    }
    // No organization verified the domain: an external account, no event.
    let (with, without) = (
        post_cost(&on, "ext@elsewhere.example").await,
        post_cost(&off, "ext@elsewhere.example").await,
    );
    assert_eq!(with, without, "a write that records no event");
    // A managed account: `account.created`.
    let event = match test_backend() {
        TestBackend::Postgres(_) => 2,
        _ => 0,
    };
    let (with, without) = (
        post_cost(&on, "new@acme.example").await,
        post_cost(&off, "new@acme.example").await,
    );
    assert_eq!(with, without + event, "a write that records one");
}

/// The admin API's directory list costs the same statements for one
/// directory as for four: no query a directory.
#[tokio::test]
async fn the_directory_list_costs_a_fixed_number_of_statements() {
    // No purge job running statements of its own meanwhile (on
    // PostgreSQL they count in the same pool: it failed 1 run in 4).
    let app = spawn_app_with(|s| s.purge_interval_secs = 0).await;
    let a = crate::admin::admin(&app, "default").await;
    let listed = async || {
        let before = statements(&app).await;
        let (status, body) = a.get("/directories").await;
        assert_eq!(status, 200, "{body}");
        let n = body["items"].as_array().map_or(0, Vec::len);
        (n, statements(&app).await - before)
    };
    // The key's first use is recorded once: measure after it.
    listed().await;
    let (n, one) = listed().await;
    assert_eq!(n, 1);
    for name in ["okta", "entra", "jumpcloud"] {
        app.other_directory("default", name).await;
    }
    app.create_user(json!({"userName": "ada@example.com"}))
        .await;
    let (n, four) = listed().await;
    assert_eq!(n, 4);
    assert_eq!(four, one, "statements for 4 directories vs 1");
}

/// Statements `method path` with `body` ran (every pool), with its status.
async fn write_cost(app: &TestApp, method: reqwest::Method, path: &str, body: Value) -> (u16, u64) {
    let before = statements(app).await;
    let (status, body) = app.send(method, path, Some(body)).await;
    assert!(status < 300, "{body}");
    (status, statements(app).await - before)
}

fn active(on: bool) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": on}}]})
}

/// Before: `POST /Users` ran 9 statements (10 on a verified domain) and
/// `PATCH {"active": …}` 10 (14 on a managed account), 8 to 13 of them
/// holding SQLite's one writer. Now the write's lookups (userName, the
/// domain's authority, the email's account and whether it is linked) are
/// one statement; lock and load of a link one (`UPDATE … RETURNING`); the
/// account with its authority and whether it has site memberships one; a
/// new account's (absent) memberships are not restored, an unchanged
/// account row and unchanged multi-valued attributes not rewritten. On
/// SQLite the rows a POST inserts (account, link, emails, which the probe
/// cleared under the write lock) go with the sync log's INSERT, in one
/// round trip.
#[tokio::test]
async fn a_post_and_a_patch_of_active_run_few_statements() {
    use reqwest::Method;
    let app = spawn_app_with(|s| s.purge_interval_secs = 0).await;
    let inserts = match test_backend() {
        TestBackend::Postgres(_) => 3,
        _ => 0,
    };

    // An external account (its domain verified by nobody).
    let (status, n) = write_cost(&app, Method::POST, "/Users", user("ada@acme.example")).await;
    assert_eq!(status, 201);
    assert_eq!(
        n,
        3 + inserts,
        "POST: authentication, the probe, sync log (with account, link, its emails on SQLite)"
    );
    let id = app
        .get("/Users?filter=userName%20eq%20%22ada@acme.example%22")
        .await
        .1["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // On SQLite the account is read in the lock's round trip, and the
    // link's UPDATE (its userName kept: nothing in it can be refused) goes
    // with the sync log's INSERT.
    let (account, link) = (inserts.min(1), inserts.min(1));
    for on in [false, true] {
        let (_, n) = write_cost(&app, Method::PATCH, &format!("/Users/{id}"), active(on)).await;
        assert_eq!(
            n,
            3 + account + link,
            "PATCH active {on}: authentication, lock and load with the account, sync log (with \
             the link on SQLite)"
        );
    }

    // A managed account, of the directory authoritative for its domain.
    app.verify_domain("acme.example").await;
    // An event: on SQLite its INSERT goes with the sync log's, in one
    // round trip; on PostgreSQL it is a statement, and the transaction's
    // events are numbered in one more.
    let event = match test_backend() {
        TestBackend::Postgres(_) => 2,
        _ => 0,
    };
    let (_, n) = write_cost(&app, Method::POST, "/Users", user("bob@acme.example")).await;
    assert_eq!(
        n,
        3 + inserts + event,
        "POST: authentication, the probe, sync log (with account, link, its emails and \
         account.created on SQLite)"
    );
    let (_, body) = app
        .get("/Users?filter=userName%20eq%20%22bob@acme.example%22")
        .await;
    let id = body["Resources"][0]["id"].as_str().unwrap().to_owned();
    let (_, n) = write_cost(&app, Method::PATCH, &format!("/Users/{id}"), active(false)).await;
    // The link's UPDATE goes before the status's on its own: a statement
    // whose count of changed rows is read carries nothing.
    assert_eq!(
        n,
        6 + account + event,
        "PATCH active false: authentication, lock and load with the account, the link, its \
         status, its sessions, sync log (and account.deactivated)"
    );
    let (status, u) = app.get(&format!("/Users/{id}")).await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["active"], false, "{u}");
    assert_eq!(u["emails"][0]["value"], "bob@acme.example", "{u}");
    assert_eq!(
        account_of(&app, "bob@acme.example").await.status,
        entity::account::AccountStatus::Deactivated
    );
}
