//! The compliance rules as pure functions: the built-in defaults (RULES.md §1.2), periods,
//! and what a branch held against its rules in a period.

use chrono::{Datelike, Months, NaiveDate};
use hongying_proto::compliance::{Applies, ComplianceRule, Frequency, Period, Requirement};
use hongying_proto::meetings::MeetingKind;

/// RULES.md §1.2: 党员大会 quarterly, 支委会 monthly where there is a committee, 党小组会
/// monthly per group, 党课 quarterly (local norm), 主题党日 monthly, 组织生活会 and 民主评议
/// yearly.
pub fn defaults() -> Vec<ComplianceRule> {
    let rule = |kind, every| ComplianceRule {
        kind,
        every,
        count: 1,
        applies: Some(default_applies(kind)),
    };
    vec![
        rule(MeetingKind::Congress, Frequency::Quarter),
        rule(MeetingKind::Committee, Frequency::Month),
        rule(MeetingKind::PartyGroup, Frequency::Month),
        rule(MeetingKind::Lecture, Frequency::Quarter),
        rule(MeetingKind::ThemeDay, Frequency::Month),
        rule(MeetingKind::LifeMeeting, Frequency::Year),
        rule(MeetingKind::DemocraticReview, Frequency::Year),
    ]
}

pub fn default_applies(kind: MeetingKind) -> Applies {
    match kind {
        MeetingKind::Committee => Applies::WithCommittee,
        MeetingKind::PartyGroup => Applies::PerPartyGroup,
        _ => Applies::All,
    }
}

/// Rules with `applies` filled in.
pub fn resolved(rules: Vec<ComplianceRule>) -> Vec<ComplianceRule> {
    rules
        .into_iter()
        .map(|mut r| {
            r.applies = Some(r.applies.unwrap_or(default_applies(r.kind)));
            r
        })
        .collect()
}

fn month_start(y: i32, m: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, 1)
}

/// The last day of the span of `months` months starting at `start`.
fn span_end(start: NaiveDate, months: u32) -> Option<NaiveDate> {
    start
        .checked_add_months(Months::new(months))
        .and_then(|d| d.pred_opt())
}

/// Parses `2026`, `2026-Q4` or `2026-11`.
pub fn parse_period(s: &str) -> Option<Period> {
    let s = s.trim();
    let (unit, start, months) =
        if let Some((y, q)) = s.split_once("-Q").or_else(|| s.split_once("-q")) {
            let y: i32 = y.parse().ok()?;
            let q: u32 = q.parse().ok()?;
            if !(1..=4).contains(&q) {
                return None;
            }
            (Frequency::Quarter, month_start(y, (q - 1) * 3 + 1)?, 3)
        } else if let Some((y, m)) = s.split_once('-') {
            let y: i32 = y.parse().ok()?;
            if m.len() != 2 {
                return None;
            }
            let m: u32 = m.parse().ok()?;
            (Frequency::Month, month_start(y, m)?, 1)
        } else {
            if s.len() != 4 {
                return None;
            }
            (Frequency::Year, month_start(s.parse().ok()?, 1)?, 12)
        };
    if !(2000..=2100).contains(&start.year()) {
        return None;
    }
    Some(Period {
        label: match unit {
            Frequency::Year => format!("{}", start.year()),
            Frequency::Quarter => format!("{}-Q{}", start.year(), (start.month() - 1) / 3 + 1),
            Frequency::Month => format!("{}-{:02}", start.year(), start.month()),
        },
        unit,
        start,
        end: span_end(start, months)?,
    })
}

fn months_of(f: Frequency) -> u32 {
    match f {
        Frequency::Month => 1,
        Frequency::Quarter => 3,
        Frequency::Year => 12,
    }
}

/// The unit of frequency `f` holding `day`: `(first day, last day)`.
fn unit_of(day: NaiveDate, f: Frequency) -> Option<(NaiveDate, NaiveDate)> {
    let m = match f {
        Frequency::Month => day.month(),
        Frequency::Quarter => (day.month() - 1) / 3 * 3 + 1,
        Frequency::Year => 1,
    };
    let start = month_start(day.year(), m)?;
    Some((start, span_end(start, months_of(f))?))
}

/// The windows a rule is judged over in `period`, and whether it is due at all.
///
/// A rule at least as fine as the period is due in each of its units inside the period. A
/// coarser rule (a yearly rule judged for a quarter) is due only when the period holds the
/// last month of the enclosing unit, and is then judged over that whole unit, so a 组织生活会
/// held in June counts for the year when Q4 is judged.
pub fn windows(period: &Period, every: Frequency) -> (bool, Vec<(NaiveDate, NaiveDate)>) {
    if every <= period.unit {
        let mut out = Vec::new();
        let mut day = period.start;
        while day <= period.end {
            let Some(unit) = unit_of(day, every) else {
                break;
            };
            out.push(unit);
            match unit.1.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        (true, out)
    } else {
        match unit_of(period.start, every) {
            Some(unit) if unit.1 <= period.end => (true, vec![unit]),
            Some(_) => (false, vec![(period.start, period.end)]),
            None => (false, Vec::new()),
        }
    }
}

/// A meeting that may count: its kind, the organization that held it, the day it started
/// (China time), and whether it counts (ended, minutes submitted, quorate where a quorum
/// rule applies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMeeting {
    pub id: String,
    pub kind: MeetingKind,
    pub org_id: String,
    pub day: NaiveDate,
    pub counts: bool,
}

/// What a branch is made of, for the `applies` of its rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchFacts {
    pub branch_id: String,
    pub full_members: u32,
    pub committee_posts: u32,
    pub party_groups: Vec<String>,
}

impl BranchFacts {
    /// 7 or more full members (a committee is then required), or 3 or more posts held.
    pub fn has_committee(&self) -> bool {
        self.full_members >= 7 || self.committee_posts >= 3
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One requirement of a branch for the period.
pub fn evaluate(
    rule: &ComplianceRule,
    period: &Period,
    facts: &BranchFacts,
    meetings: &[HeldMeeting],
) -> Requirement {
    let applies = rule.applies.unwrap_or(default_applies(rule.kind));
    // The organizations whose meetings count, one list per "holder" that must meet.
    let holders: Vec<Vec<&str>> = match applies {
        Applies::PerPartyGroup => facts
            .party_groups
            .iter()
            .map(|g| vec![g.as_str()])
            .collect(),
        _ => {
            // 组织生活会 and 民主评议 may be held in the party groups (held_as party_group).
            let mut orgs = vec![facts.branch_id.as_str()];
            if matches!(
                rule.kind,
                MeetingKind::LifeMeeting | MeetingKind::DemocraticReview
            ) {
                orgs.extend(facts.party_groups.iter().map(String::as_str));
            }
            vec![orgs]
        }
    };
    let applicable = match applies {
        Applies::All => true,
        Applies::WithCommittee => facts.has_committee(),
        Applies::PerPartyGroup => !facts.party_groups.is_empty(),
    };
    let (due, windows) = windows(period, rule.every);
    let mut required = 0u32;
    let mut missing = 0u32;
    let mut ids: Vec<String> = Vec::new();
    for orgs in &holders {
        for (from, to) in &windows {
            let held: Vec<&HeldMeeting> = meetings
                .iter()
                .filter(|m| {
                    m.counts
                        && m.kind == rule.kind
                        && orgs.contains(&m.org_id.as_str())
                        && m.day >= *from
                        && m.day <= *to
                })
                .collect();
            ids.extend(held.iter().map(|m| m.id.clone()));
            if applicable && due {
                required += rule.count;
                missing += rule.count.saturating_sub(count(held.len()));
            }
        }
    }
    ids.sort();
    ids.dedup();
    Requirement {
        kind: rule.kind,
        kind_label_zh: rule.kind.label_zh().into(),
        every: rule.every,
        applicable,
        required,
        held: count(ids.len()),
        missing,
        meeting_ids: ids,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_parse() {
        let q = parse_period("2026-Q4").unwrap();
        assert_eq!(
            (q.start, q.end, q.unit),
            (d("2026-10-01"), d("2026-12-31"), Frequency::Quarter)
        );
        let m = parse_period("2026-02").unwrap();
        assert_eq!((m.start, m.end), (d("2026-02-01"), d("2026-02-28")));
        let y = parse_period("2026").unwrap();
        assert_eq!((y.start, y.end), (d("2026-01-01"), d("2026-12-31")));
        for bad in [
            "2026-Q5", "2026-13", "26", "2026-1", "abc", "2026-Q0", "1999", "",
        ] {
            assert!(parse_period(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn windows_by_rule_and_period() {
        let q4 = parse_period("2026-Q4").unwrap();
        let (due, w) = windows(&q4, Frequency::Month);
        assert!(due);
        assert_eq!(w.len(), 3);
        assert_eq!(w[1], (d("2026-11-01"), d("2026-11-30")));
        let (due, w) = windows(&q4, Frequency::Year);
        assert!(due, "Q4 holds the year's last month");
        assert_eq!(w, vec![(d("2026-01-01"), d("2026-12-31"))]);
        let q2 = parse_period("2026-Q2").unwrap();
        assert!(!windows(&q2, Frequency::Year).0);
        let year = parse_period("2026").unwrap();
        assert_eq!(windows(&year, Frequency::Quarter).1.len(), 4);
        let nov = parse_period("2026-11").unwrap();
        assert!(!windows(&nov, Frequency::Quarter).0);
        let dec = parse_period("2026-12").unwrap();
        assert_eq!(
            windows(&dec, Frequency::Quarter).1,
            vec![(d("2026-10-01"), d("2026-12-31"))]
        );
    }

    fn held(id: &str, kind: MeetingKind, org: &str, day: &str, counts: bool) -> HeldMeeting {
        HeldMeeting {
            id: id.into(),
            kind,
            org_id: org.into(),
            day: d(day),
            counts,
        }
    }

    #[test]
    fn monthly_rules_are_judged_month_by_month() {
        let q4 = parse_period("2026-Q4").unwrap();
        let facts = BranchFacts {
            branch_id: "b".into(),
            full_members: 8,
            ..BranchFacts::default()
        };
        let rule = ComplianceRule {
            kind: MeetingKind::ThemeDay,
            every: Frequency::Month,
            count: 1,
            applies: None,
        };
        let ms = vec![
            held("1", MeetingKind::ThemeDay, "b", "2026-10-10", true),
            held("2", MeetingKind::ThemeDay, "b", "2026-10-20", true),
            held("3", MeetingKind::ThemeDay, "b", "2026-11-10", true),
            held("4", MeetingKind::ThemeDay, "b", "2026-12-10", false),
            held("5", MeetingKind::ThemeDay, "other", "2026-12-10", true),
        ];
        let r = evaluate(&rule, &q4, &facts, &ms);
        assert_eq!((r.required, r.held, r.missing), (3, 3, 1));
    }

    #[test]
    fn committee_and_group_rules_apply_only_where_they_can() {
        let q4 = parse_period("2026-Q4").unwrap();
        let rules = defaults();
        let committee = rules
            .iter()
            .find(|r| r.kind == MeetingKind::Committee)
            .unwrap();
        let group = rules
            .iter()
            .find(|r| r.kind == MeetingKind::PartyGroup)
            .unwrap();
        let small = BranchFacts {
            branch_id: "b".into(),
            full_members: 5,
            committee_posts: 1,
            party_groups: vec![],
        };
        let r = evaluate(committee, &q4, &small, &[]);
        assert!(!r.applicable);
        assert_eq!(r.missing, 0);
        assert_eq!(evaluate(group, &q4, &small, &[]).required, 0);

        let big = BranchFacts {
            branch_id: "b".into(),
            full_members: 40,
            committee_posts: 0,
            party_groups: vec!["g1".into(), "g2".into()],
        };
        assert_eq!(evaluate(committee, &q4, &big, &[]).required, 3);
        let ms = vec![
            held("1", MeetingKind::PartyGroup, "g1", "2026-10-10", true),
            held("2", MeetingKind::PartyGroup, "g1", "2026-11-10", true),
            held("3", MeetingKind::PartyGroup, "g1", "2026-12-10", true),
            held("4", MeetingKind::PartyGroup, "g2", "2026-12-10", true),
        ];
        let r = evaluate(group, &q4, &big, &ms);
        assert_eq!((r.required, r.held, r.missing), (6, 4, 2));
    }

    #[test]
    fn a_yearly_rule_counts_the_whole_year_when_due() {
        let q4 = parse_period("2026-Q4").unwrap();
        let facts = BranchFacts {
            branch_id: "b".into(),
            party_groups: vec!["g".into()],
            ..BranchFacts::default()
        };
        let life = defaults()
            .into_iter()
            .find(|r| r.kind == MeetingKind::LifeMeeting)
            .unwrap();
        let ms = vec![held("1", MeetingKind::LifeMeeting, "g", "2026-06-01", true)];
        let r = evaluate(&life, &q4, &facts, &ms);
        assert_eq!((r.required, r.held, r.missing), (1, 1, 0));
        let q3 = parse_period("2026-Q3").unwrap();
        let r = evaluate(&life, &q3, &facts, &ms);
        assert_eq!((r.required, r.missing), (0, 0));
    }
}
