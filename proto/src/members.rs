//! Party members (党员 and the people on the way to membership): the roster record, its
//! status pipeline (RULES.md §5) and flags, and roster imports.
//!
//! Personal data (the national ID number and the phone) is masked in every answer unless
//! the caller asks for `?reveal=true` and may see it; a reveal is audited.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

/// 性别.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "male" => Some(Self::Male),
            "female" => Some(Self::Female),
            _ => None,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Male => "男",
            Self::Female => "女",
        }
    }
}

/// Where a person stands on the way into the Party (发展党员, RULES.md §5), or out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// 入党申请人.
    Applicant,
    /// 入党积极分子.
    Activist,
    /// 发展对象.
    Candidate,
    /// 预备党员.
    Probationary,
    /// 正式党员.
    Full,
    /// No longer on the roster (除名、开除、退党、取消预备党员资格、去世…; see `removed_reason`).
    Removed,
}

impl MemberStatus {
    pub const ALL: [MemberStatus; 6] = [
        Self::Applicant,
        Self::Activist,
        Self::Candidate,
        Self::Probationary,
        Self::Full,
        Self::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applicant => "applicant",
            Self::Activist => "activist",
            Self::Candidate => "candidate",
            Self::Probationary => "probationary",
            Self::Full => "full",
            Self::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Applicant => "申请人",
            Self::Activist => "积极分子",
            Self::Candidate => "发展对象",
            Self::Probationary => "预备党员",
            Self::Full => "正式党员",
            Self::Removed => "已出党",
        }
    }

    /// Reads the Chinese roster label (人员类别), with the common long forms.
    pub fn parse_zh(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "申请人" | "入党申请人" => Self::Applicant,
            "积极分子" | "入党积极分子" => Self::Activist,
            "发展对象" => Self::Candidate,
            "预备党员" => Self::Probationary,
            "正式党员" => Self::Full,
            _ => return None,
        })
    }
}

/// What `POST /members/{id}/status` may ask for: the next status, removal, or the one-time
/// extension of the probation (延长预备期), which keeps the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransitionTarget {
    Activist,
    Candidate,
    Probationary,
    Full,
    Removed,
    ExtendProbation,
}

impl TransitionTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activist => "activist",
            Self::Candidate => "candidate",
            Self::Probationary => "probationary",
            Self::Full => "full",
            Self::Removed => "removed",
            Self::ExtendProbation => "extend_probation",
        }
    }
}

/// Flags that change a member's rights without changing the status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberFlags {
    /// 留党察看 until this date (inclusive): no vote meanwhile.
    pub discipline_until: Option<NaiveDate>,
    /// Rights suspended (被依法留置、逮捕).
    pub rights_suspended: bool,
    /// 停止党籍.
    pub membership_stopped: bool,
    /// 失联.
    pub lost_contact: bool,
}

/// `POST /orgs/{org_id}/members`: enter a person on the roster of a branch.
///
/// The birth date and gender follow from the ID number; when given they must agree with
/// it. The date of the current stage is required (`applied_on` for an applicant,
/// `activist_on`, `candidate_on`, `probationary_on`; a full member needs both
/// `probationary_on` and `regularized_on`); stage dates must be in order, not in the
/// future, and none may belong to a later stage than the status.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    #[validate(length(min = 1, max = 50, message = "姓名须为 1 到 50 个字符。"))]
    pub name: String,
    pub gender: Option<Gender>,
    pub birth_date: Option<NaiveDate>,
    /// 民族, default 汉族.
    #[validate(length(min = 1, max = 20, message = "民族须为 1 到 20 个字符。"))]
    pub ethnicity: Option<String>,
    /// 公民身份号码 (GB 11643, 18 characters).
    #[validate(length(min = 1, max = 32, message = "身份证号码长度不正确。"))]
    pub id_number: String,
    #[validate(length(min = 1, max = 32, message = "手机号长度不正确。"))]
    pub phone: Option<String>,
    /// 学历.
    #[validate(length(max = 50, message = "学历最多 50 个字符。"))]
    pub education: Option<String>,
    /// 工作单位.
    #[validate(length(max = 200, message = "工作单位最多 200 个字符。"))]
    pub work_unit: Option<String>,
    /// A 党小组 (org of kind `party_group`) under the branch.
    pub party_group_id: Option<String>,
    pub status: MemberStatus,
    /// 申请入党日期.
    pub applied_on: Option<NaiveDate>,
    /// 确定为入党积极分子日期.
    pub activist_on: Option<NaiveDate>,
    /// 确定为发展对象日期.
    pub candidate_on: Option<NaiveDate>,
    /// 加入党组织日期 (接收为预备党员).
    pub probationary_on: Option<NaiveDate>,
    /// 转为正式党员日期.
    pub regularized_on: Option<NaiveDate>,
    /// 备注.
    #[validate(length(max = 500, message = "备注最多 500 个字符。"))]
    pub note: Option<String>,
}

/// `PATCH /members/{id}`: change profile fields. Absent fields stay; `null` clears a
/// nullable field. The status and flags have their own endpoints; the branch changes only
/// by a transfer. `version` is the one read; a stale one answers 409 `version_conflict`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub version: i32,
    #[validate(length(min = 1, max = 50, message = "姓名须为 1 到 50 个字符。"))]
    pub name: Option<String>,
    pub gender: Option<Gender>,
    pub birth_date: Option<NaiveDate>,
    #[validate(length(min = 1, max = 20, message = "民族须为 1 到 20 个字符。"))]
    pub ethnicity: Option<String>,
    #[validate(length(min = 1, max = 32, message = "身份证号码长度不正确。"))]
    pub id_number: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub education: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub work_unit: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub party_group_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub applied_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub activist_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub candidate_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub probationary_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub regularized_on: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, nullable)]
    pub note: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `POST /members/{id}/status`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub to: TransitionTarget,
    /// The date of the decision (支委会/支部大会/上级批准), not in the future.
    pub effective_on: NaiveDate,
    /// Required for `removed`.
    #[validate(length(min = 1, max = 500, message = "原因须为 1 到 500 个字符。"))]
    pub reason: Option<String>,
    /// For `extend_probation`: 6 to 12 months.
    #[validate(range(min = 6, max = 12, message = "延长预备期须为 6 到 12 个月。"))]
    pub extension_months: Option<u8>,
    /// When given, must be the current version (409 `version_conflict` otherwise).
    pub version: Option<i32>,
}

/// `POST /members/{id}/flags`: set or clear flags; absent fields stay, and
/// `discipline_until: null` ends a 留党察看.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct FlagsChange {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<NaiveDate>, nullable)]
    pub discipline_until: Option<Option<NaiveDate>>,
    pub rights_suspended: Option<bool>,
    pub membership_stopped: Option<bool>,
    pub lost_contact: Option<bool>,
    pub effective_on: NaiveDate,
    #[validate(length(min = 1, max = 500, message = "原因须为 1 到 500 个字符。"))]
    pub reason: Option<String>,
    pub version: Option<i32>,
}

/// A member as managers (and the member) see it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub id: String,
    /// The branch holding the formal relationship (正式组织关系).
    pub org_id: String,
    pub party_group_id: Option<String>,
    pub name: String,
    pub gender: Gender,
    pub birth_date: Option<NaiveDate>,
    pub ethnicity: String,
    /// Masked (`410402********123X`) unless revealed.
    pub id_number: String,
    /// Masked (`138****5678`) unless revealed.
    pub phone: Option<String>,
    /// Whether `id_number` and `phone` are shown in full.
    pub revealed: bool,
    pub education: Option<String>,
    pub work_unit: Option<String>,
    pub note: Option<String>,
    pub status: MemberStatus,
    pub applied_on: Option<NaiveDate>,
    pub activist_on: Option<NaiveDate>,
    pub candidate_on: Option<NaiveDate>,
    pub probationary_on: Option<NaiveDate>,
    pub probation_extended: bool,
    pub probation_extension_months: Option<i32>,
    /// For a probationary member: the day the probation (with any extension) has ended.
    pub probation_ends_on: Option<NaiveDate>,
    pub regularized_on: Option<NaiveDate>,
    pub flags: MemberFlags,
    pub removed_reason: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One line of a branch list. Managers get the masked profile; fellow members of the
/// branch get only `id`, `org_id`, `name` and `status`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MemberListItem {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub status: MemberStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party_group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    /// Masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    /// Masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<MemberFlags>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

/// Query of `GET /orgs/{org_id}/members`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MemberListQuery {
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// Comma-separated statuses; default: every status but `removed`.
    pub status: Option<String>,
    /// Names starting with this.
    pub name_prefix: Option<String>,
    /// Comma-separated flags that must all hold: `under_discipline`, `rights_suspended`,
    /// `membership_stopped`, `lost_contact` (managers only).
    pub flags: Option<String>,
    /// Include the whole subtree (org admins only).
    pub subtree: Option<bool>,
}

/// Query of `GET /members/{id}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MemberReadQuery {
    /// Show the ID number and phone in full (audited; only for the member, the branch
    /// secretary of the member's branch and org admins in scope).
    pub reveal: Option<bool>,
}

/// Query of `GET /members/lookup`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MemberLookupQuery {
    /// The national ID number to find (exact, by blind index).
    pub id_number: String,
}

/// One status or flag change.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub id: String,
    /// `status`, `extend_probation`, or `flag.<name>`.
    pub change: String,
    pub from_value: Option<String>,
    pub to_value: String,
    pub effective_on: NaiveDate,
    pub reason: Option<String>,
    pub actor_account_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Query of `POST /orgs/{org_id}/members/import`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Validate and count, write nothing.
    pub dry_run: Option<bool>,
    /// Write the valid rows even when others are invalid.
    pub partial: Option<bool>,
}

/// The body of an import: the file's bytes as uploaded.
#[derive(Debug, Clone, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct RosterFile(pub Vec<u8>);

/// One problem of an import, at a row (as the spreadsheet numbers it: the header is row
/// 1) and a column (its header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportIssue {
    pub row: u64,
    pub column: String,
    pub code: String,
    pub message: String,
}

/// What an import did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub partial: bool,
    /// The file can be imported: it is readable, has the required columns, and every row
    /// is valid (with `partial`: whatever rows are invalid).
    pub valid: bool,
    /// Whether anything was written.
    pub committed: bool,
    /// Data rows read (the header not counted).
    pub rows: u64,
    pub created: u64,
    /// Rows matching a member already on the roster with the same data.
    pub unchanged: u64,
    /// Rows matching a member whose profile fields they changed.
    pub updated: u64,
    /// Rows refused (with `partial`, the others were written).
    pub rejected: u64,
    /// The problems found, at most 1000.
    pub issues: Vec<ImportIssue>,
    /// More problems were found than `issues` holds.
    pub issues_truncated: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn patch_tells_null_from_absent() {
        let p: UpdateMember =
            serde_json::from_str(r#"{"version":3,"phone":null,"work_unit":"村委会"}"#).unwrap();
        assert_eq!(p.phone, Some(None));
        assert_eq!(p.work_unit, Some(Some("村委会".into())));
        assert_eq!(p.education, None);
        assert!(serde_json::from_str::<UpdateMember>(r#"{"version":1,"status":"full"}"#).is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in MemberStatus::ALL {
            assert_eq!(MemberStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            MemberStatus::parse_zh(" 入党积极分子 "),
            Some(MemberStatus::Activist)
        );
        assert_eq!(MemberStatus::parse_zh("群众"), None);
    }
}
