//! 流动党员 over HTTP: a member of a village branch away in Liuzhou takes part in the host
//! branch's congress as `temporary` (not in E, no vote) and keeps his vote at home; the
//! host records another member by his ID number; the 失联 flag after six months without
//! contact, reviewed by the secretary and cleared by a recorded contact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::prelude::*;
use hongying_proto::orgs::{OrgDomain, OrgKind};
use hongying_server::auth::Role;
use hongying_server::db::schema::{meeting_roster, members};
use hongying_tests::api::{get, post};
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::Method;
use hongying_tests::{TestApp, Value, call, expect_problem, json};

/// Today in China, as the service sees it, moved by `days`.
fn day(app: &TestApp, days: i64) -> String {
    let now = app.state.clock.now() + chrono::Duration::hours(8) + chrono::Duration::days(days);
    now.date().to_string()
}

/// The tree with a branch in Liuzhou (outside the county, a branch of the city's tree
/// standing for a host organization elsewhere) with two members of its own.
struct World {
    app: TestApp,
    tree: CityTree,
    liuzhou: String,
    liuzhou_members: Vec<String>,
    home_secretary: Caller,
    host_secretary: Caller,
    migrant: Caller,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let tree = app.seed_city_tree().await;
    let liuzhou = app
        .create_org(
            Some(&tree.city),
            OrgKind::Branch,
            OrgDomain::Community,
            "柳州市柳北区雅儒社区党支部",
        )
        .await;
    let mut liuzhou_members = Vec::new();
    for name in ["覃雅", "蓝儒"] {
        liuzhou_members.push(app.seed_member_row(&liuzhou, None, name).await);
    }
    let home_secretary = app
        .caller(
            &[(Role::BranchSecretary, Some(&tree.branch_a1a))],
            Some(&tree.member_group_a1a),
        )
        .await;
    let host_secretary = app
        .caller(
            &[(Role::BranchSecretary, Some(&liuzhou))],
            Some(&liuzhou_members[0]),
        )
        .await;
    let migrant = app
        .caller(
            &[(Role::Member, Some(&tree.branch_a1a))],
            Some(&tree.member_a1a),
        )
        .await;
    World {
        app,
        tree,
        liuzhou,
        liuzhou_members,
        home_secretary,
        host_secretary,
        migrant,
    }
}

/// A congress of `org` scheduled for tomorrow and started now; returns its id.
async fn started_congress(app: &TestApp, who: &Caller, org: &str, title: &str) -> String {
    let start = app.state.clock.now().and_utc() + chrono::Duration::days(1);
    let m = post(
        app,
        who,
        &format!("/api/v1/orgs/{org}/meetings"),
        json!({"kind": "congress", "title": title, "mode": "hybrid",
            "scheduled_start": start.to_rfc3339(),
            "scheduled_end": (start + chrono::Duration::hours(2)).to_rfc3339()}),
        201,
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    post(
        app,
        who,
        &format!("/api/v1/meetings/{id}/schedule"),
        json!(null),
        200,
    )
    .await;
    id
}

async fn start(app: &TestApp, who: &Caller, meeting: &str) {
    post(
        app,
        who,
        &format!("/api/v1/meetings/{meeting}/start"),
        json!(null),
        200,
    )
    .await;
}

async fn roster_status(app: &TestApp, meeting: &str, member: &str) -> Option<String> {
    let state = app.state.clone();
    let (meeting, member) = (meeting.to_string(), member.to_string());
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        meeting_roster::table
            .filter(meeting_roster::meeting_id.eq(&meeting))
            .filter(meeting_roster::member_id.eq(&member))
            .select(meeting_roster::quorum_status)
            .first::<String>(&mut c)
            .optional()
            .unwrap()
    })
    .await
    .unwrap()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| p["member_id"].as_str().unwrap().to_string())
        .collect()
}

/// Opens an ordinary motion at the (started) meeting and has `who` vote yes.
async fn vote(
    app: &TestApp,
    secretary: &Caller,
    meeting: &str,
    who: &Caller,
) -> hongying_tests::reqwest::Response {
    let motion = post(
        app,
        secretary,
        &format!("/api/v1/meetings/{meeting}/motions"),
        json!({"kind": "ordinary", "title": "关于村集体经济项目的决议", "voting_method": "app"}),
        201,
    )
    .await;
    let motion = motion["id"].as_str().unwrap().to_string();
    post(
        app,
        secretary,
        &format!("/api/v1/motions/{motion}/open"),
        json!(null),
        200,
    )
    .await;
    call(
        app,
        who,
        Method::POST,
        &format!("/api/v1/motions/{motion}/ballots"),
        Some(json!({"choice": "yes"})),
    )
    .await
}

#[tokio::test]
async fn a_member_away_in_liuzhou_is_temporary_at_the_host_and_votes_at_home() {
    let w = world().await;
    let app = &w.app;
    let me = w.tree.member_a1a.clone();

    // The village branch registers him as away in Liuzhou, at the host branch there.
    let d = post(
        app,
        &w.home_secretary,
        &format!("/api/v1/members/{me}/outflow"),
        json!({"destination": "广西柳州市柳北区", "host_org_id": w.liuzhou,
            "work_unit": "柳州某汽车零部件厂", "contact": "13877001234",
            "since": day(app, -40), "card_number": "LD2026-0007"}),
        201,
    )
    .await;
    let r = &d["record"];
    let id = r["id"].as_str().unwrap().to_string();
    assert_eq!(r["direction"], "outflow");
    assert_eq!(r["host_status"], "pending");
    assert_eq!(r["contact_masked"], "138****1234");
    assert_eq!(r["card_number"], "LD2026-0007");
    assert_eq!(r["home_org_name"], "东村党支部");
    assert!(!d.to_string().contains("13877001234"));
    // He and the host secretary were told.
    assert_eq!(app.count_notices(&me, "migrant").await, 1);
    assert_eq!(app.count_notices(&w.liuzhou_members[0], "migrant").await, 1);
    // Registered twice: refused.
    let resp = call(
        app,
        &w.home_secretary,
        Method::POST,
        &format!("/api/v1/members/{me}/outflow"),
        Some(json!({"destination": "广西柳州市", "since": day(app, -1)})),
    )
    .await;
    expect_problem(resp, 409, "already_exists").await;

    // Until the host accepts him he is on none of its rosters.
    let host_meeting =
        started_congress(app, &w.host_secretary, &w.liuzhou, "雅儒社区党员大会").await;
    let q = get(
        app,
        &w.host_secretary,
        &format!("/api/v1/meetings/{host_meeting}/quorum"),
    )
    .await;
    assert_eq!(q["expected"], 2, "{q}");
    // Only the host accepts; the home secretary may not.
    expect_problem(
        call(
            app,
            &w.home_secretary,
            Method::POST,
            &format!("/api/v1/migrants/{id}/accept"),
            None,
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let d = post(
        app,
        &w.host_secretary,
        &format!("/api/v1/migrants/{id}/accept"),
        json!(null),
        200,
    )
    .await;
    assert_eq!(d["record"]["host_status"], "accepted");
    assert_eq!(app.count_notices(&me, "migrant").await, 2);

    // At the host: on the roster as `temporary`, not in E, and not missing from it.
    let q = get(
        app,
        &w.host_secretary,
        &format!("/api/v1/meetings/{host_meeting}/quorum"),
    )
    .await;
    assert_eq!(q["expected"], 2, "{q}");
    assert!(!names(&q["missing"]).contains(&me), "{q}");
    // He may read the host's meeting (he takes part in it).
    get(app, &w.migrant, &format!("/api/v1/meetings/{host_meeting}")).await;
    start(app, &w.host_secretary, &host_meeting).await;
    assert_eq!(
        roster_status(app, &host_meeting, &me).await.as_deref(),
        Some("temporary")
    );
    assert_eq!(
        roster_status(app, &host_meeting, &w.liuzhou_members[1])
            .await
            .as_deref(),
        Some("full")
    );
    // He attends in person at the host: present, but not counted.
    post(
        app,
        &w.host_secretary,
        &format!("/api/v1/meetings/{host_meeting}/attendance"),
        json!({"member_id": me, "mode": "in_person", "action": "arrive"}),
        200,
    )
    .await;
    let q = get(
        app,
        &w.host_secretary,
        &format!("/api/v1/meetings/{host_meeting}/quorum"),
    )
    .await;
    assert_eq!(q["expected"], 2, "{q}");
    assert_eq!(q["present_voting"], 0, "{q}");
    assert!(names(&q["present_not_counted"]).contains(&me), "{q}");
    // He cannot vote there.
    let resp = vote(app, &w.host_secretary, &host_meeting, &w.migrant).await;
    expect_problem(resp, 403, "no_voting_right").await;

    // At home he is a voting member of E and votes, attending by video.
    let home_meeting =
        started_congress(app, &w.home_secretary, &w.tree.branch_a1a, "东村党员大会").await;
    let q = get(
        app,
        &w.home_secretary,
        &format!("/api/v1/meetings/{home_meeting}/quorum"),
    )
    .await;
    assert_eq!(q["expected"], 2, "{q}");
    assert!(names(&q["missing"]).contains(&me), "{q}");
    start(app, &w.home_secretary, &home_meeting).await;
    assert_eq!(
        roster_status(app, &home_meeting, &me).await.as_deref(),
        Some("full")
    );
    post(
        app,
        &w.home_secretary,
        &format!("/api/v1/meetings/{home_meeting}/attendance"),
        json!({"member_id": me, "mode": "remote", "action": "arrive"}),
        200,
    )
    .await;
    let q = get(
        app,
        &w.home_secretary,
        &format!("/api/v1/meetings/{home_meeting}/quorum"),
    )
    .await;
    assert_eq!(
        (q["present_voting"].as_u64(), q["present_remote"].as_u64()),
        (Some(1), Some(1)),
        "{q}"
    );
    let resp = vote(app, &w.home_secretary, &home_meeting, &w.migrant).await;
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().await.unwrap()
    );

    // The registry: the home secretary sees him with his last contact, attendance and
    // app activity; the host sees him among its hosted members.
    let list = get(
        app,
        &w.home_secretary,
        &format!("/api/v1/orgs/{}/migrants", w.tree.branch_a1a),
    )
    .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let r = &items[0];
    assert_eq!(r["member_id"], me.as_str());
    assert_eq!(r["member_name"], "张东");
    assert_eq!(r["host_org_name"], "柳州市柳北区雅儒社区党支部");
    assert!(r["last_contact_at"].is_string(), "{r}");
    assert!(r["last_attendance_at"].is_string(), "{r}");
    assert!(r["last_app_activity_at"].is_string(), "{r}");
    assert_eq!(r["lost_contact"], false);
    assert_eq!(r["transfer_suggested"], false);
    assert_eq!(r["months_away"], 1);
    let hosted = get(
        app,
        &w.host_secretary,
        &format!("/api/v1/orgs/{}/migrants?side=host", w.liuzhou),
    )
    .await;
    assert_eq!(hosted["items"][0]["id"], id.as_str(), "{hosted}");
    // Another branch's secretary sees nothing of it.
    let stranger = app
        .caller(&[(Role::BranchSecretary, Some(&w.tree.branch_b1a))], None)
        .await;
    expect_problem(
        call(
            app,
            &stranger,
            Method::GET,
            &format!("/api/v1/migrants/{id}"),
            None,
        )
        .await,
        404,
        "not_found",
    )
    .await;
    // He reports himself; he may not record other kinds of contact.
    let resp = call(
        app,
        &w.migrant,
        Method::POST,
        &format!("/api/v1/migrants/{id}/contacts"),
        Some(json!({"channel": "phone"})),
    )
    .await;
    expect_problem(resp, 403, "forbidden").await;
    post(
        app,
        &w.migrant,
        &format!("/api/v1/migrants/{id}/contacts"),
        json!({"channel": "self_report", "note": "在柳州一切正常"}),
        201,
    )
    .await;

    // Back home: the time away ends and he leaves the host's rosters.
    post(
        app,
        &w.home_secretary,
        &format!("/api/v1/migrants/{id}/end"),
        json!({"reason": "返乡"}),
        200,
    )
    .await;
    let next = started_congress(app, &w.host_secretary, &w.liuzhou, "雅儒社区第二次党员大会").await;
    start(app, &w.host_secretary, &next).await;
    assert_eq!(roster_status(app, &next, &me).await, None);
}

#[tokio::test]
async fn the_host_records_an_inflow_by_id_number_and_the_home_branch_is_told() {
    let w = world().await;
    let app = &w.app;
    let member = w.tree.member_b1a.clone();
    let state = app.state.clone();
    let m = member.clone();
    let id_number = tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        let enc: String = members::table
            .find(&m)
            .select(members::id_number_enc)
            .first(&mut c)
            .unwrap();
        state
            .pii
            .decrypt(hongying_server::crypto::pii::Field::IdNumber, &m, &enc)
            .unwrap()
    })
    .await
    .unwrap();
    let home_secretary = app
        .caller(
            &[(Role::BranchSecretary, Some(&w.tree.branch_b1a))],
            Some(&w.tree.member_b1a),
        )
        .await;
    // An unknown ID number is refused.
    let resp = call(
        app,
        &w.host_secretary,
        Method::POST,
        &format!("/api/v1/orgs/{}/migrants/inflow", w.liuzhou),
        Some(json!({"id_number": "11010519491231002X", "since": day(app, -3)})),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 422);
    let d = post(
        app,
        &w.host_secretary,
        &format!("/api/v1/orgs/{}/migrants/inflow", w.liuzhou),
        json!({"id_number": id_number, "since": day(app, -3), "work_unit": "柳州螺蛳粉厂"}),
        201,
    )
    .await;
    let r = &d["record"];
    assert_eq!(r["direction"], "inflow");
    assert_eq!(r["host_status"], "accepted");
    assert_eq!(r["destination"], "柳州市柳北区雅儒社区党支部");
    assert_eq!(r["home_org_id"], w.tree.branch_b1a.as_str());
    // The home branch (its secretary's member record) and the member were told.
    assert_eq!(app.count_notices(&w.tree.member_b1a, "migrant").await, 1);
    let home = get(
        app,
        &home_secretary,
        &format!("/api/v1/orgs/{}/migrants", w.tree.branch_b1a),
    )
    .await;
    assert_eq!(home["items"][0]["id"], r["id"], "{home}");
    // At once on the host's congress body as temporary.
    let meeting = started_congress(app, &w.host_secretary, &w.liuzhou, "雅儒社区党员大会").await;
    start(app, &w.host_secretary, &meeting).await;
    assert_eq!(
        roster_status(app, &meeting, &member).await.as_deref(),
        Some("temporary")
    );
}

#[tokio::test]
async fn six_months_without_contact_raise_a_flag_for_review_that_a_contact_clears() {
    let w = world().await;
    let app = &w.app;
    let me = w.tree.member_a1a.clone();
    let d = post(
        app,
        &w.home_secretary,
        &format!("/api/v1/members/{me}/outflow"),
        json!({"destination": "广西柳州市", "since": day(app, -10)}),
        201,
    )
    .await;
    let id = d["record"]["id"].as_str().unwrap().to_string();
    assert_eq!(d["record"]["host_status"], "none");
    assert_eq!(d["record"]["lost_contact"], false);
    // Nothing to review yet.
    expect_problem(
        call(
            app,
            &w.home_secretary,
            Method::POST,
            &format!("/api/v1/migrants/{id}/review"),
            Some(json!({})),
        )
        .await,
        409,
        "conflict",
    )
    .await;

    // Six months and a few days later, with no contact recorded.
    app.state.clock.advance(chrono::Duration::days(186));
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(&w.tree.branch_a1a))], None)
        .await;
    let list = get(
        app,
        &secretary,
        &format!("/api/v1/orgs/{}/migrants", w.tree.branch_a1a),
    )
    .await;
    let r = &list["items"][0];
    assert_eq!(r["lost_contact"], true, "{r}");
    assert_eq!(r["lost_contact_reviewed"], false);
    assert_eq!(r["transfer_suggested"], true, "{r}");
    // A flag only: his membership and standing are untouched.
    let state = app.state.clone();
    let m = me.clone();
    let (status, lost) = tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        members::table
            .find(&m)
            .select((members::status, members::lost_contact))
            .first::<(String, bool)>(&mut c)
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!((status.as_str(), lost), ("full", false));

    // The secretary reviews it; it stays raised but reviewed.
    let d = post(
        app,
        &secretary,
        &format!("/api/v1/migrants/{id}/review"),
        json!({"comment": "已托其家属转告，尽快联系"}),
        200,
    )
    .await;
    assert_eq!(d["record"]["lost_contact"], true);
    assert_eq!(d["record"]["lost_contact_reviewed"], true);

    // A recorded contact clears it.
    let c = post(
        app,
        &secretary,
        &format!("/api/v1/migrants/{id}/contacts"),
        json!({"channel": "phone", "note": "电话联系上，在柳州务工"}),
        201,
    )
    .await;
    assert_eq!(c["channel"], "phone");
    let d = get(app, &secretary, &format!("/api/v1/migrants/{id}")).await;
    assert_eq!(d["record"]["lost_contact"], false, "{d}");
    assert_eq!(d["record"]["lost_contact_reviewed"], false);
    assert_eq!(d["contacts"].as_array().unwrap().len(), 1);
    assert!(d["record"]["last_contact_at"].is_string());
}
