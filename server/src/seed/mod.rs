//! `hongying seed-demo`: a demo city shaped like Pingdingshan (平顶山) — the 市委, two
//! counties with their townships and villages, an agency line, a school, a company, a
//! hospital and a community — with about 2,000 people at every stage of membership and
//! four demo logins.
//!
//! Deterministic (a fixed random seed) and idempotent: when the city's root code exists
//! already it changes nothing. The members are written directly (not one audited create
//! each: the seed is one audited act, `demo.seed`), with their personal data encrypted
//! and a first history row each, like any other member. Bulk members get no accounts;
//! only the demo logins have them.

pub mod people;

use chrono::NaiveDate;
use hongying_proto::members::MemberStatus;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use crate::auth::{Role, password};
use crate::config::Config;
use crate::crypto::pii::{Field, Pii};
use crate::db::{self, AnyConnection, Db, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::today_cn;
use crate::store::accounts::{
    self as accounts, KIND_MEMBER, KIND_STAFF, NewAccount, STATUS_ACTIVE,
};
use crate::store::audit;
use crate::store::members::{self as members, HistoryRow, MemberRow};
use crate::store::orgs::{self as orgs, NewOrg, PostRow};
use people::{Person, Registry, Setting};

/// The code of the city's root organization; its presence means "already seeded".
pub const ROOT_CODE: &str = "PDS";
/// The village whose branch secretary and member have demo logins: 59 members, 22 of
/// whom work away from home.
pub const MODEL_VILLAGE_CODE: &str = "JX-TJ-01";
pub const MODEL_VILLAGE_SIZE: usize = 59;
pub const MODEL_VILLAGE_AWAY: usize = 22;

/// A demo login printed at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoLogin {
    pub role: &'static str,
    pub name: String,
    pub org: String,
    pub phone: String,
    pub password: &'static str,
}

/// What the seed made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub organizations: usize,
    pub branches: usize,
    pub members: usize,
    pub logins: Vec<DemoLogin>,
}

struct OrgPlan {
    code: String,
    name: String,
    kind: &'static str,
    domain: &'static str,
    parent: Option<String>,
    approve: bool,
    /// For member-holding organizations: how many people, of which kind, from where.
    people: Option<(usize, Setting, &'static str)>,
}

fn org(
    code: &str,
    name: &str,
    kind: &'static str,
    domain: &'static str,
    parent: Option<&str>,
) -> OrgPlan {
    OrgPlan {
        code: code.into(),
        name: name.into(),
        kind,
        domain,
        parent: parent.map(str::to_string),
        approve: kind == "party_committee" && parent.is_some(),
        people: None,
    }
}

fn branch(
    code: &str,
    name: &str,
    domain: &'static str,
    parent: &str,
    size: usize,
    setting: Setting,
    region: &'static str,
) -> OrgPlan {
    OrgPlan {
        people: Some((size, setting, region)),
        ..org(code, name, "branch", domain, Some(parent))
    }
}

const BAOFENG: &str = "410421";
const JIAXIAN: &str = "410425";
const XINHUA: &str = "410402";

/// The whole tree, parents before children.
fn plan() -> Vec<OrgPlan> {
    let mut p = vec![
        org(
            ROOT_CODE,
            "中共平顶山市委员会",
            "party_committee",
            "agency",
            None,
        ),
        org(
            "PDS-JG",
            "中共平顶山市直属机关工作委员会",
            "work_committee",
            "agency",
            Some(ROOT_CODE),
        ),
        branch(
            "PDS-JG-CZ",
            "市财政局机关党支部",
            "agency",
            "PDS-JG",
            34,
            Setting::Agency,
            XINHUA,
        ),
        branch(
            "PDS-JG-JY",
            "市教育局机关党支部",
            "agency",
            "PDS-JG",
            28,
            Setting::Agency,
            XINHUA,
        ),
        org(
            "PDS-YZ",
            "中共平顶山市第一高级中学委员会",
            "party_committee",
            "school",
            Some(ROOT_CODE),
        ),
        branch(
            "PDS-YZ-01",
            "第一高级中学高一年级党支部",
            "school",
            "PDS-YZ",
            26,
            Setting::School,
            XINHUA,
        ),
        branch(
            "PDS-YZ-02",
            "第一高级中学高二年级党支部",
            "school",
            "PDS-YZ",
            24,
            Setting::School,
            XINHUA,
        ),
        branch(
            "PDS-YZ-03",
            "第一高级中学退休教师党支部",
            "school",
            "PDS-YZ",
            22,
            Setting::School,
            XINHUA,
        ),
        org(
            "PDS-PM",
            "中共平煤神马集团一矿委员会",
            "party_committee",
            "state_enterprise",
            Some(ROOT_CODE),
        ),
        branch(
            "PDS-PM-01",
            "一矿机关党支部",
            "state_enterprise",
            "PDS-PM",
            40,
            Setting::Company,
            XINHUA,
        ),
        branch(
            "PDS-PM-02",
            "一矿采煤一队党支部",
            "state_enterprise",
            "PDS-PM",
            45,
            Setting::Company,
            XINHUA,
        ),
        branch(
            "PDS-PM-03",
            "一矿机电队党支部",
            "state_enterprise",
            "PDS-PM",
            38,
            Setting::Company,
            XINHUA,
        ),
        org(
            "BF",
            "中共宝丰县委员会",
            "party_committee",
            "agency",
            Some(ROOT_CODE),
        ),
        org(
            "JX",
            "中共郏县委员会",
            "party_committee",
            "agency",
            Some(ROOT_CODE),
        ),
        org(
            "JX-JG",
            "中共郏县县直机关工作委员会",
            "work_committee",
            "agency",
            Some("JX"),
        ),
        branch(
            "JX-JG-01",
            "县人民医院党支部",
            "public_institution",
            "JX-JG",
            36,
            Setting::Hospital,
            JIAXIAN,
        ),
        branch(
            "JX-JG-02",
            "县农业农村局机关党支部",
            "agency",
            "JX-JG",
            25,
            Setting::Agency,
            JIAXIAN,
        ),
        org(
            "JX-LS",
            "中共郏县龙山街道工作委员会",
            "work_committee",
            "community",
            Some("JX"),
        ),
        branch(
            "JX-LS-01",
            "龙山街道东关社区党支部",
            "community",
            "JX-LS",
            33,
            Setting::Community,
            JIAXIAN,
        ),
        branch(
            "JX-LS-02",
            "龙山街道西关社区党支部",
            "community",
            "JX-LS",
            29,
            Setting::Community,
            JIAXIAN,
        ),
    ];
    let townships: [(&str, &str, &str, &'static str, &[&str]); 6] = [
        (
            "BF-YZ",
            "BF",
            "杨庄镇",
            BAOFENG,
            &[
                "杨庄",
                "马店",
                "张庄",
                "段庄",
                "洪庄杨",
                "袁庄",
                "观音堂",
                "军营",
            ],
        ),
        (
            "BF-ZZ",
            "BF",
            "赵庄镇",
            BAOFENG,
            &[
                "赵庄",
                "大黄",
                "文庄",
                "南张庄",
                "崔庄",
                "何庄",
                "新庄",
                "王庄",
            ],
        ),
        (
            "BF-SQ",
            "BF",
            "石桥镇",
            BAOFENG,
            &[
                "石桥",
                "韩店",
                "翟集",
                "冯庄",
                "小店",
                "龙王沟",
                "黄庄",
                "曹庄",
            ],
        ),
        (
            "JX-TJ",
            "JX",
            "堂街镇",
            JIAXIAN,
            &[
                "马街",
                "临沣寨",
                "朱洼",
                "东街",
                "西街",
                "姚庄",
                "邢庄",
                "前王庄",
            ],
        ),
        (
            "JX-XD",
            "JX",
            "薛店镇",
            JIAXIAN,
            &[
                "薛店",
                "冢王",
                "下宋",
                "吕庄",
                "北王庄",
                "桥头",
                "望城岗",
                "范庄",
            ],
        ),
        (
            "JX-CB",
            "JX",
            "茨芭镇",
            JIAXIAN,
            &[
                "茨芭",
                "山头赵",
                "苏庄",
                "胡沟",
                "刘楼",
                "店刘",
                "北马庄",
                "齐村",
            ],
        ),
    ];
    // Village sizes cycle through a spread typical of the region's villages.
    let sizes = [34, 29, 38, 27, 36, 31, 33, 28];
    for (code, county, town, region, villages) in townships {
        p.push(org(
            code,
            &format!("中共{town}委员会"),
            "party_committee",
            "rural",
            Some(county),
        ));
        for (i, v) in villages.iter().enumerate() {
            let vcode = format!("{code}-{:02}", i + 1);
            if vcode == MODEL_VILLAGE_CODE {
                // Over 50 members: a 党总支 holding its members, with 党小组 below.
                p.push(OrgPlan {
                    people: Some((MODEL_VILLAGE_SIZE, Setting::Village, region)),
                    ..org(
                        &vcode,
                        &format!("{v}村党总支部"),
                        "general_branch",
                        "rural",
                        Some(code),
                    )
                });
                for g in 1..=3 {
                    p.push(org(
                        &format!("{vcode}-G{g}"),
                        &format!("{v}村第{}党小组", ["一", "二", "三"][g - 1]),
                        "party_group",
                        "rural",
                        Some(&vcode),
                    ));
                }
            } else {
                p.push(branch(
                    &vcode,
                    &format!("{v}村党支部"),
                    "rural",
                    code,
                    sizes[i % sizes.len()],
                    Setting::Village,
                    region,
                ));
            }
        }
    }
    p
}

const AWAY_PLACES: &[&str] = &[
    "广东省深圳市",
    "广东省东莞市",
    "浙江省杭州市",
    "江苏省苏州市",
    "北京市",
    "上海市",
    "郑州市",
    "新疆乌鲁木齐市",
];

fn work_unit(setting: Setting, org_name: &str, rng: &mut StdRng) -> String {
    use rand::Rng;
    match setting {
        Setting::Village => {
            let village = org_name.split('村').next().unwrap_or(org_name);
            ["务农", "务农", "个体经营", "村委会"][rng.gen_range(0..4)]
                .replace("村委会", &format!("{village}村村民委员会"))
        }
        Setting::Community => "龙山街道辖区居民".into(),
        Setting::Agency => org_name.trim_end_matches("机关党支部").to_string(),
        Setting::School => "平顶山市第一高级中学".into(),
        Setting::Company => "平煤神马集团一矿".into(),
        Setting::Hospital => "郏县人民医院".into(),
    }
}

/// The demo logins: phone, password, who.
const CITY_ADMIN: (&str, &str) = ("13900000001", "Demo@2026city");
const COUNTY_ADMIN: (&str, &str) = ("13900000002", "Demo@2026county");
const SECRETARY: (&str, &str) = ("13900000003", "Demo@2026branch");
const MEMBER: (&str, &str) = ("13900000004", "Demo@2026member");

/// Builds the demo city, or returns `None` when it exists already.
pub fn seed_demo(
    conn: &mut AnyConnection,
    pii: &Pii,
    now: chrono::NaiveDateTime,
) -> AppResult<Option<Summary>> {
    if members::org_by_code(conn, ROOT_CODE)?.is_some() {
        return Ok(None);
    }
    // Real organizations may use codes of the plan; the demo never mixes with them.
    for o in plan() {
        if members::org_by_code(conn, &o.code)?.is_some() {
            return Err(AppError::Conflict {
                code: hongying_proto::ErrorCode::AlreadyExists,
                detail: format!("组织代码 {} 已被使用，无法生成演示数据。", o.code),
            });
        }
    }
    let today = today_cn(now);
    // Hash outside the transaction: Argon2 is slow on purpose.
    let hashes = [CITY_ADMIN, COUNTY_ADMIN, SECRETARY, MEMBER].map(|(_, pw)| password::hash(pw));
    let [city_hash, county_hash, secretary_hash, member_hash] = hashes;
    let (city_hash, county_hash, secretary_hash, member_hash) =
        (city_hash?, county_hash?, secretary_hash?, member_hash?);
    write_tx(conn, |c| {
        // Checked again inside the write lock, so two concurrent seeds cannot both run.
        if members::org_by_code(c, ROOT_CODE)?.is_some() {
            return Ok(None);
        }
        let mut rng = StdRng::seed_from_u64(20_261_128);
        let mut reg = Registry::default();
        for (phone, _) in [CITY_ADMIN, COUNTY_ADMIN, SECRETARY, MEMBER] {
            reg.reserve_phone(phone);
        }
        let mut summary = Summary::default();
        let mut ids: std::collections::HashMap<String, (String, i32)> = Default::default();
        let mut model_groups: Vec<String> = Vec::new();
        let mut member_logins = Vec::new();
        let term_start = NaiveDate::from_ymd_opt(2024, 3, 1);
        for o in plan() {
            let id = new_id();
            let (parent_id, depth) = match &o.parent {
                Some(p) => {
                    let (pid, d) = ids.get(p).cloned().ok_or_else(|| {
                        AppError::Internal(anyhow::anyhow!("seed plan: parent {p} before child"))
                    })?;
                    (Some(pid), d + 1)
                }
                None => (None, 0),
            };
            let term_end = term_start.and_then(|s| {
                let years = if matches!(o.domain, "rural" | "community") {
                    5
                } else {
                    3
                };
                s.checked_add_months(chrono::Months::new(12 * years))
            });
            orgs::insert(
                c,
                &NewOrg {
                    id: &id,
                    code: &o.code,
                    name: &o.name,
                    kind: o.kind,
                    domain: o.domain,
                    parent_id: parent_id.as_deref(),
                    depth,
                    can_approve_members: o.approve,
                    term_start: (o.kind != "party_group").then_some(term_start).flatten(),
                    term_end: (o.kind != "party_group").then_some(term_end).flatten(),
                    address: None,
                    letter_abbr: None,
                    now,
                },
            )?;
            ids.insert(o.code.clone(), (id.clone(), depth));
            summary.organizations += 1;
            if o.people.is_some() {
                summary.branches += 1;
            }
            if o.kind == "party_group" && o.parent.as_deref() == Some(MODEL_VILLAGE_CODE) {
                model_groups.push(id.clone());
            }
        }
        for o in plan() {
            let Some((size, setting, region)) = o.people else {
                continue;
            };
            let (org_id, _) = ids.get(&o.code).cloned().unwrap_or_default();
            let model = o.code == MODEL_VILLAGE_CODE;
            let groups = if model {
                model_groups.clone()
            } else {
                Vec::new()
            };
            for i in 0..size {
                let mut p = people::person(&mut rng, &mut reg, region, setting, today);
                let mut unit = work_unit(setting, &o.name, &mut rng);
                let mut note = None;
                if model {
                    if i < MODEL_VILLAGE_AWAY {
                        let place = AWAY_PLACES[i % AWAY_PLACES.len()];
                        unit = format!("外出务工（{place}）");
                        note = Some(format!("常年在{place}务工，保持联系，参加线上组织生活"));
                        p.lost_contact = false;
                    }
                    // The two demo people of the model village.
                    if i == MODEL_VILLAGE_AWAY || i == MODEL_VILLAGE_AWAY + 1 {
                        p = people::person(&mut rng, &mut reg, region, setting, today);
                        while p.status != MemberStatus::Full
                            || p.discipline_until.is_some()
                            || p.rights_suspended
                            || p.membership_stopped
                            || p.lost_contact
                        {
                            p = people::person(&mut rng, &mut reg, region, setting, today);
                        }
                        p.phone = Some(
                            if i == MODEL_VILLAGE_AWAY {
                                SECRETARY.0
                            } else {
                                MEMBER.0
                            }
                            .into(),
                        );
                    }
                }
                let group = (!groups.is_empty()).then(|| groups[i % groups.len()].clone());
                let member_id = insert_person(c, pii, &p, &org_id, group, unit, note, now, today)?;
                summary.members += 1;
                if model && i == MODEL_VILLAGE_AWAY {
                    let account = demo_account(
                        c,
                        pii,
                        SECRETARY.0,
                        &p.name,
                        Some(&member_id),
                        &secretary_hash,
                        now,
                    )?;
                    accounts::ensure_grant(
                        c,
                        &account,
                        Role::BranchSecretary.as_str(),
                        Some(&org_id),
                        None,
                        now,
                    )?;
                    accounts::ensure_grant(
                        c,
                        &account,
                        Role::Member.as_str(),
                        Some(&org_id),
                        None,
                        now,
                    )?;
                    orgs::insert_post(
                        c,
                        &PostRow {
                            id: new_id(),
                            org_id: org_id.clone(),
                            post: "secretary".into(),
                            member_id: member_id.clone(),
                            since: term_start.unwrap_or(today),
                            until: None,
                            created_at: now,
                        },
                    )?;
                    member_logins.push(DemoLogin {
                        role: "支部书记（branch_secretary）",
                        name: p.name.clone(),
                        org: o.name.clone(),
                        phone: SECRETARY.0.into(),
                        password: SECRETARY.1,
                    });
                }
                if model && i == MODEL_VILLAGE_AWAY + 1 {
                    let account = demo_account(
                        c,
                        pii,
                        MEMBER.0,
                        &p.name,
                        Some(&member_id),
                        &member_hash,
                        now,
                    )?;
                    accounts::ensure_grant(
                        c,
                        &account,
                        Role::Member.as_str(),
                        Some(&org_id),
                        None,
                        now,
                    )?;
                    member_logins.push(DemoLogin {
                        role: "党员（member）",
                        name: p.name.clone(),
                        org: o.name.clone(),
                        phone: MEMBER.0.into(),
                        password: MEMBER.1,
                    });
                }
            }
        }
        for (code, (phone, pw), hash, name, role) in [
            (
                ROOT_CODE,
                CITY_ADMIN,
                &city_hash,
                "市委组织部管理员",
                "市委组织部（org_admin）",
            ),
            (
                "JX",
                COUNTY_ADMIN,
                &county_hash,
                "郏县县委组织部管理员",
                "县委组织部（org_admin）",
            ),
        ] {
            let (org_id, _) = ids.get(code).cloned().unwrap_or_default();
            let account = demo_account(c, pii, phone, name, None, hash, now)?;
            accounts::ensure_grant(
                c,
                &account,
                Role::OrgAdmin.as_str(),
                Some(&org_id),
                None,
                now,
            )?;
            let org_name = plan()
                .into_iter()
                .find(|o| o.code == code)
                .map(|o| o.name)
                .unwrap_or_default();
            summary.logins.push(DemoLogin {
                role,
                name: name.into(),
                org: org_name,
                phone: phone.into(),
                password: pw,
            });
        }
        summary.logins.extend(member_logins);
        let (root_id, _) = ids.get(ROOT_CODE).cloned().unwrap_or_default();
        audit::append(
            c,
            &audit::Entry {
                actor_account_id: Some("system".into()),
                action: "demo.seed".into(),
                target_type: "organization".into(),
                target_id: root_id.clone(),
                org_id: Some(root_id),
                after: Some(json!({
                    "organizations": summary.organizations,
                    "branches": summary.branches,
                    "members": summary.members,
                    "logins": summary.logins.iter().map(|l| json!({"role": l.role, "org": l.org})).collect::<Vec<_>>(),
                })),
                ..Default::default()
            },
            now,
        )?;
        Ok(Some(summary))
    })
}

#[allow(clippy::too_many_arguments)]
fn insert_person(
    c: &mut AnyConnection,
    pii: &Pii,
    p: &Person,
    org_id: &str,
    party_group_id: Option<String>,
    work_unit: String,
    note: Option<String>,
    now: chrono::NaiveDateTime,
    today: NaiveDate,
) -> AppResult<String> {
    let id = new_id();
    let enc = |f: Field, v: &str| pii.encrypt(f, &id, v).map_err(AppError::Internal);
    let row = MemberRow {
        id: id.clone(),
        org_id: org_id.into(),
        party_group_id,
        name: p.name.clone(),
        gender: p.gender.as_str().into(),
        birth_date: Some(p.birth_date),
        ethnicity: p.ethnicity.into(),
        id_number_enc: enc(Field::IdNumber, &p.id_number)?,
        id_number_bidx: pii.blind_index(Field::IdNumber, &p.id_number),
        phone_enc: p
            .phone
            .as_deref()
            .map(|v| enc(Field::Phone, v))
            .transpose()?,
        phone_bidx: p.phone.as_deref().map(|v| pii.blind_index(Field::Phone, v)),
        education: Some(p.education.into()),
        work_unit: Some(work_unit),
        status: p.status.as_str().into(),
        applied_on: p.stages.applied_on,
        activist_on: p.stages.activist_on,
        candidate_on: p.stages.candidate_on,
        probationary_on: p.stages.probationary_on,
        probation_extended: false,
        regularized_on: p.stages.regularized_on,
        discipline_until: p.discipline_until,
        rights_suspended: p.rights_suspended,
        membership_stopped: p.membership_stopped,
        lost_contact: p.lost_contact,
        removed_reason: None,
        created_at: now,
        updated_at: now,
        version: 1,
        probation_extension_months: None,
        note,
    };
    members::insert(c, &row)?;
    let started = match p.status {
        MemberStatus::Applicant => p.stages.applied_on,
        MemberStatus::Activist => p.stages.activist_on,
        MemberStatus::Candidate => p.stages.candidate_on,
        MemberStatus::Probationary => p.stages.probationary_on,
        MemberStatus::Full => p.stages.regularized_on,
        MemberStatus::Removed => None,
    };
    members::insert_history(
        c,
        &HistoryRow {
            id: new_id(),
            member_id: id.clone(),
            change: "status".into(),
            from_value: None,
            to_value: p.status.as_str().into(),
            effective_on: started.unwrap_or(today),
            reason: Some("演示数据".into()),
            actor_account_id: Some("system".into()),
            created_at: now,
        },
    )?;
    Ok(id)
}

fn demo_account(
    c: &mut AnyConnection,
    pii: &Pii,
    phone: &str,
    name: &str,
    member_id: Option<&str>,
    hash: &str,
    now: chrono::NaiveDateTime,
) -> AppResult<String> {
    let id = new_id();
    let bidx = pii.blind_index(Field::Phone, phone);
    if accounts::find_by_phone_bidx(c, &bidx)?.is_some() {
        return Err(AppError::Conflict {
            code: hongying_proto::ErrorCode::AlreadyExists,
            detail: format!("演示账号的手机号 {phone} 已被使用，无法生成演示数据。"),
        });
    }
    let phone_enc = pii
        .encrypt(Field::Phone, &id, phone)
        .map_err(AppError::Internal)?;
    accounts::insert(
        c,
        &NewAccount {
            id: &id,
            member_id,
            display_name: name,
            phone_enc: &phone_enc,
            phone_bidx: &bidx,
            password_hash: Some(hash),
            kind: if member_id.is_some() {
                KIND_MEMBER
            } else {
                KIND_STAFF
            },
            status: STATUS_ACTIVE,
        },
        now,
    )?;
    Ok(id)
}

/// `hongying seed-demo`.
pub fn run_cli(config: &Config) -> anyhow::Result<()> {
    let db = Db::connect(&config.database)?;
    let mut conn = db.get().map_err(|e| anyhow::anyhow!("{e}"))?;
    if config.database.migrate_on_start {
        db::migrate(&mut conn)?;
    }
    let pii = Pii::load(&config.pii_keys_dir(), config.auth.generate_keys)?;
    match seed_demo(&mut conn, &pii, db::now())
        .map_err(|e| anyhow::anyhow!("生成演示数据失败：{e}"))?
    {
        None => {
            println!("演示数据已存在（组织代码 {ROOT_CODE}），未做任何改动。");
        }
        Some(s) => {
            println!(
                "已生成演示数据：{} 个组织（其中 {} 个支部），{} 名人员。",
                s.organizations, s.branches, s.members
            );
            println!("演示账号（仅供演示，请勿用于生产环境）：");
            for l in &s.logins {
                println!(
                    "  {:<24} {:<10} {:<28} 手机号 {}  密码 {}",
                    l.role, l.name, l.org, l.phone, l.password
                );
            }
        }
    }
    Ok(())
}
