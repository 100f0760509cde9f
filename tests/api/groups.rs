use crate::helpers::*;
use entity::{site, site_membership};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn group(name: &str, members: &[&str]) -> Value {
    json!({
        "schemas": [GROUP_SCHEMA],
        "displayName": name,
        "members": members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>(),
    })
}

async fn create_group(app: &TestApp, name: &str, members: &[&str]) -> String {
    let (status, body) = app.post("/Groups", group(name, members)).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn member_ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn members_of(app: &TestApp, gid: &str) -> Vec<String> {
    let (status, body) = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(status, 200, "{body}");
    member_ids(&body)
}

fn sorted(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| (*s).clone()).collect();
    v.sort();
    v
}

/// Status of the account's membership on the only site, if any.
async fn site_status(app: &TestApp, user_name: &str) -> Option<String> {
    let db = app.db().await;
    let acc = entity::account::Entity::find()
        .filter(entity::account::Column::EmailLower.eq(user_name))
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    site_membership::Entity::find()
        .filter(site_membership::Column::AccountId.eq(acc.id))
        .one(&db)
        .await
        .unwrap()
        .map(|m| m.status.to_string())
}

#[tokio::test]
async fn group_crud_with_members_ref_display_and_type() {
    let app = spawn_app().await;
    let u = app.create_user(user("m1@example.com")).await;
    let res = app
        .scim(reqwest::Method::POST, "/Groups")
        .body(group("Engineering", &[&u]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, body) = read(res).await;
    let gid = body["id"].as_str().unwrap();
    assert_eq!(location, format!("{}/Groups/{gid}", app.base));
    assert_eq!(body["displayName"], "Engineering");
    assert_eq!(body["meta"]["resourceType"], "Group");
    assert_eq!(
        body["members"],
        json!([{"value": u, "$ref": format!("{}/Users/{u}", app.base), "display": "m1@example.com", "type": "User"}])
    );
    // The user's read-only groups attribute lists it.
    let (_, ubody) = app.get(&format!("/Users/{u}")).await;
    assert_eq!(ubody["groups"][0]["value"], gid);
    assert_eq!(ubody["groups"][0]["display"], "Engineering");

    let (status, body) = app
        .get(&format!(
            "/Groups?filter={}",
            crate::users::urlencode("displayName eq \"ENGINEERING\"")
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["id"], gid);
    assert_eq!(member_ids(&body["Resources"][0]), vec![u.clone()]);

    let (_, body) = app.get("/Groups?excludedAttributes=members").await;
    assert!(body["Resources"][0].get("members").is_none());
    assert_eq!(body["Resources"][0]["displayName"], "Engineering");

    let (status, _) = app.put(&format!("/Groups/{gid}"), group("Eng", &[])).await;
    assert_eq!(status, 200);
    assert_eq!(members_of(&app, gid).await, Vec::<String>::new());
    let (status, _) = app.delete(&format!("/Groups/{gid}")).await;
    assert_eq!(status, 204);
    let (status, body) = app.get(&format!("/Groups/{gid}")).await;
    assert_scim_error(status, &body, 404, None);
    let (status, body) = app.delete(&format!("/Groups/{gid}")).await;
    assert_scim_error(status, &body, 404, None);
}

#[tokio::test]
async fn display_name_is_unique_case_insensitively() {
    let app = spawn_app().await;
    create_group(&app, "Sales", &[]).await;
    let (status, body) = app.post("/Groups", group("SALES", &[])).await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    let other = create_group(&app, "Marketing", &[]).await;
    let (status, body) = app
        .patch(
            &format!("/Groups/{other}"),
            json!([{"op": "replace", "path": "displayName", "value": "sales"}]),
        )
        .await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
}

#[tokio::test]
async fn display_name_is_unique_across_the_organizations_directories() {
    let app = spawn_app().await;
    create_group(&app, "Engineering", &[]).await;
    let a = crate::admin::admin(&app, "default").await;
    let (status, g) = a.post("/groups", json!({"name": "Admins"})).await;
    assert_eq!(status, 201, "{g}");
    // A second directory of the same organization.
    let entra = app.other_directory("default", "entra").await;
    for taken in ["ENGINEERING", "admins"] {
        let (status, body) = entra.post("/Groups", group(taken, &[])).await;
        assert_scim_error(status, &body, 409, Some("uniqueness"));
    }
    let design = create_group(&entra, "Design", &[]).await;
    let (status, body) = entra
        .patch(
            &format!("/Groups/{design}"),
            json!([{"op": "replace", "path": "displayName", "value": "engineering"}]),
        )
        .await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    let (status, body) = entra
        .put(&format!("/Groups/{design}"), group("Engineering", &[]))
        .await;
    assert_scim_error(status, &body, 409, Some("uniqueness"));
    let (_, list) = entra.get("/Groups").await;
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(list["Resources"][0]["displayName"], "Design", "{list}");
    // The same name in another organization is another group.
    let okta = app.other_directory("other", "okta").await;
    create_group(&okta, "Engineering", &[]).await;
}

#[tokio::test]
async fn a_member_that_is_not_a_user_of_the_directory_is_refused_and_nothing_written() {
    let app = spawn_app().await;
    let u = app.create_user(user("ok@example.com")).await;
    let ghost = uuid::Uuid::now_v7().to_string();
    let (status, body) = app.post("/Groups", group("G", &[&u, &ghost])).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    assert!(body["detail"].as_str().unwrap().contains(&ghost));
    let (_, list) = app.get("/Groups").await;
    assert_eq!(list["totalResults"], 0);
    let gid = create_group(&app, "G", &[]).await;
    let (status, body) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": u}, {"value": "not-a-uuid"}]}]),
        )
        .await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    assert!(members_of(&app, &gid).await.is_empty());
}

/// Member values are parsed once as SCIM ids: one that is not an id is
/// refused in POST and PUT like an unknown User (400 naming it, nothing
/// written), and removing it is a no-op.
#[tokio::test]
async fn a_member_value_that_is_not_an_id_is_refused_by_post_and_put() {
    let app = spawn_app().await;
    let u = app.create_user(user("ok@example.com")).await;
    let (status, body) = app.post("/Groups", group("G", &[&u, "not-a-uuid"])).await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    assert_eq!(
        body["detail"], "member \"not-a-uuid\" is not a User of this directory",
        "{body}"
    );
    let (_, list) = app.get("/Groups").await;
    assert_eq!(list["totalResults"], 0);
    let gid = create_group(&app, "G", &[&u]).await;
    let (status, body) = app
        .put(&format!("/Groups/{gid}"), group("G", &["not-a-uuid"]))
        .await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    assert!(
        body["detail"].as_str().unwrap().contains("not-a-uuid"),
        "{body}"
    );
    assert_eq!(members_of(&app, &gid).await, vec![u.clone()]);
    let (status, body) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "remove", "path": "members", "value": [{"value": "not-a-uuid"}]}]),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(members_of(&app, &gid).await, vec![u]);
}

#[tokio::test]
async fn okta_group_push_sequence() {
    let app = spawn_app().await;
    let a = app.create_user(user("a@example.com")).await;
    let b = app.create_user(user("b@example.com")).await;
    let c = app.create_user(user("c@example.com")).await;
    // Okta: look the group up, create it, then PATCH with the name every time.
    let (_, found) = app
        .get(&format!(
            "/Groups?filter={}&startIndex=1&count=100",
            crate::users::urlencode("displayName eq \"Okta Group\"")
        ))
        .await;
    assert_eq!(found["totalResults"], 0);
    let gid = create_group(&app, "Okta Group", &[]).await;
    let rename_noop = json!({"op": "replace", "value": {"id": gid, "displayName": "Okta Group"}});
    let (status, body) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([rename_noop, {"op": "add", "path": "members", "value": [{"value": a, "display": "a@example.com"}, {"value": b}]}]),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(members_of(&app, &gid).await, sorted(&[&a, &b]));
    let (status, _) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([rename_noop, {"op": "remove", "path": "members", "value": [{"value": a}]}]),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(members_of(&app, &gid).await, vec![b.clone()]);
    let (status, _) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "path": "members", "value": [{"value": a}, {"value": c}]}]),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(members_of(&app, &gid).await, sorted(&[&a, &c]));
    let (status, body) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "value": {"id": gid, "displayName": "Renamed"}}]),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, g) = app
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    assert_eq!(g["displayName"], "Renamed");
    assert!(g.get("members").is_none());
    assert_eq!(app.delete(&format!("/Groups/{gid}")).await.0, 204);
}

#[tokio::test]
async fn entra_group_sync_sequence() {
    let app = spawn_app().await;
    let a = app.create_user(user("ea@example.com")).await;
    let b = app.create_user(user("eb@example.com")).await;
    let (status, body) = app
        .post(
            "/Groups",
            json!({
                "schemas": [GROUP_SCHEMA, "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"],
                "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                "displayName": "Entra Group",
                "members": [],
                "meta": {"resourceType": "Group"},
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let gid = body["id"].as_str().unwrap().to_owned();
    let (_, found) = app
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            crate::users::urlencode("externalId eq \"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159\"")
        ))
        .await;
    assert_eq!(found["totalResults"], 1);
    let (status, _) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "Add", "path": "members", "value": [{"value": a}, {"value": b}]}]),
        )
        .await;
    assert_eq!(status, 204);
    // Entra removes both ways.
    let (status, _) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "Remove", "path": format!("members[value eq \"{a}\"]")}]),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(members_of(&app, &gid).await, vec![b.clone()]);
    let (status, _) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "Remove", "path": "members", "value": [{"value": b}]}]),
        )
        .await;
    assert_eq!(status, 204);
    assert!(members_of(&app, &gid).await.is_empty());
    // Removing someone who is not a member is a no-op.
    let (status, _) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "Remove", "path": "members", "value": [{"value": b}]}]),
        )
        .await;
    assert_eq!(status, 204);
    // PATCH with attributes answers 200 with the resource.
    let (status, body) = app
        .send(
            reqwest::Method::PATCH,
            &format!("/Groups/{gid}?attributes=displayName"),
            Some(json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "displayName", "value": "Entra Renamed"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "Entra Renamed");
    assert_eq!(app.delete(&format!("/Groups/{gid}")).await.0, 204);
    assert_eq!(app.delete(&format!("/Groups/{gid}")).await.0, 404);
}

#[tokio::test]
async fn group_product_access_gives_and_takes_site_membership() {
    let app = spawn_app().await;
    app.cli(&["site", "create", "--org", "default", "acme.example.net"])
        .await;
    let a = app.create_user(user("pa@example.com")).await;
    let b = app.create_user(user("pb@example.com")).await;
    let g1 = create_group(&app, "Jira users", &[&a]).await;
    let g2 = create_group(&app, "Confluence users", &[]).await;
    assert_eq!(
        site_status(&app, "pa@example.com").await,
        None,
        "no grant yet"
    );
    app.cli(&[
        "group",
        "grant",
        "--group",
        &g1,
        "--site",
        "acme.example.net",
        "--product",
        "jira",
    ])
    .await;
    app.cli(&[
        "group",
        "grant",
        "--group",
        &g2,
        "--site",
        "acme.example.net",
        "--product",
        "confluence",
        "--role",
        "admin",
    ])
    .await;
    // Existing members got access when the grant was made.
    assert_eq!(
        site_status(&app, "pa@example.com").await.as_deref(),
        Some("active")
    );
    // New members get it at once.
    app.patch(
        &format!("/Groups/{g1}"),
        json!([{"op": "add", "path": "members", "value": [{"value": b}]}]),
    )
    .await;
    app.patch(
        &format!("/Groups/{g2}"),
        json!([{"op": "add", "path": "members", "value": [{"value": b}]}]),
    )
    .await;
    assert_eq!(
        site_status(&app, "pb@example.com").await.as_deref(),
        Some("active")
    );
    // Another path to the site remains: membership stays.
    app.patch(
        &format!("/Groups/{g1}"),
        json!([{"op": "remove", "path": format!("members[value eq \"{b}\"]")}]),
    )
    .await;
    assert_eq!(
        site_status(&app, "pb@example.com").await.as_deref(),
        Some("active")
    );
    // The last path goes: so does the membership.
    app.patch(
        &format!("/Groups/{g2}"),
        json!([{"op": "remove", "path": "members", "value": [{"value": b}]}]),
    )
    .await;
    assert_eq!(site_status(&app, "pb@example.com").await, None);
    // Deleting a group removes what it granted.
    app.delete(&format!("/Groups/{g1}")).await;
    assert_eq!(site_status(&app, "pa@example.com").await, None);
}

#[tokio::test]
async fn direct_invites_survive_losing_group_access() {
    let app = spawn_app().await;
    app.cli(&["site", "create", "--org", "default", "acme.example.net"])
        .await;
    let a = app.create_user(user("inv@example.com")).await;
    let g = create_group(&app, "G", &[&a]).await;
    app.cli(&[
        "group",
        "grant",
        "--group",
        &g,
        "--site",
        "acme.example.net",
        "--product",
        "jira",
    ])
    .await;
    assert_eq!(
        site_status(&app, "inv@example.com").await.as_deref(),
        Some("active"),
        "the group's grant gave the membership"
    );
    // An admin invites the same user directly.
    let admin = crate::admin::admin(&app, "default").await;
    let (_, sites) = admin.get("/sites").await;
    let s = sites["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, m) = admin
        .post(
            &format!("/sites/{s}/users"),
            json!({"email": "inv@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "an existing membership: {m}");
    assert_eq!(m["invited_directly"], true, "{m}");
    let (status, body) = app
        .patch(
            &format!("/Groups/{g}"),
            json!([{"op": "remove", "path": "members"}]),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert!(members_of(&app, &g).await.is_empty());
    assert_eq!(
        site_status(&app, "inv@example.com").await.as_deref(),
        Some("active")
    );
    let db = app.db().await;
    let sites = site::Entity::find().count(&db).await.unwrap();
    assert_eq!(sites, 1);
}

#[tokio::test]
async fn deactivated_members_keep_memberships_and_deleted_users_leave_groups() {
    let app = spawn_app().await;
    app.verify_domain("acme.example").await;
    app.cli(&["site", "create", "--org", "default", "acme.example.net"])
        .await;
    let a = app.create_user(user("d@acme.example")).await;
    let g = create_group(&app, "G", &[&a]).await;
    app.cli(&[
        "group",
        "grant",
        "--group",
        &g,
        "--site",
        "acme.example.net",
        "--product",
        "jira",
    ])
    .await;
    let (status, body) = app
        .patch(
            &format!("/Users/{a}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], false, "{body}");
    assert_eq!(
        crate::helpers::account_of(&app, "d@acme.example")
            .await
            .status
            .to_string(),
        "deactivated"
    );
    assert_eq!(members_of(&app, &g).await, vec![a.clone()]);
    assert_eq!(
        site_status(&app, "d@acme.example").await.as_deref(),
        Some("active")
    );
    let (status, body) = app.delete(&format!("/Users/{a}")).await;
    assert_eq!(status, 204, "{body}");
    assert!(members_of(&app, &g).await.is_empty());
}

#[tokio::test]
async fn concurrent_member_adds_all_take_effect() {
    let app = spawn_app().await;
    let gid = create_group(&app, "Parallel", &[]).await;
    let mut ids = vec![];
    for i in 0..64 {
        ids.push(app.create_user(user(&format!("p{i}@example.com"))).await);
    }
    let app = std::sync::Arc::new(app);
    let mut tasks = vec![];
    for id in ids.clone() {
        let app = app.clone();
        let gid = gid.clone();
        tasks.push(tokio::spawn(async move {
            app.patch(
                &format!("/Groups/{gid}"),
                json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
            )
            .await
            .0
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 204);
    }
    let members = members_of(&app, &gid).await;
    assert_eq!(members.len(), 64);
    let (_, g) = app
        .get(&format!("/Groups/{gid}?excludedAttributes=members"))
        .await;
    assert_eq!(g["meta"]["version"], "W/\"65\"");
}

#[tokio::test]
async fn large_groups_stream_all_members_across_pages() {
    let app = spawn_app().await;
    let gid = create_group(&app, "Big", &[]).await;
    let n = 2_345;
    crate::seed::members(&app, &gid, n).await;
    let (status, body) = app.get(&format!("/Groups/{gid}")).await;
    assert_eq!(status, 200);
    let members = body["members"].as_array().unwrap();
    assert_eq!(members.len(), n);
    let mut seen: Vec<&str> = members
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), n, "no duplicates across pages");
    let (_, body) = app
        .get(&format!("/Groups/{gid}?attributes=members.value"))
        .await;
    assert_eq!(body["members"].as_array().unwrap().len(), n);
    assert!(body["members"][0].get("display").is_none());
    assert!(body.get("displayName").is_none());
}

#[tokio::test]
async fn group_patch_dialect_errors() {
    let app = spawn_app().await;
    let gid = create_group(&app, "E", &[]).await;
    let (status, body) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "remove", "path": "members[display co \"x\"]"}]),
        )
        .await;
    assert_scim_error(status, &body, 400, Some("invalidFilter"));
    let (status, body) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "path": "nosuch", "value": 1}]),
        )
        .await;
    assert_scim_error(status, &body, 400, Some("invalidPath"));
    let (status, body) = app
        .patch(
            "/Groups/not-a-uuid",
            json!([{"op": "remove", "path": "members"}]),
        )
        .await;
    assert_scim_error(status, &body, 404, None);
}

/// A group's head (its ETag) and its members are read in one snapshot, so
/// a member added while a large group is streamed neither shows in a body
/// that carries the old ETag nor goes missing from one with the new.
#[tokio::test]
async fn a_group_is_read_from_one_snapshot() {
    use scim_server::store::directories::operator_principal;
    use scim_server::store::groups;
    let app = spawn_app().await;
    let a = app.create_user(user("a@example.com")).await;
    let b = app.create_user(user("b@example.com")).await;
    let gid = create_group(&app, "Engineering", &[&a]).await;
    let store = scim_server::startup::open_store(&app.settings)
        .await
        .unwrap();
    let dir = operator_principal(store.reader(), app.directory_id)
        .await
        .unwrap();
    let gid_uuid = gid.parse().unwrap();

    let snapshot = store.snapshot().await.unwrap();
    let head = groups::get(&snapshot, &dir, gid_uuid)
        .await
        .unwrap()
        .unwrap();
    // Another request adds a member and commits meanwhile.
    let (status, _) = app
        .patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "add", "path": "members", "value": [{"value": b}]}]),
        )
        .await;
    assert_eq!(status, 204);
    let members = groups::member_page(&snapshot, app.directory_id, gid_uuid, None, 100)
        .await
        .unwrap();
    let ids: Vec<&str> = members.iter().map(|(_, m)| m.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![a.as_str()],
        "the members of the state the head was read in"
    );
    snapshot.commit().await.unwrap();

    // Read afresh: the new version with both members.
    let fresh = groups::get(store.reader(), &dir, gid_uuid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(fresh.version, head.version + 1);
    assert_eq!(members_of(&app, &gid).await.len(), 2);
}

/// `DELETE /Users` leaves the directory's groups, and the access those
/// groups granted ends with it, as a member removal's does.
#[tokio::test]
async fn deleting_a_user_ends_the_access_its_groups_granted() {
    let app = spawn_app().await;
    app.cli(&["site", "create", "--org", "default", "acme.example.net"])
        .await;
    let a = app.create_user(user("gone@example.com")).await;
    let g = create_group(&app, "Jira users", &[&a]).await;
    app.cli(&[
        "group",
        "grant",
        "--group",
        &g,
        "--site",
        "acme.example.net",
        "--product",
        "jira",
    ])
    .await;
    assert_eq!(
        site_status(&app, "gone@example.com").await.as_deref(),
        Some("active")
    );
    let (status, body) = app.delete(&format!("/Users/{a}")).await;
    assert_eq!(status, 204, "{body}");
    assert!(members_of(&app, &g).await.is_empty());
    assert_eq!(
        site_status(&app, "gone@example.com").await,
        None,
        "the group's access ended with the membership"
    );
}

#[tokio::test]
async fn the_cli_removes_a_grant_and_the_access_it_gave() {
    let app = spawn_app().await;
    app.cli(&["site", "create", "--org", "default", "acme.example.net"])
        .await;
    let a = app.create_user(user("ug@example.com")).await;
    let g = create_group(&app, "Ungranted", &[&a]).await;
    app.cli(&[
        "group",
        "grant",
        "--group",
        &g,
        "--site",
        "acme.example.net",
        "--product",
        "jira",
    ])
    .await;
    assert_eq!(
        site_status(&app, "ug@example.com").await.as_deref(),
        Some("active")
    );
    let db = app.db().await;
    let grant = entity::group_grant::Entity::find()
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    app.cli(&[
        "group",
        "ungrant",
        "--group",
        &g,
        "--grant",
        &grant.id.to_string(),
    ])
    .await;
    assert_eq!(
        site_status(&app, "ug@example.com").await,
        None,
        "its last path to the site is gone"
    );
    let left = entity::group_grant::Entity::find().all(&db).await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(members_of(&app, &g).await, vec![a], "still a member");
}

/// A user's read-only `groups` come by name, case aside, whatever order
/// the groups were made in (the database gives them in the order it reads
/// them; the server sorts them).
#[tokio::test]
async fn a_users_groups_are_listed_by_name() {
    let app = spawn_app().await;
    let u = app.create_user(user("sorted@example.com")).await;
    for name in ["zeta", "Beta", "alpha"] {
        let res = app
            .scim(reqwest::Method::POST, "/Groups")
            .body(group(name, &[&u]).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let (status, body) = app.get(&format!("/Users/{u}")).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["display"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "Beta", "zeta"], "{body}");
}
