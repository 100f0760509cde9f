//! Okta and Microsoft Entra ID provisioning sequences, replayed with the
//! request bodies each client sends.

use crate::helpers::*;
use crate::users::urlencode;
use serde_json::json;

#[tokio::test]
async fn okta_user_lifecycle() {
    let app = spawn_app().await;
    // Test connector.
    let (status, body) = app.get("/Users?startIndex=1&count=2").await;
    assert_eq!(status, 200);
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["startIndex"], 1);
    // Assign: look up by userName, then create with password and groups: [].
    let lookup = format!(
        "/Users?filter={}&startIndex=1&count=100",
        urlencode("userName eq \"dade.murphy@example.com\"")
    );
    let (_, body) = app.get(&lookup).await;
    assert_eq!(body["totalResults"], 0);
    let (status, created) = app
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "dade.murphy@example.com",
                "name": {"givenName": "Dade", "familyName": "Murphy"},
                "emails": [{"primary": true, "value": "dade.murphy@example.com", "type": "work"}],
                "displayName": "Dade Murphy",
                "locale": "en-US",
                "externalId": "00ujl29u0le5T6Aj10h7",
                "groups": [],
                "password": "1mz050nq",
                "active": true
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, body) = app.get(&lookup).await;
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["id"], id);
    // Profile update: the whole user, by PUT.
    let (status, body) = app
        .put(
            &format!("/Users/{id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": id,
                "userName": "dade.murphy@example.com",
                "name": {"givenName": "Dade", "familyName": "Murphy-Zero"},
                "emails": [{"primary": true, "value": "dade.murphy@example.com", "type": "work"}],
                "displayName": "Zero Cool",
                "locale": "en-US",
                "externalId": "00ujl29u0le5T6Aj10h7",
                "groups": [],
                "active": true,
                "meta": {"resourceType": "User"}
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["displayName"], "Zero Cool");
    // Deactivate and reactivate.
    for active in [false, true] {
        let (status, body) = app
            .patch(
                &format!("/Users/{id}"),
                json!([{"op": "replace", "value": {"active": active}}]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["active"], active);
    }
    // Import: pages of 100 in a stable order.
    for i in 0..150 {
        app.create_user(user(&format!("import{i:03}@example.com")))
            .await;
    }
    let mut seen = std::collections::HashSet::new();
    let mut start = 1;
    loop {
        let (_, page) = app
            .get(&format!("/Users?startIndex={start}&count=100"))
            .await;
        assert_eq!(page["totalResults"], 151);
        let items = page["Resources"].as_array().unwrap();
        for u in items {
            assert!(
                seen.insert(u["id"].as_str().unwrap().to_owned()),
                "duplicate across pages"
            );
        }
        if items.len() < 100 {
            break;
        }
        start += 100;
    }
    assert_eq!(seen.len(), 151);
}

#[tokio::test]
async fn entra_user_lifecycle() {
    let app = spawn_app().await;
    // Test Connection: a filter on a random attribute value.
    let (status, body) = app
        .get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"non-existent user\"")
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["totalResults"], 0);
    // Create: Entra's body (extension URN, meta, roles []).
    let (status, created) = app
        .post(
            "/Users",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.example",
                "active": true,
                "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@contoso.example"}],
                "meta": {"resourceType": "User"},
                "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
                "roles": [],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Sales"}
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, body) = app
        .get(&format!(
            "/Users?filter={}",
            urlencode("externalId eq \"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef\"")
        ))
        .await;
    assert_eq!(body["totalResults"], 1);
    let manager = app.create_user(user("manager@contoso.example")).await;
    // The PATCH variants Entra sends.
    let (status, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@contoso.example"},
                {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 555 0100"},
                {"op": "Add", "path": "addresses[type eq \"work\"].locality", "value": "Redmond"},
                {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": manager},
                {"op": "Replace", "path": "userName", "value": "renamed@contoso.example"},
                {"op": "Replace", "path": "active", "value": "False"}
            ]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["emails"][0]["value"], "updatedEmail@contoso.example");
    assert_eq!(body["name"]["familyName"], "updatedFamilyName");
    assert_eq!(body["phoneNumbers"][0]["value"], "+1 555 0100");
    assert_eq!(body["addresses"][0]["locality"], "Redmond");
    assert_eq!(body[ENTERPRISE]["manager"]["value"], manager);
    assert_eq!(body["active"], false);
    assert_eq!(body["userName"], "renamed@contoso.example");
    // Replace the manager, then remove it.
    let (_, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": "other-manager"}}]),
        )
        .await;
    assert_eq!(body[ENTERPRISE]["manager"]["value"], "other-manager");
    let (_, body) = app
        .patch(
            &format!("/Users/{id}"),
            json!([{"op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"}]),
        )
        .await;
    assert!(body[ENTERPRISE].get("manager").is_none());
    // Disabled users are still found.
    let (_, body) = app
        .get(&format!(
            "/Users?filter={}",
            urlencode("userName eq \"renamed@contoso.example\"")
        ))
        .await;
    assert_eq!(body["Resources"][0]["active"], false);
    // Delete, and delete again.
    assert_eq!(app.delete(&format!("/Users/{id}")).await.0, 204);
    let (status, body) = app.delete(&format!("/Users/{id}")).await;
    assert_scim_error(status, &body, 404, None);
}
