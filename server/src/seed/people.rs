//! Made-up people for the demo city: names, valid ID numbers, phones, and a status with
//! stage dates that obey the membership rules. Deterministic from the seed.

use std::collections::HashSet;

use chrono::{Datelike, Days, Months, NaiveDate};
use hongying_proto::members::{Gender, MemberStatus};
use rand::Rng;
use rand::rngs::StdRng;

use crate::crypto::id_number::check_char;
use crate::members::rules::{self, Stages};

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "程", "曹", "袁",
    "邓", "许", "沈", "曾", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛", "叶", "阎",
    "潘", "杜", "范", "姜", "崔", "任", "牛", "段", "耿", "毛", "侯",
];
const GIVEN_MALE: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "建", "国",
    "志", "新", "宏", "俊", "峰", "斌", "海", "林", "振", "东", "文", "武", "德", "成", "利", "庆",
];
const GIVEN_FEMALE: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "玲", "桂", "英", "红", "梅", "莉", "兰",
    "燕", "萍", "洁", "琳", "雪", "慧", "倩", "婷", "颖", "君", "凤", "爱", "晓", "佳", "欣", "华",
];

/// Where a person lives and works, which shapes their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Village,
    Community,
    Agency,
    School,
    Company,
    Hospital,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub ethnicity: &'static str,
    pub id_number: String,
    pub phone: Option<String>,
    pub education: &'static str,
    pub status: MemberStatus,
    pub stages: Stages,
    pub discipline_until: Option<NaiveDate>,
    pub rights_suspended: bool,
    pub membership_stopped: bool,
    pub lost_contact: bool,
}

/// Hands out ID numbers and phones that are unique across the whole city.
#[derive(Default)]
pub struct Registry {
    id_numbers: HashSet<String>,
    phones: HashSet<String>,
}

impl Registry {
    /// Keeps `phone` for someone in particular (the demo logins).
    pub fn reserve_phone(&mut self, phone: &str) {
        self.phones.insert(phone.to_string());
    }

    fn id_number(
        &mut self,
        rng: &mut StdRng,
        region: &str,
        birth: NaiveDate,
        gender: Gender,
    ) -> String {
        loop {
            let seq = rng.gen_range(0..500u32) * 2 + u32::from(gender == Gender::Male);
            let first17 = format!("{region}{}{seq:03}", birth.format("%Y%m%d"));
            let Some(check) = check_char(&first17) else {
                continue;
            };
            let id = format!("{first17}{check}");
            if self.id_numbers.insert(id.clone()) {
                return id;
            }
        }
    }

    fn phone(&mut self, rng: &mut StdRng) -> String {
        loop {
            let prefix = [
                "135", "136", "137", "138", "150", "151", "152", "158", "187",
            ][rng.gen_range(0..9)];
            let phone = format!("{prefix}{:08}", rng.gen_range(0..100_000_000u32));
            if self.phones.insert(phone.clone()) {
                return phone;
            }
        }
    }
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

fn days_before(d: NaiveDate, days: u64) -> NaiveDate {
    d.checked_sub_days(Days::new(days)).unwrap_or(d)
}

fn days_after(d: NaiveDate, days: u64) -> NaiveDate {
    d.checked_add_days(Days::new(days)).unwrap_or(d)
}

fn months_after(d: NaiveDate, months: u32) -> NaiveDate {
    d.checked_add_months(Months::new(months)).unwrap_or(d)
}

fn name(rng: &mut StdRng, gender: Gender) -> String {
    let given = match gender {
        Gender::Male => GIVEN_MALE,
        Gender::Female => GIVEN_FEMALE,
    };
    let mut n = pick(rng, SURNAMES).to_string();
    n.push_str(pick(rng, given));
    if rng.gen_bool(0.6) {
        n.push_str(pick(rng, given));
    }
    n
}

/// A status drawn from a realistic mix: mostly full members.
fn draw_status(rng: &mut StdRng) -> MemberStatus {
    match rng.gen_range(0..100) {
        0..72 => MemberStatus::Full,
        72..79 => MemberStatus::Probationary,
        79..87 => MemberStatus::Activist,
        87..91 => MemberStatus::Candidate,
        _ => MemberStatus::Applicant,
    }
}

/// Stage dates for `status`, working backwards from the current stage so every gap the
/// rules require (18 at application, a year as activist, a year of probation) holds.
fn stages(rng: &mut StdRng, status: MemberStatus, birth: NaiveDate, today: NaiveDate) -> Stages {
    let adult = rules::birthday(birth, 19).unwrap_or(birth);
    let mut s = Stages::default();
    let latest_start = |earliest: NaiveDate, latest: NaiveDate, rng: &mut StdRng| {
        let span = (latest - earliest).num_days().max(0) as u64;
        days_after(earliest, rng.gen_range(0..=span))
    };
    match status {
        MemberStatus::Applicant => {
            s.applied_on = Some(days_before(today, rng.gen_range(20..300)));
        }
        MemberStatus::Activist => {
            let activist = days_before(today, rng.gen_range(30..600));
            s.activist_on = Some(activist);
            s.applied_on = Some(days_before(activist, rng.gen_range(60..240)));
        }
        MemberStatus::Candidate => {
            let candidate = days_before(today, rng.gen_range(20..250));
            s.candidate_on = Some(candidate);
            let activist = days_before(
                candidate
                    .checked_sub_months(Months::new(12))
                    .unwrap_or(candidate),
                rng.gen_range(0..200),
            );
            s.activist_on = Some(activist);
            s.applied_on = Some(days_before(activist, rng.gen_range(60..240)));
        }
        MemberStatus::Probationary | MemberStatus::Full => {
            let probationary = if status == MemberStatus::Probationary {
                // Some are due for 转正 already (over a year), most are not.
                days_before(today, rng.gen_range(15..400))
            } else {
                let earliest = months_after(adult, 26);
                let latest = days_before(today, 380);
                latest_start(earliest.min(latest), latest, rng)
            };
            s.probationary_on = Some(probationary);
            let candidate = days_before(probationary, rng.gen_range(60..200));
            s.candidate_on = Some(candidate);
            let activist = days_before(
                candidate
                    .checked_sub_months(Months::new(12))
                    .unwrap_or(candidate),
                rng.gen_range(0..150),
            );
            s.activist_on = Some(activist);
            s.applied_on = Some(days_before(activist, rng.gen_range(60..200)));
            if status == MemberStatus::Full {
                let due = months_after(probationary, 12);
                s.regularized_on = Some(days_after(due, rng.gen_range(0..20)).min(today));
            }
        }
        MemberStatus::Removed => {}
    }
    s
}

/// A new person for a branch in `setting`, with an ID number from `region`.
pub fn person(
    rng: &mut StdRng,
    reg: &mut Registry,
    region: &str,
    setting: Setting,
    today: NaiveDate,
) -> Person {
    loop {
        let gender = if rng.gen_bool(match setting {
            Setting::Village | Setting::Company => 0.72,
            Setting::School | Setting::Hospital => 0.45,
            _ => 0.6,
        }) {
            Gender::Male
        } else {
            Gender::Female
        };
        let status = draw_status(rng);
        let (min_age, max_age) = match (status, setting) {
            (MemberStatus::Full, Setting::Village) => (30, 86),
            (MemberStatus::Full, _) => (26, 70),
            (MemberStatus::Probationary, _) => (21, 45),
            _ => (19, 38),
        };
        let age_days = rng.gen_range(min_age * 365..max_age * 365) as u64;
        let birth = days_before(today, age_days);
        let stages = stages(rng, status, birth, today);
        // Keep only people the rules would accept (the draw rarely misses, e.g. a
        // full member too young for the dates worked back from today).
        if !rules::check_record(status, &stages, Some(birth), 0, today).is_empty() {
            continue;
        }
        let has_phone = match setting {
            Setting::Village => rng.gen_bool(0.7),
            _ => rng.gen_bool(0.95),
        };
        let education = match setting {
            Setting::Village => pick(rng, &["小学", "初中", "初中", "高中", "中专", "大专"]),
            Setting::Community => pick(rng, &["高中", "中专", "大专", "本科"]),
            Setting::Company => pick(rng, &["高中", "中专", "大专", "本科", "本科"]),
            _ => pick(rng, &["本科", "本科", "研究生", "大专"]),
        };
        let mut p = Person {
            name: name(rng, gender),
            gender,
            birth_date: birth,
            ethnicity: if rng.gen_bool(0.04) {
                "回族"
            } else {
                "汉族"
            },
            id_number: reg.id_number(rng, region, birth, gender),
            phone: has_phone.then(|| reg.phone(rng)),
            education,
            status,
            stages,
            discipline_until: None,
            rights_suspended: false,
            membership_stopped: false,
            lost_contact: false,
        };
        if status == MemberStatus::Full {
            match rng.gen_range(0..1000) {
                0..8 => {
                    let end = months_after(today, rng.gen_range(2..12));
                    p.discipline_until = Some(end);
                }
                8..12 => p.rights_suspended = true,
                12..16 => p.membership_stopped = true,
                16..26 => p.lost_contact = true,
                _ => {}
            }
        }
        debug_assert!(p.birth_date.year() > 1900);
        return p;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::crypto::id_number::IdNumber;
    use rand::SeedableRng;

    #[test]
    fn people_are_valid_and_unique() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut reg = Registry::default();
        let today = NaiveDate::from_ymd_opt(2026, 11, 28).unwrap();
        let mut ids = HashSet::new();
        for _ in 0..500 {
            let p = person(&mut rng, &mut reg, "410425", Setting::Village, today);
            let id = IdNumber::parse(&p.id_number).unwrap();
            assert_eq!(id.birth_date(), Some(p.birth_date));
            assert_eq!(id.is_male(), p.gender == Gender::Male);
            assert!(ids.insert(p.id_number.clone()));
            assert!(
                rules::check_record(p.status, &p.stages, Some(p.birth_date), 0, today).is_empty()
            );
        }
    }
}
