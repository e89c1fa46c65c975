//! The minutes record (会议记录, RULES.md §6): header, attendance table (应到/实到), the
//! speakers' points in order, resolutions, motions with their counts and results, the
//! host's and recorder's sign-off, attachments, and the upper organization's review.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::meetings::{AgendaItem, PersonRef};
use crate::motions::{Motion, QuorumSnapshot};

fn non_blank(s: &str) -> Result<(), ValidationError> {
    if s.trim().is_empty() {
        let mut e = ValidationError::new("blank");
        e.message = Some("不能为空白。".into());
        return Err(e);
    }
    Ok(())
}

/// `POST /meetings/{id}/minutes/points`: one speaker's point, appended in order. Either
/// `speaker_member_id` (a member; the name comes from the roster) or `speaker_name` (a
/// guest).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AddPoint {
    #[validate(length(min = 1, max = 64, message = "发言人编号无效。"))]
    pub speaker_member_id: Option<String>,
    #[validate(
        length(min = 1, max = 50, message = "发言人姓名须为 1 到 50 个字符。"),
        custom(function = "non_blank")
    )]
    pub speaker_name: Option<String>,
    /// The agenda item spoken to, from 1.
    #[validate(range(min = 1, max = 50, message = "议题序号须为 1 到 50。"))]
    pub agenda_item: Option<i32>,
    #[validate(
        length(min = 1, max = 5000, message = "发言要点须为 1 到 5000 个字符。"),
        custom(function = "non_blank")
    )]
    pub text: String,
}

/// One speaker's point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MinutePoint {
    pub id: String,
    /// 1, 2, 3… in the order recorded.
    pub seq: i32,
    pub speaker_member_id: Option<String>,
    pub speaker_name: String,
    pub agenda_item: Option<i32>,
    pub text: String,
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

/// `PUT /meetings/{id}/minutes`: the summary and the resolutions (决议), replaced whole,
/// while the minutes are not submitted. A change after a signature clears the signatures:
/// the host and recorder sign what is recorded.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PutMinutes {
    #[validate(length(max = 20000, message = "会议纪要最多 20000 个字符。"))]
    pub summary: Option<String>,
    #[serde(default)]
    #[validate(
        length(max = 50, message = "决议最多 50 条。"),
        custom(function = "resolutions_ok")
    )]
    pub resolutions: Vec<String>,
}

fn resolutions_ok(list: &[String]) -> Result<(), ValidationError> {
    if list
        .iter()
        .any(|r| r.trim().is_empty() || r.chars().count() > 2000)
    {
        let mut e = ValidationError::new("resolution");
        e.message = Some("每条决议须为 1 到 2000 个字符。".into());
        return Err(e);
    }
    Ok(())
}

/// Who signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignAs {
    /// 主持人.
    Host,
    /// 记录人.
    Recorder,
}

/// `POST /meetings/{id}/minutes/sign`: the meeting's host or recorder signs, as themself.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct SignMinutes {
    #[serde(rename = "as")]
    pub as_: SignAs,
}

/// `POST /meetings/{id}/minutes/review`: the upper organization's review.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ReviewMinutes {
    #[validate(length(max = 2000, message = "审阅意见最多 2000 个字符。"))]
    pub comment: Option<String>,
}

/// Where the record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MinutesStatus {
    /// Being written (or nothing written yet).
    Draft,
    /// Submitted to the upper organization.
    Submitted,
    /// Reviewed by the upper organization.
    Reviewed,
}

impl MinutesStatus {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Draft => "记录中",
            Self::Submitted => "已提交",
            Self::Reviewed => "已审阅",
        }
    }
}

/// A recorded signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Signature {
    pub member_id: String,
    pub name: String,
    /// The account that signed.
    pub signed_by: String,
    pub signed_at: DateTime<Utc>,
}

/// The host's and the recorder's sign-off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignOffs {
    pub host: Option<Signature>,
    pub recorder: Option<Signature>,
}

/// The record's header (会议基本情况).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MinutesHeader {
    pub kind: String,
    pub kind_label_zh: String,
    pub held_as: Option<String>,
    pub held_as_label_zh: Option<String>,
    pub title: String,
    pub org_id: String,
    pub org_name: String,
    pub scheduled_start: DateTime<Utc>,
    pub scheduled_end: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub place: Option<String>,
    pub mode: String,
    pub mode_label_zh: String,
    pub host: Option<PersonRef>,
    pub recorder: Option<PersonRef>,
    /// 党课: 授课人.
    pub lecturer: Option<String>,
    pub agenda: Vec<AgendaItem>,
    pub meeting_status: String,
    pub meeting_status_label_zh: String,
}

/// Heads by standing: all party members of the body, 正式党员, 预备党员.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HeadCount {
    /// 党员总数 (everyone on the roster).
    pub total: u32,
    /// 正式党员 (with or without their rights in force).
    pub full: u32,
    /// 预备党员.
    pub probationary: u32,
}

/// Members present, by how they attended (in the room at any time wins over remote).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ByMode {
    pub in_person: u32,
    pub remote: u32,
}

/// One member who attended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Attendee {
    pub member_id: String,
    pub name: String,
    /// Roster standing (`full`, `probationary`, …).
    pub status: String,
    pub status_label_zh: String,
    /// `in_person` if in the room at any time, else `remote`.
    pub mode: String,
    pub first_arrived_at: DateTime<Utc>,
    /// Absent while still present.
    pub last_left_at: Option<DateTime<Utc>>,
    /// Intervals of presence (leaving and coming back adds one).
    pub intervals: u32,
}

/// One member of the roster who never attended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Absentee {
    pub member_id: String,
    pub name: String,
    pub status: String,
    pub status_label_zh: String,
    /// The recorded reason (`leave`, `sick`, `work`, `away`, `other`); absent when none was
    /// recorded.
    pub reason: Option<String>,
    pub reason_label_zh: Option<String>,
    pub note: Option<String>,
    /// Left out of E by an approved exclusion.
    pub excluded: bool,
}

/// An invited observer (列席).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ObserverEntry {
    pub kind: String,
    pub kind_label_zh: String,
    pub name: String,
    pub member_id: Option<String>,
    /// Whether an attendance interval was recorded for them.
    pub attended: bool,
}

/// A request to leave a member out of E, with its approvals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExclusionEntry {
    pub member_id: String,
    pub name: String,
    pub reason: String,
    pub reason_label_zh: String,
    pub note: Option<String>,
    pub upper_approved_at: Option<DateTime<Utc>>,
    pub upper_approved_by: Option<String>,
    pub congress_approved_at: Option<DateTime<Utc>>,
    pub congress_approved_by: Option<String>,
    pub rejected_at: Option<DateTime<Utc>>,
    /// Every required approval given and none rejected.
    pub effective: bool,
}

/// A written opinion received before the meeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WrittenEntry {
    pub motion_id: String,
    pub motion_title: String,
    pub member_id: String,
    pub name: String,
    pub choice: String,
    pub choice_label_zh: String,
    /// Whether the tally counted it; absent until the motion is closed.
    pub counted: Option<bool>,
}

/// The attendance table (出席情况).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AttendanceTable {
    /// Whether the roster was frozen at the start (else the body today, before the start).
    pub roster_frozen: bool,
    /// 应到.
    pub expected: HeadCount,
    /// 实到: members who attended at any time.
    pub present: HeadCount,
    /// 实到 by mode.
    pub present_by_mode: ByMode,
    /// E: voting members expected after approved exclusions (an excluded member who came
    /// counts again).
    pub expected_voting: u32,
    /// P: voting members of E who attended at any time, and by mode.
    pub present_voting: u32,
    pub present_voting_by_mode: ByMode,
    /// The quorum when the meeting ended (members present at that moment); absent before
    /// the end.
    pub quorum_at_end: Option<QuorumSnapshot>,
    pub attendees: Vec<Attendee>,
    pub absentees: Vec<Absentee>,
    pub observers: Vec<ObserverEntry>,
    pub exclusions: Vec<ExclusionEntry>,
    pub written_opinions: Vec<WrittenEntry>,
}

/// An attachment's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttachmentMeta {
    pub id: String,
    pub filename: String,
    /// Detected from the content: `image/png`, `image/jpeg` or `application/pdf`.
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub uploaded_by: String,
    pub created_at: DateTime<Utc>,
}

/// Query of `POST /meetings/{id}/attachments`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The file name to keep (its extension must fit the content).
    pub filename: String,
}

/// Format of `GET /meetings/{id}/minutes/export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Json,
    Html,
}

/// Query of `GET /meetings/{id}/minutes/export`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `json` (default) or `html` (a printable 记录本 page).
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// `GET /meetings/{id}/minutes`: the full record.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MinutesRecord {
    pub meeting_id: String,
    pub status: MinutesStatus,
    pub status_label_zh: String,
    pub header: MinutesHeader,
    pub attendance: AttendanceTable,
    pub points: Vec<MinutePoint>,
    pub summary: Option<String>,
    pub resolutions: Vec<String>,
    pub motions: Vec<Motion>,
    pub sign_offs: SignOffs,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub review_comment: Option<String>,
    pub attachments: Vec<AttachmentMeta>,
    pub updated_at: Option<DateTime<Utc>>,
}
