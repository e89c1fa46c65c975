//! 组织关系转接: transfer requests and the steps taken on them (RULES.md §4).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

/// Where the relationship goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// 县内: to a branch in the system.
    WithinCounty,
    /// 市内: to a branch in the system.
    WithinCity,
    /// 市外/省外: to an organization outside the system, by name and address.
    OutOfCity,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WithinCounty => "within_county",
            Self::WithinCity => "within_city",
            Self::OutOfCity => "out_of_city",
        }
    }
}

/// `POST /transfers`: by the member himself or by a secretary/committee member of his
/// branch. `to_org_id` (a branch) for transfers in the system; `outside_org_name` for
/// `out_of_city`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateTransfer {
    pub member_id: String,
    pub kind: TransferKind,
    pub to_org_id: Option<String>,
    #[validate(length(min = 1, max = 100, message = "接收单位名称须为 1 到 100 个字符。"))]
    pub outside_org_name: Option<String>,
    #[validate(length(max = 200, message = "接收单位地址不超过 200 个字符。"))]
    pub outside_org_address: Option<String>,
    #[validate(length(min = 1, max = 500, message = "转接原因须为 1 到 500 个字符。"))]
    pub reason: String,
    pub planned_on: Option<NaiveDate>,
}

/// `POST /transfers/{id}/steps`: one step of the state machine. `action` is one of
/// `approve_branch`, `approve_committee`, `accept`, `assign`, `report`, `return_receipt`,
/// `complete`, `return_for_edits`, `resubmit`, `withdraw`, `reject` (needs `comment` as
/// the reason), `revoke`. `version`, when given, must match the transfer's.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct TransferStepRequest {
    #[validate(length(min = 1, max = 40, message = "操作名称无效。"))]
    pub action: String,
    #[validate(length(max = 500, message = "意见不超过 500 个字符。"))]
    pub comment: Option<String>,
    pub version: Option<i32>,
}

/// One recorded step: who, at which organization, when, with what comment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransferStep {
    pub seq: i32,
    pub action: String,
    pub from_status: String,
    pub to_status: String,
    pub actor_account_id: String,
    pub actor_org_id: Option<String>,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A transfer request with its steps and the actions its status allows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Transfer {
    pub id: String,
    pub member_id: String,
    pub kind: String,
    pub from_org_id: Option<String>,
    /// The sending basic-level committee (nearest ancestor with approval authority).
    pub from_committee_id: Option<String>,
    pub to_org_id: Option<String>,
    pub to_committee_id: Option<String>,
    pub to_branch_id: Option<String>,
    pub outside_org_name: Option<String>,
    pub outside_org_address: Option<String>,
    pub reason: String,
    pub planned_on: Option<NaiveDate>,
    pub status: String,
    pub reject_reason: Option<String>,
    pub version: i32,
    pub allowed: Vec<String>,
    pub steps: Vec<TransferStep>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `GET /orgs/{org_id}/transfers/worklist`: which of the organization's transfers wait
/// on it (待办), wait on others (未办结), went out or came in (history), and how many of
/// its to-dos are older than `overdue_days` (审批超时).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransferWorklist {
    pub todo: Vec<String>,
    pub waiting: Vec<String>,
    pub history_out: Vec<String>,
    pub history_in: Vec<String>,
    pub overdue: Vec<String>,
    pub counts: TransferCounts,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransferCounts {
    pub todo: u32,
    pub waiting: u32,
    pub history_out: u32,
    pub history_in: u32,
    pub overdue: u32,
}

#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WorklistQuery {
    /// Days a to-do may wait before it counts as overdue (default 7, 1 to 365).
    pub overdue_days: Option<u32>,
}
