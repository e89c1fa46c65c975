//! `hongying seed-demo`: the demo city on a fresh database — its shape, its people, that
//! a second run changes nothing, and that the demo logins work through the real login.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use diesel::prelude::*;
use hongying_server::crypto::id_number::IdNumber;
use hongying_server::crypto::pii::Field;
use hongying_server::db::schema::{accounts, members, org_closure, organizations, role_grants};
use hongying_server::seed::{
    self, MODEL_VILLAGE_AWAY, MODEL_VILLAGE_CODE, MODEL_VILLAGE_SIZE, Summary,
};
use hongying_tests::{TestApp, Value, json};

/// (work unit, lost contact, note, party group) of a villager.
type VillageRow = (Option<String>, bool, Option<String>, Option<String>);

async fn run_seed(app: &TestApp) -> Option<Summary> {
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        seed::seed_demo(&mut conn, &state.pii, state.clock.now()).unwrap()
    })
    .await
    .unwrap()
}

async fn login(app: &TestApp, phone: &str, password: &str) -> String {
    let resp = app
        .post_json(
            "/api/v1/auth/login",
            &json!({"phone": phone, "password": password, "device_id": "seed-test"}),
        )
        .await;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "login {phone}: {body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let resp = app
        .client
        .get(app.url(path))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn the_demo_city_is_built_once_and_its_logins_work() {
    let app = TestApp::spawn().await;
    let summary = run_seed(&app).await.expect("a fresh database gets seeded");
    assert_eq!(summary.branches, 60);
    assert!(summary.organizations > summary.branches + 10);
    assert!(
        (1800..=2200).contains(&summary.members),
        "{}",
        summary.members
    );
    assert_eq!(summary.logins.len(), 4);

    let state = app.state.clone();
    let facts = tokio::task::spawn_blocking(move || {
        let mut c = state.db.get().unwrap();
        let orgs: i64 = organizations::table.count().get_result(&mut c).unwrap();
        let closure_self: i64 = org_closure::table
            .filter(org_closure::distance.eq(0))
            .count()
            .get_result(&mut c)
            .unwrap();
        let root: String = organizations::table
            .filter(organizations::code.eq(seed::ROOT_CODE))
            .select(organizations::id)
            .first(&mut c)
            .unwrap();
        let under_root: i64 = org_closure::table
            .filter(org_closure::ancestor_id.eq(&root))
            .count()
            .get_result(&mut c)
            .unwrap();
        let statuses: Vec<String> = members::table.select(members::status).load(&mut c).unwrap();
        let mut mix: BTreeMap<String, usize> = BTreeMap::new();
        for s in statuses {
            *mix.entry(s).or_default() += 1;
        }
        let village: String = organizations::table
            .filter(organizations::code.eq(MODEL_VILLAGE_CODE))
            .select(organizations::id)
            .first(&mut c)
            .unwrap();
        let village_rows: Vec<VillageRow> = members::table
            .filter(members::org_id.eq(&village))
            .select((
                members::work_unit,
                members::lost_contact,
                members::note,
                members::party_group_id,
            ))
            .load(&mut c)
            .unwrap();
        let flagged: i64 = members::table
            .filter(
                members::discipline_until
                    .is_not_null()
                    .or(members::rights_suspended.eq(true))
                    .or(members::membership_stopped.eq(true))
                    .or(members::lost_contact.eq(true)),
            )
            .count()
            .get_result(&mut c)
            .unwrap();
        // Every ID number decrypts to a valid number matching the stored birth date.
        let ids: Vec<(String, String, Option<chrono::NaiveDate>)> = members::table
            .select((members::id, members::id_number_enc, members::birth_date))
            .load(&mut c)
            .unwrap();
        for (id, enc, birth) in &ids {
            let plain = state.pii.decrypt(Field::IdNumber, id, enc).unwrap();
            assert_eq!(IdNumber::parse(&plain).unwrap().birth_date(), *birth);
        }
        let accounts: i64 = accounts::table.count().get_result(&mut c).unwrap();
        let grants: i64 = role_grants::table.count().get_result(&mut c).unwrap();
        (
            orgs,
            closure_self,
            under_root,
            mix,
            village_rows,
            flagged,
            accounts,
            grants,
        )
    })
    .await
    .unwrap();
    let (orgs, closure_self, under_root, mix, village_rows, flagged, accounts, grants) = facts;
    assert_eq!(orgs as usize, summary.organizations);
    assert_eq!(
        closure_self, orgs,
        "a (x, x, 0) closure row per organization"
    );
    assert_eq!(under_root, orgs, "the whole tree hangs off the 市委");
    let total: usize = mix.values().sum();
    assert_eq!(total, summary.members);
    assert!(
        mix["full"] * 100 / total >= 60,
        "mostly full members: {mix:?}"
    );
    for s in ["probationary", "activist", "candidate", "applicant"] {
        assert!(mix.get(s).copied().unwrap_or(0) >= 20, "some {s}: {mix:?}");
    }
    assert!(flagged >= 5, "a few flags: {flagged}");
    assert_eq!(village_rows.len(), MODEL_VILLAGE_SIZE);
    let away: Vec<_> = village_rows
        .iter()
        .filter(|(unit, _, _, _)| unit.as_deref().is_some_and(|u| u.starts_with("外出务工")))
        .collect();
    assert_eq!(away.len(), MODEL_VILLAGE_AWAY);
    assert!(
        away.iter()
            .all(|(_, lost, note, _)| !lost && note.is_some())
    );
    assert!(
        village_rows.iter().all(|(_, _, _, group)| group.is_some()),
        "every villager is in a 党小组"
    );
    assert_eq!(accounts, 4);
    assert!(grants >= 5);

    // A second run changes nothing.
    assert!(run_seed(&app).await.is_none());
    let state = app.state.clone();
    let again: i64 = tokio::task::spawn_blocking(move || {
        members::table
            .count()
            .get_result(&mut state.db.get().unwrap())
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(again as usize, summary.members);

    // The demo logins work through the real login and see what their role allows.
    let by_role = |needle: &str| {
        summary
            .logins
            .iter()
            .find(|l| l.role.contains(needle))
            .unwrap()
            .clone()
    };
    let secretary = by_role("branch_secretary");
    let token = login(&app, &secretary.phone, secretary.password).await;
    let state = app.state.clone();
    let village: String = tokio::task::spawn_blocking(move || {
        organizations::table
            .filter(organizations::code.eq(MODEL_VILLAGE_CODE))
            .select(organizations::id)
            .first(&mut state.db.get().unwrap())
            .unwrap()
    })
    .await
    .unwrap();
    let (status, page) = get(
        &app,
        &token,
        &format!("/api/v1/orgs/{village}/members?limit=200"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), MODEL_VILLAGE_SIZE);
    let any = page["items"][0]["id"].as_str().unwrap();
    let (status, revealed) = get(&app, &token, &format!("/api/v1/members/{any}?reveal=true")).await;
    assert_eq!(status, 200, "{revealed}");
    assert!(IdNumber::parse(revealed["id_number"].as_str().unwrap()).is_ok());

    let city = by_role("市委");
    let token = login(&app, &city.phone, city.password).await;
    let (status, page) = get(
        &app,
        &token,
        &format!("/api/v1/orgs/{village}/members?subtree=true&limit=1"),
    )
    .await;
    assert_eq!(status, 200, "{page}");

    let member = by_role("member");
    let token = login(&app, &member.phone, member.password).await;
    let (status, page) = get(
        &app,
        &token,
        &format!("/api/v1/orgs/{village}/members?limit=5"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page["items"][0].get("id_number").is_none(),
        "members see names only"
    );
    let county = by_role("县委");
    login(&app, &county.phone, county.password).await;
}
