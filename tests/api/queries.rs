use crate::helpers::*;
use crate::users::urlencode;
use serde_json::{Value, json};

/// Five users with varied attributes; returns their ids by userName.
async fn fixture(app: &TestApp) -> std::collections::HashMap<String, String> {
    let people = [
        json!({"userName": "bjensen@example.com", "externalId": "E1", "displayName": "Babs Jensen",
               "name": {"familyName": "Jensen", "givenName": "Barbara"}, "title": "Tour Guide", "userType": "Employee",
               "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}, {"value": "babs@jensen.org", "type": "home"}],
               ENTERPRISE: {"department": "Tours", "employeeNumber": "701984"}}),
        json!({"userName": "jsmith@example.com", "externalId": "E2", "displayName": "John Smith",
               "name": {"familyName": "Smith", "givenName": "John"}, "userType": "Intern", "active": false,
               "emails": [{"value": "jsmith@example.com", "type": "work"}]}),
        json!({"userName": "omalley@example.org", "externalId": "e3", "displayName": "Pat O'Malley",
               "name": {"familyName": "O'Malley", "givenName": "Pat"}, "title": "Engineer", "userType": "Employee",
               "emails": [{"value": "pat@example.org", "type": "work"}], "ims": [{"value": "pat@foo.com", "type": "xmpp"}],
               ENTERPRISE: {"department": "R&D"}}),
        json!({"userName": "Jane.Doe@example.com", "displayName": "Jane Doe",
               "name": {"familyName": "Doe", "givenName": "Jane"}, "userType": "Contractor",
               "emails": [{"value": "jane.doe@example.com", "type": "other"}]}),
        json!({"userName": "zed@example.net", "name": {"familyName": "Zed"},
               "emails": [{"value": "zed@example.net", "type": "work"}]}),
    ];
    let mut ids = std::collections::HashMap::new();
    for mut p in people {
        p["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
        let name = p["userName"].as_str().unwrap().to_owned();
        ids.insert(name, app.create_user(p).await);
    }
    ids
}

async fn names(app: &TestApp, filter: &str) -> Vec<String> {
    let (status, body) = app
        .get(&format!("/Users?filter={}", urlencode(filter)))
        .await;
    assert_eq!(status, 200, "{filter}: {body}");
    let mut out: Vec<String> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    assert_eq!(
        body["totalResults"].as_u64().unwrap() as usize,
        out.len(),
        "{filter}"
    );
    out
}

fn v(list: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

#[tokio::test]
async fn every_operator_and_combination_runs_in_the_database() {
    let app = spawn_app().await;
    fixture(&app).await;
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "userName eq \"BJENSEN@example.com\"",
            vec!["bjensen@example.com"],
        ),
        (
            "userName ne \"bjensen@example.com\"",
            vec![
                "jsmith@example.com",
                "omalley@example.org",
                "Jane.Doe@example.com",
                "zed@example.net",
            ],
        ),
        (
            "name.familyName co \"O'Malley\"",
            vec!["omalley@example.org"],
        ),
        (
            "userName sw \"J\"",
            vec!["jsmith@example.com", "Jane.Doe@example.com"],
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"j\"",
            vec!["jsmith@example.com", "Jane.Doe@example.com"],
        ),
        ("userName ew \".ORG\"", vec!["omalley@example.org"]),
        (
            "title pr",
            vec!["bjensen@example.com", "omalley@example.org"],
        ),
        (
            "title pr and userType eq \"Employee\"",
            vec!["bjensen@example.com", "omalley@example.org"],
        ),
        (
            "title pr or userType eq \"Intern\"",
            vec![
                "bjensen@example.com",
                "omalley@example.org",
                "jsmith@example.com",
            ],
        ),
        (
            "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
            vec!["bjensen@example.com", "omalley@example.org"],
        ),
        (
            "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
            vec!["zed@example.net"],
        ),
        (
            "userType eq \"Employee\" and (emails.type eq \"work\")",
            vec!["bjensen@example.com", "omalley@example.org"],
        ),
        (
            "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]",
            vec!["bjensen@example.com"],
        ),
        (
            "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value co \"@foo.com\"]",
            vec![
                "bjensen@example.com",
                "jsmith@example.com",
                "omalley@example.org",
            ],
        ),
        (
            "emails[type eq \"work\"].value eq \"PAT@example.org\"",
            vec!["omalley@example.org"],
        ),
        ("externalId eq \"e3\"", vec!["omalley@example.org"]),
        ("externalId eq \"E3\"", vec![]),
        (
            "externalId sw \"E\"",
            vec!["bjensen@example.com", "jsmith@example.com"],
        ),
        ("active eq false", vec!["jsmith@example.com"]),
        (
            "active ne false",
            vec![
                "bjensen@example.com",
                "omalley@example.org",
                "Jane.Doe@example.com",
                "zed@example.net",
            ],
        ),
        (
            "title eq null",
            vec![
                "jsmith@example.com",
                "Jane.Doe@example.com",
                "zed@example.net",
            ],
        ),
        (
            "not (title pr)",
            vec![
                "jsmith@example.com",
                "Jane.Doe@example.com",
                "zed@example.net",
            ],
        ),
        (
            "not (title eq \"Engineer\")",
            vec![
                "bjensen@example.com",
                "jsmith@example.com",
                "Jane.Doe@example.com",
                "zed@example.net",
            ],
        ),
        (
            "displayName gt \"Jane Doe\"",
            vec!["jsmith@example.com", "omalley@example.org"],
        ),
        (
            "displayName ge \"jane doe\"",
            vec![
                "Jane.Doe@example.com",
                "jsmith@example.com",
                "omalley@example.org",
            ],
        ),
        ("displayName lt \"Jane Doe\"", vec!["bjensen@example.com"]),
        (
            "displayName le \"JANE DOE\"",
            vec!["bjensen@example.com", "Jane.Doe@example.com"],
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"tours\"",
            vec!["bjensen@example.com"],
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr",
            vec!["bjensen@example.com"],
        ),
        (
            "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"",
            vec!["bjensen@example.com", "omalley@example.org"],
        ),
        ("emails.primary eq true", vec!["bjensen@example.com"]),
        (
            "userName eq \"zed@example.net\" or userName eq \"jsmith@example.com\" and active eq true",
            vec!["zed@example.net"],
        ),
        (
            "(userName eq \"zed@example.net\" or userName eq \"jsmith@example.com\") and active eq true",
            vec!["zed@example.net"],
        ),
        ("USERNAME EQ \"zed@example.net\"", vec!["zed@example.net"]),
        (
            "meta.resourceType eq \"User\" and userName eq \"zed@example.net\"",
            vec!["zed@example.net"],
        ),
        ("userName co \"%\"", vec![]),
        ("userName co \"_\"", vec![]),
        ("displayName eq \"' OR 1=1 --\"", vec![]),
    ];
    for (filter, want) in cases {
        assert_eq!(names(&app, filter).await, v(&want), "{filter}");
    }
}

#[tokio::test]
async fn meta_times_compare() {
    let app = spawn_app().await;
    app.create_user(user("early@example.com")).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mid = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.create_user(user("late@example.com")).await;
    assert_eq!(
        names(&app, &format!("meta.created gt \"{mid}\"")).await,
        v(&["late@example.com"])
    );
    assert_eq!(
        names(&app, &format!("meta.lastModified lt \"{mid}\"")).await,
        v(&["early@example.com"])
    );
    assert_eq!(
        names(&app, "meta.created ge \"2000-01-01T00:00:00Z\"")
            .await
            .len(),
        2
    );
    let (status, body) = app
        .get(&format!(
            "/Users?filter={}",
            urlencode("meta.created gt \"yesterday\"")
        ))
        .await;
    assert_scim_error(status, &body, 400, Some("invalidFilter"));
}

#[tokio::test]
async fn bad_filters_say_where() {
    let app = spawn_app().await;
    for (filter, fragment) in [
        ("userName eq", "position"),
        ("userName eq \"x\" and", "position"),
        ("nosuch eq \"x\"", "unknown attribute"),
        ("active eq \"yes\"", "boolean"),
        ("userName gt 5", "string"),
        ("emails[type eq \"work\"", "position"),
    ] {
        let (status, body) = app
            .get(&format!("/Users?filter={}", urlencode(filter)))
            .await;
        assert_scim_error(status, &body, 400, Some("invalidFilter"));
        assert!(
            body["detail"].as_str().unwrap().contains(fragment),
            "{filter}: {body}"
        );
    }
    let long = format!("userName eq \"{}\"", "x".repeat(5000));
    let (status, body) = app
        .get(&format!("/Users?filter={}", urlencode(&long)))
        .await;
    assert_scim_error(status, &body, 400, Some("invalidFilter"));
    let deep = format!("{}userName pr{}", "(".repeat(40), ")".repeat(40));
    let (status, body) = app
        .get(&format!("/Users?filter={}", urlencode(&deep)))
        .await;
    assert_scim_error(status, &body, 400, Some("invalidFilter"));
}

#[tokio::test]
async fn sort_is_stable_and_both_ways() {
    let app = spawn_app().await;
    fixture(&app).await;
    let (_, body) = app.get("/Users?sortBy=userName").await;
    let got: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(
        got,
        vec![
            "bjensen@example.com",
            "Jane.Doe@example.com",
            "jsmith@example.com",
            "omalley@example.org",
            "zed@example.net"
        ]
    );
    let (_, body) = app
        .get("/Users?sortBy=name.familyName&sortOrder=descending")
        .await;
    let got: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"]["familyName"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec!["Zed", "Smith", "O'Malley", "Jensen", "Doe"]);
    let (status, body) = app.get("/Users?sortBy=emails").await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    let (status, body) = app.get("/Users?sortOrder=sideways").await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
}

#[tokio::test]
async fn index_paging_never_duplicates_or_skips() {
    let app = spawn_app().await;
    for i in 0..23 {
        let mut u = user(&format!("page{i:02}@example.com"));
        u["displayName"] = json!(if i % 2 == 0 { "Same" } else { "Other" });
        app.create_user(u).await;
    }
    let mut seen = vec![];
    let mut start = 1;
    loop {
        let (_, body) = app
            .get(&format!(
                "/Users?sortBy=displayName&startIndex={start}&count=5"
            ))
            .await;
        assert_eq!(body["totalResults"], 23);
        let page = body["Resources"].as_array().unwrap();
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|u| u["id"].as_str().unwrap().to_owned()));
        start += 5;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), 23);
    assert_eq!(unique.len(), 23);
}

#[tokio::test]
async fn cursor_paging_walks_everything_once() {
    let app = spawn_app().await;
    for i in 0..23 {
        let mut u = user(&format!("cur{i:02}@example.com"));
        u["displayName"] = json!(format!("D{}", i % 4));
        app.create_user(u).await;
    }
    for query in [
        "",
        "&sortBy=displayName",
        "&sortBy=userName&sortOrder=descending",
        "&filter=userName%20sw%20%22cur1%22",
    ] {
        let (_, first) = app.get(&format!("/Users?cursor=&count=5{query}")).await;
        // Cursor pages leave totalResults out (RFC 9865 allows it); an
        // index query with count=0 gives it.
        assert!(first.get("totalResults").is_none());
        assert!(first.get("startIndex").is_none());
        let (_, counted) = app.get(&format!("/Users?count=0{query}")).await;
        let expected = counted["totalResults"].as_u64().unwrap() as usize;
        let mut seen: Vec<String> = vec![];
        let mut page = first;
        loop {
            seen.extend(
                page["Resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["id"].as_str().unwrap().to_owned()),
            );
            let Some(next) = page
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                break;
            };
            let (status, body) = app
                .get(&format!("/Users?cursor={next}&count=5{query}"))
                .await;
            assert_eq!(status, 200, "{body}");
            page = body;
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(seen.len(), expected, "{query}");
        assert_eq!(unique.len(), expected, "{query}");
    }
    // A cursor is bound to its query.
    let (_, first) = app.get("/Users?cursor=&count=5&sortBy=displayName").await;
    let next = first["nextCursor"].as_str().unwrap();
    let (status, body) = app.get(&format!("/Users?cursor={next}&count=5")).await;
    assert_scim_error(status, &body, 400, Some("invalidCursor"));
    let (status, body) = app.get("/Users?cursor=garbage").await;
    assert_scim_error(status, &body, 400, Some("invalidCursor"));
    let (status, body) = app.get("/Users?cursor=&startIndex=2").await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
    let (status, body) = app.get("/Users?cursor=&sortBy=active").await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
}

#[tokio::test]
async fn server_maximum_pages_instead_of_failing() {
    let app = spawn_app_with(|s| s.max_results = 3).await;
    for i in 0..5 {
        app.create_user(user(&format!("max{i}@example.com"))).await;
    }
    let (status, body) = app.get("/Users?count=100").await;
    assert_eq!(status, 200);
    assert_eq!(body["totalResults"], 5);
    assert_eq!(body["itemsPerPage"], 3);
    let (_, spc) = app.get("/ServiceProviderConfig").await;
    assert_eq!(spc["filter"]["maxResults"], 3);
    assert_eq!(spc["pagination"]["maxPageSize"], 3);
    assert_eq!(spc["pagination"]["cursor"], true);
}

#[tokio::test]
async fn search_endpoints_take_the_query_in_the_body() {
    let app = spawn_app().await;
    fixture(&app).await;
    let (status, body) = app
        .post(
            "/Users/.search",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "attributes": ["displayName", "userName"],
                "filter": "displayName sw \"j\"",
                "sortBy": "userName",
                "startIndex": 1,
                "count": 10,
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 2);
    let first = &body["Resources"][0];
    assert_eq!(first["userName"], "Jane.Doe@example.com");
    assert!(first.get("emails").is_none());
    assert!(first.get("id").is_some());

    let u = app.create_user(user("member@example.com")).await;
    let (status, _) = app
        .post("/Groups", json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Jensen fans", "members": [{"value": u}]}))
        .await;
    assert_eq!(status, 201);
    let (status, body) = app
        .post(
            "/Groups/.search",
            json!({"filter": "displayName co \"fans\"", "excludedAttributes": ["members"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 1);
    assert!(body["Resources"][0].get("members").is_none());

    // Root search: across types; attributes one type lacks match nothing there.
    let (status, body) = app
        .post("/.search", json!({"filter": "displayName co \"jensen\""}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["totalResults"], 2);
    let types: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["User", "Group"]);
    assert_eq!(body["Resources"][1]["members"][0]["value"], u);
    let (_, body) = app
        .post(
            "/.search",
            json!({"filter": "userName sw \"b\"", "count": 1}),
        )
        .await;
    assert_eq!(body["totalResults"], 1);
    let (_, body) = app
        .post("/.search", json!({"startIndex": 7, "count": 1}))
        .await;
    assert_eq!(body["totalResults"], 7);
    assert_eq!(body["Resources"][0]["meta"]["resourceType"], "Group");
    let (status, body) = app.post("/.search", json!({"filter": "nosuch eq 1"})).await;
    assert_scim_error(status, &body, 400, Some("invalidFilter"));
    let (status, body) = app
        .post("/Users/.search", json!({"schemas": ["urn:wrong"]}))
        .await;
    assert_scim_error(status, &body, 400, Some("invalidValue"));
}

#[tokio::test]
async fn group_filters_sorting_and_cursor() {
    let app = spawn_app().await;
    let u = app.create_user(user("gm@example.com")).await;
    for name in ["Alpha", "beta", "Gamma"] {
        let members: Vec<Value> = if name == "beta" {
            vec![json!({"value": u})]
        } else {
            vec![]
        };
        app.post(
            "/Groups",
            json!({"displayName": name, "members": members, "externalId": format!("x-{name}")}),
        )
        .await;
    }
    let (_, body) = app
        .get(&format!(
            "/Groups?filter={}",
            urlencode(&format!("members[value eq \"{u}\"]"))
        ))
        .await;
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["displayName"], "beta");
    let (_, body) = app
        .get(&format!(
            "/Groups?filter={}",
            urlencode(&format!("members.value eq \"{u}\""))
        ))
        .await;
    assert_eq!(body["totalResults"], 1);
    let (_, body) = app
        .get("/Groups?sortBy=displayName&sortOrder=descending&excludedAttributes=members")
        .await;
    let got: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(got, vec!["Gamma", "beta", "Alpha"]);
    let (_, p1) = app.get("/Groups?cursor=&count=2&sortBy=displayName").await;
    assert_eq!(p1["Resources"].as_array().unwrap().len(), 2);
    let next = p1["nextCursor"].as_str().unwrap();
    let (_, p2) = app
        .get(&format!("/Groups?cursor={next}&count=2&sortBy=displayName"))
        .await;
    assert_eq!(p2["Resources"][0]["displayName"], "Gamma");
    assert!(p2.get("nextCursor").is_none());
    // The user's groups attribute is filterable.
    let (_, body) = app
        .get(&format!(
            "/Users?filter={}",
            urlencode("groups.display eq \"BETA\"")
        ))
        .await;
    assert_eq!(body["totalResults"], 1);
}
