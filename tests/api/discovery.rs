use crate::helpers::*;
use serde_json::Value;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let res = reqwest::get(format!("{}/healthz", app.address))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = reqwest::get(format!("{}/readyz", app.address))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn service_provider_config_tells_the_truth() {
    let app = spawn_app().await;
    let res = app
        .scim(reqwest::Method::GET, "/ServiceProviderConfig")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/scim+json");
    let (status, body) = read(res).await;
    assert_eq!(status, 200);
    assert_eq!(body["patch"]["supported"], true);
    assert_eq!(body["bulk"]["supported"], true);
    assert_eq!(body["etag"]["supported"], true);
    assert_eq!(body["filter"]["maxResults"], 1000);
    assert_eq!(
        body["meta"]["location"],
        format!("{}/ServiceProviderConfig", app.base)
    );
}

#[tokio::test]
async fn schemas_and_resource_types_are_served() {
    let app = spawn_app().await;
    let (status, body) = app.get("/Schemas").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&USER_SCHEMA));
    assert!(ids.contains(&ENTERPRISE));
    assert!(ids.contains(&"urn:ietf:params:scim:schemas:core:2.0:Group"));
    let (status, body) = app.get(&format!("/Schemas/{USER_SCHEMA}")).await;
    assert_eq!(status, 200);
    assert!(body["attributes"].as_array().is_some_and(|a| a.len() > 10));
    let (status, body) = app.get("/ResourceTypes/User").await;
    assert_eq!(status, 200);
    assert_eq!(body["endpoint"], "/Users");
    let (status, body) = app.get("/Schemas/urn:nope").await;
    assert_scim_error(status, &body, 404, None);
    let (status, body) = app.get("/ResourceTypes").await;
    assert_eq!(status, 200);
    assert!(body["totalResults"].as_u64().is_some_and(|n| n >= 1));
    assert!(matches!(body["Resources"], Value::Array(_)));
}

#[tokio::test]
async fn missing_or_bad_token_is_401_with_www_authenticate() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/Users", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("www-authenticate"));
    let (status, body) = read(res).await;
    assert_scim_error(status, &body, 401, None);
    let res = app
        .client
        .get(format!("{}/Users", app.base))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_token_of_another_directory_gets_404() {
    let app = spawn_app().await;
    let okta = app.other_directory("other", "okta").await;
    // Each token works on its own directory.
    let (status, body) = okta.get("/Users").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.get("/Users").await;
    assert_eq!(status, 200, "{body}");
    // The bootstrap token on other/okta's URL, and the reverse: 404.
    for (token, base) in [(&app.token, &okta.base), (&okta.token, &app.base)] {
        let res = app
            .client
            .get(format!("{base}/Users"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (status, body) = read(res).await;
        assert_scim_error(status, &body, 404, None);
    }
    // A directory that does not exist: the same answer.
    let res = app
        .client
        .get(format!(
            "{}/scim/v2/directories/{}/Users",
            app.address,
            uuid::Uuid::now_v7()
        ))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let (status, body) = read(res).await;
    assert_scim_error(status, &body, 404, None);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_scim_errors() {
    let app = spawn_app().await;
    let (status, body) = app.get("/Nope").await;
    assert_scim_error(status, &body, 404, None);
    let (status, body) = app.send(reqwest::Method::PUT, "/Users", None).await;
    assert_scim_error(status, &body, 405, None);
    let (status, body) = app
        .send(reqwest::Method::DELETE, "/ServiceProviderConfig", None)
        .await;
    assert_scim_error(status, &body, 405, None);
}
