//! A bad-input matrix over every SCIM write endpoint, and oversized,
//! chunked, non-UTF-8, SQL-laden and hostile requests: each a 4xx SCIM
//! error that changes nothing.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    UserWrite,
    UserPatch,
    GroupWrite,
    GroupPatch,
    Bulk,
    Search,
}

/// Every SCIM endpoint that takes a body.
fn write_endpoints(dir: &Dir) -> Vec<(Method, String, Kind)> {
    let u = format!("/Users/{}", dir.user_id);
    let g = format!("/Groups/{}", dir.group_id);
    vec![
        (Method::POST, "/Users".into(), Kind::UserWrite),
        (Method::PUT, u.clone(), Kind::UserWrite),
        (Method::PATCH, u, Kind::UserPatch),
        (Method::POST, "/Groups".into(), Kind::GroupWrite),
        (Method::PUT, g.clone(), Kind::GroupWrite),
        (Method::PATCH, g, Kind::GroupPatch),
        (Method::POST, "/Bulk".into(), Kind::Bulk),
        (Method::POST, "/Users/.search".into(), Kind::Search),
        (Method::POST, "/Groups/.search".into(), Kind::Search),
        (Method::POST, "/.search".into(), Kind::Search),
    ]
}

/// A body the endpoint accepts (for the cases where only the framing is wrong).
fn valid_body(kind: Kind) -> Value {
    match kind {
        Kind::UserWrite => user("valid.body@acme.example"),
        Kind::UserPatch | Kind::GroupPatch => json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "externalId", "value": "x"}],
        }),
        Kind::GroupWrite => json!({"schemas": [GROUP_SCHEMA], "displayName": "Valid body"}),
        Kind::Bulk => json!({
            "schemas": [BULK_REQUEST],
            "Operations": [{"method": "POST", "path": "/Users", "bulkId": "a",
                "data": user("bulk.valid@acme.example")}],
        }),
        Kind::Search => json!({"schemas": [SEARCH_REQUEST], "filter": "userName pr"}),
    }
}

struct Case {
    name: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    scim_type: Option<&'static str>,
}

fn case(name: impl Into<String>, body: Value, scim_type: &'static str) -> Case {
    Case {
        name: name.into(),
        content_type: Some("application/scim+json"),
        body: body.to_string().into_bytes(),
        status: 400,
        scim_type: Some(scim_type),
    }
}

/// Framing errors: the same for every endpoint.
fn framing_cases(kind: Kind) -> Vec<Case> {
    let valid = valid_body(kind).to_string().into_bytes();
    let raw_case = |name: &str, ct: Option<&'static str>, body: Vec<u8>, status, t| Case {
        name: name.into(),
        content_type: ct,
        body,
        status,
        scim_type: t,
    };
    let scim = Some("application/scim+json");
    let mut invalid_utf8 = br#"{"schemas": [""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    invalid_utf8.extend_from_slice(br#""], "userName": "x"}"#);
    let mut nested_objects = r#"{"a":"#.repeat(10_000);
    nested_objects.push('1');
    nested_objects.push_str(&"}".repeat(10_000));
    vec![
        raw_case(
            "malformed JSON",
            scim,
            br#"{"schemas": ["#.to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "two JSON documents",
            scim,
            b"{} {}".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case("empty body", scim, vec![], 400, Some("invalidSyntax")),
        raw_case(
            "invalid UTF-8",
            scim,
            invalid_utf8,
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "10,000 nested arrays",
            scim,
            nested(10_000),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "10,000 nested objects",
            scim,
            nested_objects.into_bytes(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "a JSON array",
            scim,
            b"[1, 2, 3]".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "a JSON string",
            scim,
            br#""userName""#.to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case(
            "JSON null",
            scim,
            b"null".to_vec(),
            400,
            Some("invalidSyntax"),
        ),
        raw_case("text/plain", Some("text/plain"), valid.clone(), 415, None),
        raw_case(
            "application/xml",
            Some("application/xml"),
            valid.clone(),
            415,
            None,
        ),
        raw_case(
            "form encoded",
            Some("application/x-www-form-urlencoded"),
            b"userName=x".to_vec(),
            415,
            None,
        ),
    ]
}

fn user_with(key: &str, value: Value) -> Value {
    let mut u = user("typed@acme.example");
    u[key] = value;
    u
}

/// Wrong JSON types, missing attributes, unknown schemas, oversize values.
fn user_cases() -> Vec<Case> {
    let mut cases = vec![
        case(
            "userName number",
            user_with("userName", json!(5)),
            "invalidValue",
        ),
        case(
            "userName bool",
            user_with("userName", json!(true)),
            "invalidValue",
        ),
        case(
            "userName object",
            user_with("userName", json!({})),
            "invalidValue",
        ),
        case(
            "userName array",
            user_with("userName", json!(["a"])),
            "invalidValue",
        ),
        case(
            "userName null",
            user_with("userName", Value::Null),
            "invalidValue",
        ),
        case(
            "userName empty",
            user_with("userName", json!("")),
            "invalidValue",
        ),
        case(
            "userName of 100k chars",
            user_with("userName", json!(long(100_000))),
            "invalidValue",
        ),
        case(
            "missing userName",
            json!({"schemas": [USER_SCHEMA], "displayName": "No Name"}),
            "invalidValue",
        ),
        case(
            "active object",
            user_with("active", json!({})),
            "invalidValue",
        ),
        case(
            "active array",
            user_with("active", json!([true])),
            "invalidValue",
        ),
        case(
            "active number",
            user_with("active", json!(1)),
            "invalidValue",
        ),
        case(
            "active maybe",
            user_with("active", json!("maybe")),
            "invalidValue",
        ),
        case(
            "name array",
            user_with("name", json!(["Jane"])),
            "invalidValue",
        ),
        case(
            "name string",
            user_with("name", json!("Jane")),
            "invalidValue",
        ),
        case(
            "name.givenName number",
            user_with("name", json!({"givenName": 5})),
            "invalidValue",
        ),
        case(
            "emails entry a string",
            user_with("emails", json!(["x@acme.example"])),
            "invalidValue",
        ),
        case(
            "emails value number",
            user_with("emails", json!([{"value": 5}])),
            "invalidValue",
        ),
        case(
            "emails value not an address",
            user_with("emails", json!([{"value": "not-an-email"}])),
            "invalidValue",
        ),
        case(
            "emails primary perhaps",
            user_with(
                "emails",
                json!([{"value": "x@acme.example", "primary": "perhaps"}]),
            ),
            "invalidValue",
        ),
        case(
            "5,000 emails",
            user_with(
                "emails",
                Value::Array(
                    (0..5_000)
                        .map(|i| json!({"value": format!("u{i}@acme.example")}))
                        .collect(),
                ),
            ),
            "invalidValue",
        ),
        case(
            "displayName of 100k chars",
            user_with("displayName", json!(long(100_000))),
            "invalidValue",
        ),
        case(
            "enterprise extension array",
            {
                let mut u = user("ext@acme.example");
                u["schemas"] = json!([USER_SCHEMA, ENTERPRISE]);
                u[ENTERPRISE] = json!([{"department": "x"}]);
                u
            },
            "invalidValue",
        ),
        case(
            "enterprise extension string",
            user_with(ENTERPRISE, json!("Tour")),
            "invalidValue",
        ),
        case(
            "enterprise manager number",
            user_with(ENTERPRISE, json!({"manager": 5})),
            "invalidValue",
        ),
        case(
            "enterprise department array",
            user_with(ENTERPRISE, json!({"department": ["x"]})),
            "invalidValue",
        ),
        case(
            "password number",
            user_with("password", json!(5)),
            "invalidValue",
        ),
        case(
            "unknown schema only",
            user_with("schemas", json!(["urn:example:params:scim:schemas:Thing"])),
            "invalidValue",
        ),
        case(
            "enterprise schema only",
            user_with("schemas", json!([ENTERPRISE])),
            "invalidValue",
        ),
        case(
            "Group schema on a User",
            user_with("schemas", json!([GROUP_SCHEMA])),
            "invalidValue",
        ),
        case(
            "schemas a string",
            user_with("schemas", json!(USER_SCHEMA)),
            "invalidValue",
        ),
        case(
            "schemas of numbers",
            user_with("schemas", json!([5])),
            "invalidValue",
        ),
        case(
            "empty schemas",
            user_with("schemas", json!([])),
            "invalidValue",
        ),
    ];
    for attr in [
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "entitlements",
        "roles",
        "x509Certificates",
    ] {
        cases.push(case(
            format!("{attr} as a string"),
            user_with(attr, json!("x@acme.example")),
            "invalidValue",
        ));
        cases.push(case(
            format!("{attr} as a number"),
            user_with(attr, json!(5)),
            "invalidValue",
        ));
    }
    for attr in [
        "externalId",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
    ] {
        cases.push(case(
            format!("{attr} as a number"),
            user_with(attr, json!(5)),
            "invalidValue",
        ));
        cases.push(case(
            format!("{attr} as an object"),
            user_with(attr, json!({"value": "x"})),
            "invalidValue",
        ));
    }
    cases
}

/// PATCH envelopes that are wrong whatever the resource.
fn patch_envelope_cases() -> Vec<Case> {
    vec![
        case(
            "PatchOp: unknown schema",
            json!({"schemas": ["urn:example:Patch"], "Operations": [{"op": "remove", "path": "title"}]}),
            "invalidValue",
        ),
        case(
            "PatchOp: no Operations",
            json!({"schemas": [PATCH_OP]}),
            "invalidSyntax",
        ),
        case(
            "PatchOp: Operations a string",
            json!({"schemas": [PATCH_OP], "Operations": "replace"}),
            "invalidSyntax",
        ),
        case(
            "PatchOp: empty Operations",
            patch_body(json!([])),
            "invalidSyntax",
        ),
        case(
            "PatchOp: an operation that is a string",
            patch_body(json!(["replace"])),
            "invalidSyntax",
        ),
        case(
            "PatchOp: unknown op",
            patch_body(json!([{"op": "frobnicate", "path": "title", "value": "x"}])),
            "invalidSyntax",
        ),
        case(
            "PatchOp: op a number",
            patch_body(json!([{"op": 5, "path": "title", "value": "x"}])),
            "invalidSyntax",
        ),
        case(
            "PatchOp: replace without a value",
            patch_body(json!([{"op": "replace", "path": "externalId"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: path a number",
            patch_body(json!([{"op": "replace", "path": 5, "value": "x"}])),
            "invalidPath",
        ),
        case(
            "PatchOp: unclosed value filter",
            replace("members[value eq", json!("x")),
            "invalidPath",
        ),
        case(
            "PatchOp: path of 100k chars",
            replace(&long(100_000), json!("x")),
            "invalidPath",
        ),
        case(
            "PatchOp: readOnly id",
            replace("id", json!(Uuid::new_v4().to_string())),
            "mutability",
        ),
        case(
            "PatchOp: readOnly meta",
            replace("meta", json!({"version": "W/\"1\""})),
            "mutability",
        ),
        case(
            "PatchOp: readOnly meta.created",
            replace("meta.created", json!("2020-01-01T00:00:00Z")),
            "mutability",
        ),
        case(
            "PatchOp: readOnly meta.lastModified",
            replace("meta.lastModified", json!("2020-01-01T00:00:00Z")),
            "mutability",
        ),
        case(
            "PatchOp: remove readOnly id",
            patch_body(json!([{"op": "remove", "path": "id"}])),
            "mutability",
        ),
    ]
}

fn user_patch_cases() -> Vec<Case> {
    let mut cases = patch_envelope_cases();
    cases.extend([
        case(
            "PatchOp: readOnly groups",
            patch_body(json!([{"op": "add", "path": "groups",
                "value": [{"value": Uuid::new_v4().to_string()}]}])),
            "mutability",
        ),
        case(
            "PatchOp: active object",
            replace("active", json!({})),
            "invalidValue",
        ),
        case(
            "PatchOp: userName number",
            replace("userName", json!(5)),
            "invalidValue",
        ),
        case(
            "PatchOp: emails a string",
            replace("emails", json!("x@acme.example")),
            "invalidValue",
        ),
        case(
            "PatchOp: name an array",
            replace("name", json!(["Jane"])),
            "invalidValue",
        ),
        case(
            "PatchOp: enterprise extension an array",
            replace(ENTERPRISE, json!([{"department": "x"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: remove the required userName",
            patch_body(json!([{"op": "remove", "path": "userName"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: userName of 100k chars",
            replace("userName", json!(long(100_000))),
            "invalidValue",
        ),
        case(
            "PatchOp: 5,000 emails",
            replace(
                "emails",
                Value::Array(
                    (0..5_000)
                        .map(|i| json!({"value": format!("p{i}@acme.example")}))
                        .collect(),
                ),
            ),
            "invalidValue",
        ),
        case(
            "PatchOp: path-less active object",
            patch_body(json!([{"op": "replace", "value": {"active": {}}}])),
            "invalidValue",
        ),
    ]);
    cases
}

fn group_with(key: &str, value: Value) -> Value {
    let mut g = json!({"schemas": [GROUP_SCHEMA], "displayName": "Typed"});
    g[key] = value;
    g
}

fn group_cases() -> Vec<Case> {
    vec![
        case(
            "displayName number",
            group_with("displayName", json!(5)),
            "invalidValue",
        ),
        case(
            "displayName array",
            group_with("displayName", json!(["x"])),
            "invalidValue",
        ),
        case(
            "displayName empty",
            group_with("displayName", json!("")),
            "invalidValue",
        ),
        case(
            "displayName of 100k chars",
            group_with("displayName", json!(long(100_000))),
            "invalidValue",
        ),
        case(
            "missing displayName",
            json!({"schemas": [GROUP_SCHEMA], "externalId": "x"}),
            "invalidValue",
        ),
        case(
            "externalId number",
            group_with("externalId", json!(5)),
            "invalidValue",
        ),
        case(
            "members a string",
            group_with("members", json!("x")),
            "invalidValue",
        ),
        case(
            "members of numbers",
            group_with("members", json!([5])),
            "invalidValue",
        ),
        case(
            "member value number",
            group_with("members", json!([{"value": 5}])),
            "invalidValue",
        ),
        case(
            "member value not a UUID",
            group_with("members", json!([{"value": "../../etc/passwd"}])),
            "invalidValue",
        ),
        case(
            "member unknown",
            group_with("members", json!([{"value": Uuid::new_v4().to_string()}])),
            "invalidValue",
        ),
        case(
            "member without a value",
            group_with("members", json!([{"display": "x"}])),
            "invalidValue",
        ),
        case(
            "member of type Group",
            group_with(
                "members",
                json!([{"value": Uuid::new_v4().to_string(), "type": "Group"}]),
            ),
            "invalidValue",
        ),
        case(
            "5,000 unknown members",
            group_with(
                "members",
                Value::Array(
                    (0..5_000)
                        .map(|_| json!({"value": Uuid::new_v4().to_string()}))
                        .collect(),
                ),
            ),
            "invalidValue",
        ),
        case(
            "unknown schema only",
            group_with("schemas", json!(["urn:example:Thing"])),
            "invalidValue",
        ),
        case(
            "User schema on a Group",
            group_with("schemas", json!([USER_SCHEMA])),
            "invalidValue",
        ),
    ]
}

fn group_patch_cases() -> Vec<Case> {
    let mut cases = patch_envelope_cases();
    cases.extend([
        case(
            "PatchOp: displayName number",
            replace("displayName", json!(5)),
            "invalidValue",
        ),
        case(
            "PatchOp: displayName empty",
            replace("displayName", json!("")),
            "invalidValue",
        ),
        case(
            "PatchOp: remove the required displayName",
            patch_body(json!([{"op": "remove", "path": "displayName"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: members a string",
            patch_body(json!([{"op": "add", "path": "members", "value": "x"}])),
            "invalidValue",
        ),
        case(
            "PatchOp: member not a UUID",
            patch_body(
                json!([{"op": "add", "path": "members", "value": [{"value": "%2e%2e%2f"}]}]),
            ),
            "invalidValue",
        ),
        case(
            "PatchOp: member unknown",
            patch_body(json!([{"op": "add", "path": "members",
                "value": [{"value": Uuid::new_v4().to_string()}]}])),
            "invalidValue",
        ),
    ]);
    cases
}

fn bulk_cases() -> Vec<Case> {
    let op = |o: Value| json!({"schemas": [BULK_REQUEST], "Operations": [o]});
    vec![
        case(
            "Bulk: no Operations",
            json!({"schemas": [BULK_REQUEST]}),
            "invalidSyntax",
        ),
        case(
            "Bulk: Operations a string",
            json!({"schemas": [BULK_REQUEST], "Operations": "POST"}),
            "invalidSyntax",
        ),
        case(
            "Bulk: unknown schema",
            json!({"schemas": ["urn:example:Bulk"], "Operations": []}),
            "invalidValue",
        ),
        case(
            "Bulk: failOnErrors a string",
            json!({"schemas": [BULK_REQUEST], "failOnErrors": "x", "Operations": []}),
            "invalidValue",
        ),
        case(
            "Bulk: failOnErrors zero",
            json!({"schemas": [BULK_REQUEST], "failOnErrors": 0, "Operations": []}),
            "invalidValue",
        ),
        case(
            "Bulk: an operation that is a string",
            op(json!("POST")),
            "invalidSyntax",
        ),
        case(
            "Bulk: unknown method",
            op(json!({"method": "TRACE", "path": "/Users"})),
            "invalidSyntax",
        ),
        case(
            "Bulk: method a number",
            op(json!({"method": 5, "path": "/Users"})),
            "invalidSyntax",
        ),
        case(
            "Bulk: no path",
            op(json!({"method": "DELETE"})),
            "invalidSyntax",
        ),
        case(
            "Bulk: POST without a bulkId",
            op(json!({"method": "POST", "path": "/Users", "data": user("nobulkid@acme.example")})),
            "invalidSyntax",
        ),
    ]
}

fn search_with(key: &str, value: Value) -> Value {
    let mut s = json!({"schemas": [SEARCH_REQUEST]});
    s[key] = value;
    s
}

fn search_cases() -> Vec<Case> {
    vec![
        case(
            "filter a number",
            search_with("filter", json!(5)),
            "invalidFilter",
        ),
        case(
            "filter an object",
            search_with("filter", json!({})),
            "invalidValue",
        ),
        case(
            "filter incomplete",
            search_with("filter", json!("userName eq")),
            "invalidFilter",
        ),
        case(
            "filter with SQL outside quotes",
            search_with("filter", json!("userName eq '' OR 1=1 --")),
            "invalidFilter",
        ),
        case(
            "filter of 100k chars",
            search_with(
                "filter",
                json!(format!("userName eq \"{}\"", long(100_000))),
            ),
            "invalidFilter",
        ),
        case(
            "filter nested 1,000 deep",
            search_with(
                "filter",
                json!(format!(
                    "{}userName pr{}",
                    "(".repeat(1_000),
                    ")".repeat(1_000)
                )),
            ),
            "invalidFilter",
        ),
        case(
            "attributes a number",
            search_with("attributes", json!(5)),
            "invalidValue",
        ),
        case(
            "excludedAttributes of numbers",
            search_with("excludedAttributes", json!([5])),
            "invalidValue",
        ),
        case(
            "count an object",
            search_with("count", json!({})),
            "invalidValue",
        ),
        case(
            "count a word",
            search_with("count", json!("many")),
            "invalidValue",
        ),
        case(
            "startIndex a word",
            search_with("startIndex", json!("first")),
            "invalidValue",
        ),
        case(
            "sortOrder sideways",
            search_with("sortOrder", json!("sideways")),
            "invalidValue",
        ),
        case(
            "unknown schema",
            json!({"schemas": ["urn:example:Search"], "filter": "userName pr"}),
            "invalidValue",
        ),
    ]
}

fn cases_for(kind: Kind) -> Vec<Case> {
    let mut cases = framing_cases(kind);
    cases.extend(match kind {
        Kind::UserWrite => user_cases(),
        Kind::UserPatch => user_patch_cases(),
        Kind::GroupWrite => group_cases(),
        Kind::GroupPatch => group_patch_cases(),
        Kind::Bulk => bulk_cases(),
        Kind::Search => search_cases(),
    });
    cases
}

#[tokio::test]
async fn every_bad_input_to_every_write_endpoint_is_a_4xx_that_changes_nothing() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let mut tried = 0;
    let mut failures = vec![];
    for (method, path, kind) in write_endpoints(&dir) {
        for c in cases_for(kind) {
            let r = raw(
                method.clone(),
                &format!("{}{path}", dir.base),
                Some(&dir.token),
                c.content_type,
                Some(c.body),
            )
            .await;
            let name = format!("{method} {path} [{}]", c.name);
            if let Err(e) = check_scim_reply(&name, &r, c.status, c.scim_type) {
                failures.push(e);
            }
            tried += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(tried > 300, "{tried}");
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn bulk_operations_with_bad_data_fail_alone_and_change_nothing() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let u = format!("/Users/{}", dir.user_id);
    let g = format!("/Groups/{}", dir.group_id);
    let ops = vec![
        json!({"method": "POST", "path": "/Users", "bulkId": "a", "data": user_with("userName", json!(5))}),
        json!({"method": "POST", "path": "/Users", "bulkId": "b", "data": user_with("emails", json!("x"))}),
        json!({"method": "PUT", "path": u, "data": user_with("active", json!({}))}),
        json!({"method": "PATCH", "path": u, "data": replace("id", json!("x"))}),
        json!({"method": "PATCH", "path": u, "data": replace("meta.created", json!("x"))}),
        json!({"method": "POST", "path": "/Groups", "bulkId": "c", "data": group_with("displayName", json!(5))}),
        json!({"method": "PATCH", "path": g, "data": patch_body(json!([{"op": "add", "path": "members", "value": [{"value": "1' OR '1'='1"}]}]))}),
        json!({"method": "DELETE", "path": "/Users/../../etc/passwd"}),
        json!({"method": "DELETE", "path": "/Users/not-a-uuid"}),
        json!({"method": "DELETE", "path": "/Groups/%2e%2e%2f"}),
        json!({"method": "POST", "path": "/Users/.search", "bulkId": "d", "data": {}}),
    ];
    let n = ops.len();
    let r = dir
        .send(
            Method::POST,
            "/Bulk",
            Some(json!({"schemas": [BULK_REQUEST], "Operations": ops})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.body["Operations"].as_array().unwrap();
    assert_eq!(results.len(), n, "{}", r.body);
    for res in results {
        let status: u16 = res["status"].as_str().unwrap().parse().unwrap();
        assert!((400..500).contains(&status), "{res}");
        assert_eq!(res["response"]["schemas"], json!([ERROR_SCHEMA]), "{res}");
        assert!(
            res["response"]["detail"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{res}"
        );
    }
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_on_every_write_endpoint() {
    let app = spawn_app_with(|s| {
        s.max_body_bytes = 4096;
        s.bulk_max_payload_bytes = 8192;
        s.bulk_max_operations = 2;
    })
    .await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    for (method, path, kind) in write_endpoints(&dir) {
        let limit = if kind == Kind::Bulk { 8192 } else { 4096 };
        let mut body = valid_body(kind);
        body["padding"] = json!(long(limit));
        let r = raw(
            method.clone(),
            &format!("{}{path}", dir.base),
            Some(&dir.token),
            Some("application/scim+json"),
            Some(body.to_string().into_bytes()),
        )
        .await;
        assert_scim_reply(&format!("{method} {path}"), &r, 413, Some("tooLarge"));
    }
    let three = json!({"schemas": [BULK_REQUEST], "Operations": [
        {"method": "DELETE", "path": format!("/Users/{}", dir.user_id)},
        {"method": "DELETE", "path": format!("/Groups/{}", dir.group_id)},
        {"method": "DELETE", "path": format!("/Users/{}", dir.user_id)},
    ]});
    let r = dir.send(Method::POST, "/Bulk", Some(three)).await;
    assert_scim_reply("3 bulk operations", &r, 413, Some("tooLarge"));
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

/// Sends `body` in 512-byte chunks with `Transfer-Encoding: chunked` and no
/// Content-Length, so only the limit on the streamed body can stop it.
fn send_chunked(address: &str, path: &str, token: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let host = address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/scim+json\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(512) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(&req);
    let mut out = vec![];
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_get_413_without_a_content_length() {
    let app = spawn_app_with(|s| s.max_body_bytes = 4096).await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let mut body = user("chunked@acme.example");
    body["title"] = json!(long(6_000));
    let body = body.to_string().into_bytes();
    let path = format!("/scim/v2/directories/{}/Users", dir.id);
    let (address, token) = (app.address.clone(), dir.token.clone());
    let res = tokio::task::spawn_blocking(move || send_chunked(&address, &path, &token, &body))
        .await
        .unwrap();
    assert!(res.starts_with("HTTP/1.1 413"), "{res}");
    assert!(res.contains("\"scimType\":\"tooLarge\""), "{res}");
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn invalid_utf8_in_query_strings_and_ids_is_never_a_5xx() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    for path in [
        "/Users?filter=userName%20eq%20%22%FF%FE%22",
        "/Users?filter=%FF",
        "/Groups?filter=displayName%20co%20%22%C3%28%22",
        "/Users?attributes=%FF",
        "/Users?sortBy=%FF",
        "/Users?count=%FF",
        "/Users?cursor=%FF",
    ] {
        let r = dir.send(Method::GET, path, None).await;
        match r.status {
            200 => assert_eq!(r.body["totalResults"], 0, "{path}: {}", r.body),
            400 => assert!(
                r.body["scimType"].is_string() && r.body["detail"].is_string(),
                "{path}: {}",
                r.body
            ),
            other => panic!("{path}: {other} {}", r.body),
        }
    }
    for path in ["/Users/%FF%FE", "/Groups/%C3%28", "/Users/%ED%A0%80"] {
        for method in [Method::GET, Method::PATCH, Method::DELETE] {
            let body = (method == Method::PATCH).then(|| replace("externalId", json!("x")));
            let r = dir.send(method.clone(), path, body).await;
            assert_scim_reply(&format!("{method} {path}"), &r, 404, None);
        }
    }
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn filters_with_sql_metacharacters_match_literally_and_leave_data_intact() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    for name in ["pct%sign", "under_score", "back\\slash", "quote'o"] {
        let r = dir
            .send(
                Method::POST,
                "/Users",
                Some(json!({"schemas": [USER_SCHEMA], "userName": name,
                    "emails": [{"value": format!("{}@acme.example", name.len())}]})),
            )
            .await;
        assert_eq!(r.status, 201, "{name}: {}", r.body);
    }
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let total = before["users"]["totalResults"].as_u64().unwrap();
    assert_eq!(total, 5);

    // (filter, userNames it must match exactly)
    let table: Vec<(&str, Vec<&str>)> = vec![
        (r#"userName eq "' OR 1=1 --""#, vec![]),
        (r#"userName eq "' OR '1'='1""#, vec![]),
        (r#"userName eq "\"; DROP TABLE users; --""#, vec![]),
        (r#"userName eq "\"; DROP TABLE scim_users; --""#, vec![]),
        (r#"userName co "'; DELETE FROM accounts; --""#, vec![]),
        (r#"displayName eq "x' OR 'x'='x""#, vec![]),
        (r#"emails.value co "%""#, vec![]),
        (r#"userName co "%""#, vec!["pct%sign"]),
        (r#"userName co "_""#, vec!["under_score"]),
        (r#"userName sw "%""#, vec![]),
        (r#"userName ew "%""#, vec![]),
        (r#"userName co "\\""#, vec!["back\\slash"]),
        (r#"userName eq "back\\slash""#, vec!["back\\slash"]),
        (r#"userName co "'""#, vec!["quote'o"]),
        (r#"userName eq "quote'o""#, vec!["quote'o"]),
        (r#"userName co "\\%""#, vec![]),
        (r#"userName co "%_""#, vec![]),
        (r#"userName sw "_""#, vec![]),
        (r#"userName co "*""#, vec![]),
    ];
    for (filter, want) in &table {
        let want: BTreeSet<&str> = want.iter().copied().collect();
        let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let get = dir
            .send(Method::GET, &format!("/Users?filter={q}"), None)
            .await;
        let post = dir
            .send(
                Method::POST,
                "/Users/.search",
                Some(json!({"schemas": [SEARCH_REQUEST], "filter": filter})),
            )
            .await;
        let root = dir
            .send(
                Method::POST,
                "/.search",
                Some(json!({"schemas": [SEARCH_REQUEST], "filter": filter})),
            )
            .await;
        for (how, r) in [
            ("GET", get),
            ("POST /Users/.search", post),
            ("POST /.search", root),
        ] {
            assert_eq!(r.status, 200, "{how} {filter}: {}", r.body);
            let got: BTreeSet<&str> = r.body["Resources"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|u| u["userName"].as_str())
                .collect();
            assert_eq!(got, want, "{how} {filter}");
        }
    }
    // Group filters go through the same lowering.
    for filter in [
        r#"displayName eq "' OR 1=1 --""#,
        r#"displayName co "%""#,
        r#"displayName co "_""#,
        r#"displayName co "\\""#,
    ] {
        let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        let r = dir
            .send(Method::GET, &format!("/Groups?filter={q}"), None)
            .await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(r.body["totalResults"], 0, "{filter}: {}", r.body);
    }
    // Not filters at all: 400, never a 5xx.
    for filter in [
        "' OR 1=1 --",
        "\"; DROP TABLE users; --",
        "userName eq \"x\"; DROP TABLE users; --",
        "userName eq \"unterminated",
        "userName eq \\",
        "1=1",
    ] {
        let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
        for path in [format!("/Users?filter={q}"), format!("/Groups?filter={q}")] {
            let r = dir.send(Method::GET, &path, None).await;
            assert_scim_reply(&format!("GET {path}"), &r, 400, Some("invalidFilter"));
        }
    }
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

#[tokio::test]
async fn hostile_and_malformed_ids_in_paths_are_404_and_change_nothing() {
    let app = spawn_app().await;
    let dir = default_directory(&app).await;
    let before = dir.snapshot().await;
    let rows_before = db_rows(&app).await;
    let ids = [
        "..%2f..%2fetc%2fpasswd",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%2e%2e",
        "..",
        "not-a-uuid",
        "123",
        "%00",
        "%27%20OR%201%3D1%20--",
        &format!("{}x", dir.user_id),
        &dir.user_id.to_uppercase().replace('-', "_"),
        &"a".repeat(2_000),
        &Uuid::new_v4().to_string(),
    ];
    for id in ids {
        for resource in ["Users", "Groups"] {
            for method in [Method::GET, Method::PUT, Method::PATCH, Method::DELETE] {
                let body = match (resource, &method) {
                    (_, &Method::PATCH) => Some(replace("externalId", json!("x"))),
                    ("Users", &Method::PUT) => Some(user("put.by.id@acme.example")),
                    ("Groups", &Method::PUT) => {
                        Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "By id"}))
                    }
                    _ => None,
                };
                let path = format!("/{resource}/{id}");
                let r = dir.send(method.clone(), &path, body).await;
                let name = format!("{method} {path}");
                assert!(
                    r.status == 404 || r.status == 405,
                    "{name}: {} {}",
                    r.status,
                    r.body
                );
                assert_scim_reply(&name, &r, r.status, None);
            }
        }
    }
    // `../../etc/passwd` as such: the client resolves the dot segments,
    // whatever lands on the server must be a SCIM 404.
    for path in ["/Users/../../etc/passwd", "/Groups/../../../../etc/passwd"] {
        let r = dir.send(Method::GET, path, None).await;
        assert_scim_reply(path, &r, 404, None);
    }
    assert_eq!(dir.snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}
