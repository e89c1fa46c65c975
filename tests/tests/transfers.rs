//! 组织关系转接 over HTTP: a transfer within a county end to end (the member moves only
//! when the receiving committee accepts), a rejection, a withdrawal, two concurrent
//! approvals, and approvers from the wrong organization.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::prelude::*;
use hongying_server::auth::Role;
use hongying_server::db::schema::{members, notices, organizations};
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::{Method, Response};
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

async fn step(app: &TestApp, who: &Caller, id: &str, action: &str) -> Response {
    call(
        app,
        who,
        Method::POST,
        &format!("/api/v1/transfers/{id}/steps"),
        Some(json!({"action": action, "comment": "同意"})),
    )
    .await
}

async fn member_org(app: &TestApp, member_id: &str) -> String {
    let state = app.state.clone();
    let id = member_id.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        members::table
            .find(&id)
            .select(members::org_id)
            .first::<String>(&mut c)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn notices_for(app: &TestApp, member_id: &str) -> i64 {
    let state = app.state.clone();
    let id = member_id.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        notices::table
            .filter(notices::member_id.eq(&id))
            .filter(notices::kind.eq("transfer_step"))
            .count()
            .get_result::<i64>(&mut c)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn worklist(app: &TestApp, who: &Caller, org: &str, q: &str) -> Value {
    let path = format!("/api/v1/orgs/{org}/transfers/worklist{q}");
    ok_json(call(app, who, Method::GET, &path, None).await, 200).await
}

/// Makes the transfer's current status `days` days old.
async fn backdate(app: &TestApp, id: &str, days: i64) {
    use hongying_server::db::schema::transfers;
    let state = app.state.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        let then = state.clock.now() - chrono::Duration::days(days);
        diesel::update(transfers::table.find(&id))
            .set(transfers::status_since.eq(then))
            .execute(&mut c)
            .unwrap();
    })
    .await
    .unwrap();
}

/// The city tree with both towns of county A and the town of county B as basic-level
/// committees with approval authority, and the people who act.
struct World {
    app: TestApp,
    tree: CityTree,
    member: Caller,
    secretary_a1a: Caller,
    town_a1_admin: Caller,
    town_a2_admin: Caller,
    town_b1_admin: Caller,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let tree = app.seed_city_tree().await;
    let state = app.state.clone();
    let towns = vec![
        tree.town_a1.clone(),
        tree.town_a2.clone(),
        tree.town_b1.clone(),
    ];
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        diesel::update(organizations::table.filter(organizations::id.eq_any(&towns)))
            .set(organizations::can_approve_members.eq(true))
            .execute(&mut c)
            .unwrap();
    })
    .await
    .unwrap();
    let member = app
        .caller(
            &[(Role::Member, Some(&tree.branch_a1a))],
            Some(&tree.member_a1a),
        )
        .await;
    let secretary_a1a = app
        .caller(
            &[(Role::BranchSecretary, Some(&tree.branch_a1a))],
            Some(&tree.member_group_a1a),
        )
        .await;
    let town_a1_admin = app
        .caller(&[(Role::OrgAdmin, Some(&tree.town_a1))], None)
        .await;
    let town_a2_admin = app
        .caller(
            &[(Role::OrgAdmin, Some(&tree.town_a2))],
            Some(&tree.member_a2a),
        )
        .await;
    let town_b1_admin = app
        .caller(&[(Role::OrgAdmin, Some(&tree.town_b1))], None)
        .await;
    World {
        app,
        tree,
        member,
        secretary_a1a,
        town_a1_admin,
        town_a2_admin,
        town_b1_admin,
    }
}

async fn start(w: &World, who: &Caller) -> String {
    let t = ok_json(
        call(
            &w.app,
            who,
            Method::POST,
            "/api/v1/transfers",
            Some(json!({
                "member_id": w.tree.member_a1a, "kind": "within_county",
                "to_org_id": w.tree.branch_a2a, "reason": "工作调动到甲二镇"
            })),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(t["status"], "submitted");
    assert_eq!(t["from_committee_id"], w.tree.town_a1.as_str());
    assert_eq!(t["to_committee_id"], w.tree.town_a2.as_str());
    t["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn within_county_end_to_end_moves_the_member_only_on_acceptance() {
    let w = world().await;
    let id = start(&w, &w.member).await;
    let app = &w.app;

    // Skipping the branch step is refused, naming what is allowed.
    let p = expect_problem(
        step(app, &w.town_a1_admin, &id, "approve_committee").await,
        409,
        "illegal_transition",
    )
    .await;
    assert!(p.to_string().contains("approve_branch"), "{p}");

    ok_json(
        step(app, &w.secretary_a1a, &id, "approve_branch").await,
        200,
    )
    .await;
    // The sending committee has it to do; the branch waits on others.
    let c = worklist(app, &w.town_a1_admin, &w.tree.town_a1, "").await;
    assert_eq!(c["counts"]["todo"], 1, "{c}");
    assert_eq!(c["counts"]["overdue"], 0, "{c}");
    assert_eq!(c["counts"]["history_out"], 1, "{c}");
    let b = worklist(app, &w.secretary_a1a, &w.tree.branch_a1a, "").await;
    assert_eq!(b["counts"]["todo"], 0, "{b}");
    assert_eq!(b["counts"]["waiting"], 1, "{b}");
    backdate(app, &id, 8).await;
    let c = worklist(app, &w.town_a1_admin, &w.tree.town_a1, "").await;
    assert_eq!(c["overdue"][0], id.as_str(), "{c}");
    let c = worklist(app, &w.town_a1_admin, &w.tree.town_a1, "?overdue_days=30").await;
    assert_eq!(c["counts"]["overdue"], 0, "{c}");
    ok_json(
        step(app, &w.town_a1_admin, &id, "approve_committee").await,
        200,
    )
    .await;
    let r = worklist(app, &w.town_a2_admin, &w.tree.town_a2, "").await;
    assert_eq!(r["counts"]["todo"], 1, "{r}");
    assert_eq!(r["counts"]["history_in"], 1, "{r}");
    // Approved on the sending side: the member still belongs to the old branch.
    assert_eq!(member_org(app, &w.tree.member_a1a).await, w.tree.branch_a1a);

    let t = ok_json(step(app, &w.town_a2_admin, &id, "accept").await, 200).await;
    assert_eq!(t["status"], "accepted");
    assert_eq!(member_org(app, &w.tree.member_a1a).await, w.tree.branch_a2a);

    ok_json(step(app, &w.town_a2_admin, &id, "assign").await, 200).await;
    ok_json(step(app, &w.member, &id, "report").await, 200).await;
    ok_json(
        step(app, &w.town_a2_admin, &id, "return_receipt").await,
        200,
    )
    .await;
    let t = ok_json(step(app, &w.town_a1_admin, &id, "complete").await, 200).await;
    assert_eq!(t["status"], "done");
    assert_eq!(t["to_branch_id"], w.tree.branch_a2a.as_str());
    let steps = t["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    assert_eq!(steps[2]["action"], "approve_committee");
    assert_eq!(steps[2]["actor_org_id"], w.tree.town_a1.as_str());
    assert!(t["allowed"].as_array().unwrap().is_empty());

    // The member was told at every step; the receiving committee's admin when it was its turn.
    assert_eq!(notices_for(app, &w.tree.member_a1a).await, 8);
    assert!(notices_for(app, &w.tree.member_a2a).await >= 1);
}

#[tokio::test]
async fn wrong_organization_is_denied() {
    let w = world().await;
    let id = start(&w, &w.secretary_a1a).await;
    let app = &w.app;
    // The receiving committee cannot take the sending branch's step.
    expect_problem(
        step(app, &w.town_a2_admin, &id, "approve_branch").await,
        403,
        "forbidden",
    )
    .await;
    ok_json(
        step(app, &w.secretary_a1a, &id, "approve_branch").await,
        200,
    )
    .await;
    // Another county's committee does not even see the transfer.
    expect_problem(
        step(app, &w.town_b1_admin, &id, "approve_committee").await,
        404,
        "not_found",
    )
    .await;
    // The receiving committee is not the sending one.
    expect_problem(
        step(app, &w.town_a2_admin, &id, "approve_committee").await,
        403,
        "forbidden",
    )
    .await;
    // A member may not start a transfer for someone else.
    let other = app
        .caller(
            &[(Role::Member, Some(&w.tree.branch_a1c))],
            Some(&w.tree.member_a1c),
        )
        .await;
    let resp = call(
        app,
        &other,
        Method::POST,
        "/api/v1/transfers",
        Some(json!({"member_id": w.tree.member_b1a, "kind": "out_of_city", "outside_org_name": "柳州市某党委", "reason": "x"})),
    )
    .await;
    assert!(matches!(resp.status().as_u16(), 403 | 404));
}

#[tokio::test]
async fn rejection_and_withdrawal() {
    let w = world().await;
    let app = &w.app;
    let id = start(&w, &w.member).await;
    ok_json(
        step(app, &w.secretary_a1a, &id, "approve_branch").await,
        200,
    )
    .await;
    // A rejection needs a reason.
    let resp = call(
        app,
        &w.town_a1_admin,
        Method::POST,
        &format!("/api/v1/transfers/{id}/steps"),
        Some(json!({"action": "reject"})),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 422);
    let resp = call(
        app,
        &w.town_a1_admin,
        Method::POST,
        &format!("/api/v1/transfers/{id}/steps"),
        Some(json!({"action": "reject", "comment": "材料不全"})),
    )
    .await;
    let t = ok_json(resp, 200).await;
    assert_eq!(t["status"], "rejected");
    assert_eq!(t["reject_reason"], "材料不全");
    expect_problem(
        step(app, &w.member, &id, "withdraw").await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(member_org(app, &w.tree.member_a1a).await, w.tree.branch_a1a);

    // A new request may start once the old one is closed; the member withdraws it.
    let id2 = start(&w, &w.member).await;
    // Only one open transfer per member.
    let resp = call(app, &w.member, Method::POST, "/api/v1/transfers", Some(json!({"member_id": w.tree.member_a1a, "kind": "within_county", "to_org_id": w.tree.branch_a2a, "reason": "再次"}))).await;
    expect_problem(resp, 409, "already_exists").await;
    let t = ok_json(step(app, &w.member, &id2, "withdraw").await, 200).await;
    assert_eq!(t["status"], "withdrawn");
    assert_eq!(member_org(app, &w.tree.member_a1a).await, w.tree.branch_a1a);
}

#[tokio::test]
async fn two_concurrent_approvals_one_wins() {
    let w = world().await;
    let app = &w.app;
    let id = start(&w, &w.member).await;
    let second = app
        .caller(&[(Role::BranchCommittee, Some(&w.tree.branch_a1a))], None)
        .await;
    let (a, b) = tokio::join!(
        step(app, &w.secretary_a1a, &id, "approve_branch"),
        step(app, &second, &id, "approve_branch")
    );
    let mut codes = vec![a.status().as_u16(), b.status().as_u16()];
    codes.sort();
    assert_eq!(codes, vec![200, 409]);
    let loser = if a.status().as_u16() == 409 { a } else { b };
    let body: Value = loser.json().await.unwrap();
    let code = body["code"].as_str().unwrap().to_string();
    assert!(
        code == "version_conflict" || code == "illegal_transition",
        "{body}"
    );
    let t = ok_json(
        call(
            app,
            &w.member,
            Method::GET,
            &format!("/api/v1/transfers/{id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["status"], "approved_by_branch");
    assert_eq!(t["steps"].as_array().unwrap().len(), 2);
}

/// Whether `member_id` is on the congress roster (E) of the meeting, read before it starts.
async fn on_roster(app: &TestApp, who: &Caller, meeting: &str, member_id: &str) -> bool {
    let q = ok_json(
        call(
            app,
            who,
            Method::GET,
            &format!("/api/v1/meetings/{meeting}/quorum"),
            None,
        )
        .await,
        200,
    )
    .await;
    q["missing"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["member_id"] == member_id)
}

#[tokio::test]
async fn member_is_on_exactly_one_congress_roster_before_and_after_the_move() {
    let w = world().await;
    let app = &w.app;
    let sa = app.super_admin().await;
    let mut meetings = Vec::new();
    for org in [&w.tree.branch_a1a, &w.tree.branch_a2a] {
        let m = ok_json(
            call(
                app,
                &sa,
                Method::POST,
                &format!("/api/v1/orgs/{org}/meetings"),
                Some(json!({"kind": "congress", "title": "党员大会", "scheduled_start": "2026-12-01T02:00:00Z", "scheduled_end": "2026-12-01T04:00:00Z", "mode": "in_person"})),
            )
            .await,
            201,
        )
        .await;
        meetings.push(m["id"].as_str().unwrap().to_string());
    }
    let member = w.tree.member_a1a.clone();
    let id = start(&w, &w.member).await;
    ok_json(
        step(app, &w.secretary_a1a, &id, "approve_branch").await,
        200,
    )
    .await;
    ok_json(
        step(app, &w.town_a1_admin, &id, "approve_committee").await,
        200,
    )
    .await;
    assert!(on_roster(app, &sa, &meetings[0], &member).await);
    assert!(!on_roster(app, &sa, &meetings[1], &member).await);
    ok_json(step(app, &w.town_a2_admin, &id, "accept").await, 200).await;
    assert!(!on_roster(app, &sa, &meetings[0], &member).await);
    assert!(on_roster(app, &sa, &meetings[1], &member).await);
}
