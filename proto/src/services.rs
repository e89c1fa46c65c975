//! 服务面对面: experts, public accounts, questions and their answer thread, escalation,
//! FAQ, consultation slots and bookings, statistics.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::minutes::AttachmentMeta;

/// A configured field (农技, 法律, 医疗 …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceFieldInfo {
    #[schema(example = "agri")]
    pub code: String,
    #[schema(example = "农技")]
    pub label: String,
}

/// When an expert is usually available: a weekday (1 = Monday … 7 = Sunday) and a time
/// range in China Standard Time, `HH:MM`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityWindow {
    #[validate(range(min = 1, max = 7, message = "星期须为 1 到 7。"))]
    pub weekday: u8,
    #[validate(length(equal = 5, message = "时间格式须为 HH:MM。"))]
    #[schema(example = "09:00")]
    pub start: String,
    #[validate(length(equal = 5, message = "时间格式须为 HH:MM。"))]
    #[schema(example = "17:00")]
    pub end: String,
}

/// `POST /services/experts`: an `org_admin` registers an expert for their area. The
/// expert starts `pending` until verified. A new phone gets a pending `expert` account
/// and an activation code; an existing account (e.g. a member who is a doctor) gets the
/// `expert` role added and keeps its password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateExpert {
    /// The organization that manages the expert (the caller must be its `org_admin`).
    pub org_id: String,
    #[validate(length(min = 1, max = 50, message = "姓名须为 1 到 50 个字符。"))]
    pub name: String,
    #[validate(length(min = 1, max = 32, message = "手机号无效。"))]
    pub phone: String,
    /// A configured field code (`GET /services/fields`).
    #[validate(length(min = 1, max = 32, message = "领域无效。"))]
    pub field: String,
    #[serde(default)]
    #[validate(length(max = 20, message = "专长最多 20 项。"))]
    pub specialities: Vec<String>,
    /// Organizations whose subtrees the expert serves; default: `org_id`.
    #[serde(default)]
    #[validate(length(max = 50, message = "服务区域最多 50 个。"))]
    pub area_org_ids: Vec<String>,
    #[serde(default)]
    #[validate(nested)]
    pub availability: Vec<AvailabilityWindow>,
}

/// `PATCH /services/experts/{id}`: the managing `org_admin` changes any field; the expert
/// himself only `specialities` and `availability`. `version` must match.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct UpdateExpert {
    pub version: i32,
    #[validate(length(min = 1, max = 50, message = "姓名须为 1 到 50 个字符。"))]
    pub name: Option<String>,
    #[validate(length(max = 20, message = "专长最多 20 项。"))]
    pub specialities: Option<Vec<String>>,
    #[validate(length(min = 1, max = 50, message = "服务区域须为 1 到 50 个。"))]
    pub area_org_ids: Option<Vec<String>>,
    #[validate(nested)]
    pub availability: Option<Vec<AvailabilityWindow>>,
}

/// What an `org_admin` does to an expert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpertAction {
    /// Checked the credentials: the expert is verified and enabled.
    Verify,
    /// Takes questions again (verified experts only).
    Enable,
    /// Takes no new questions.
    Disable,
}

/// `POST /services/experts/{id}/status`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ExpertStatusChange {
    pub action: ExpertAction,
}

/// An organization named by id and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrgRef {
    pub id: String,
    pub name: String,
}

/// An expert's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Expert {
    pub id: String,
    pub account_id: String,
    /// The managing organization.
    pub org_id: String,
    pub name: String,
    pub field: String,
    pub field_label: String,
    pub specialities: Vec<String>,
    pub areas: Vec<OrgRef>,
    pub availability: Vec<AvailabilityWindow>,
    /// `pending` (not verified yet), `enabled` or `disabled`.
    pub status: String,
    pub verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub version: i32,
}

/// A one-time activation code, shown only in this answer; redeem it at
/// `POST /auth/activate` with the phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedCode {
    pub account_id: String,
    #[schema(example = "K7MQ4TZ9")]
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

/// The answer to `POST /services/experts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExpertCreated {
    pub expert: Expert,
    /// Present when a new account was made for the expert.
    pub activation: Option<IssuedCode>,
}

/// The experts an organization manages (its subtree included).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExpertList {
    pub items: Vec<Expert>,
}

/// `POST /services/public-accounts`: the service centre opens a `public` (群众) account
/// for a villager of `org_id` and hands over the activation code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreatePublicAccount {
    /// The villager's home organization (village); the default area of his questions.
    pub org_id: String,
    #[validate(length(min = 1, max = 50, message = "姓名须为 1 到 50 个字符。"))]
    pub name: String,
    #[validate(length(min = 1, max = 32, message = "手机号无效。"))]
    pub phone: String,
}

/// `POST /services/register`: self-registration of a `public` account, only where the
/// deployment allows it (`services.public_self_registration`). Logs in on success.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RegisterPublic {
    pub org_id: String,
    #[validate(length(min = 1, max = 50, message = "姓名须为 1 到 50 个字符。"))]
    pub name: String,
    #[validate(length(min = 1, max = 32, message = "手机号无效。"))]
    pub phone: String,
    #[validate(length(min = 8, max = 128, message = "密码须为 8 到 128 个字符。"))]
    pub password: String,
    #[validate(length(min = 1, max = 128))]
    pub device_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    #[default]
    Normal,
    Urgent,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Urgent => "urgent",
        }
    }
}

/// `POST /services/questions`: ask in a field. The area defaults to the asker's own
/// organization; it may be that organization or one above it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateQuestion {
    /// A configured field code.
    #[validate(length(min = 1, max = 32, message = "类别无效。"))]
    pub category: String,
    #[validate(length(min = 1, max = 5000, message = "问题内容须为 1 到 5000 个字符。"))]
    pub text: String,
    pub area_org_id: Option<String>,
    #[serde(default)]
    pub urgency: Urgency,
}

/// A person as a question shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Asker {
    pub account_id: String,
    pub name: String,
    /// Masked; absent for experts the question is only offered to.
    pub phone_masked: Option<String>,
}

/// An expert as a question shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExpertRef {
    pub id: String,
    pub name: String,
    pub field: String,
}

/// One message of the answer thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuestionMessage {
    pub id: String,
    /// `asker` or `expert`.
    pub author_role: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// A booked (or past, or cancelled) live consultation on a question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Consultation {
    pub id: String,
    pub question_id: String,
    pub slot_id: String,
    pub expert_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `booked`, `in_progress`, `completed` or `cancelled`.
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<i64>,
}

/// A question with everything its reader may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Question {
    pub id: String,
    pub category: String,
    pub category_label: String,
    pub text: String,
    pub area_org_id: String,
    pub area_name: String,
    /// `normal` or `urgent`.
    pub urgency: String,
    /// `open` (waiting for an expert), `escalated`, `accepted` or `closed`.
    pub status: String,
    /// How the caller relates to it: `asker`, `expert` (assigned), `offered` (may accept
    /// or decline) or `admin`.
    pub viewer_role: String,
    pub asker: Asker,
    pub assigned_expert: Option<ExpertRef>,
    /// Experts it is offered to now (shown to admins).
    pub offered_to: Vec<ExpertRef>,
    pub messages: Vec<QuestionMessage>,
    pub attachments: Vec<AttachmentMeta>,
    pub consultations: Vec<Consultation>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub first_answer_at: Option<DateTime<Utc>>,
    pub escalated_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// `asker` or `inactivity`.
    pub close_reason: Option<String>,
    pub rating: Option<i32>,
    pub rating_comment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub version: i32,
}

/// A question in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuestionSummary {
    pub id: String,
    pub category: String,
    pub area_org_id: String,
    pub urgency: String,
    pub status: String,
    pub assigned_expert_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub escalated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuestionList {
    pub items: Vec<QuestionSummary>,
}

/// Which of the caller's questions `GET /services/questions` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum QuestionRole {
    /// Asked by the caller.
    #[default]
    Asked,
    /// Assigned to the caller as expert.
    Assigned,
    /// Offered to the caller as expert, waiting for accept or decline.
    Offered,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MyQuestionsQuery {
    /// `asked` (default), `assigned` or `offered`.
    #[param(inline)]
    pub role: Option<QuestionRole>,
}

/// `POST /services/questions/{id}/messages`: an answer by the assigned expert or a
/// follow-up by the asker.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    #[validate(length(min = 1, max = 5000, message = "内容须为 1 到 5000 个字符。"))]
    pub text: String,
}

/// `POST /services/questions/{id}/rating`: once, by the asker, after an answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RateQuestion {
    #[validate(range(min = 1, max = 5, message = "评分须为 1 到 5。"))]
    pub rating: i32,
    #[validate(length(max = 500, message = "评价不超过 500 个字符。"))]
    pub comment: Option<String>,
}

/// `POST /services/questions/{id}/assign`: an `org_admin` in scope gives a waiting or
/// escalated question to an enabled expert of its field serving its area.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AssignQuestion {
    pub expert_id: String,
}

/// `POST /services/questions/{id}/faq`: publish an answered question as an anonymized
/// FAQ entry. The texts default to the question and the expert's answers; the admin may
/// rewrite them (the asker's name and phone are never copied). The area defaults to the
/// question's and may be an organization above it in the admin's scope.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PublishFaq {
    #[validate(length(min = 1, max = 5000, message = "问题内容须为 1 到 5000 个字符。"))]
    pub question_text: Option<String>,
    #[validate(length(min = 1, max = 10000, message = "解答内容须为 1 到 10000 个字符。"))]
    pub answer_text: Option<String>,
    pub area_org_id: Option<String>,
}

/// One FAQ entry: no asker identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FaqEntry {
    pub id: String,
    pub area_org_id: String,
    pub area_name: String,
    pub category: String,
    pub category_label: String,
    pub question_text: String,
    pub answer_text: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FaqList {
    pub items: Vec<FaqEntry>,
}

/// `GET /services/faq`: entries that apply to a place (published there or above it),
/// optionally matching words in `q` and a field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FaqQuery {
    /// Words to find in the question or the answer.
    pub q: Option<String>,
    /// The place; default: the caller's own organization.
    pub org_id: Option<String>,
    pub category: Option<String>,
}

/// `POST /services/slots`: the calling expert offers a time for a live consultation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateSlot {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Slot {
    pub id: String,
    pub expert_id: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// `open`, `booked` or `withdrawn`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SlotList {
    pub items: Vec<Slot>,
}

/// `POST /services/questions/{id}/consultations`: the asker books one of the assigned
/// expert's open slots; a slot already booked is 409 `slot_taken`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct BookSlot {
    pub slot_id: String,
}

/// `GET /services/orgs/{id}/stats`: questions created in `[from, to)` (default: all).
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Figures of one field (or of all, in `total`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CategoryStats {
    /// The field code, or `all`.
    pub category: String,
    pub label: String,
    pub questions: u32,
    /// Questions with at least one answer.
    pub answered: u32,
    /// Questions closed after an answer.
    pub resolved: u32,
    /// Median seconds from asking to the first answer, over answered questions
    /// (nearest rank).
    pub median_first_answer_secs: Option<i64>,
    /// 90th percentile of the same (nearest rank).
    pub p90_first_answer_secs: Option<i64>,
    /// `resolved / questions`.
    pub resolution_rate: Option<f64>,
    pub ratings: u32,
    pub mean_rating: Option<f64>,
}

/// Statistics of an area (an organization's subtree) per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceStats {
    pub org_id: String,
    pub categories: Vec<CategoryStats>,
    pub total: CategoryStats,
}
