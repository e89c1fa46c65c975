//! Roster import: a file with bad rows is reported row by row and writes nothing; a valid
//! file imported twice changes nothing the second time; GB18030 CSV; an xlsx whose ID
//! number cell is a number; `partial`; the CLI path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::prelude::*;
use hongying_server::auth::Role;
use hongying_server::crypto::id_number::check_char;
use hongying_server::db::schema::{audit_log, members, organizations};
use hongying_tests::fixtures::{Caller, CityTree};
use hongying_tests::reqwest::Response;
use hongying_tests::{TestApp, Value, expect_problem};

const HEADER: &str = "姓名,性别,民族,公民身份号码,手机号码,学历,工作单位,所在支部,人员类别,申请入党日期,确定积极分子日期,确定发展对象日期,加入党组织日期,转为正式党员日期";
const CSV: &str = "text/csv";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn idn(birth: &str, seq: u32, male: bool) -> String {
    let seq = seq * 2 + u32::from(male);
    let first17 = format!("410425{birth}{:03}", seq % 1000);
    format!("{first17}{}", check_char(&first17).unwrap())
}

/// A CSV line of a full member of branch `code` (empty: the import's organization).
fn full(name: &str, id: &str, phone: &str, code: &str) -> String {
    format!(
        "{name},,汉族,{id},{phone},高中,务农,{code},正式党员,2010-03-01,2010-09-01,2011-10-01,2012-05-01,2013-05-02"
    )
}

async fn upload(
    app: &TestApp,
    who: &Caller,
    org: &str,
    query: &str,
    mime: &str,
    body: Vec<u8>,
) -> Response {
    app.client
        .post(app.url(&format!("/api/v1/orgs/{org}/members/import{query}")))
        .header("authorization", who.bearer())
        .header("content-type", mime)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn report(resp: Response) -> Value {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn code_of(app: &TestApp, org_id: &str) -> String {
    let state = app.state.clone();
    let id = org_id.to_string();
    tokio::task::spawn_blocking(move || {
        organizations::table
            .find(id)
            .select(organizations::code)
            .first::<String>(&mut state.db.get().unwrap())
            .unwrap()
    })
    .await
    .unwrap()
}

async fn member_count(app: &TestApp) -> i64 {
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        members::table
            .count()
            .get_result::<i64>(&mut state.db.get().unwrap())
            .unwrap()
    })
    .await
    .unwrap()
}

async fn audits(app: &TestApp, action: &str) -> i64 {
    let state = app.state.clone();
    let action = action.to_string();
    tokio::task::spawn_blocking(move || {
        audit_log::table
            .filter(audit_log::action.eq(action))
            .count()
            .get_result::<i64>(&mut state.db.get().unwrap())
            .unwrap()
    })
    .await
    .unwrap()
}

/// The (row, column, code) of each issue of a report or problem body.
fn issues(body: &Value) -> Vec<(u64, String, String)> {
    if let Some(items) = body["issues"].as_array() {
        return items
            .iter()
            .map(|i| {
                (
                    i["row"].as_u64().unwrap(),
                    i["column"].as_str().unwrap().into(),
                    i["code"].as_str().unwrap().into(),
                )
            })
            .collect();
    }
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let field = e["field"].as_str().unwrap();
            let (row, column) = field.trim_start_matches("rows[").split_once("].").unwrap();
            (
                row.parse().unwrap(),
                column.into(),
                e["code"].as_str().unwrap().into(),
            )
        })
        .collect()
}

async fn town_admin(app: &TestApp, t: &CityTree) -> Caller {
    app.caller(&[(Role::OrgAdmin, Some(&t.town_a1))], None)
        .await
}

#[tokio::test]
async fn bad_rows_are_each_reported_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = town_admin(&app, &t).await;
    let a1a = code_of(&app, &t.branch_a1a).await;
    let b1a = code_of(&app, &t.branch_b1a).await;
    // Someone already on the roster of another branch (in another county).
    let elsewhere = idn("19700101", 1, true);
    let sa = app.super_admin().await;
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/orgs/{}/members", t.branch_b1a)))
        .header("authorization", sa.bearer())
        .json(&serde_json::json!({"name": "他处", "id_number": elsewhere, "status": "applicant", "applied_on": "2020-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let a1b_holder = idn("19700101", 2, true);
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/orgs/{}/members", t.branch_a1b)))
        .header("authorization", sa.bearer())
        .json(&serde_json::json!({"name": "西村人", "id_number": a1b_holder, "status": "applicant", "applied_on": "2020-01-01"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let before = member_count(&app).await;

    let good = idn("19800101", 3, true);
    let mut bad_checksum = idn("19800101", 4, true);
    let last = if bad_checksum.ends_with('1') {
        "2"
    } else {
        "1"
    };
    bad_checksum.replace_range(17..18, last);
    let lines = [
        HEADER.to_string(),
        full("张好", &good, "13800000001", &a1a), // 2: valid
        full("李校验", &bad_checksum, "", &a1a),  // 3: bad checksum
        full("王无支部", &idn("19800101", 5, true), "", "NO-SUCH"), // 4: unknown branch
        full("赵重复", &good, "", &a1a),          // 5: duplicate of row 2
        full("钱他县", &idn("19800101", 6, true), "", &b1a), // 6: branch outside the import's scope
        "孙日期,,汉族,".to_string()
            + &idn("19800101", 7, true)
            + ",,,,,正式党员,2010-03-01,2010-09-01,2011-10-01,2012-13-01,2013-05-02", // 7: bad date
        "周类别,,汉族,".to_string() + &idn("19800101", 8, true) + ",,,,,群众,,,,,", // 8: unknown status
        full("吴他处", &elsewhere, "", &a1a), // 9: on another branch's roster
        full("郑手机", &idn("19800101", 9, true), "13800000001", &a1a), // 10: phone of row 2
        ",,汉族,".to_string() + &idn("19800101", 10, true) + ",,,,,申请人,2020-01-01,,,,", // 11: no name, no branch
        full("西村人", &a1b_holder, "", &a1a), // 12: on a sibling branch's roster
    ];
    let body = lines.join("\n").into_bytes();
    let p = expect_problem(
        upload(&app, &admin, &t.town_a1, "", CSV, body.clone()).await,
        422,
        "import_invalid",
    )
    .await;
    let got = issues(&p);
    for expected in [
        (3, "公民身份号码", "invalid_id_number"),
        (4, "所在支部", "unknown_branch"),
        (5, "公民身份号码", "duplicate_in_file"),
        (6, "所在支部", "unknown_branch"),
        (7, "加入党组织日期", "bad_date"),
        (8, "人员类别", "unknown_status"),
        (9, "公民身份号码", "member_in_other_branch"),
        (10, "手机号码", "duplicate_in_file"),
        (11, "姓名", "required"),
        (11, "所在支部", "branch_required"),
        (12, "公民身份号码", "member_in_other_branch"),
    ] {
        assert!(
            got.contains(&(expected.0, expected.1.to_string(), expected.2.to_string())),
            "missing {expected:?} in {got:?}"
        );
    }
    assert!(
        got.iter().all(|(row, _, _)| *row != 2),
        "row 2 is valid: {got:?}"
    );
    for e in p["errors"].as_array().unwrap() {
        let msg = e["message"].as_str().unwrap();
        assert!(
            msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "{msg}"
        );
    }
    assert_eq!(member_count(&app).await, before, "nothing written");
    assert_eq!(audits(&app, "member.import").await, 0);
    // A dry run reports the same and writes nothing either.
    let p = expect_problem(
        upload(&app, &admin, &t.town_a1, "?dry_run=true", CSV, body).await,
        422,
        "import_invalid",
    )
    .await;
    assert_eq!(issues(&p), got);
    assert_eq!(member_count(&app).await, before);

    // A file without the required columns is refused as a whole.
    let p = expect_problem(
        upload(
            &app,
            &admin,
            &t.town_a1,
            "",
            CSV,
            "姓名,民族\n张三,汉族\n".as_bytes().to_vec(),
        )
        .await,
        422,
        "import_invalid",
    )
    .await;
    let got = issues(&p);
    assert!(
        got.contains(&(1, "公民身份号码".into(), "missing_column".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&(1, "人员类别".into(), "missing_column".into())),
        "{got:?}"
    );
    // Not a roster file; not allowed; outside scope.
    let resp = upload(
        &app,
        &admin,
        &t.town_a1,
        "",
        "application/json",
        b"{}".to_vec(),
    )
    .await;
    expect_problem(resp, 415, "unsupported_media_type").await;
    let p = expect_problem(
        upload(&app, &admin, &t.town_a1, "", XLSX, b"not a zip".to_vec()).await,
        422,
        "import_invalid",
    )
    .await;
    assert_eq!(p["errors"][0]["code"], "unreadable");
    let member = app
        .caller(&[(Role::Member, Some(&t.branch_a1a))], Some(&t.member_a1a))
        .await;
    expect_problem(
        upload(
            &app,
            &member,
            &t.branch_a1a,
            "",
            CSV,
            HEADER.as_bytes().to_vec(),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let other = app
        .caller(&[(Role::OrgAdmin, Some(&t.county_b))], None)
        .await;
    expect_problem(
        upload(
            &app,
            &other,
            &t.town_a1,
            "",
            CSV,
            HEADER.as_bytes().to_vec(),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_valid_file_imported_twice_changes_nothing_the_second_time() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = town_admin(&app, &t).await;
    let (a1a, a1b) = (
        code_of(&app, &t.branch_a1a).await,
        code_of(&app, &t.branch_a1b).await,
    );
    let ids = [
        idn("19750505", 20, true),
        idn("19760606", 21, false),
        idn("19990909", 22, true),
    ];
    let rows = vec![
        HEADER.to_string(),
        full("甲一", &ids[0], "13800000011", &a1a),
        full("乙二", &ids[1], "", &a1b),
        format!(
            "丙三,男,回族,{},,本科,县中学,{a1a},积极分子,2024-01-05,2024-06-01,,,",
            ids[2]
        ),
    ];
    // Excel's "CSV UTF-8" starts with a byte order mark.
    let mut file = vec![0xEF, 0xBB, 0xBF];
    file.extend(rows.join("\r\n").as_bytes());
    let before = member_count(&app).await;

    let dry =
        report(upload(&app, &admin, &t.town_a1, "?dry_run=true", CSV, file.clone()).await).await;
    assert_eq!(
        (dry["created"].as_u64(), dry["committed"].as_bool()),
        (Some(3), Some(false))
    );
    assert_eq!(member_count(&app).await, before);

    let first = report(upload(&app, &admin, &t.town_a1, "", CSV, file.clone()).await).await;
    assert_eq!(first["rows"], 3);
    assert_eq!(first["created"], 3);
    assert_eq!(first["committed"], true);
    assert_eq!(member_count(&app).await, before + 3);
    assert_eq!(audits(&app, "member.import").await, 1);
    assert_eq!(audits(&app, "member.create").await, 3);
    // The member with a phone got an account, like one entered by hand.
    assert_eq!(audits(&app, "account.provisioned").await, 1);

    let second = report(upload(&app, &admin, &t.town_a1, "", CSV, file.clone()).await).await;
    assert_eq!(
        (
            second["created"].as_u64(),
            second["unchanged"].as_u64(),
            second["updated"].as_u64(),
            second["committed"].as_bool()
        ),
        (Some(0), Some(3), Some(0), Some(false))
    );
    assert_eq!(member_count(&app).await, before + 3);
    assert_eq!(
        audits(&app, "member.import").await,
        1,
        "an import that changes nothing leaves no trace"
    );

    // A changed work unit updates; an empty cell clears nothing; a changed status is refused.
    let mut changed = rows.clone();
    changed[1] = changed[1].replace("务农", "外出务工（广东省深圳市）");
    changed[2] = changed[2].replace("高中", "");
    let third = report(
        upload(
            &app,
            &admin,
            &t.town_a1,
            "",
            CSV,
            changed.join("\n").into_bytes(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (third["updated"].as_u64(), third["unchanged"].as_u64()),
        (Some(1), Some(2))
    );
    changed[3] = changed[3].replace(
        "积极分子,2024-01-05,2024-06-01,",
        "发展对象,2024-01-05,2024-06-01,2025-07-01",
    );
    let p = expect_problem(
        upload(
            &app,
            &admin,
            &t.town_a1,
            "",
            CSV,
            changed.join("\n").into_bytes(),
        )
        .await,
        422,
        "import_invalid",
    )
    .await;
    assert_eq!(
        issues(&p),
        vec![(4, "人员类别".to_string(), "status_differs".to_string())]
    );

    let list: Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/orgs/{}/members?name_prefix=甲",
            t.branch_a1a
        )))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["work_unit"], "外出务工（广东省深圳市）");
    assert_eq!(list["items"][0]["version"], 2);
    let list: Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/orgs/{}/members?name_prefix=乙",
            t.branch_a1b
        )))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["version"], 1);
    assert_eq!(list["items"][0]["gender"], "female");
}

#[tokio::test]
async fn a_gb18030_csv_is_decoded() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await;
    let text = [
        HEADER.to_string(),
        full("欧阳鑫", &idn("19820304", 30, true), "", ""),
        full("上官婉儿", &idn("19820305", 31, false), "", ""),
    ]
    .join("\n");
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    assert!(std::str::from_utf8(&bytes).is_err(), "really not UTF-8");
    let r = report(
        upload(
            &app,
            &admin,
            &t.branch_a1a,
            "",
            "text/csv; charset=gb18030",
            bytes.to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!(r["created"], 2);
    let list: Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/orgs/{}/members?name_prefix=上官",
            t.branch_a1a
        )))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"][0]["name"], "上官婉儿");
}

fn xlsx(rows: &[[XCell; 5]]) -> Vec<u8> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for (col, h) in [
        "姓名",
        "公民身份号码",
        "人员类别",
        "申请入党日期",
        "手机号码",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, col as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                XCell::Text(s) => {
                    sheet.write_string(r, c, s.as_str()).unwrap();
                }
                XCell::Number(n) => {
                    sheet.write_number(r, c, *n).unwrap();
                }
                XCell::Date(y, m, d) => {
                    sheet
                        .write_datetime_with_format(
                            r,
                            c,
                            ExcelDateTime::from_ymd(*y, *m, *d).unwrap(),
                            &date,
                        )
                        .unwrap();
                }
                XCell::Empty => {}
            }
        }
    }
    book.save_to_buffer().unwrap()
}

enum XCell {
    Text(String),
    Number(f64),
    Date(u16, u8, u8),
    Empty,
}

#[tokio::test]
async fn an_xlsx_id_number_stored_as_a_number_is_refused_and_partial_keeps_the_rest() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::BranchSecretary, Some(&t.branch_a1a))], None)
        .await;
    let as_text = idn("19900101", 40, true);
    let as_number = idn("19900101", 41, true);
    let with_date = idn("19900101", 42, false);
    use XCell::*;
    let file = xlsx(&[
        [
            Text("文本号".into()),
            Text(as_text.clone()),
            Text("申请人".into()),
            Text("2021/3/4".into()),
            Empty,
        ],
        [
            Text("数字号".into()),
            Number(as_number[..15].parse().unwrap()),
            Text("申请人".into()),
            Text("2021-03-04".into()),
            Empty,
        ],
        [
            Text("日期格".into()),
            Text(with_date.clone()),
            Text("入党申请人".into()),
            Date(2021, 3, 4),
            Number(13_800_000_021.0),
        ],
    ]);
    let before = member_count(&app).await;
    let p = expect_problem(
        upload(&app, &admin, &t.branch_a1a, "", XLSX, file.clone()).await,
        422,
        "import_invalid",
    )
    .await;
    assert_eq!(
        issues(&p),
        vec![(
            3,
            "公民身份号码".to_string(),
            "id_number_not_text".to_string()
        )]
    );
    assert!(
        p["errors"][0]["message"].as_str().unwrap().contains("文本"),
        "{p}"
    );
    assert_eq!(member_count(&app).await, before);

    let r = report(upload(&app, &admin, &t.branch_a1a, "?partial=true", XLSX, file).await).await;
    assert_eq!(
        (
            r["created"].as_u64(),
            r["rejected"].as_u64(),
            r["committed"].as_bool(),
            r["valid"].as_bool()
        ),
        (Some(2), Some(1), Some(true), Some(true))
    );
    assert_eq!(
        issues(&r),
        vec![(
            3,
            "公民身份号码".to_string(),
            "id_number_not_text".to_string()
        )]
    );
    assert_eq!(member_count(&app).await, before + 2);
    let list: Value = app
        .client
        .get(app.url(&format!(
            "/api/v1/orgs/{}/members?status=applicant",
            t.branch_a1a
        )))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"日期格") && names.contains(&"文本号"));
    let dated = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "日期格")
        .unwrap();
    // A phone typed as a number keeps its digits.
    assert_eq!(dated["phone"], "138****0021");
}

#[tokio::test]
async fn partial_csv_writes_the_valid_rows() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let admin = app
        .caller(&[(Role::BranchCommittee, Some(&t.branch_a1a))], None)
        .await;
    let rows = [
        HEADER.to_string(),
        full("好一", &idn("19700707", 50, true), "", ""),
        // Candidate less than a year after becoming an activist.
        format!(
            "坏二,,汉族,{},,,,,发展对象,2020-01-01,2020-03-01,2020-09-01,,",
            idn("19700707", 51, true)
        ),
        full("好三", &idn("19700707", 52, false), "", ""),
    ];
    let before = member_count(&app).await;
    let r = report(
        upload(
            &app,
            &admin,
            &t.branch_a1a,
            "?partial=true",
            CSV,
            rows.join("\n").into_bytes(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (r["created"].as_u64(), r["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        issues(&r),
        vec![(
            3,
            "确定发展对象日期".to_string(),
            "invalid_record".to_string()
        )]
    );
    assert_eq!(member_count(&app).await, before + 2);
    assert_eq!(audits(&app, "member.import").await, 1);
}

#[tokio::test]
async fn the_cli_imports_a_file_by_organization_code() {
    let app = TestApp::spawn().await;
    let t = app.seed_city_tree().await;
    let code = code_of(&app, &t.branch_a1a).await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("名册.csv");
    std::fs::write(
        &good,
        [
            HEADER.to_string(),
            full("命令行", &idn("19660606", 60, true), "", ""),
        ]
        .join("\n"),
    )
    .unwrap();
    let bad = dir.path().join("坏.csv");
    std::fs::write(
        &bad,
        [HEADER.to_string(), full("坏", "123", "", "")].join("\n"),
    )
    .unwrap();
    let config = (*app.state.config).clone();
    let before = member_count(&app).await;
    let (g, b, c) = (good.clone(), bad.clone(), code.clone());
    let cfg = config.clone();
    let results = tokio::task::spawn_blocking(move || {
        let dry = hongying_server::import::cli::run_members(&cfg, &g, &c, true, false);
        let real = hongying_server::import::cli::run_members(&cfg, &g, &c, false, false);
        let again = hongying_server::import::cli::run_members(&cfg, &g, &c, false, false);
        let invalid = hongying_server::import::cli::run_members(&cfg, &b, &c, false, false);
        let unknown =
            hongying_server::import::cli::run_members(&cfg, &g, "NO-SUCH-ORG", false, false);
        (
            dry.is_ok(),
            real.is_ok(),
            again.is_ok(),
            invalid.is_err(),
            unknown.is_err(),
        )
    })
    .await
    .unwrap();
    assert_eq!(results, (true, true, true, true, true));
    assert_eq!(member_count(&app).await, before + 1);
    // Audited as the system.
    let state = app.state.clone();
    let actor: Option<String> = tokio::task::spawn_blocking(move || {
        audit_log::table
            .filter(audit_log::action.eq("member.import"))
            .select(audit_log::actor_account_id)
            .first(&mut state.db.get().unwrap())
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(actor.as_deref(), Some("system"));
}
