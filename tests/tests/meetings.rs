//! Meetings over HTTP: the lifecycle and its refusals, the roster frozen at the start,
//! exclusions from E and their approvals, attendance by the secretary, by QR and through
//! the signaling service API, the quorum report, notices, and who may do what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::prelude::*;
use hongying_server::auth::Role;
use hongying_server::config::ExclusionApproval;
use hongying_server::meetings::attendance;
use hongying_tests::api::{get, post};
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::{Method, Response};
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

/// The 东村 branch of the city tree with nine full members (two of them from the tree,
/// one in its party group) and one probationary member, its secretary, and a caller for
/// each member.
struct Branch {
    app: TestApp,
    tree: CityTree,
    id: String,
    secretary: Caller,
    /// (member id, name), nine full members.
    members: Vec<(String, String)>,
    probationary: String,
    callers: Vec<Caller>,
}

async fn set_member(app: &TestApp, member_id: &str, status: &str, suspended: bool) {
    let state = app.state.clone();
    let (id, status) = (member_id.to_string(), status.to_string());
    tokio::task::spawn_blocking(move || {
        use hongying_server::db::schema::members as m;
        let mut conn = state.db.get().unwrap();
        diesel::update(m::table.find(&id))
            .set((m::status.eq(&status), m::rights_suspended.eq(suspended)))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
}

async fn branch_with(app: TestApp) -> Branch {
    let tree = app.seed_city_tree().await;
    let id = tree.branch_a1a.clone();
    let mut members = vec![
        (tree.member_a1a.clone(), "张东".to_string()),
        (tree.member_group_a1a.clone(), "孙组".to_string()),
    ];
    for i in 3..=9 {
        let name = format!("党员{i}");
        members.push((app.seed_member_row(&id, None, &name).await, name));
    }
    let probationary = app.seed_member_row(&id, None, "预备甲").await;
    set_member(&app, &probationary, "probationary", false).await;
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(id.as_str()))], None)
        .await;
    let mut callers = Vec::new();
    for (m, _) in &members {
        callers.push(
            app.caller(&[(Role::Member, Some(id.as_str()))], Some(m))
                .await,
        );
    }
    Branch {
        app,
        tree,
        id,
        secretary,
        members,
        probationary,
        callers,
    }
}

async fn branch() -> Branch {
    branch_with(TestApp::spawn().await).await
}

fn congress_body() -> Value {
    json!({
        "kind": "congress",
        "title": "第四季度支部党员大会",
        "agenda": [{"title": "学习传达上级精神"}, {"title": "讨论村务"}],
        "scheduled_start": "2026-12-01T02:00:00Z",
        "scheduled_end": "2026-12-01T04:00:00Z",
        "place": "村委会议室",
        "mode": "in_person"
    })
}

impl Branch {
    fn m(&self, i: usize) -> &str {
        &self.members[i].0
    }

    async fn create(&self, body: Value) -> Value {
        let path = format!("/api/v1/orgs/{}/meetings", self.id);
        ok_json(
            call(&self.app, &self.secretary, Method::POST, &path, Some(body)).await,
            201,
        )
        .await
    }

    async fn act(&self, meeting: &str, action: &str) -> Response {
        let path = format!("/api/v1/meetings/{meeting}/{action}");
        let body = (action == "cancel").then(|| json!({"reason": "村里有急事"}));
        call(&self.app, &self.secretary, Method::POST, &path, body).await
    }

    async fn ok(&self, meeting: &str, action: &str) -> Value {
        ok_json(self.act(meeting, action).await, 200).await
    }

    /// A congress, scheduled and started.
    async fn started(&self) -> String {
        let m = self.create(congress_body()).await;
        let id = m["id"].as_str().unwrap().to_string();
        self.ok(&id, "schedule").await;
        self.ok(&id, "start").await;
        id
    }

    async fn quorum(&self, meeting: &str) -> Value {
        get(
            &self.app,
            &self.secretary,
            &format!("/api/v1/meetings/{meeting}/quorum"),
        )
        .await
    }

    async fn mark(&self, meeting: &str, member: &str, mode: &str, action: &str) -> Value {
        post(
            &self.app,
            &self.secretary,
            &format!("/api/v1/meetings/{meeting}/attendance"),
            json!({"member_id": member, "mode": mode, "action": action}),
            200,
        )
        .await
    }

    async fn add_observer(&self, meeting: &str, member: &str) -> Value {
        ok_json(
            call(
                &self.app,
                &self.secretary,
                Method::POST,
                &format!("/api/v1/meetings/{meeting}/observers"),
                Some(json!({"kind": "guest", "name": "列席人", "member_id": member})),
            )
            .await,
            201,
        )
        .await
    }

    async fn qr(&self, meeting: &str) -> String {
        let q = get(
            &self.app,
            &self.secretary,
            &format!("/api/v1/meetings/{meeting}/qr"),
        )
        .await;
        assert_eq!(q["window_secs"], 30);
        let r = q["rotates_in_secs"].as_u64().unwrap();
        assert!((1..=30).contains(&r), "{q}");
        q["token"].as_str().unwrap().to_string()
    }

    async fn check_in(&self, who: &Caller, meeting: &str, token: &str) -> Response {
        call(
            &self.app,
            who,
            Method::POST,
            &format!("/api/v1/meetings/{meeting}/check-in"),
            Some(json!({"token": token})),
        )
        .await
    }

    async fn open_remote(&self, meeting: &str, member: &str, media: bool) -> String {
        let state = self.app.state.clone();
        let (meeting, member) = (meeting.to_string(), member.to_string());
        tokio::task::spawn_blocking(move || {
            let mut conn = state.db.get().unwrap();
            attendance::open_remote_interval(&mut conn, &meeting, &member, media, state.clock.now())
                .unwrap()
        })
        .await
        .unwrap()
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["member_id"].as_str().unwrap().to_string())
        .collect()
}

fn allowed(problem: &Value) -> Vec<String> {
    problem["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_lifecycle_refuses_every_illegal_transition_naming_the_allowed_ones() {
    let b = branch().await;
    let m = b.create(congress_body()).await;
    assert_eq!(m["status"], "draft");
    assert_eq!(m["version"], 1);
    assert_eq!(m["quorum_applies"], true);
    assert_eq!(m["agenda"][1]["title"], "讨论村务");
    assert_eq!(m["allowed_actions"], json!(["edit", "schedule", "cancel"]));
    let id = m["id"].as_str().unwrap().to_string();

    // Every action the status refuses, with what it allows, status by status.
    let refusals = |status: &str| -> (Vec<&'static str>, Vec<&'static str>) {
        match status {
            "draft" => (vec!["start", "end"], vec!["edit", "schedule", "cancel"]),
            "scheduled" => (vec!["schedule", "end"], vec!["edit", "start", "cancel"]),
            "in_progress" => (vec!["schedule", "start", "cancel", "edit"], vec!["end"]),
            "ended" => (
                vec!["schedule", "start", "end", "cancel", "edit"],
                vec!["submit_minutes"],
            ),
            "cancelled" => (vec!["schedule", "start", "end", "cancel", "edit"], vec![]),
            other => panic!("{other}"),
        }
    };
    let check = |id: String, status: &'static str| {
        let b = &b;
        async move {
            let (refused, allows) = refusals(status);
            for action in refused {
                let resp = if action == "edit" {
                    call(
                        &b.app,
                        &b.secretary,
                        Method::PATCH,
                        &format!("/api/v1/meetings/{id}"),
                        Some(json!({"title": "改个标题"})),
                    )
                    .await
                } else {
                    b.act(&id, action).await
                };
                let p = expect_problem(resp, 409, "illegal_transition").await;
                assert_eq!(allowed(&p), allows, "{status} --{action}-->");
            }
            let now = get(&b.app, &b.secretary, &format!("/api/v1/meetings/{id}")).await;
            assert_eq!(now["status"], status);
            assert_eq!(now["allowed_actions"], json!(allows));
        }
    };

    check(id.clone(), "draft").await;
    assert_eq!(b.ok(&id, "schedule").await["status"], "scheduled");
    check(id.clone(), "scheduled").await;
    let started = b.ok(&id, "start").await;
    assert_eq!(started["status"], "in_progress");
    assert!(started["started_at"].is_string());
    assert_eq!(started["thresholds"]["congress_quorum"], "strict");
    check(id.clone(), "in_progress").await;
    let ended = b.ok(&id, "end").await;
    assert_eq!(ended["status"], "ended");
    assert!(ended["ended_at"].is_string());
    check(id.clone(), "ended").await;

    // Cancelling needs a reason and is final.
    let other = b.create(congress_body()).await;
    let other = other["id"].as_str().unwrap().to_string();
    b.ok(&other, "schedule").await;
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &format!("/api/v1/meetings/{other}/cancel"),
        Some(json!({"reason": "   "})),
    )
    .await;
    expect_problem(resp, 422, "validation_failed").await;
    let cancelled = b.ok(&other, "cancel").await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "村里有急事");
    check(other, "cancelled").await;

    // Shape rules answer 422 with the field.
    let mut bad = congress_body();
    bad["scheduled_end"] = json!("2026-12-01T01:00:00Z");
    bad["held_as"] = json!("committee");
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &format!("/api/v1/orgs/{}/meetings", b.id),
        Some(bad),
    )
    .await;
    let p = expect_problem(resp, 422, "validation_failed").await;
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["held_as", "scheduled_end"]);

    // Editing a draft with a stale version is refused; with the right one it applies.
    let d = b.create(congress_body()).await;
    let did = d["id"].as_str().unwrap();
    let resp = call(
        &b.app,
        &b.secretary,
        Method::PATCH,
        &format!("/api/v1/meetings/{did}"),
        Some(json!({"title": "新标题", "version": 7})),
    )
    .await;
    expect_problem(resp, 409, "version_conflict").await;
    let edited = ok_json(
        call(
            &b.app,
            &b.secretary,
            Method::PATCH,
            &format!("/api/v1/meetings/{did}"),
            Some(json!({"title": "新标题", "version": 1})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (edited["title"].as_str(), edited["version"].as_i64()),
        (Some("新标题"), Some(2))
    );
}

#[tokio::test]
async fn quorum_of_a_nine_member_branch_by_mode() {
    let b = branch().await;
    let id = b.started().await;
    let q = b.quorum(&id).await;
    assert_eq!(q["kind"], "congress");
    assert_eq!(q["roster_frozen"], true);
    assert_eq!(
        (q["expected"].as_u64(), q["present_voting"].as_u64()),
        (Some(9), Some(0))
    );
    assert_eq!(q["threshold"], "2P > E");
    assert_eq!(q["quorate"], false);

    // Three marked in the room, two by QR, one remote through the signaling API, and the
    // probationary member in the room (recorded, never counted).
    for i in 0..3 {
        b.mark(&id, b.m(i), "in_person", "arrive").await;
    }
    let token = b.qr(&id).await;
    for i in 3..5 {
        ok_json(b.check_in(&b.callers[i], &id, &token).await, 200).await;
    }
    b.open_remote(&id, b.m(5), true).await;
    b.mark(&id, &b.probationary, "in_person", "arrive").await;

    let q = b.quorum(&id).await;
    assert_eq!(q["expected"], 9);
    assert_eq!(q["present_voting"], 6);
    assert_eq!(q["present_in_person"], 5);
    assert_eq!(q["present_remote"], 1);
    assert_eq!(q["quorate"], true);
    let missing: Vec<(String, String)> = q["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["member_id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want: Vec<(String, String)> = b.members[6..].to_vec();
    let mut got = missing.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    assert_eq!(ids(&q["present_not_counted"]), vec![b.probationary.clone()]);
    assert_eq!(q["present_not_counted"][0]["name"], "预备甲");

    // P = 5 of E = 9 is still more than half; P = 4 is not.
    b.mark(&id, b.m(0), "in_person", "leave").await;
    assert_eq!(b.quorum(&id).await["quorate"], true);
    b.mark(&id, b.m(1), "in_person", "leave").await;
    let q = b.quorum(&id).await;
    assert_eq!(
        (q["present_voting"].as_u64(), q["quorate"].as_bool()),
        (Some(4), Some(false))
    );

    // Anyone who may read the meeting sees the same report.
    let seen = get(
        &b.app,
        &b.callers[8],
        &format!("/api/v1/meetings/{id}/quorum"),
    )
    .await;
    assert_eq!(seen["present_voting"], 4);
}

#[tokio::test]
async fn exclusions_count_only_once_approved_and_the_roster_freezes_at_start() {
    let b = branch().await;
    let m = b.create(congress_body()).await;
    let id = m["id"].as_str().unwrap().to_string();
    b.ok(&id, "schedule").await;
    let q = b.quorum(&id).await;
    assert_eq!(
        (q["expected"].as_u64(), q["roster_frozen"].as_bool()),
        (Some(9), Some(false))
    );

    let ex_path = format!("/api/v1/meetings/{id}/exclusions");
    let ex = ok_json(
        call(
            &b.app,
            &b.secretary,
            Method::POST,
            &ex_path,
            Some(json!({"member_id": b.m(8), "reason": "abroad_half_year", "note": "在国外务工"})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(ex["effective"], false);
    assert_eq!(ex["member_name"], "党员9");
    let ex_id = ex["id"].as_str().unwrap().to_string();
    // An unapproved exclusion changes nothing.
    assert_eq!(b.quorum(&id).await["expected"], 9);

    // A probationary member has no vote to leave out; a second request is a duplicate.
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &ex_path,
        Some(json!({"member_id": b.probationary, "reason": "ill"})),
    )
    .await;
    expect_problem(resp, 422, "validation_failed").await;
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &ex_path,
        Some(json!({"member_id": b.m(8), "reason": "ill"})),
    )
    .await;
    expect_problem(resp, 409, "already_exists").await;

    // The upper approval comes from above the branch only.
    let approve = format!("/api/v1/meeting-exclusions/{ex_id}/approve");
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &approve,
        Some(json!({"by": "upper"})),
    )
    .await;
    expect_problem(resp, 403, "forbidden").await;
    let town = b
        .app
        .caller(&[(Role::OrgAdmin, Some(b.tree.town_a1.as_str()))], None)
        .await;
    let ex = post(&b.app, &town, &approve, json!({"by": "upper"}), 200).await;
    assert!(ex["upper_approved_at"].is_string());
    assert_eq!(
        ex["effective"], false,
        "the default rule needs both approvals"
    );
    assert_eq!(b.quorum(&id).await["expected"], 9);

    // The congress approval is recorded by the branch's managers, not by a member.
    let resp = call(
        &b.app,
        &b.callers[0],
        Method::POST,
        &approve,
        Some(json!({"by": "congress"})),
    )
    .await;
    expect_problem(resp, 403, "forbidden").await;
    let ex = post(
        &b.app,
        &b.secretary,
        &approve,
        json!({"by": "congress"}),
        200,
    )
    .await;
    assert_eq!(ex["effective"], true);
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &approve,
        Some(json!({"by": "congress"})),
    )
    .await;
    expect_problem(resp, 409, "conflict").await;
    let q = b.quorum(&id).await;
    assert_eq!(q["expected"], 8);
    assert_eq!(ids(&q["excluded"]), vec![b.m(8).to_string()]);
    assert!(!ids(&q["missing"]).contains(&b.m(8).to_string()));

    // A rejected exclusion cannot be approved afterwards.
    let ex2 = ok_json(
        call(
            &b.app,
            &b.secretary,
            Method::POST,
            &ex_path,
            Some(json!({"member_id": b.m(7), "reason": "bedridden"})),
        )
        .await,
        201,
    )
    .await;
    let ex2_id = ex2["id"].as_str().unwrap();
    let rejected = post(
        &b.app,
        &b.secretary,
        &format!("/api/v1/meeting-exclusions/{ex2_id}/reject"),
        json!({"by": "congress"}),
        200,
    )
    .await;
    assert!(rejected["rejected_at"].is_string());
    let resp = call(
        &b.app,
        &town,
        Method::POST,
        &format!("/api/v1/meeting-exclusions/{ex2_id}/approve"),
        Some(json!({"by": "upper"})),
    )
    .await;
    expect_problem(resp, 409, "conflict").await;
    let listed = get(&b.app, &b.callers[0], &ex_path).await;
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Before the start the body is live: a suspension lowers E ...
    set_member(&b.app, b.m(6), "full", true).await;
    assert_eq!(b.quorum(&id).await["expected"], 7);
    set_member(&b.app, b.m(6), "full", false).await;
    assert_eq!(b.quorum(&id).await["expected"], 8);

    // ... after it the roster is frozen: the same change no longer does.
    b.ok(&id, "start").await;
    set_member(&b.app, b.m(6), "full", true).await;
    set_member(&b.app, b.m(5), "probationary", false).await;
    let q = b.quorum(&id).await;
    assert_eq!(
        (q["expected"].as_u64(), q["roster_frozen"].as_bool()),
        (Some(8), Some(true))
    );

    // The excluded member who attends anyway counts in E and as present.
    b.mark(&id, b.m(8), "in_person", "arrive").await;
    let q = b.quorum(&id).await;
    assert_eq!(
        (q["expected"].as_u64(), q["present_voting"].as_u64()),
        (Some(9), Some(1))
    );
    assert!(ids(&q["excluded"]).is_empty());
}

#[tokio::test]
async fn a_locality_may_require_only_the_upper_approval() {
    let app =
        TestApp::spawn_with(|c| c.meetings.exclusion_approval = ExclusionApproval::Upper).await;
    let b = branch_with(app).await;
    let id = b.started().await;
    let ex = ok_json(
        call(
            &b.app,
            &b.secretary,
            Method::POST,
            &format!("/api/v1/meetings/{id}/exclusions"),
            Some(json!({"member_id": b.m(0), "reason": "serving_sentence"})),
        )
        .await,
        201,
    )
    .await;
    let county = b
        .app
        .caller(&[(Role::OrgAdmin, Some(b.tree.county_a.as_str()))], None)
        .await;
    let ex = post(
        &b.app,
        &county,
        &format!(
            "/api/v1/meeting-exclusions/{}/approve",
            ex["id"].as_str().unwrap()
        ),
        json!({"by": "upper"}),
        200,
    )
    .await;
    assert_eq!(ex["effective"], true);
    assert_eq!(b.quorum(&id).await["expected"], 8);
}

#[tokio::test]
async fn attendance_by_secretary_qr_and_signaling() {
    let b = branch().await;
    let id = b.started().await;
    let att_path = format!("/api/v1/meetings/{id}/attendance");

    // Leaving and coming back makes two intervals; arriving twice is one.
    let first = b.mark(&id, b.m(0), "in_person", "arrive").await;
    let again = b.mark(&id, b.m(0), "in_person", "arrive").await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(first["source"], "secretary");
    let left = b.mark(&id, b.m(0), "in_person", "leave").await;
    assert_eq!(left["id"], first["id"]);
    assert!(left["closed_at"].is_string());
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &att_path,
        Some(json!({"member_id": b.m(0), "mode": "in_person", "action": "leave"})),
    )
    .await;
    expect_problem(resp, 409, "conflict").await;
    b.app.state.clock.advance(chrono::Duration::seconds(5));
    let back = b.mark(&id, b.m(0), "in_person", "arrive").await;
    assert_ne!(back["id"], first["id"]);
    // Someone not on the roster cannot be marked.
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &att_path,
        Some(json!({"member_id": b.tree.member_a1b, "mode": "in_person", "action": "arrive"})),
    )
    .await;
    expect_problem(resp, 422, "validation_failed").await;

    // QR: the current code checks in; a code from two windows ago is refused.
    let token = b.qr(&id).await;
    let i = ok_json(b.check_in(&b.callers[1], &id, &token).await, 200).await;
    assert_eq!(
        (i["mode"].as_str(), i["source"].as_str()),
        (Some("in_person"), Some("qr"))
    );
    let repeat = ok_json(b.check_in(&b.callers[1], &id, &token).await, 200).await;
    assert_eq!(repeat["id"], i["id"]);
    b.app.state.clock.advance(chrono::Duration::seconds(61));
    expect_problem(
        b.check_in(&b.callers[2], &id, &token).await,
        409,
        "qr_token_expired",
    )
    .await;
    let fresh = b.qr(&id).await;
    assert_ne!(fresh, token);
    ok_json(b.check_in(&b.callers[2], &id, &fresh).await, 200).await;
    // A code not issued for this meeting is no code at all.
    let other = b.started().await;
    let foreign = b.qr(&other).await;
    expect_problem(
        b.check_in(&b.callers[3], &id, &foreign).await,
        400,
        "qr_token_invalid",
    )
    .await;
    expect_problem(
        b.check_in(&b.callers[3], &id, "12.abc").await,
        400,
        "qr_token_invalid",
    )
    .await;
    // Outsiders: another branch's member is not told the meeting exists; an account of the
    // branch without a place on the roster may not check in.
    let outsider = b
        .app
        .caller(
            &[(Role::Member, Some(b.tree.branch_a1b.as_str()))],
            Some(&b.tree.member_a1b),
        )
        .await;
    expect_problem(b.check_in(&outsider, &id, &fresh).await, 404, "not_found").await;
    let activist = b.app.seed_member_row(&b.id, None, "积极分子甲").await;
    set_member(&b.app, &activist, "activist", false).await;
    let activist = b
        .app
        .caller(&[(Role::Member, Some(b.id.as_str()))], Some(&activist))
        .await;
    expect_problem(b.check_in(&activist, &id, &fresh).await, 403, "forbidden").await;

    // Signaling: opening is idempotent, heartbeats move last_seen_at, closing closes only
    // the remote interval.
    let r1 = b.open_remote(&id, b.m(4), false).await;
    assert_eq!(b.open_remote(&id, b.m(4), true).await, r1);
    let r0 = b.open_remote(&id, b.m(0), true).await;
    let state = b.app.state.clone();
    let (mid, m0, r1c) = (id.clone(), b.m(0).to_string(), r1.clone());
    let (touched, closed) = tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        let later = state.clock.now() + chrono::Duration::seconds(10);
        let touched = attendance::touch(&mut c, &r1c, later).unwrap();
        let closed = attendance::close_interval(&mut c, &mid, &m0, later, "left").unwrap();
        (touched, closed)
    })
    .await
    .unwrap();
    assert!(touched);
    assert_eq!(closed, 1);
    let list = get(&b.app, &b.secretary, &att_path).await;
    let of = |member: &str| -> Vec<Value> {
        list["intervals"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["member_id"] == member)
            .cloned()
            .collect()
    };
    let m0: Vec<Value> = of(b.m(0));
    assert_eq!(m0.len(), 3, "{m0:?}");
    let open_in_room: Vec<&Value> = m0.iter().filter(|i| i["closed_at"].is_null()).collect();
    assert_eq!(open_in_room.len(), 1);
    assert_eq!(open_in_room[0]["mode"], "in_person");
    let remote0 = m0.iter().find(|i| i["id"] == r0.as_str()).unwrap();
    assert_eq!(remote0["close_reason"], "left");
    let m4 = of(b.m(4));
    assert_eq!(m4.len(), 1);
    assert_eq!(m4[0]["media_proven"], true);
    assert_ne!(m4[0]["last_seen_at"], m4[0]["opened_at"]);

    // Absences are recorded with their reason.
    let absent = ok_json(
        call(
            &b.app,
            &b.secretary,
            Method::PUT,
            &format!("/api/v1/meetings/{id}/absences/{}", b.m(8)),
            Some(json!({"reason": "sick", "note": "住院"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(absent["reason"], "sick");

    // Ending closes every open interval at the end time.
    let ended = b.ok(&id, "end").await;
    let list = get(&b.app, &b.secretary, &att_path).await;
    let intervals = list["intervals"].as_array().unwrap();
    assert!(intervals.iter().all(|i| i["closed_at"].is_string()));
    let at_end: Vec<&Value> = intervals
        .iter()
        .filter(|i| i["close_reason"] == "meeting_ended")
        .collect();
    assert_eq!(at_end.len(), 4, "{intervals:?}"); // m0 in room, m1 and m2 by QR, m4 remote
    assert!(at_end.iter().all(|i| i["closed_at"] == ended["ended_at"]));
    assert_eq!(list["absences"][0]["member_id"], b.m(8));
    // Nothing more is recorded once it ended.
    let resp = b.check_in(&b.callers[5], &id, &b.qr(&other).await).await;
    expect_problem(resp, 409, "meeting_not_in_progress").await;
}

#[tokio::test]
async fn remote_presence_can_require_proven_media() {
    let app = TestApp::spawn_with(|c| c.meetings.remote_requires_media = true).await;
    let b = branch_with(app).await;
    let id = b.started().await;
    let interval = b.open_remote(&id, b.m(0), false).await;
    assert_eq!(b.quorum(&id).await["present_remote"], 0);
    let state = b.app.state.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        assert!(attendance::mark_media_proven(&mut c, &interval).unwrap());
    })
    .await
    .unwrap();
    let q = b.quorum(&id).await;
    assert_eq!(
        (q["present_remote"].as_u64(), q["present_voting"].as_u64()),
        (Some(1), Some(1))
    );

    // Crash recovery closes stale remote intervals at their last heartbeat.
    let state = b.app.state.clone();
    let n = tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        let later = state.clock.now() + chrono::Duration::minutes(5);
        attendance::close_stale_open_intervals(&mut c, later).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(b.quorum(&id).await["present_remote"], 0);
}

#[tokio::test]
async fn notices_follow_schedule_reschedule_start_and_cancel() {
    let b = branch().await;
    let member = &b.callers[1]; // 孙组, in the branch's party group
    let m = b.create(congress_body()).await;
    let id = m["id"].as_str().unwrap().to_string();
    let page = get(&b.app, member, "/api/v1/notices").await;
    assert!(
        page["items"].as_array().unwrap().is_empty(),
        "a draft is not announced"
    );

    b.ok(&id, "schedule").await;
    let moved = ok_json(
        call(
            &b.app,
            &b.secretary,
            Method::PATCH,
            &format!("/api/v1/meetings/{id}"),
            Some(json!({"scheduled_start": "2026-12-02T02:00:00Z", "scheduled_end": "2026-12-02T04:00:00Z"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(moved["scheduled_start"], "2026-12-02T02:00:00Z");
    b.ok(&id, "start").await;

    // Newest first, two per page.
    let p1 = get(&b.app, member, "/api/v1/notices?limit=2").await;
    let kinds = |p: &Value| -> Vec<String> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(kinds(&p1), vec!["meeting_started", "meeting_rescheduled"]);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2 = get(
        &b.app,
        member,
        &format!("/api/v1/notices?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(kinds(&p2), vec!["meeting_scheduled"]);
    assert!(p2["next_cursor"].is_null());
    let scheduled = &p2["items"][0];
    assert_eq!(scheduled["ref_type"], "meeting");
    assert_eq!(scheduled["ref_id"], id.as_str());
    assert!(
        scheduled["body"]
            .as_str()
            .unwrap()
            .contains("2026年12月01日 10:00")
    );
    assert!(scheduled["read_at"].is_null());

    // Every full member of the body got the same three.
    for c in &b.callers {
        let p = get(&b.app, c, "/api/v1/notices").await;
        assert_eq!(p["items"].as_array().unwrap().len(), 3);
    }
    // Reading is the owner's business only.
    let nid = scheduled["id"].as_str().unwrap();
    let read = post(
        &b.app,
        member,
        &format!("/api/v1/notices/{nid}/read"),
        json!({}),
        200,
    )
    .await;
    assert!(read["read_at"].is_string());
    let resp = call(
        &b.app,
        &b.callers[0],
        Method::POST,
        &format!("/api/v1/notices/{nid}/read"),
        None,
    )
    .await;
    expect_problem(resp, 404, "not_found").await;
    expect_problem(
        call(
            &b.app,
            member,
            Method::GET,
            "/api/v1/notices?cursor=bogus",
            None,
        )
        .await,
        400,
        "invalid_cursor",
    )
    .await;

    // A scheduled meeting that is cancelled is announced with the reason.
    let c = b.create(congress_body()).await;
    let cid = c["id"].as_str().unwrap().to_string();
    b.ok(&cid, "schedule").await;
    b.ok(&cid, "cancel").await;
    let p = get(&b.app, member, "/api/v1/notices?limit=1").await;
    assert_eq!(kinds(&p), vec!["meeting_cancelled"]);
    assert!(
        p["items"][0]["body"]
            .as_str()
            .unwrap()
            .contains("村里有急事")
    );
}

#[tokio::test]
async fn who_may_read_and_run_a_meeting() {
    let b = branch().await;
    let id = {
        let m = b.create(congress_body()).await;
        let id = m["id"].as_str().unwrap().to_string();
        b.ok(&id, "schedule").await;
        id
    };
    let path = format!("/api/v1/meetings/{id}");

    // A member of another branch is not told the meeting exists.
    let outsider = b
        .app
        .caller(
            &[(Role::Member, Some(b.tree.branch_a1b.as_str()))],
            Some(&b.tree.member_a1b),
        )
        .await;
    for p in [
        path.clone(),
        format!("{path}/quorum"),
        format!("{path}/attendance"),
        format!("/api/v1/orgs/{}/meetings", b.id),
    ] {
        expect_problem(
            call(&b.app, &outsider, Method::GET, &p, None).await,
            404,
            "not_found",
        )
        .await;
    }
    let other_secretary = b
        .app
        .caller(
            &[(Role::BranchSecretary, Some(b.tree.branch_a1b.as_str()))],
            None,
        )
        .await;
    expect_problem(
        call(
            &b.app,
            &other_secretary,
            Method::POST,
            &format!("{path}/start"),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // A plain member of the branch reads but does not run it.
    let member = &b.callers[0];
    assert_eq!(get(&b.app, member, &path).await["status"], "scheduled");
    expect_problem(
        call(&b.app, member, Method::POST, &format!("{path}/start"), None).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        call(&b.app, member, Method::GET, &format!("{path}/qr"), None).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        call(
            &b.app,
            member,
            Method::POST,
            &format!("/api/v1/orgs/{}/meetings", b.id),
            Some(congress_body()),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let listed = get(
        &b.app,
        member,
        &format!("/api/v1/orgs/{}/meetings?status=scheduled", b.id),
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // The county's organization department runs meetings below it.
    let county = b
        .app
        .caller(&[(Role::OrgAdmin, Some(b.tree.county_a.as_str()))], None)
        .await;
    assert_eq!(
        ok_json(
            call(
                &b.app,
                &county,
                Method::POST,
                &format!("{path}/start"),
                None
            )
            .await,
            200
        )
        .await["status"],
        "in_progress"
    );

    // A 党小组会 is called by the group and its members read it; calling one at the
    // branch is refused.
    let mut group = congress_body();
    group["kind"] = json!("party_group");
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &format!("/api/v1/orgs/{}/meetings", b.tree.group_a1a),
        Some(group.clone()),
    )
    .await;
    let g = ok_json(resp, 201).await;
    assert_eq!(g["quorum_applies"], false);
    let gid = g["id"].as_str().unwrap();
    assert_eq!(
        get(&b.app, &b.callers[1], &format!("/api/v1/meetings/{gid}")).await["kind"],
        "party_group"
    );
    let q = get(
        &b.app,
        &b.callers[1],
        &format!("/api/v1/meetings/{gid}/quorum"),
    )
    .await;
    assert_eq!(q["expected"], 1, "the group has one member");
    let resp = call(
        &b.app,
        &b.secretary,
        Method::POST,
        &format!("/api/v1/orgs/{}/meetings", b.id),
        Some(group),
    )
    .await;
    expect_problem(resp, 422, "validation_failed").await;
}

#[tokio::test]
async fn listing_pages_by_start_with_filters() {
    let b = branch().await;
    for day in 1..=5 {
        let mut body = congress_body();
        body["scheduled_start"] = json!(format!("2026-12-0{day}T02:00:00Z"));
        body["scheduled_end"] = json!(format!("2026-12-0{day}T04:00:00Z"));
        if day == 5 {
            body["kind"] = json!("lecture");
            body["lecturer"] = json!("王书记");
        }
        b.create(body).await;
    }
    let base = format!("/api/v1/orgs/{}/meetings", b.id);
    let p1 = get(&b.app, &b.secretary, &format!("{base}?limit=2")).await;
    let starts = |p: &Value| -> Vec<String> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["scheduled_start"].as_str().unwrap()[..10].to_string())
            .collect()
    };
    assert_eq!(starts(&p1), vec!["2026-12-01", "2026-12-02"]);
    let c = p1["next_cursor"].as_str().unwrap();
    let p2 = get(&b.app, &b.secretary, &format!("{base}?limit=2&cursor={c}")).await;
    assert_eq!(starts(&p2), vec!["2026-12-03", "2026-12-04"]);
    let ranged = get(
        &b.app,
        &b.secretary,
        &format!("{base}?from=2026-12-02T00:00:00Z&to=2026-12-04T00:00:00Z"),
    )
    .await;
    assert_eq!(starts(&ranged), vec!["2026-12-02", "2026-12-03"]);
    let lectures = get(&b.app, &b.secretary, &format!("{base}?kind=lecture")).await;
    assert_eq!(starts(&lectures), vec!["2026-12-05"]);
    assert_eq!(lectures["items"][0]["lecturer"], "王书记");
    expect_problem(
        call(
            &b.app,
            &b.secretary,
            Method::GET,
            &format!("{base}?kind=picnic"),
            None,
        )
        .await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn a_committee_meeting_expects_only_the_committee() {
    let b = branch().await;
    let sa = b.app.super_admin().await;
    for (i, post) in [
        (0, "secretary"),
        (2, "organization_member"),
        (3, "propaganda_member"),
    ] {
        ok_json(
            call(
                &b.app,
                &sa,
                Method::POST,
                &format!("/api/v1/orgs/{}/posts", b.id),
                Some(json!({"member_id": b.m(i), "post": post})),
            )
            .await,
            201,
        )
        .await;
    }
    let mut body = congress_body();
    body["kind"] = json!("committee");
    let m = b.create(body).await;
    let id = m["id"].as_str().unwrap().to_string();
    let q = b.quorum(&id).await;
    assert_eq!(
        (q["kind"].as_str(), q["expected"].as_u64()),
        (Some("committee"), Some(3))
    );
    b.ok(&id, "schedule").await;
    // Only committee members are told.
    let told = get(&b.app, &b.callers[2], "/api/v1/notices").await;
    assert_eq!(told["items"].as_array().unwrap().len(), 1);
    let not_told = get(&b.app, &b.callers[1], "/api/v1/notices").await;
    assert!(not_told["items"].as_array().unwrap().is_empty());
    b.ok(&id, "start").await;
    b.mark(&id, b.m(0), "in_person", "arrive").await;
    b.mark(&id, b.m(2), "in_person", "arrive").await;
    // A branch member attending (列席) is recorded but not counted.
    b.add_observer(&id, b.m(5)).await;
    b.mark(&id, b.m(5), "in_person", "arrive").await;
    let q = b.quorum(&id).await;
    assert_eq!(q["expected"], 3);
    assert_eq!(q["present_voting"], 2);
    assert_eq!(q["quorate"], true);
    assert_eq!(ids(&q["missing"]), vec![b.m(3).to_string()]);
    assert_eq!(ids(&q["present_not_counted"]), vec![b.m(5).to_string()]);
    assert_eq!(q["present_not_counted"][0]["name"], "党员6");
}
