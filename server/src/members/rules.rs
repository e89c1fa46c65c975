//! The rules of the membership pipeline (发展党员, RULES.md §5) as pure functions: which
//! stage dates a record must have, the order of the stages, and which status changes are
//! allowed when.
//!
//! Two kinds of refusal are kept apart: a change that is never possible from the current
//! status ([`TransitionError::Illegal`], 409 `illegal_transition` with the allowed
//! targets) and a change in order that a rule of time or age blocks for now
//! ([`TransitionError::Precondition`], 409 `transition_precondition` with the reason).

use chrono::{Datelike, Months, NaiveDate};
use hongying_proto::FieldError;
use hongying_proto::members::{MemberStatus, TransitionTarget};

/// Organization kinds that hold members' formal relationships (正式组织关系). A 党总支
/// may hold members directly when it has no branches of its own; a 临时党支部 never
/// does (its people keep their relationship at home, RULES.md §1.1, §2.1) and a 党小组
/// is a part of a branch, recorded in `party_group_id`.
pub const HOLDING_KINDS: [&str; 3] = ["branch", "joint_branch", "general_branch"];

/// Minimum age at the application (党章: 年满十八岁).
pub const MIN_AGE: u32 = 18;
/// 预备期.
pub const PROBATION_MONTHS: u32 = 12;
/// Time as activist before becoming a candidate (培养教育考察一年以上).
pub const ACTIVIST_MONTHS: u32 = 12;
/// 留党察看 lasts one or two years.
pub const MAX_DISCIPLINE_MONTHS: u32 = 24;

/// The dates of the pipeline's stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stages {
    pub applied_on: Option<NaiveDate>,
    pub activist_on: Option<NaiveDate>,
    pub candidate_on: Option<NaiveDate>,
    pub probationary_on: Option<NaiveDate>,
    pub regularized_on: Option<NaiveDate>,
}

impl Stages {
    /// (field name, Chinese label, value, rank of the status the date starts).
    fn listed(&self) -> [(&'static str, &'static str, Option<NaiveDate>, u8); 5] {
        [
            ("applied_on", "申请入党日期", self.applied_on, 0),
            ("activist_on", "确定积极分子日期", self.activist_on, 1),
            ("candidate_on", "确定发展对象日期", self.candidate_on, 2),
            ("probationary_on", "加入党组织日期", self.probationary_on, 3),
            ("regularized_on", "转为正式党员日期", self.regularized_on, 4),
        ]
    }
}

/// Position of a status on the pipeline; `removed` is off it.
pub fn rank(status: MemberStatus) -> Option<u8> {
    match status {
        MemberStatus::Applicant => Some(0),
        MemberStatus::Activist => Some(1),
        MemberStatus::Candidate => Some(2),
        MemberStatus::Probationary => Some(3),
        MemberStatus::Full => Some(4),
        MemberStatus::Removed => None,
    }
}

/// Whether the date `on` is at least `months` after `from`.
fn months_since(from: NaiveDate, months: u32) -> Option<NaiveDate> {
    from.checked_add_months(Months::new(months))
}

/// The day someone born on `birth` turns `years` (29 Feb births: 1 March in common years).
pub fn birthday(birth: NaiveDate, years: u32) -> Option<NaiveDate> {
    let year = birth.year() + i32::try_from(years).ok()?;
    NaiveDate::from_ymd_opt(year, birth.month(), birth.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
}

/// The last day of probation is the day before this: the probation "has ended" on it.
pub fn probation_ends_on(probationary_on: NaiveDate, extension_months: u32) -> Option<NaiveDate> {
    months_since(probationary_on, PROBATION_MONTHS + extension_months)
}

fn error(field: &str, code: &str, message: String) -> FieldError {
    FieldError {
        field: field.into(),
        code: code.into(),
        message,
    }
}

/// Checks a record's status against its stage dates, for a record entered directly
/// (create, correction, import) rather than moved along by transitions.
pub fn check_record(
    status: MemberStatus,
    stages: &Stages,
    birth_date: Option<NaiveDate>,
    extension_months: u32,
    today: NaiveDate,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(current) = rank(status) else {
        errors.push(error(
            "status",
            "invalid_status",
            "不能直接录入已出党人员，请先录入再办理出党。".into(),
        ));
        return errors;
    };
    let listed = stages.listed();
    for (field, label, value, stage) in listed {
        let Some(date) = value else { continue };
        if stage > current {
            errors.push(error(
                field,
                "beyond_status",
                format!("人员类别为{}，不应填写{label}。", status.label_zh()),
            ));
        }
        if date > today {
            errors.push(error(
                field,
                "date_in_future",
                format!("{label}不能晚于今天。"),
            ));
        }
        if let Some(birth) = birth_date
            && date < birth
        {
            errors.push(error(
                field,
                "date_order",
                format!("{label}不能早于出生日期。"),
            ));
        }
    }
    // Each present date must not precede any earlier present one.
    let mut previous: Option<(&str, NaiveDate)> = None;
    for (field, label, value, _) in listed {
        let Some(date) = value else { continue };
        if let Some((prev_label, prev)) = previous
            && date < prev
        {
            errors.push(error(
                field,
                "date_order",
                format!("{label}不能早于{prev_label}。"),
            ));
        }
        previous = Some((label, date));
    }
    let required: &[usize] = match status {
        MemberStatus::Applicant => &[0],
        MemberStatus::Activist => &[1],
        MemberStatus::Candidate => &[2],
        MemberStatus::Probationary => &[3],
        MemberStatus::Full => &[3, 4],
        MemberStatus::Removed => &[],
    };
    for &i in required {
        let (field, label, value, _) = listed[i];
        if value.is_none() {
            errors.push(error(
                field,
                "required",
                format!("人员类别为{}时须填写{label}。", status.label_zh()),
            ));
        }
    }
    if let (Some(applied), Some(birth)) = (stages.applied_on, birth_date)
        && birthday(birth, MIN_AGE).is_some_and(|adult| applied < adult)
    {
        errors.push(error(
            "applied_on",
            "under_age",
            "申请入党时须年满十八周岁。".into(),
        ));
    }
    if let (Some(activist), Some(candidate)) = (stages.activist_on, stages.candidate_on)
        && months_since(activist, ACTIVIST_MONTHS).is_some_and(|due| candidate < due)
    {
        errors.push(error(
            "candidate_on",
            "activist_period",
            "确定为积极分子满一年后方可确定为发展对象。".into(),
        ));
    }
    if let (Some(prob), Some(regular)) = (stages.probationary_on, stages.regularized_on)
        && probation_ends_on(prob, extension_months).is_some_and(|end| regular < end)
    {
        errors.push(error(
            "regularized_on",
            "probation_period",
            "预备期满一年后方可转为正式党员。".into(),
        ));
    }
    errors
}

/// What a member's record says that a transition depends on.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub status: MemberStatus,
    pub stages: Stages,
    pub birth_date: Option<NaiveDate>,
    pub probation_extended: bool,
    pub extension_months: u32,
}

/// Targets the status allows, whatever the dates (the `allowed` of a 409).
pub fn allowed_targets(status: MemberStatus, probation_extended: bool) -> Vec<TransitionTarget> {
    use TransitionTarget as T;
    match status {
        MemberStatus::Applicant => vec![T::Activist, T::Removed],
        MemberStatus::Activist => vec![T::Candidate, T::Removed],
        MemberStatus::Candidate => vec![T::Probationary, T::Removed],
        MemberStatus::Probationary if probation_extended => vec![T::Full, T::Removed],
        MemberStatus::Probationary => vec![T::Full, T::ExtendProbation, T::Removed],
        MemberStatus::Full => vec![T::Removed],
        MemberStatus::Removed => vec![],
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionError {
    /// Never possible from this status.
    Illegal {
        from: MemberStatus,
        allowed: Vec<TransitionTarget>,
    },
    /// In order, but blocked by a rule; Chinese reason.
    Precondition(String),
    /// A field of the request is wrong.
    Invalid(FieldError),
}

/// What a transition changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    pub status: MemberStatus,
    pub stages: Stages,
    pub probation_extended: bool,
    pub extension_months: Option<u32>,
    pub removed_reason: Option<String>,
}

/// Decides a status change requested for `effective_on` (RULES.md §5 order:
/// applicant → activist → candidate → probationary → full; removal from anywhere with a
/// reason; one extension of the probation by 6–12 months).
pub fn transition(
    facts: &Facts,
    to: TransitionTarget,
    effective_on: NaiveDate,
    reason: Option<&str>,
    extension_months: Option<u8>,
    today: NaiveDate,
) -> Result<Effect, TransitionError> {
    use TransitionTarget as T;
    let allowed = allowed_targets(facts.status, facts.probation_extended);
    if !allowed.contains(&to) {
        return Err(TransitionError::Illegal {
            from: facts.status,
            allowed,
        });
    }
    if effective_on > today {
        return Err(TransitionError::Invalid(error(
            "effective_on",
            "date_in_future",
            "生效日期不能晚于今天。".into(),
        )));
    }
    let precondition = |msg: String| Err(TransitionError::Precondition(msg));
    let not_before = |date: Option<NaiveDate>, label: &str| -> Result<(), TransitionError> {
        match date {
            Some(d) if effective_on < d => Err(TransitionError::Precondition(format!(
                "生效日期不能早于{label}（{d}）。"
            ))),
            _ => Ok(()),
        }
    };
    let mut effect = Effect {
        status: facts.status,
        stages: facts.stages,
        probation_extended: facts.probation_extended,
        extension_months: (facts.extension_months > 0).then_some(facts.extension_months),
        removed_reason: None,
    };
    match to {
        T::Activist => {
            not_before(facts.stages.applied_on, "申请入党日期")?;
            if let (Some(applied), Some(birth)) = (facts.stages.applied_on, facts.birth_date)
                && birthday(birth, MIN_AGE).is_some_and(|adult| applied < adult)
            {
                return precondition("申请入党时未满十八周岁，不能确定为入党积极分子。".into());
            }
            effect.status = MemberStatus::Activist;
            effect.stages.activist_on = Some(effective_on);
        }
        T::Candidate => {
            not_before(facts.stages.activist_on, "确定积极分子日期")?;
            if let Some(activist) = facts.stages.activist_on
                && let Some(due) = months_since(activist, ACTIVIST_MONTHS)
                && effective_on < due
            {
                return precondition(format!(
                    "确定为入党积极分子满一年后方可确定为发展对象（最早 {due}）。"
                ));
            }
            effect.status = MemberStatus::Candidate;
            effect.stages.candidate_on = Some(effective_on);
        }
        T::Probationary => {
            not_before(facts.stages.candidate_on, "确定发展对象日期")?;
            effect.status = MemberStatus::Probationary;
            effect.stages.probationary_on = Some(effective_on);
        }
        T::Full => {
            let Some(prob) = facts.stages.probationary_on else {
                return precondition("缺少加入党组织日期，无法计算预备期。".into());
            };
            if let Some(end) = probation_ends_on(prob, facts.extension_months)
                && effective_on < end
            {
                return precondition(format!("预备期尚未期满（{end} 期满），不能转为正式党员。"));
            }
            effect.status = MemberStatus::Full;
            effect.stages.regularized_on = Some(effective_on);
        }
        T::ExtendProbation => {
            let Some(months) = extension_months else {
                return Err(TransitionError::Invalid(error(
                    "extension_months",
                    "required",
                    "延长预备期须填写延长月数（6 到 12 个月）。".into(),
                )));
            };
            if !(6..=12).contains(&months) {
                return Err(TransitionError::Invalid(error(
                    "extension_months",
                    "range",
                    "延长预备期须为 6 到 12 个月。".into(),
                )));
            }
            let Some(prob) = facts.stages.probationary_on else {
                return precondition("缺少加入党组织日期，无法计算预备期。".into());
            };
            if let Some(end) = probation_ends_on(prob, 0)
                && effective_on < end
            {
                return precondition(format!("预备期满（{end}）后由支部大会讨论是否延长预备期。"));
            }
            effect.probation_extended = true;
            effect.extension_months = Some(u32::from(months));
        }
        T::Removed => {
            let reason = reason.map(str::trim).filter(|r| !r.is_empty());
            let Some(reason) = reason else {
                return Err(TransitionError::Invalid(error(
                    "reason",
                    "required",
                    "出党或取消预备党员资格须填写原因。".into(),
                )));
            };
            effect.status = MemberStatus::Removed;
            effect.removed_reason = Some(reason.to_string());
        }
    }
    Ok(effect)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn facts(status: MemberStatus, stages: Stages) -> Facts {
        Facts {
            status,
            stages,
            birth_date: Some(d("1990-05-01")),
            probation_extended: false,
            extension_months: 0,
        }
    }

    #[test]
    fn the_pipeline_runs_in_order_only() {
        let today = d("2026-11-28");
        let f = facts(
            MemberStatus::Applicant,
            Stages {
                applied_on: Some(d("2024-01-10")),
                ..Default::default()
            },
        );
        let err = transition(&f, TransitionTarget::Candidate, today, None, None, today);
        assert_eq!(
            err,
            Err(TransitionError::Illegal {
                from: MemberStatus::Applicant,
                allowed: vec![TransitionTarget::Activist, TransitionTarget::Removed],
            })
        );
        let e = transition(
            &f,
            TransitionTarget::Activist,
            d("2024-03-01"),
            None,
            None,
            today,
        )
        .unwrap();
        assert_eq!(e.status, MemberStatus::Activist);
        assert_eq!(e.stages.activist_on, Some(d("2024-03-01")));
        let removed = facts(MemberStatus::Removed, Stages::default());
        assert!(matches!(
            transition(&removed, TransitionTarget::Removed, today, Some("x"), None, today),
            Err(TransitionError::Illegal { allowed, .. }) if allowed.is_empty()
        ));
    }

    #[test]
    fn a_year_as_activist_before_candidate() {
        let today = d("2026-11-28");
        let f = facts(
            MemberStatus::Activist,
            Stages {
                applied_on: Some(d("2024-01-10")),
                activist_on: Some(d("2025-03-01")),
                ..Default::default()
            },
        );
        assert!(matches!(
            transition(&f, TransitionTarget::Candidate, d("2026-02-28"), None, None, today),
            Err(TransitionError::Precondition(m)) if m.contains("2026-03-01")
        ));
        assert!(
            transition(
                &f,
                TransitionTarget::Candidate,
                d("2026-03-01"),
                None,
                None,
                today
            )
            .is_ok()
        );
        // Not in the future, even when the year has passed by then.
        assert!(matches!(
            transition(&f, TransitionTarget::Candidate, d("2026-12-01"), None, None, today),
            Err(TransitionError::Invalid(e)) if e.field == "effective_on"
        ));
    }

    #[test]
    fn applicants_must_have_been_adults() {
        let mut f = facts(
            MemberStatus::Applicant,
            Stages {
                applied_on: Some(d("2008-04-30")),
                ..Default::default()
            },
        );
        let today = d("2026-11-28");
        assert!(matches!(
            transition(
                &f,
                TransitionTarget::Activist,
                d("2009-01-01"),
                None,
                None,
                today
            ),
            Err(TransitionError::Precondition(_))
        ));
        f.stages.applied_on = Some(d("2008-05-01"));
        assert!(
            transition(
                &f,
                TransitionTarget::Activist,
                d("2009-01-01"),
                None,
                None,
                today
            )
            .is_ok()
        );
    }

    #[test]
    fn probation_ends_after_a_year_or_the_extension() {
        let today = d("2026-11-28");
        let mut f = facts(
            MemberStatus::Probationary,
            Stages {
                probationary_on: Some(d("2025-06-15")),
                ..Default::default()
            },
        );
        assert!(matches!(
            transition(
                &f,
                TransitionTarget::Full,
                d("2026-06-14"),
                None,
                None,
                today
            ),
            Err(TransitionError::Precondition(_))
        ));
        let e = transition(
            &f,
            TransitionTarget::Full,
            d("2026-06-15"),
            None,
            None,
            today,
        )
        .unwrap();
        assert_eq!(e.stages.regularized_on, Some(d("2026-06-15")));

        assert!(matches!(
            transition(&f, TransitionTarget::ExtendProbation, d("2026-06-15"), None, None, today),
            Err(TransitionError::Invalid(e)) if e.field == "extension_months"
        ));
        assert!(matches!(
            transition(
                &f,
                TransitionTarget::ExtendProbation,
                d("2026-06-15"),
                None,
                Some(5),
                today
            ),
            Err(TransitionError::Invalid(_))
        ));
        let e = transition(
            &f,
            TransitionTarget::ExtendProbation,
            d("2026-06-15"),
            None,
            Some(6),
            today,
        )
        .unwrap();
        assert!(e.probation_extended);
        assert_eq!(e.status, MemberStatus::Probationary);
        f.probation_extended = true;
        f.extension_months = 6;
        assert!(matches!(
            transition(&f, TransitionTarget::ExtendProbation, today, None, Some(6), today),
            Err(TransitionError::Illegal { allowed, .. })
                if allowed == vec![TransitionTarget::Full, TransitionTarget::Removed]
        ));
        assert!(matches!(
            transition(
                &f,
                TransitionTarget::Full,
                d("2026-12-14"),
                None,
                None,
                d("2027-01-01")
            ),
            Err(TransitionError::Precondition(_))
        ));
        assert!(
            transition(
                &f,
                TransitionTarget::Full,
                d("2026-12-15"),
                None,
                None,
                d("2027-01-01")
            )
            .is_ok()
        );
    }

    #[test]
    fn removal_needs_a_reason() {
        let today = d("2026-11-28");
        let f = facts(
            MemberStatus::Probationary,
            Stages {
                probationary_on: Some(d("2026-01-01")),
                ..Default::default()
            },
        );
        assert!(matches!(
            transition(&f, TransitionTarget::Removed, today, Some("  "), None, today),
            Err(TransitionError::Invalid(e)) if e.field == "reason"
        ));
        let e = transition(
            &f,
            TransitionTarget::Removed,
            today,
            Some("取消预备党员资格"),
            None,
            today,
        )
        .unwrap();
        assert_eq!(e.status, MemberStatus::Removed);
        assert_eq!(e.removed_reason.as_deref(), Some("取消预备党员资格"));
    }

    #[test]
    fn records_need_their_stage_dates_in_order() {
        let today = d("2026-11-28");
        let birth = Some(d("1990-05-01"));
        let ok = Stages {
            applied_on: Some(d("2015-01-01")),
            activist_on: Some(d("2015-06-01")),
            candidate_on: Some(d("2016-06-01")),
            probationary_on: Some(d("2016-12-01")),
            regularized_on: Some(d("2017-12-01")),
        };
        assert!(check_record(MemberStatus::Full, &ok, birth, 0, today).is_empty());
        let codes = |s: MemberStatus, st: &Stages| -> Vec<(String, String)> {
            check_record(s, st, birth, 0, today)
                .into_iter()
                .map(|e| (e.field, e.code))
                .collect()
        };
        assert_eq!(
            codes(MemberStatus::Activist, &ok),
            vec![
                ("candidate_on".to_string(), "beyond_status".to_string()),
                ("probationary_on".into(), "beyond_status".into()),
                ("regularized_on".into(), "beyond_status".into()),
            ]
        );
        let missing = Stages {
            probationary_on: Some(d("2016-12-01")),
            ..Default::default()
        };
        assert_eq!(
            codes(MemberStatus::Full, &missing),
            vec![("regularized_on".to_string(), "required".to_string())]
        );
        let backwards = Stages {
            applied_on: Some(d("2016-01-01")),
            activist_on: Some(d("2015-06-01")),
            ..Default::default()
        };
        assert_eq!(
            codes(MemberStatus::Activist, &backwards),
            vec![("activist_on".to_string(), "date_order".to_string())]
        );
        let young = Stages {
            applied_on: Some(d("2008-01-01")),
            ..Default::default()
        };
        assert_eq!(
            codes(MemberStatus::Applicant, &young),
            vec![("applied_on".to_string(), "under_age".to_string())]
        );
        let future = Stages {
            applied_on: Some(d("2027-01-01")),
            ..Default::default()
        };
        assert_eq!(
            codes(MemberStatus::Applicant, &future),
            vec![("applied_on".to_string(), "date_in_future".to_string())]
        );
        assert_eq!(
            codes(MemberStatus::Removed, &Stages::default()),
            vec![("status".to_string(), "invalid_status".to_string())]
        );
    }

    #[test]
    fn leap_day_birthdays() {
        assert_eq!(birthday(d("2004-02-29"), 18), Some(d("2022-03-01")));
        assert_eq!(birthday(d("2004-02-28"), 18), Some(d("2022-02-28")));
    }
}
