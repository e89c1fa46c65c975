//! Granting and revoking roles: who may, at which organizations, and what a grant does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_server::auth::Role;
use hongying_tests::fixtures::Caller;
use hongying_tests::reqwest::{Method, Response};
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

async fn grant(
    app: &TestApp,
    who: &Caller,
    account: &str,
    role: &str,
    org: Option<&str>,
) -> Response {
    call(
        app,
        who,
        Method::POST,
        "/api/v1/grants",
        Some(json!({"account_id": account, "role": role, "org_id": org})),
    )
    .await
}

#[tokio::test]
async fn an_org_admin_grants_in_scope_and_the_grant_takes_effect() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let county_admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    // An account with no roles yet, linked to a member of branch A1a.
    let newcomer = app.caller(&[], Some(&t.member_a1a)).await;
    // Before: the member reads the own branch but may not rename it.
    let r = call(
        &app,
        &newcomer,
        Method::PATCH,
        &format!("/api/v1/orgs/{}", t.branch_a1a),
        Some(json!({"version": 1, "name": "x"})),
    )
    .await;
    expect_problem(r, 403, "forbidden").await;

    let g = ok_json(
        grant(
            &app,
            &county_admin,
            &newcomer.account_id,
            "branch_secretary",
            Some(&t.branch_a1a),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(g["role"], "branch_secretary");
    assert_eq!(g["role_label_zh"], "支部书记");
    assert_eq!(g["org_id"], t.branch_a1a.as_str());
    assert_eq!(g["granted_by"], county_admin.account_id.as_str());
    assert_eq!(g["account_display_name"], "测试用户");
    assert_eq!(g["revoked_at"], Value::Null);
    // Roles are read per request: the same token now renames the branch.
    let r = call(
        &app,
        &newcomer,
        Method::PATCH,
        &format!("/api/v1/orgs/{}", t.branch_a1a),
        Some(json!({"version": 1, "name": "东村支部"})),
    )
    .await;
    assert_eq!(r.status(), 200);
    // Granting the same again is a duplicate.
    let r = grant(
        &app,
        &county_admin,
        &newcomer.account_id,
        "branch_secretary",
        Some(&t.branch_a1a),
    )
    .await;
    expect_problem(r, 409, "already_exists").await;

    // Listed at the branch.
    let list = ok_json(
        call(
            &app,
            &county_admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/grants", t.branch_a1a),
            None,
        )
        .await,
        200,
    )
    .await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [g["id"].as_str().unwrap()]);

    // Revoked: stays on record, stops working at once.
    let revoked = ok_json(
        call(
            &app,
            &county_admin,
            Method::DELETE,
            &format!("/api/v1/grants/{}", g["id"].as_str().unwrap()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(revoked["revoked_by"], county_admin.account_id.as_str());
    let r = call(
        &app,
        &newcomer,
        Method::PATCH,
        &format!("/api/v1/orgs/{}", t.branch_a1a),
        Some(json!({"version": 2, "name": "再改"})),
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
    let r = call(
        &app,
        &county_admin,
        Method::DELETE,
        &format!("/api/v1/grants/{}", g["id"].as_str().unwrap()),
        None,
    )
    .await;
    expect_problem(r, 409, "conflict").await;
    let active = ok_json(
        call(
            &app,
            &county_admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/grants", t.branch_a1a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(active["items"], json!([]));
    let all = ok_json(
        call(
            &app,
            &county_admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/grants?include_revoked=true", t.branch_a1a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    // And it can be granted anew.
    ok_json(
        grant(
            &app,
            &county_admin,
            &newcomer.account_id,
            "branch_secretary",
            Some(&t.branch_a1a),
        )
        .await,
        201,
    )
    .await;
}

#[tokio::test]
async fn grants_outside_scope_are_not_revealed_and_in_scope_need_org_admin() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let target = app.caller(&[], None).await;
    let admin_b = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_b))], None)
        .await;
    let r = grant(
        &app,
        &admin_b,
        &target.account_id,
        "member",
        Some(&t.branch_a1a),
    )
    .await;
    expect_problem(r, 404, "not_found").await;
    let r = call(
        &app,
        &admin_b,
        Method::GET,
        &format!("/api/v1/orgs/{}/grants", t.branch_a1a),
        None,
    )
    .await;
    expect_problem(r, 404, "not_found").await;
    // A branch secretary is in scope of the branch but does not grant.
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await;
    let r = grant(
        &app,
        &secretary,
        &target.account_id,
        "member",
        Some(&t.branch_a1a),
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
    let r = call(
        &app,
        &secretary,
        Method::GET,
        &format!("/api/v1/orgs/{}/grants", t.branch_a1a),
        None,
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
    // A grant in county A cannot be revoked from county B (not even seen).
    let admin_a = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let g = ok_json(
        grant(
            &app,
            &admin_a,
            &target.account_id,
            "member",
            Some(&t.branch_a1a),
        )
        .await,
        201,
    )
    .await;
    let r = call(
        &app,
        &admin_b,
        Method::DELETE,
        &format!("/api/v1/grants/{}", g["id"].as_str().unwrap()),
        None,
    )
    .await;
    expect_problem(r, 404, "not_found").await;
    let r = call(
        &app,
        &secretary,
        Method::DELETE,
        &format!("/api/v1/grants/{}", g["id"].as_str().unwrap()),
        None,
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
    let r = call(
        &app,
        &admin_a,
        Method::DELETE,
        "/api/v1/grants/no-such-grant",
        None,
    )
    .await;
    expect_problem(r, 404, "not_found").await;
}

#[tokio::test]
async fn only_a_super_admin_grants_super_admin_and_root_org_admin() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let target = app.caller(&[], None).await;
    let city_admin = app.caller(&[(Role::OrgAdmin, Some(&t.city))], None).await;
    let r = grant(&app, &city_admin, &target.account_id, "super_admin", None).await;
    expect_problem(r, 403, "forbidden").await;
    let r = grant(
        &app,
        &city_admin,
        &target.account_id,
        "org_admin",
        Some(&t.city),
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
    // Below the root an org admin may make org admins.
    ok_json(
        grant(
            &app,
            &city_admin,
            &target.account_id,
            "org_admin",
            Some(&t.county_a),
        )
        .await,
        201,
    )
    .await;

    let sa = app.super_admin().await;
    let root_admin = ok_json(
        grant(&app, &sa, &target.account_id, "org_admin", Some(&t.city)).await,
        201,
    )
    .await;
    // Nor may the city admin revoke an org admin at the root.
    let r = call(
        &app,
        &city_admin,
        Method::DELETE,
        &format!("/api/v1/grants/{}", root_admin["id"].as_str().unwrap()),
        None,
    )
    .await;
    expect_problem(r, 403, "forbidden").await;

    let r = grant(&app, &sa, &target.account_id, "super_admin", Some(&t.city)).await;
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "org_id");
    let new_sa = ok_json(
        grant(&app, &sa, &target.account_id, "super_admin", None).await,
        201,
    )
    .await;
    assert_eq!(new_sa["org_id"], Value::Null);
    // The new super admin's power is live: it reads county B.
    let r = call(
        &app,
        &target,
        Method::GET,
        &format!("/api/v1/orgs/{}", t.county_b),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    // An org admin does not see organization-less grants.
    let r = call(
        &app,
        &city_admin,
        Method::DELETE,
        &format!("/api/v1/grants/{}", new_sa["id"].as_str().unwrap()),
        None,
    )
    .await;
    expect_problem(r, 404, "not_found").await;
    ok_json(
        call(
            &app,
            &sa,
            Method::DELETE,
            &format!("/api/v1/grants/{}", new_sa["id"].as_str().unwrap()),
            None,
        )
        .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn the_last_super_admin_stays() {
    let app = TestApp::spawn().await;
    let sa = app.super_admin().await;
    let other = app.caller(&[], None).await;
    let second = ok_json(
        grant(&app, &sa, &other.account_id, "super_admin", None).await,
        201,
    )
    .await;
    let r = call(
        &app,
        &sa,
        Method::DELETE,
        &format!("/api/v1/grants/{}", second["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(r.status(), 200, "of two super admins one may go");
    // Now the fixture's own grant is the last one.
    let own_grant: String = {
        use diesel::prelude::*;
        use hongying_server::db::schema::role_grants;
        let state = app.state.clone();
        let account = sa.account_id.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = state.db.get().unwrap();
            role_grants::table
                .filter(role_grants::account_id.eq(account))
                .select(role_grants::id)
                .first::<String>(&mut conn)
                .unwrap()
        })
        .await
        .unwrap()
    };
    let r = call(
        &app,
        &sa,
        Method::DELETE,
        &format!("/api/v1/grants/{own_grant}"),
        None,
    )
    .await;
    expect_problem(r, 409, "conflict").await;
}

#[tokio::test]
async fn roles_need_an_org_except_expert_and_public() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let target = app.caller(&[], None).await;
    let admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    for role in [
        "member",
        "branch_secretary",
        "branch_committee",
        "org_admin",
    ] {
        let r = grant(&app, &admin, &target.account_id, role, None).await;
        let body = expect_problem(r, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "org_id");
    }
    // Without an organization there is no scope to check an org admin against.
    let r = grant(&app, &admin, &target.account_id, "expert", None).await;
    expect_problem(r, 403, "forbidden").await;
    // At an organization in scope an org admin may.
    ok_json(
        grant(&app, &admin, &target.account_id, "expert", Some(&t.town_a1)).await,
        201,
    )
    .await;
    let sa = app.super_admin().await;
    let p = ok_json(
        grant(&app, &sa, &target.account_id, "public", None).await,
        201,
    )
    .await;
    assert_eq!(p["role_label_zh"], "群众");
    // Unknown accounts and roles.
    let r = grant(
        &app,
        &admin,
        "no-such-account",
        "member",
        Some(&t.branch_a1a),
    )
    .await;
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "account_id");
    let r = grant(
        &app,
        &admin,
        &target.account_id,
        "king",
        Some(&t.branch_a1a),
    )
    .await;
    expect_problem(r, 400, "invalid_body").await;
}

#[tokio::test]
async fn grants_are_listed_in_pages_newest_first() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let mut made = Vec::new();
    for _ in 0..5 {
        let who = app.caller(&[], None).await;
        let g = ok_json(
            grant(&app, &admin, &who.account_id, "member", Some(&t.branch_a1b)).await,
            201,
        )
        .await;
        made.push(g["id"].as_str().unwrap().to_string());
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/orgs/{}/grants?limit=2&cursor={c}", t.branch_a1b),
            None => format!("/api/v1/orgs/{}/grants?limit=2", t.branch_a1b),
        };
        let page = ok_json(call(&app, &admin, Method::GET, &url, None).await, 200).await;
        pages += 1;
        for i in page["items"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, made);
}
