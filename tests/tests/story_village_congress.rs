//! The story of a village congress (支部党员大会) from the notice to the compliance calendar.
//!
//! 红旗村党支部 has 59 party members (55 full, 4 probationary); 22 are away. Two of the away
//! full members are left out of E with both approvals. 18 check in at the venue by QR
//! code, the other 19 who came join remotely through the attendance service the
//! signaling module uses. The congress votes on admitting a 发展对象 as a probationary
//! member, with one written opinion from an absent voting member; a probationary member's
//! vote and a second vote are refused. The motion closes, the meeting ends, the recorder
//! writes the points, host and recorder sign, the secretary submits, and the exported
//! record — JSON and the printable page — shows E, attendance by mode, the counts and the
//! result. The compliance calendar for 2026-Q4 counts the meeting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::prelude::*;
use hongying_proto::orgs::{OrgDomain, OrgKind};
use hongying_server::auth::Role;
use hongying_server::meetings::attendance;
use hongying_tests::api::{get, post};
use hongying_tests::fixtures::Caller;
use hongying_tests::reqwest::Method;
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

const FULL: usize = 55;
const PROBATIONARY: usize = 4;

async fn set_status(app: &TestApp, member_id: &str, status: &str) {
    let state = app.state.clone();
    let (id, status) = (member_id.to_string(), status.to_string());
    tokio::task::spawn_blocking(move || {
        use hongying_server::db::schema::members as m;
        let mut conn = state.db.get().unwrap();
        diesel::update(m::table.find(&id))
            .set(m::status.eq(&status))
            .execute(&mut *conn)
            .unwrap();
    })
    .await
    .unwrap();
}

async fn qr_token(app: &TestApp, secretary: &Caller, meeting: &str) -> String {
    get(app, secretary, &format!("/api/v1/meetings/{meeting}/qr")).await["token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_village_congress_from_notice_to_compliance() {
    let app = TestApp::spawn().await;
    let tree = app.seed_city_tree().await;
    let village = app
        .create_org(
            Some(&tree.town_a1),
            OrgKind::Branch,
            OrgDomain::Rural,
            "红旗村党支部",
        )
        .await;

    // 59 party members and one 发展对象.
    let mut full = Vec::new();
    for i in 0..FULL {
        full.push(
            app.seed_member_row(&village, None, &format!("红旗党员{i:02}"))
                .await,
        );
    }
    let mut probationary = Vec::new();
    for i in 0..PROBATIONARY {
        let m = app
            .seed_member_row(&village, None, &format!("红旗预备{i}"))
            .await;
        set_status(&app, &m, "probationary").await;
        probationary.push(m);
    }
    let candidate = app.seed_member_row(&village, None, "李发展").await;
    set_status(&app, &candidate, "candidate").await;

    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(village.as_str()))], None)
        .await;
    let town = app
        .caller(&[(Role::OrgAdmin, Some(tree.town_a1.as_str()))], None)
        .await;
    let member = |m: String| {
        let app = &app;
        let village = village.clone();
        async move {
            app.caller(&[(Role::Member, Some(village.as_str()))], Some(&m))
                .await
        }
    };
    // Who comes: full 0..34 and probationary 0..3; away: full 34..55 and probationary 3.
    let mut voters = Vec::new();
    for m in &full[..34] {
        voters.push(member(m.clone()).await);
    }
    let mut prob_callers = Vec::new();
    for m in &probationary[..3] {
        prob_callers.push(member(m.clone()).await);
    }
    let (host, recorder) = (&voters[0], &voters[1]);

    // Scheduled within the quarter; the members are notified.
    let m = post(
        &app,
        &secretary,
        &format!("/api/v1/orgs/{village}/meetings"),
        json!({
            "kind": "congress",
            "title": "红旗村党支部2026年第四季度党员大会",
            "agenda": [{"title": "讨论接收李发展同志为预备党员"}, {"title": "通报村务"}],
            "scheduled_start": "2026-12-05T01:00:00Z",
            "scheduled_end": "2026-12-05T03:00:00Z",
            "place": "红旗村党群服务中心",
            "mode": "hybrid",
            "host_member_id": full[0],
            "recorder_member_id": full[1]
        }),
        201,
    )
    .await;
    let meeting = m["id"].as_str().unwrap().to_string();
    post(
        &app,
        &secretary,
        &format!("/api/v1/meetings/{meeting}/schedule"),
        json!(null),
        200,
    )
    .await;
    let notices = get(&app, &voters[5], "/api/v1/notices").await;
    assert!(
        notices["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["ref_id"] == meeting.as_str()),
        "{notices}"
    );

    // Two of the away members are left out of E, with the town's and the congress's approval.
    for (m, reason) in [
        (&full[53], "abroad_half_year"),
        (&full[54], "migrant_applied"),
    ] {
        let ex = post(
            &app,
            &secretary,
            &format!("/api/v1/meetings/{meeting}/exclusions"),
            json!({"member_id": m, "reason": reason}),
            201,
        )
        .await;
        let approve = format!(
            "/api/v1/meeting-exclusions/{}/approve",
            ex["id"].as_str().unwrap()
        );
        post(&app, &town, &approve, json!({"by": "upper"}), 200).await;
        let ex = post(&app, &secretary, &approve, json!({"by": "congress"}), 200).await;
        assert_eq!(ex["effective"], true);
    }

    // The admission motion, and one written opinion handed in by an absent voting member.
    let motion = post(
        &app,
        &secretary,
        &format!("/api/v1/meetings/{meeting}/motions"),
        json!({"kind": "admission", "title": "关于接收李发展同志为中共预备党员的决议",
            "candidate_member_id": candidate, "voting_method": "secret_ballot"}),
        201,
    )
    .await;
    let motion = motion["id"].as_str().unwrap().to_string();
    let w = post(
        &app,
        &secretary,
        &format!("/api/v1/motions/{motion}/written-opinions"),
        json!({"member_id": full[40], "choice": "yes"}),
        201,
    )
    .await;
    assert_eq!(w["member_name"], "红旗党员40");

    // The meeting starts; a QR code older than its window is refused.
    post(
        &app,
        &secretary,
        &format!("/api/v1/meetings/{meeting}/start"),
        json!(null),
        200,
    )
    .await;
    let old = qr_token(&app, &secretary, &meeting).await;
    app.state.clock.advance(chrono::Duration::seconds(65));
    let resp = call(
        &app,
        &voters[0],
        Method::POST,
        &format!("/api/v1/meetings/{meeting}/check-in"),
        Some(json!({"token": old})),
    )
    .await;
    expect_problem(resp, 409, "qr_token_expired").await;

    // 18 check in by QR at the venue: 16 full members and 2 probationary ones.
    let checkin = format!("/api/v1/meetings/{meeting}/check-in");
    let token = qr_token(&app, &secretary, &meeting).await;
    for who in voters[..16].iter().chain(&prob_callers[..2]) {
        let i = post(&app, who, &checkin, json!({"token": token}), 200).await;
        assert_eq!(
            (i["mode"].as_str(), i["source"].as_str()),
            (Some("in_person"), Some("qr"))
        );
    }
    // The other 19 join remotely through the attendance service (as signaling does).
    let remote: Vec<String> = full[16..34]
        .iter()
        .chain(&probationary[2..3])
        .cloned()
        .collect();
    {
        let state = app.state.clone();
        let meeting = meeting.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = state.db.get().unwrap();
            for m in &remote {
                attendance::open_remote_interval(&mut conn, &meeting, m, true, state.clock.now())
                    .unwrap();
            }
        })
        .await
        .unwrap();
    }
    let q = get(
        &app,
        &secretary,
        &format!("/api/v1/meetings/{meeting}/quorum"),
    )
    .await;
    assert_eq!(
        (q["expected"].as_u64(), q["present_voting"].as_u64()),
        (Some(53), Some(34))
    );
    assert_eq!(
        (
            q["present_in_person"].as_u64(),
            q["present_remote"].as_u64()
        ),
        (Some(16), Some(18))
    );
    assert_eq!(q["quorate"], true);

    // The vote: 30 yes, 2 no, 2 abstain in the meeting, plus the written yes.
    let opened = post(
        &app,
        &secretary,
        &format!("/api/v1/motions/{motion}/open"),
        json!(null),
        200,
    )
    .await;
    assert_eq!(opened["quorum_at_open"]["expected"], 53);
    let ballots = format!("/api/v1/motions/{motion}/ballots");
    for (i, who) in voters.iter().enumerate() {
        let choice = match i {
            0..30 => "yes",
            30..32 => "no",
            _ => "abstain",
        };
        post(&app, who, &ballots, json!({"choice": choice}), 201).await;
    }
    let resp = call(
        &app,
        &prob_callers[0],
        Method::POST,
        &ballots,
        Some(json!({"choice": "yes"})),
    )
    .await;
    expect_problem(resp, 403, "no_voting_right").await;
    let resp = call(
        &app,
        &voters[3],
        Method::POST,
        &ballots,
        Some(json!({"choice": "no"})),
    )
    .await;
    expect_problem(resp, 409, "already_voted").await;
    let closed = post(
        &app,
        &secretary,
        &format!("/api/v1/motions/{motion}/close"),
        json!(null),
        200,
    )
    .await;
    let r = &closed["result"];
    assert_eq!(
        (r["yes"].as_u64(), r["no"].as_u64(), r["abstain"].as_u64()),
        (Some(31), Some(2), Some(2))
    );
    assert_eq!(r["passed"], true);

    // The meeting ends; the record is written, signed and submitted.
    post(
        &app,
        &secretary,
        &format!("/api/v1/meetings/{meeting}/end"),
        json!(null),
        200,
    )
    .await;
    let points = format!("/api/v1/meetings/{meeting}/minutes/points");
    for (speaker, text) in [
        (&full[0], "介绍李发展同志的培养考察情况。"),
        (&full[2], "李发展同志在村集体经济工作中表现突出，同意接收。"),
        (&full[5], "希望李发展同志继续加强理论学习。"),
    ] {
        post(
            &app,
            recorder,
            &points,
            json!({"speaker_member_id": speaker, "agenda_item": 1, "text": text}),
            201,
        )
        .await;
    }
    ok_json(
        call(
            &app,
            recorder,
            Method::PUT,
            &format!("/api/v1/meetings/{meeting}/minutes"),
            Some(json!({"summary": "会议讨论并表决接收预备党员一名。", "resolutions": ["同意接收李发展同志为中共预备党员，报镇党委审批。"]})),
        )
        .await,
        200,
    )
    .await;
    let sign = format!("/api/v1/meetings/{meeting}/minutes/sign");
    post(&app, host, &sign, json!({"as": "host"}), 200).await;
    post(&app, recorder, &sign, json!({"as": "recorder"}), 200).await;
    post(
        &app,
        &secretary,
        &format!("/api/v1/meetings/{meeting}/minutes/submit"),
        json!(null),
        200,
    )
    .await;

    // The exported record.
    let export = format!("/api/v1/meetings/{meeting}/minutes/export");
    let resp = call(
        &app,
        &voters[10],
        Method::GET,
        &format!("{export}?format=json"),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let rec: Value = resp.json().await.unwrap();
    assert_eq!(rec["status"], "submitted");
    let a = &rec["attendance"];
    assert_eq!(
        a["expected"],
        json!({"total": 59, "full": 55, "probationary": 4})
    );
    assert_eq!(
        a["present"],
        json!({"total": 37, "full": 34, "probationary": 3})
    );
    assert_eq!(a["present_by_mode"], json!({"in_person": 18, "remote": 19}));
    assert_eq!(
        a["expected_voting"], 53,
        "E = 55 full − 2 approved exclusions"
    );
    assert_eq!(a["present_voting"], 34);
    assert_eq!(
        a["present_voting_by_mode"],
        json!({"in_person": 16, "remote": 18})
    );
    assert_eq!(a["quorum_at_end"]["quorate"], true);
    let absentees = a["absentees"].as_array().unwrap();
    assert_eq!(absentees.len(), 22);
    assert_eq!(
        absentees.iter().filter(|x| x["excluded"] == true).count(),
        2
    );
    let exclusions = a["exclusions"].as_array().unwrap();
    assert_eq!(exclusions.len(), 2);
    assert!(exclusions.iter().all(|e| e["effective"] == true
        && e["upper_approved_at"].is_string()
        && e["congress_approved_at"].is_string()));
    assert_eq!(a["written_opinions"].as_array().unwrap().len(), 1);
    assert_eq!(a["written_opinions"][0]["counted"], true);
    assert_eq!(rec["points"].as_array().unwrap().len(), 3);
    assert_eq!(rec["points"][1]["seq"], 2);
    let motion_rec = &rec["motions"][0];
    assert_eq!(motion_rec["kind"], "admission");
    assert_eq!(motion_rec["candidate_name"], "李发展");
    let r = &motion_rec["result"];
    assert_eq!(
        (r["expected"].as_u64(), r["present_voting"].as_u64()),
        (Some(53), Some(34))
    );
    assert_eq!(
        (r["yes"].as_u64(), r["no"].as_u64(), r["abstain"].as_u64()),
        (Some(31), Some(2), Some(2))
    );
    assert_eq!(r["written"]["counted_yes"], 1);
    assert_eq!(r["passed"], true);
    assert!(rec["sign_offs"]["host"]["signed_at"].is_string());
    assert!(rec["sign_offs"]["recorder"]["signed_at"].is_string());

    let html = call(
        &app,
        &voters[10],
        Method::GET,
        &format!("{export}?format=html"),
        None,
    )
    .await;
    assert_eq!(html.status(), 200);
    let page = html.text().await.unwrap();
    for needle in [
        "支部党员大会记录",
        "红旗村党支部",
        "应到",
        "实到",
        "<td class=\"n\">59</td>",
        "<td class=\"n\">53</td>",
        "<td class=\"n\">18</td><td class=\"n\">19</td>",
        "<td class=\"n\">31</td><td class=\"n\">2</td><td class=\"n\">2</td>",
        "通过",
        "李发展",
        "主持人签字：红旗党员00",
        "记录人签字：红旗党员01",
    ] {
        assert!(page.contains(needle), "the printed record lacks {needle:?}");
    }

    // The compliance calendar of the quarter counts the meeting for the village.
    let report = get(
        &app,
        &town,
        &format!("/api/v1/orgs/{}/compliance?period=2026-Q4", tree.town_a1),
    )
    .await;
    let branch = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["org_id"] == village.as_str())
        .unwrap();
    assert_eq!(branch["full_members"], 55);
    assert_eq!(branch["has_committee"], true);
    let congress = branch["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "congress")
        .unwrap();
    assert_eq!(
        (
            congress["required"].as_u64(),
            congress["held"].as_u64(),
            congress["missing"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(congress["meeting_ids"], json!([meeting]));
}
