//! The audit log: what org and grant changes record, who reads which rows, and the hash
//! chain catching a row changed behind the application's back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_server::auth::Role;
use hongying_tests::fixtures::Caller;
use hongying_tests::reqwest::Method;
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

async fn audit(app: &TestApp, who: &Caller, query: &str) -> Vec<Value> {
    let page = ok_json(
        call(
            app,
            who,
            Method::GET,
            &format!("/api/v1/audit{query}"),
            None,
        )
        .await,
        200,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

/// Runs raw SQL against the test database, as an attacker with database access would.
async fn tamper(app: &TestApp, sql: &str) {
    use diesel::RunQueryDsl;
    let state = app.state.clone();
    let sql = sql.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn org_and_grant_changes_record_who_what_and_before_after() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;

    let resp = call(
        &app,
        &admin,
        Method::PATCH,
        &format!("/api/v1/orgs/{}", t.branch_a1a),
        Some(json!({"version": 1, "name": "东村党支部（改）", "address": "村部"})),
    )
    .await;
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    ok_json(resp, 200).await;
    let rows = audit(
        &app,
        &admin,
        &format!("?target_type=organization&target_id={}", t.branch_a1a),
    )
    .await;
    let update = &rows[0];
    assert_eq!(update["action"], "org.update");
    assert_eq!(update["actor_account_id"], admin.account_id.as_str());
    assert_eq!(update["actor_org_id"], t.county_a.as_str());
    assert_eq!(update["org_id"], t.branch_a1a.as_str());
    assert_eq!(
        update["before"],
        json!({"name": "东村党支部", "address": null})
    );
    assert_eq!(
        update["after"],
        json!({"name": "东村党支部（改）", "address": "村部"})
    );
    assert_eq!(update["request_id"], request_id.as_str());
    assert_eq!(update["client_addr"], "127.0.0.1");
    // The fixture's creation is recorded too, as the system's.
    let created = rows.last().unwrap();
    assert_eq!(created["action"], "org.create");
    assert_eq!(created["actor_account_id"], "system");
    assert_eq!(created["after"]["kind"], "branch");
    assert_eq!(created["before"], Value::Null);

    // Moves, posts and grants.
    ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/api/v1/orgs/{}/move", t.branch_a1c),
            Some(json!({"parent_id": t.town_a2, "version": 1})),
        )
        .await,
        200,
    )
    .await;
    let post = ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/api/v1/orgs/{}/posts", t.branch_a1a),
            Some(json!({"member_id": t.member_a1a, "post": "secretary", "since": "2024-01-01"})),
        )
        .await,
        201,
    )
    .await;
    ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &format!(
                "/api/v1/orgs/{}/posts/{}/end",
                t.branch_a1a,
                post["id"].as_str().unwrap()
            ),
            Some(json!({"until": "2024-06-30"})),
        )
        .await,
        200,
    )
    .await;
    let holder = app.caller(&[], None).await;
    let g = ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/grants",
            Some(json!({"account_id": holder.account_id, "role": "branch_committee", "org_id": t.branch_a1a})),
        )
        .await,
        201,
    )
    .await;
    ok_json(
        call(
            &app,
            &admin,
            Method::DELETE,
            &format!("/api/v1/grants/{}", g["id"].as_str().unwrap()),
            None,
        )
        .await,
        200,
    )
    .await;

    let rows = audit(&app, &admin, &format!("?org_id={}&limit=5", t.county_a)).await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "grant.revoke",
            "grant.create",
            "org.post.end",
            "org.post.add",
            "org.move"
        ]
    );
    assert_eq!(
        rows[4]["before"],
        json!({"parent_id": t.town_a1, "depth": 3})
    );
    assert_eq!(
        rows[4]["after"],
        json!({"parent_id": t.town_a2, "depth": 3})
    );
    assert_eq!(
        rows[3]["after"],
        json!({"member_id": t.member_a1a, "post": "secretary", "since": "2024-01-01"})
    );
    assert_eq!(rows[2]["after"], json!({"until": "2024-06-30"}));
    assert_eq!(rows[1]["target_type"], "role_grant");
    assert_eq!(
        rows[1]["after"],
        json!({"account_id": holder.account_id, "role": "branch_committee", "org_id": t.branch_a1a,
               "expires_at": null})
    );
    assert_eq!(rows[0]["before"]["revoked_at"], Value::Null);
    assert!(rows[0]["after"]["revoked_at"].is_string());
    for r in &rows {
        assert_eq!(r["actor_account_id"], admin.account_id.as_str());
        assert!(r["request_id"].is_string());
    }
    // Newest first: sequence numbers fall.
    let seqs: Vec<i64> = rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
}

#[tokio::test]
async fn admins_read_rows_of_their_subtree_only() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin_a = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let admin_b = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_b))], None)
        .await;
    let sa = app.super_admin().await;

    // The fixture wrote one org.create per organization: 12 in all, 8 in county A
    // (with the county itself), 3 in county B.
    let in_a: std::collections::BTreeSet<String> = [
        &t.county_a,
        &t.town_a1,
        &t.town_a2,
        &t.branch_a1a,
        &t.branch_a1b,
        &t.branch_a1c,
        &t.branch_a2a,
        &t.group_a1a,
    ]
    .into_iter()
    .cloned()
    .collect();
    let rows = audit(&app, &admin_a, "").await;
    let orgs: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|r| r["org_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(orgs, in_a);
    let rows = audit(&app, &admin_a, &format!("?org_id={}", t.town_a1)).await;
    assert_eq!(
        rows.len(),
        5,
        "town A1 with its three branches and one group"
    );
    assert_eq!(audit(&app, &admin_b, "").await.len(), 3);
    // Another subtree: not revealed; a narrower reader in scope: forbidden.
    let r = call(
        &app,
        &admin_b,
        Method::GET,
        &format!("/api/v1/audit?org_id={}", t.county_a),
        None,
    )
    .await;
    expect_problem(r, 404, "not_found").await;
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await;
    let r = call(
        &app,
        &secretary,
        Method::GET,
        &format!("/api/v1/audit?org_id={}", t.branch_a1a),
        None,
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
    let r = call(&app, &secretary, Method::GET, "/api/v1/audit", None).await;
    expect_problem(r, 403, "forbidden").await;
    let member = app
        .caller(&[(Role::Member, Some(&t.branch_a1a))], Some(&t.member_a1a))
        .await;
    let r = call(
        &app,
        &member,
        Method::GET,
        &format!("/api/v1/audit?org_id={}", t.city),
        None,
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
    let r = app.get("/api/v1/audit").await;
    expect_problem(r, 401, "unauthenticated").await;

    // A super admin reads everything, organization-less rows included.
    let holder = app.caller(&[], None).await;
    ok_json(
        call(
            &app,
            &sa,
            Method::POST,
            "/api/v1/grants",
            Some(json!({"account_id": holder.account_id, "role": "public"})),
        )
        .await,
        201,
    )
    .await;
    let everything = audit(&app, &sa, "").await;
    assert_eq!(everything.len(), 13);
    assert_eq!(everything[0]["action"], "grant.create");
    assert_eq!(everything[0]["org_id"], Value::Null);
    assert_eq!(
        audit(&app, &admin_a, "").await.len(),
        8,
        "not the organization-less row"
    );

    // Cursor pages cover the same rows.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/api/v1/audit?limit=5&cursor={c}"),
            None => "/api/v1/audit?limit=5".to_string(),
        };
        let page = ok_json(call(&app, &sa, Method::GET, &q, None).await, 200).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["seq"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, (1..=13).rev().collect::<Vec<i64>>());
    let r = call(&app, &sa, Method::GET, "/api/v1/audit?cursor=bm9wZQ", None).await;
    expect_problem(r, 400, "invalid_cursor").await;
}

#[tokio::test]
async fn the_chain_verifies_and_a_tampered_row_is_found() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let sa = app.super_admin().await;
    let v = ok_json(
        call(&app, &sa, Method::GET, "/api/v1/audit/verify", None).await,
        200,
    )
    .await;
    assert_eq!(v, json!({"ok": true, "broken_seq": null, "last_seq": 12}));
    // Only a super admin verifies.
    let admin = app.caller(&[(Role::OrgAdmin, Some(&t.city))], None).await;
    let r = call(&app, &admin, Method::GET, "/api/v1/audit/verify", None).await;
    expect_problem(r, 403, "forbidden").await;

    // Someone with database access renames an organization in the record.
    tamper(
        &app,
        "UPDATE audit_log SET after_json = '{\"name\":\"篡改\"}' WHERE seq = 5",
    )
    .await;
    let v = ok_json(
        call(&app, &sa, Method::GET, "/api/v1/audit/verify", None).await,
        200,
    )
    .await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["broken_seq"], 5);
}

#[tokio::test]
async fn deleting_rows_breaks_the_chain_even_at_its_end() {
    let app = TestApp::spawn().await;
    app.seed_city_tree().await;
    let sa = app.super_admin().await;
    tamper(&app, "DELETE FROM audit_log WHERE seq = 12").await;
    let v = ok_json(
        call(&app, &sa, Method::GET, "/api/v1/audit/verify", None).await,
        200,
    )
    .await;
    assert_eq!(v, json!({"ok": false, "broken_seq": 12, "last_seq": 12}));
    tamper(&app, "DELETE FROM audit_log WHERE seq = 7").await;
    let v = ok_json(
        call(&app, &sa, Method::GET, "/api/v1/audit/verify", None).await,
        200,
    )
    .await;
    assert_eq!(v["broken_seq"], 7);
}
