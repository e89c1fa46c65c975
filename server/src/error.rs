//! One error type for the whole API, rendered as `application/problem+json`.
//!
//! Each variant maps to one stable [`ErrorCode`]; the `detail` is Chinese for people.
//! Server faults (5xx) never show their cause to the client: the cause chain is logged
//! inside the request's span, which carries the request id the client sees.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use hongying_proto::error::PROBLEM_TYPE_BASE;
use hongying_proto::{ErrorCode, FieldError, Problem};

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("invalid body")]
    InvalidBody(Vec<FieldError>),
    #[error("invalid path: {0}")]
    InvalidPath(String),
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("invalid header {0}")]
    InvalidHeader(&'static str),
    #[error("payload too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed { allow: Vec<String> },
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("idempotency key reused with another body")]
    IdempotencyKeyReused,
    #[error("idempotency key in progress")]
    IdempotencyKeyInProgress,
    #[error("invalid idempotency key")]
    InvalidIdempotencyKey,
    #[error("unauthenticated")]
    Unauthenticated,
    #[error("token expired")]
    TokenExpired,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account inactive")]
    AccountInactive,
    #[error("invalid activation code")]
    InvalidActivationCode,
    #[error("invalid refresh token")]
    InvalidRefreshToken,
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("forbidden")]
    Forbidden,
    /// A conflict with a specific code and Chinese detail (duplicates, business rules).
    #[error("conflict {code}: {detail}")]
    Conflict { code: ErrorCode, detail: String },
    /// A state machine refused a transition; `allowed` lists what the state permits.
    #[error("illegal transition from {from}")]
    IllegalTransition { from: String, allowed: Vec<String> },
    #[error("version conflict")]
    VersionConflict,
    #[error("invalid id number")]
    InvalidIdNumber(String),
    /// An import with invalid rows; the report goes in the field errors.
    #[error("import invalid")]
    ImportInvalid(Vec<FieldError>),
    /// A 4xx with a domain code of its own, for codes added by later modules.
    #[error("{code}: {detail}")]
    Domain {
        status: u16,
        code: ErrorCode,
        detail: String,
    },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A fault on our side. The message and source are logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// One field failed a rule of the service (beyond what the body type declares).
    pub fn invalid(field: &str, code: &str, message: &str) -> Self {
        Self::Validation(vec![FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }])
    }

    /// A conflict with the current state, under the generic `conflict` code.
    pub fn conflict(detail: &str) -> Self {
        Self::Conflict {
            code: ErrorCode::Conflict,
            detail: detail.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::MalformedJson(_) => ErrorCode::MalformedJson,
            Self::InvalidBody(_) => ErrorCode::InvalidBody,
            Self::InvalidPath(_) => ErrorCode::InvalidPath,
            Self::InvalidQuery(_) => ErrorCode::InvalidQuery,
            Self::InvalidHeader(_) => ErrorCode::InvalidHeader,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            Self::NotFound => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::InvalidCursor => ErrorCode::InvalidCursor,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyKeyInProgress => ErrorCode::IdempotencyKeyInProgress,
            Self::InvalidIdempotencyKey => ErrorCode::InvalidIdempotencyKey,
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::TokenExpired => ErrorCode::TokenExpired,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::AccountInactive => ErrorCode::AccountInactive,
            Self::InvalidActivationCode => ErrorCode::InvalidActivationCode,
            Self::InvalidRefreshToken => ErrorCode::InvalidRefreshToken,
            Self::RefreshTokenReused => ErrorCode::RefreshTokenReused,
            Self::Forbidden => ErrorCode::Forbidden,
            Self::Conflict { code, .. } => *code,
            Self::IllegalTransition { .. } => ErrorCode::IllegalTransition,
            Self::VersionConflict => ErrorCode::VersionConflict,
            Self::InvalidIdNumber(_) => ErrorCode::InvalidIdNumber,
            Self::ImportInvalid(_) => ErrorCode::ImportInvalid,
            Self::Domain { code, .. } => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn detail(&self) -> String {
        match self {
            Self::Validation(_) => "请求内容未通过校验，请按字段提示修改。".into(),
            Self::MalformedJson(_) => "请求体不是有效的 JSON。".into(),
            Self::InvalidBody(_) => "请求体字段缺失、类型错误或包含未知字段。".into(),
            Self::InvalidPath(p) => format!("路径参数无效：{p}"),
            Self::InvalidQuery(q) => format!("查询参数无效：{q}"),
            Self::InvalidHeader(h) => format!("请求头 {h} 的值无效。"),
            Self::PayloadTooLarge { limit } => format!("请求体过大，上限为 {limit} 字节。"),
            Self::UnsupportedMediaType => "不支持的内容类型，请使用 application/json。".into(),
            Self::NotFound => "请求的资源不存在。".into(),
            Self::MethodNotAllowed { allow } => {
                format!("该地址不支持此请求方法，可用方法：{}。", allow.join(", "))
            }
            Self::RateLimited { retry_after_secs } => {
                format!("请求过于频繁，请在 {retry_after_secs} 秒后重试。")
            }
            Self::InvalidCursor => "分页游标无效，请从第一页重新获取。".into(),
            Self::IdempotencyKeyReused => {
                "该幂等键（Idempotency-Key）已用于另一个不同的请求，请为新请求生成新的键。".into()
            }
            Self::IdempotencyKeyInProgress => "相同幂等键的请求仍在处理中，请稍后重试。".into(),
            Self::InvalidIdempotencyKey => {
                "幂等键（Idempotency-Key）须为 1 到 255 个可打印 ASCII 字符。".into()
            }
            Self::Unavailable(_) => "服务暂时不可用，请稍后重试。".into(),
            Self::BadRequest(d) => d.clone(),
            Self::Unauthenticated => "未登录或登录凭证无效，请重新登录。".into(),
            Self::TokenExpired => "登录凭证已过期，请刷新后重试。".into(),
            Self::InvalidCredentials => "手机号或密码错误。".into(),
            Self::AccountInactive => "账号尚未激活或已停用。".into(),
            Self::InvalidActivationCode => "激活码错误、已过期或已使用。".into(),
            Self::InvalidRefreshToken => "刷新凭证无效或已失效，请重新登录。".into(),
            Self::RefreshTokenReused => {
                "检测到刷新凭证被重复使用，为保护账号安全，该设备的登录已全部注销，请重新登录。"
                    .into()
            }
            Self::Forbidden => "您没有执行此操作的权限。".into(),
            Self::Conflict { detail, .. } => detail.clone(),
            Self::IllegalTransition { from, allowed } => {
                // The machine words stay in `allowed` for apps; a person reads them in Chinese.
                let state = state_word_zh(from)
                    .map(|w| format!("当前状态（{w}）下"))
                    .unwrap_or_else(|| "当前状态下".into());
                let can: Vec<&str> = allowed.iter().filter_map(|a| state_word_zh(a)).collect();
                if can.is_empty() {
                    format!("{state}不允许此操作。")
                } else {
                    format!("{state}不允许此操作，可以进行的操作：{}。", can.join("、"))
                }
            }
            Self::VersionConflict => "数据已被他人修改，请刷新后重试。".into(),
            Self::InvalidIdNumber(d) => format!("身份证号码无效：{d}"),
            Self::ImportInvalid(rows) => {
                format!("导入文件有 {} 处错误，未写入任何数据。", rows.len())
            }
            Self::Domain { detail, .. } => detail.clone(),
            Self::Internal(_) => {
                "服务器内部错误，请稍后重试；如持续出现请联系管理员并提供请求编号。".into()
            }
        }
    }

    fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Self::Validation(e) | Self::InvalidBody(e) | Self::ImportInvalid(e) => e.clone(),
            _ => Vec::new(),
        }
    }

    /// The problem body, without the request id (added by the middleware that knows it).
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            type_: format!("{PROBLEM_TYPE_BASE}{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code().as_str().to_string(),
            errors: self.field_errors(),
            allowed: match self {
                Self::IllegalTransition { allowed, .. } => Some(allowed.clone()),
                _ => None,
            },
            request_id: None,
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MalformedJson(_)
            | Self::InvalidBody(_)
            | Self::InvalidPath(_)
            | Self::InvalidQuery(_)
            | Self::InvalidHeader(_)
            | Self::InvalidCursor
            | Self::InvalidIdempotencyKey
            | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyKeyInProgress => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unauthenticated
            | Self::TokenExpired
            | Self::InvalidCredentials
            | Self::InvalidRefreshToken
            | Self::RefreshTokenReused => StatusCode::UNAUTHORIZED,
            Self::AccountInactive | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::InvalidActivationCode => StatusCode::BAD_REQUEST,
            Self::Conflict { .. } | Self::IllegalTransition { .. } | Self::VersionConflict => {
                StatusCode::CONFLICT
            }
            Self::InvalidIdNumber(_) | Self::ImportInvalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Domain { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        // Logged here, inside the request span, so the line carries the request id.
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error")
            }
            Self::Unavailable(cause) => tracing::warn!(error = %cause, "service unavailable"),
            _ => {}
        }
        let mut resp = problem_response(&self.problem());
        match self {
            Self::MethodNotAllowed { allow } => {
                if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                    resp.headers_mut().insert(header::ALLOW, v);
                }
            }
            Self::RateLimited { retry_after_secs } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        resp
    }
}

/// Renders any problem body with the right status and content type.
pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
        .body(serde_json::to_vec(problem).unwrap_or_default())
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound,
            other => Self::Internal(anyhow::Error::new(other).context("database query")),
        }
    }
}

impl From<r2d2::Error> for AppError {
    fn from(e: r2d2::Error) -> Self {
        Self::Unavailable(format!("database pool: {e}"))
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The Chinese of a state or step of the state machines (meetings, motions, transfers,
/// members, 服务面对面, 流动党员), for the `detail` of an illegal transition. A word not listed
/// is left out of the sentence rather than shown in English.
pub fn state_word_zh(word: &str) -> Option<&'static str> {
    Some(match word {
        // states
        "draft" => "草稿",
        "scheduled" => "已发布",
        "in_progress" => "进行中",
        "ended" => "已结束",
        "cancelled" => "已取消",
        "minutes_submitted" => "会议记录已提交",
        "reviewed" => "会议记录已审核",
        "open" => "进行中",
        "closed" => "已结束",
        "submitted" => "已提交",
        "returned_for_edits" => "已退回修改",
        "approved_by_branch" => "支部已同意",
        "approved_by_committee" => "党委已审批",
        "accepted" => "已接收",
        "assigned" => "已分配",
        "reported" => "已报到",
        "receipt_returned" => "回执已寄回",
        "done" => "已完成",
        "withdrawn" => "已撤回",
        "rejected" => "未通过",
        "expired" => "已过期",
        "revoked" => "已撤销",
        "booked" => "已预约",
        "completed" => "已完成",
        "pending" => "待审核",
        "enabled" => "已启用",
        "disabled" => "已停用",
        "escalated" => "已上报",
        "answered" => "已解答",
        "offered" => "已派发",
        "applicant" => "入党申请人",
        "activist" => "入党积极分子",
        "candidate" => "发展对象",
        "probationary" => "预备党员",
        "full" => "正式党员",
        "removed" => "已出党",
        // steps
        "edit" => "修改",
        "schedule" => "发布",
        "start" => "开始",
        "end" => "结束",
        "cancel" => "取消",
        "submit_minutes" => "提交会议记录",
        "review" => "审核会议记录",
        "close" => "结束",
        "resubmit" => "重新提交",
        "approve_branch" => "支部同意",
        "approve_committee" => "党委审批",
        "accept" => "接收",
        "assign" => "分配支部",
        "report" => "报到",
        "return_receipt" => "寄回回执",
        "complete" => "办结",
        "return_for_edits" => "退回修改",
        "withdraw" => "撤回",
        "reject" => "不同意",
        "expire" => "宣告过期",
        "reissue" => "重开介绍信",
        "revoke" => "撤销",
        "verify" => "审核通过",
        "enable" => "启用",
        "disable" => "停用",
        "extend_probation" => "延长预备期",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[actix_web::test]
    async fn a_server_fault_shows_no_internals() {
        let err = AppError::Internal(
            anyhow::anyhow!("password=hunter2 at db.internal:5432").context("loading member"),
        );
        let resp = err.error_response();
        assert_eq!(resp.status(), 500);
        let body = actix_web::body::to_bytes(resp.into_body()).await.unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("db.internal"),
            "{text}"
        );
        let problem: Problem = serde_json::from_str(&text).unwrap();
        assert_eq!(problem.code, "internal");
    }

    #[test]
    fn every_variant_has_a_chinese_detail_and_a_snake_case_code() {
        let all = [
            AppError::NotFound,
            AppError::Forbidden,
            AppError::VersionConflict,
            AppError::IllegalTransition {
                from: "draft".into(),
                allowed: vec!["schedule".into()],
            },
            AppError::RateLimited {
                retry_after_secs: 3,
            },
            AppError::IdempotencyKeyReused,
        ];
        for e in all {
            let p = e.problem();
            assert!(
                p.detail
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
            );
            assert!(p.code.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        let p = AppError::IllegalTransition {
            from: "draft".into(),
            allowed: vec!["schedule".into()],
        }
        .problem();
        assert_eq!(p.allowed, Some(vec!["schedule".to_string()]));
    }
}
