//! Bad input to the admin API's write endpoints: each a 4xx admin error
//! that changes nothing.

use super::*;

/// (case, content type, body, status, code).
type AdminCase = (
    &'static str,
    Option<&'static str>,
    Vec<u8>,
    u16,
    &'static str,
);

#[tokio::test]
async fn bad_input_to_the_admin_write_endpoints_is_a_4xx_that_changes_nothing() {
    let app = spawn_app_with(|s| s.max_body_bytes = 64 * 1024).await;
    let a = admin(&app, "acme").await;
    let (status, body) = a.post("/domains", json!({"name": "acme.example"})).await;
    assert_eq!(status, 201, "{body}");
    let snapshot = || async {
        let (status, body) = a.get("/domains").await;
        assert_eq!(status, 200, "{body}");
        body
    };
    let before = snapshot().await;
    let rows_before = db_rows(&app).await;
    let json_ct = Some("application/json");
    let mut invalid_utf8 = br#"{"name": ""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#""}"#);
    let cases: Vec<AdminCase> = vec![
        (
            "malformed JSON",
            json_ct,
            b"{\"name\": ".to_vec(),
            400,
            "invalid_request",
        ),
        ("empty body", json_ct, vec![], 400, "invalid_request"),
        (
            "invalid UTF-8",
            json_ct,
            invalid_utf8,
            400,
            "invalid_request",
        ),
        (
            "10,000 nested arrays",
            json_ct,
            nested(10_000),
            400,
            "invalid_request",
        ),
        (
            "a JSON array",
            json_ct,
            b"[]".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "name a number",
            json_ct,
            br#"{"name": 5}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "name an object",
            json_ct,
            br#"{"name": {}}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "missing name",
            json_ct,
            br#"{}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "name of 100k chars",
            json_ct,
            json!({"name": long(100_000)}).to_string().into_bytes(),
            413,
            "payload_too_large",
        ),
        (
            "name of 3k chars",
            json_ct,
            json!({"name": format!("{}.example", long(3_000))})
                .to_string()
                .into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "name a path",
            json_ct,
            br#"{"name": "../../etc/passwd"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "name with SQL",
            json_ct,
            br#"{"name": "x' OR 1=1 --"}"#.to_vec(),
            400,
            "invalid_request",
        ),
        (
            "text/plain",
            Some("text/plain"),
            br#"{"name": "plain.example"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "no content type",
            None,
            br#"{"name": "none.example"}"#.to_vec(),
            415,
            "unsupported_media_type",
        ),
    ];
    for path in ["/domains", "/domains/acme.example/verify"] {
        for (name, ct, body, status, code) in &cases {
            // The verify body carries `verification_token`, not `name`.
            let body = if path.ends_with("/verify") {
                String::from_utf8_lossy(body)
                    .replace("\"name\"", "\"verification_token\"")
                    .into_bytes()
            } else {
                body.clone()
            };
            let body = if *name == "invalid UTF-8" && path.ends_with("/verify") {
                let mut b = br#"{"verification_token": ""#.to_vec();
                b.extend_from_slice(&[0xff, 0xfe]);
                b.extend_from_slice(br#""}"#);
                b
            } else {
                body
            };
            // The verify body is optional and its token ignored (the proof
            // is in DNS): any well-formed body fails on the missing record.
            let (status, code) = match (path.ends_with("/verify"), *name) {
                (true, "name a path" | "name with SQL" | "name of 3k chars" | "missing name") => {
                    (400, "verification_failed")
                }
                _ => (*status, *code),
            };
            let r = raw(
                Method::POST,
                &format!("{}{path}", a.base),
                Some(&a.key),
                *ct,
                Some(body),
            )
            .await;
            assert_admin_error(r.status, &r.body, status, code);
            assert!(
                r.content_type.starts_with("application/json"),
                "{path} {name}: {}",
                r.content_type
            );
        }
    }
    for path in [
        "/domains/..%2f..%2fetc%2fpasswd",
        "/domains/%2e%2e%2f",
        "/domains/x'%20OR%201=1%20--",
        "/domains/unknown.example",
        "/domains/unknown.example/verify",
    ] {
        let method = if path.ends_with("/verify") {
            Method::POST
        } else {
            Method::DELETE
        };
        let body = json!({"verification_token": "x"}).to_string().into_bytes();
        let r = raw(
            method,
            &format!("{}{path}", a.base),
            Some(&a.key),
            json_ct,
            Some(body),
        )
        .await;
        assert!(r.status == 400 || r.status == 404, "{path}: {}", r.body);
        let code = if r.status == 404 {
            "not_found"
        } else {
            "invalid_request"
        };
        assert_admin_error(r.status, &r.body, r.status, code);
    }
    assert_eq!(snapshot().await, before);
    assert_db_unchanged(&app, &rows_before).await;
}

/// What the admin DTOs declare with `#[validate]`: a group's name (1 to
/// 256 characters, no control characters) and description (at most 2048
/// characters, newly checked), a two-step exclusion's end (in the
/// future). Each a 400 `invalid_request` naming the field; nothing written.
#[tokio::test]
async fn admin_input_rules_refuse_with_the_field_named_and_write_nothing() {
    let app = spawn_app().await;
    let a = admin(&app, "acme").await;
    let rows_before = db_rows(&app).await;
    let name_rule = "name must be 1 to 256 characters without control characters";
    let cases = [
        (json!({"name": ""}), name_rule),
        (json!({"name": "   "}), name_rule),
        (json!({"name": "é".repeat(257)}), name_rule),
        (json!({"name": "a\u{7}b"}), name_rule),
        (
            json!({"name": "Writers", "description": "d".repeat(2049)}),
            "description must be at most 2048 characters",
        ),
    ];
    for (body, message) in cases {
        let (status, err) = a.post("/groups", body.clone()).await;
        assert_admin_error(status, &err, 400, "invalid_request");
        assert_eq!(err["message"], message, "{body}");
    }
    let past = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let (status, err) = a
        .put(
            &format!("/accounts/{}/two-step-exclusion", Uuid::now_v7()),
            json!({ "until": past }),
        )
        .await;
    assert_admin_error(status, &err, 400, "invalid_request");
    assert_eq!(err["message"], "until must be in the future");
    assert_db_unchanged(&app, &rows_before).await;
    // At the limits: accepted.
    let (status, g) = a
        .post(
            "/groups",
            json!({"name": "é".repeat(256), "description": "d".repeat(2048)}),
        )
        .await;
    assert_eq!(status, 201, "{g}");
}

/// The names the operator CLI creates (organization, directory, site, a
/// key's label) follow the admin API's rule (newly checked): refused
/// before anything is written.
#[tokio::test]
async fn cli_names_follow_the_admin_api_rule_and_write_nothing() {
    use clap::Parser;
    let app = spawn_app().await;
    let rows_before = db_rows(&app).await;
    let long = "x".repeat(257);
    let cases: [&[&str]; 5] = [
        &["directory", "create", "--org", "acme", "--name", "a\u{7}b"],
        &["directory", "create", "--org", " ", "--name", "okta"],
        &["site", "create", "--org", "acme", &long],
        &["site", "create", "--org", "acme", ""],
        &["admin-key", "create", "--org", "default", "--label", "a\nb"],
    ];
    for args in cases {
        let mut argv = vec!["scim-server"];
        argv.extend_from_slice(args);
        let cli = scim_server::cli::Cli::try_parse_from(&argv).expect("valid CLI arguments");
        let err = scim_server::cli::run(&app.settings, cli.command.expect("a command"))
            .await
            .expect_err("refused");
        assert!(
            err.to_string()
                .ends_with("must be 1 to 256 characters without control characters"),
            "{args:?}: {err}"
        );
    }
    assert_db_unchanged(&app, &rows_before).await;
}
