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
    /// 市外转入: registered by the receiving side with the paper letter's serial
    /// (`POST /transfers/incoming`), not by `POST /transfers`.
    IntoCity,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WithinCounty => "within_county",
            Self::WithinCity => "within_city",
            Self::OutOfCity => "out_of_city",
            Self::IntoCity => "into_city",
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
    /// 党费已交到 (`YYYY-MM`), printed on the letter; may also be given at a later step.
    #[validate(length(equal = 7, message = "党费交至年月格式为 YYYY-MM。"))]
    pub dues_paid_to: Option<String>,
}

/// `POST /transfers/incoming`: the receiving side registers a member who comes from
/// outside the city with a paper letter (市外转入). The person is entered on the roster
/// of `to_org_id` (a branch) but counts there only once the receiving committee accepts;
/// the transfer starts at the receiving committee's step (`approved_by_committee`, next
/// `accept`). Managers of the receiving branch (its secretary, or the committee).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RegisterIncoming {
    pub to_org_id: String,
    /// The serial printed on the incoming letter, e.g. `柳组字〔2026〕第0123号`.
    #[validate(length(min = 1, max = 60, message = "介绍信编号须为 1 到 60 个字符。"))]
    pub incoming_letter_serial: String,
    /// The organization that issued the letter (转出单位).
    #[validate(length(
        min = 1,
        max = 100,
        message = "开具介绍信的组织名称须为 1 到 100 个字符。"
    ))]
    pub from_org_name: String,
    #[validate(length(max = 200, message = "转出单位地址不超过 200 个字符。"))]
    pub from_org_address: Option<String>,
    #[validate(length(min = 1, max = 500, message = "转接原因须为 1 到 500 个字符。"))]
    pub reason: String,
    #[validate(length(equal = 7, message = "党费交至年月格式为 YYYY-MM。"))]
    pub dues_paid_to: Option<String>,
    /// The person as on the letter; `status` must be `full` or `probationary`.
    #[validate(nested)]
    pub person: crate::members::CreateMember,
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
    /// 党费已交到 (`YYYY-MM`): the sending side may enter it at `approve_branch` or
    /// `approve_committee`, before the letter is issued.
    #[validate(length(equal = 7, message = "党费交至年月格式为 YYYY-MM。"))]
    pub dues_paid_to: Option<String>,
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
    /// The outside organization: the destination (`out_of_city`) or the sender
    /// (`into_city`).
    pub outside_org_name: Option<String>,
    pub outside_org_address: Option<String>,
    /// `into_city`: the serial of the paper letter the member came with.
    pub incoming_letter_serial: Option<String>,
    pub reason: String,
    pub planned_on: Option<NaiveDate>,
    pub status: String,
    pub reject_reason: Option<String>,
    /// 党费已交到 (`YYYY-MM`).
    pub dues_paid_to: Option<String>,
    pub version: i32,
    pub allowed: Vec<String>,
    pub steps: Vec<TransferStep>,
    /// The introduction letters issued for it, oldest first (a reissue voids the one
    /// before).
    pub letters: Vec<LetterSummary>,
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

/// An introduction letter (介绍信) in a transfer's list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LetterSummary {
    pub id: String,
    /// e.g. `甲组字〔2026〕第0001号`.
    pub serial: String,
    /// `valid` or `void`.
    pub status: String,
    pub issued_on: NaiveDate,
    /// The last day the letter is valid.
    pub expires_on: NaiveDate,
    pub void_reason: Option<String>,
    pub receipt_returned_at: Option<DateTime<Utc>>,
}

/// `GET /letters/{id}`: the letter with its fields as printed (RULES.md §4.2; the ID
/// number and phone masked) and the signed token its QR code carries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Letter {
    pub id: String,
    pub transfer_id: String,
    pub serial: String,
    pub issuing_org_id: String,
    pub issuing_org_name: String,
    pub member_name: String,
    /// `male` or `female`.
    pub gender: String,
    pub age: Option<i32>,
    pub ethnicity: String,
    /// `full` (正式党员) or `probationary` (预备党员).
    pub membership: String,
    pub id_number_masked: String,
    pub member_phone_masked: Option<String>,
    pub from_org_name: String,
    pub to_org_name: String,
    /// 党费已交到 (`YYYY-MM`); absent when not entered (the printout leaves it blank).
    pub dues_paid_to: Option<String>,
    pub validity_days: i32,
    pub issued_on: NaiveDate,
    pub expires_on: NaiveDate,
    /// `valid` or `void`.
    pub status: String,
    pub void_reason: Option<String>,
    /// The letter this one replaced.
    pub reissued_from: Option<String>,
    /// When the receipt (回执) came back.
    pub receipt_returned_at: Option<DateTime<Utc>>,
    /// Not void and not past `expires_on` today.
    pub valid_now: bool,
    /// The signed token of the QR code; `GET /letters/verify/{token}` checks it.
    pub verify_token: String,
    /// What the QR code carries.
    pub verify_url: String,
    pub created_at: DateTime<Utc>,
}

/// `GET /letters/verify/{token}` (public): whether the letter is one this service issued
/// and whether it still holds. Only masked personal data.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LetterVerification {
    /// The token is ours and names a letter we issued.
    pub authentic: bool,
    /// Authentic, not void and not past its last day.
    pub valid: bool,
    /// Why not valid: `void` or `expired`.
    pub reason: Option<String>,
    /// For a void letter: `reissued`, `revoked` or `rejected`.
    pub void_reason: Option<String>,
    /// The serial of the letter that replaced this one, when it was reissued.
    pub superseded_by: Option<String>,
    pub serial: String,
    pub issuing_org_name: String,
    /// The name with all but its first character masked.
    pub member_name_masked: String,
    pub gender: String,
    pub membership: String,
    pub id_number_masked: String,
    pub from_org_name: String,
    pub to_org_name: String,
    pub issued_on: NaiveDate,
    pub expires_on: NaiveDate,
    pub receipt_returned: bool,
}
