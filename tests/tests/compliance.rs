//! The compliance calendar over HTTP: versioned rules per locality (the nearest ancestor's
//! version in force at the period's start, else the built-in defaults), what each branch
//! held in a period (ended, minutes submitted, quorate where a quorum rule applies), the
//! subtree's totals, paging, and who may ask.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_server::auth::Role;
use hongying_tests::api;
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::Method;
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

struct World {
    app: TestApp,
    tree: CityTree,
    /// org_admin of 甲一镇 (town_a1): manages the meetings of its branches.
    town: Caller,
}

impl World {
    async fn post(&self, who: &Caller, path: &str, body: Value) -> Value {
        api::post(&self.app, who, path, body, 200).await
    }

    async fn get(&self, who: &Caller, path: &str) -> Value {
        api::get(&self.app, who, path).await
    }

    /// Holds a meeting of `kind` at `org` from start to submitted minutes, with `present`
    /// checked in; `host` hosts and records. Returns its id.
    async fn hold(&self, org: &str, kind: &str, host: (&str, &Caller), present: &[&str]) -> String {
        let (host, signer) = host;
        let m = ok_json(
            call(
                &self.app,
                &self.town,
                Method::POST,
                &format!("/api/v1/orgs/{org}/meetings"),
                Some(json!({
                    "kind": kind,
                    "title": format!("{kind} 测试"),
                    "scheduled_start": "2026-11-30T02:00:00Z",
                    "scheduled_end": "2026-11-30T04:00:00Z",
                    "mode": "in_person",
                    "host_member_id": host,
                    "recorder_member_id": host
                })),
            )
            .await,
            201,
        )
        .await;
        let id = m["id"].as_str().unwrap().to_string();
        for action in ["schedule", "start"] {
            self.post(
                &self.town,
                &format!("/api/v1/meetings/{id}/{action}"),
                json!(null),
            )
            .await;
        }
        for member in present {
            self.post(
                &self.town,
                &format!("/api/v1/meetings/{id}/attendance"),
                json!({"member_id": member, "mode": "in_person", "action": "arrive"}),
            )
            .await;
        }
        self.post(
            &self.town,
            &format!("/api/v1/meetings/{id}/end"),
            json!(null),
        )
        .await;
        for as_ in ["host", "recorder"] {
            self.post(
                signer,
                &format!("/api/v1/meetings/{id}/minutes/sign"),
                json!({"as": as_}),
            )
            .await;
        }
        self.post(
            &self.town,
            &format!("/api/v1/meetings/{id}/minutes/submit"),
            json!(null),
        )
        .await;
        id
    }

    async fn report(&self, who: &Caller, org: &str, query: &str) -> Value {
        self.get(who, &format!("/api/v1/orgs/{org}/compliance?{query}"))
            .await
    }
}

fn branch<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["org_id"] == id)
        .unwrap_or_else(|| panic!("{id} not in {report}"))
}

fn req<'a>(b: &'a Value, kind: &str) -> &'a Value {
    b["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind)
        .unwrap_or_else(|| panic!("{kind} not in {b}"))
}

#[tokio::test]
async fn branches_are_judged_by_their_localitys_rules_and_what_they_held() {
    let app = TestApp::spawn().await;
    let tree = app.seed_city_tree().await;
    let town = app
        .caller(&[(Role::OrgAdmin, Some(tree.town_a1.as_str()))], None)
        .await;
    let w = World { app, tree, town };
    let t = &w.tree;

    // Rules: the town sets its own (version 1 from Q4, version 2 from next year).
    let rules_path = format!("/api/v1/orgs/{}/compliance-rules", t.town_a1);
    let v1 = json!({"effective_from": "2026-10-01", "rules": [
        {"kind": "congress", "every": "quarter", "count": 1},
        {"kind": "lecture", "every": "quarter", "count": 1}]});
    let secretary = w
        .app
        .caller(
            &[(Role::BranchSecretary, Some(t.branch_a1a.as_str()))],
            None,
        )
        .await;
    let resp = call(
        &w.app,
        &secretary,
        Method::PUT,
        &format!("/api/v1/orgs/{}/compliance-rules", t.branch_a1a),
        Some(v1.clone()),
    )
    .await;
    expect_problem(resp, 403, "forbidden").await;
    let dup = json!({"rules": [{"kind": "congress", "every": "quarter", "count": 1},
        {"kind": "congress", "every": "month", "count": 1}]});
    let resp = call(&w.app, &w.town, Method::PUT, &rules_path, Some(dup)).await;
    expect_problem(resp, 422, "validation_failed").await;
    let set = ok_json(
        call(&w.app, &w.town, Method::PUT, &rules_path, Some(v1)).await,
        200,
    )
    .await;
    assert_eq!(set["version"], 1);
    assert_eq!(set["rules"][0]["applies"], "all");
    let v2 = json!({"effective_from": "2027-01-01", "rules": [
        {"kind": "congress", "every": "quarter", "count": 1},
        {"kind": "theme_day", "every": "month", "count": 1}]});
    let set = ok_json(
        call(&w.app, &w.town, Method::PUT, &rules_path, Some(v2)).await,
        200,
    )
    .await;
    assert_eq!(set["version"], 2);

    // The branch sees the town's version in force; a branch of another town the defaults.
    let member = w
        .app
        .caller(
            &[(Role::Member, Some(t.branch_a1a.as_str()))],
            Some(&t.member_a1a),
        )
        .await;
    let seen = w
        .get(
            &member,
            &format!("/api/v1/orgs/{}/compliance-rules", t.branch_a1a),
        )
        .await;
    assert_eq!(
        (seen["org_id"].as_str(), seen["version"].as_i64()),
        (Some(t.town_a1.as_str()), Some(1))
    );
    let later = w
        .get(
            &member,
            &format!(
                "/api/v1/orgs/{}/compliance-rules?on=2027-02-01",
                t.branch_a1a
            ),
        )
        .await;
    assert_eq!(later["version"], 2);
    let super_admin = w.app.super_admin().await;
    let defaults = w
        .get(
            &super_admin,
            &format!("/api/v1/orgs/{}/compliance-rules", t.branch_a2a),
        )
        .await;
    assert!(defaults["org_id"].is_null());
    assert_eq!(defaults["rules"].as_array().unwrap().len(), 7);

    // What the branches held this quarter.
    let signer_b = w
        .app
        .caller(
            &[(Role::Member, Some(t.branch_a1b.as_str()))],
            Some(&t.member_a1b),
        )
        .await;
    let congress_a = w
        .hold(
            &t.branch_a1a,
            "congress",
            (&t.member_a1a, &member),
            &[&t.member_a1a, &t.member_group_a1a],
        )
        .await;
    w.hold(
        &t.branch_a1a,
        "lecture",
        (&t.member_a1a, &member),
        &[&t.member_a1a],
    )
    .await;
    // 西村's congress had nobody there: not quorate, so it does not count.
    let congress_b = w
        .hold(&t.branch_a1b, "congress", (&t.member_a1b, &signer_b), &[])
        .await;
    w.hold(&t.branch_a1b, "lecture", (&t.member_a1b, &signer_b), &[])
        .await;
    // A meeting whose minutes are not submitted does not count either.
    let m = ok_json(
        call(
            &w.app,
            &w.town,
            Method::POST,
            &format!("/api/v1/orgs/{}/meetings", t.branch_a1c),
            Some(json!({"kind": "congress", "title": "南村大会", "scheduled_start": "2026-11-30T02:00:00Z",
                "scheduled_end": "2026-11-30T04:00:00Z", "mode": "in_person"})),
        )
        .await,
        201,
    )
    .await;
    let id = m["id"].as_str().unwrap();
    for action in ["schedule", "start"] {
        w.post(
            &w.town,
            &format!("/api/v1/meetings/{id}/{action}"),
            json!(null),
        )
        .await;
    }
    w.post(
        &w.town,
        &format!("/api/v1/meetings/{id}/attendance"),
        json!({"member_id": t.member_a1c, "mode": "in_person", "action": "arrive"}),
    )
    .await;
    w.post(&w.town, &format!("/api/v1/meetings/{id}/end"), json!(null))
        .await;

    let r = w.report(&w.town, &t.town_a1, "period=2026-Q4").await;
    assert_eq!(
        r["period"],
        json!({"label": "2026-Q4", "unit": "quarter", "start": "2026-10-01", "end": "2026-12-31"})
    );
    assert_eq!(r["totals"]["branches"], 3);
    assert_eq!(r["totals"]["compliant"], 1);
    assert_eq!(r["totals"]["share"], 0.3333);
    let a = branch(&r, &t.branch_a1a);
    assert_eq!(a["compliant"], true);
    assert_eq!(
        (a["rules_org_id"].as_str(), a["rules_version"].as_i64()),
        (Some(t.town_a1.as_str()), Some(1))
    );
    let c = req(a, "congress");
    assert_eq!(
        (
            c["required"].as_u64(),
            c["held"].as_u64(),
            c["missing"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(c["meeting_ids"], json!([congress_a]));
    let b = branch(&r, &t.branch_a1b);
    assert_eq!(b["compliant"], false);
    let c = req(b, "congress");
    assert_eq!(
        (c["held"].as_u64(), c["missing"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(
        !c["meeting_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(congress_b))
    );
    assert_eq!(req(b, "lecture")["held"], 1, "no quorum rule for a 党课");
    assert_eq!(req(branch(&r, &t.branch_a1c), "congress")["missing"], 1);

    // Paging over branches keeps the totals.
    let p1 = w
        .report(&w.town, &t.town_a1, "period=2026-Q4&limit=2")
        .await;
    assert_eq!(p1["items"].as_array().unwrap().len(), 2);
    let cursor = p1["next_cursor"].as_str().unwrap();
    let p2 = w
        .report(
            &w.town,
            &t.town_a1,
            &format!("period=2026-Q4&limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(p2["items"].as_array().unwrap().len(), 1);
    assert!(p2["next_cursor"].is_null());
    assert_eq!(p2["totals"], p1["totals"]);
    let mut seen: Vec<String> = p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(p2["items"].as_array().unwrap())
        .map(|b| b["org_id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    let mut expected = vec![
        t.branch_a1a.clone(),
        t.branch_a1b.clone(),
        t.branch_a1c.clone(),
    ];
    expected.sort();
    assert_eq!(seen, expected);

    // November alone: the quarterly rules are not due yet, so every branch complies.
    let nov = w.report(&w.town, &t.town_a1, "period=2026-11").await;
    assert_eq!(nov["totals"]["compliant"], 3);
    assert_eq!(req(branch(&nov, &t.branch_a1a), "congress")["required"], 0);
    // The whole year: four quarters each, three of them missed.
    let year = w.report(&w.town, &t.town_a1, "period=2026").await;
    let c = req(branch(&year, &t.branch_a1a), "congress");
    assert_eq!(
        (
            c["required"].as_u64(),
            c["held"].as_u64(),
            c["missing"].as_u64()
        ),
        (Some(4), Some(1), Some(3))
    );

    // The county: the other town's branch falls back to the built-in defaults.
    let county = w
        .app
        .caller(&[(Role::OrgAdmin, Some(t.county_a.as_str()))], None)
        .await;
    let r = w.report(&county, &t.county_a, "period=2026-Q4").await;
    assert_eq!(r["totals"]["branches"], 4);
    let d = branch(&r, &t.branch_a2a);
    assert!(d["rules_org_id"].is_null());
    assert_eq!(d["has_committee"], false);
    let committee = req(d, "committee");
    assert_eq!(
        (
            committee["applicable"].as_bool(),
            committee["required"].as_u64()
        ),
        (Some(false), Some(0))
    );
    assert_eq!(req(d, "theme_day")["required"], 3);
    assert_eq!(req(d, "party_group")["required"], 0, "no party groups");
    assert_eq!(
        req(d, "life_meeting")["required"],
        1,
        "Q4 holds the year's last month"
    );
    assert_eq!(d["compliant"], false);

    // Who may ask, and how.
    let resp = call(
        &w.app,
        &w.town,
        Method::GET,
        &format!("/api/v1/orgs/{}/compliance?period=2026-Q5", t.town_a1),
        None,
    )
    .await;
    expect_problem(resp, 400, "invalid_query").await;
    let resp = call(
        &w.app,
        &member,
        Method::GET,
        &format!("/api/v1/orgs/{}/compliance?period=2026-Q4", t.branch_a1a),
        None,
    )
    .await;
    expect_problem(resp, 403, "forbidden").await;
    let outsider = w
        .app
        .caller(&[(Role::OrgAdmin, Some(t.county_b.as_str()))], None)
        .await;
    let resp = call(
        &w.app,
        &outsider,
        Method::GET,
        &format!("/api/v1/orgs/{}/compliance?period=2026-Q4", t.town_a1),
        None,
    )
    .await;
    expect_problem(resp, 404, "not_found").await;
    let resp = call(
        &w.app,
        &outsider,
        Method::PUT,
        &rules_path,
        Some(json!({"rules": []})),
    )
    .await;
    expect_problem(resp, 404, "not_found").await;
}
