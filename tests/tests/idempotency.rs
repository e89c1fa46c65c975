//! An `Idempotency-Key` retry through the real API creates one organization, not two,
//! and the audit log holds one record of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_tests::{TestApp, Value, expect_problem, json, reqwest};

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

/// Rows of `idempotency_keys`: (principal, key).
async fn idempotency_rows(app: &TestApp) -> Vec<(String, String)> {
    use diesel::prelude::*;
    use hongying_server::db::schema::idempotency_keys as ik;
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        ik::table
            .select((ik::principal, ik::idem_key))
            .load(&mut c)
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_retry_after_a_token_refresh_replays_the_first_meeting() {
    use hongying_server::auth::Role;
    let app = TestApp::spawn().await;
    let tree = app.seed_city_tree().await;
    let secretary = app
        .caller(
            &[(Role::BranchSecretary, Some(tree.branch_a1a.as_str()))],
            None,
        )
        .await;
    app.set_password(&secretary.account_id, "13600136000", "红鹰-password-1")
        .await;
    let tokens = |resp: reqwest::Response| async move {
        assert_eq!(resp.status(), 200);
        let b: Value = resp.json().await.unwrap();
        (
            b["access_token"].as_str().unwrap().to_string(),
            b["refresh_token"].as_str().unwrap().to_string(),
        )
    };
    let (access, refresh) = tokens(
        app.post_json(
            "/api/v1/auth/login",
            &json!({"phone": "13600136000", "password": "红鹰-password-1", "device_id": "p"}),
        )
        .await,
    )
    .await;
    let meeting = json!({
        "kind": "congress", "title": "第四季度党员大会", "agenda": [{"title": "讨论村务"}],
        "scheduled_start": "2026-12-01T02:00:00Z", "scheduled_end": "2026-12-01T04:00:00Z",
        "place": "村委会议室", "mode": "hybrid"
    });
    let path = format!("/api/v1/orgs/{}/meetings", tree.branch_a1a);
    let send = |token: String| {
        app.client
            .post(app.url(&path))
            .bearer_auth(token)
            .header("idempotency-key", "new-congress-1")
            .json(&meeting)
            .send()
    };
    let first = send(access).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();

    // The answer was lost; the phone refreshes its token and retries with the same key.
    let (access, _) = tokens(
        app.post_json(
            "/api/v1/auth/refresh",
            &json!({"refresh_token": refresh, "device_id": "p"}),
        )
        .await,
    )
    .await;
    let retry = send(access).await.unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers().get("idempotent-replayed").unwrap(), "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    let list: Value = app
        .client
        .get(app.url(&path))
        .header("authorization", secretary.bearer())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        idempotency_rows(&app).await,
        vec![(
            format!("account:{}", secretary.account_id),
            "new-congress-1".to_string()
        )]
    );
}

#[tokio::test]
async fn anonymous_and_unauthenticated_requests_leave_no_key_behind() {
    let app = TestApp::spawn().await;
    // A token that does not verify: 401, and nothing written.
    let r = app
        .client
        .post(app.url("/api/v1/orgs"))
        .bearer_auth("not-a-token")
        .header("idempotency-key", "k-forged")
        .json(
            &json!({"code": "X", "name": "某市委", "kind": "party_committee", "domain": "agency"}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(r, 401, "unauthenticated").await;
    // No token at all: the endpoint's own 401, nothing written.
    let r = app
        .client
        .post(app.url("/api/v1/orgs"))
        .header("idempotency-key", "k-anonymous")
        .json(
            &json!({"code": "X", "name": "某市委", "kind": "party_committee", "domain": "agency"}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(r, 401, "unauthenticated").await;
    // An anonymous endpoint with a key: answered, not remembered.
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("idempotency-key", "k-login")
        .json(&json!({"phone": "13900000000", "password": "whatever-1", "device_id": "d"}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 401, "invalid_credentials").await;
    assert_eq!(idempotency_rows(&app).await, vec![]);
    // A JSON body beyond http.json_limit is refused by its length before it is read.
    let admin = app.super_admin().await;
    let r = app
        .client
        .post(app.url("/api/v1/orgs"))
        .header("authorization", admin.bearer())
        .header("idempotency-key", "k-big")
        .header("content-type", "application/json")
        .body(vec![b' '; app.state.config.http.json_limit + 1])
        .send()
        .await
        .unwrap();
    expect_problem(r, 413, "payload_too_large").await;
}

#[tokio::test]
async fn an_activation_code_is_never_stored_and_a_retry_runs_again() {
    use hongying_server::auth::Role;
    let app = TestApp::spawn().await;
    let tree = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::OrgAdmin, Some(tree.town_a1.as_str()))], None)
        .await;
    let send = || {
        app.client
            .post(app.url("/api/v1/services/public-accounts"))
            .header("authorization", admin.bearer())
            .header("idempotency-key", "open-account-1")
            .json(&json!({"org_id": tree.branch_a1a, "name": "王大娘", "phone": "13500135000"}))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 201);
    assert_eq!(first.headers().get("cache-control").unwrap(), "no-store");
    let body: Value = first.json().await.unwrap();
    assert!(
        body["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    assert_eq!(idempotency_rows(&app).await, vec![]);
    // The retry is not a replay of the code: it runs again, and the account exists.
    let retry = send().await.unwrap();
    assert!(retry.headers().get("idempotent-replayed").is_none());
    expect_problem(retry, 409, "already_exists").await;
    // That refusal may be remembered; the code never is.
    let code = body["code"].as_str().unwrap().to_string();
    let stored = stored_bodies(&app).await;
    assert!(stored.iter().all(|b| !b.contains(&code)), "{stored:?}");
    // A new code comes from the reissue endpoint, marked alike.
    let r = app
        .client
        .post(app.url(&format!(
            "/api/v1/services/accounts/{}/activation-code",
            body["account_id"].as_str().unwrap()
        )))
        .header("authorization", admin.bearer())
        .header("idempotency-key", "reissue-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    assert!(
        !idempotency_rows(&app)
            .await
            .iter()
            .any(|(_, k)| k == "reissue-1")
    );
}

/// The response bodies kept in `idempotency_keys`, as text.
async fn stored_bodies(app: &TestApp) -> Vec<String> {
    use diesel::prelude::*;
    use hongying_server::db::schema::idempotency_keys as ik;
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        ik::table
            .select(ik::response_body)
            .load::<Option<Vec<u8>>>(&mut c)
            .unwrap()
            .into_iter()
            .map(|b| String::from_utf8_lossy(&b.unwrap_or_default()).into_owned())
            .collect()
    })
    .await
    .unwrap()
}
