//! The minutes record over HTTP: points in order, summary and resolutions, sign-off by the
//! host and recorder themselves, submission only after the end and with both signatures,
//! review by the upper organization, the attendance table, attachments checked by their
//! content, and the JSON / HTML export.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::prelude::*;
use hongying_server::auth::Role;
use hongying_tests::api;
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::{Method, Response};
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

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

/// 东村 branch: six full members (m0 hosts, m1 records), one probationary member.
struct Branch {
    app: TestApp,
    tree: CityTree,
    secretary: Caller,
    full: Vec<String>,
    callers: Vec<Caller>,
    probationary: String,
}

async fn branch_with(app: TestApp) -> Branch {
    let tree = app.seed_city_tree().await;
    let id = tree.branch_a1a.clone();
    let mut full = vec![tree.member_a1a.clone(), tree.member_group_a1a.clone()];
    for i in 2..6 {
        full.push(app.seed_member_row(&id, None, &format!("党员{i}")).await);
    }
    let probationary = app.seed_member_row(&id, None, "预备甲").await;
    set_status(&app, &probationary, "probationary").await;
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(id.as_str()))], None)
        .await;
    let mut callers = Vec::new();
    for m in &full {
        callers.push(
            app.caller(&[(Role::Member, Some(id.as_str()))], Some(m))
                .await,
        );
    }
    Branch {
        app,
        tree,
        secretary,
        full,
        callers,
        probationary,
    }
}

impl Branch {
    async fn post(&self, who: &Caller, path: &str, body: Value) -> Response {
        call(&self.app, who, Method::POST, path, Some(body)).await
    }

    async fn sec(&self, path: &str, body: Value, status: u16) -> Value {
        ok_json(self.post(&self.secretary, path, body).await, status).await
    }

    /// A started congress hosted by m0 and recorded by m1.
    async fn started(&self) -> String {
        let m = self
            .sec(
                &format!("/api/v1/orgs/{}/meetings", self.tree.branch_a1a),
                json!({
                    "kind": "congress",
                    "title": "十一月支部党员大会 <学习>",
                    "agenda": [{"title": "学习党章"}, {"title": "讨论村务公开"}],
                    "scheduled_start": "2026-12-01T02:00:00Z",
                    "scheduled_end": "2026-12-01T04:00:00Z",
                    "place": "村委会议室",
                    "mode": "hybrid",
                    "host_member_id": self.full[0],
                    "recorder_member_id": self.full[1]
                }),
                201,
            )
            .await;
        let id = m["id"].as_str().unwrap().to_string();
        self.sec(&format!("/api/v1/meetings/{id}/schedule"), json!(null), 200)
            .await;
        self.sec(&format!("/api/v1/meetings/{id}/start"), json!(null), 200)
            .await;
        id
    }

    async fn arrive(&self, meeting: &str, member: &str, mode: &str) {
        self.sec(
            &format!("/api/v1/meetings/{meeting}/attendance"),
            json!({"member_id": member, "mode": mode, "action": "arrive"}),
            200,
        )
        .await;
    }

    async fn get(&self, who: &Caller, path: &str) -> Value {
        api::get(&self.app, who, path).await
    }

    async fn upload(
        &self,
        who: &Caller,
        meeting: &str,
        name: &str,
        ct: &str,
        bytes: Vec<u8>,
    ) -> Response {
        self.app
            .client
            .post(self.app.url(&format!(
                "/api/v1/meetings/{meeting}/attachments?filename={name}"
            )))
            .header("authorization", who.bearer())
            .header("content-type", ct)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn sign_off_submission_and_review_follow_the_rules() {
    let b = branch_with(TestApp::spawn().await).await;
    let meeting = b.started().await;
    let (host, recorder) = (&b.callers[0], &b.callers[1]);
    for (i, m) in b.full.iter().enumerate().take(4) {
        b.arrive(&meeting, m, if i % 2 == 0 { "in_person" } else { "remote" })
            .await;
    }
    b.arrive(&meeting, &b.probationary, "in_person").await;
    let absence = format!("/api/v1/meetings/{meeting}/absences/{}", b.full[5]);
    ok_json(
        call(
            &b.app,
            &b.secretary,
            Method::PUT,
            &absence,
            Some(json!({"reason": "sick", "note": "住院"})),
        )
        .await,
        200,
    )
    .await;

    // Points, one by one: by the recorder, the secretary; not by a plain member.
    let points = format!("/api/v1/meetings/{meeting}/minutes/points");
    let p1 = ok_json(
        b.post(recorder, &points, json!({"speaker_member_id": b.full[0], "agenda_item": 1, "text": "传达学习党章修正案。"})).await,
        201,
    )
    .await;
    assert_eq!(
        (p1["seq"].as_i64(), p1["speaker_name"].as_str()),
        (Some(1), Some("张东"))
    );
    let p2 = b
        .sec(
            &points,
            json!({"speaker_name": "镇党委指导员", "agenda_item": 2, "text": "村务公开要及时。"}),
            201,
        )
        .await;
    assert_eq!(p2["seq"], 2);
    let resp = b
        .post(
            &b.callers[3],
            &points,
            json!({"speaker_name": "某人", "text": "发言"}),
        )
        .await;
    expect_problem(resp, 403, "forbidden").await;
    let resp = b.post(recorder, &points, json!({"text": "无发言人"})).await;
    expect_problem(resp, 422, "validation_failed").await;
    let resp = b
        .post(
            recorder,
            &points,
            json!({"speaker_name": "某人", "agenda_item": 3, "text": "超出议程"}),
        )
        .await;
    expect_problem(resp, 422, "validation_failed").await;
    let minutes = format!("/api/v1/meetings/{meeting}/minutes");
    ok_json(
        b.put_minutes(
            &minutes,
            recorder,
            json!({"summary": "会议顺利进行。", "resolutions": ["按期公开村务"]}),
        )
        .await,
        200,
    )
    .await;

    // Signing and submitting wait for the end.
    let sign = format!("/api/v1/meetings/{meeting}/minutes/sign");
    let submit = format!("/api/v1/meetings/{meeting}/minutes/submit");
    expect_problem(
        b.post(host, &sign, json!({"as": "host"})).await,
        409,
        "conflict",
    )
    .await;
    let p = expect_problem(
        b.post(&b.secretary, &submit, json!(null)).await,
        409,
        "illegal_transition",
    )
    .await;
    assert_eq!(p["allowed"], json!(["end"]));
    b.sec(&format!("/api/v1/meetings/{meeting}/end"), json!(null), 200)
        .await;

    // Only the host member signs as host, only the recorder member as recorder.
    expect_problem(
        b.post(recorder, &sign, json!({"as": "host"})).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        b.post(&b.secretary, &sign, json!({"as": "recorder"})).await,
        403,
        "forbidden",
    )
    .await;
    let signed = ok_json(b.post(host, &sign, json!({"as": "host"})).await, 200).await;
    assert_eq!(signed["sign_offs"]["host"]["name"], "张东");
    assert!(signed["sign_offs"]["recorder"].is_null());
    // Both signatures are needed.
    let p = expect_problem(
        b.post(&b.secretary, &submit, json!(null)).await,
        409,
        "conflict",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("签字"));
    ok_json(
        b.post(recorder, &sign, json!({"as": "recorder"})).await,
        200,
    )
    .await;
    // A change after signing clears both signatures: they sign what is recorded.
    let changed = ok_json(b.put_minutes(&minutes, recorder, json!({"summary": "会议顺利进行，议定两项。", "resolutions": ["按期公开村务", "整修村道"]})).await, 200).await;
    assert!(changed["sign_offs"]["host"].is_null() && changed["sign_offs"]["recorder"].is_null());
    ok_json(b.post(host, &sign, json!({"as": "host"})).await, 200).await;
    ok_json(
        b.post(recorder, &sign, json!({"as": "recorder"})).await,
        200,
    )
    .await;
    // Signing twice changes nothing.
    ok_json(
        b.post(recorder, &sign, json!({"as": "recorder"})).await,
        200,
    )
    .await;

    // A member cannot submit; the secretary can.
    expect_problem(
        b.post(&b.callers[2], &submit, json!(null)).await,
        403,
        "forbidden",
    )
    .await;
    let rec = b.sec(&submit, json!(null), 200).await;
    assert_eq!(rec["status"], "submitted");
    assert_eq!(rec["header"]["meeting_status"], "minutes_submitted");
    let quorum = &rec["attendance"]["quorum_at_end"];
    assert_eq!(
        (
            quorum["expected"].as_u64(),
            quorum["present_voting"].as_u64(),
            quorum["quorate"].as_bool()
        ),
        (Some(6), Some(4), Some(true))
    );
    let meeting_view = b
        .get(&b.secretary, &format!("/api/v1/meetings/{meeting}"))
        .await;
    assert_eq!(meeting_view["status"], "minutes_submitted");
    // Closed for writing now.
    expect_problem(
        b.put_minutes(
            &minutes,
            recorder,
            json!({"summary": "改", "resolutions": []}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    expect_problem(
        b.post(
            recorder,
            &points,
            json!({"speaker_name": "某人", "text": "补充"}),
        )
        .await,
        409,
        "conflict",
    )
    .await;
    expect_problem(b.sec_raw(&submit).await, 409, "illegal_transition").await;

    // Review: not by the branch itself; by the town above it.
    let review = format!("/api/v1/meetings/{meeting}/minutes/review");
    expect_problem(
        b.post(&b.secretary, &review, json!({"comment": "好"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    let town = b
        .app
        .caller(&[(Role::OrgAdmin, Some(b.tree.town_a1.as_str()))], None)
        .await;
    let reviewed = ok_json(
        b.post(&town, &review, json!({"comment": "记录完整。"}))
            .await,
        200,
    )
    .await;
    assert_eq!(reviewed["status"], "reviewed");
    assert_eq!(reviewed["review_comment"], "记录完整。");
    let other_county = b
        .app
        .caller(&[(Role::OrgAdmin, Some(b.tree.county_b.as_str()))], None)
        .await;
    expect_problem(
        b.post(&other_county, &review, json!({})).await,
        404,
        "not_found",
    )
    .await;

    // The record, as a member of the branch reads it.
    let rec = b.get(&b.callers[4], &minutes).await;
    let a = &rec["attendance"];
    assert_eq!(
        a["expected"],
        json!({"total": 7, "full": 6, "probationary": 1})
    );
    assert_eq!(
        a["present"],
        json!({"total": 5, "full": 4, "probationary": 1})
    );
    assert_eq!(a["present_by_mode"], json!({"in_person": 3, "remote": 2}));
    assert_eq!(
        (a["expected_voting"].as_u64(), a["present_voting"].as_u64()),
        (Some(6), Some(4))
    );
    assert_eq!(
        a["present_voting_by_mode"],
        json!({"in_person": 2, "remote": 2})
    );
    let absentees = a["absentees"].as_array().unwrap();
    assert_eq!(absentees.len(), 2);
    let sick = absentees
        .iter()
        .find(|x| x["member_id"] == b.full[5].as_str())
        .unwrap();
    assert_eq!(
        (sick["reason_label_zh"].as_str(), sick["note"].as_str()),
        (Some("病假"), Some("住院"))
    );
    let texts: Vec<&str> = rec["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["传达学习党章修正案。", "村务公开要及时。"]);
    assert_eq!(rec["resolutions"], json!(["按期公开村务", "整修村道"]));
    assert_eq!(rec["header"]["host"]["name"], "张东");

    // The printable page escapes what people typed.
    let html = call(
        &b.app,
        &b.callers[4],
        Method::GET,
        &format!("{minutes}/export?format=html"),
        None,
    )
    .await;
    assert_eq!(html.status(), 200);
    assert!(
        html.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = html.text().await.unwrap();
    assert!(page.contains("支部党员大会记录"));
    assert!(
        page.contains("十一月支部党员大会 &lt;学习&gt;"),
        "the title is escaped"
    );
    assert!(!page.contains("<学习>"));
    assert!(page.contains("主持人签字：张东"));
    let resp = call(
        &b.app,
        &b.callers[4],
        Method::GET,
        &format!("{minutes}/export?format=pdf"),
        None,
    )
    .await;
    expect_problem(resp, 400, "invalid_query").await;
    // Outside the branch the record does not exist.
    let stranger = b
        .app
        .caller(
            &[(Role::Member, Some(b.tree.branch_a1c.as_str()))],
            Some(&b.tree.member_a1c),
        )
        .await;
    expect_problem(
        call(&b.app, &stranger, Method::GET, &minutes, None).await,
        404,
        "not_found",
    )
    .await;
}

impl Branch {
    async fn put_minutes(&self, path: &str, who: &Caller, body: Value) -> Response {
        call(&self.app, who, Method::PUT, path, Some(body)).await
    }

    async fn sec_raw(&self, path: &str) -> Response {
        self.post(&self.secretary, path, json!(null)).await
    }
}

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00";

#[tokio::test]
async fn attachments_are_accepted_by_their_content_only() {
    let b = branch_with(TestApp::spawn_with(|c| c.http.upload_limit = 64 * 1024).await).await;
    let meeting = b.started().await;
    let recorder = &b.callers[1];

    let meta = ok_json(
        b.upload(recorder, &meeting, "签到表.png", "image/png", PNG.to_vec())
            .await,
        201,
    )
    .await;
    assert_eq!(meta["content_type"], "image/png");
    assert_eq!(meta["size_bytes"], PNG.len());
    let id = meta["id"].as_str().unwrap();
    // Stored under data_dir, content-addressed.
    let sha = meta["sha256"].as_str().unwrap();
    let stored = b
        .app
        .state
        .config
        .data_dir
        .join("attachments")
        .join(&sha[..2])
        .join(sha);
    assert_eq!(std::fs::read(&stored).unwrap(), PNG);

    // Text dressed up as a photo.
    let resp = b
        .upload(
            recorder,
            &meeting,
            "photo.jpg",
            "image/jpeg",
            b"this is plain text, not a jpeg".to_vec(),
        )
        .await;
    expect_problem(resp, 415, "unsupported_media_type").await;
    // A real image named or declared as something else.
    let resp = b
        .upload(
            recorder,
            &meeting,
            "scan.pdf",
            "application/pdf",
            PNG.to_vec(),
        )
        .await;
    expect_problem(resp, 422, "invalid_attachment").await;
    let resp = b
        .upload(
            recorder,
            &meeting,
            "scan.png",
            "application/pdf",
            PNG.to_vec(),
        )
        .await;
    expect_problem(resp, 422, "invalid_attachment").await;
    let resp = b
        .upload(recorder, &meeting, "empty.png", "image/png", Vec::new())
        .await;
    expect_problem(resp, 422, "invalid_attachment").await;
    // Too large for http.upload_limit.
    let mut big = PNG.to_vec();
    big.resize(64 * 1024 + 1, 0);
    expect_problem(
        b.upload(recorder, &meeting, "big.png", "image/png", big)
            .await,
        413,
        "payload_too_large",
    )
    .await;
    // A plain member may not attach.
    let resp = b
        .upload(&b.callers[3], &meeting, "a.png", "image/png", PNG.to_vec())
        .await;
    expect_problem(resp, 403, "forbidden").await;
    let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF".to_vec();
    ok_json(
        b.upload(
            &b.secretary,
            &meeting,
            "材料.pdf",
            "application/octet-stream",
            pdf,
        )
        .await,
        201,
    )
    .await;

    // Readers of the meeting download it as stored; others get 404.
    let resp = call(
        &b.app,
        &b.callers[3],
        Method::GET,
        &format!("/api/v1/attachments/{id}"),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("filename*=UTF-8''")
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG);
    let stranger = b
        .app
        .caller(
            &[(Role::Member, Some(b.tree.branch_a1c.as_str()))],
            Some(&b.tree.member_a1c),
        )
        .await;
    let resp = call(
        &b.app,
        &stranger,
        Method::GET,
        &format!("/api/v1/attachments/{id}"),
        None,
    )
    .await;
    expect_problem(resp, 404, "not_found").await;
    let resp = b
        .upload(&stranger, &meeting, "a.png", "image/png", PNG.to_vec())
        .await;
    expect_problem(resp, 404, "not_found").await;

    let rec = b
        .get(
            &b.callers[3],
            &format!("/api/v1/meetings/{meeting}/minutes"),
        )
        .await;
    let names: Vec<&str> = rec["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["签到表.png", "材料.pdf"]);
}
