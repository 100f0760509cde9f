//! Tenant isolation: every route with another directory's (or another
//! organization's) credentials is a 404 that shows nothing, and the
//! route table here is kept in step with `src/http`.

use super::*;

/// Every route under `/scim/v2/directories/{directory_id}` with its
/// methods (`*`: any method). `routes_of_src_http_are_all_in_the_matrix`
/// keeps it in step with `src/http/mod.rs`.
const SCIM_ROUTES: &[(&str, &[&str])] = &[
    ("/ServiceProviderConfig", &["GET"]),
    ("/ResourceTypes", &["GET"]),
    ("/ResourceTypes/{id}", &["GET"]),
    ("/Schemas", &["GET"]),
    ("/Schemas/{id}", &["GET"]),
    ("/Users", &["GET", "POST"]),
    ("/Users/.search", &["POST"]),
    ("/Users/{id}", &["GET", "PUT", "PATCH", "DELETE"]),
    ("/Groups", &["GET", "POST"]),
    ("/Groups/.search", &["POST"]),
    ("/Groups/{id}", &["GET", "PUT", "PATCH", "DELETE"]),
    ("/Me", &["*"]),
    ("/Me/{rest:.*}", &["*"]),
    ("/Bulk", &["POST"]),
    ("/.search", &["POST"]),
];

/// Routes outside any directory or organization: they hold no tenant's data.
const UNSCOPED_ROUTES: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/oauth/token",
    "/openapi.json",
];

fn methods_of(route: &[&str]) -> Vec<Method> {
    if route == ["*"] {
        vec![
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ]
    } else {
        route
            .iter()
            .map(|m| Method::from_bytes(m.as_bytes()).unwrap())
            .collect()
    }
}

/// A request to `route` of `target` that would succeed with its own token.
fn request_for(target: &Dir, route: &str, method: &Method) -> (String, Option<Value>) {
    let path = match route {
        "/Users/{id}" => format!("/Users/{}", target.user_id),
        "/Groups/{id}" => format!("/Groups/{}", target.group_id),
        "/ResourceTypes/{id}" => "/ResourceTypes/User".into(),
        "/Schemas/{id}" => format!("/Schemas/{USER_SCHEMA}"),
        "/Me/{rest:.*}" => "/Me/anything".into(),
        other => {
            assert!(!other.contains('{'), "no request for {other}: add one");
            other.to_owned()
        }
    };
    let body = match (route, method.as_str()) {
        (_, "GET" | "DELETE") => None,
        ("/Users", _) => Some(user(&format!("intruder.{}@evil.example", Uuid::new_v4()))),
        ("/Users/{id}", "PUT") => Some(user(&target.user_name)),
        ("/Groups", _) => Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Intruders"})),
        ("/Groups/{id}", "PUT") => Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "Taken"})),
        (_, "PATCH") => Some(replace("externalId", json!("owned"))),
        ("/Bulk", _) => Some(json!({"schemas": [BULK_REQUEST], "Operations": [
            {"method": "DELETE", "path": format!("/Users/{}", target.user_id)}]})),
        (p, _) if p.ends_with(".search") => Some(json!({"schemas": [SEARCH_REQUEST]})),
        _ => Some(json!({})),
    };
    (path, body)
}

/// Two organizations with two directories each, plus `default`; each
/// with a static token and an OAuth access token.
async fn tenants(app: &TestApp) -> Vec<Dir> {
    let mut dirs = vec![
        default_directory(app).await,
        directory(app, "acme", "okta").await,
        directory(app, "acme", "entra").await,
        directory(app, "globex", "okta").await,
        directory(app, "globex", "entra").await,
    ];
    for d in &mut dirs {
        d.access_token = access_token(app, d.id).await;
        let r = raw(
            Method::GET,
            &format!("{}/Users", d.base),
            Some(&d.access_token),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    dirs
}

/// An OAuth client of `directory` and an access token it obtained.
async fn access_token(app: &TestApp, directory: Uuid) -> String {
    let client = app
        .cli_oauth(&[
            "oauth-client",
            "create",
            "--directory",
            &directory.to_string(),
        ])
        .await;
    let res = crate::helpers::http_client()
        .post(format!("{}/oauth/token", app.address))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn snapshots(dirs: &[Dir]) -> Vec<Value> {
    let mut out = vec![];
    for d in dirs {
        out.push(d.snapshot().await);
    }
    out
}

/// Nothing of `d` shows in `body`.
fn assert_no_data_of(d: &Dir, body: &Value, case: &str) {
    let text = body.to_string();
    for secret in [&d.user_id, &d.group_id] {
        assert!(!text.contains(secret.as_str()), "{case}: {text}");
    }
    assert_no_names_of(d, body, case);
}

/// Nothing `d` stores shows in `body` (its ids may: the client sent them).
fn assert_no_names_of(d: &Dir, body: &Value, case: &str) {
    let text = body.to_string();
    for secret in [&d.user_name, &format!("Engineering {}", d.name)] {
        assert!(!text.contains(secret.as_str()), "{case}: {text}");
    }
}

#[tokio::test]
async fn every_route_with_another_directorys_token_is_404_and_shows_nothing() {
    let app = spawn_app().await;
    let dirs = tenants(&app).await;
    let before = snapshots(&dirs).await;
    let rows_before = db_rows(&app).await;
    let mut tried = 0;
    for target in &dirs {
        for (route, methods) in SCIM_ROUTES {
            for method in methods_of(methods) {
                let (path, body) = request_for(target, route, &method);
                let url = format!("{}{path}", target.base);
                let body = body.map(|b| b.to_string().into_bytes());
                for other in dirs.iter().filter(|d| d.id != target.id) {
                    for (token, kind) in [
                        (&other.token, "token"),
                        (&other.access_token, "OAuth token"),
                    ] {
                        let r = raw(
                            method.clone(),
                            &url,
                            Some(token),
                            Some("application/scim+json"),
                            body.clone(),
                        )
                        .await;
                        let case = format!(
                            "{method} {} {path} with {}'s {kind}",
                            target.name, other.name
                        );
                        assert_scim_reply(&case, &r, 404, None);
                        assert_no_data_of(target, &r.body, &case);
                        tried += 1;
                    }
                }
                for (token, why) in [
                    (Some("scim_not-a-token"), "an unknown token"),
                    (
                        Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
                        "an unsigned JWT",
                    ),
                    (None, "no token"),
                ] {
                    let r = raw(
                        method.clone(),
                        &url,
                        token,
                        Some("application/scim+json"),
                        body.clone(),
                    )
                    .await;
                    let case = format!("{method} {} {path} with {why}", target.name);
                    assert_scim_reply(&case, &r, 401, None);
                    assert_no_data_of(target, &r.body, &case);
                }
            }
        }
    }
    let requests: usize = SCIM_ROUTES.iter().map(|(_, m)| methods_of(m).len()).sum();
    assert_eq!(tried, 5 * 4 * 2 * requests);
    assert_eq!(snapshots(&dirs).await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn foreign_ids_in_paths_filters_and_members_find_nothing() {
    let app = spawn_app().await;
    let dirs = tenants(&app).await;
    let before = snapshots(&dirs).await;
    let rows_before = db_rows(&app).await;
    for a in &dirs {
        for b in dirs.iter().filter(|d| d.id != a.id) {
            // B's ids under A's URL with A's token.
            for (path, kind) in [
                (format!("/Users/{}", b.user_id), "Users"),
                (format!("/Groups/{}", b.group_id), "Groups"),
                (format!("/Users/{}", b.group_id), "Users"),
                (format!("/Groups/{}", b.user_id), "Groups"),
            ] {
                for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
                    let route = format!("/{kind}/{{id}}");
                    let (_, body) = request_for(b, &route, &method);
                    let r = a.send(method.clone(), &path, body).await;
                    let case = format!("{method} {path} of {} in {}", b.name, a.name);
                    assert_scim_reply(&case, &r, 404, None);
                    assert_no_names_of(b, &r.body, &case);
                }
            }
            // B's ids and names in A's filters.
            let filters = [
                ("/Users", format!("id eq \"{}\"", b.user_id)),
                ("/Users", format!("userName eq \"{}\"", b.user_name)),
                ("/Users", format!("emails.value eq \"{}\"", b.user_name)),
                ("/Users", format!("groups.value eq \"{}\"", b.group_id)),
                ("/Groups", format!("id eq \"{}\"", b.group_id)),
                ("/Groups", format!("members.value eq \"{}\"", b.user_id)),
                (
                    "/Groups",
                    format!("displayName eq \"Engineering {}\"", b.name),
                ),
            ];
            for (resource, filter) in &filters {
                let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
                let body = json!({"schemas": [SEARCH_REQUEST], "filter": filter});
                for (method, path, body) in [
                    (Method::GET, format!("{resource}?filter={q}"), None),
                    (
                        Method::POST,
                        format!("{resource}/.search"),
                        Some(body.clone()),
                    ),
                    (Method::POST, "/.search".into(), Some(body)),
                ] {
                    let r = a.send(method.clone(), &path, body).await;
                    let case = format!("{method} {path} {filter} in {}", a.name);
                    assert_eq!(r.status, 200, "{case}: {}", r.body);
                    assert_eq!(r.body["totalResults"], 0, "{case}: {}", r.body);
                    assert_no_data_of(b, &r.body, &case);
                }
            }
            // B's user as a member of A's groups.
            let member = json!([{"value": b.user_id}]);
            let g = format!("/Groups/{}", a.group_id);
            let attempts = [
                (
                    Method::POST,
                    "/Groups".to_owned(),
                    json!({"schemas": [GROUP_SCHEMA], "displayName": "Mixed", "members": member}),
                ),
                (
                    Method::PUT,
                    g.clone(),
                    json!({"schemas": [GROUP_SCHEMA], "displayName": format!("Engineering {}", a.name),
                        "members": [{"value": a.user_id}, {"value": b.user_id}]}),
                ),
                (
                    Method::PATCH,
                    g.clone(),
                    patch_body(json!([{"op": "add", "path": "members", "value": member}])),
                ),
                (
                    Method::PATCH,
                    g.clone(),
                    patch_body(json!([{"op": "replace", "path": "members", "value": member}])),
                ),
                (
                    Method::PATCH,
                    g.clone(),
                    patch_body(json!([{"op": "add", "value": {"members": member}}])),
                ),
            ];
            for (method, path, body) in attempts {
                let r = a.send(method.clone(), &path, Some(body)).await;
                let case = format!("{method} {path} with {}'s user in {}", b.name, a.name);
                assert_scim_reply(&case, &r, 400, Some("invalidValue"));
            }
            let bulk = json!({"schemas": [BULK_REQUEST], "Operations": [
                {"method": "POST", "path": "/Groups", "bulkId": "g",
                 "data": {"schemas": [GROUP_SCHEMA], "displayName": "Bulk mixed", "members": member}},
                {"method": "PATCH", "path": g,
                 "data": patch_body(json!([{"op": "add", "path": "members", "value": member}]))},
                {"method": "DELETE", "path": format!("/Users/{}", b.user_id)},
            ]});
            let r = a.send(Method::POST, "/Bulk", Some(bulk)).await;
            assert_eq!(r.status, 200, "{}", r.body);
            let statuses: Vec<&str> = r.body["Operations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["status"].as_str().unwrap())
                .collect();
            assert_eq!(statuses, ["400", "400", "404"], "{}", r.body);
        }
    }
    assert_eq!(snapshots(&dirs).await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn every_admin_route_with_another_organizations_key_is_404() {
    use scim_server::http::admin::ROUTES;
    let app = spawn_app().await;
    let orgs = [
        (admin(&app, "acme").await, "acme.example"),
        (admin(&app, "globex").await, "globex.example"),
    ];
    for (a, domain) in &orgs {
        let (status, body) = a.post("/domains", json!({"name": domain})).await;
        assert_eq!(status, 201, "{body}");
    }
    let listing = || async {
        let mut out = vec![];
        for (a, _) in &orgs {
            let (status, body) = a.get("/domains").await;
            assert_eq!(status, 200, "{body}");
            out.push(body);
        }
        out
    };
    let before = listing().await;
    assert!(!ROUTES.is_empty());
    for (target, domain) in &orgs {
        for (other, other_domain) in orgs.iter().filter(|(o, _)| o.org_id != target.org_id) {
            for (method, route) in ROUTES {
                let fill = |d: &str| {
                    route
                        .split('/')
                        .map(|seg| match seg {
                            "{domain}" => d.to_owned(),
                            s if s.starts_with('{') => Uuid::new_v4().to_string(),
                            s => s.to_owned(),
                        })
                        .collect::<Vec<_>>()
                        .join("/")
                };
                let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let body = json!({"name": "intruder.example", "verification_token": "x"});
                // The other organization's key on this organization's URL.
                let path = fill(domain);
                let r = raw(
                    method.clone(),
                    &format!("{}{path}", target.base),
                    Some(&other.key),
                    Some("application/json"),
                    Some(body.to_string().into_bytes()),
                )
                .await;
                let (status, res) = (r.status, r.body);
                assert_admin_error(status, &res, 404, "not_found");
                assert!(!res.to_string().contains(domain), "{res}");
                // This organization's key naming the other's resources.
                if route.contains("{domain}") {
                    let path = fill(other_domain);
                    let (status, res) = target.send(method.clone(), &path, Some(body)).await;
                    assert_admin_error(status, &res, 404, "not_found");
                }
                let (status, res) = raw_admin(&target.base, method, &path, "scimadm_nope").await;
                assert_admin_error(status, &res, 401, "unauthorized");
            }
        }
    }
    assert_eq!(listing().await, before);
}

async fn raw_admin(base: &str, method: Method, path: &str, key: &str) -> (u16, Value) {
    let r = raw(
        method,
        &format!("{base}{path}"),
        Some(key),
        Some("application/json"),
        Some(b"{}".to_vec()),
    )
    .await;
    (r.status, r.body)
}

/// The `"..."` string literals that follow `marker` in `text`.
fn literals_after<'a>(text: &'a str, marker: &str) -> Vec<(usize, &'a str)> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            let end = rest.find('"')?;
            Some((at, &rest[..end]))
        })
        .collect()
}

/// Methods a `resource(...)` registration chain names, up to the next
/// registration.
fn methods_in(chain: &str) -> BTreeSet<String> {
    if chain.contains(".to(") {
        return BTreeSet::from(["*".to_owned()]);
    }
    ["get", "post", "put", "patch", "delete", "head"]
        .iter()
        .filter(|m| chain.contains(&format!(".{m}(")))
        .map(|m| m.to_uppercase())
        .collect()
}

#[test]
fn routes_of_src_http_are_all_in_the_matrix() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/src/http/mod.rs")).unwrap();
    let scope_at = text
        .find("scope(\"/scim/v2/directories/{directory_id}\")")
        .expect("the directory scope");
    let mut starts: Vec<usize> = literals_after(&text, "resource(\"")
        .iter()
        .map(|(at, _)| *at)
        .collect();
    starts.push(text.len());
    let mut scoped = BTreeSet::new();
    let mut unscoped = BTreeSet::new();
    for (i, (at, path)) in literals_after(&text, "resource(\"").into_iter().enumerate() {
        let chain = &text[at..starts[i + 1]];
        if at > scope_at {
            for m in methods_in(chain) {
                scoped.insert((path.to_owned(), m));
            }
        } else {
            unscoped.insert(path.to_owned());
        }
    }
    for (_, path) in literals_after(&text, ".route(\"") {
        assert!(text.find(path).unwrap() < scope_at, "{path}");
        unscoped.insert(path.to_owned());
    }
    let matrix: BTreeSet<(String, String)> = SCIM_ROUTES
        .iter()
        .flat_map(|(p, ms)| ms.iter().map(|m| (p.to_string(), m.to_string())))
        .collect();
    assert_eq!(scoped, matrix, "src/http/mod.rs routes vs SCIM_ROUTES");

    // The admin API: every route goes through `admin_routes!`, whose
    // `ROUTES` table the admin isolation test walks; the only other
    // resources are unscoped.
    let admin_dir = format!("{root}/src/http/admin");
    let mut declared = BTreeSet::new();
    for entry in std::fs::read_dir(&admin_dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (_, p) in literals_after(&text, "resource(\"") {
            unscoped.insert(p.to_owned());
        }
        assert!(
            !text.contains(".route(\""),
            "{}: register admin routes in admin_routes!",
            path.display()
        );
        if let Some(at) = text.find("admin_routes! {") {
            let block = &text[at..];
            let block = &block[..block.find("\n}").unwrap()];
            // Entries may span lines: `"path" => { method: handler, ... },`.
            let mut rest = block;
            while let Some(arrow) = rest.find("=>") {
                let before = &rest[..arrow];
                let path = before
                    .trim_end()
                    .trim_end_matches('"')
                    .rsplit('"')
                    .next()
                    .unwrap_or_default();
                let after = &rest[arrow + 2..];
                let open = after.find('{').unwrap();
                let close = after.find('}').unwrap();
                for m in after[open + 1..close].split(',') {
                    if let Some((m, _)) = m.trim().split_once(':') {
                        declared.insert((m.trim().to_owned(), path.to_owned()));
                    }
                }
                rest = &after[close + 1..];
            }
        }
    }
    let table: BTreeSet<(String, String)> = scim_server::http::admin::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert!(!declared.is_empty());
    assert_eq!(declared, table, "admin_routes! vs admin::ROUTES");
    let known: BTreeSet<String> = UNSCOPED_ROUTES.iter().map(|s| s.to_string()).collect();
    assert_eq!(unscoped, known, "routes outside any tenant");
}
