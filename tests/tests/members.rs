//! The roster over HTTP: entering members, personal data masked, encrypted and revealed
//! (audited), scope, optimistic concurrency, the membership pipeline and its timing
//! rules, flags, history, lists with filters and paging.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, NaiveDate};
use hongying_server::auth::Role;
use hongying_server::crypto::id_number::check_char;
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::{Method, Response};
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

/// A valid ID number born on `birth` (YYYYMMDD); `seq` keeps them apart.
fn idn(birth: &str, seq: u32, male: bool) -> String {
    let seq = seq * 2 + u32::from(male);
    let first17 = format!("410402{birth}{:03}", seq % 1000);
    format!("{first17}{}", check_char(&first17).unwrap())
}

fn today(app: &TestApp) -> NaiveDate {
    hongying_server::orgs::today_cn(app.state.clock.now())
}

fn days_ago(app: &TestApp, n: i64) -> String {
    (today(app) - Duration::days(n)).to_string()
}

/// Rows of the audit log with `action` for `target_id`.
async fn audit_count(app: &TestApp, action: &str, target_id: &str) -> i64 {
    use diesel::prelude::*;
    use hongying_server::db::schema::audit_log;
    let state = app.state.clone();
    let (action, target) = (action.to_string(), target_id.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        audit_log::table
            .filter(audit_log::action.eq(action))
            .filter(audit_log::target_id.eq(target))
            .count()
            .get_result::<i64>(&mut conn)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn create_member(app: &TestApp, who: &Caller, org: &str, body: Value) -> Value {
    ok_json(
        call(
            app,
            who,
            Method::POST,
            &format!("/api/v1/orgs/{org}/members"),
            Some(body),
        )
        .await,
        201,
    )
    .await
}

fn full_member(app: &TestApp, name: &str, id_number: &str) -> Value {
    json!({
        "name": name,
        "id_number": id_number,
        "status": "full",
        "applied_on": days_ago(app, 2000),
        "activist_on": days_ago(app, 1900),
        "candidate_on": days_ago(app, 1500),
        "probationary_on": days_ago(app, 1400),
        "regularized_on": days_ago(app, 1000),
    })
}

struct Cast {
    t: CityTree,
    secretary: Caller,
    committee: Caller,
    county_admin: Caller,
    other_secretary: Caller,
}

async fn cast(app: &TestApp) -> Cast {
    let t = app.seed_city_tree().await;
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await;
    let committee = app
        .caller(&[(Role::BranchCommittee, Some(&t.branch_a1a))], None)
        .await;
    let county_admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let other_secretary = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_b1a))], None)
        .await;
    Cast {
        t,
        secretary,
        committee,
        county_admin,
        other_secretary,
    }
}

#[tokio::test]
async fn members_are_entered_masked_and_revealed_only_to_those_allowed() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    let id_number = idn("19850612", 1, true);
    let mut body = full_member(&app, "王建国", &id_number);
    body["phone"] = json!("+86 138-0013-8001");
    body["party_group_id"] = json!(c.t.group_a1a);
    body["work_unit"] = json!("东村村民委员会");
    let m = create_member(&app, &c.secretary, &c.t.branch_a1a, body).await;
    assert_eq!(m["gender"], "male", "derived from the ID number");
    assert_eq!(m["birth_date"], "1985-06-12");
    assert_eq!(m["ethnicity"], "汉族");
    assert_eq!(
        m["id_number"],
        format!("410402********{}", &id_number[14..])
    );
    assert_eq!(m["phone"], "138****8001");
    assert_eq!(m["revealed"], false);
    assert_eq!(m["version"], 1);
    // Times carry their offset, as the document's date-time says.
    for k in ["created_at", "updated_at"] {
        let t = m[k].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{k}: {t}");
    }
    let id = m["id"].as_str().unwrap().to_string();
    assert_eq!(audit_count(&app, "member.create", &id).await, 1);

    // The secretary of the member's branch and the county's org admin may reveal.
    for who in [&c.secretary, &c.county_admin] {
        let v = ok_json(
            call(
                &app,
                who,
                Method::GET,
                &format!("/api/v1/members/{id}?reveal=true"),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(v["id_number"], id_number);
        assert_eq!(v["phone"], "13800138001");
        assert_eq!(v["revealed"], true);
    }
    assert_eq!(audit_count(&app, "member.read_sensitive", &id).await, 2);
    // A committee member manages the roster but sees masked values only.
    let v = ok_json(
        call(
            &app,
            &c.committee,
            Method::GET,
            &format!("/api/v1/members/{id}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v["phone"], "138****8001");
    expect_problem(
        call(
            &app,
            &c.committee,
            Method::GET,
            &format!("/api/v1/members/{id}?reveal=true"),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(audit_count(&app, "member.read_sensitive", &id).await, 2);

    // The member reads (and may reveal) their own record; a fellow member may not read it.
    // (A member entered with a phone has a pending account already; this one has none.)
    let own_id_number = idn("19850613", 2, true);
    let own = create_member(
        &app,
        &c.secretary,
        &c.t.branch_a1a,
        full_member(&app, "王自己", &own_id_number),
    )
    .await;
    let id = own["id"].as_str().unwrap().to_string();
    let id_number = own_id_number;
    let me = app
        .caller(&[(Role::Member, Some(&c.t.branch_a1a))], Some(&id))
        .await;
    let own = ok_json(
        call(
            &app,
            &me,
            Method::GET,
            &format!("/api/v1/members/{id}?reveal=true"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(own["id_number"], id_number);
    let fellow = app
        .caller(
            &[(Role::Member, Some(&c.t.branch_a1a))],
            Some(&c.t.member_group_a1a),
        )
        .await;
    expect_problem(
        call(
            &app,
            &fellow,
            Method::GET,
            &format!("/api/v1/members/{id}"),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // Outside scope: 404, whether manager or member.
    let outsider = app
        .caller(
            &[(Role::Member, Some(&c.t.branch_b1a))],
            Some(&c.t.member_b1a),
        )
        .await;
    for who in [&c.other_secretary, &outsider] {
        expect_problem(
            call(
                &app,
                who,
                Method::GET,
                &format!("/api/v1/members/{id}"),
                None,
            )
            .await,
            404,
            "not_found",
        )
        .await;
    }
    // A member may not change their own record.
    expect_problem(
        call(
            &app,
            &me,
            Method::PATCH,
            &format!("/api/v1/members/{id}"),
            Some(json!({"version": 1, "work_unit": "x"})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn bad_input_is_refused_with_stable_codes() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    let path = format!("/api/v1/orgs/{}/members", c.t.branch_a1a);
    let good = idn("19900101", 3, false);
    let mut bad = good.clone();
    bad.replace_range(17..18, if &good[17..] == "1" { "2" } else { "1" });
    let p = expect_problem(
        call(
            &app,
            &c.secretary,
            Method::POST,
            &path,
            Some(full_member(&app, "李芳", &bad)),
        )
        .await,
        422,
        "invalid_id_number",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("校验码"), "{p}");

    let mut body = full_member(&app, "李芳", &good);
    body["phone"] = json!("13900139001");
    create_member(&app, &c.secretary, &c.t.branch_a1a, body.clone()).await;
    // The same person again, or the same phone for someone else: 409.
    expect_problem(
        call(&app, &c.secretary, Method::POST, &path, Some(body.clone())).await,
        409,
        "already_exists",
    )
    .await;
    let mut other = full_member(&app, "张敏", &idn("19900101", 4, false));
    other["phone"] = json!("139-0013-9001");
    expect_problem(
        call(&app, &c.secretary, Method::POST, &path, Some(other)).await,
        409,
        "already_exists",
    )
    .await;

    // Given gender and birth date must agree with the number.
    let mut wrong = full_member(&app, "赵强", &idn("19900101", 5, true));
    wrong["gender"] = json!("female");
    wrong["birth_date"] = json!("1990-01-02");
    let p = expect_problem(
        call(&app, &c.secretary, Method::POST, &path, Some(wrong)).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["birth_date", "gender"]);

    // Stage dates: required for the status, in order, not beyond the status.
    let p = expect_problem(
        call(
            &app,
            &c.secretary,
            Method::POST,
            &path,
            Some(json!({"name": "孙杰", "id_number": idn("19950505", 6, true), "status": "probationary",
                        "activist_on": days_ago(&app, 100), "applied_on": days_ago(&app, 50)})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let codes: Vec<(String, String)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().into(),
                e["code"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        codes.contains(&("activist_on".into(), "date_order".into())),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("probationary_on".into(), "required".into())),
        "{codes:?}"
    );
    // Under 18 when applying.
    let young = json!({"name": "小明", "id_number": idn(&(today(&app) - Duration::days(17 * 365)).format("%Y%m%d").to_string(), 7, true),
                       "status": "applicant", "applied_on": days_ago(&app, 1)});
    let p = expect_problem(
        call(&app, &c.secretary, Method::POST, &path, Some(young)).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["code"], "under_age");

    // Not a branch: a township committee cannot hold members; a temporary branch neither.
    expect_problem(
        call(
            &app,
            &c.county_admin,
            Method::POST,
            &format!("/api/v1/orgs/{}/members", c.t.town_a1),
            Some(full_member(&app, "周平", &idn("19800101", 8, true))),
        )
        .await,
        422,
        "not_a_branch",
    )
    .await;
    // A 党小组 of another branch is refused.
    let mut grouped = full_member(&app, "吴华", &idn("19800101", 9, true));
    grouped["party_group_id"] = json!(c.t.group_a1a);
    expect_problem(
        call(
            &app,
            &c.county_admin,
            Method::POST,
            &format!("/api/v1/orgs/{}/members", c.t.branch_a1b),
            Some(grouped),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    // Outside scope 404; a member in scope 403; unknown fields 400.
    expect_problem(
        call(
            &app,
            &c.other_secretary,
            Method::POST,
            &path,
            Some(full_member(&app, "x", &idn("19800101", 10, true))),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let member = app
        .caller(
            &[(Role::Member, Some(&c.t.branch_a1a))],
            Some(&c.t.member_a1a),
        )
        .await;
    expect_problem(
        call(
            &app,
            &member,
            Method::POST,
            &path,
            Some(full_member(&app, "x", &idn("19800101", 11, true))),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let mut unknown = full_member(&app, "x", &idn("19800101", 12, true));
    unknown["nickname"] = json!("x");
    expect_problem(
        call(&app, &c.secretary, Method::POST, &path, Some(unknown)).await,
        400,
        "invalid_body",
    )
    .await;
}

#[tokio::test]
async fn lookup_by_id_number_is_scoped_and_audited() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    let id_number = idn("19770707", 20, true);
    let m = create_member(
        &app,
        &c.secretary,
        &c.t.branch_a1a,
        full_member(&app, "郭峰", &id_number),
    )
    .await;
    let id = m["id"].as_str().unwrap();
    let found = ok_json(
        call(
            &app,
            &c.county_admin,
            Method::GET,
            &format!(
                "/api/v1/members/lookup?id_number={}",
                id_number.to_lowercase()
            ),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(found["id"], id);
    assert_eq!(found["revealed"], false);
    assert_eq!(audit_count(&app, "member.lookup", id).await, 1);
    expect_problem(
        call(
            &app,
            &c.other_secretary,
            Method::GET,
            &format!("/api/v1/members/lookup?id_number={id_number}"),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let member = app
        .caller(
            &[(Role::Member, Some(&c.t.branch_a1a))],
            Some(&c.t.member_a1a),
        )
        .await;
    expect_problem(
        call(
            &app,
            &member,
            Method::GET,
            &format!("/api/v1/members/lookup?id_number={id_number}"),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        call(
            &app,
            &c.county_admin,
            Method::GET,
            "/api/v1/members/lookup?id_number=123",
            None,
        )
        .await,
        422,
        "invalid_id_number",
    )
    .await;
    expect_problem(
        call(
            &app,
            &c.county_admin,
            Method::GET,
            &format!(
                "/api/v1/members/lookup?id_number={}",
                idn("19770707", 21, true)
            ),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn updates_need_the_current_version() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    let mut body = full_member(&app, "陈静", &idn("19880808", 30, false));
    body["phone"] = json!("13700137001");
    let m = create_member(&app, &c.secretary, &c.t.branch_a1a, body).await;
    let path = format!("/api/v1/members/{}", m["id"].as_str().unwrap());
    let v = ok_json(
        call(&app, &c.committee, Method::PATCH, &path, Some(json!({"version": 1, "work_unit": "县农业农村局", "education": "本科", "phone": null}))).await,
        200,
    )
    .await;
    assert_eq!(v["version"], 2);
    assert_eq!(v["work_unit"], "县农业农村局");
    assert_eq!(v["phone"], Value::Null);
    expect_problem(
        call(
            &app,
            &c.committee,
            Method::PATCH,
            &path,
            Some(json!({"version": 1, "name": "陈晶"})),
        )
        .await,
        409,
        "version_conflict",
    )
    .await;
    // A correction of the ID number must keep the gender and birth date consistent.
    let v = ok_json(
        call(
            &app,
            &c.secretary,
            Method::PATCH,
            &path,
            Some(json!({"version": 2, "id_number": idn("19880809", 31, false)})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v["birth_date"], "1988-08-09");
    expect_problem(
        call(
            &app,
            &c.secretary,
            Method::PATCH,
            &path,
            Some(json!({"version": 3, "id_number": idn("19880809", 32, true), "gender": "female"})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    // A stage date out of order is refused; nothing changes.
    expect_problem(
        call(
            &app,
            &c.secretary,
            Method::PATCH,
            &path,
            Some(json!({"version": 3, "regularized_on": days_ago(&app, 1500)})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let now = ok_json(
        call(&app, &c.secretary, Method::GET, &path, None).await,
        200,
    )
    .await;
    assert_eq!(now["version"], 3);
    assert_eq!(
        audit_count(&app, "member.update", now["id"].as_str().unwrap()).await,
        2
    );
}

async fn secretary(app: &TestApp, t: &CityTree) -> Caller {
    app.caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await
}

async fn status(app: &TestApp, who: &Caller, id: &str, body: Value) -> Response {
    call(
        app,
        who,
        Method::POST,
        &format!("/api/v1/members/{id}/status"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn the_pipeline_runs_in_order_and_on_time() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    let m = create_member(
        &app,
        &c.secretary,
        &c.t.branch_a1a,
        json!({"name": "刘洋", "id_number": idn("19980303", 40, true), "status": "applicant", "applied_on": days_ago(&app, 120)}),
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    // Moving the clock expires access tokens: a fresh caller after each move.
    let mut s = c.secretary.clone();
    let now_s = || today(&app).to_string();

    let p = expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "candidate", "effective_on": now_s()}),
        )
        .await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(p["allowed"], json!(["activist", "removed"]));
    expect_problem(
        status(&app, &s, &id, json!({"to": "activist", "effective_on": (today(&app) + Duration::days(1)).to_string()})).await,
        422,
        "validation_failed",
    )
    .await;
    let v = ok_json(
        status(
            &app,
            &s,
            &id,
            json!({"to": "activist", "effective_on": now_s(), "reason": "支委会研究确定"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v["status"], "activist");
    assert_eq!(v["activist_on"], now_s());

    // A year as activist before becoming a candidate.
    let p = expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "candidate", "effective_on": now_s()}),
        )
        .await,
        409,
        "transition_precondition",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("满一年"), "{p}");
    app.state.clock.advance(Duration::days(366));
    s = secretary(&app, &c.t).await;
    ok_json(
        status(
            &app,
            &s,
            &id,
            json!({"to": "candidate", "effective_on": now_s()}),
        )
        .await,
        200,
    )
    .await;
    app.state.clock.advance(Duration::days(90));
    s = secretary(&app, &c.t).await;
    let v = ok_json(
        status(
            &app,
            &s,
            &id,
            json!({"to": "probationary", "effective_on": now_s()}),
        )
        .await,
        200,
    )
    .await;
    let ends = today(&app)
        .checked_add_months(chrono::Months::new(12))
        .unwrap();
    assert_eq!(v["probation_ends_on"], ends.to_string());

    // Probation: not before a year; extension once, 6–12 months, decided at its end.
    expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "full", "effective_on": now_s()}),
        )
        .await,
        409,
        "transition_precondition",
    )
    .await;
    expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "extend_probation", "effective_on": now_s(), "extension_months": 6}),
        )
        .await,
        409,
        "transition_precondition",
    )
    .await;
    app.state.clock.advance(Duration::days(366));
    s = secretary(&app, &c.t).await;
    expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "extend_probation", "effective_on": now_s(), "extension_months": 13}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let v = ok_json(
        status(&app, &s, &id, json!({"to": "extend_probation", "effective_on": now_s(), "extension_months": 6, "reason": "支部大会决定延长"})).await,
        200,
    )
    .await;
    assert_eq!(v["status"], "probationary");
    assert_eq!(v["probation_extended"], true);
    let p = expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "extend_probation", "effective_on": now_s(), "extension_months": 6}),
        )
        .await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(p["allowed"], json!(["full", "removed"]));
    expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "full", "effective_on": now_s()}),
        )
        .await,
        409,
        "transition_precondition",
    )
    .await;
    app.state.clock.advance(Duration::days(185));
    s = secretary(&app, &c.t).await;
    // A stale version is refused; the current one works.
    expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "full", "effective_on": now_s(), "version": 1}),
        )
        .await,
        409,
        "version_conflict",
    )
    .await;
    let v = ok_json(
        status(
            &app,
            &s,
            &id,
            json!({"to": "full", "effective_on": now_s(), "version": 5}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v["status"], "full");
    assert_eq!(v["regularized_on"], now_s());

    // Removal needs a reason; after it nothing is allowed.
    expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "removed", "effective_on": now_s()}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    ok_json(
        status(
            &app,
            &s,
            &id,
            json!({"to": "removed", "effective_on": now_s(), "reason": "本人申请退党"}),
        )
        .await,
        200,
    )
    .await;
    let p = expect_problem(
        status(
            &app,
            &s,
            &id,
            json!({"to": "removed", "effective_on": now_s(), "reason": "x"}),
        )
        .await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(p["allowed"], json!([]));

    // The history has every step, oldest first; each change was audited.
    let h = ok_json(
        call(
            &app,
            &s,
            Method::GET,
            &format!("/api/v1/members/{id}/history"),
            None,
        )
        .await,
        200,
    )
    .await;
    let steps: Vec<(String, String)> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["change"].as_str().unwrap().into(),
                e["to_value"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("status", "applicant"),
        ("status", "activist"),
        ("status", "candidate"),
        ("status", "probationary"),
        ("extend_probation", "6"),
        ("status", "full"),
        ("status", "removed"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(steps, expected);
    assert_eq!(h["items"][6]["reason"], "本人申请退党");
    assert_eq!(audit_count(&app, "member.status", &id).await, 6);
    // Paging the history.
    let page = ok_json(
        call(
            &app,
            &s,
            Method::GET,
            &format!("/api/v1/members/{id}/history?limit=4"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    let next = page["next_cursor"].as_str().unwrap();
    let rest = ok_json(
        call(
            &app,
            &s,
            Method::GET,
            &format!("/api/v1/members/{id}/history?limit=4&cursor={next}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert!(rest.get("next_cursor").is_none());
    // Removed people leave the default list but can be asked for.
    let list = ok_json(
        call(
            &app,
            &s,
            Method::GET,
            &format!("/api/v1/orgs/{}/members", c.t.branch_a1a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != id.as_str())
    );
    let list = ok_json(
        call(
            &app,
            &s,
            Method::GET,
            &format!("/api/v1/orgs/{}/members?status=removed", c.t.branch_a1a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(list["items"][0]["id"], id.as_str());
}

#[tokio::test]
async fn flags_change_with_history_and_rules() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    let full = create_member(
        &app,
        &c.secretary,
        &c.t.branch_a1a,
        full_member(&app, "马超", &idn("19700101", 50, true)),
    )
    .await;
    let fid = full["id"].as_str().unwrap().to_string();
    let flags = |id: &str| format!("/api/v1/members/{id}/flags");
    let today = today(&app);
    let until = (today + Duration::days(365)).to_string();
    let v = ok_json(
        call(&app, &c.secretary, Method::POST, &flags(&fid), Some(json!({"discipline_until": until, "lost_contact": true, "effective_on": today.to_string(), "reason": "党员大会决定"}))).await,
        200,
    )
    .await;
    assert_eq!(v["flags"]["discipline_until"], until.as_str());
    assert_eq!(v["flags"]["lost_contact"], true);
    // Setting the same values again changes nothing.
    let again = ok_json(
        call(
            &app,
            &c.secretary,
            Method::POST,
            &flags(&fid),
            Some(json!({"lost_contact": true, "effective_on": today.to_string()})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(again["version"], v["version"]);
    // 留党察看 lasts at most two years and is for full members only.
    expect_problem(
        call(&app, &c.secretary, Method::POST, &flags(&fid), Some(json!({"discipline_until": (today + Duration::days(800)).to_string(), "effective_on": today.to_string()}))).await,
        422,
        "validation_failed",
    )
    .await;
    let applicant = create_member(
        &app,
        &c.secretary,
        &c.t.branch_a1a,
        json!({"name": "何丽", "id_number": idn("19990909", 51, false), "status": "applicant", "applied_on": today.to_string()}),
    )
    .await;
    let aid = applicant["id"].as_str().unwrap();
    expect_problem(
        call(
            &app,
            &c.secretary,
            Method::POST,
            &flags(aid),
            Some(json!({"discipline_until": until, "effective_on": today.to_string()})),
        )
        .await,
        409,
        "transition_precondition",
    )
    .await;
    expect_problem(
        call(
            &app,
            &c.secretary,
            Method::POST,
            &flags(aid),
            Some(json!({"membership_stopped": true, "effective_on": today.to_string()})),
        )
        .await,
        409,
        "transition_precondition",
    )
    .await;
    expect_problem(
        call(
            &app,
            &c.secretary,
            Method::POST,
            &flags(aid),
            Some(json!({"effective_on": today.to_string()})),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;

    // The flag filter finds the disciplined member; clearing ends it.
    let listed = ok_json(
        call(
            &app,
            &c.secretary,
            Method::GET,
            &format!(
                "/api/v1/orgs/{}/members?flags=under_discipline,lost_contact",
                c.t.branch_a1a
            ),
            None,
        )
        .await,
        200,
    )
    .await;
    let ids: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![fid.as_str()]);
    let cleared = ok_json(
        call(
            &app,
            &c.secretary,
            Method::POST,
            &flags(&fid),
            Some(json!({"discipline_until": null, "effective_on": today.to_string()})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(cleared["flags"]["discipline_until"], Value::Null);
    let h = ok_json(
        call(
            &app,
            &c.secretary,
            Method::GET,
            &format!("/api/v1/members/{fid}/history"),
            None,
        )
        .await,
        200,
    )
    .await;
    let changes: Vec<(&str, &str, &str)> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|e| {
            (
                e["change"].as_str().unwrap(),
                e["from_value"].as_str().unwrap(),
                e["to_value"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            ("flag.discipline_until", "none", until.as_str()),
            ("flag.lost_contact", "false", "true"),
            ("flag.discipline_until", until.as_str(), "none"),
        ]
    );
    assert_eq!(audit_count(&app, "member.flags", &fid).await, 2);
    // The member can read their history; a committee member may set flags; an outsider not.
    let me = app
        .caller(&[(Role::Member, Some(&c.t.branch_a1a))], Some(&fid))
        .await;
    ok_json(
        call(
            &app,
            &me,
            Method::GET,
            &format!("/api/v1/members/{fid}/history"),
            None,
        )
        .await,
        200,
    )
    .await;
    ok_json(
        call(
            &app,
            &c.committee,
            Method::POST,
            &flags(&fid),
            Some(json!({"rights_suspended": true, "effective_on": today.to_string()})),
        )
        .await,
        200,
    )
    .await;
    expect_problem(
        call(
            &app,
            &c.other_secretary,
            Method::POST,
            &flags(&fid),
            Some(json!({"rights_suspended": false, "effective_on": today.to_string()})),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn lists_page_filter_and_show_members_only_names() {
    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    let names = ["王一", "王二", "王三", "李一", "李二", "张一", "赵一"];
    for (i, n) in names.iter().enumerate() {
        let mut body = full_member(&app, n, &idn("19820202", 60 + i as u32, true));
        if i == 0 {
            body["phone"] = json!("13600136001");
        }
        create_member(&app, &c.secretary, &c.t.branch_a1a, body).await;
    }
    create_member(
        &app,
        &c.secretary,
        &c.t.branch_a1a,
        json!({"name": "王申", "id_number": idn("20000202", 70, true), "status": "applicant", "applied_on": days_ago(&app, 10)}),
    )
    .await;
    let base = format!("/api/v1/orgs/{}/members", c.t.branch_a1a);
    // Paging by (name, id): 7 + the 2 fixture members + 王申 = 10.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(cur) => format!("{base}?limit=3&cursor={cur}"),
            None => format!("{base}?limit=3"),
        };
        let page = ok_json(call(&app, &c.secretary, Method::GET, &url, None).await, 200).await;
        pages += 1;
        for i in page["items"].as_array().unwrap() {
            assert!(i.get("id_number").is_some() && i.get("flags").is_some());
            seen.push(i["name"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(n) => cursor = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 10);
    // Pages follow the one order the database gives the whole list (its collation).
    let whole = ok_json(
        call(
            &app,
            &c.secretary,
            Method::GET,
            &format!("{base}?limit=200"),
            None,
        )
        .await,
        200,
    )
    .await;
    let whole: Vec<String> = whole["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, whole);

    let page = ok_json(
        call(
            &app,
            &c.committee,
            Method::GET,
            &format!("{base}?name_prefix=王&status=full"),
            None,
        )
        .await,
        200,
    )
    .await;
    let got: std::collections::BTreeSet<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["王一", "王二", "王三"].into_iter().collect());
    let page = ok_json(
        call(
            &app,
            &c.committee,
            Method::GET,
            &format!("{base}?status=applicant"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // LIKE wildcards in a prefix match literally.
    let page = ok_json(
        call(
            &app,
            &c.committee,
            Method::GET,
            &format!("{base}?name_prefix=%25"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(page["items"].as_array().unwrap().is_empty());

    // A member of the branch: names and statuses only; no flag filter, no subtree.
    let member = app
        .caller(
            &[(Role::Member, Some(&c.t.branch_a1a))],
            Some(&c.t.member_a1a),
        )
        .await;
    let page = ok_json(call(&app, &member, Method::GET, &base, None).await, 200).await;
    let first = &page["items"][0];
    assert!(first.get("name").is_some() && first.get("status").is_some());
    for hidden in ["id_number", "phone", "flags", "gender", "work_unit"] {
        assert!(
            first.get(hidden).is_none(),
            "{hidden} shown to a member: {first}"
        );
    }
    expect_problem(
        call(
            &app,
            &member,
            Method::GET,
            &format!("{base}?flags=lost_contact"),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        call(
            &app,
            &member,
            Method::GET,
            &format!("{base}?subtree=true"),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // A member of another branch of the same township: 404; of the branch above: 403.
    let other = app
        .caller(
            &[(Role::Member, Some(&c.t.branch_a1b))],
            Some(&c.t.member_a1b),
        )
        .await;
    expect_problem(
        call(&app, &other, Method::GET, &base, None).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        call(
            &app,
            &member,
            Method::GET,
            &format!("/api/v1/orgs/{}/members", c.t.town_a1),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;

    // Subtree lists for org admins only.
    let all = ok_json(
        call(
            &app,
            &c.county_admin,
            Method::GET,
            &format!(
                "/api/v1/orgs/{}/members?subtree=true&limit=200",
                c.t.county_a
            ),
            None,
        )
        .await,
        200,
    )
    .await;
    let orgs: std::collections::BTreeSet<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["org_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        10 + 3,
        "a1a's ten, a1b, a1c, a2a"
    );
    assert_eq!(orgs.len(), 4);
    expect_problem(
        call(
            &app,
            &c.secretary,
            Method::GET,
            &format!("{base}?subtree=true"),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;

    // Bad query values.
    expect_problem(
        call(
            &app,
            &c.secretary,
            Method::GET,
            &format!("{base}?status=member"),
            None,
        )
        .await,
        400,
        "invalid_query",
    )
    .await;
    expect_problem(
        call(
            &app,
            &c.secretary,
            Method::GET,
            &format!("{base}?flags=rich"),
            None,
        )
        .await,
        400,
        "invalid_query",
    )
    .await;
    expect_problem(
        call(
            &app,
            &c.secretary,
            Method::GET,
            &format!("{base}?cursor=bm9wZQ"),
            None,
        )
        .await,
        400,
        "invalid_cursor",
    )
    .await;
}

#[tokio::test]
async fn raw_columns_hold_no_plain_id_number_or_phone() {
    use diesel::prelude::*;
    use hongying_server::db::schema::{accounts, audit_log, member_status_history, members};
    use hongying_server::store::accounts::AccountRow;
    use hongying_server::store::members::{HistoryRow, MemberRow};

    let app = TestApp::spawn().await;
    let c = cast(&app).await;
    let mut secrets = Vec::new();
    for i in 0..3u32 {
        let id_number = idn("19760415", 80 + i, i % 2 == 0);
        let phone = format!("1580015800{i}");
        let mut body = full_member(&app, &format!("测试{i}"), &id_number);
        body["phone"] = json!(format!(
            "+86 {}-{}-{}",
            &phone[..3],
            &phone[3..7],
            &phone[7..]
        ));
        let m = create_member(&app, &c.secretary, &c.t.branch_a1a, body).await;
        // Reveal and update too, so every write path has run.
        ok_json(
            call(
                &app,
                &c.secretary,
                Method::GET,
                &format!("/api/v1/members/{}?reveal=true", m["id"].as_str().unwrap()),
                None,
            )
            .await,
            200,
        )
        .await;
        ok_json(
            call(
                &app,
                &c.secretary,
                Method::PATCH,
                &format!("/api/v1/members/{}", m["id"].as_str().unwrap()),
                Some(json!({"version": 1, "phone": format!("1590015900{i}")})),
            )
            .await,
            200,
        )
        .await;
        secrets.push(id_number);
        secrets.push(phone);
        secrets.push(format!("1590015900{i}"));
    }
    let state = app.state.clone();
    let dump = tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        let ms: Vec<MemberRow> = members::table
            .select(MemberRow::as_select())
            .load(&mut conn)
            .unwrap();
        let accs: Vec<AccountRow> = accounts::table
            .select(AccountRow::as_select())
            .load(&mut conn)
            .unwrap();
        let hist: Vec<HistoryRow> = member_status_history::table
            .select(HistoryRow::as_select())
            .load(&mut conn)
            .unwrap();
        let audit: Vec<(Option<String>, Option<String>)> = audit_log::table
            .select((audit_log::before_json, audit_log::after_json))
            .load(&mut conn)
            .unwrap();
        assert!(
            ms.len() >= 3 + 6 && accs.len() >= 3,
            "members and provisioned accounts exist"
        );
        // Every member with a phone got an account in the same transaction.
        assert!(accs.iter().filter(|a| a.member_id.is_some()).count() >= 3);
        format!("{ms:?}\n{accs:?}\n{hist:?}\n{audit:?}")
    })
    .await
    .unwrap();
    for s in &secrets {
        assert!(
            !dump.contains(s.as_str()),
            "plain value {s} found in the raw columns"
        );
        assert!(!dump.contains(&s.to_lowercase()));
    }
    // The ciphertexts decrypt back to the values (the raw data is encrypted, not lost).
    let revealed = ok_json(
        call(
            &app,
            &c.county_admin,
            Method::GET,
            &format!("/api/v1/members/lookup?id_number={}", secrets[0]),
            None,
        )
        .await,
        200,
    )
    .await;
    let full = ok_json(
        call(
            &app,
            &c.county_admin,
            Method::GET,
            &format!(
                "/api/v1/members/{}?reveal=true",
                revealed["id"].as_str().unwrap()
            ),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(full["id_number"], secrets[0].as_str());
    assert_eq!(full["phone"], "15900159000");
}
