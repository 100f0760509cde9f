//! `SCIM_MAX_PAGE_BYTES` on every list: `/Groups`, `/Groups/.search`,
//! `/Users/.search` and the root `/.search` stop early with an honest
//! `itemsPerPage` and continue by `startIndex` or cursor; and a page's
//! database read stops where the page does. (`/Users` by GET:
//! `security::pages_stop_at_their_byte_budget_and_continue`.)

use std::collections::BTreeMap;

use entity::{scim_user, scim_user_value};
use reqwest::Method;
use scim_server::store::users::PageReader;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{Value, json};

use crate::helpers::*;

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// `n` users `{prefix}{i}@acme.example`, each with `phones` phone numbers;
/// their ids in creation order.
async fn users_with_phones(app: &TestApp, prefix: &str, n: usize, phones: usize) -> Vec<String> {
    let mut ids = vec![];
    for i in 0..n {
        let mut u = user(&format!("{prefix}{i}@acme.example"));
        u["phoneNumbers"] = json!(
            (0..phones)
                .map(|p| json!({"value": format!("+1 555 {i:03} {p:05}"), "type": "work"}))
                .collect::<Vec<_>>()
        );
        ids.push(app.create_user(u).await);
    }
    ids
}

async fn group_with(app: &TestApp, name: &str, members: &[String]) -> String {
    let (status, g) = app
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP_SCHEMA],
                "displayName": name,
                "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>(),
            }),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    g["id"].as_str().unwrap().to_owned()
}

async fn search(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let mut body = body;
    body["schemas"] = json!([SEARCH]);
    app.send(Method::POST, path, Some(body)).await
}

/// Walks a list by `startIndex`, `fetch(start)` returning a page; returns
/// every resource's `displayName`/`userName` and member count in order,
/// checking each page's `itemsPerPage` and its size.
async fn walk_by_index<F, Fut>(fetch: F, total: usize, budget: usize) -> Vec<(String, usize)>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = (u16, Value, usize)>,
{
    let mut seen = vec![];
    let mut start = 1;
    let mut pages = 0;
    while start <= total {
        let (status, page, bytes) = fetch(start).await;
        assert_eq!(status, 200, "{page}");
        let items = page["Resources"].as_array().unwrap();
        assert!(!items.is_empty(), "{page}");
        assert_eq!(page["itemsPerPage"], items.len(), "honest itemsPerPage");
        assert_eq!(page["totalResults"], total);
        assert_eq!(page["startIndex"], start);
        if items.len() > 1 {
            // More than one resource: the budget held (the largest
            // resource here is under 3 KB).
            assert!(bytes < budget + 3_000, "{bytes} bytes");
        }
        seen.extend(items.iter().map(name_and_members));
        start += items.len();
        pages += 1;
    }
    assert!(pages > 1, "the budget cut the list into pages");
    seen
}

fn name_and_members(r: &Value) -> (String, usize) {
    let name = r["displayName"]
        .as_str()
        .or(r["userName"].as_str())
        .unwrap()
        .to_owned();
    let members = r["members"].as_array().map_or(0, Vec::len);
    (name, members)
}

/// Before: the byte cap applied to `/Users` only; a page of groups was as
/// large as its members made it. Now `/Groups` and `/Groups/.search` stop
/// at the budget and continue, each group whole and shown once.
#[tokio::test]
async fn group_pages_stop_at_their_byte_budget_and_continue() {
    let app = spawn_app_with(|s| s.max_page_bytes = 6_000).await;
    let members = users_with_phones(&app, "m", 15, 0).await;
    for i in 0..6 {
        group_with(&app, &format!("group {i}"), &members).await;
    }
    let want: Vec<(String, usize)> = (0..6).map(|i| (format!("group {i}"), 15)).collect();

    let (status, first) = app.get("/Groups?count=6&sortBy=displayName").await;
    assert_eq!(status, 200, "{first}");
    let shown = first["Resources"].as_array().unwrap().len();
    assert!((1..6).contains(&shown), "stopped early: {shown}");
    assert_eq!(first["itemsPerPage"], shown);
    assert_eq!(first["totalResults"], 6);

    let seen = walk_by_index(
        |start| {
            let app = &app;
            async move {
                let res = app
                    .scim(
                        Method::GET,
                        &format!("/Groups?count=6&sortBy=displayName&startIndex={start}"),
                    )
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let text = res.text().await.unwrap();
                (status, serde_json::from_str(&text).unwrap(), text.len())
            }
        },
        6,
        6_000,
    )
    .await;
    assert_eq!(seen, want);

    // POST /Groups/.search: the same pages.
    let (status, page) = search(
        &app,
        "/Groups/.search",
        json!({"sortBy": "displayName", "count": 6}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["itemsPerPage"], shown);
    assert_eq!(page["Resources"].as_array().unwrap().len(), shown);

    // Cursor paging resumes after the last group shown.
    let mut seen = vec![];
    let mut cursor = String::new();
    for _ in 0..6 {
        let (status, page) = app
            .get(&format!(
                "/Groups?count=6&sortBy=displayName&cursor={cursor}"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        let items = page["Resources"].as_array().unwrap();
        assert_eq!(page["itemsPerPage"], items.len());
        seen.extend(items.iter().map(name_and_members));
        match page["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, want);

    // Without members, all six fit.
    let (_, page) = app.get("/Groups?count=6&excludedAttributes=members").await;
    assert_eq!(page["itemsPerPage"], 6);
}

/// A first group larger than the whole budget is still shown, whole (its
/// members past the budget are streamed, not held), alone on its page.
#[tokio::test]
async fn a_group_larger_than_the_budget_is_shown_alone_and_whole() {
    let app = spawn_app_with(|s| s.max_page_bytes = 6_000).await;
    let big = group_with(&app, "a big", &[]).await;
    crate::seed::members(&app, &big, 2_500).await;
    let small = users_with_phones(&app, "s", 2, 0).await;
    group_with(&app, "b small", &small).await;

    let (status, page) = app.get("/Groups?count=2&sortBy=displayName").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["itemsPerPage"], 1);
    assert_eq!(page["totalResults"], 2);
    let items = page["Resources"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let members = items[0]["members"].as_array().unwrap();
    assert_eq!(members.len(), 2_500, "every member, past the first pages");
    let mut ids: Vec<&str> = members
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2_500, "no member twice");

    let (_, next) = app
        .get("/Groups?count=2&sortBy=displayName&startIndex=2")
        .await;
    assert_eq!(next["itemsPerPage"], 1);
    assert_eq!(next["Resources"][0]["displayName"], "b small");
    let (_, first) = app.get("/Groups?count=2&sortBy=displayName&cursor=").await;
    assert_eq!(first["itemsPerPage"], 1);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    let (_, next) = app
        .get(&format!(
            "/Groups?count=2&sortBy=displayName&cursor={cursor}"
        ))
        .await;
    assert_eq!(next["Resources"][0]["displayName"], "b small");
    assert!(next.get("nextCursor").is_none(), "{next}");
}

/// `/Users/.search` and the root `/.search` share the budget: Users fill
/// the page first, Groups continue at the next `startIndex`, and every
/// resource is seen once.
#[tokio::test]
async fn searches_stop_at_their_byte_budget_and_continue() {
    let app = spawn_app_with(|s| s.max_page_bytes = 6_000).await;
    let ids = users_with_phones(&app, "big", 5, 40).await;
    for i in 0..3 {
        group_with(&app, &format!("group {i}"), &ids[..2]).await;
    }

    let (status, page) = search(
        &app,
        "/Users/.search",
        json!({"sortBy": "userName", "count": 5}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let shown = page["Resources"].as_array().unwrap().len();
    assert!((1..5).contains(&shown), "stopped early: {shown}");
    assert_eq!(page["itemsPerPage"], shown);

    let seen = walk_by_index(
        |start| {
            let app = &app;
            async move {
                let res = app
                    .scim(Method::POST, "/.search")
                    .body(
                        json!({"schemas": [SEARCH], "count": 8, "startIndex": start, "sortBy": "userName"})
                            .to_string(),
                    )
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let text = res.text().await.unwrap();
                (status, serde_json::from_str(&text).unwrap(), text.len())
            }
        },
        8,
        6_000,
    )
    .await;
    let mut want: Vec<(String, usize)> = (0..5)
        .map(|i| (format!("big{i}@acme.example"), 0))
        .collect();
    want.extend((0..3).map(|i| (format!("group {i}"), 2)));
    assert_eq!(seen, want);
}

/// Before: a page's users were read whole from the database (every value
/// row of every user) before the byte cap was checked. Now the values are
/// read in chunks in page order and the read stops with the page: for a
/// page that holds one user, the rows read are that user's and at most one
/// chunk (1,000 rows) more, not all five users' 7,505.
#[tokio::test]
async fn a_page_reads_values_only_as_far_as_it_goes() {
    let app = spawn_app().await;
    // 100 phone numbers each through SCIM (its limit per attribute), then
    // 1,400 more each written directly: every user is larger than a read.
    let ids = users_with_phones(&app, "v", 5, 100).await;
    let db = app.db().await;
    for (i, id) in ids.iter().enumerate() {
        let rows: Vec<_> = (100..1_500)
            .map(|p| {
                let value = format!("+1 555 {i:03} {p:05}");
                scim_user_value::ActiveModel {
                    user_id: Set(id.parse().unwrap()),
                    directory_id: Set(app.directory_id),
                    attr: Set("phoneNumbers".into()),
                    position: Set(p),
                    value: Set(Some(value.clone())),
                    value_lower: Set(Some(value)),
                    r#type: Set(Some("work".into())),
                    ..Default::default()
                }
            })
            .collect();
        for chunk in rows.chunks(500) {
            scim_user_value::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&db)
                .await
                .unwrap();
        }
    }
    let links = || async {
        scim_user::Entity::find()
            .filter(scim_user::Column::DirectoryId.eq(app.directory_id))
            .order_by_asc(scim_user::Column::UserNameLower)
            .all(&db)
            .await
            .unwrap()
    };

    // Room for about one user.
    let mut reader = PageReader::new(app.directory_id, links().await);
    let first = reader.next_users(&db, 1_000, true).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].link.user_name, "v0@acme.example");
    assert_eq!(first[0].attrs.phone_numbers.len(), 1_500);
    assert!(
        reader.rows_read() <= 1_500 + 1_000,
        "read {} rows",
        reader.rows_read()
    );
    let more = reader.next_users(&db, 0, false).await.unwrap();
    assert!(more.is_empty(), "the page ended");

    // Room for all: every user whole, each value once, in order, across
    // the chunk boundaries.
    let mut reader = PageReader::new(app.directory_id, links().await);
    let mut all = vec![];
    loop {
        let batch = reader
            .next_users(&db, usize::MAX, all.is_empty())
            .await
            .unwrap();
        if batch.is_empty() {
            break;
        }
        all.extend(batch);
    }
    // 1,500 phone numbers and one email each.
    assert_eq!(reader.rows_read(), 7_505);
    let got: BTreeMap<String, Vec<String>> = all
        .iter()
        .map(|u| {
            (
                u.link.user_name.clone(),
                u.attrs
                    .phone_numbers
                    .iter()
                    .map(|p| p.value.clone().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(got.len(), 5);
    for (i, (name, phones)) in got.iter().enumerate() {
        assert_eq!(name, &format!("v{i}@acme.example"));
        let want: Vec<String> = (0..1_500)
            .map(|p| format!("+1 555 {i:03} {p:05}"))
            .collect();
        assert_eq!(phones, &want, "{name}");
    }
}
