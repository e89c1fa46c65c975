//! Meetings (三会一课): the meeting record and its lifecycle, invited observers, exclusions
//! from E (不计入应到会), attendance (intervals, QR check-in, absences) and the quorum.
//!
//! Lifecycle: `draft → scheduled → in_progress → ended → minutes_submitted → reviewed`,
//! `cancelled` from draft or scheduled. A request the current status does not allow answers
//! 409 `illegal_transition` with `allowed` listing the actions it does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $s:literal / $zh:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $s),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            pub fn label_zh(self) -> &'static str {
                match self {
                    $(Self::$variant => $zh),+
                }
            }
        }
    };
}

wire_enum! {
    /// What kind of meeting (三会一课 and the yearly meetings).
    MeetingKind {
        /// 支部党员大会.
        Congress => "congress" / "支部党员大会",
        /// 支部委员会.
        Committee => "committee" / "支部委员会",
        /// 党小组会.
        PartyGroup => "party_group" / "党小组会",
        /// 党课.
        Lecture => "lecture" / "党课",
        /// 主题党日.
        ThemeDay => "theme_day" / "主题党日",
        /// 组织生活会 (held as a congress, committee or party group meeting).
        LifeMeeting => "life_meeting" / "组织生活会",
        /// 民主评议党员 (held as a congress, committee or party group meeting).
        DemocraticReview => "democratic_review" / "民主评议党员",
    }
}

wire_enum! {
    /// The body a 组织生活会 or 民主评议 is held as.
    HeldAs {
        Congress => "congress" / "支部党员大会",
        Committee => "committee" / "支部委员会",
        PartyGroup => "party_group" / "党小组会",
    }
}

wire_enum! {
    /// Where people take part.
    MeetingMode {
        /// 现场.
        InPerson => "in_person" / "现场",
        /// 视频.
        Video => "video" / "视频",
        /// 现场 + 视频.
        Hybrid => "hybrid" / "现场+视频",
    }
}

wire_enum! {
    /// Where a meeting is in its lifecycle.
    MeetingStatus {
        Draft => "draft" / "草稿",
        Scheduled => "scheduled" / "已通知",
        InProgress => "in_progress" / "进行中",
        Ended => "ended" / "已结束",
        MinutesSubmitted => "minutes_submitted" / "记录已提交",
        Reviewed => "reviewed" / "已审阅",
        Cancelled => "cancelled" / "已取消",
    }
}

/// One agenda item (议题).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AgendaItem {
    #[validate(length(min = 1, max = 200, message = "议题标题为 1–200 个字符"))]
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[validate(length(max = 2000, message = "说明最多 2000 个字符"))]
    pub note: Option<String>,
}

fn non_blank(s: &str) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        let mut e = ValidationError::new("blank");
        e.message = Some("不能为空白".into());
        return Err(e);
    }
    Ok(())
}

/// `POST /orgs/{org_id}/meetings`: a new meeting, created as a draft.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateMeeting {
    pub kind: MeetingKind,
    /// Only for `life_meeting` and `democratic_review`; default congress.
    #[serde(default)]
    pub held_as: Option<HeldAs>,
    #[validate(
        length(min = 1, max = 200, message = "标题为 1–200 个字符"),
        custom(function = "non_blank")
    )]
    pub title: String,
    #[serde(default)]
    #[validate(length(max = 50, message = "议题最多 50 项"), nested)]
    pub agenda: Vec<AgendaItem>,
    pub scheduled_start: DateTime<Utc>,
    pub scheduled_end: DateTime<Utc>,
    #[serde(default)]
    #[validate(length(max = 200, message = "地点最多 200 个字符"))]
    pub place: Option<String>,
    pub mode: MeetingMode,
    #[serde(default)]
    pub host_member_id: Option<String>,
    #[serde(default)]
    pub recorder_member_id: Option<String>,
    /// 党课: who gives it (name, may be a guest).
    #[serde(default)]
    #[validate(length(max = 100, message = "授课人最多 100 个字符"))]
    pub lecturer: Option<String>,
}

/// `PATCH /meetings/{id}`: changes the fields present, while the meeting is a draft or
/// scheduled. Changing the time or place of a scheduled meeting notifies its members.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeeting {
    #[serde(default)]
    pub held_as: Option<HeldAs>,
    #[serde(default)]
    #[validate(
        length(min = 1, max = 200, message = "标题为 1–200 个字符"),
        custom(function = "non_blank")
    )]
    pub title: Option<String>,
    #[serde(default)]
    #[validate(length(max = 50, message = "议题最多 50 项"), nested)]
    pub agenda: Option<Vec<AgendaItem>>,
    #[serde(default)]
    pub scheduled_start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub scheduled_end: Option<DateTime<Utc>>,
    #[serde(default)]
    #[validate(length(max = 200, message = "地点最多 200 个字符"))]
    pub place: Option<String>,
    #[serde(default)]
    pub mode: Option<MeetingMode>,
    #[serde(default)]
    pub host_member_id: Option<String>,
    #[serde(default)]
    pub recorder_member_id: Option<String>,
    #[serde(default)]
    #[validate(length(max = 100, message = "授课人最多 100 个字符"))]
    pub lecturer: Option<String>,
    /// The version read; an `If-Match` header does the same.
    #[serde(default)]
    pub version: Option<i32>,
}

/// `POST /meetings/{id}/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CancelMeeting {
    #[validate(
        length(min = 1, max = 500, message = "取消原因为 1–500 个字符"),
        custom(function = "non_blank")
    )]
    pub reason: String,
}

/// A meeting as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Meeting {
    pub id: String,
    pub org_id: String,
    pub kind: MeetingKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_as: Option<HeldAs>,
    pub title: String,
    pub agenda: Vec<AgendaItem>,
    pub scheduled_start: DateTime<Utc>,
    pub scheduled_end: DateTime<Utc>,
    pub place: Option<String>,
    pub mode: MeetingMode,
    pub host_member_id: Option<String>,
    pub recorder_member_id: Option<String>,
    pub lecturer: Option<String>,
    pub status: MeetingStatus,
    pub cancel_reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The threshold readings in force since the start (rule → `strict`/`inclusive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<BTreeMap<String, String>>,
    /// Whether quorum rules apply to this kind of meeting (党员大会, 支委会 and what is held as them).
    pub quorum_applies: bool,
    /// What the current status allows next (`edit`, `schedule`, `start`, `end`, `cancel`, …).
    pub allowed_actions: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// Filters of `GET /orgs/{org_id}/meetings`, ordered by scheduled start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MeetingListQuery {
    /// Meetings starting at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Meetings starting before this time.
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<MeetingKind>,
    pub status: Option<MeetingStatus>,
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

wire_enum! {
    /// Who an invited observer (列席) is.
    ObserverKind {
        /// 入党积极分子.
        Activist => "activist" / "入党积极分子",
        /// 群众.
        Masses => "masses" / "群众",
        /// 上级指导人员 or another guest.
        Guest => "guest" / "上级指导人员",
    }
}

/// `POST /meetings/{id}/observers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AddObserver {
    pub kind: ObserverKind,
    #[validate(
        length(min = 1, max = 100, message = "姓名为 1–100 个字符"),
        custom(function = "non_blank")
    )]
    pub name: String,
    /// When the observer is on the roster (e.g. an activist): lets them check in.
    #[serde(default)]
    pub member_id: Option<String>,
    /// When the observer has an account (e.g. an upper-level guest).
    #[serde(default)]
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Observer {
    pub id: String,
    pub kind: ObserverKind,
    pub name: String,
    pub member_id: Option<String>,
    pub account_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

wire_enum! {
    /// The listed reasons for leaving a voting member out of E (RULES.md §2.4).
    ExclusionReason {
        Ill => "ill" / "患病不能表达本人意志",
        AbroadHalfYear => "abroad_half_year" / "出国半年以上",
        ServingSentence => "serving_sentence" / "正在服刑",
        Bedridden => "bedridden" / "年老体弱卧床不起",
        AwayHalfYearNotTransferred => "away_half_year_not_transferred" / "外出半年以上未转组织关系",
        RetiredLivingBackHome => "retired_living_back_home" / "离退休回原籍居住",
        MigrantApplied => "migrant_applied" / "流动党员申请不参加",
    }
}

/// `POST /meetings/{id}/exclusions`: asks to leave a member out of E for this meeting.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateExclusion {
    #[validate(length(min = 1, max = 64, message = "党员编号无效"))]
    pub member_id: String,
    pub reason: ExclusionReason,
    #[serde(default)]
    #[validate(length(max = 1000, message = "说明最多 1000 个字符"))]
    pub note: Option<String>,
}

wire_enum! {
    /// Whose approval a decision on an exclusion records.
    ApprovalBy {
        /// 上级党组织.
        Upper => "upper" / "上级党组织",
        /// 支部党员大会, recorded by the branch secretary.
        Congress => "congress" / "党员大会",
    }
}

/// `POST /meeting-exclusions/{id}/approve` and `/reject`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ExclusionDecision {
    pub by: ApprovalBy,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Exclusion {
    pub id: String,
    pub meeting_id: String,
    pub member_id: String,
    pub member_name: String,
    pub reason: ExclusionReason,
    pub note: Option<String>,
    pub upper_approved_by: Option<String>,
    pub upper_approved_at: Option<DateTime<Utc>>,
    pub congress_approved_by: Option<String>,
    pub congress_approved_at: Option<DateTime<Utc>>,
    pub rejected_by: Option<String>,
    pub rejected_at: Option<DateTime<Utc>>,
    /// Whether every approval the locality requires is given (and none rejected): only then
    /// does the member leave E.
    pub effective: bool,
    pub created_at: DateTime<Utc>,
}

wire_enum! {
    /// How a member is present during one interval.
    AttendanceMode {
        InPerson => "in_person" / "现场",
        Remote => "remote" / "远程",
    }
}

wire_enum! {
    /// What the secretary records.
    AttendanceAction {
        /// 到会 (opens an interval).
        Arrive => "arrive" / "到会",
        /// 离会 (closes the open interval).
        Leave => "leave" / "离会",
    }
}

/// `POST /meetings/{id}/attendance`: the secretary records an arrival or a departure.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct MarkAttendance {
    #[validate(length(min = 1, max = 64, message = "党员编号无效"))]
    pub member_id: String,
    pub mode: AttendanceMode,
    pub action: AttendanceAction,
}

/// One stretch of presence. Leaving and coming back adds intervals; none is overwritten.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttendanceInterval {
    pub id: String,
    pub member_id: String,
    pub mode: AttendanceMode,
    /// `secretary`, `qr` or `signaling`.
    pub source: String,
    /// For remote intervals: the SFU has seen media from the member.
    pub media_proven: bool,
    pub opened_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Absent while the member is present.
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
}

wire_enum! {
    /// Why a member is absent (缺席原因).
    AbsenceReason {
        Leave => "leave" / "请假",
        Sick => "sick" / "病假",
        Work => "work" / "因公",
        Away => "away" / "外出",
        Other => "other" / "其他",
    }
}

/// `PUT /meetings/{id}/absences/{member_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutAbsence {
    pub reason: AbsenceReason,
    #[serde(default)]
    #[validate(length(max = 1000, message = "说明最多 1000 个字符"))]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Absence {
    pub member_id: String,
    pub reason: AbsenceReason,
    pub note: Option<String>,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// `GET /meetings/{id}/attendance`: every interval and every recorded absence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Attendance {
    pub intervals: Vec<AttendanceInterval>,
    pub absences: Vec<Absence>,
}

/// `GET /meetings/{id}/qr`: the check-in code to show at the venue now.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QrCode {
    /// Put this in the QR code; members' apps send it to `check-in`.
    pub token: String,
    /// Length of a window in seconds.
    pub window_secs: u64,
    /// Seconds until the next code; fetch again then.
    pub rotates_in_secs: u64,
}

/// `POST /meetings/{id}/check-in`: a member scanned the code at the venue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CheckIn {
    #[validate(length(min = 1, max = 200, message = "签到码无效"))]
    pub token: String,
}

/// A person named in a quorum report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PersonRef {
    pub member_id: String,
    pub name: String,
}

/// `GET /meetings/{id}/quorum`: who is expected, who is here, and whether the meeting may
/// decide (QUORUM.md).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuorumReport {
    /// The rule applied: `congress` or `committee` (`congress` also for meetings without
    /// a quorum rule, whose numbers are informative only).
    pub kind: String,
    /// Whether a quorum rule applies to this meeting at all.
    pub quorum_applies: bool,
    /// Whether E comes from the roster frozen at the start (else from the body today).
    pub roster_frozen: bool,
    /// E (应到会).
    pub expected: u32,
    /// P (实到会 with a voting right).
    pub present_voting: u32,
    pub present_in_person: u32,
    pub present_remote: u32,
    /// The rule as a formula, e.g. `2P > E`.
    pub threshold: String,
    pub quorate: bool,
    /// Members of E who are not present.
    pub missing: Vec<PersonRef>,
    /// Voting members left out of E by an approved exclusion (and absent).
    pub excluded: Vec<PersonRef>,
    /// Present but not counted: no voting right, not on the committee, or observers.
    pub present_not_counted: Vec<PersonRef>,
}
