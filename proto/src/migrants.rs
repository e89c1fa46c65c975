//! 流动党员 (migrant members, RULES.md §4.4): a member away from his branch without
//! transferring his formal relationship, registered at home (outflow) or at the host
//! organization (inflow). At the host he takes part without a vote (`temporary` on its
//! rosters); at home he keeps his vote and may attend by video.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

/// `POST /members/{id}/outflow`: the home branch registers the member as away.
/// `host_org_id`, when the host is an organization in the system (a branch, or a
/// 流动党员临时支部), asks it to accept him (`host_status` `pending` until it does).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RegisterOutflow {
    /// Where to (流向地), e.g. `广西柳州市柳北区`.
    #[validate(length(min = 1, max = 100, message = "流向地须为 1 到 100 个字符。"))]
    pub destination: String,
    pub host_org_id: Option<String>,
    /// 工作单位 at the destination.
    #[validate(length(max = 200, message = "工作单位不超过 200 个字符。"))]
    pub work_unit: Option<String>,
    /// How to reach him there (phone, messaging account); stored encrypted, shown masked.
    #[validate(length(max = 100, message = "联系方式不超过 100 个字符。"))]
    pub contact: Option<String>,
    /// Away since (外出时间).
    pub since: NaiveDate,
    /// 《流动党员活动证》 number, when one was issued.
    #[validate(length(max = 40, message = "活动证编号不超过 40 个字符。"))]
    pub card_number: Option<String>,
}

/// `POST /orgs/{org_id}/migrants/inflow`: the host organization records a member from
/// elsewhere in the system who takes part in its activities, found by his ID number. The
/// home branch is told.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RegisterInflow {
    #[validate(length(min = 1, max = 32, message = "身份证号码长度不正确。"))]
    pub id_number: String,
    /// Defaults to the host organization's name.
    #[validate(length(min = 1, max = 100, message = "流向地须为 1 到 100 个字符。"))]
    pub destination: Option<String>,
    #[validate(length(max = 200, message = "工作单位不超过 200 个字符。"))]
    pub work_unit: Option<String>,
    #[validate(length(max = 100, message = "联系方式不超过 100 个字符。"))]
    pub contact: Option<String>,
    pub since: NaiveDate,
    #[validate(length(max = 40, message = "活动证编号不超过 40 个字符。"))]
    pub card_number: Option<String>,
}

/// How a contact with a migrant member was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContactChannel {
    Phone,
    Video,
    Visit,
    Message,
    /// The member reported himself (向党组织报告).
    SelfReport,
    Other,
}

impl ContactChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Video => "video",
            Self::Visit => "visit",
            Self::Message => "message",
            Self::SelfReport => "self_report",
            Self::Other => "other",
        }
    }
}

/// `POST /migrants/{id}/contacts`: a contact with the member (by a manager of the home or
/// host organization, or the member's own report).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RecordContact {
    pub channel: ContactChannel,
    /// When it happened; defaults to now, never in the future.
    pub contacted_at: Option<DateTime<Utc>>,
    #[validate(length(max = 500, message = "记录不超过 500 个字符。"))]
    pub note: Option<String>,
}

/// One recorded contact.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MigrantContact {
    pub id: String,
    pub channel: String,
    pub contacted_at: DateTime<Utc>,
    pub note: Option<String>,
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /migrants/{id}/review`: the secretary has looked into a 失联 flag.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ReviewLostContact {
    #[validate(length(max = 500, message = "说明不超过 500 个字符。"))]
    pub comment: Option<String>,
}

/// `POST /migrants/{id}/end`: the time away is over (returned, transferred, …).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct EndMigrant {
    #[validate(length(min = 1, max = 200, message = "结束原因须为 1 到 200 个字符。"))]
    pub reason: String,
    /// Defaults to today.
    pub ended_on: Option<NaiveDate>,
}

/// A member's time away, as the home or the host secretary sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MigrantRecord {
    pub id: String,
    pub member_id: String,
    pub member_name: String,
    /// Where it was registered: `outflow` (home) or `inflow` (host).
    pub direction: String,
    /// The branch holding his formal relationship.
    pub home_org_id: String,
    pub home_org_name: String,
    pub host_org_id: Option<String>,
    pub host_org_name: Option<String>,
    /// `none` (host outside the system), `pending` (awaiting the host) or `accepted`.
    pub host_status: String,
    pub destination: String,
    pub work_unit: Option<String>,
    pub contact_masked: Option<String>,
    pub since: NaiveDate,
    pub card_number: Option<String>,
    pub ended_on: Option<NaiveDate>,
    pub end_reason: Option<String>,
    /// The newest recorded contact.
    pub last_contact_at: Option<DateTime<Utc>>,
    /// The newest attendance at any meeting (home or host, in person or by video).
    pub last_attendance_at: Option<DateTime<Utc>>,
    /// The newest login or token refresh of his account.
    pub last_app_activity_at: Option<DateTime<Utc>>,
    /// 失联: no recorded contact for six months (since the last contact, or since the
    /// registration when there was none). For the secretary to look into; it changes
    /// nothing by itself.
    pub lost_contact: bool,
    /// The secretary reviewed the current 失联 flag.
    pub lost_contact_reviewed: bool,
    /// Away six months or more at the same place: the formal relationship should follow
    /// him (应转尽转, RULES.md §4.1).
    pub transfer_suggested: bool,
    /// Whole months away since `since`.
    pub months_away: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

/// `GET /migrants/{id}`: the record and its contacts, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MigrantDetail {
    pub record: MigrantRecord,
    pub contacts: Vec<MigrantContact>,
}

/// Which side of the organization's migrants to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum MigrantSide {
    /// Members of the organization (or its subtree) who are away (流出).
    #[default]
    Home,
    /// Members from elsewhere it hosts (流入), accepted or awaiting acceptance.
    Host,
}

/// `GET /orgs/{org_id}/migrants`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MigrantListQuery {
    /// `home` (default) or `host`.
    #[param(inline)]
    pub side: Option<MigrantSide>,
    /// Also list times away that have ended.
    pub include_ended: Option<bool>,
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}
