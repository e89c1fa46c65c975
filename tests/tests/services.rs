//! 服务面对面 end to end: a villager's agricultural question routed to the 农技 expert of
//! his township, accepted, answered, followed up and rated; an unaccepted question
//! escalated after 24 hours and assigned by the org admin; privacy; uploads typed by
//! content; slots booked once; FAQ without the asker; statistics from known timings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Duration;
use diesel::prelude::*;
use hongying_server::auth::{Grant, Principal, Role};
use hongying_server::db::schema::audit_log;
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::{Method, Response};
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

const PASSWORD: &str = "Village@2026";

/// The same session with an access token valid at the app's current (advanced) time.
fn fresh(app: &TestApp, who: &Caller) -> Caller {
    let payload = who.token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    let now = app.state.clock.now().and_utc().timestamp();
    let token = app
        .state
        .tokens
        .issue_access(&who.account_id, claims["sid"].as_str().unwrap(), now)
        .unwrap();
    Caller {
        account_id: who.account_id.clone(),
        token,
    }
}

async fn post(app: &TestApp, who: &Caller, path: &str, body: Value) -> Response {
    call(app, who, Method::POST, path, Some(body)).await
}

async fn get(app: &TestApp, who: &Caller, path: &str) -> Response {
    call(app, who, Method::GET, path, None).await
}

/// Redeems an activation code at `/auth/activate` and returns the signed-in caller.
async fn activate(app: &TestApp, phone: &str, issued: &Value) -> Caller {
    let resp = app
        .post_json(
            "/api/v1/auth/activate",
            &json!({"phone": phone, "code": issued["code"], "password": PASSWORD, "device_id": "phone"}),
        )
        .await;
    let pair = ok_json(resp, 200).await;
    Caller {
        account_id: issued["account_id"].as_str().unwrap().to_string(),
        token: pair["access_token"].as_str().unwrap().to_string(),
    }
}

/// Registers, verifies and activates an expert; returns (expert id, caller).
async fn expert(
    app: &TestApp,
    admin: &Caller,
    org: &str,
    name: &str,
    phone: &str,
    field: &str,
) -> (String, Caller) {
    let created = ok_json(
        post(
            app,
            admin,
            "/api/v1/services/experts",
            json!({"org_id": org, "name": name, "phone": phone, "field": field,
                   "specialities": ["玉米病虫害"],
                   "availability": [{"weekday": 1, "start": "09:00", "end": "17:00"}]}),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["expert"]["status"], "pending");
    let id = created["expert"]["id"].as_str().unwrap().to_string();
    let verified = ok_json(
        post(
            app,
            admin,
            &format!("/api/v1/services/experts/{id}/status"),
            json!({"action": "verify"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(verified["status"], "enabled");
    let who = activate(app, phone, &created["activation"]).await;
    (id, who)
}

async fn villager(app: &TestApp, admin: &Caller, org: &str, name: &str, phone: &str) -> Caller {
    let issued = ok_json(
        post(
            app,
            admin,
            "/api/v1/services/public-accounts",
            json!({"org_id": org, "name": name, "phone": phone}),
        )
        .await,
        201,
    )
    .await;
    activate(app, phone, &issued).await
}

async fn ask(app: &TestApp, who: &Caller, category: &str, text: &str) -> Value {
    ok_json(
        post(
            app,
            who,
            "/api/v1/services/questions",
            json!({"category": category, "text": text}),
        )
        .await,
        201,
    )
    .await
}

async fn ids(app: &TestApp, who: &Caller, role: &str) -> Vec<String> {
    let l = ok_json(
        get(app, who, &format!("/api/v1/services/questions?role={role}")).await,
        200,
    )
    .await;
    l["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    let state = app.state.clone();
    let action = action.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        audit_log::table
            .filter(audit_log::action.eq(&action))
            .count()
            .get_result(&mut c)
            .unwrap()
    })
    .await
    .unwrap()
}

async fn notice_kinds(app: &TestApp, who: &Caller) -> Vec<String> {
    let page = ok_json(get(app, who, "/api/v1/notices").await, 200).await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_string())
        .collect()
}

async fn sweep(app: &TestApp) -> hongying_server::services::questions::SweepReport {
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        hongying_server::services::questions::sweep(
            &mut c,
            &state.config.services,
            state.clock.now(),
        )
        .unwrap()
    })
    .await
    .unwrap()
}

struct World {
    t: CityTree,
    town_admin: Caller,
    county_b_admin: Caller,
    town_agri: (String, Caller),
    county_agri: (String, Caller),
    town_legal: (String, Caller),
    other_county_agri: (String, Caller),
    farmer: Caller,
}

async fn world(app: &TestApp) -> World {
    let t = app.seed_city_tree().await;
    let town_admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.town_a1))], None)
        .await;
    let county_admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let county_b_admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_b))], None)
        .await;
    let town_agri = expert(
        app,
        &town_admin,
        &t.town_a1,
        "刘农技",
        "13700000001",
        "agri",
    )
    .await;
    let county_agri = expert(
        app,
        &county_admin,
        &t.county_a,
        "陈农技",
        "13700000002",
        "agri",
    )
    .await;
    let town_legal = expert(
        app,
        &town_admin,
        &t.town_a1,
        "周律师",
        "13700000003",
        "legal",
    )
    .await;
    let other_county_agri = expert(
        app,
        &county_b_admin,
        &t.county_b,
        "吴农技",
        "13700000004",
        "agri",
    )
    .await;
    let farmer = villager(app, &town_admin, &t.branch_a1a, "王老汉", "13600000001").await;
    World {
        t,
        town_admin,
        county_b_admin,
        town_agri,
        county_agri,
        town_legal,
        other_county_agri,
        farmer,
    }
}

fn spawn_config(c: &mut hongying_server::config::Config) {
    // The test calls the sweep itself, with the clock advanced.
    c.services.sweep_interval_secs = 86_400;
    c.services.attachment_max_bytes = 64 * 1024;
}

#[tokio::test]
async fn a_villagers_question_from_routing_to_rating_escalation_faq_and_statistics() {
    let app = TestApp::spawn_with(spawn_config).await;
    let w = world(&app).await;
    assert_eq!(audit_count(&app, "service.expert_verify").await, 4);
    let me = ok_json(get(&app, &w.farmer, "/api/v1/me").await, 200).await;
    assert_eq!(me["kind"], "public");

    // A category nobody serves here.
    expect_problem(
        post(
            &app,
            &w.farmer,
            "/api/v1/services/questions",
            json!({"category": "medical", "text": "腰疼怎么办"}),
        )
        .await,
        422,
        "no_expert_available",
    )
    .await;

    // Q1: routed to the township's 农技 expert only.
    let q1 = ask(
        &app,
        &w.farmer,
        "agri",
        "我是王老汉，电话13600000001，玉米叶子发黄怎么办？",
    )
    .await;
    let q1_id = q1["id"].as_str().unwrap().to_string();
    assert_eq!(q1["area_org_id"], w.t.branch_a1a.as_str());
    assert_eq!(q1["status"], "open");
    assert_eq!(
        ids(&app, &w.town_agri.1, "offered").await,
        vec![q1_id.clone()]
    );
    assert!(ids(&app, &w.county_agri.1, "offered").await.is_empty());
    assert!(ids(&app, &w.town_legal.1, "offered").await.is_empty());
    let offered = ok_json(
        get(
            &app,
            &w.town_agri.1,
            &format!("/api/v1/services/questions/{q1_id}"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(offered["viewer_role"], "offered");
    assert!(offered["asker"]["phone_masked"].is_null(), "{offered}");
    for outsider in [&w.county_agri.1, &w.town_legal.1, &w.other_county_agri.1] {
        expect_problem(
            get(
                &app,
                outsider,
                &format!("/api/v1/services/questions/{q1_id}"),
            )
            .await,
            404,
            "not_found",
        )
        .await;
    }
    // Answering before accepting: not assigned.
    expect_problem(
        post(
            &app,
            &w.town_agri.1,
            &format!("/api/v1/services/questions/{q1_id}/messages"),
            json!({"text": "先看看"}),
        )
        .await,
        403,
        "not_assigned",
    )
    .await;
    // Q2, asked at the same time, nobody will accept.
    let q2 = ask(&app, &w.farmer, "agri", "小麦出苗不齐").await;
    let q2_id = q2["id"].as_str().unwrap().to_string();

    let accepted = ok_json(
        post(
            &app,
            &w.town_agri.1,
            &format!("/api/v1/services/questions/{q1_id}/accept"),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(accepted["assigned_expert"]["id"], w.town_agri.0.as_str());
    assert_eq!(accepted["asker"]["phone_masked"], "136****0001");
    // Rating before an answer.
    expect_problem(
        post(
            &app,
            &w.farmer,
            &format!("/api/v1/services/questions/{q1_id}/rating"),
            json!({"rating": 5}),
        )
        .await,
        409,
        "not_answered",
    )
    .await;

    // Two hours later the expert answers; follow-up; second answer.
    app.state.clock.advance(Duration::hours(2));
    let farmer = fresh(&app, &w.farmer);
    let expert = fresh(&app, &w.town_agri.1);
    let path = format!("/api/v1/services/questions/{q1_id}/messages");
    ok_json(
        post(
            &app,
            &expert,
            &path,
            json!({"text": "可能缺氮，建议追施尿素。"}),
        )
        .await,
        201,
    )
    .await;
    ok_json(
        post(&app, &farmer, &path, json!({"text": "追多少合适？"})).await,
        201,
    )
    .await;
    let thread = ok_json(
        post(&app, &expert, &path, json!({"text": "每亩10公斤左右。"})).await,
        201,
    )
    .await;
    let roles: Vec<&str> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author_role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["expert", "asker", "expert"]);
    // Another expert may not answer: he does not even see the question.
    expect_problem(
        post(
            &app,
            &fresh(&app, &w.county_agri.1),
            &path,
            json!({"text": "我来答"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // Uploads: text named .jpg refused, a real PNG accepted and served to the expert only.
    let upload = |who: Caller, name: &str, ct: &str, body: Vec<u8>| {
        let rb = app
            .client
            .post(app.url(&format!(
                "/api/v1/services/questions/{q1_id}/attachments?filename={name}"
            )))
            .header("authorization", who.bearer())
            .header("content-type", ct)
            .body(body);
        async move { rb.send().await.unwrap() }
    };
    expect_problem(
        upload(
            farmer.clone(),
            "leaf.jpg",
            "image/jpeg",
            b"this is just text".to_vec(),
        )
        .await,
        415,
        "unsupported_media_type",
    )
    .await;
    expect_problem(
        upload(
            farmer.clone(),
            "big.png",
            "image/png",
            [b"\x89PNG\r\n\x1a\n".to_vec(), vec![0u8; 70 * 1024]].concat(),
        )
        .await,
        413,
        "payload_too_large",
    )
    .await;
    let png = b"\x89PNG\r\n\x1a\n leaf photo".to_vec();
    let meta = ok_json(
        upload(farmer.clone(), "leaf.png", "image/png", png.clone()).await,
        201,
    )
    .await;
    assert_eq!(meta["content_type"], "image/png");
    let sha = hongying_server::minutes::attachments::sha256_hex(&png);
    assert_eq!(meta["sha256"], sha.as_str());
    for i in 0..3u8 {
        let more = [png.clone(), vec![i]].concat();
        ok_json(
            upload(farmer.clone(), "more.png", "image/png", more).await,
            201,
        )
        .await;
    }
    expect_problem(
        upload(farmer.clone(), "fifth.png", "image/png", png.clone()).await,
        409,
        "too_many_attachments",
    )
    .await;
    let file = format!(
        "/api/v1/services/attachments/{}",
        meta["id"].as_str().unwrap()
    );
    let got = get(&app, &expert, &file).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), png);

    // Privacy: another villager and another member of the same village see nothing.
    let town_admin = fresh(&app, &w.town_admin);
    let neighbour = villager(&app, &town_admin, &w.t.branch_a1b, "李大婶", "13600000002").await;
    let member = app
        .caller(
            &[(Role::Member, Some(&w.t.branch_a1a))],
            Some(&w.t.member_a1a),
        )
        .await;
    for outsider in [&neighbour, &member] {
        for p in [format!("/api/v1/services/questions/{q1_id}"), file.clone()] {
            expect_problem(get(&app, outsider, &p).await, 404, "not_found").await;
        }
    }
    // The township admin sees it, with the offered list empty now.
    let seen = ok_json(
        get(
            &app,
            &town_admin,
            &format!("/api/v1/services/questions/{q1_id}"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(seen["viewer_role"], "admin");

    // Rating once, then closing.
    let rate = format!("/api/v1/services/questions/{q1_id}/rating");
    let rated = ok_json(
        post(
            &app,
            &farmer,
            &rate,
            json!({"rating": 5, "comment": "解答及时"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(rated["rating"], 5);
    expect_problem(
        post(&app, &farmer, &rate, json!({"rating": 1})).await,
        409,
        "already_rated",
    )
    .await;
    ok_json(
        post(
            &app,
            &farmer,
            &format!("/api/v1/services/questions/{q1_id}/close"),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    let kinds = notice_kinds(&app, &farmer).await;
    for k in [
        "service_question_routed",
        "service_question_accepted",
        "service_question_message",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
    }
    // Account notices are marked read by their owner only.
    let page = ok_json(get(&app, &farmer, "/api/v1/notices").await, 200).await;
    let notice = format!(
        "/api/v1/notices/{}/read",
        page["items"][0]["id"].as_str().unwrap()
    );
    expect_problem(
        post(&app, &neighbour, &notice, json!({})).await,
        404,
        "not_found",
    )
    .await;
    let read = ok_json(post(&app, &farmer, &notice, json!({})).await, 200).await;
    assert!(read["read_at"].is_string(), "{read}");
    let kinds = notice_kinds(&app, &expert).await;
    for k in [
        "service_question_offered",
        "service_question_message",
        "service_question_rated",
        "service_question_closed",
    ] {
        assert!(kinds.contains(&k.to_string()), "{k} in {kinds:?}");
    }

    // Q2 escalates only after 24 hours without an expert.
    app.state.clock.advance(Duration::hours(21));
    assert!(sweep(&app).await.escalated.is_empty());
    app.state.clock.advance(Duration::hours(2));
    let report = sweep(&app).await;
    assert_eq!(report.escalated, vec![q2_id.clone()]);
    let town_admin = fresh(&app, &w.town_admin);
    let list = ok_json(
        get(
            &app,
            &town_admin,
            &format!("/api/v1/services/orgs/{}/escalations", w.t.town_a1),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(list["items"][0]["id"], q2_id.as_str());
    assert!(
        notice_kinds(&app, &town_admin)
            .await
            .contains(&"service_question_escalated".to_string())
    );
    // Neither the other county's admin nor its expert may see it.
    let q2_path = format!("/api/v1/services/questions/{q2_id}");
    for outsider in [&w.county_b_admin, &w.other_county_agri.1] {
        expect_problem(
            get(&app, &fresh(&app, outsider), &q2_path).await,
            404,
            "not_found",
        )
        .await;
    }
    expect_problem(
        get(
            &app,
            &fresh(&app, &w.county_b_admin),
            &format!("/api/v1/services/orgs/{}/escalations", w.t.town_a1),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // Assigning it to an expert of another county is refused; to the county's, done.
    expect_problem(
        post(
            &app,
            &town_admin,
            &format!("{q2_path}/assign"),
            json!({"expert_id": w.other_county_agri.0}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let assigned = ok_json(
        post(
            &app,
            &town_admin,
            &format!("{q2_path}/assign"),
            json!({"expert_id": w.county_agri.0}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(assigned["status"], "accepted");
    let county_agri = fresh(&app, &w.county_agri.1);
    assert!(
        notice_kinds(&app, &county_agri)
            .await
            .contains(&"service_question_assigned".to_string())
    );
    app.state.clock.advance(Duration::hours(1));
    let county_agri = fresh(&app, &county_agri);
    ok_json(
        post(
            &app,
            &county_agri,
            &format!("{q2_path}/messages"),
            json!({"text": "注意播种深度。"}),
        )
        .await,
        201,
    )
    .await;

    // Q3: answered after one hour, rated 4, closed by the sweep after a week idle.
    let farmer = fresh(&app, &w.farmer);
    let q3 = ask(&app, &farmer, "agri", "苹果树烂根").await;
    let q3_path = format!("/api/v1/services/questions/{}", q3["id"].as_str().unwrap());
    let expert = fresh(&app, &w.town_agri.1);
    ok_json(
        post(&app, &expert, &format!("{q3_path}/accept"), json!({})).await,
        200,
    )
    .await;
    app.state.clock.advance(Duration::hours(1));
    let (farmer, expert) = (fresh(&app, &farmer), fresh(&app, &expert));
    ok_json(
        post(
            &app,
            &expert,
            &format!("{q3_path}/messages"),
            json!({"text": "排水。"}),
        )
        .await,
        201,
    )
    .await;
    ok_json(
        post(
            &app,
            &farmer,
            &format!("{q3_path}/rating"),
            json!({"rating": 4}),
        )
        .await,
        200,
    )
    .await;
    app.state.clock.advance(Duration::days(8));
    let report = sweep(&app).await;
    assert_eq!(report.closed.len(), 2, "{report:?}");
    let (farmer, town_admin) = (fresh(&app, &farmer), fresh(&app, &w.town_admin));
    let q3_now = ok_json(get(&app, &farmer, &q3_path).await, 200).await;
    assert_eq!(q3_now["status"], "closed");
    assert_eq!(q3_now["close_reason"], "inactivity");
    // Q4 stays unanswered; one legal question too.
    ask(&app, &farmer, "agri", "化肥价格").await;
    ask(&app, &farmer, "legal", "土地流转合同").await;

    // FAQ: published for the whole township, found by the neighbour without the asker.
    let faq = ok_json(
        post(
            &app,
            &town_admin,
            &format!("/api/v1/services/questions/{q1_id}/faq"),
            json!({"area_org_id": w.t.town_a1}),
        )
        .await,
        201,
    )
    .await;
    let text = faq.to_string();
    assert!(
        !text.contains("王老汉")
            && !text.contains("13600000001")
            && !text.contains(&w.farmer.account_id),
        "{text}"
    );
    assert!(text.contains("尿素"), "{text}");
    let neighbour = fresh(&app, &neighbour);
    let found = ok_json(
        get(
            &app,
            &neighbour,
            "/api/v1/services/faq?q=%E7%8E%89%E7%B1%B3",
        )
        .await,
        200,
    )
    .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["items"][0]["id"], faq["id"]);
    assert!(!found.to_string().contains("王老汉"));
    let none = ok_json(
        get(
            &app,
            &neighbour,
            "/api/v1/services/faq?q=%E6%B0%B4%E7%A8%BB",
        )
        .await,
        200,
    )
    .await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let far = villager(
        &app,
        &fresh(&app, &w.county_b_admin),
        &w.t.branch_b1a,
        "钱大爷",
        "13600000003",
    )
    .await;
    assert!(
        ok_json(get(&app, &far, "/api/v1/services/faq").await, 200).await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    expect_problem(
        get(
            &app,
            &far,
            &format!("/api/v1/services/faq?org_id={}", w.t.town_a1),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // Statistics of the township: agri waits 1 h, 2 h, 26 h; 3 of 4 resolved; 4.5 stars.
    let s = ok_json(
        get(
            &app,
            &town_admin,
            &format!("/api/v1/services/orgs/{}/stats", w.t.town_a1),
        )
        .await,
        200,
    )
    .await;
    let agri = s["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "agri")
        .unwrap()
        .clone();
    assert_eq!(agri["questions"], 4, "{s}");
    assert_eq!(agri["answered"], 3);
    assert_eq!(agri["resolved"], 3);
    let median = agri["median_first_answer_secs"].as_i64().unwrap();
    let p90 = agri["p90_first_answer_secs"].as_i64().unwrap();
    assert!((7200..7260).contains(&median), "{agri}");
    assert!((93_600..93_660).contains(&p90), "{agri}");
    assert_eq!(agri["resolution_rate"], 0.75);
    assert_eq!(agri["mean_rating"], 4.5);
    assert_eq!(agri["ratings"], 2);
    let legal = s["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "legal")
        .unwrap()
        .clone();
    assert_eq!(legal["questions"], 1);
    assert!(legal["median_first_answer_secs"].is_null());
    assert_eq!(s["total"]["questions"], 5);
    expect_problem(
        get(
            &app,
            &fresh(&app, &w.county_b_admin),
            &format!("/api/v1/services/orgs/{}/stats", w.t.town_a1),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert!(audit_count(&app, "service.question_escalate").await == 1);
    assert!(audit_count(&app, "service.question_assign").await == 1);
}

#[tokio::test]
async fn a_booked_slot_cannot_be_booked_again_and_the_room_seam_admits_its_two_people() {
    let app = TestApp::spawn_with(spawn_config).await;
    let w = world(&app).await;
    let q = ask(&app, &w.farmer, "agri", "果树修剪").await;
    let q_path = format!("/api/v1/services/questions/{}", q["id"].as_str().unwrap());
    ok_json(
        post(&app, &w.town_agri.1, &format!("{q_path}/accept"), json!({})).await,
        200,
    )
    .await;
    let start = app.state.clock.now().and_utc() + Duration::days(1);
    let slot = |s: chrono::DateTime<chrono::Utc>| json!({"starts_at": s, "ends_at": s + Duration::minutes(30)});
    let s1 = ok_json(
        post(&app, &w.town_agri.1, "/api/v1/services/slots", slot(start)).await,
        201,
    )
    .await;
    let s2 = ok_json(
        post(
            &app,
            &w.town_agri.1,
            "/api/v1/services/slots",
            slot(start + Duration::hours(1)),
        )
        .await,
        201,
    )
    .await;
    // Overlapping his own slot, and a villager offering slots: refused.
    expect_problem(
        post(
            &app,
            &w.town_agri.1,
            "/api/v1/services/slots",
            slot(start + Duration::minutes(10)),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    expect_problem(
        post(&app, &w.farmer, "/api/v1/services/slots", slot(start)).await,
        403,
        "forbidden",
    )
    .await;
    let open = ok_json(
        get(
            &app,
            &w.farmer,
            &format!("/api/v1/services/experts/{}/slots", w.town_agri.0),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(open["items"].as_array().unwrap().len(), 2);

    let book = format!("{q_path}/consultations");
    let c1 = ok_json(
        post(&app, &w.farmer, &book, json!({"slot_id": s1["id"]})).await,
        201,
    )
    .await;
    assert_eq!(c1["status"], "booked");
    expect_problem(
        post(&app, &w.farmer, &book, json!({"slot_id": s1["id"]})).await,
        409,
        "slot_taken",
    )
    .await;
    assert!(
        notice_kinds(&app, &w.town_agri.1)
            .await
            .contains(&"service_consultation_booked".to_string())
    );

    // Two bookings of one slot at once: exactly one wins.
    let (a, b) = tokio::join!(
        post(&app, &w.farmer, &book, json!({"slot_id": s2["id"]})),
        post(&app, &w.farmer, &book, json!({"slot_id": s2["id"]})),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
    let loser = if a.status() == 409 { a } else { b };
    expect_problem(loser, 409, "slot_taken").await;

    // The seam the signaling room calls.
    let c1_id = c1["id"].as_str().unwrap().to_string();
    let principal = |account: &str, grants: Vec<Grant>| Principal {
        account_id: account.to_string(),
        session_id: String::new(),
        member_id: None,
        member_org_id: None,
        grants,
    };
    let expert_p = principal(
        &w.town_agri.1.account_id,
        vec![Grant {
            role: Role::Expert,
            org_id: Some(w.t.town_a1.clone()),
        }],
    );
    let farmer_p = principal(
        &w.farmer.account_id,
        vec![Grant {
            role: Role::Public,
            org_id: Some(w.t.branch_a1a.clone()),
        }],
    );
    let stranger_p = principal(
        &w.county_agri.1.account_id,
        vec![Grant {
            role: Role::Expert,
            org_id: Some(w.t.county_a.clone()),
        }],
    );
    let state = app.state.clone();
    let (farmer_acc, expert_acc) = (
        w.farmer.account_id.clone(),
        w.town_agri.1.account_id.clone(),
    );
    let id = c1_id.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        use hongying_server::services::consultations as c;
        let mut conn = state.db.get().unwrap();
        for p in [&expert_p, &farmer_p] {
            assert_eq!(
                c::join_allowed(&mut conn, p, &id).unwrap(),
                (expert_acc.clone(), farmer_acc.clone())
            );
        }
        assert!(matches!(
            c::join_allowed(&mut conn, &stranger_p, &id),
            Err(hongying_server::error::AppError::NotFound)
        ));
        let started = state.clock.now();
        c::record_consultation(&mut conn, &id, started, started + Duration::seconds(1500)).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(recorded.duration_seconds, Some(1500));
    let seen = ok_json(get(&app, &w.farmer, &q_path).await, 200).await;
    let on_question = seen["consultations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == c1_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(on_question["status"], "completed");
    assert_eq!(on_question["duration_seconds"], 1500);

    // Cancelling the other booking opens its slot again; a completed one cannot be.
    let won = seen["consultations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "booked")
        .unwrap()
        .clone();
    ok_json(
        post(
            &app,
            &w.town_agri.1,
            &format!(
                "/api/v1/services/consultations/{}/cancel",
                won["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await,
        200,
    )
    .await;
    expect_problem(
        post(
            &app,
            &w.farmer,
            &format!("/api/v1/services/consultations/{c1_id}/cancel"),
            json!({}),
        )
        .await,
        409,
        "illegal_transition",
    )
    .await;
    let rebooked = ok_json(
        post(&app, &w.farmer, &book, json!({"slot_id": s2["id"]})).await,
        201,
    )
    .await;
    // Begin and end as the room opens and closes: ten minutes recorded.
    let state = app.state.clone();
    let id = rebooked["id"].as_str().unwrap().to_string();
    let ended = tokio::task::spawn_blocking(move || {
        use hongying_server::services::consultations as c;
        let mut conn = state.db.get().unwrap();
        let at = state.clock.now();
        let begun = c::begin_consultation(&mut conn, &id, at).unwrap();
        assert_eq!(begun.status, "in_progress");
        let done = c::end_consultation(&mut conn, &id, at + Duration::seconds(600)).unwrap();
        // Over: recording it again is refused.
        assert!(c::record_consultation(&mut conn, &id, at, at).is_err());
        done
    })
    .await
    .unwrap();
    assert_eq!(ended.status, "completed");
    assert_eq!(ended.duration_seconds, Some(600));
    // Outsiders see no consultation.
    expect_problem(
        get(
            &app,
            &w.county_agri.1,
            &format!("/api/v1/services/consultations/{c1_id}"),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn experts_are_managed_in_scope_and_public_accounts_need_the_service_centre() {
    let app = TestApp::spawn_with(spawn_config).await;
    let w = world(&app).await;
    let path = format!("/api/v1/services/experts/{}", w.town_agri.0);
    // The other county's admin does not see the township's expert; the expert sees himself.
    expect_problem(get(&app, &w.county_b_admin, &path).await, 404, "not_found").await;
    let me = ok_json(get(&app, &w.town_agri.1, &path).await, 200).await;
    assert_eq!(me["field_label"], "农技");
    // The expert edits his availability but not his areas.
    let v = me["version"].as_i64().unwrap();
    ok_json(
        call(&app, &w.town_agri.1, Method::PATCH, &path,
             Some(json!({"version": v, "availability": [{"weekday": 3, "start": "08:00", "end": "12:00"}]}))).await,
        200,
    )
    .await;
    expect_problem(
        call(
            &app,
            &w.town_agri.1,
            Method::PATCH,
            &path,
            Some(json!({"version": v + 1, "area_org_ids": [w.t.county_a]})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // Disabled experts get no questions: the county expert takes over.
    ok_json(
        post(
            &app,
            &w.town_admin,
            &format!("{path}/status"),
            json!({"action": "disable"}),
        )
        .await,
        200,
    )
    .await;
    expect_problem(
        post(
            &app,
            &w.town_admin,
            &format!("{path}/status"),
            json!({"action": "disable"}),
        )
        .await,
        409,
        "illegal_transition",
    )
    .await;
    let q = ask(&app, &w.farmer, "agri", "棉花蚜虫").await;
    assert!(ids(&app, &w.town_agri.1, "offered").await.is_empty());
    assert_eq!(
        ids(&app, &w.county_agri.1, "offered").await,
        vec![q["id"].as_str().unwrap().to_string()]
    );
    assert_eq!(audit_count(&app, "service.expert_disable").await, 1);
    // The county expert declines; nobody is left above, so it escalates at once.
    let resp = post(
        &app,
        &w.county_agri.1,
        &format!(
            "/api/v1/services/questions/{}/decline",
            q["id"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(resp.status(), 204);
    let seen = ok_json(
        get(
            &app,
            &w.town_admin,
            &format!("/api/v1/services/questions/{}", q["id"].as_str().unwrap()),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(seen["status"], "escalated");

    // Only an org admin in scope opens public accounts; the same phone twice is refused.
    let member = app
        .caller(
            &[(Role::Member, Some(&w.t.branch_a1a))],
            Some(&w.t.member_a1a),
        )
        .await;
    let body = json!({"org_id": w.t.branch_a1a, "name": "赵村民", "phone": "13600000009"});
    expect_problem(
        post(
            &app,
            &member,
            "/api/v1/services/public-accounts",
            body.clone(),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        post(
            &app,
            &w.county_b_admin,
            "/api/v1/services/public-accounts",
            body.clone(),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let issued = ok_json(
        post(
            &app,
            &w.town_admin,
            "/api/v1/services/public-accounts",
            body.clone(),
        )
        .await,
        201,
    )
    .await;
    expect_problem(
        post(
            &app,
            &w.town_admin,
            "/api/v1/services/public-accounts",
            body,
        )
        .await,
        409,
        "already_exists",
    )
    .await;
    let again = ok_json(
        post(
            &app,
            &w.town_admin,
            &format!(
                "/api/v1/services/accounts/{}/activation-code",
                issued["account_id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await,
        201,
    )
    .await;
    assert_ne!(again["code"], issued["code"]);
    // The first code was superseded by the second.
    let resp = app.post_json("/api/v1/auth/activate", &json!({"phone": "13600000009", "code": issued["code"], "password": PASSWORD, "device_id": "d"})).await;
    expect_problem(resp, 400, "invalid_activation_code").await;
    activate(&app, "13600000009", &again).await;

    // Self-registration is off by default.
    let resp = app.post_json("/api/v1/services/register", &json!({"org_id": w.t.branch_a1a, "name": "孙", "phone": "13600000010", "password": PASSWORD, "device_id": "d"})).await;
    expect_problem(resp, 403, "self_registration_disabled").await;
}

#[tokio::test]
async fn self_registration_when_allowed_is_rate_limited_per_address() {
    let app = TestApp::spawn_with(|c| {
        c.services.public_self_registration = true;
        c.services.registrations_per_address_per_hour = 2;
    })
    .await;
    let t = app.seed_city_tree().await;
    let reg = |phone: &str| json!({"org_id": t.branch_a1a, "name": "自助注册", "phone": phone, "password": PASSWORD, "device_id": "d"});
    let pair = ok_json(
        app.post_json("/api/v1/services/register", &reg("13500000001"))
            .await,
        200,
    )
    .await;
    let who = Caller {
        account_id: String::new(),
        token: pair["access_token"].as_str().unwrap().to_string(),
    };
    let me = ok_json(get(&app, &who, "/api/v1/me").await, 200).await;
    assert_eq!(me["kind"], "public");
    assert_eq!(me["grants"][0]["role"], "public");
    expect_problem(
        app.post_json("/api/v1/services/register", &reg("13500000001"))
            .await,
        409,
        "already_exists",
    )
    .await;
    expect_problem(
        app.post_json("/api/v1/services/register", &reg("13500000003"))
            .await,
        429,
        "rate_limited",
    )
    .await;
    app.state.clock.advance(Duration::hours(1));
    ok_json(
        app.post_json("/api/v1/services/register", &reg("13500000003"))
            .await,
        200,
    )
    .await;
}

/// Polls the consultation until `pred` holds (the room records its start and end
/// asynchronously, from its own task).
async fn consultation_until(
    app: &TestApp,
    who: &Caller,
    id: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let path = format!("/api/v1/services/consultations/{id}");
    let mut last = Value::Null;
    for _ in 0..100 {
        last = ok_json(get(app, &fresh(app, who), &path).await, 200).await;
        if pred(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("consultation never reached the expected state: {last}");
}

#[tokio::test]
async fn a_booked_consultation_is_a_one_to_one_video_room_and_its_duration_is_recorded() {
    use hongying_proto::signaling::MediaKind;
    use hongying_tests::media_client::{MediaClient, eventually, send_everything};
    use hongying_tests::ws::assert_error;

    let app = TestApp::spawn_with(|c| {
        spawn_config(c);
        c.media.enabled = true;
        c.media.no_media_timeout_ms = 2_000;
    })
    .await;
    let w = world(&app).await;
    let q = ask(&app, &w.farmer, "agri", "玉米叶子发黄，是缺肥还是生病？").await;
    let q_path = format!("/api/v1/services/questions/{}", q["id"].as_str().unwrap());
    ok_json(
        post(&app, &w.town_agri.1, &format!("{q_path}/accept"), json!({})).await,
        200,
    )
    .await;
    let now = app.state.clock.now().and_utc();
    let mut booked = Vec::new();
    let slots = [
        now + Duration::minutes(5),
        now + Duration::hours(3),
        now + Duration::minutes(40),
    ];
    for start in slots {
        let s = ok_json(
            post(
                &app,
                &w.town_agri.1,
                "/api/v1/services/slots",
                json!({"starts_at": start, "ends_at": start + Duration::minutes(30)}),
            )
            .await,
            201,
        )
        .await;
        let c = ok_json(
            post(
                &app,
                &w.farmer,
                &format!("{q_path}/consultations"),
                json!({"slot_id": s["id"]}),
            )
            .await,
            201,
        )
        .await;
        booked.push(c["id"].as_str().unwrap().to_string());
    }
    let (soon, later, next) = (booked[0].clone(), booked[1].clone(), booked[2].clone());
    let token_path = |id: &str| format!("/api/v1/services/consultations/{id}/join-token");

    // Hours before its slot the room is not open yet; a third person never learns it exists.
    expect_problem(
        post(&app, &w.farmer, &token_path(&later), json!({})).await,
        409,
        "consultation_not_open",
    )
    .await;
    expect_problem(
        post(&app, &w.county_agri.1, &token_path(&soon), json!({})).await,
        404,
        "not_found",
    )
    .await;

    // Five minutes before the start both may enter: the expert hosts the room.
    let te = ok_json(
        post(&app, &w.town_agri.1, &token_path(&soon), json!({})).await,
        200,
    )
    .await;
    let tf = ok_json(
        post(&app, &w.farmer, &token_path(&soon), json!({})).await,
        200,
    )
    .await;
    assert_eq!(te["meeting_id"], format!("consultation:{soon}"));
    assert_eq!(te["grants"]["host"], true);
    assert_eq!(tf["grants"]["host"], false);

    let mut ws_e = app.ws(&w.town_agri.1).await;
    let je = ws_e.join(te["token"].as_str().unwrap()).await;
    assert!(je["room"]["quorum"].is_null(), "no quorum here: {je}");
    assert_eq!(je["room"]["title"], "与刘农技的视频咨询");
    let mut ws_f = app.ws(&w.farmer).await;
    let jf = ws_f.join(tf["token"].as_str().unwrap()).await;
    // A consultation is not a meeting: no votes in its room.
    ws_f.ask_err(
        "cast_ballot",
        Some(json!({"motion_id": "none", "choice": "yes"})),
        "not_a_voter",
    )
    .await;
    // Joined alone, nothing has started yet.
    let c = ok_json(
        get(
            &app,
            &w.farmer,
            &format!("/api/v1/services/consultations/{soon}"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(c["status"], "booked");

    let mut expert = MediaClient::start(ws_e, &je, true).await;
    let mut farmer = MediaClient::start(ws_f, &jf, true).await;
    send_everything(&expert.peer);
    send_everything(&farmer.peer);
    let (pe, pf) = (expert.participant_id.clone(), farmer.participant_id.clone());
    eventually(
        "the expert and the farmer hear and see each other",
        std::time::Duration::from_secs(20),
        || {
            expert.peer.received_from(&pf, MediaKind::Audio) > 20
                && expert.peer.received_from(&pf, MediaKind::Video) > 20
                && farmer.peer.received_from(&pe, MediaKind::Audio) > 20
                && farmer.peer.received_from(&pe, MediaKind::Video) > 20
        },
    )
    .await;

    // With both proven present the consultation runs.
    let running =
        consultation_until(&app, &w.farmer, &soon, |c| c["status"] == "in_progress").await;
    assert!(running["started_at"].is_string());

    // Twenty minutes later both hang up: the room empties and the duration is recorded.
    app.state.clock.advance(Duration::minutes(20));
    farmer.request("leave", Value::Null);
    farmer.until("ack", |_| true).await;
    expert.request("leave", Value::Null);
    expert.until("ack", |_| true).await;
    let done = consultation_until(&app, &w.farmer, &soon, |c| c["status"] == "completed").await;
    let secs = done["duration_seconds"].as_i64().unwrap();
    assert!(
        (20 * 60..21 * 60).contains(&secs),
        "twenty minutes of consultation recorded as {secs} s"
    );
    assert_eq!(audit_count(&app, "service.consultation_begin").await, 1);
    assert_eq!(audit_count(&app, "service.consultation_record").await, 1);

    // Over: the room admits nobody any more.
    expect_problem(
        post(&app, &fresh(&app, &w.farmer), &token_path(&soon), json!({})).await,
        409,
        "illegal_transition",
    )
    .await;

    // The next consultation: this time the expert hangs up while the farmer is still in.
    app.state.clock.advance(Duration::minutes(15));
    let (expert_c, farmer_c) = (fresh(&app, &w.town_agri.1), fresh(&app, &w.farmer));
    let mut clients = Vec::new();
    for who in [&expert_c, &farmer_c] {
        let t = ok_json(post(&app, who, &token_path(&next), json!({})).await, 200).await;
        let mut ws = app.ws(who).await;
        let j = ws.join(t["token"].as_str().unwrap()).await;
        let c = MediaClient::start(ws, &j, true).await;
        send_everything(&c.peer);
        clients.push(c);
    }
    consultation_until(&app, &w.farmer, &next, |c| c["status"] == "in_progress").await;
    app.state.clock.advance(Duration::minutes(5));
    let (expert, farmer) = clients.split_at_mut(1);
    // Only the host may end a room; the farmer is not.
    farmer[0].request("host", json!({"action": "end_meeting"}));
    assert_error(&farmer[0].until("error", |_| true).await, "not_host");
    expert[0].request("host", json!({"action": "end_meeting"}));
    let closed = farmer[0]
        .until("closed", |c| c["reason"] == "consultation_ended")
        .await;
    assert_eq!(closed["data"]["reason"], "consultation_ended");
    let done = consultation_until(&app, &w.farmer, &next, |c| c["status"] == "completed").await;
    let secs = done["duration_seconds"].as_i64().unwrap();
    assert!(
        (5 * 60..6 * 60).contains(&secs),
        "five minutes recorded as {secs} s"
    );
}

#[tokio::test]
async fn a_villagers_phone_gets_its_notices_live_and_the_missed_ones_after_reconnecting() {
    let app = TestApp::spawn_with(|c| {
        spawn_config(c);
        c.signaling.notice_poll_ms = 50;
    })
    .await;
    let w = world(&app).await;
    // The villager and the expert have no member record: their notices are the account's.
    let mut farmer_ws = app.ws(&w.farmer).await;
    let mut expert_ws = app.ws(&w.town_agri.1).await;
    let q = ask(&app, &w.farmer, "agri", "小麦条锈病怎么防治？").await;
    let q_path = format!("/api/v1/services/questions/{}", q["id"].as_str().unwrap());
    let offered = expert_ws
        .until("notice", |n| n["kind"] == "service_question_offered")
        .await;
    assert!(offered["data"]["title"].is_string(), "{offered}");
    farmer_ws
        .until("notice", |n| n["kind"] == "service_question_routed")
        .await;
    ok_json(
        post(&app, &w.town_agri.1, &format!("{q_path}/accept"), json!({})).await,
        200,
    )
    .await;
    let live = farmer_ws
        .until("notice", |n| n["kind"] == "service_question_accepted")
        .await;
    let cursor = live["data"]["cursor"].as_str().unwrap().to_string();
    assert_eq!(
        farmer_ws
            .ask("ack_notices", Some(json!({"cursor": cursor})))
            .await["type"],
        "ack"
    );
    farmer_ws.leave_socket().await;

    // Offline, he gets an answer; on reconnecting his phone gets it, not the acknowledged one.
    ok_json(
        post(
            &app,
            &w.town_agri.1,
            &format!("{q_path}/messages"),
            json!({"text": "用三唑酮喷雾，间隔七天再喷一次。"}),
        )
        .await,
        201,
    )
    .await;
    let mut farmer_ws = app.ws(&w.farmer).await;
    let n = farmer_ws.until("notice", |_| true).await;
    assert_eq!(n["data"]["kind"], "service_question_message", "{n}");
    assert_ne!(n["data"]["notice_id"], live["data"]["notice_id"]);
    // The expert's socket never sees the villager's notices.
    while let Some(hongying_tests::ws::Incoming::Frame(f)) = expert_ws
        .incoming_for(std::time::Duration::from_millis(300))
        .await
    {
        assert_ne!(f["data"]["kind"], "service_question_accepted", "{f}");
        assert_ne!(f["data"]["kind"], "service_question_message", "{f}");
    }
}
