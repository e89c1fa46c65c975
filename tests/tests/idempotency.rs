//! An `Idempotency-Key` retry through the real API creates one organization, not two,
//! and the audit log holds one record of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_tests::{TestApp, Value, expect_problem, json};

#[tokio::test]
async fn a_retried_create_makes_one_organization() {
    let app = TestApp::spawn().await;
    let admin = app.super_admin().await;
    let body = json!({"code": "PDS", "name": "中共平顶山市委员会", "kind": "party_committee", "domain": "agency"});
    let send = |key: &'static str, body: Value| {
        app.client
            .post(app.url("/api/v1/orgs"))
            .header("authorization", admin.bearer())
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };

    let first = send("create-pds-1", body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();

    // The phone lost the answer and retries: same key, same body.
    let retry = send("create-pds-1", body.clone()).await.unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers().get("idempotent-replayed").unwrap(), "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);

    // Same key, different body: refused, nothing created.
    let mut other = body.clone();
    other["name"] = json!("另一个名称");
    expect_problem(
        send("create-pds-1", other).await.unwrap(),
        422,
        "idempotency_key_reused",
    )
    .await;

    // Without the key the same request is a new request: the code is taken.
    let again = app
        .client
        .post(app.url("/api/v1/orgs"))
        .header("authorization", admin.bearer())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);

    // Exactly one organization with one audit record.
    let audit: Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/audit?target_type=organization&target_id={}",
            first["id"].as_str().unwrap()
        )))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let creates = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"].as_str().unwrap_or_default().ends_with("create"))
        .count();
    assert_eq!(creates, 1, "{audit}");
}

#[tokio::test]
async fn keys_belong_to_their_caller() {
    let app = TestApp::spawn().await;
    let a = app.super_admin().await;
    let b = app.super_admin().await;
    let post = |who: &hongying_tests::fixtures::Caller, code: &str| {
        app.client
            .post(app.url("/api/v1/orgs"))
            .header("authorization", who.bearer())
            .header("idempotency-key", "shared-key")
            .json(&json!({"code": code, "name": "某市委", "kind": "party_committee", "domain": "agency"}))
            .send()
    };
    assert_eq!(post(&a, "A1").await.unwrap().status(), 201);
    // Another account using the same key string does its own work.
    let other = post(&b, "B1").await.unwrap();
    assert_eq!(other.status(), 201);
    assert!(other.headers().get("idempotent-replayed").is_none());
}
