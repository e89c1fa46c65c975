//! 组织关系转接 over HTTP: a transfer within a county end to end (the member moves only
//! when the receiving committee accepts), a rejection, a withdrawal, two concurrent
//! approvals, and approvers from the wrong organization.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::prelude::*;
use hongying_server::auth::Role;
use hongying_server::db::schema::{members, organizations};
use hongying_tests::api;
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

async fn worklist(app: &TestApp, who: &Caller, org: &str, q: &str) -> Value {
    api::get(
        app,
        who,
        &format!("/api/v1/orgs/{org}/transfers/worklist{q}"),
    )
    .await
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
    // The sending committee's approval issued a letter valid ten days (within the city);
    // the receiving committee's receipt stamped it.
    let letters = t["letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{t}");
    assert!(
        letters[0]["serial"]
            .as_str()
            .unwrap()
            .starts_with("甲组字〔")
    );
    let day = |k: &str| {
        letters[0][k]
            .as_str()
            .unwrap()
            .parse::<chrono::NaiveDate>()
            .unwrap()
    };
    assert_eq!((day("expires_on") - day("issued_on")).num_days(), 9);
    assert!(letters[0]["receipt_returned_at"].is_string(), "{t}");

    // The member was told at every step; the receiving committee's admin when it was its turn.
    assert_eq!(
        app.count_notices(&w.tree.member_a1a, "transfer_step").await,
        8
    );
    assert!(app.count_notices(&w.tree.member_a2a, "transfer_step").await >= 1);
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

// --- introduction letters (介绍信) and 市外转入 -------------------------------------------

/// The member's ID number in plain text (decrypted as the server does).
async fn plain_id_number(app: &TestApp, member_id: &str) -> String {
    let state = app.state.clone();
    let id = member_id.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        let enc: String = members::table
            .find(&id)
            .select(members::id_number_enc)
            .first(&mut c)
            .unwrap();
        state
            .pii
            .decrypt(hongying_server::crypto::pii::Field::IdNumber, &id, &enc)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn audit_count(app: &TestApp, action: &str, target: &str) -> i64 {
    use hongying_server::db::schema::audit_log;
    let state = app.state.clone();
    let (action, target) = (action.to_string(), target.to_string());
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        audit_log::table
            .filter(audit_log::action.eq(&action))
            .filter(audit_log::target_id.eq(&target))
            .count()
            .get_result::<i64>(&mut c)
            .unwrap()
    })
    .await
    .unwrap()
}

/// An out-of-city transfer of `member_id` (a member of a branch under town A1), approved
/// by its branch (as the super admin) and by town A1: the letter is out. Returns the
/// transfer as the committee's step answered it.
async fn out_of_city_with_letter(w: &World, member_id: &str, committee: &Caller) -> Value {
    let app = &w.app;
    let sa = app.super_admin().await;
    let t = ok_json(
        call(
            app,
            &sa,
            Method::POST,
            "/api/v1/transfers",
            Some(json!({
                "member_id": member_id, "kind": "out_of_city",
                "outside_org_name": "中共柳州市柳北区委员会组织部",
                "outside_org_address": "广西柳州市柳北区", "reason": "到柳州工作",
                "dues_paid_to": "2026-10"
            })),
        )
        .await,
        201,
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    ok_json(step(app, &sa, &id, "approve_branch").await, 200).await;
    let t = ok_json(step(app, committee, &id, "approve_committee").await, 200).await;
    assert_eq!(t["status"], "approved_by_committee");
    t
}

async fn verify(app: &TestApp, token: &str) -> hongying_tests::reqwest::Response {
    app.get(&format!("/api/v1/letters/verify/{token}")).await
}

/// The verify page as a phone's browser opens it from the QR code: its status and the text
/// a person reads (tags and the style sheet stripped).
async fn verify_page(app: &TestApp, token: &str) -> (u16, String) {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/letters/verify/{token}")))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    let html = r.text().await.unwrap();
    assert!(ct.starts_with("text/html"), "{ct} {status}: {html}");
    assert!(html.contains("name=\"viewport\""), "readable on a phone");
    let body = html.split_once("<body>").unwrap().1;
    let mut text = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    (status, text)
}

#[tokio::test]
async fn out_of_city_letter_is_printed_with_a_qr_token_that_verifies() {
    let w = world().await;
    let app = &w.app;
    let t = out_of_city_with_letter(&w, &w.tree.member_a1a, &w.town_a1_admin).await;
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["dues_paid_to"], "2026-10");
    let letters = t["letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{t}");
    let summary = &letters[0];
    let year = &summary["issued_on"].as_str().unwrap()[..4];
    assert_eq!(summary["serial"], format!("甲组字〔{year}〕第0001号"));
    assert_eq!(summary["status"], "valid");
    let letter_id = summary["id"].as_str().unwrap().to_string();
    // The member was told of the letter with his step notice.
    assert!(app.count_notices(&w.tree.member_a1a, "transfer_step").await >= 3);

    // The letter as JSON, read by the member: masked fields, 30 days out of the city.
    let letter = ok_json(
        call(
            app,
            &w.member,
            Method::GET,
            &format!("/api/v1/letters/{letter_id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    let plain = plain_id_number(app, &w.tree.member_a1a).await;
    assert_eq!(letter["validity_days"], 30);
    assert_eq!(letter["membership"], "full");
    assert_eq!(letter["member_name"], "张东");
    assert_eq!(letter["from_org_name"], "东村党支部");
    assert_eq!(letter["to_org_name"], "中共柳州市柳北区委员会组织部");
    assert_eq!(letter["issuing_org_name"], "甲一镇党委");
    assert_eq!(letter["dues_paid_to"], "2026-10");
    let masked = letter["id_number_masked"].as_str().unwrap().to_string();
    assert_eq!(masked, format!("{}********{}", &plain[..6], &plain[14..]));
    assert!(!letter.to_string().contains(&plain));
    assert_eq!(letter["valid_now"], true);
    let token = letter["verify_token"].as_str().unwrap().to_string();

    // The printout: Chinese, printable, the serial, the masked ID number and never the
    // plain one, and a QR code whose picture is exactly the one of the verify URL.
    let resp = call(
        app,
        &w.town_a1_admin,
        Method::GET,
        &format!("/api/v1/letters/{letter_id}/print"),
        None,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = resp.text().await.unwrap();
    assert!(html.contains(summary["serial"].as_str().unwrap()));
    assert!(html.contains(&masked));
    assert!(!html.contains(&plain), "the plain ID number is printed");
    assert!(html.contains("中国共产党党员组织关系介绍信"));
    assert!(html.contains("回执"));
    assert!(html.contains("有效期叁拾天"));
    assert!(html.contains("二〇二六年十月"));
    assert!(html.contains("@media print"));
    let marker = "/api/v1/letters/verify/";
    let start = html.find(marker).expect("the verify URL is printed") + marker.len();
    let printed: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let url = format!("{marker}{printed}");
    assert!(html.contains("<svg"));
    let qr = hongying_server::transfers::letters::qr_svg(&url).unwrap();
    assert!(
        html.contains(&qr),
        "the QR code does not carry the printed URL"
    );

    // Anyone may check the printed token, without logging in.
    for tok in [printed.as_str(), token.as_str()] {
        let v = ok_json(verify(app, tok).await, 200).await;
        assert_eq!(v["authentic"], true, "{v}");
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["serial"], summary["serial"]);
        assert_eq!(v["id_number_masked"], masked.as_str());
        assert_eq!(v["member_name_masked"], "张*");
        assert_eq!(v["to_org_name"], "中共柳州市柳北区委员会组织部");
        assert_eq!(v["receipt_returned"], false);
        assert!(!v.to_string().contains(&plain));
        assert!(!v.to_string().contains("张东"));
    }

    // Forged or garbled tokens, and tokens of another kind, are refused.
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let (head, _) = token.rsplit_once('.').unwrap();
    let (h, _) = head.split_once('.').unwrap();
    let swapped = format!(
        "{h}.{}.{}",
        base64_claims(
            r#"{"sub":"x","ser":"y","iss":"hongying","aud":"hongying-letter","iat":1,"exp":4102444800}"#
        ),
        token.rsplit_once('.').unwrap().1
    );
    for bad in [
        forged.as_str(),
        "not-a-token",
        swapped.as_str(),
        w.member.token.as_str(),
    ] {
        expect_problem(verify(app, bad).await, 400, "letter_token_invalid").await;
    }

    // Scanned with a phone, the QR code opens a page that says it in words.
    let (status, text) = verify_page(app, &printed).await;
    assert_eq!(status, 200);
    assert!(text.contains("真实有效"), "{text}");
    assert!(text.contains(summary["serial"].as_str().unwrap()), "{text}");
    assert!(text.contains("张*") && text.contains(&masked), "{text}");
    assert!(!text.contains("张东") && !text.contains(&plain), "{text}");
    // No English, no machine words: the digits and the masked ID number's X aside.
    assert!(
        !text.chars().any(|c| c.is_ascii_alphabetic() && c != 'X'),
        "{text}"
    );
    let (status, text) = verify_page(app, &forged).await;
    assert_eq!(status, 400);
    assert!(text.contains("无法核实"), "{text}");

    // The receiving side's receipt (回执) comes back: recorded by the sending committee
    // for a destination outside the system; the letter shows it, then the transfer closes.
    ok_json(
        step(app, &w.town_a1_admin, &id, "return_receipt").await,
        200,
    )
    .await;
    let v = ok_json(verify(app, &token).await, 200).await;
    assert_eq!(v["receipt_returned"], true);
    let t = ok_json(step(app, &w.town_a1_admin, &id, "complete").await, 200).await;
    assert_eq!(t["status"], "done");
    assert!(t["letters"][0]["receipt_returned_at"].is_string(), "{t}");
    assert_eq!(audit_count(app, "transfer.letter_issue", &id).await, 1);

    // Outside the transfer's scope the letter does not exist.
    expect_problem(
        call(
            app,
            &w.town_b1_admin,
            Method::GET,
            &format!("/api/v1/letters/{letter_id}/print"),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

fn base64_claims(json: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

#[tokio::test]
async fn an_expired_letter_is_reported_expired_then_reissued_under_a_new_serial() {
    let w = world().await;
    let app = &w.app;
    let t = out_of_city_with_letter(&w, &w.tree.member_a1a, &w.town_a1_admin).await;
    let id = t["id"].as_str().unwrap().to_string();
    let old = &t["letters"][0];
    let old_id = old["id"].as_str().unwrap().to_string();
    let old_serial = old["serial"].as_str().unwrap().to_string();
    let old_token = ok_json(
        call(
            app,
            &w.town_a1_admin,
            Method::GET,
            &format!("/api/v1/letters/{old_id}"),
            None,
        )
        .await,
        200,
    )
    .await["verify_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Still valid: it cannot be declared expired.
    expect_problem(
        step(app, &w.town_a1_admin, &id, "expire").await,
        409,
        "transition_precondition",
    )
    .await;

    // Thirty-one days later the letter has expired.
    app.state.clock.advance(chrono::Duration::days(31));
    let v = ok_json(verify(app, &old_token).await, 200).await;
    assert_eq!(
        (
            v["authentic"].as_bool(),
            v["valid"].as_bool(),
            v["reason"].as_str()
        ),
        (Some(true), Some(false), Some("expired")),
        "{v}"
    );
    // The clock moved past every earlier session: the committee signs in again.
    let committee = app
        .caller(&[(Role::OrgAdmin, Some(&w.tree.town_a1))], None)
        .await;
    ok_json(step(app, &committee, &id, "expire").await, 200).await;
    // Meanwhile the committee set its 发文简称: the new letter carries it.
    let org_path = format!("/api/v1/orgs/{}", w.tree.town_a1);
    let org = ok_json(
        call(app, &committee, Method::GET, &org_path, None).await,
        200,
    )
    .await;
    assert_eq!(org["letter_abbr"], "甲", "derived from the name: {org}");
    let org = ok_json(
        call(
            app,
            &committee,
            Method::PATCH,
            &org_path,
            Some(json!({"version": org["version"], "letter_abbr": "甲一"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(org["letter_abbr"], "甲一");
    let t = ok_json(step(app, &committee, &id, "reissue").await, 200).await;
    assert_eq!(t["status"], "approved_by_committee");
    let letters = t["letters"].as_array().unwrap();
    assert_eq!(letters.len(), 2, "{t}");
    assert_eq!(letters[0]["status"], "void");
    assert_eq!(letters[0]["void_reason"], "reissued");
    assert_eq!(letters[1]["status"], "valid");
    let new_serial = letters[1]["serial"].as_str().unwrap().to_string();
    assert_ne!(new_serial, old_serial);
    assert!(old_serial.starts_with("甲组字"), "{old_serial}");
    assert!(new_serial.starts_with("甲一组字"), "{new_serial}");
    assert!(new_serial.ends_with("第0002号"), "{new_serial}");
    let new_id = letters[1]["id"].as_str().unwrap().to_string();
    let new = ok_json(
        call(
            app,
            &committee,
            Method::GET,
            &format!("/api/v1/letters/{new_id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(new["reissued_from"], old_id.as_str());

    // The old letter now answers void, naming its successor; the new one holds.
    let v = ok_json(verify(app, &old_token).await, 200).await;
    assert_eq!(
        (
            v["valid"].as_bool(),
            v["reason"].as_str(),
            v["void_reason"].as_str()
        ),
        (Some(false), Some("void"), Some("reissued")),
        "{v}"
    );
    assert_eq!(v["superseded_by"], new_serial.as_str());
    let (_, text) = verify_page(app, &old_token).await;
    assert!(
        text.contains("已作废") && text.contains(&new_serial),
        "{text}"
    );
    let v = ok_json(
        verify(app, new["verify_token"].as_str().unwrap()).await,
        200,
    )
    .await;
    assert_eq!(
        (v["valid"].as_bool(), v["reason"].as_str()),
        (Some(true), None)
    );
    // The old printout says so.
    let html = call(
        app,
        &committee,
        Method::GET,
        &format!("/api/v1/letters/{old_id}/print"),
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(html.contains("已作废"));
    assert_eq!(audit_count(app, "transfer.letter_void", &id).await, 1);
    assert_eq!(audit_count(app, "transfer.letter_issue", &id).await, 2);
    assert_eq!(audit_count(app, "transfer.reissue", &id).await, 1);
}

#[tokio::test]
async fn concurrent_letters_of_one_committee_get_distinct_serials() {
    let w = world().await;
    let app = &w.app;
    let sa = app.super_admin().await;
    let mut ids = Vec::new();
    for member in [&w.tree.member_a1b, &w.tree.member_a1c] {
        let t = ok_json(
            call(
                app,
                &sa,
                Method::POST,
                "/api/v1/transfers",
                Some(json!({"member_id": member, "kind": "out_of_city",
                    "outside_org_name": "柳州市某党委", "reason": "务工"})),
            )
            .await,
            201,
        )
        .await;
        let id = t["id"].as_str().unwrap().to_string();
        ok_json(step(app, &sa, &id, "approve_branch").await, 200).await;
        ids.push(id);
    }
    let (a, b) = tokio::join!(
        step(app, &w.town_a1_admin, &ids[0], "approve_committee"),
        step(app, &w.town_a1_admin, &ids[1], "approve_committee")
    );
    let (a, b) = (ok_json(a, 200).await, ok_json(b, 200).await);
    let mut serials = vec![
        a["letters"][0]["serial"].as_str().unwrap().to_string(),
        b["letters"][0]["serial"].as_str().unwrap().to_string(),
    ];
    serials.sort();
    assert!(serials[0].ends_with("第0001号"), "{serials:?}");
    assert!(serials[1].ends_with("第0002号"), "{serials:?}");
}

/// A valid ID number for a person born in 1985 (the seed's are 1960s–2000s).
fn id_number(seq: u32) -> String {
    let first17 = format!("45020219850315{:03}", seq % 1000);
    format!(
        "{first17}{}",
        hongying_server::crypto::id_number::check_char(&first17).unwrap()
    )
}

/// The receiving side registers a member from Liuzhou at branch A2a.
async fn register(w: &World, serial: &str, seq: u32, who: &Caller) -> Response {
    let body = json!({
        "to_org_id": w.tree.branch_a2a, "incoming_letter_serial": serial,
        "from_org_name": "中共柳州市柳北区委员会", "from_org_address": "广西柳州市柳北区",
        "reason": "回乡创业", "dues_paid_to": "2026-09",
        "person": {"name": "韦回乡", "id_number": id_number(seq), "status": "full",
                   "probationary_on": "2009-07-01", "regularized_on": "2010-07-01", "ethnicity": "壮族"}
    });
    call(
        &w.app,
        who,
        Method::POST,
        "/api/v1/transfers/incoming",
        Some(body),
    )
    .await
}

#[tokio::test]
async fn into_city_registration_enters_at_the_receiving_committee() {
    let w = world().await;
    let app = &w.app;
    let sa = app.super_admin().await;
    // Not through POST /transfers.
    let resp = call(
        app,
        &sa,
        Method::POST,
        "/api/v1/transfers",
        Some(json!({
        "member_id": w.tree.member_a1a, "kind": "into_city", "reason": "x"})),
    )
    .await;
    expect_problem(resp, 422, "validation_failed").await;
    // Only the receiving side registers it.
    let other = app
        .caller(&[(Role::BranchSecretary, Some(&w.tree.branch_a1a))], None)
        .await;
    let resp = register(&w, "柳组字〔2026〕第0123号", 1, &other).await;
    assert_eq!(resp.status().as_u16(), 404);

    // A congress of the receiving branch, to see who is on its roster.
    let m = ok_json(
        call(app, &sa, Method::POST, &format!("/api/v1/orgs/{}/meetings", w.tree.branch_a2a),
            Some(json!({"kind": "congress", "title": "党员大会", "scheduled_start": "2027-03-01T02:00:00Z",
                "scheduled_end": "2027-03-01T04:00:00Z", "mode": "in_person"}))).await,
        201,
    )
    .await;
    let meeting = m["id"].as_str().unwrap().to_string();

    let t = ok_json(
        register(&w, "柳组字〔2026〕第0123号", 1, &w.town_a2_admin).await,
        201,
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    let member = t["member_id"].as_str().unwrap().to_string();
    assert_eq!(t["kind"], "into_city");
    assert_eq!(t["status"], "approved_by_committee");
    assert_eq!(t["incoming_letter_serial"], "柳组字〔2026〕第0123号");
    assert_eq!(t["outside_org_name"], "中共柳州市柳北区委员会");
    assert_eq!(t["dues_paid_to"], "2026-09");
    assert!(t["from_org_id"].is_null());
    assert_eq!(t["to_committee_id"], w.tree.town_a2.as_str());
    assert_eq!(t["steps"][0]["action"], "register_incoming");
    // The receiving committee's admin (a member of A2a) was told it is his turn.
    assert_eq!(
        app.count_notices(&w.tree.member_a2a, "transfer_step").await,
        1
    );
    let allowed: Vec<&str> = t["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        allowed.contains(&"accept") && allowed.contains(&"reject"),
        "{allowed:?}"
    );
    assert!(!allowed.contains(&"approve_branch"));
    assert!(t["letters"].as_array().unwrap().is_empty());
    assert_eq!(member_org(app, &member).await, w.tree.branch_a2a);
    // The same letter twice is refused.
    expect_problem(
        register(&w, "柳组字〔2026〕第0123号", 2, &w.town_a2_admin).await,
        409,
        "already_exists",
    )
    .await;

    // On the receiving committee's to-do list; not on the branch's roster until accepted.
    let r = worklist(app, &w.town_a2_admin, &w.tree.town_a2, "").await;
    assert_eq!(r["todo"][0], id.as_str(), "{r}");
    assert!(!on_roster(app, &sa, &meeting, &member).await);
    let t = ok_json(step(app, &w.town_a2_admin, &id, "accept").await, 200).await;
    assert_eq!(t["status"], "accepted");
    assert!(on_roster(app, &sa, &meeting, &member).await);
    assert_eq!(audit_count(app, "member.transfer", &member).await, 1);
    assert_eq!(audit_count(app, "transfer.register_incoming", &id).await, 1);
    ok_json(step(app, &w.town_a2_admin, &id, "assign").await, 200).await;
    ok_json(step(app, &sa, &id, "report").await, 200).await;
    ok_json(
        step(app, &w.town_a2_admin, &id, "return_receipt").await,
        200,
    )
    .await;
    // With no sending committee in the system, the receiving one closes it.
    let t = ok_json(step(app, &w.town_a2_admin, &id, "complete").await, 200).await;
    assert_eq!(t["status"], "done");

    // Another registration turned down: the person never joins the branch.
    let t = ok_json(
        register(&w, "柳组字〔2026〕第0124号", 3, &w.town_a2_admin).await,
        201,
    )
    .await;
    let (id2, member2) = (
        t["id"].as_str().unwrap().to_string(),
        t["member_id"].as_str().unwrap().to_string(),
    );
    let t = ok_json(
        call(
            app,
            &w.town_a2_admin,
            Method::POST,
            &format!("/api/v1/transfers/{id2}/steps"),
            Some(json!({"action": "reject", "comment": "介绍信与本人不符"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(t["status"], "rejected");
    assert!(!on_roster(app, &sa, &meeting, &member2).await);
    let state = app.state.clone();
    let status = tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        members::table
            .find(&member2)
            .select(members::status)
            .first::<String>(&mut c)
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(status, "removed");
}

#[tokio::test]
async fn the_public_letter_check_is_rate_limited_per_address_and_never_sniffed() {
    let app = TestApp::spawn_with(|c| c.transfers.verify_per_address_per_minute = 2).await;
    let check = |html: bool| {
        let mut r = app
            .client
            .get(app.url("/api/v1/letters/verify/not-a-token"));
        if html {
            r = r.header("accept", "text/html");
        }
        r.send()
    };
    let page = check(true).await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(
        page.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(
        page.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
    expect_problem(check(false).await.unwrap(), 400, "letter_token_invalid").await;
    let limited = check(false).await.unwrap();
    assert!(limited.headers().get("retry-after").is_some());
    expect_problem(limited, 429, "rate_limited").await;
}
