//! The organization tree over HTTP: creating, reading, listing, searching, moving,
//! updating with optimistic concurrency, the 党小组 rules, term defaults, posts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use hongying_server::auth::Role;
use hongying_tests::fixtures::Caller;
use hongying_tests::reqwest::Method;
use hongying_tests::{TestApp, Value, call, expect_problem, json, ok_json};

async fn create(app: &TestApp, who: &Caller, body: Value) -> Value {
    ok_json(
        call(app, who, Method::POST, "/api/v1/orgs", Some(body)).await,
        201,
    )
    .await
}

/// Every id of a paged listing, following `next_cursor`, with the number of pages.
async fn collect_pages(app: &TestApp, who: &Caller, path: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}cursor={c}"),
            None => path.to_string(),
        };
        let page = ok_json(call(app, who, Method::GET, &url, None).await, 200).await;
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            ids.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 100, "runaway paging");
    }
    (ids, pages)
}

#[tokio::test]
async fn a_tree_is_built_and_read_with_labels() {
    let app = TestApp::spawn().await;
    let admin = app.super_admin().await;
    let city = create(
        &app,
        &admin,
        json!({"name": "红鹰市委", "kind": "party_committee", "domain": "agency", "code": "4104"}),
    )
    .await;
    assert_eq!(city["depth"], 0);
    assert_eq!(city["kind_label_zh"], "党委");
    assert_eq!(city["domain_label_zh"], "机关");
    assert_eq!(city["status"], "normal");
    assert_eq!(city["version"], 1);
    let city_id = city["id"].as_str().unwrap();
    let county = create(
        &app,
        &admin,
        json!({"parent_id": city_id, "name": "甲县县委", "kind": "party_committee", "domain": "agency"}),
    )
    .await;
    assert_eq!(county["depth"], 1);
    assert_eq!(county["parent_id"], city_id);
    let branch = create(
        &app,
        &admin,
        json!({"parent_id": county["id"], "name": "东村党支部", "kind": "branch", "domain": "rural",
               "address": "东村村委会", "can_approve_members": false}),
    )
    .await;
    assert_eq!(branch["depth"], 2);
    assert_eq!(branch["kind_label_zh"], "党支部");

    let resp = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/orgs/{}", branch["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(resp.headers()["etag"], "\"1\"");
    let read = ok_json(resp, 200).await;
    assert_eq!(read["name"], "东村党支部");
    assert_eq!(read["address"], "东村村委会");
    assert_eq!(read["posts"], json!([]));

    // The code is unique.
    let dup = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": "另一个", "kind": "party_committee", "domain": "agency", "code": "4104"})),
    )
    .await;
    expect_problem(dup, 409, "already_exists").await;
    // Unknown kinds and fields are refused by shape.
    let bad = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": "x", "kind": "village", "domain": "agency"})),
    )
    .await;
    expect_problem(bad, 400, "invalid_body").await;
    // An unknown id is 404, also for a super admin.
    let missing = call(&app, &admin, Method::GET, "/api/v1/orgs/nope", None).await;
    expect_problem(missing, 404, "not_found").await;
}

#[tokio::test]
async fn only_a_super_admin_creates_a_root_and_admins_create_in_scope() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let city_admin = app.caller(&[(Role::OrgAdmin, Some(&t.city))], None).await;
    let root = call(
        &app,
        &city_admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": "另一市委", "kind": "party_committee", "domain": "agency"})),
    )
    .await;
    expect_problem(root, 403, "forbidden").await;

    let county_admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    // Below its own county, at any depth.
    let new_branch = create(
        &app,
        &county_admin,
        json!({"parent_id": t.town_a1, "name": "新村党支部", "kind": "branch", "domain": "rural"}),
    )
    .await;
    assert_eq!(new_branch["depth"], 3);
    // Under the other county: not revealed.
    let other = call(
        &app,
        &county_admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"parent_id": t.town_b1, "name": "x", "kind": "branch", "domain": "rural"})),
    )
    .await;
    expect_problem(other, 404, "not_found").await;
    // A branch secretary reads the branch but may not create below it.
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await;
    let group = call(
        &app,
        &secretary,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"parent_id": t.branch_a1a, "name": "第二小组", "kind": "party_group", "domain": "rural"})),
    )
    .await;
    expect_problem(group, 403, "forbidden").await;
    // Anonymous callers are not told anything.
    let anon = app
        .post_json(
            "/api/v1/orgs",
            &json!({"name": "x", "kind": "branch", "domain": "rural"}),
        )
        .await;
    expect_problem(anon, 401, "unauthenticated").await;
}

#[tokio::test]
async fn children_are_listed_in_cursor_pages() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let mut made = vec![
        t.branch_a1a.clone(),
        t.branch_a1b.clone(),
        t.branch_a1c.clone(),
    ];
    for i in 0..4 {
        let b = create(
            &app,
            &admin,
            json!({"parent_id": t.town_a1, "name": format!("第{i}村党支部"), "kind": "branch", "domain": "rural"}),
        )
        .await;
        made.push(b["id"].as_str().unwrap().to_string());
    }
    let (ids, pages) = collect_pages(
        &app,
        &admin,
        &format!("/api/v1/orgs/{}/children?limit=3", t.town_a1),
    )
    .await;
    assert_eq!(pages, 3, "7 children in pages of 3");
    // Creation order, no duplicates, nothing from elsewhere.
    assert_eq!(ids, made);
    let (all, pages) = collect_pages(
        &app,
        &admin,
        &format!("/api/v1/orgs/{}/children", t.town_a1),
    )
    .await;
    assert_eq!((all.len(), pages), (7, 1));

    let bad = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/orgs/{}/children?cursor=zzz", t.town_a1),
        None,
    )
    .await;
    expect_problem(bad, 400, "invalid_cursor").await;
    // A cursor of another listing is refused too.
    let sub = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/subtree?limit=1", t.county_a),
            None,
        )
        .await,
        200,
    )
    .await;
    let foreign = sub["next_cursor"].as_str().unwrap();
    let bad = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/orgs/{}/children?cursor={foreign}", t.town_a1),
        None,
    )
    .await;
    expect_problem(bad, 400, "invalid_cursor").await;
    let unknown = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/orgs/{}/children?page=2", t.town_a1),
        None,
    )
    .await;
    let p = expect_problem(unknown, 400, "invalid_query").await;
    // serde's English ("unknown field `page`, expected …") does not reach a person.
    assert_eq!(p["detail"], "查询参数无效：不认识的参数 page。", "{p}");

    // A member reads the own branch but gets no listings; outside scope: 404.
    let member = app
        .caller(&[(Role::Member, Some(&t.branch_a1a))], Some(&t.member_a1a))
        .await;
    let own = call(
        &app,
        &member,
        Method::GET,
        &format!("/api/v1/orgs/{}/children", t.branch_a1a),
        None,
    )
    .await;
    expect_problem(own, 403, "forbidden").await;
    let other = call(
        &app,
        &member,
        Method::GET,
        &format!("/api/v1/orgs/{}/children", t.branch_b1a),
        None,
    )
    .await;
    expect_problem(other, 404, "not_found").await;
}

#[tokio::test]
async fn subtree_search_filters_by_name_kind_and_domain() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let get_ids = |v: &Value| -> BTreeSet<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/subtree", t.county_a),
            None,
        )
        .await,
        200,
    )
    .await;
    let expected: BTreeSet<String> = [
        &t.town_a1,
        &t.town_a2,
        &t.branch_a1a,
        &t.branch_a1b,
        &t.branch_a1c,
        &t.branch_a2a,
        &t.group_a1a,
    ]
    .into_iter()
    .cloned()
    .collect();
    assert_eq!(
        get_ids(&all),
        expected,
        "the county itself and county B excluded"
    );
    // Ordered by depth.
    let depths: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["depth"].as_i64().unwrap())
        .collect();
    assert!(depths.windows(2).all(|w| w[0] <= w[1]), "{depths:?}");

    let branches = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/subtree?kind=branch", t.county_a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(get_ids(&branches).len(), 4);
    let by_name = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/subtree?q=%E4%B8%9C%E6%9D%91", t.county_a),
            None,
        )
        .await,
        200,
    )
    .await;
    // "东村": the branch and its party group.
    assert_eq!(
        get_ids(&by_name),
        [t.branch_a1a.clone(), t.group_a1a.clone()]
            .into_iter()
            .collect()
    );
    let by_both = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!(
                "/api/v1/orgs/{}/subtree?q=%E4%B8%9C%E6%9D%91&kind=party_group",
                t.county_a
            ),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        get_ids(&by_both),
        [t.group_a1a.clone()].into_iter().collect()
    );
    let agency = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/subtree?domain=agency", t.county_a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(get_ids(&agency).is_empty());
    // LIKE wildcards match literally.
    let pct = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/subtree?q=%25", t.county_a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(get_ids(&pct).is_empty());
    // Paging the whole subtree gives the same set.
    let (paged, pages) = collect_pages(
        &app,
        &admin,
        &format!("/api/v1/orgs/{}/subtree?limit=2", t.county_a),
    )
    .await;
    assert_eq!(pages, 4);
    assert_eq!(paged.len(), 7);
    assert_eq!(paged.iter().cloned().collect::<BTreeSet<_>>(), expected);
    // Another county's subtree is not revealed.
    let other = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/orgs/{}/subtree", t.county_b),
        None,
    )
    .await;
    expect_problem(other, 404, "not_found").await;
    let bad_kind = call(
        &app,
        &admin,
        Method::GET,
        &format!("/api/v1/orgs/{}/subtree?kind=village", t.county_a),
        None,
    )
    .await;
    expect_problem(bad_kind, 400, "invalid_query").await;
    // Latin letters match regardless of case on both databases.
    let acme = create(
        &app,
        &admin,
        json!({"parent_id": t.town_a2, "name": "ACME 公司党支部", "kind": "branch", "domain": "private_enterprise"}),
    )
    .await;
    let found = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}/subtree?q=acme", t.county_a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        get_ids(&found),
        [acme["id"].as_str().unwrap().to_string()]
            .into_iter()
            .collect()
    );
}

async fn subtree_ids(app: &TestApp, who: &Caller, root: &str) -> BTreeSet<String> {
    collect_pages(app, who, &format!("/api/v1/orgs/{root}/subtree"))
        .await
        .0
        .into_iter()
        .collect()
}

#[tokio::test]
async fn moving_a_subtree_rewrites_the_closure() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app.super_admin().await;
    // town_a2 (with branch_a2a) from county A to below town_b1 of county B: one level deeper.
    let moved = ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/api/v1/orgs/{}/move", t.town_a2),
            Some(json!({"parent_id": t.town_b1, "version": 1})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(moved["parent_id"], t.town_b1.as_str());
    assert_eq!(moved["depth"], 3);
    assert_eq!(moved["version"], 2);
    let branch = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}", t.branch_a2a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(branch["depth"], 4, "descendants shift with the moved root");

    let under_b = subtree_ids(&app, &admin, &t.county_b).await;
    assert!(under_b.contains(&t.town_a2) && under_b.contains(&t.branch_a2a));
    let under_b1 = subtree_ids(&app, &admin, &t.town_b1).await;
    assert!(under_b1.contains(&t.branch_a2a));
    let under_a = subtree_ids(&app, &admin, &t.county_a).await;
    assert!(!under_a.contains(&t.town_a2) && !under_a.contains(&t.branch_a2a));
    let under_city = subtree_ids(&app, &admin, &t.city).await;
    assert!(
        under_city.contains(&t.branch_a2a),
        "the common ancestor keeps it"
    );

    // Scope follows the closure: county B's admin now reads the branch, county A's not.
    let admin_a = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let admin_b = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_b))], None)
        .await;
    let r = call(
        &app,
        &admin_b,
        Method::GET,
        &format!("/api/v1/orgs/{}", t.branch_a2a),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = call(
        &app,
        &admin_a,
        Method::GET,
        &format!("/api/v1/orgs/{}", t.branch_a2a),
        None,
    )
    .await;
    expect_problem(r, 404, "not_found").await;

    // Moving it back up restores depths.
    let back = ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/api/v1/orgs/{}/move", t.town_a2),
            Some(json!({"parent_id": t.county_a, "version": 2})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(back["depth"], 2);
    let branch = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}", t.branch_a2a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(branch["depth"], 3);
    assert!(
        !subtree_ids(&app, &admin, &t.county_b)
            .await
            .contains(&t.branch_a2a)
    );
    assert!(
        subtree_ids(&app, &admin, &t.county_a)
            .await
            .contains(&t.branch_a2a)
    );
}

#[tokio::test]
async fn moving_under_itself_or_a_descendant_is_refused() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app.super_admin().await;
    for target in [&t.branch_a1a, &t.town_a1, &t.county_a] {
        let r = call(
            &app,
            &admin,
            Method::POST,
            &format!("/api/v1/orgs/{}/move", t.county_a),
            Some(json!({"parent_id": target, "version": 1})),
        )
        .await;
        let body = expect_problem(r, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "parent_id");
    }
    // Nothing changed.
    let county = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}", t.county_a),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (county["parent_id"].as_str(), county["version"].as_i64()),
        (Some(t.city.as_str()), Some(1))
    );
}

#[tokio::test]
async fn moving_needs_both_parents_in_scope() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin_a = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    // Within county A: allowed, with If-Match instead of a body version.
    let r = app
        .client
        .post(app.url(&format!("/api/v1/orgs/{}/move", t.branch_a1c)))
        .header("authorization", admin_a.bearer())
        .header("if-match", "\"1\"")
        .json(&json!({"parent_id": t.town_a2}))
        .send()
        .await
        .unwrap();
    let moved = ok_json(r, 200).await;
    assert_eq!(moved["parent_id"], t.town_a2.as_str());
    // Into county B: the new parent is outside scope, not revealed.
    let r = call(
        &app,
        &admin_a,
        Method::POST,
        &format!("/api/v1/orgs/{}/move", t.branch_a1b),
        Some(json!({"parent_id": t.town_b1, "version": 1})),
    )
    .await;
    expect_problem(r, 404, "not_found").await;
    // An admin of town A1 manages the old parent but not the new one.
    let admin_a1 = app
        .caller(&[(Role::OrgAdmin, Some(&t.town_a1))], None)
        .await;
    let r = call(
        &app,
        &admin_a1,
        Method::POST,
        &format!("/api/v1/orgs/{}/move", t.branch_a1b),
        Some(json!({"parent_id": t.town_a2, "version": 1})),
    )
    .await;
    expect_problem(r, 404, "not_found").await;
    // An admin at the branch itself does not manage its parent.
    let admin_branch = app
        .caller(&[(Role::OrgAdmin, Some(&t.branch_a1b))], None)
        .await;
    let r = call(
        &app,
        &admin_branch,
        Method::POST,
        &format!("/api/v1/orgs/{}/move", t.branch_a1b),
        Some(json!({"parent_id": t.town_a2, "version": 1})),
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
    // A root moves only by a super admin.
    let city_admin = app.caller(&[(Role::OrgAdmin, Some(&t.city))], None).await;
    let r = call(
        &app,
        &city_admin,
        Method::POST,
        &format!("/api/v1/orgs/{}/move", t.city),
        Some(json!({"parent_id": t.county_a, "version": 1})),
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
}

#[tokio::test]
async fn a_stale_version_is_a_conflict() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let path = format!("/api/v1/orgs/{}", t.branch_a1a);
    let first = ok_json(
        call(
            &app,
            &admin,
            Method::PATCH,
            &path,
            Some(json!({"version": 1, "name": "东村党支部（新）", "address": "村委会二楼"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(first["version"], 2);
    assert_eq!(first["name"], "东村党支部（新）");
    // Someone who read version 1 loses.
    let stale = call(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"version": 1, "name": "旧名"})),
    )
    .await;
    expect_problem(stale, 409, "version_conflict").await;
    // If-Match carries the version too.
    let r = app
        .client
        .patch(app.url(&path))
        .header("authorization", admin.bearer())
        .header("if-match", "W/\"1\"")
        .json(&json!({"address": null}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 409, "version_conflict").await;
    let r = app
        .client
        .patch(app.url(&path))
        .header("authorization", admin.bearer())
        .header("if-match", "\"2\"")
        .json(&json!({"address": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["etag"], "\"3\"");
    let cleared = ok_json(r, 200).await;
    assert_eq!(cleared["address"], Value::Null);
    // Without any version: refused, nothing overwritten blindly.
    let r = call(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"name": "盲改"})),
    )
    .await;
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "version");
    let r = app
        .client
        .patch(app.url(&path))
        .header("authorization", admin.bearer())
        .header("if-match", "abc")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "invalid_header").await;
    // Kind and code are not updatable.
    let r = call(
        &app,
        &admin,
        Method::PATCH,
        &path,
        Some(json!({"version": 3, "kind": "joint_branch"})),
    )
    .await;
    expect_problem(r, 400, "invalid_body").await;
    // Status, approval power, domain.
    let r = ok_json(
        call(
            &app,
            &admin,
            Method::PATCH,
            &path,
            Some(json!({"version": 3, "status": "merged", "can_approve_members": true, "domain": "community"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        (r["status"].as_str(), r["status_label_zh"].as_str()),
        (Some("merged"), Some("已合并"))
    );
    assert_eq!(r["can_approve_members"], true);
    assert_eq!(r["domain"], "community");
    // A merged organization takes no new children.
    let r = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"parent_id": t.branch_a1a, "name": "新小组", "kind": "party_group", "domain": "rural"})),
    )
    .await;
    expect_problem(r, 409, "conflict").await;
}

#[tokio::test]
async fn party_groups_sit_only_under_branches_and_have_no_children() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app.super_admin().await;
    let under_town = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"parent_id": t.town_a1, "name": "镇党小组", "kind": "party_group", "domain": "rural"})),
    )
    .await;
    let body = expect_problem(under_town, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "kind");
    let root_group = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": "孤立小组", "kind": "party_group", "domain": "rural"})),
    )
    .await;
    expect_problem(root_group, 422, "validation_failed").await;
    for kind in ["branch", "party_group"] {
        let child = call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/orgs",
            Some(json!({"parent_id": t.group_a1a, "name": "小组下级", "kind": kind, "domain": "rural"})),
        )
        .await;
        let body = expect_problem(child, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "parent_id");
    }
    // Under each 支部 kind it is fine.
    for kind in ["joint_branch", "temporary_branch"] {
        let b = create(
            &app,
            &admin,
            json!({"parent_id": t.town_a1, "name": format!("{kind} 支部"), "kind": kind, "domain": "private_enterprise"}),
        )
        .await;
        create(
            &app,
            &admin,
            json!({"parent_id": b["id"], "name": "一组", "kind": "party_group", "domain": "private_enterprise"}),
        )
        .await;
    }
    // Moves obey the same rules.
    let r = call(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/orgs/{}/move", t.group_a1a),
        Some(json!({"parent_id": t.town_a1, "version": 1})),
    )
    .await;
    expect_problem(r, 422, "validation_failed").await;
    let r = call(
        &app,
        &admin,
        Method::POST,
        &format!("/api/v1/orgs/{}/move", t.branch_a1b),
        Some(json!({"parent_id": t.group_a1a, "version": 1})),
    )
    .await;
    expect_problem(r, 422, "validation_failed").await;
    let r = ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &format!("/api/v1/orgs/{}/move", t.group_a1a),
            Some(json!({"parent_id": t.branch_a1b, "version": 1})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["parent_id"], t.branch_a1b.as_str());
}

#[tokio::test]
async fn terms_default_by_domain() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app.super_admin().await;
    let rural = create(
        &app,
        &admin,
        json!({"parent_id": t.town_a1, "name": "甲村党支部", "kind": "branch", "domain": "rural", "term_start": "2024-03-01"}),
    )
    .await;
    assert_eq!(rural["term_end"], "2029-03-01");
    let community = create(
        &app,
        &admin,
        json!({"parent_id": t.town_a1, "name": "社区党支部", "kind": "branch", "domain": "community", "term_start": "2024-03-01"}),
    )
    .await;
    assert_eq!(community["term_end"], "2029-03-01");
    let school = create(
        &app,
        &admin,
        json!({"parent_id": t.town_a1, "name": "中学党支部", "kind": "branch", "domain": "school", "term_start": "2024-02-29"}),
    )
    .await;
    assert_eq!(school["term_end"], "2027-02-28");
    let explicit = create(
        &app,
        &admin,
        json!({"parent_id": t.town_a1, "name": "企业党支部", "kind": "branch", "domain": "state_enterprise",
               "term_start": "2024-03-01", "term_end": "2026-03-01"}),
    )
    .await;
    assert_eq!(explicit["term_end"], "2026-03-01");
    let none = create(
        &app,
        &admin,
        json!({"parent_id": t.town_a1, "name": "无届期", "kind": "branch", "domain": "agency"}),
    )
    .await;
    assert_eq!(none["term_end"], Value::Null);
    let backwards = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/orgs",
        Some(
            json!({"parent_id": t.town_a1, "name": "倒序", "kind": "branch", "domain": "rural",
                    "term_start": "2024-03-01", "term_end": "2024-01-01"}),
        ),
    )
    .await;
    let body = expect_problem(backwards, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "term_end");
    // A new term start on update recomputes the end from the (new) domain.
    let updated = ok_json(
        call(
            &app,
            &admin,
            Method::PATCH,
            &format!("/api/v1/orgs/{}", school["id"].as_str().unwrap()),
            Some(json!({"version": 1, "term_start": "2027-03-01", "domain": "community"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(updated["term_end"], "2032-03-01");
}

#[tokio::test]
async fn branch_leaders_rename_their_branch_but_change_nothing_structural() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await;
    let committee = app
        .caller(&[(Role::BranchCommittee, Some(&t.branch_a1a))], None)
        .await;
    let path = format!("/api/v1/orgs/{}", t.branch_a1a);
    let r = ok_json(
        call(
            &app,
            &secretary,
            Method::PATCH,
            &path,
            Some(json!({"version": 1, "name": "东村党支部委员会", "address": "新址"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["name"], "东村党支部委员会");
    let r = ok_json(
        call(
            &app,
            &committee,
            Method::PATCH,
            &path,
            Some(json!({"version": 2, "address": "旧址"})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["address"], "旧址");
    for patch in [
        json!({"version": 3, "status": "dissolved"}),
        json!({"version": 3, "can_approve_members": true}),
        json!({"version": 3, "term_start": "2024-01-01"}),
        json!({"version": 3, "domain": "agency", "name": "x"}),
    ] {
        let r = call(&app, &secretary, Method::PATCH, &path, Some(patch)).await;
        expect_problem(r, 403, "forbidden").await;
    }
    // The parent township: not the secretary's to change nor to see.
    let r = call(
        &app,
        &secretary,
        Method::PATCH,
        &format!("/api/v1/orgs/{}", t.town_a1),
        Some(json!({"version": 1, "name": "x"})),
    )
    .await;
    expect_problem(r, 404, "not_found").await;
    // A sibling secretary sees nothing.
    let sibling = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1b))], None)
        .await;
    let r = call(
        &app,
        &sibling,
        Method::PATCH,
        &path,
        Some(json!({"version": 3, "name": "x"})),
    )
    .await;
    expect_problem(r, 404, "not_found").await;
    let r = call(&app, &sibling, Method::GET, &path, None).await;
    expect_problem(r, 404, "not_found").await;
    // A member reads the own branch and the organizations above it, nothing beside it,
    // and may change nothing.
    let member = app
        .caller(&[(Role::Member, Some(&t.branch_a1a))], Some(&t.member_a1a))
        .await;
    for org in [&t.branch_a1a, &t.town_a1, &t.county_a, &t.city] {
        let r = call(
            &app,
            &member,
            Method::GET,
            &format!("/api/v1/orgs/{org}"),
            None,
        )
        .await;
        assert_eq!(r.status(), 200, "member reads {org}");
    }
    for org in [&t.branch_a1b, &t.county_b, &t.group_a1a] {
        let r = call(
            &app,
            &member,
            Method::GET,
            &format!("/api/v1/orgs/{org}"),
            None,
        )
        .await;
        expect_problem(r, 404, "not_found").await;
    }
    let r = call(
        &app,
        &member,
        Method::PATCH,
        &path,
        Some(json!({"version": 3, "name": "x"})),
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
}

#[tokio::test]
async fn committee_posts_are_held_by_members_of_the_org() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.town_a1))], None)
        .await;
    let posts = format!("/api/v1/orgs/{}/posts", t.branch_a1a);
    let sec = ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &posts,
            Some(json!({"member_id": t.member_a1a, "post": "secretary", "since": "2024-03-01"})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(sec["post_label_zh"], "书记");
    assert_eq!(sec["member_name"], "张东");
    // A member in the branch's party group may hold a branch post.
    let org_member = ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &posts,
            Some(json!({"member_id": t.member_group_a1a, "post": "organization_member"})),
        )
        .await,
        201,
    )
    .await;
    // One secretary at a time; the same post twice for one member is a duplicate.
    let r = call(
        &app,
        &admin,
        Method::POST,
        &posts,
        Some(json!({"member_id": t.member_group_a1a, "post": "secretary"})),
    )
    .await;
    expect_problem(r, 409, "conflict").await;
    let r = call(
        &app,
        &admin,
        Method::POST,
        &posts,
        Some(json!({"member_id": t.member_group_a1a, "post": "organization_member"})),
    )
    .await;
    expect_problem(r, 409, "already_exists").await;
    // Members of other branches cannot hold it; a group leader belongs in a group.
    let r = call(
        &app,
        &admin,
        Method::POST,
        &posts,
        Some(json!({"member_id": t.member_a1b, "post": "committee_member"})),
    )
    .await;
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "member_id");
    let r = call(
        &app,
        &admin,
        Method::POST,
        &posts,
        Some(json!({"member_id": t.member_a1a, "post": "group_leader"})),
    )
    .await;
    expect_problem(r, 422, "validation_failed").await;

    let read = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}", t.branch_a1a),
            None,
        )
        .await,
        200,
    )
    .await;
    let held: Vec<&str> = read["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["post"].as_str().unwrap())
        .collect();
    assert_eq!(held, ["secretary", "organization_member"]);

    // The branch secretary appoints the group leader but not branch posts.
    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await;
    let leader = ok_json(
        call(
            &app,
            &secretary,
            Method::POST,
            &format!("/api/v1/orgs/{}/posts", t.group_a1a),
            Some(json!({"member_id": t.member_group_a1a, "post": "group_leader"})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(leader["org_id"], t.group_a1a.as_str());
    let r = call(
        &app,
        &secretary,
        Method::POST,
        &posts,
        Some(json!({"member_id": t.member_a1a, "post": "propaganda_member"})),
    )
    .await;
    expect_problem(r, 403, "forbidden").await;

    // Ending a post removes it from the current list; ending twice is a conflict.
    let end = format!(
        "/api/v1/orgs/{}/posts/{}/end",
        t.branch_a1a,
        org_member["id"].as_str().unwrap()
    );
    let r = call(
        &app,
        &admin,
        Method::POST,
        &end,
        Some(json!({"until": "2000-01-01"})),
    )
    .await;
    expect_problem(r, 422, "validation_failed").await;
    let ended = ok_json(
        call(&app, &admin, Method::POST, &end, Some(json!({}))).await,
        200,
    )
    .await;
    assert!(ended["until"].is_string());
    let r = call(&app, &admin, Method::POST, &end, Some(json!({}))).await;
    expect_problem(r, 409, "conflict").await;
    // An ended post (until today) still counts today; ending in the past drops it.
    let sec_end = format!(
        "/api/v1/orgs/{}/posts/{}/end",
        t.branch_a1a,
        sec["id"].as_str().unwrap()
    );
    ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &sec_end,
            Some(json!({"until": "2024-12-31"})),
        )
        .await,
        200,
    )
    .await;
    let read = ok_json(
        call(
            &app,
            &admin,
            Method::GET,
            &format!("/api/v1/orgs/{}", t.branch_a1a),
            None,
        )
        .await,
        200,
    )
    .await;
    let held: Vec<&str> = read["posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["post"].as_str().unwrap())
        .collect();
    assert_eq!(held, ["organization_member"]);
    // A new secretary may now be appointed.
    ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            &posts,
            Some(json!({"member_id": t.member_group_a1a, "post": "secretary"})),
        )
        .await,
        201,
    )
    .await;
    // A post of another organization is not found through this one.
    let wrong = format!(
        "/api/v1/orgs/{}/posts/{}/end",
        t.branch_a1b,
        leader["id"].as_str().unwrap()
    );
    let r = call(
        &app,
        &app.super_admin().await,
        Method::POST,
        &wrong,
        Some(json!({})),
    )
    .await;
    expect_problem(r, 404, "not_found").await;
}

/// The closure rows as stored, and as the parent links say they should be.
async fn closure_vs_parent_links(
    app: &TestApp,
) -> (
    BTreeSet<(String, String, i32)>,
    BTreeSet<(String, String, i32)>,
    Vec<(String, i32, i32)>,
) {
    use diesel::prelude::*;
    use hongying_server::db::schema::{org_closure, organizations};
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        let stored: BTreeSet<(String, String, i32)> = org_closure::table
            .select((
                org_closure::ancestor_id,
                org_closure::descendant_id,
                org_closure::distance,
            ))
            .load(&mut conn)
            .unwrap()
            .into_iter()
            .collect();
        let orgs: Vec<(String, Option<String>, i32)> = organizations::table
            .select((
                organizations::id,
                organizations::parent_id,
                organizations::depth,
            ))
            .load(&mut conn)
            .unwrap();
        let parent: std::collections::HashMap<String, Option<String>> = orgs
            .iter()
            .map(|(id, p, _)| (id.clone(), p.clone()))
            .collect();
        let mut expected = BTreeSet::new();
        let mut depths = Vec::new();
        for (id, _, depth) in &orgs {
            let mut cur = Some(id.clone());
            let mut dist = 0;
            while let Some(c) = cur {
                expected.insert((c.clone(), id.clone(), dist));
                cur = parent[&c].clone();
                dist += 1;
                assert!(dist < 100, "cycle in parent links");
            }
            depths.push((id.clone(), *depth, dist - 1));
        }
        (stored, expected, depths)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_closure_table_matches_the_parent_links_after_moves() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app.super_admin().await;
    let moves = [
        (&t.town_a1, &t.county_b, 1),
        (&t.branch_a1a, &t.town_b1, 1),
        (&t.county_a, &t.town_b1, 1),
        (&t.town_a1, &t.city, 2),
        (&t.branch_a1a, &t.branch_a2a, 2),
    ];
    for (i, (org, parent, version)) in moves.iter().enumerate() {
        let r = call(
            &app,
            &admin,
            Method::POST,
            &format!("/api/v1/orgs/{org}/move"),
            Some(json!({"parent_id": parent, "version": version})),
        )
        .await;
        // The last one puts a branch under a branch: allowed (only 党小组 are restricted).
        assert_eq!(r.status(), 200, "move {i}: {}", r.text().await.unwrap());
        let (stored, expected, depths) = closure_vs_parent_links(&app).await;
        assert_eq!(stored, expected, "closure after move {i}");
        for (id, depth, walked) in depths {
            assert_eq!(depth, walked, "stored depth of {id} after move {i}");
        }
    }
}

/// 发文简称: derived from the name without the party's own prefix, set by the committee's
/// administrators (not by a branch secretary), checked, and cleared back to the derived one.
#[tokio::test]
async fn a_committee_sets_the_abbreviation_its_letters_carry() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_a))], None)
        .await;
    let created = ok_json(
        call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/orgs",
            Some(json!({"parent_id": t.county_a, "name": "中共堂街镇委员会",
                        "kind": "party_committee", "domain": "rural"})),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(created["letter_abbr"], "堂", "{created}");
    let path = format!("/api/v1/orgs/{}", created["id"].as_str().unwrap());
    let patch = |body: Value| call(&app, &admin, Method::PATCH, &path, Some(body));

    for bad in ["", "ab", "堂街镇党委", "1号"] {
        let r = patch(json!({"version": 1, "letter_abbr": bad})).await;
        let p = expect_problem(r, 422, "validation_failed").await;
        assert!(p.to_string().contains("发文简称"), "{bad:?}: {p}");
    }
    let set = ok_json(
        patch(json!({"version": 1, "letter_abbr": "堂街"})).await,
        200,
    )
    .await;
    assert_eq!(set["letter_abbr"], "堂街");
    let cleared = ok_json(patch(json!({"version": 2, "letter_abbr": null})).await, 200).await;
    assert_eq!(cleared["letter_abbr"], "堂");

    let secretary = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await;
    let r = call(
        &app,
        &secretary,
        Method::PATCH,
        &format!("/api/v1/orgs/{}", t.branch_a1a),
        Some(json!({"version": 1, "letter_abbr": "东"})),
    )
    .await;
    expect_problem(r, 403, "forbidden").await;
}
