//! The authorization matrix: every operation of the published OpenAPI document is called
//! against objects in one branch's subtree by callers who must not reach them, and each
//! must be refused: 401 for anonymous callers, 403 or 404 for signed-in outsiders, never
//! a 2xx (and never a 5xx).
//!
//! The callers, in the fixture city tree ([`hongying_tests::fixtures::CityTree`]):
//!   (a) the secretary of a sibling branch (branch_a1b, also a member there),
//!   (b) the org admin of the other county (county_b),
//!   (c) a plain member of another branch (branch_a1c),
//!   (d) anonymous,
//!   (e) a 服务面对面 `public` villager of branch_a1a itself,
//!   (f) an enabled 服务面对面 expert (法律) serving town_a1, above branch_a1a.
//! (e) and (f) hold their narrow roles right at the targets: they prove that `public` and
//! `expert` grant nothing outside 服务面对面. The targets all lie in or under branch_a1a
//! (see [`targets`]).
//!
//! ## Adding a route
//! Every operation in `/api/openapi.json` needs one line in [`POLICY`]; the test fails
//! for an operation without one (and for a line whose operation no longer exists):
//!
//! ```text
//! p("POST /api/v1/things/{id}/do", Scoped, "/api/v1/things/{thing}/do", Some(r#"{"x":"{org}"}"#)),
//! ```
//! 1. the operation exactly as the OpenAPI document spells it ("METHOD path"),
//! 2. the rule ([`Rule`]),
//! 3. the path to call, with `{name}` placeholders for the targets (query string allowed),
//! 4. for POST/PUT/PATCH a body that is *valid* for the route (placeholders allowed), so
//!    the call gets past validation to the authorization check: a 400/422 fails the test.
//!
//! If your route needs an object of its own (a meeting, a motion …), create it inside
//! branch_a1a's subtree in [`extra_targets`] and name it there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use hongying_server::auth::Role;
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::Method;
use hongying_tests::{TestApp, Value, json};

/// How a route must treat callers outside the target's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Open to anyone (health, login, activation, refresh). Only checked for no 5xx.
    Public,
    /// Any signed-in caller acting on their own account (`/me`, logout, password):
    /// anonymous → 401; a signed-in caller (a fresh one, as these may end its session)
    /// gets no 5xx.
    SelfOnly,
    /// Addresses an object by id (or names an organization in its query or body):
    /// anonymous → 401; callers (a), (b), (c) → 403 or 404.
    Scoped,
    /// Only a super admin: anonymous → 401; callers (a), (b), (c) → 403 or 404.
    SuperAdmin,
    /// 服务面对面 routes open to askers in their own area (asking, the FAQ): as `Scoped`
    /// but (e) and (f) are not probed, since branch_a1a is (e)'s own village.
    Asker,
}
use Rule::*;

struct Policy {
    route: &'static str,
    rule: Rule,
    call: &'static str,
    body: Option<&'static str>,
}

const fn p(
    route: &'static str,
    rule: Rule,
    call: &'static str,
    body: Option<&'static str>,
) -> Policy {
    Policy {
        route,
        rule,
        call,
        body,
    }
}

/// One line per operation of the OpenAPI document. See the module documentation.
#[rustfmt::skip]
const POLICY: &[Policy] = &[
    // ops
    p("GET /healthz", Public, "/healthz", None),
    p("GET /readyz", Public, "/readyz", None),
    // orgs
    p("POST /api/v1/orgs", Scoped, "/api/v1/orgs", Some(r#"{"parent_id":"{org}","name":"新党小组","kind":"party_group","domain":"rural"}"#)),
    p("GET /api/v1/orgs/{id}", Scoped, "/api/v1/orgs/{org}", None),
    p("PATCH /api/v1/orgs/{id}", Scoped, "/api/v1/orgs/{org}", Some(r#"{"version":1,"name":"改名党支部"}"#)),
    p("POST /api/v1/orgs/{id}/move", Scoped, "/api/v1/orgs/{group}/move", Some(r#"{"parent_id":"{org2}","version":1}"#)),
    p("GET /api/v1/orgs/{id}/children", Scoped, "/api/v1/orgs/{org}/children", None),
    p("GET /api/v1/orgs/{id}/subtree", Scoped, "/api/v1/orgs/{org}/subtree?kind=party_group", None),
    p("POST /api/v1/orgs/{id}/posts", Scoped, "/api/v1/orgs/{org}/posts", Some(r#"{"member_id":"{member}","post":"deputy_secretary"}"#)),
    p("POST /api/v1/orgs/{id}/posts/{post_id}/end", Scoped, "/api/v1/orgs/{org}/posts/{post}/end", Some(r#"{}"#)),
    // grants
    p("POST /api/v1/grants", Scoped, "/api/v1/grants", Some(r#"{"account_id":"{account}","role":"branch_committee","org_id":"{org}"}"#)),
    p("DELETE /api/v1/grants/{id}", Scoped, "/api/v1/grants/{grant}", None),
    p("GET /api/v1/orgs/{id}/grants", Scoped, "/api/v1/orgs/{org}/grants", None),
    // audit
    p("GET /api/v1/audit", Scoped, "/api/v1/audit?org_id={org}", None),
    p("GET /api/v1/audit/verify", SuperAdmin, "/api/v1/audit/verify", None),
    // auth and the caller's own account
    p("POST /api/v1/auth/login", Public, "/api/v1/auth/login", Some(r#"{"phone":"13800000000","password":"wrong-password","device_id":"matrix"}"#)),
    p("POST /api/v1/auth/activate", Public, "/api/v1/auth/activate", Some(r#"{"phone":"13800000000","code":"00000000","password":"new-password-1","device_id":"matrix"}"#)),
    p("POST /api/v1/auth/refresh", Public, "/api/v1/auth/refresh", Some(r#"{"refresh_token":"not-a-token","device_id":"matrix"}"#)),
    p("POST /api/v1/auth/logout", SelfOnly, "/api/v1/auth/logout", None),
    p("POST /api/v1/auth/logout-all", SelfOnly, "/api/v1/auth/logout-all", None),
    p("POST /api/v1/auth/password", SelfOnly, "/api/v1/auth/password", Some(r#"{"current_password":"wrong-password","new_password":"another-password-1"}"#)),
    p("GET /api/v1/me", SelfOnly, "/api/v1/me", None),
    p("POST /api/v1/members/{member_id}/activation-code", Scoped, "/api/v1/members/{member}/activation-code", None),
    // members
    p("POST /api/v1/orgs/{org_id}/members", Scoped, "/api/v1/orgs/{org}/members", Some(r#"{"name":"新成员","id_number":"11010519491231002X","status":"applicant","applied_on":"2020-01-01"}"#)),
    p("POST /api/v1/orgs/{org_id}/members/import", Scoped, "/api/v1/orgs/{org}/members/import?dry_run=true", Some(r#"{}"#)),
    p("GET /api/v1/orgs/{org_id}/members", Scoped, "/api/v1/orgs/{org}/members", None),
    p("GET /api/v1/members/lookup", Scoped, "/api/v1/members/lookup?id_number={member_id_number}", None),
    p("GET /api/v1/members/{id}", Scoped, "/api/v1/members/{member}", None),
    p("PATCH /api/v1/members/{id}", Scoped, "/api/v1/members/{member}", Some(r#"{"version":1,"work_unit":"村委会"}"#)),
    p("POST /api/v1/members/{id}/status", Scoped, "/api/v1/members/{member}/status", Some(r#"{"to":"removed","effective_on":"2025-01-01","reason":"测试"}"#)),
    p("POST /api/v1/members/{id}/flags", Scoped, "/api/v1/members/{member}/flags", Some(r#"{"lost_contact":true,"effective_on":"2025-01-01"}"#)),
    p("GET /api/v1/members/{id}/history", Scoped, "/api/v1/members/{member}/history", None),
    // transfers
    p("POST /api/v1/transfers", Scoped, "/api/v1/transfers", Some(r#"{"member_id":"{member}","kind":"out_of_city","outside_org_name":"柳州市某党委","reason":"工作调动"}"#)),
    p("GET /api/v1/transfers/{id}", Scoped, "/api/v1/transfers/{transfer}", None),
    p("POST /api/v1/transfers/{id}/steps", Scoped, "/api/v1/transfers/{transfer}/steps", Some(r#"{"action":"approve_branch"}"#)),
    p("GET /api/v1/orgs/{org_id}/transfers/worklist", Scoped, "/api/v1/orgs/{org}/transfers/worklist", None),
    p("POST /api/v1/transfers/incoming", Scoped, "/api/v1/transfers/incoming", Some(r#"{"to_org_id":"{org}","incoming_letter_serial":"柳组字〔2026〕第0001号","from_org_name":"柳州市某党委","reason":"工作调动","person":{"name":"转入者","id_number":"11010519491231002X","status":"full","probationary_on":"1999-01-01","regularized_on":"2000-01-01"}}"#)),
    p("GET /api/v1/letters/{id}", Scoped, "/api/v1/letters/{letter}", None),
    p("GET /api/v1/letters/{id}/print", Scoped, "/api/v1/letters/{letter}/print", None),
    p("GET /api/v1/letters/verify/{token}", Public, "/api/v1/letters/verify/not-a-token", None),
    // migrants
    p("POST /api/v1/members/{id}/outflow", Scoped, "/api/v1/members/{member}/outflow", Some(r#"{"destination":"广西柳州市","since":"2026-01-01"}"#)),
    p("POST /api/v1/orgs/{org_id}/migrants/inflow", Scoped, "/api/v1/orgs/{org}/migrants/inflow", Some(r#"{"id_number":"{member_id_number}","since":"2026-01-01"}"#)),
    p("GET /api/v1/orgs/{org_id}/migrants", Scoped, "/api/v1/orgs/{org}/migrants", None),
    p("GET /api/v1/migrants/{id}", Scoped, "/api/v1/migrants/{migrant}", None),
    p("POST /api/v1/migrants/{id}/accept", Scoped, "/api/v1/migrants/{migrant}/accept", None),
    p("POST /api/v1/migrants/{id}/contacts", Scoped, "/api/v1/migrants/{migrant}/contacts", Some(r#"{"channel":"phone"}"#)),
    p("POST /api/v1/migrants/{id}/review", Scoped, "/api/v1/migrants/{migrant}/review", Some(r#"{}"#)),
    p("POST /api/v1/migrants/{id}/end", Scoped, "/api/v1/migrants/{migrant}/end", Some(r#"{"reason":"返乡"}"#)),
    // meetings
    p("POST /api/v1/orgs/{org_id}/meetings", Scoped, "/api/v1/orgs/{org}/meetings", Some(r#"{"kind":"congress","title":"党员大会","scheduled_start":"2026-12-01T02:00:00Z","scheduled_end":"2026-12-01T04:00:00Z","mode":"in_person"}"#)),
    p("GET /api/v1/orgs/{org_id}/meetings", Scoped, "/api/v1/orgs/{org}/meetings", None),
    p("GET /api/v1/meetings/{id}", Scoped, "/api/v1/meetings/{meeting}", None),
    p("PATCH /api/v1/meetings/{id}", Scoped, "/api/v1/meetings/{meeting}", Some(r#"{"title":"改个标题"}"#)),
    p("POST /api/v1/meetings/{id}/schedule", Scoped, "/api/v1/meetings/{meeting}/schedule", None),
    p("POST /api/v1/meetings/{id}/start", Scoped, "/api/v1/meetings/{meeting}/start", None),
    p("POST /api/v1/meetings/{id}/end", Scoped, "/api/v1/meetings/{meeting}/end", None),
    p("POST /api/v1/meetings/{id}/cancel", Scoped, "/api/v1/meetings/{meeting}/cancel", Some(r#"{"reason":"测试"}"#)),
    p("GET /api/v1/meetings/{id}/quorum", Scoped, "/api/v1/meetings/{meeting}/quorum", None),
    p("POST /api/v1/meetings/{id}/observers", Scoped, "/api/v1/meetings/{meeting}/observers", Some(r#"{"kind":"masses","name":"群众甲"}"#)),
    p("GET /api/v1/meetings/{id}/observers", Scoped, "/api/v1/meetings/{meeting}/observers", None),
    p("POST /api/v1/meetings/{id}/exclusions", Scoped, "/api/v1/meetings/{meeting}/exclusions", Some(r#"{"member_id":"{group_member}","reason":"ill"}"#)),
    p("GET /api/v1/meetings/{id}/exclusions", Scoped, "/api/v1/meetings/{meeting}/exclusions", None),
    p("POST /api/v1/meeting-exclusions/{id}/approve", Scoped, "/api/v1/meeting-exclusions/{exclusion}/approve", Some(r#"{"by":"upper"}"#)),
    p("POST /api/v1/meeting-exclusions/{id}/reject", Scoped, "/api/v1/meeting-exclusions/{exclusion}/reject", Some(r#"{"by":"congress"}"#)),
    p("POST /api/v1/meetings/{id}/attendance", Scoped, "/api/v1/meetings/{meeting}/attendance", Some(r#"{"member_id":"{member}","mode":"in_person","action":"arrive"}"#)),
    p("GET /api/v1/meetings/{id}/attendance", Scoped, "/api/v1/meetings/{meeting}/attendance", None),
    p("GET /api/v1/meetings/{id}/qr", Scoped, "/api/v1/meetings/{meeting}/qr", None),
    p("POST /api/v1/meetings/{id}/check-in", Scoped, "/api/v1/meetings/{meeting}/check-in", Some(r#"{"token":"1.AAAA"}"#)),
    p("PUT /api/v1/meetings/{id}/absences/{member_id}", Scoped, "/api/v1/meetings/{meeting}/absences/{member}", Some(r#"{"reason":"leave"}"#)),
    p("POST /api/v1/meetings/{id}/join-token", Scoped, "/api/v1/meetings/{meeting}/join-token", None),
    // notices
    p("GET /api/v1/notices", SelfOnly, "/api/v1/notices", None),
    p("POST /api/v1/notices/{id}/read", Scoped, "/api/v1/notices/{notice}/read", None),
    // motions
    p("POST /api/v1/meetings/{id}/motions", Scoped, "/api/v1/meetings/{meeting}/motions", Some(r#"{"kind":"ordinary","title":"议题","voting_method":"app"}"#)),
    p("GET /api/v1/meetings/{id}/motions", Scoped, "/api/v1/meetings/{meeting}/motions", None),
    p("GET /api/v1/motions/{id}", Scoped, "/api/v1/motions/{motion}", None),
    p("POST /api/v1/motions/{id}/written-opinions", Scoped, "/api/v1/motions/{motion}/written-opinions", Some(r#"{"member_id":"{member}","choice":"yes"}"#)),
    p("POST /api/v1/motions/{id}/open", Scoped, "/api/v1/motions/{motion}/open", None),
    p("POST /api/v1/motions/{id}/ballots", Scoped, "/api/v1/motions/{motion}/ballots", Some(r#"{"choice":"yes"}"#)),
    p("POST /api/v1/motions/{id}/tally", Scoped, "/api/v1/motions/{motion}/tally", Some(r#"{"yes":1,"no":0,"abstain":0}"#)),
    p("POST /api/v1/motions/{id}/close", Scoped, "/api/v1/motions/{motion}/close", None),
    // minutes
    p("GET /api/v1/meetings/{id}/minutes", Scoped, "/api/v1/meetings/{meeting}/minutes", None),
    p("PUT /api/v1/meetings/{id}/minutes", Scoped, "/api/v1/meetings/{meeting}/minutes", Some(r#"{"summary":"纪要","resolutions":[]}"#)),
    p("POST /api/v1/meetings/{id}/minutes/points", Scoped, "/api/v1/meetings/{meeting}/minutes/points", Some(r#"{"speaker_name":"某人","text":"发言"}"#)),
    p("POST /api/v1/meetings/{id}/minutes/sign", Scoped, "/api/v1/meetings/{meeting}/minutes/sign", Some(r#"{"as":"host"}"#)),
    p("POST /api/v1/meetings/{id}/minutes/submit", Scoped, "/api/v1/meetings/{meeting}/minutes/submit", None),
    p("POST /api/v1/meetings/{id}/minutes/review", Scoped, "/api/v1/meetings/{meeting}/minutes/review", Some(r#"{"comment":"好"}"#)),
    p("GET /api/v1/meetings/{id}/minutes/export", Scoped, "/api/v1/meetings/{meeting}/minutes/export?format=html", None),
    p("POST /api/v1/meetings/{id}/attachments", Scoped, "/api/v1/meetings/{meeting}/attachments?filename=a.png", None),
    p("GET /api/v1/attachments/{id}", Scoped, "/api/v1/attachments/{attachment}", None),
    // compliance
    p("PUT /api/v1/orgs/{id}/compliance-rules", Scoped, "/api/v1/orgs/{org}/compliance-rules", Some(r#"{"rules":[]}"#)),
    p("GET /api/v1/orgs/{id}/compliance-rules", Scoped, "/api/v1/orgs/{org}/compliance-rules", None),
    p("GET /api/v1/orgs/{id}/compliance", Scoped, "/api/v1/orgs/{org}/compliance?period=2026-Q4", None),
    // 服务面对面
    p("GET /api/v1/services/fields", SelfOnly, "/api/v1/services/fields", None),
    p("POST /api/v1/services/experts", Scoped, "/api/v1/services/experts", Some(r#"{"org_id":"{org}","name":"矩阵专家","phone":"13900009999","field":"agri"}"#)),
    p("GET /api/v1/services/experts/{id}", Scoped, "/api/v1/services/experts/{expert}", None),
    p("PATCH /api/v1/services/experts/{id}", Scoped, "/api/v1/services/experts/{expert}", Some(r#"{"version":1,"specialities":["果树"]}"#)),
    p("POST /api/v1/services/experts/{id}/status", Scoped, "/api/v1/services/experts/{expert}/status", Some(r#"{"action":"disable"}"#)),
    p("GET /api/v1/services/orgs/{org_id}/experts", Scoped, "/api/v1/services/orgs/{org}/experts", None),
    p("GET /api/v1/services/experts/{id}/slots", Scoped, "/api/v1/services/experts/{expert}/slots", None),
    p("POST /api/v1/services/slots", SelfOnly, "/api/v1/services/slots", Some(r#"{"starts_at":"2030-01-01T02:00:00Z","ends_at":"2030-01-01T02:30:00Z"}"#)),
    p("POST /api/v1/services/public-accounts", Scoped, "/api/v1/services/public-accounts", Some(r#"{"org_id":"{org}","name":"矩阵村民","phone":"13900008888"}"#)),
    p("POST /api/v1/services/accounts/{account_id}/activation-code", Scoped, "/api/v1/services/accounts/{service_account}/activation-code", None),
    p("POST /api/v1/services/register", Public, "/api/v1/services/register", Some(r#"{"org_id":"{org}","name":"自助","phone":"13900007777","password":"long-enough-1","device_id":"matrix"}"#)),
    p("POST /api/v1/services/questions", Asker, "/api/v1/services/questions", Some(r#"{"category":"agri","text":"矩阵提问","area_org_id":"{org}"}"#)),
    p("GET /api/v1/services/questions", SelfOnly, "/api/v1/services/questions?role=offered", None),
    p("GET /api/v1/services/questions/{id}", Scoped, "/api/v1/services/questions/{question}", None),
    p("POST /api/v1/services/questions/{id}/accept", Scoped, "/api/v1/services/questions/{question}/accept", None),
    p("POST /api/v1/services/questions/{id}/decline", Scoped, "/api/v1/services/questions/{question}/decline", None),
    p("POST /api/v1/services/questions/{id}/messages", Scoped, "/api/v1/services/questions/{question}/messages", Some(r#"{"text":"矩阵回复"}"#)),
    p("POST /api/v1/services/questions/{id}/close", Scoped, "/api/v1/services/questions/{question}/close", None),
    p("POST /api/v1/services/questions/{id}/rating", Scoped, "/api/v1/services/questions/{question}/rating", Some(r#"{"rating":5}"#)),
    p("POST /api/v1/services/questions/{id}/assign", Scoped, "/api/v1/services/questions/{question}/assign", Some(r#"{"expert_id":"{expert}"}"#)),
    p("POST /api/v1/services/questions/{id}/attachments", Scoped, "/api/v1/services/questions/{question}/attachments?filename=a.png", None),
    p("GET /api/v1/services/attachments/{id}", Scoped, "/api/v1/services/attachments/{service_attachment}", None),
    p("GET /api/v1/services/orgs/{org_id}/escalations", Scoped, "/api/v1/services/orgs/{org}/escalations", None),
    p("POST /api/v1/services/questions/{id}/faq", Scoped, "/api/v1/services/questions/{question}/faq", Some(r#"{}"#)),
    p("GET /api/v1/services/faq", Asker, "/api/v1/services/faq?org_id={org}", None),
    p("POST /api/v1/services/questions/{id}/consultations", Scoped, "/api/v1/services/questions/{question}/consultations", Some(r#"{"slot_id":"{slot}"}"#)),
    p("GET /api/v1/services/consultations/{id}", Scoped, "/api/v1/services/consultations/{consultation}", None),
    p("POST /api/v1/services/consultations/{id}/cancel", Scoped, "/api/v1/services/consultations/{consultation}/cancel", None),
    p("POST /api/v1/services/consultations/{id}/join-token", Scoped, "/api/v1/services/consultations/{consultation}/join-token", None),
    p("GET /api/v1/services/orgs/{org_id}/stats", Scoped, "/api/v1/services/orgs/{org}/stats", None),
];

/// The ids the policy's `{name}` placeholders stand for. All lie in or under branch_a1a:
/// outside the scope of every probing caller.
async fn targets(app: &TestApp, t: &CityTree) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("org", t.branch_a1a.clone());
    m.insert("group", t.group_a1a.clone());
    m.insert("member", t.member_a1a.clone());
    m.insert("group_member", t.member_group_a1a.clone());
    // A second organization outside every caller's scope (a move's destination).
    m.insert("org2", t.branch_a2a.clone());
    // The account of the branch's member, with its member grant at the branch.
    let holder = app
        .caller(&[(Role::Member, Some(&t.branch_a1a))], Some(&t.member_a1a))
        .await;
    m.insert("grant", grant_of(app, &holder.account_id).await);
    m.insert("account", holder.account_id.clone());
    let sa = app.super_admin().await;
    let post = app
        .client
        .post(app.url(&format!("/api/v1/orgs/{}/posts", t.branch_a1a)))
        .header("authorization", sa.bearer())
        .json(&json!({"member_id": t.member_a1a, "post": "secretary"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 201);
    let post: Value = post.json().await.unwrap();
    m.insert("post", post["id"].as_str().unwrap().to_string());
    extra_targets(app, t, &sa, &mut m).await;
    m
}

/// Objects other modules' routes need: create them inside branch_a1a's subtree (as the
/// super admin `sa`, or directly) and insert their ids under a placeholder name.
async fn extra_targets(
    _app: &TestApp,
    _t: &CityTree,
    _sa: &Caller,
    _m: &mut BTreeMap<&'static str, String>,
) {
    member_targets(_app, _t, _sa, _m).await;
    meeting_targets(_app, _t, _sa, _m).await;
    minutes_targets(_app, _sa, _m).await;
    transfer_targets(_app, _t, _sa, _m).await;
    service_targets(_app, _t, _sa, _m).await;
    migrant_targets(_app, _t, _sa, _m).await;
}

/// 服务面对面: `{expert}` an enabled 农技 expert of branch_a1a; `{question}` a villager's
/// accepted question in branch_a1a with `{service_attachment}` and a booked
/// `{consultation}`; `{slot}` another open slot of the expert; `{service_account}` the
/// villager's account. Also the narrow callers (e) and (f): `{narrow_*}` entries.
async fn service_targets(
    app: &TestApp,
    t: &CityTree,
    sa: &Caller,
    m: &mut BTreeMap<&'static str, String>,
) {
    let send = |who: &Caller, path: &str, body: Value| {
        let rb = app
            .client
            .post(app.url(path))
            .header("authorization", who.bearer())
            .json(&body);
        let path = path.to_string();
        async move {
            let resp = rb.send().await.unwrap();
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            assert!((200..300).contains(&status), "{path}: {status} {v}");
            v
        }
    };
    let activate = |phone: &'static str, issued: Value| {
        let rb = app.client.post(app.url("/api/v1/auth/activate")).json(&json!({
            "phone": phone, "code": issued["code"], "password": "matrix-pass-1", "device_id": "m"}));
        async move {
            let pair: Value = rb.send().await.unwrap().json().await.unwrap();
            Caller {
                account_id: issued["account_id"].as_str().unwrap().to_string(),
                token: pair["access_token"].as_str().unwrap().to_string(),
            }
        }
    };
    let mut experts = Vec::new();
    for (org, phone, field) in [
        (&t.branch_a1a, "13900001001", "agri"),
        (&t.town_a1, "13900001002", "legal"),
    ] {
        let e = send(
            sa,
            "/api/v1/services/experts",
            json!({"org_id": org, "name": "矩阵专家", "phone": phone, "field": field}),
        )
        .await;
        let id = e["expert"]["id"].as_str().unwrap().to_string();
        send(
            sa,
            &format!("/api/v1/services/experts/{id}/status"),
            json!({"action": "verify"}),
        )
        .await;
        experts.push((id, activate(phone, e["activation"].clone()).await));
    }
    let issued = send(
        sa,
        "/api/v1/services/public-accounts",
        json!({"org_id": t.branch_a1a, "name": "矩阵村民甲", "phone": "13900001003"}),
    )
    .await;
    let asker = activate("13900001003", issued).await;
    let q = send(
        &asker,
        "/api/v1/services/questions",
        json!({"category": "agri", "text": "矩阵"}),
    )
    .await;
    let q = q["id"].as_str().unwrap().to_string();
    let expert = &experts[0].1;
    send(
        expert,
        &format!("/api/v1/services/questions/{q}/accept"),
        json!({}),
    )
    .await;
    let resp = app
        .client
        .post(app.url(&format!(
            "/api/v1/services/questions/{q}/attachments?filename=a.png"
        )))
        .header("authorization", asker.bearer())
        .header("content-type", "image/png")
        .body(b"\x89PNG\r\n\x1a\n matrix".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let a: Value = resp.json().await.unwrap();
    m.insert("service_attachment", a["id"].as_str().unwrap().to_string());
    let start = app.state.clock.now().and_utc() + chrono::Duration::days(2);
    let mut slots = Vec::new();
    for h in [0, 1] {
        let s = start + chrono::Duration::hours(h);
        let v = send(
            expert,
            "/api/v1/services/slots",
            json!({"starts_at": s, "ends_at": s + chrono::Duration::minutes(30)}),
        )
        .await;
        slots.push(v["id"].as_str().unwrap().to_string());
    }
    let c = send(
        &asker,
        &format!("/api/v1/services/questions/{q}/consultations"),
        json!({"slot_id": slots[0]}),
    )
    .await;
    m.insert("consultation", c["id"].as_str().unwrap().to_string());
    m.insert("slot", slots[1].clone());
    m.insert("question", q);
    m.insert("expert", experts[0].0.clone());
    m.insert("service_account", asker.account_id.clone());
    m.insert("narrow_expert_account", experts[1].1.account_id.clone());
    m.insert("narrow_expert_token", experts[1].1.token.clone());
}

/// `{migrant}`: `{member}` registered as away, flowing to branch_a2a (not accepted yet).
async fn migrant_targets(
    app: &TestApp,
    t: &CityTree,
    sa: &Caller,
    m: &mut BTreeMap<&'static str, String>,
) {
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/members/{}/outflow", t.member_a1a)))
        .header("authorization", sa.bearer())
        .json(&json!({"destination": "甲二镇北村", "host_org_id": t.branch_a2a, "since": "2026-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let body: Value = resp.json().await.unwrap();
    m.insert(
        "migrant",
        body["record"]["id"].as_str().unwrap().to_string(),
    );
}

/// `{transfer}`: a transfer out of the city of a member of branch_a1a (its town made a
/// basic-level committee with approval authority), approved on the sending side;
/// `{letter}`: the introduction letter that approval issued.
async fn transfer_targets(
    app: &TestApp,
    t: &CityTree,
    sa: &Caller,
    m: &mut BTreeMap<&'static str, String>,
) {
    use diesel::prelude::*;
    use hongying_server::db::schema::organizations as o;
    let state = app.state.clone();
    let town = t.town_a1.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        diesel::update(o::table.find(&town))
            .set(o::can_approve_members.eq(true))
            .execute(&mut c)
            .unwrap();
    })
    .await
    .unwrap();
    let resp = app
        .client
        .post(app.url("/api/v1/transfers"))
        .header("authorization", sa.bearer())
        .json(&json!({"member_id": t.member_group_a1a, "kind": "out_of_city", "outside_org_name": "柳州市某党委", "reason": "工作调动"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let body: Value = resp.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_string();
    let mut letter = Value::Null;
    for action in ["approve_branch", "approve_committee"] {
        let resp = app
            .client
            .post(app.url(&format!("/api/v1/transfers/{id}/steps")))
            .header("authorization", sa.bearer())
            .json(&json!({"action": action}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        letter = resp.json::<Value>().await.unwrap()["letters"][0]["id"].clone();
    }
    m.insert("letter", letter.as_str().unwrap().to_string());
    m.insert("transfer", id);
}

/// `{member_id_number}`: the ID number of a member of branch_a1a (for the lookup).
async fn member_targets(
    app: &TestApp,
    t: &CityTree,
    sa: &Caller,
    m: &mut BTreeMap<&'static str, String>,
) {
    let first17 = "41040219500101001";
    let id_number = format!(
        "{first17}{}",
        hongying_server::crypto::id_number::check_char(first17).unwrap()
    );
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/orgs/{}/members", t.branch_a1a)))
        .header("authorization", sa.bearer())
        .json(&json!({"name": "查询对象", "id_number": id_number, "status": "applicant", "applied_on": "2020-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    m.insert("member_id_number", id_number);
}

/// `{meeting}`: a scheduled congress of branch_a1a; `{exclusion}`: an exclusion request
/// for `{member}` at it; `{notice}`: the scheduling notice `{member}` received.
async fn meeting_targets(
    app: &TestApp,
    t: &CityTree,
    sa: &Caller,
    m: &mut BTreeMap<&'static str, String>,
) {
    let send = |path: String, body: Value| {
        let rb = app
            .client
            .post(app.url(&path))
            .header("authorization", sa.bearer())
            .json(&body);
        async move {
            let resp = rb.send().await.unwrap();
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap();
            assert!((200..300).contains(&status), "{path}: {status} {v}");
            v
        }
    };
    let meeting = send(
        format!("/api/v1/orgs/{}/meetings", t.branch_a1a),
        json!({"kind": "congress", "title": "矩阵测试党员大会", "scheduled_start": "2026-12-01T02:00:00Z",
               "scheduled_end": "2026-12-01T04:00:00Z", "mode": "in_person"}),
    )
    .await;
    let id = meeting["id"].as_str().unwrap().to_string();
    send(format!("/api/v1/meetings/{id}/schedule"), json!({})).await;
    let ex = send(
        format!("/api/v1/meetings/{id}/exclusions"),
        json!({"member_id": t.member_a1a, "reason": "ill"}),
    )
    .await;
    m.insert("exclusion", ex["id"].as_str().unwrap().to_string());
    m.insert("meeting", id);
    use diesel::prelude::*;
    use hongying_server::db::schema::notices;
    let state = app.state.clone();
    let member = t.member_a1a.clone();
    let notice = tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        notices::table
            .filter(notices::member_id.eq(member))
            .select(notices::id)
            .first::<String>(&mut conn)
            .unwrap()
    })
    .await
    .unwrap();
    m.insert("notice", notice);
}

/// `{motion}`: a draft motion at `{meeting}`; `{attachment}`: a PNG attached to it.
async fn minutes_targets(app: &TestApp, sa: &Caller, m: &mut BTreeMap<&'static str, String>) {
    let meeting = m["meeting"].clone();
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/meetings/{meeting}/motions")))
        .header("authorization", sa.bearer())
        .json(&json!({"kind": "ordinary", "title": "矩阵测试议题", "voting_method": "app"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let motion: Value = resp.json().await.unwrap();
    m.insert("motion", motion["id"].as_str().unwrap().to_string());
    let resp = app
        .client
        .post(app.url(&format!(
            "/api/v1/meetings/{meeting}/attachments?filename=sign-in.png"
        )))
        .header("authorization", sa.bearer())
        .header("content-type", "image/png")
        .body(b"\x89PNG\r\n\x1a\n matrix".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let attachment: Value = resp.json().await.unwrap();
    m.insert("attachment", attachment["id"].as_str().unwrap().to_string());
}

async fn grant_of(app: &TestApp, account_id: &str) -> String {
    use diesel::prelude::*;
    use hongying_server::db::schema::role_grants;
    let state = app.state.clone();
    let account = account_id.to_string();
    tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        role_grants::table
            .filter(role_grants::account_id.eq(account))
            .select(role_grants::id)
            .first::<String>(&mut conn)
            .unwrap()
    })
    .await
    .unwrap()
}

fn fill(template: &str, targets: &BTreeMap<&'static str, String>) -> String {
    let mut out = template.to_string();
    for (k, v) in targets {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Whether a concrete path (query stripped) fits an OpenAPI path pattern.
fn matches_pattern(pattern: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let a: Vec<&str> = pattern.split('/').collect();
    let b: Vec<&str> = path.split('/').collect();
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| (x.starts_with('{') && x.ends_with('}') && !y.is_empty()) || x == y)
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

#[tokio::test]
async fn every_operation_refuses_callers_outside_scope() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                operations.insert(format!("{} {path}", m.to_uppercase()));
            }
        }
    }
    let table: BTreeMap<&str, &Policy> = POLICY.iter().map(|p| (p.route, p)).collect();
    assert_eq!(
        table.len(),
        POLICY.len(),
        "a route is listed twice in POLICY"
    );
    // Reported at the end, after probing every operation that has a line, so one run
    // shows all that is wrong.
    let missing: Vec<&String> = operations
        .iter()
        .filter(|o| !table.contains_key(o.as_str()))
        .collect();
    let stale: Vec<&&str> = table.keys().filter(|k| !operations.contains(**k)).collect();
    // The document says which operations need a signed-in caller, as probed below: a
    // `Public` line is `security: [{}]`, every other one the bearer token, with its 401
    // (a public one may still answer 401, as login does for a wrong password).
    let mut untruthful = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let route = format!("{} {path}", m.to_uppercase());
            let Some(policy) = table.get(route.as_str()) else {
                continue;
            };
            let public = op["security"] == json!([{}]);
            let bearer = op["security"] == json!([{"bearer": []}]);
            let says_401 = op["responses"].get("401").is_some();
            let truthful = if policy.rule == Public {
                public
            } else {
                bearer && says_401
            };
            if !truthful {
                untruthful.push(route);
            }
        }
    }
    assert!(
        untruthful.is_empty(),
        "the document misstates who may call: {untruthful:?}"
    );

    let t = app.seed_city_tree().await;
    let targets = targets(&app, &t).await;
    let sibling_secretary = app
        .caller(
            &[
                (Role::BranchSecretary, Some(&t.branch_a1b)),
                (Role::Member, Some(&t.branch_a1b)),
            ],
            Some(&t.member_a1b),
        )
        .await;
    let other_county_admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_b))], None)
        .await;
    let other_member = app
        .caller(&[(Role::Member, Some(&t.branch_a1c))], Some(&t.member_a1c))
        .await;
    let villager = app
        .caller(&[(Role::Public, Some(&t.branch_a1a))], None)
        .await;
    let legal_expert = Caller {
        account_id: targets["narrow_expert_account"].clone(),
        token: targets["narrow_expert_token"].clone(),
    };
    let outsiders = [
        ("(a) sibling branch secretary", &sibling_secretary),
        ("(b) other county's org admin", &other_county_admin),
        ("(c) member of another branch", &other_member),
        ("(e) public villager of the branch", &villager),
        ("(f) expert serving the town", &legal_expert),
    ];
    let sa = app.super_admin().await;

    let mut failures = Vec::new();
    let mut checked = 0;
    for op in &operations {
        let Some(policy) = table.get(op.as_str()) else {
            continue;
        };
        let (method, pattern) = op.split_once(' ').unwrap();
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let path = fill(policy.call, &targets);
        assert!(
            !path.contains('{'),
            "{op}: unknown placeholder in {:?} (known: {:?})",
            policy.call,
            targets.keys().collect::<Vec<_>>()
        );
        assert!(
            matches_pattern(pattern, &path),
            "{op}: the call path {path:?} does not fit the route"
        );
        let body: Option<Value> = policy.body.map(|b| {
            serde_json::from_str(&fill(b, &targets))
                .unwrap_or_else(|e| panic!("{op}: body is not JSON: {e}"))
        });
        let send = |who: Option<&Caller>| {
            let mut rb = app.client.request(method.clone(), app.url(&path));
            if let Some(c) = who {
                rb = rb.header("authorization", c.bearer());
            }
            if let Some(b) = &body {
                rb = rb.json(b);
            }
            async move {
                let resp = rb.send().await.unwrap();
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                (status, text)
            }
        };

        let (status, text) = send(None).await;
        checked += 1;
        match policy.rule {
            Public => {
                if status >= 500 {
                    failures.push(format!("{op} anonymous: {status} {text}"));
                }
                continue;
            }
            SelfOnly | Scoped | SuperAdmin | Asker => {
                if status != 401 {
                    failures.push(format!("{op} anonymous: expected 401, got {status} {text}"));
                }
            }
        }
        if policy.rule == SelfOnly {
            let fresh = app
                .caller(&[(Role::Member, Some(&t.branch_b1a))], None)
                .await;
            let (status, text) = send(Some(&fresh)).await;
            checked += 1;
            if status >= 500 {
                failures.push(format!("{op} signed in: {status} {text}"));
            }
            continue;
        }
        let probed = if policy.rule == Asker {
            3
        } else {
            outsiders.len()
        };
        for (label, who) in &outsiders[..probed] {
            let (status, text) = send(Some(who)).await;
            checked += 1;
            if status != 403 && status != 404 {
                failures.push(format!(
                    "{op} {label}: expected 403 or 404, got {status} {text}"
                ));
            }
        }
        // A control: the same GET by a super admin succeeds, so the refusals above were
        // about scope, not about a target that does not exist.
        if method == Method::GET {
            let (status, text) = send(Some(&sa)).await;
            if !(200..300).contains(&status) {
                failures.push(format!(
                    "{op} super admin control: expected 2xx, got {status} {text}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty() && missing.is_empty() && stale.is_empty(),
        "{} of {checked} calls broke the policy:\n{}\n\
         Operations without a line in POLICY (add one each): {missing:#?}\n\
         Lines in POLICY for operations that do not exist: {stale:#?}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn patterns_match_concrete_paths() {
    assert!(matches_pattern("/api/v1/orgs/{id}", "/api/v1/orgs/abc"));
    assert!(matches_pattern("/api/v1/audit", "/api/v1/audit?org_id=x"));
    assert!(!matches_pattern(
        "/api/v1/orgs/{id}",
        "/api/v1/orgs/abc/children"
    ));
    assert!(!matches_pattern("/api/v1/orgs/{id}", "/api/v1/orgs/"));
    assert!(!matches_pattern("/api/v1/org/{id}", "/api/v1/orgs/abc"));
}
