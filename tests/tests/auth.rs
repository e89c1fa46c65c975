//! Accounts and sessions end to end: activation codes, login, refresh rotation and reuse
//! detection, logout, password change, rate limits, forged tokens, the first admin.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use diesel::prelude::*;
use hongying_server::auth::Role;
use hongying_server::auth::tokens::{AccessClaims, TokenService};
use hongying_server::db::schema::{accounts, audit_log, role_grants};
use hongying_tests::fixtures::SeededMember;
use hongying_tests::{TestApp, Value, expect_problem, json};

const PHONE: &str = "13800138000";
const PASSWORD: &str = "红鹰-password-1";

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app.client.post(app.url(path)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn get_me(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn login(app: &TestApp, phone: &str, password: &str, device: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/login",
        &json!({"phone": phone, "password": password, "device_id": device}),
    )
    .await
}

async fn refresh(app: &TestApp, refresh_token: &str, device: &str) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/refresh",
        &json!({"refresh_token": refresh_token, "device_id": device}),
    )
    .await
}

/// A token pair from a 200 answer.
async fn pair(resp: reqwest::Response) -> (String, String) {
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-store"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    (
        body["access_token"].as_str().unwrap().to_string(),
        body["refresh_token"].as_str().unwrap().to_string(),
    )
}

async fn issue_code(app: &TestApp, token: &str, member_id: &str) -> reqwest::Response {
    post(
        app,
        &format!("/api/v1/members/{member_id}/activation-code"),
        Some(token),
        &json!({}),
    )
    .await
}

async fn code_of(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    let body: Value = resp.json().await.unwrap();
    body["code"].as_str().unwrap().to_string()
}

async fn activate(
    app: &TestApp,
    phone: &str,
    code: &str,
    password: &str,
    device: &str,
) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/activate",
        &json!({"phone": phone, "code": code, "password": password, "device_id": device}),
    )
    .await
}

/// A roster member whose account was activated with [`PASSWORD`]. The clock is then
/// moved past the rate-limit window, so the activation attempt does not count against
/// the test's own attempts.
async fn activated_member(app: &TestApp, phone: &str) -> SeededMember {
    let seeded = app.seed_branch_member("李红", Some(phone)).await;
    let admin = app.super_admin().await;
    let code = code_of(issue_code(app, &admin.token, &seeded.member_id).await).await;
    pair(activate(app, phone, &code, PASSWORD, "setup-device").await).await;
    app.state.clock.advance(chrono::Duration::seconds(61));
    seeded
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<(String, Option<String>)> {
    let state = app.state.clone();
    let action = action.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        audit_log::table
            .filter(audit_log::action.eq(&action))
            .select((audit_log::target_id, audit_log::after_json))
            .load::<(String, Option<String>)>(&mut conn)
            .unwrap()
    })
    .await
    .unwrap()
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_secretary_issues_a_code_and_the_member_activates_with_it() {
    let app = TestApp::spawn().await;
    let m = app.seed_branch_member("王芳", Some("138 0013 8000")).await;
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(&m.org_id))], None)
        .await;
    let account_id = m.account_id.clone().unwrap();

    // A pending account has no password: logging in is the ordinary 401.
    expect_problem(
        login(&app, PHONE, "anything-at-all", "phone-1").await,
        401,
        "invalid_credentials",
    )
    .await;

    // Who may issue: the branch's managers; others in sight get 403, the rest 404.
    let other = app.seed_branch_member("赵强", None).await;
    let foreign_secretary = app
        .caller(&[(Role::BranchSecretary, Some(&other.org_id))], None)
        .await;
    expect_problem(
        issue_code(&app, &foreign_secretary.token, &m.member_id).await,
        404,
        "not_found",
    )
    .await;
    let fellow_row = app.seed_member_row(&m.org_id, None, "同支部党员").await;
    let fellow_member = app
        .caller(&[(Role::Member, Some(&m.org_id))], Some(&fellow_row))
        .await;
    expect_problem(
        issue_code(&app, &fellow_member.token, &m.member_id).await,
        403,
        "forbidden",
    )
    .await;
    expect_problem(
        issue_code(&app, &secretary.token, &uuid::Uuid::now_v7().to_string()).await,
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.post_json(
            &format!("/api/v1/members/{}/activation-code", m.member_id),
            &json!({}),
        )
        .await,
        401,
        "unauthenticated",
    )
    .await;
    // A member without a phone has no account to activate.
    let other_secretary = app
        .caller(&[(Role::BranchCommittee, Some(&other.org_id))], None)
        .await;
    let body = expect_problem(
        issue_code(&app, &other_secretary.token, &other.member_id).await,
        409,
        "member_has_no_account",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("手机号"));

    // Issued once; a second issue supersedes the first.
    let resp = issue_code(&app, &secretary.token, &m.member_id).await;
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap(),
        "no-store"
    );
    let first = code_of(resp).await;
    assert_eq!(first.len(), 8);
    let second = code_of(issue_code(&app, &secretary.token, &m.member_id).await).await;
    assert_ne!(first, second);
    expect_problem(
        activate(&app, PHONE, &first, PASSWORD, "phone-1").await,
        400,
        "invalid_activation_code",
    )
    .await;
    expect_problem(
        activate(&app, PHONE, "ZZZZ2222", PASSWORD, "phone-1").await,
        400,
        "invalid_activation_code",
    )
    .await;
    // An unknown phone answers exactly like a wrong code.
    expect_problem(
        activate(&app, "13911112222", &second, PASSWORD, "phone-1").await,
        400,
        "invalid_activation_code",
    )
    .await;
    let body = expect_problem(
        activate(&app, PHONE, &second, "short", "phone-1").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "password");

    // The right code, typed loosely, with the phone in another format.
    let loose = format!(
        "{}-{}",
        second[..4].to_lowercase(),
        second[4..].to_lowercase()
    );
    let (access, _) =
        pair(activate(&app, "+86 138-0013-8000", &loose, PASSWORD, "phone-1").await).await;
    let me = get_me(&app, &access).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["account_id"], account_id.as_str());
    assert_eq!(me["display_name"], "王芳");
    assert_eq!(me["phone_masked"], "138****8000");
    assert_eq!(me["kind"], "member");
    assert_eq!(me["member"]["member_id"], m.member_id.as_str());
    assert_eq!(me["member"]["org_id"], m.org_id.as_str());
    assert_eq!(me["member"]["org_name"], "王芳所在党支部");
    assert_eq!(
        me["grants"],
        json!([{"role": "member", "org_id": m.org_id, "org_name": "王芳所在党支部"}])
    );

    // Past the per-phone attempt window (the access token lives on).
    app.state.clock.advance(chrono::Duration::seconds(61));
    assert_eq!(get_me(&app, &access).await.status(), 200);

    // Single use.
    expect_problem(
        activate(&app, PHONE, &second, "another-password", "phone-2").await,
        400,
        "invalid_activation_code",
    )
    .await;
    pair(login(&app, PHONE, PASSWORD, "phone-2").await).await;

    // Audited, without the code itself.
    let issued = audit_rows(&app, "account.activation_code_issued").await;
    assert_eq!(issued.len(), 2);
    assert!(issued.iter().all(|(target, after)| {
        let after = after.as_deref().unwrap();
        target == &account_id && !after.contains(&first) && !after.contains(&second)
    }));
    assert_eq!(audit_rows(&app, "account.activated").await.len(), 1);
    assert_eq!(audit_rows(&app, "account.provisioned").await.len(), 1);
}

#[tokio::test]
async fn an_activation_code_expires() {
    let app = TestApp::spawn().await;
    let m = app.seed_branch_member("周敏", Some(PHONE)).await;
    let admin = app.super_admin().await;
    let code = code_of(issue_code(&app, &admin.token, &m.member_id).await).await;
    let ttl = app.state.config.auth.activation_ttl_secs as i64;
    app.state.clock.advance(chrono::Duration::seconds(ttl + 1));
    expect_problem(
        activate(&app, PHONE, &code, PASSWORD, "phone-1").await,
        400,
        "invalid_activation_code",
    )
    .await;
}

#[tokio::test]
async fn a_code_resets_the_password_of_an_active_account_and_ends_its_sessions() {
    let app = TestApp::spawn().await;
    let m = activated_member(&app, PHONE).await;
    let (old_access, old_refresh) = pair(login(&app, PHONE, PASSWORD, "phone-1").await).await;
    let admin = app.super_admin().await;
    let code = code_of(issue_code(&app, &admin.token, &m.member_id).await).await;
    pair(activate(&app, PHONE, &code, "a-new-password", "phone-2").await).await;
    expect_problem(get_me(&app, &old_access).await, 401, "unauthenticated").await;
    expect_problem(
        refresh(&app, &old_refresh, "phone-1").await,
        401,
        "invalid_refresh_token",
    )
    .await;
    expect_problem(
        login(&app, PHONE, PASSWORD, "phone-1").await,
        401,
        "invalid_credentials",
    )
    .await;
    pair(login(&app, PHONE, "a-new-password", "phone-1").await).await;
}

#[tokio::test]
async fn login_refuses_wrong_passwords_and_unknown_phones_alike() {
    let app = TestApp::spawn().await;
    let m = activated_member(&app, PHONE).await;
    let (access, _) = pair(login(&app, PHONE, PASSWORD, "phone-1").await).await;
    assert_eq!(get_me(&app, &access).await.status(), 200);

    let wrong = expect_problem(
        login(&app, PHONE, "not-the-password", "phone-1").await,
        401,
        "invalid_credentials",
    )
    .await;
    let unknown = expect_problem(
        login(&app, "13999999999", PASSWORD, "phone-1").await,
        401,
        "invalid_credentials",
    )
    .await;
    for field in ["type", "title", "status", "detail", "code"] {
        assert_eq!(wrong[field], unknown[field], "{field}");
    }
    expect_problem(
        login(&app, PHONE, PASSWORD, "").await,
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        app.post_json(
            "/api/v1/auth/login",
            &json!({"phone": PHONE, "password": PASSWORD, "device_id": "d", "otp": "1"}),
        )
        .await,
        400,
        "invalid_body",
    )
    .await;

    // A disabled account is told so, but only to someone who knows the password.
    let state = app.state.clone();
    let account_id = m.account_id.clone().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        diesel::update(accounts::table.find(&account_id))
            .set(accounts::status.eq("disabled"))
            .execute(&mut conn)
            .unwrap();
    })
    .await
    .unwrap();
    expect_problem(
        login(&app, PHONE, PASSWORD, "phone-1").await,
        403,
        "account_inactive",
    )
    .await;
    expect_problem(
        login(&app, PHONE, "not-the-password", "phone-1").await,
        401,
        "invalid_credentials",
    )
    .await;
    // And its live access token stops working at once.
    expect_problem(get_me(&app, &access).await, 401, "unauthenticated").await;
    assert_eq!(audit_rows(&app, "session.login").await.len(), 1);
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_its_session() {
    let app = TestApp::spawn().await;
    activated_member(&app, PHONE).await;
    let (access1, refresh1) = pair(login(&app, PHONE, PASSWORD, "phone-1").await).await;
    let (other_access, _) = pair(login(&app, PHONE, PASSWORD, "tablet").await).await;

    let (access2, refresh2) = pair(refresh(&app, &refresh1, "phone-1").await).await;
    assert_ne!(refresh1, refresh2);
    assert_eq!(
        claims_of(&access1)["sid"],
        claims_of(&access2)["sid"],
        "same session"
    );
    let (access3, refresh3) = pair(refresh(&app, &refresh2, "phone-1").await).await;
    assert_eq!(get_me(&app, &access3).await.status(), 200);

    // The first token again: theft assumed, the whole session goes.
    expect_problem(
        refresh(&app, &refresh1, "phone-1").await,
        401,
        "refresh_token_reused",
    )
    .await;
    expect_problem(
        refresh(&app, &refresh3, "phone-1").await,
        401,
        "invalid_refresh_token",
    )
    .await;
    expect_problem(get_me(&app, &access3).await, 401, "unauthenticated").await;
    expect_problem(get_me(&app, &access1).await, 401, "unauthenticated").await;
    // Another session of the same account is untouched.
    assert_eq!(get_me(&app, &other_access).await.status(), 200);
    assert_eq!(audit_rows(&app, "session.refresh_reused").await.len(), 1);
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_device() {
    let app = TestApp::spawn().await;
    activated_member(&app, PHONE).await;
    let (_, refresh1) = pair(login(&app, PHONE, PASSWORD, "phone-1").await).await;
    expect_problem(
        refresh(&app, &refresh1, "someone-elses-phone").await,
        401,
        "invalid_refresh_token",
    )
    .await;
    expect_problem(
        refresh(&app, "bm90LWEtdG9rZW4", "phone-1").await,
        401,
        "invalid_refresh_token",
    )
    .await;
    // The refused attempt used nothing up.
    pair(refresh(&app, &refresh1, "phone-1").await).await;
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let app = TestApp::spawn().await;
    activated_member(&app, PHONE).await;
    let (_, refresh1) = pair(login(&app, PHONE, PASSWORD, "phone-1").await).await;
    let ttl = app.state.config.auth.refresh_ttl_secs as i64;
    app.state.clock.advance(chrono::Duration::seconds(ttl + 1));
    expect_problem(
        refresh(&app, &refresh1, "phone-1").await,
        401,
        "invalid_refresh_token",
    )
    .await;
}

#[tokio::test]
async fn of_two_concurrent_refreshes_with_one_token_exactly_one_wins() {
    let app = TestApp::spawn().await;
    activated_member(&app, PHONE).await;
    // A few rounds, so more than one interleaving gets a chance.
    for round in 0..4 {
        let device = format!("phone-{round}");
        let (_, token) = pair(login(&app, PHONE, PASSWORD, &device).await).await;
        let (a, b) = tokio::join!(
            refresh(&app, &token, &device),
            refresh(&app, &token, &device)
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 401], "round {round}");
        let loser = if a.status() == 401 { a } else { b };
        expect_problem(loser, 401, "refresh_token_reused").await;
    }
}

#[tokio::test]
async fn logout_ends_one_session_and_logout_all_every_session() {
    let app = TestApp::spawn().await;
    activated_member(&app, PHONE).await;
    let (a_access, a_refresh) = pair(login(&app, PHONE, PASSWORD, "phone-a").await).await;
    let (b_access, b_refresh) = pair(login(&app, PHONE, PASSWORD, "phone-b").await).await;
    let (c_access, _) = pair(login(&app, PHONE, PASSWORD, "phone-c").await).await;

    expect_problem(
        post(&app, "/api/v1/auth/logout", None, &json!({})).await,
        401,
        "unauthenticated",
    )
    .await;
    let resp = post(&app, "/api/v1/auth/logout", Some(&a_access), &json!({})).await;
    assert_eq!(resp.status(), 204);
    expect_problem(get_me(&app, &a_access).await, 401, "unauthenticated").await;
    expect_problem(
        refresh(&app, &a_refresh, "phone-a").await,
        401,
        "invalid_refresh_token",
    )
    .await;
    assert_eq!(get_me(&app, &b_access).await.status(), 200);

    let resp = post(&app, "/api/v1/auth/logout-all", Some(&b_access), &json!({})).await;
    assert_eq!(resp.status(), 204);
    for token in [&b_access, &c_access] {
        expect_problem(get_me(&app, token).await, 401, "unauthenticated").await;
    }
    expect_problem(
        refresh(&app, &b_refresh, "phone-b").await,
        401,
        "invalid_refresh_token",
    )
    .await;
    // Logging in again works.
    pair(login(&app, PHONE, PASSWORD, "phone-a").await).await;
    assert_eq!(audit_rows(&app, "session.logout").await.len(), 1);
    assert_eq!(audit_rows(&app, "session.logout_all").await.len(), 1);
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let app = TestApp::spawn().await;
    activated_member(&app, PHONE).await;
    let (a_access, _) = pair(login(&app, PHONE, PASSWORD, "phone-a").await).await;
    let (b_access, b_refresh) = pair(login(&app, PHONE, PASSWORD, "phone-b").await).await;

    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    expect_problem(
        post(
            &app,
            "/api/v1/auth/password",
            Some(&a_access),
            &change("wrong-password", "a-new-password"),
        )
        .await,
        403,
        "invalid_credentials",
    )
    .await;
    let body = expect_problem(
        post(
            &app,
            "/api/v1/auth/password",
            Some(&a_access),
            &change(PASSWORD, "1234567"),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "new_password");
    let resp = post(
        &app,
        "/api/v1/auth/password",
        Some(&a_access),
        &change(PASSWORD, "a-new-password"),
    )
    .await;
    assert_eq!(resp.status(), 204);

    assert_eq!(get_me(&app, &a_access).await.status(), 200);
    expect_problem(get_me(&app, &b_access).await, 401, "unauthenticated").await;
    // Past the per-phone attempt window before logging in again.
    app.state.clock.advance(chrono::Duration::seconds(61));
    expect_problem(
        refresh(&app, &b_refresh, "phone-b").await,
        401,
        "invalid_refresh_token",
    )
    .await;
    expect_problem(
        login(&app, PHONE, PASSWORD, "phone-b").await,
        401,
        "invalid_credentials",
    )
    .await;
    pair(login(&app, PHONE, "a-new-password", "phone-b").await).await;
    let rows = audit_rows(&app, "account.password_changed").await;
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].1.as_deref().unwrap().contains("a-new-password"));
}

#[tokio::test]
async fn the_sixth_failed_login_for_a_phone_in_a_minute_is_rate_limited() {
    let app = TestApp::spawn().await;
    activated_member(&app, PHONE).await;
    for _ in 0..5 {
        expect_problem(
            login(&app, PHONE, "guess-guess", "phone-1").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    let resp = login(&app, PHONE, "guess-guess", "phone-1").await;
    let retry_after: u64 = resp
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    expect_problem(resp, 429, "rate_limited").await;
    // Even the right password waits on a device the account never used…
    expect_problem(
        login(&app, PHONE, PASSWORD, "phone-1").await,
        429,
        "rate_limited",
    )
    .await;
    // …but the owner's own device, signed in before, is not locked out by a guesser.
    pair(login(&app, PHONE, PASSWORD, "setup-device").await).await;
    // The delay doubles with each further wrong password: 2 s, then 4 s.
    app.state.clock.advance(chrono::Duration::seconds(3));
    expect_problem(
        login(&app, PHONE, "guess-guess", "phone-1").await,
        401,
        "invalid_credentials",
    )
    .await;
    let resp = login(&app, PHONE, "guess-guess", "phone-1").await;
    assert_eq!(resp.headers().get("retry-after").unwrap(), "4");
    expect_problem(resp, 429, "rate_limited").await;
    // Another phone from the same address is still heard.
    expect_problem(
        login(&app, "13700000000", "guess-guess", "phone-1").await,
        401,
        "invalid_credentials",
    )
    .await;
    app.state.clock.advance(chrono::Duration::seconds(60));
    pair(login(&app, PHONE, PASSWORD, "phone-1").await).await;
}

#[tokio::test]
async fn the_address_limit_spans_phones() {
    let app = TestApp::spawn_with(|c| c.auth.login_per_address_per_minute = 3).await;
    for i in 0..3 {
        expect_problem(
            login(&app, &format!("1370000000{i}"), "guess-guess", "d").await,
            401,
            "invalid_credentials",
        )
        .await;
    }
    expect_problem(
        login(&app, "13700000009", "guess-guess", "d").await,
        429,
        "rate_limited",
    )
    .await;
}

#[tokio::test]
async fn forged_access_tokens_are_refused() {
    use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    let app = TestApp::spawn().await;
    activated_member(&app, PHONE).await;
    let (access, _) = pair(login(&app, PHONE, PASSWORD, "phone-1").await).await;
    assert_eq!(get_me(&app, &access).await.status(), 200);
    let claims = claims_of(&access);
    let kid = app.state.tokens.keys().active_kid().to_string();
    let [header, payload, _sig]: [&str; 3] =
        access.split('.').collect::<Vec<_>>().try_into().unwrap();

    // alg: none, no signature.
    let none_header = B64.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    let none = format!("{none_header}.{payload}.");
    // HS256 with the server's public key PEM as the HMAC secret (the key-confusion attack).
    let key_pem =
        std::fs::read_to_string(app.state.config.jwt_keys_dir().join(format!("{kid}.pem")))
            .unwrap();
    let public_pem = ed25519_dalek::SigningKey::from_pkcs8_pem(&key_pem)
        .unwrap()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &EncodingKey::from_secret(public_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    // Properly signed by our key, for another audience.
    let mut other_aud: AccessClaims = serde_json::from_value(claims.clone()).unwrap();
    other_aud.aud = "hongying-join".into();
    let wrong_audience = app.state.tokens.sign(&other_aud).unwrap();
    // Properly signed by a key we do not have (unknown kid).
    let foreign_dir = tempfile::tempdir().unwrap();
    let foreign = TokenService::new(
        hongying_server::auth::keys::KeySet::load(foreign_dir.path(), true).unwrap(),
        "hongying",
        "hongying-api",
        900,
    );
    let unknown_kid = foreign
        .issue_access(
            claims["sub"].as_str().unwrap(),
            claims["sid"].as_str().unwrap(),
            claims["iat"].as_i64().unwrap(),
        )
        .unwrap();
    // Our signature over a payload naming another account.
    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = json!(uuid::Uuid::now_v7().to_string());
    let tampered = format!(
        "{header}.{}.{}",
        B64.encode(serde_json::to_vec(&tampered_claims).unwrap()),
        access.rsplit('.').next().unwrap()
    );

    for (name, token) in [
        ("alg none", none),
        ("hs256 with the public key", hs256),
        ("wrong audience", wrong_audience),
        ("unknown kid", unknown_kid),
        ("tampered payload", tampered),
        ("garbage", "not.a.token".to_string()),
    ] {
        let resp = get_me(&app, &token).await;
        assert_eq!(resp.status(), 401, "{name}");
        expect_problem(resp, 401, "unauthenticated").await;
    }
    expect_problem(
        app.client
            .get(app.url("/api/v1/me"))
            .header("authorization", format!("Basic {access}"))
            .send()
            .await
            .unwrap(),
        401,
        "unauthenticated",
    )
    .await;

    // Expired: the same genuine token once the clock has passed its lifetime.
    let ttl = app.state.config.auth.access_ttl_secs as i64;
    app.state.clock.advance(chrono::Duration::seconds(ttl + 1));
    expect_problem(get_me(&app, &access).await, 401, "token_expired").await;
}

#[tokio::test]
async fn admin_create_makes_an_active_super_admin_once() {
    use hongying_server::accounts::admin::create_admin;
    use hongying_server::error::AppError;

    let app = TestApp::spawn().await;
    let state = app.state.clone();
    let (first, again, short) = tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        let now = state.clock.now();
        let first = create_admin(
            &mut conn,
            &state.pii,
            "139 0000 0001",
            " 管理员 ",
            PASSWORD,
            now,
        );
        let again = create_admin(
            &mut conn,
            &state.pii,
            "+8613900000001",
            "另一个",
            PASSWORD,
            now,
        );
        let short = create_admin(
            &mut conn,
            &state.pii,
            "13900000002",
            "短密码",
            "1234567",
            now,
        );
        (first, again, short)
    })
    .await
    .unwrap();
    let account_id = first.unwrap();
    assert!(matches!(
        again,
        Err(AppError::Conflict {
            code: hongying_proto::ErrorCode::AlreadyExists,
            ..
        })
    ));
    assert!(matches!(short, Err(AppError::Validation(_))));

    let (access, _) = pair(login(&app, "13900000001", PASSWORD, "laptop").await).await;
    let me: Value = get_me(&app, &access).await.json().await.unwrap();
    assert_eq!(me["account_id"], account_id.as_str());
    assert_eq!(me["display_name"], "管理员");
    assert_eq!(me["kind"], "staff");
    assert_eq!(me["phone_masked"], "139****0001");
    assert_eq!(me["member"], Value::Null);
    assert_eq!(
        me["grants"],
        json!([{"role": "super_admin", "org_id": null, "org_name": null}])
    );
    let rows = audit_rows(&app, "account.admin_created").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, account_id);
    assert!(!rows[0].1.as_deref().unwrap().contains("13900000001"));
    assert!(!rows[0].1.as_deref().unwrap().contains(PASSWORD));
}

#[tokio::test]
async fn provisioning_a_member_account_is_idempotent() {
    let app = TestApp::spawn().await;
    let m = app.seed_branch_member("陈刚", Some(PHONE)).await;
    let phoneless = app.seed_branch_member("某人", None).await;
    let state = app.state.clone();
    let member_id = m.member_id.clone();
    let (again, grants, clash) = tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        let now = state.clock.now();
        let again = hongying_server::accounts::provision_member_account(
            &mut conn, &state.pii, &member_id, "陈刚", PHONE, now,
        )
        .unwrap();
        let grants: i64 = role_grants::table
            .filter(role_grants::account_id.eq(&again.account_id))
            .count()
            .get_result(&mut conn)
            .unwrap();
        // Another member with a phone that already has an account.
        let clash = hongying_server::accounts::provision_member_account(
            &mut conn,
            &state.pii,
            &phoneless.member_id,
            "某人",
            "+86 13800138000",
            now,
        );
        (again, grants, clash)
    })
    .await
    .unwrap();
    assert_eq!(Some(again.account_id), m.account_id);
    assert!(!again.created);
    assert_eq!(grants, 1);
    assert!(matches!(
        clash,
        Err(hongying_server::error::AppError::Conflict {
            code: hongying_proto::ErrorCode::AlreadyExists,
            ..
        })
    ));
    assert_eq!(audit_rows(&app, "account.provisioned").await.len(), 1);
}

#[tokio::test]
async fn the_openapi_document_declares_the_bearer_scheme() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    assert_eq!(
        doc["paths"]["/api/v1/me"]["get"]["security"],
        json!([{"bearer": []}])
    );
    // Public: an empty requirement, not the absence of one (which would read as "ask").
    assert_eq!(
        doc["paths"]["/api/v1/auth/login"]["post"]["security"],
        json!([{}])
    );
    for path in [
        "/api/v1/auth/activate",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/logout-all",
        "/api/v1/auth/password",
        "/api/v1/members/{member_id}/activation-code",
    ] {
        assert!(doc["paths"][path]["post"].is_object(), "{path}");
    }
}
