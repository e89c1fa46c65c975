//! The compliance calendar (三会一课 台账): how often each kind of meeting must be held
//! (a versioned rule set per locality, RULES.md §1.2 by default) and, for a period, what
//! each branch of a subtree held against it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::meetings::MeetingKind;

/// How often a rule asks for its meetings.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// 每月.
    Month,
    /// 每季度.
    Quarter,
    /// 每年.
    Year,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Month => "每月",
            Self::Quarter => "每季度",
            Self::Year => "每年",
        }
    }
}

/// Which branches a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Applies {
    /// Every branch.
    All,
    /// Branches with a committee: 7 or more full members (支部条例: a committee is required
    /// then), or 3 or more current committee posts.
    WithCommittee,
    /// Each party group of the branch (none: the rule does not apply).
    PerPartyGroup,
}

/// One rule: `count` meetings of `kind` every `every`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ComplianceRule {
    pub kind: MeetingKind,
    pub every: Frequency,
    #[validate(range(min = 1, max = 31, message = "次数须为 1 到 31。"))]
    pub count: u32,
    /// Default: `with_committee` for `committee`, `per_party_group` for `party_group`,
    /// `all` otherwise.
    pub applies: Option<Applies>,
}

/// `PUT /orgs/{id}/compliance-rules`: a new version of the locality's rule set. A kind
/// left out is not required.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "distinct_kinds"))]
pub struct PutComplianceRules {
    /// From when the version applies (a period is judged by the version in force on its
    /// first day). Default: today.
    pub effective_from: Option<NaiveDate>,
    #[validate(length(max = 20, message = "规则最多 20 条。"), nested)]
    pub rules: Vec<ComplianceRule>,
}

fn distinct_kinds(p: &PutComplianceRules) -> Result<(), ValidationError> {
    for (i, r) in p.rules.iter().enumerate() {
        if p.rules[..i].iter().any(|x| x.kind == r.kind) {
            let mut e = ValidationError::new("duplicate_kind");
            e.message = Some("同一会议类型只能有一条规则。".into());
            return Err(e);
        }
    }
    Ok(())
}

/// A rule set in force.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RuleSet {
    /// The organization that set it; absent for the built-in defaults (RULES.md §1.2).
    pub org_id: Option<String>,
    pub version: Option<i32>,
    pub effective_from: Option<NaiveDate>,
    /// Every rule with `applies` filled in.
    pub rules: Vec<ComplianceRule>,
    pub created_by: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Query of `GET /orgs/{id}/compliance-rules`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RulesQuery {
    /// The day to look at (default today).
    pub on: Option<NaiveDate>,
}

/// Query of `GET /orgs/{id}/compliance`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ComplianceQuery {
    /// `2026` (a year), `2026-Q4` (a quarter) or `2026-11` (a month).
    pub period: String,
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// The period judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Period {
    pub label: String,
    /// `month`, `quarter` or `year`.
    pub unit: Frequency,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
}

/// One requirement of one branch for the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Requirement {
    pub kind: MeetingKind,
    pub kind_label_zh: String,
    pub every: Frequency,
    /// Whether the rule applies to this branch (no committee / no party groups: not).
    pub applicable: bool,
    /// Meetings required in the period: the rule's count per month/quarter/year in it, per
    /// party group for `per_party_group`. A yearly rule judged for a quarter or month is due
    /// only in the period holding the year's last month, and is then judged over the year.
    pub required: u32,
    /// Meetings that count: ended, minutes submitted (or reviewed), and quorate at the end
    /// where a quorum rule applies.
    pub held: u32,
    /// Meetings still missing, unit by unit (a surplus in one month does not make up for
    /// another).
    pub missing: u32,
    /// The meetings counted.
    pub meeting_ids: Vec<String>,
}

/// One branch's compliance for the period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BranchCompliance {
    pub org_id: String,
    pub name: String,
    pub kind: String,
    pub full_members: u32,
    pub has_committee: bool,
    pub party_groups: u32,
    /// The organization whose rule set applies (absent: the built-in defaults) and its
    /// version.
    pub rules_org_id: Option<String>,
    pub rules_version: Option<i32>,
    pub requirements: Vec<Requirement>,
    pub compliant: bool,
}

/// The subtree as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceTotals {
    pub branches: u32,
    pub compliant: u32,
    /// `compliant / branches`, 0 when there are none.
    pub share: f64,
}

/// `GET /orgs/{id}/compliance`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ComplianceReport {
    pub org_id: String,
    pub period: Period,
    pub totals: ComplianceTotals,
    /// One page of branches, by id.
    pub items: Vec<BranchCompliance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
