//! Access ends with the right to it. Each change that ends or moves a person's membership,
//! or ends a grant, is tried against every credential he held before it: his access
//! token, his refresh token, a new login, his open `/ws` socket (joined to a meeting
//! in progress, as its host through his secretary grant) and a join token issued before
//! the change. A member of the same branch whom the change does not concern keeps
//! everything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use diesel::prelude::*;
use hongying_server::auth::Role;
use hongying_server::db::schema::{accounts, audit_log, organizations, role_grants};
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::{Method, Response};
use hongying_tests::ws::{Incoming, WsClient, assert_error};
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

const PASSWORD: &str = "红鹰-password-1";
const DEVICE: &str = "subject-phone";

/// The person the change is about, with every credential he had before it.
struct Subject {
    member_id: String,
    account_id: String,
    phone: String,
    /// His branch_secretary grant at the branch.
    grant_id: String,
    /// The access token of a real login.
    access: Caller,
    refresh: String,
    /// His socket, joined to the meeting as its host.
    socket: WsClient,
    /// A join token issued before the change, never used.
    spare_join_token: String,
}

/// A member of the same branch whom the change does not concern.
struct Bystander {
    caller: Caller,
    socket: WsClient,
}

struct World {
    app: TestApp,
    tree: CityTree,
    branch: String,
    meeting: String,
    secretary: Caller,
    super_admin: Caller,
    subject: Subject,
    bystander: Bystander,
}

async fn join_token(app: &TestApp, who: &Caller, meeting: &str) -> Response {
    call(
        app,
        who,
        Method::POST,
        &format!("/api/v1/meetings/{meeting}/join-token"),
        None,
    )
    .await
}

async fn token_of(resp: Response) -> String {
    ok_json(resp, 200).await["token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn login(app: &TestApp, phone: &str) -> Response {
    app.post_json(
        "/api/v1/auth/login",
        &json!({"phone": phone, "password": PASSWORD, "device_id": DEVICE}),
    )
    .await
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Response {
    app.post_json(
        "/api/v1/auth/refresh",
        &json!({"refresh_token": refresh_token, "device_id": DEVICE}),
    )
    .await
}

async fn pair(resp: Response, account_id: &str) -> (Caller, String) {
    let body = ok_json(resp, 200).await;
    (
        Caller {
            account_id: account_id.to_string(),
            token: body["access_token"].as_str().unwrap().to_string(),
        },
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// `(target_id, after_json)` of the audit rows with `action`.
async fn audit_rows(app: &TestApp, action: &str) -> Vec<(String, Value)> {
    let state = app.state.clone();
    let action = action.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        audit_log::table
            .filter(audit_log::action.eq(&action))
            .select((audit_log::target_id, audit_log::after_json))
            .load::<(String, Option<String>)>(&mut c)
            .unwrap()
            .into_iter()
            .map(|(t, a)| (t, serde_json::from_str(&a.unwrap_or_default()).unwrap()))
            .collect()
    })
    .await
    .unwrap()
}

/// Live grants of an account: (role, org id).
async fn live_grants(app: &TestApp, account_id: &str) -> Vec<(String, Option<String>)> {
    let state = app.state.clone();
    let id = account_id.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        role_grants::table
            .filter(role_grants::account_id.eq(&id))
            .filter(role_grants::revoked_at.is_null())
            .select((role_grants::role, role_grants::org_id))
            .load(&mut c)
            .unwrap()
    })
    .await
    .unwrap()
}

fn congress() -> Value {
    json!({
        "kind": "congress",
        "title": "甲一村党支部第四季度党员大会",
        "agenda": [{"title": "讨论村务"}],
        "scheduled_start": "2026-12-01T02:00:00Z",
        "scheduled_end": "2026-12-01T04:00:00Z",
        "place": "村委会议室",
        "mode": "hybrid"
    })
}

/// Branch A1a of the city tree with a congress in progress. The subject is its member
/// `member_a1a`, holds branch_secretary there, logged in with a password, and sits in
/// the meeting's room; a bystander of the same branch sits there too.
async fn world() -> World {
    world_with(None).await
}

/// [`world`], the subject's secretary grant ending at `grant_expires_at` when given, and
/// expired grants swept every second.
async fn world_with(grant_expires_at: Option<&str>) -> World {
    let app = TestApp::spawn_with(|c| c.auth.grant_sweep_interval_secs = 1).await;
    let tree = app.seed_city_tree().await;
    let branch = tree.branch_a1a.clone();
    let super_admin = app.super_admin().await;
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(branch.as_str()))], None)
        .await;

    let fixture = app
        .caller(
            &[(Role::Member, Some(branch.as_str()))],
            Some(&tree.member_a1a),
        )
        .await;
    let phone = "13700137000".to_string();
    app.set_password(&fixture.account_id, &phone, PASSWORD)
        .await;
    let g = ok_json(
        call(
            &app,
            &super_admin,
            Method::POST,
            "/api/v1/grants",
            Some(json!({
                "account_id": fixture.account_id, "role": "branch_secretary", "org_id": branch,
                "expires_at": grant_expires_at,
            })),
        )
        .await,
        201,
    )
    .await;
    let (access, refresh_token) = pair(login(&app, &phone).await, &fixture.account_id).await;

    let bystander_member = app.seed_member_row(&branch, None, "旁观党员").await;
    let bystander = app
        .caller(
            &[(Role::Member, Some(branch.as_str()))],
            Some(&bystander_member),
        )
        .await;

    // The subject's secretary grant works before the change: he lists the members and
    // creates the meeting himself.
    ok_json(
        call(
            &app,
            &access,
            Method::GET,
            &format!("/api/v1/orgs/{branch}/members"),
            None,
        )
        .await,
        200,
    )
    .await;
    let m = ok_json(
        call(
            &app,
            &access,
            Method::POST,
            &format!("/api/v1/orgs/{branch}/meetings"),
            Some(congress()),
        )
        .await,
        201,
    )
    .await;
    let meeting = m["id"].as_str().unwrap().to_string();
    for step in ["schedule", "start"] {
        ok_json(
            call(
                &app,
                &secretary,
                Method::POST,
                &format!("/api/v1/meetings/{meeting}/{step}"),
                None,
            )
            .await,
            200,
        )
        .await;
    }

    let mut socket = app.ws(&access).await;
    let joined = socket
        .join(&token_of(join_token(&app, &access, &meeting).await).await)
        .await;
    assert_eq!(role_in_room(&joined), "host", "{joined}");
    let spare_join_token = token_of(join_token(&app, &access, &meeting).await).await;
    let mut bystander_socket = app.ws(&bystander).await;
    bystander_socket
        .join(&token_of(join_token(&app, &bystander, &meeting).await).await)
        .await;

    World {
        subject: Subject {
            member_id: tree.member_a1a.clone(),
            account_id: fixture.account_id.clone(),
            phone,
            grant_id: g["id"].as_str().unwrap().to_string(),
            access,
            refresh: refresh_token,
            socket,
            spare_join_token,
        },
        bystander: Bystander {
            caller: bystander,
            socket: bystander_socket,
        },
        app,
        tree,
        branch,
        meeting,
        secretary,
        super_admin,
    }
}

/// The role the room gave the joiner, from the `joined` data.
fn role_in_room(joined: &Value) -> String {
    joined["room"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["participant_id"] == joined["participant_id"])
        .unwrap()["role"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The socket is closed by the server as unauthenticated, with `reason`, after an error
/// frame that names it in Chinese.
async fn assert_closed_for(socket: &mut WsClient, reason: &str) {
    let (code, got, frames) = socket.closed().await;
    assert_eq!((code, got.as_str()), (4001, reason), "{frames:?}");
    let error = frames
        .iter()
        .find(|f| f["type"] == "error")
        .unwrap_or_else(|| panic!("no error frame before the close: {frames:?}"));
    assert_error(error, reason);
}

/// A join token issued before the change, presented on a socket that is allowed to
/// open, is refused with `reason`.
async fn assert_spare_join_token_refused(w: &World, access: &Caller, reason: &str) {
    let mut ws = w.app.ws(access).await;
    let f = ws
        .ask(
            "join",
            Some(json!({"join_token": w.subject.spare_join_token})),
        )
        .await;
    assert_error(&f, reason);
}

/// The bystander keeps everything: his token, his socket in the room, new join tokens.
async fn assert_bystander_unaffected(w: &mut World) {
    let me = ok_json(
        call(&w.app, &w.bystander.caller, Method::GET, "/api/v1/me", None).await,
        200,
    )
    .await;
    assert_eq!(me["member"]["org_id"], w.branch.as_str(), "{me}");
    token_of(join_token(&w.app, &w.bystander.caller, &w.meeting).await).await;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Some(left) = deadline.checked_duration_since(tokio::time::Instant::now()) {
        match w.bystander.socket.incoming_for(left).await {
            Some(Incoming::Closed(code, reason)) => {
                panic!("the bystander's socket closed: {code} {reason}")
            }
            Some(Incoming::Frame(_)) => {}
            None => break,
        }
    }
    let pong = w.bystander.socket.ask("ping", Some(json!({"ts": 1}))).await;
    assert_eq!(pong["type"], "pong", "{pong}");
}

/// Membership ended or stopped: every credential is dead, sign-in says why, and the
/// revocation is in the audit log with the reason.
async fn assert_locked_out(w: &mut World, reason: &str) {
    let app = &w.app;
    let s = &mut w.subject;
    assert_closed_for(&mut s.socket, reason).await;
    expect_problem(
        call(app, &s.access, Method::GET, "/api/v1/me", None).await,
        401,
        "unauthenticated",
    )
    .await;
    expect_problem(
        call(
            app,
            &s.access,
            Method::GET,
            &format!("/api/v1/orgs/{}/members", w.branch),
            None,
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
    expect_problem(
        join_token(app, &s.access, &w.meeting).await,
        401,
        "unauthenticated",
    )
    .await;
    expect_problem(refresh(app, &s.refresh).await, 401, "invalid_refresh_token").await;
    expect_problem(login(app, &s.phone).await, 403, reason).await;
    // No socket opens on his old access token, so no join token, old or new, is usable.
    let mut ws = app.ws(&s.access).await;
    let (code, got, _) = ws.closed().await;
    assert_eq!((code, got.as_str()), (4001, "unauthenticated"));

    let revoked = audit_rows(app, "session.revoked").await;
    let row = revoked
        .iter()
        .find(|(t, _)| *t == s.account_id)
        .unwrap_or_else(|| panic!("no session.revoked row: {revoked:?}"));
    assert_eq!(row.1["reason"], reason, "{row:?}");
    assert!(row.1["tokens_revoked"].as_i64().unwrap() >= 1, "{row:?}");
}

async fn remove(w: &World, reason: &str) {
    ok_json(
        call(
            &w.app,
            &w.secretary,
            Method::POST,
            &format!("/api/v1/members/{}/status", w.subject.member_id),
            Some(json!({"to": "removed", "effective_on": "2026-11-28", "reason": reason})),
        )
        .await,
        200,
    )
    .await;
}

#[tokio::test]
async fn a_removed_member_loses_every_credential_and_every_grant() {
    let mut w = world().await;
    remove(&w, "除名").await;
    assert_locked_out(&mut w, "membership_ended").await;
    // His grants ended with his membership, each audited with the reason.
    assert!(live_grants(&w.app, &w.subject.account_id).await.is_empty());
    let ended: Vec<_> = audit_rows(&w.app, "grant.revoke")
        .await
        .into_iter()
        .filter(|(_, a)| a["reason"] == "membership_ended")
        .collect();
    assert_eq!(ended.len(), 2, "member and branch_secretary: {ended:?}");
    assert_bystander_unaffected(&mut w).await;
}

#[tokio::test]
async fn a_deceased_member_is_removed_and_locked_out_alike() {
    let mut w = world().await;
    remove(&w, "去世").await;
    assert_locked_out(&mut w, "membership_ended").await;
    assert_bystander_unaffected(&mut w).await;
}

#[tokio::test]
async fn a_stopped_membership_locks_out_until_it_is_restored() {
    let mut w = world().await;
    ok_json(
        call(
            &w.app,
            &w.secretary,
            Method::POST,
            &format!("/api/v1/members/{}/flags", w.subject.member_id),
            Some(json!({
                "membership_stopped": true, "effective_on": "2026-11-28",
                "reason": "连续六个月不参加组织生活",
            })),
        )
        .await,
        200,
    )
    .await;
    assert_locked_out(&mut w, "membership_stopped").await;
    assert_bystander_unaffected(&mut w).await;

    // Restored (恢复党籍): he signs in again, and his grants, kept on record, work again.
    ok_json(
        call(
            &w.app,
            &w.secretary,
            Method::POST,
            &format!("/api/v1/members/{}/flags", w.subject.member_id),
            Some(json!({"membership_stopped": false, "effective_on": "2026-11-28"})),
        )
        .await,
        200,
    )
    .await;
    let (access, _) = pair(login(&w.app, &w.subject.phone).await, &w.subject.account_id).await;
    ok_json(
        call(
            &w.app,
            &access,
            Method::GET,
            &format!("/api/v1/orgs/{}/members", w.branch),
            None,
        )
        .await,
        200,
    )
    .await;
}

/// The old branch's powers are gone for `who`: no meeting created there, no member's
/// full record read there.
async fn assert_no_power_at_old_branch(w: &World, who: &Caller) {
    let r = call(
        &w.app,
        who,
        Method::POST,
        &format!("/api/v1/orgs/{}/meetings", w.branch),
        Some(congress()),
    )
    .await;
    assert!(
        matches!(r.status().as_u16(), 403 | 404),
        "created a meeting: {}",
        r.status()
    );
    let r = call(
        &w.app,
        who,
        Method::GET,
        &format!("/api/v1/members/{}", w.bystander_member_id().await),
        None,
    )
    .await;
    assert!(
        matches!(r.status().as_u16(), 403 | 404),
        "read a member: {}",
        r.status()
    );
    let r = join_token(&w.app, who, &w.meeting).await;
    assert!(
        matches!(r.status().as_u16(), 403 | 404),
        "a join token for the old branch's meeting: {}",
        r.status()
    );
}

impl World {
    async fn bystander_member_id(&self) -> String {
        let state = self.app.state.clone();
        let id = self.bystander.caller.account_id.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = state.db.get().unwrap();
            accounts::table
                .find(&id)
                .select(accounts::member_id)
                .first::<Option<String>>(&mut c)
                .unwrap()
                .unwrap()
        })
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn a_transferred_member_keeps_his_membership_and_leaves_the_old_branch_behind() {
    let mut w = world().await;
    let app = &w.app;
    let towns = vec![w.tree.town_a1.clone(), w.tree.town_a2.clone()];
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        diesel::update(organizations::table.filter(organizations::id.eq_any(&towns)))
            .set(organizations::can_approve_members.eq(true))
            .execute(&mut c)
            .unwrap();
    })
    .await
    .unwrap();
    let town_a1 = app
        .caller(&[(Role::OrgAdmin, Some(w.tree.town_a1.as_str()))], None)
        .await;
    let town_a2 = app
        .caller(&[(Role::OrgAdmin, Some(w.tree.town_a2.as_str()))], None)
        .await;
    let t = ok_json(
        call(
            app,
            &w.subject.access,
            Method::POST,
            "/api/v1/transfers",
            Some(json!({
                "member_id": w.subject.member_id, "kind": "within_county",
                "to_org_id": w.tree.branch_a2a, "reason": "工作调动到甲二镇",
            })),
        )
        .await,
        201,
    )
    .await;
    let id = t["id"].as_str().unwrap();
    for (who, action) in [
        (&w.secretary, "approve_branch"),
        (&town_a1, "approve_committee"),
        (&town_a2, "accept"),
    ] {
        ok_json(
            call(
                app,
                who,
                Method::POST,
                &format!("/api/v1/transfers/{id}/steps"),
                Some(json!({"action": action, "comment": "同意"})),
            )
            .await,
            200,
        )
        .await;
    }

    // The socket sat in the old branch's meeting as its host: closed.
    assert_closed_for(&mut w.subject.socket, "membership_moved").await;
    // Still a party member: his access token works, and says where he belongs now.
    let me = ok_json(
        call(app, &w.subject.access, Method::GET, "/api/v1/me", None).await,
        200,
    )
    .await;
    assert_eq!(me["member"]["org_id"], w.tree.branch_a2a.as_str(), "{me}");
    // What he held at the old branch ended; his member role moved with him.
    assert_eq!(
        live_grants(app, &w.subject.account_id).await,
        vec![("member".to_string(), Some(w.tree.branch_a2a.clone()))]
    );
    assert_no_power_at_old_branch(&w, &w.subject.access).await;
    // The join token from before carried his host grant: refused.
    assert_spare_join_token_refused(&w, &w.subject.access, "membership_moved").await;
    // Refresh and a new login work, and bring nothing of the old branch back.
    let (refreshed, _) = pair(
        refresh(app, &w.subject.refresh).await,
        &w.subject.account_id,
    )
    .await;
    assert_no_power_at_old_branch(&w, &refreshed).await;
    let (fresh, _) = pair(login(app, &w.subject.phone).await, &w.subject.account_id).await;
    assert_no_power_at_old_branch(&w, &fresh).await;
    let grants = audit_rows(app, "grant.revoke").await;
    assert_eq!(
        grants
            .iter()
            .filter(|(_, a)| a["reason"] == "membership_moved")
            .count(),
        2,
        "{grants:?}"
    );
    assert_bystander_unaffected(&mut w).await;
}

#[tokio::test]
async fn a_revoked_grant_ends_its_powers_and_its_sockets_at_once() {
    let mut w = world().await;
    let app = &w.app;
    ok_json(
        call(
            app,
            &w.super_admin,
            Method::DELETE,
            &format!("/api/v1/grants/{}", w.subject.grant_id),
            None,
        )
        .await,
        200,
    )
    .await;
    // His socket was in the room as host by that grant: closed.
    assert_closed_for(&mut w.subject.socket, "grant_ended").await;
    // The join token from before carried the host grant: refused.
    assert_spare_join_token_refused(&w, &w.subject.access, "grant_ended").await;
    // The same access token, a refreshed one and a new login: a member of the branch,
    // no longer its secretary.
    let (refreshed, _) = pair(
        refresh(app, &w.subject.refresh).await,
        &w.subject.account_id,
    )
    .await;
    let (fresh, _) = pair(login(app, &w.subject.phone).await, &w.subject.account_id).await;
    for who in [&w.subject.access, &refreshed, &fresh] {
        expect_problem(
            call(
                app,
                who,
                Method::POST,
                &format!("/api/v1/orgs/{}/meetings", w.branch),
                Some(congress()),
            )
            .await,
            403,
            "forbidden",
        )
        .await;
        // A new join token makes him a participant, not the host.
        let mut ws = app.ws(who).await;
        let joined = ws
            .join(&token_of(join_token(app, who, &w.meeting).await).await)
            .await;
        assert_eq!(role_in_room(&joined), "member", "{joined}");
        ws.leave_socket().await;
    }
    assert_bystander_unaffected(&mut w).await;
}

#[tokio::test]
async fn an_expired_grant_stops_at_its_instant_and_its_sockets_close() {
    // The test clock starts at 2026-11-28T02:00:00Z; the grant runs two minutes.
    let mut w = world_with(Some("2026-11-28T02:02:00Z")).await;
    let app = &w.app;
    let g = ok_json(
        call(
            app,
            &w.super_admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/grants", w.branch),
            None,
        )
        .await,
        200,
    )
    .await;
    let mine = g["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == w.subject.grant_id.as_str())
        .unwrap();
    assert_eq!(mine["expires_at"], "2026-11-28T02:02:00Z", "{g}");
    // A grant that would end before it starts is refused.
    let r = call(
        app,
        &w.super_admin,
        Method::POST,
        "/api/v1/grants",
        Some(json!({
            "account_id": w.bystander.caller.account_id, "role": "branch_committee",
            "org_id": w.branch, "expires_at": "2026-11-28T01:00:00Z",
        })),
    )
    .await;
    expect_problem(r, 422, "validation_failed").await;

    app.state.clock.advance(chrono::Duration::minutes(3));
    // Requests stop honouring it at once, before any sweep.
    expect_problem(
        call(
            app,
            &w.subject.access,
            Method::POST,
            &format!("/api/v1/orgs/{}/meetings", w.branch),
            Some(congress()),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // The sweep stamps it revoked and closes his socket.
    assert_closed_for(&mut w.subject.socket, "grant_ended").await;
    assert_spare_join_token_refused(&w, &w.subject.access, "grant_ended").await;
    let expired = audit_rows(app, "grant.expire").await;
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0].0, w.subject.grant_id);
    assert_eq!(
        live_grants(app, &w.subject.account_id).await,
        vec![("member".to_string(), Some(w.branch.clone()))]
    );
    // Refresh and a new login: a member still, no longer the secretary.
    let (refreshed, _) = pair(
        refresh(app, &w.subject.refresh).await,
        &w.subject.account_id,
    )
    .await;
    let (fresh, _) = pair(login(app, &w.subject.phone).await, &w.subject.account_id).await;
    for who in [&refreshed, &fresh] {
        expect_problem(
            call(
                app,
                who,
                Method::POST,
                &format!("/api/v1/orgs/{}/meetings", w.branch),
                Some(congress()),
            )
            .await,
            403,
            "forbidden",
        )
        .await;
    }
    assert_bystander_unaffected(&mut w).await;
}
