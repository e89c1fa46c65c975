//! Motions over HTTP: an admission vote with written opinions (which count only for absent
//! voting members), the refusals of a ballot (before open, after close, no voting right,
//! not present, a second different vote, a malformed ballot), an election ranked with a
//! tie at the last seat, and a show of hands tallied by the secretary.
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

/// 东村 branch of the city tree with `full` full members (the tree's two included), two
/// probationary members and a 发展对象, its secretary and a caller per member.
struct Branch {
    app: TestApp,
    id: String,
    secretary: Caller,
    full: Vec<String>,
    callers: Vec<Caller>,
    probationary: Vec<String>,
    probationary_callers: Vec<Caller>,
    candidate: String,
}

async fn branch(full: usize) -> Branch {
    let app = TestApp::spawn().await;
    let tree: CityTree = app.seed_city_tree().await;
    let id = tree.branch_a1a.clone();
    let mut members = vec![tree.member_a1a.clone(), tree.member_group_a1a.clone()];
    for i in members.len()..full {
        members.push(app.seed_member_row(&id, None, &format!("党员{i}")).await);
    }
    let mut probationary = Vec::new();
    for i in 0..2 {
        let m = app.seed_member_row(&id, None, &format!("预备{i}")).await;
        set_status(&app, &m, "probationary").await;
        probationary.push(m);
    }
    let candidate = app.seed_member_row(&id, None, "发展对象甲").await;
    set_status(&app, &candidate, "candidate").await;
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(id.as_str()))], None)
        .await;
    let mut callers = Vec::new();
    for m in &members {
        callers.push(
            app.caller(&[(Role::Member, Some(id.as_str()))], Some(m))
                .await,
        );
    }
    let mut probationary_callers = Vec::new();
    for m in &probationary {
        probationary_callers.push(
            app.caller(&[(Role::Member, Some(id.as_str()))], Some(m))
                .await,
        );
    }
    Branch {
        app,
        id,
        secretary,
        full: members,
        callers,
        probationary,
        probationary_callers,
        candidate,
    }
}

impl Branch {
    async fn post(&self, who: &Caller, path: &str, body: Value) -> Response {
        call(&self.app, who, Method::POST, path, Some(body)).await
    }

    async fn sec(&self, path: &str, body: Value, status: u16) -> Value {
        ok_json(self.post(&self.secretary, path, body).await, status).await
    }

    /// A congress, scheduled (started when `start`).
    async fn meeting(&self, start: bool) -> String {
        let m = self
            .sec(
                &format!("/api/v1/orgs/{}/meetings", self.id),
                json!({
                    "kind": "congress",
                    "title": "第四季度支部党员大会",
                    "agenda": [{"title": "讨论接收预备党员"}],
                    "scheduled_start": "2026-12-01T02:00:00Z",
                    "scheduled_end": "2026-12-01T04:00:00Z",
                    "place": "村委会议室",
                    "mode": "hybrid"
                }),
                201,
            )
            .await;
        let id = m["id"].as_str().unwrap().to_string();
        self.sec(&format!("/api/v1/meetings/{id}/schedule"), json!(null), 200)
            .await;
        if start {
            self.start(&id).await;
        }
        id
    }

    async fn start(&self, meeting: &str) {
        self.sec(
            &format!("/api/v1/meetings/{meeting}/start"),
            json!(null),
            200,
        )
        .await;
    }

    async fn arrive(&self, meeting: &str, member: &str) {
        self.sec(
            &format!("/api/v1/meetings/{meeting}/attendance"),
            json!({"member_id": member, "mode": "in_person", "action": "arrive"}),
            200,
        )
        .await;
    }

    async fn leave(&self, meeting: &str, member: &str) {
        self.sec(
            &format!("/api/v1/meetings/{meeting}/attendance"),
            json!({"member_id": member, "mode": "in_person", "action": "leave"}),
            200,
        )
        .await;
    }

    async fn motion(&self, meeting: &str, body: Value) -> String {
        let m = self
            .sec(&format!("/api/v1/meetings/{meeting}/motions"), body, 201)
            .await;
        m["id"].as_str().unwrap().to_string()
    }

    async fn vote(&self, who: &Caller, motion: &str, body: Value) -> Response {
        self.post(who, &format!("/api/v1/motions/{motion}/ballots"), body)
            .await
    }

    async fn get(&self, who: &Caller, path: &str) -> Value {
        api::get(&self.app, who, path).await
    }
}

#[tokio::test]
async fn an_admission_vote_counts_written_opinions_of_absent_voting_members_only() {
    let b = branch(10).await;
    let meeting = b.meeting(false).await;
    let body = json!({"kind": "admission", "title": "接收发展对象甲为预备党员",
        "candidate_member_id": b.candidate, "voting_method": "secret_ballot"});

    // One candidate per admission motion, and a candidate of the right standing.
    let path = format!("/api/v1/meetings/{meeting}/motions");
    let mut no_candidate = body.clone();
    no_candidate
        .as_object_mut()
        .unwrap()
        .remove("candidate_member_id");
    expect_problem(
        b.post(&b.secretary, &path, no_candidate).await,
        422,
        "validation_failed",
    )
    .await;
    let mut wrong = body.clone();
    wrong["candidate_member_id"] = json!(b.full[3]);
    expect_problem(
        b.post(&b.secretary, &path, wrong).await,
        422,
        "validation_failed",
    )
    .await;
    // A member may read motions but not create them.
    expect_problem(
        b.post(&b.callers[0], &path, body.clone()).await,
        403,
        "forbidden",
    )
    .await;
    let motion = b.motion(&meeting, body).await;

    // Written opinions, registered before the vote opens.
    let wo = format!("/api/v1/motions/{motion}/written-opinions");
    let w = b
        .sec(&wo, json!({"member_id": b.full[9], "choice": "yes"}), 201)
        .await;
    assert_eq!(w["member_name"], "党员9");
    // m5 hands one in but will come and vote in the room: the opinion will be ignored.
    b.sec(&wo, json!({"member_id": b.full[5], "choice": "yes"}), 201)
        .await;
    let resp = b
        .post(
            &b.secretary,
            &wo,
            json!({"member_id": b.full[9], "choice": "no"}),
        )
        .await;
    expect_problem(resp, 409, "already_exists").await;
    let resp = b
        .post(
            &b.secretary,
            &wo,
            json!({"member_id": b.probationary[0], "choice": "yes"}),
        )
        .await;
    expect_problem(resp, 403, "no_voting_right").await;
    let resp = b
        .post(
            &b.secretary,
            &wo,
            json!({"member_id": b.candidate, "choice": "yes"}),
        )
        .await;
    expect_problem(resp, 422, "validation_failed").await;

    // Not open yet; it cannot open before the meeting is in progress.
    expect_problem(
        b.vote(&b.callers[0], &motion, json!({"choice": "yes"}))
            .await,
        409,
        "motion_not_open",
    )
    .await;
    let open = format!("/api/v1/motions/{motion}/open");
    expect_problem(
        b.post(&b.secretary, &open, json!(null)).await,
        409,
        "conflict",
    )
    .await;
    b.start(&meeting).await;
    for i in 0..6 {
        b.arrive(&meeting, &b.full[i]).await;
    }
    b.arrive(&meeting, &b.probationary[0]).await;
    let opened = b.sec(&open, json!(null), 200).await;
    assert_eq!(opened["status"], "open");
    assert_eq!(opened["quorum_at_open"]["expected"], 10);
    assert_eq!(opened["quorum_at_open"]["present_voting"], 6);
    assert_eq!(opened["quorum_at_open"]["rule"], "congress_admission");
    let resp = b
        .post(
            &b.secretary,
            &wo,
            json!({"member_id": b.full[8], "choice": "yes"}),
        )
        .await;
    expect_problem(resp, 409, "conflict").await;

    // Votes: five yes and one no in the room.
    for i in 0..5 {
        let r = ok_json(
            b.vote(&b.callers[i], &motion, json!({"choice": "yes"}))
                .await,
            201,
        )
        .await;
        assert_eq!(r["member_id"], b.full[i].as_str());
    }
    ok_json(
        b.vote(&b.callers[5], &motion, json!({"choice": "no"}))
            .await,
        201,
    )
    .await;
    // The same vote again answers the ballot already recorded; a different one is refused.
    let first = b
        .get(&b.callers[0], &format!("/api/v1/motions/{motion}"))
        .await;
    let again = ok_json(
        b.vote(&b.callers[0], &motion, json!({"choice": "yes"}))
            .await,
        200,
    )
    .await;
    assert_eq!(again["id"], first["my_ballot"]["id"]);
    expect_problem(
        b.vote(&b.callers[0], &motion, json!({"choice": "no"}))
            .await,
        409,
        "already_voted",
    )
    .await;
    // No voting right, not present, malformed.
    let resp = b
        .vote(
            &b.probationary_callers[0],
            &motion,
            json!({"choice": "yes"}),
        )
        .await;
    expect_problem(resp, 403, "no_voting_right").await;
    expect_problem(
        b.vote(&b.callers[7], &motion, json!({"choice": "yes"}))
            .await,
        403,
        "not_present",
    )
    .await;
    let resp = b
        .vote(
            &b.callers[6],
            &motion,
            json!({"choices": [{"candidate_id": "x", "mark": "yes"}]}),
        )
        .await;
    expect_problem(resp, 422, "invalid_ballot").await;
    let resp = b
        .vote(
            &b.callers[6],
            &motion,
            json!({"choice": "yes", "choices": []}),
        )
        .await;
    expect_problem(resp, 422, "validation_failed").await;
    // A staff account without a member record cannot vote.
    expect_problem(
        b.vote(&b.secretary, &motion, json!({"choice": "yes"}))
            .await,
        403,
        "no_voting_right",
    )
    .await;

    // A voter who leaves keeps the vote.
    b.leave(&meeting, &b.full[0]).await;
    let shown = b
        .get(&b.callers[3], &format!("/api/v1/motions/{motion}"))
        .await;
    assert_eq!(shown["ballots_cast"], 6);
    assert_eq!(shown["written_opinions"], 2);
    assert!(shown["result"].is_null());

    let closed = b
        .sec(&format!("/api/v1/motions/{motion}/close"), json!(null), 200)
        .await;
    assert_eq!(
        closed["quorum_at_close"]["present_voting"], 5,
        "m0 has left"
    );
    let r = &closed["result"];
    assert_eq!(r["expected"], 10);
    assert_eq!(r["present_voting"], 6, "the voter who left still counts");
    assert_eq!(
        (r["yes"].as_u64(), r["no"].as_u64(), r["abstain"].as_u64()),
        (Some(6), Some(1), Some(0))
    );
    assert_eq!(r["written"]["received"], 2);
    assert_eq!(r["written"]["counted_yes"], 1);
    assert_eq!(r["written"]["ignored"], 1);
    let ignored = r["ignored"].as_array().unwrap();
    assert!(
        ignored.iter().any(|i| i["member_id"] == b.full[5].as_str()
            && i["source"] == "written"
            && i["reason"] == "written_while_present"),
        "{ignored:?}"
    );
    assert_eq!(r["passed"], true, "6 yes of E = 10: 2·6 > 10");

    // Closed: no more votes, no second close.
    expect_problem(
        b.vote(&b.callers[4], &motion, json!({"choice": "no"}))
            .await,
        409,
        "motion_closed",
    )
    .await;
    let resp = b
        .post(
            &b.secretary,
            &format!("/api/v1/motions/{motion}/close"),
            json!(null),
        )
        .await;
    expect_problem(resp, 409, "motion_closed").await;
    let list = b
        .get(
            &b.callers[2],
            &format!("/api/v1/meetings/{meeting}/motions"),
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["result"]["passed"], true);

    // Without the written opinion the same votes would not pass: 5 yes of E = 10.
    let second = b
        .motion(
            &meeting,
            json!({"kind": "ordinary", "title": "同意村务公开方案", "voting_method": "app"}),
        )
        .await;
    let resp = b
        .post(
            &b.secretary,
            &format!("/api/v1/motions/{second}/written-opinions"),
            json!({"member_id": b.full[9], "choice": "yes"}),
        )
        .await;
    expect_problem(resp, 422, "validation_failed").await;
    b.sec(&format!("/api/v1/motions/{second}/open"), json!(null), 200)
        .await;
    for i in 1..6 {
        ok_json(
            b.vote(&b.callers[i], &second, json!({"choice": "yes"}))
                .await,
            201,
        )
        .await;
    }
    let closed = b
        .sec(&format!("/api/v1/motions/{second}/close"), json!(null), 200)
        .await;
    assert_eq!(closed["result"]["yes"], 5);
    assert_eq!(closed["result"]["passed"], false, "2·5 is not more than 10");
}

#[tokio::test]
async fn an_election_ranks_the_winners_and_reports_a_tie_for_the_last_seat() {
    let b = branch(10).await;
    let meeting = b.meeting(true).await;
    let path = format!("/api/v1/meetings/{meeting}/motions");
    let election = json!({"kind": "election", "title": "选举支部委员", "seats": 2,
        "candidates": [{"name": "甲"}, {"name": "乙"}, {"name": "丙"}, {"name": "丁", "member_id": b.full[3]}],
        "voting_method": "secret_ballot"});
    let mut hands = election.clone();
    hands["voting_method"] = json!("show_of_hands");
    expect_problem(
        b.post(&b.secretary, &path, hands).await,
        422,
        "validation_failed",
    )
    .await;
    let mut few = election.clone();
    few["seats"] = json!(5);
    expect_problem(
        b.post(&b.secretary, &path, few).await,
        422,
        "validation_failed",
    )
    .await;

    let motion = b.motion(&meeting, election).await;
    let m = b
        .get(&b.secretary, &format!("/api/v1/motions/{motion}"))
        .await;
    let c: Vec<String> = m["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(c.len(), 4);
    for i in 0..10 {
        b.arrive(&meeting, &b.full[i]).await;
    }
    b.sec(&format!("/api/v1/motions/{motion}/open"), json!(null), 200)
        .await;

    // More marks for people than seats: an invalid ballot, not recorded.
    let too_many = json!({"choices": [
        {"candidate_id": c[0], "mark": "yes"}, {"candidate_id": c[1], "mark": "yes"},
        {"candidate_id": c[2], "mark": "other", "other_name": "戊"}]});
    expect_problem(
        b.vote(&b.callers[0], &motion, too_many).await,
        422,
        "invalid_ballot",
    )
    .await;
    expect_problem(
        b.vote(&b.callers[0], &motion, json!({"choice": "yes"}))
            .await,
        422,
        "invalid_ballot",
    )
    .await;

    // 甲 8 yes, 乙 6, 丙 6, 丁 0: 甲 elected, 乙 and 丙 tied for the second seat.
    for i in 0..10 {
        let mut marks = Vec::new();
        if i < 8 {
            marks.push(json!({"candidate_id": c[0], "mark": "yes"}));
        }
        if !(4..8).contains(&i) {
            marks.push(json!({"candidate_id": c[1], "mark": "yes"}));
        } else {
            marks.push(json!({"candidate_id": c[1], "mark": "no"}));
        }
        if i >= 4 {
            marks.push(json!({"candidate_id": c[2], "mark": "yes"}));
        }
        if i == 0 {
            marks.push(json!({"candidate_id": c[3], "mark": "abstain"}));
        }
        ok_json(
            b.vote(&b.callers[i], &motion, json!({"choices": marks}))
                .await,
            201,
        )
        .await;
    }
    let closed = b
        .sec(&format!("/api/v1/motions/{motion}/close"), json!(null), 200)
        .await;
    let r = &closed["result"];
    assert_eq!(
        (r["expected"].as_u64(), r["present_voting"].as_u64()),
        (Some(10), Some(10))
    );
    assert_eq!(r["quorate"], true);
    assert_eq!(r["valid_ballots"], 10);
    let by = |id: &str| {
        r["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["candidate_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            by(&c[0])["yes"].as_u64(),
            by(&c[1])["yes"].as_u64(),
            by(&c[2])["yes"].as_u64()
        ),
        (Some(8), Some(6), Some(6))
    );
    assert_eq!(by(&c[0])["outcome"], "elected");
    assert_eq!(by(&c[1])["outcome"], "tie");
    assert_eq!(by(&c[2])["outcome"], "tie");
    assert_eq!(by(&c[3])["outcome"], "not_elected");
    assert_eq!(by(&c[1])["rank"], 2);
    assert_eq!(r["elected"], json!([c[0]]));
    assert_eq!(r["tied"].as_array().unwrap().len(), 2);
    assert_eq!(r["passed"], false);

    // A second round among the tied: 乙 7, 丙 3 — 乙 elected.
    let second = b
        .motion(
            &meeting,
            json!({"kind": "election", "title": "选举支部委员（第二轮）", "seats": 1,
                "candidates": [{"name": "乙"}, {"name": "丙"}], "voting_method": "app"}),
        )
        .await;
    let m = b
        .get(&b.secretary, &format!("/api/v1/motions/{second}"))
        .await;
    let c2: Vec<String> = m["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    b.sec(&format!("/api/v1/motions/{second}/open"), json!(null), 200)
        .await;
    for i in 0..10 {
        let pick = if i < 7 { &c2[0] } else { &c2[1] };
        let body = json!({"choices": [{"candidate_id": pick, "mark": "yes"}]});
        ok_json(b.vote(&b.callers[i], &second, body).await, 201).await;
    }
    let closed = b
        .sec(&format!("/api/v1/motions/{second}/close"), json!(null), 200)
        .await;
    assert_eq!(closed["result"]["elected"], json!([c2[0]]));
    assert_eq!(closed["result"]["passed"], true);
}

#[tokio::test]
async fn a_show_of_hands_is_tallied_by_the_secretary_within_those_present() {
    let b = branch(10).await;
    let meeting = b.meeting(true).await;
    let motion = b
        .motion(
            &meeting,
            json!({"kind": "ordinary", "title": "通过村级集体经济发展方案", "voting_method": "show_of_hands"}),
        )
        .await;
    let tally = format!("/api/v1/motions/{motion}/tally");
    let resp = b
        .post(
            &b.secretary,
            &tally,
            json!({"yes": 1, "no": 0, "abstain": 0}),
        )
        .await;
    expect_problem(resp, 409, "motion_not_open").await;
    for i in 0..7 {
        b.arrive(&meeting, &b.full[i]).await;
    }
    b.arrive(&meeting, &b.probationary[1]).await;
    b.sec(&format!("/api/v1/motions/{motion}/open"), json!(null), 200)
        .await;

    // Members do not vote in the app on a show of hands, and do not enter the counts.
    expect_problem(
        b.vote(&b.callers[0], &motion, json!({"choice": "yes"}))
            .await,
        409,
        "conflict",
    )
    .await;
    let resp = b
        .post(
            &b.callers[0],
            &tally,
            json!({"yes": 6, "no": 1, "abstain": 0}),
        )
        .await;
    expect_problem(resp, 403, "forbidden").await;
    // Closing needs the counts first.
    let resp = b
        .post(
            &b.secretary,
            &format!("/api/v1/motions/{motion}/close"),
            json!(null),
        )
        .await;
    expect_problem(resp, 409, "conflict").await;
    // Seven voting members are present (the probationary one does not count).
    let resp = b
        .post(
            &b.secretary,
            &tally,
            json!({"yes": 6, "no": 1, "abstain": 1}),
        )
        .await;
    expect_problem(resp, 422, "validation_failed").await;
    b.sec(&tally, json!({"yes": 5, "no": 1, "abstain": 1}), 200)
        .await;
    // A correction while open replaces the counts.
    b.sec(&tally, json!({"yes": 6, "no": 1, "abstain": 0}), 200)
        .await;
    let closed = b
        .sec(&format!("/api/v1/motions/{motion}/close"), json!(null), 200)
        .await;
    let r = &closed["result"];
    assert_eq!(r["source"], "tally");
    assert_eq!(
        (r["yes"].as_u64(), r["no"].as_u64(), r["abstain"].as_u64()),
        (Some(6), Some(1), Some(0))
    );
    assert_eq!(
        (r["expected"].as_u64(), r["present_voting"].as_u64()),
        (Some(10), Some(7))
    );
    assert_eq!(r["passed"], true);
    let resp = b
        .post(
            &b.secretary,
            &tally,
            json!({"yes": 1, "no": 0, "abstain": 0}),
        )
        .await;
    expect_problem(resp, 409, "motion_closed").await;

    // Five hands of E = 10 do not carry a motion.
    let second = b
        .motion(
            &meeting,
            json!({"kind": "ordinary", "title": "调整议程", "voting_method": "show_of_hands"}),
        )
        .await;
    b.sec(&format!("/api/v1/motions/{second}/open"), json!(null), 200)
        .await;
    b.sec(
        &format!("/api/v1/motions/{second}/tally"),
        json!({"yes": 5, "no": 2, "abstain": 0}),
        200,
    )
    .await;
    let closed = b
        .sec(&format!("/api/v1/motions/{second}/close"), json!(null), 200)
        .await;
    assert_eq!(closed["result"]["passed"], false);

    // Outside the branch the motion does not exist.
    let stranger = b.app.caller(&[], None).await;
    let resp = call(
        &b.app,
        &stranger,
        Method::GET,
        &format!("/api/v1/motions/{motion}"),
        None,
    )
    .await;
    expect_problem(resp, 404, "not_found").await;
}

#[tokio::test]
async fn racing_first_votes_record_one_ballot() {
    let b = branch(6).await;
    let meeting = b.meeting(true).await;
    let motion = b
        .motion(
            &meeting,
            json!({"kind": "ordinary", "title": "并发投票", "voting_method": "app"}),
        )
        .await;
    for m in &b.full {
        b.arrive(&meeting, m).await;
    }
    b.sec(&format!("/api/v1/motions/{motion}/open"), json!(null), 200)
        .await;
    // The same member sends the same vote eight times at once, and a different one.
    let mut tasks = Vec::new();
    for i in 0..9 {
        let (client, url, bearer) = (
            b.app.client.clone(),
            b.app.url(&format!("/api/v1/motions/{motion}/ballots")),
            b.callers[0].bearer(),
        );
        let choice = if i == 8 { "no" } else { "yes" };
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .header("authorization", bearer)
                .json(&json!({"choice": choice}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (choice, status, body)
        }));
    }
    let mut created = 0;
    let mut ballot_ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (choice, status, body) = t.await.unwrap();
        assert!(status < 500, "{status} {body}");
        match status {
            201 => created += 1,
            200 => {}
            409 => {
                assert_eq!(body["code"], "already_voted");
                continue;
            }
            other => panic!("unexpected {other} {body}"),
        }
        ballot_ids.insert(body["id"].as_str().unwrap().to_string());
        assert_eq!(body["choice"], choice);
    }
    assert_eq!(created, 1, "one ballot recorded");
    assert_eq!(ballot_ids.len(), 1);
    let m = b
        .get(&b.secretary, &format!("/api/v1/motions/{motion}"))
        .await;
    assert_eq!(m["ballots_cast"], 1);
}
