//! Meeting signaling: join tokens for the `/ws` socket — who gets one, with which grants,
//! for which meetings, and that a token opens only its own meeting and only for a while.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_server::auth::Role;
use hongying_server::signaling::join_token;
use hongying_tests::fixtures::Caller;
use hongying_tests::reqwest::{Method, Response};
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

fn congress_body() -> Value {
    json!({
        "kind": "congress",
        "title": "第四季度支部党员大会",
        "agenda": [{"title": "学习传达上级精神"}],
        "scheduled_start": "2026-12-01T02:00:00Z",
        "scheduled_end": "2026-12-01T04:00:00Z",
        "place": "村委会议室",
        "mode": "hybrid"
    })
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

#[tokio::test]
async fn join_tokens_go_to_the_body_and_the_host_for_open_meetings_only() {
    let app = TestApp::spawn().await;
    let tree = app.seed_city_tree().await;
    let branch = tree.branch_a1a.clone();
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(branch.as_str()))], None)
        .await;
    let member = app
        .caller(
            &[(Role::Member, Some(branch.as_str()))],
            Some(&tree.member_a1a),
        )
        .await;
    let outsider = app
        .caller(
            &[(Role::Member, Some(tree.branch_b1a.as_str()))],
            Some(&tree.member_b1a),
        )
        .await;

    let m = ok_json(
        call(
            &app,
            &secretary,
            Method::POST,
            &format!("/api/v1/orgs/{branch}/meetings"),
            Some(congress_body()),
        )
        .await,
        201,
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();

    // A draft has no room yet.
    expect_problem(
        join_token(&app, &member, &id).await,
        409,
        "meeting_not_in_progress",
    )
    .await;
    ok_json(
        call(
            &app,
            &secretary,
            Method::POST,
            &format!("/api/v1/meetings/{id}/schedule"),
            None,
        )
        .await,
        200,
    )
    .await;

    let t = ok_json(join_token(&app, &member, &id).await, 200).await;
    assert_eq!(t["meeting_id"], id.as_str());
    assert_eq!(
        t["grants"],
        json!({"publish": true, "subscribe": true, "host": false})
    );
    let h = ok_json(join_token(&app, &secretary, &id).await, 200).await;
    assert_eq!(h["grants"]["host"], true);
    // Someone from another branch does not learn that the meeting exists.
    expect_problem(join_token(&app, &outsider, &id).await, 404, "not_found").await;

    // The token names its meeting and member, has its own audience and expires.
    let now = app.state.clock.now();
    let claims = join_token::verify(&app.state.tokens, t["token"].as_str().unwrap(), now).unwrap();
    assert_eq!(claims.mid, id);
    assert_eq!(claims.mem.as_deref(), Some(tree.member_a1a.as_str()));
    assert!(!claims.grants.host);
    assert!(
        app.state
            .tokens
            .verify_access(t["token"].as_str().unwrap(), now.and_utc().timestamp())
            .is_err(),
        "a join token must not pass for an access token"
    );
    assert!(join_token::verify(&app.state.tokens, &member.token, now).is_err());
    let later = now + chrono::Duration::seconds(app.state.config.auth.join_ttl_secs as i64 + 1);
    assert!(join_token::verify(&app.state.tokens, t["token"].as_str().unwrap(), later).is_err());

    // Started: still joinable; ended: no more.
    for action in ["start", "end"] {
        ok_json(
            call(
                &app,
                &secretary,
                Method::POST,
                &format!("/api/v1/meetings/{id}/{action}"),
                None,
            )
            .await,
            200,
        )
        .await;
    }
    expect_problem(
        join_token(&app, &member, &id).await,
        409,
        "meeting_not_in_progress",
    )
    .await;
}

#[tokio::test]
async fn intervals_left_open_by_a_crash_are_closed_at_the_last_heartbeat_on_start() {
    use diesel::prelude::*;
    use hongying_server::db::schema::attendance_intervals as ai;
    use hongying_server::meetings::attendance;

    let mut app = TestApp::spawn().await;
    let tree = app.seed_city_tree().await;
    let branch = tree.branch_a1a.clone();
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(branch.as_str()))], None)
        .await;
    let m = ok_json(
        call(
            &app,
            &secretary,
            Method::POST,
            &format!("/api/v1/orgs/{branch}/meetings"),
            Some(congress_body()),
        )
        .await,
        201,
    )
    .await;
    let id = m["id"].as_str().unwrap().to_string();
    for action in ["schedule", "start"] {
        ok_json(
            call(
                &app,
                &secretary,
                Method::POST,
                &format!("/api/v1/meetings/{id}/{action}"),
                None,
            )
            .await,
            200,
        )
        .await;
    }

    // A member joined remotely and was last heard of a minute later; then the process died.
    let state = app.state.clone();
    let (meeting, member) = (id.clone(), tree.member_a1a.clone());
    let (interval, seen) = tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        let opened = state.clock.now() - chrono::Duration::minutes(5);
        let iv =
            attendance::open_remote_interval(&mut conn, &meeting, &member, false, opened).unwrap();
        let seen = opened + chrono::Duration::minutes(1);
        assert!(attendance::touch(&mut conn, &iv, seen).unwrap());
        (iv, seen)
    })
    .await
    .unwrap();
    app.stop().await;

    let config = (*app.state.config).clone();
    let second = hongying_tests::start_node(config, app.state.clock.now()).await;
    let state = second.state.clone();
    let row: (Option<chrono::NaiveDateTime>, Option<String>) =
        tokio::task::spawn_blocking(move || {
            let mut conn = state.db.get().unwrap();
            ai::table
                .find(&interval)
                .select((ai::closed_at, ai::close_reason))
                .first(&mut *conn)
                .unwrap()
        })
        .await
        .unwrap();
    assert_eq!(row.0, Some(seen), "closed at the last heartbeat");
    assert_eq!(row.1.as_deref(), Some("stale"));
    second.shutdown().await;
}
