//! The problem+json body and the stable error codes apps switch on.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Stable, snake_case error codes. Apps switch on these; the `detail` text is for people
/// and may change. A code, once published, is never renamed or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // --- request shape (4xx produced before any handler logic) ---
    /// A body field failed validation; `errors` lists each field.
    ValidationFailed,
    /// The body is not well-formed JSON.
    MalformedJson,
    /// The JSON is well-formed but a field has the wrong type, is missing or is unknown.
    InvalidBody,
    /// A path parameter could not be parsed (e.g. not a UUID).
    InvalidPath,
    /// A query string parameter could not be parsed.
    InvalidQuery,
    /// A header has an invalid value.
    InvalidHeader,
    /// The body is larger than the limit for this endpoint.
    PayloadTooLarge,
    /// The body's content type is not accepted (JSON endpoints take `application/json`).
    UnsupportedMediaType,
    /// No route has this path.
    NotFound,
    /// The route exists but not with this method; `Allow` lists the methods it has.
    MethodNotAllowed,
    /// Too many requests; retry after the `Retry-After` header.
    RateLimited,
    /// A pagination cursor is malformed or belongs to another listing.
    InvalidCursor,
    // --- idempotency ---
    /// The Idempotency-Key was used before with a different request body.
    IdempotencyKeyReused,
    /// A request with this Idempotency-Key is still being processed.
    IdempotencyKeyInProgress,
    /// The Idempotency-Key header is empty, too long or has characters outside printable ASCII.
    InvalidIdempotencyKey,
    // --- authentication and authorization ---
    /// No credentials, or credentials that are malformed, forged, expired or revoked.
    Unauthenticated,
    /// The access token has expired; refresh it.
    TokenExpired,
    /// Phone or password is wrong (never says which).
    InvalidCredentials,
    /// The account is not activated yet, or is disabled.
    AccountInactive,
    /// The activation code is wrong, expired or already used.
    InvalidActivationCode,
    /// The refresh token is unknown, expired or revoked.
    InvalidRefreshToken,
    /// A refresh token was used twice: the whole session family is revoked.
    RefreshTokenReused,
    /// The person's party membership has ended (除名、开除、退党、去世…): his account no
    /// longer signs in.
    MembershipEnded,
    /// The person's membership is stopped (停止党籍): no sign-in until it is restored.
    MembershipStopped,
    /// Authenticated, in scope, but the role does not allow this action.
    Forbidden,
    // --- domain ---
    /// The request conflicts with the current state (e.g. a duplicate, or an illegal
    /// transition: `allowed` lists what the state permits).
    Conflict,
    /// A state machine was asked for a transition its current state does not allow;
    /// `allowed` lists the ones it does.
    IllegalTransition,
    /// The object changed since it was read (optimistic concurrency); read and retry.
    VersionConflict,
    /// The resource already exists (unique key taken).
    AlreadyExists,
    /// A national ID number fails the GB 11643 format or checksum.
    InvalidIdNumber,
    /// An import file has invalid rows; nothing was written.
    ImportInvalid,
    /// The member has no account (no phone on the roster), so none can be activated.
    MemberHasNoAccount,
    /// The transition is in order but a rule of its timing or of the person blocks it
    /// now (e.g. less than a year as activist, probation not ended, under 18).
    TransitionPrecondition,
    /// The organization cannot hold members' formal relationships (not a 党支部,
    /// 联合党支部 or 党总支).
    NotABranch,
    // --- motions and minutes ---
    /// The member has already voted differently on this motion (one vote per member).
    AlreadyVoted,
    /// The motion is closed; no more votes or counts.
    MotionClosed,
    /// The motion has not been opened yet.
    MotionNotOpen,
    /// The member has no voting right at this meeting (probationary, disciplined,
    /// suspended, stopped, temporary, not on the roster, or not on the committee).
    NoVotingRight,
    /// The member is not present (no open attendance) at the meeting.
    NotPresent,
    /// The ballot is not valid (e.g. more marks than seats, an unknown candidate).
    InvalidBallot,
    /// An uploaded file is empty or its declared type or name contradicts its content.
    InvalidAttachment,
    // --- meetings and attendance ---
    /// The QR check-in code is older than the current and the previous window; scan again.
    QrTokenExpired,
    /// The QR check-in code was not issued for this meeting (forged, mistyped, another meeting's).
    QrTokenInvalid,
    /// The action needs the meeting in progress (e.g. attendance before the start or after the end).
    MeetingNotInProgress,
    // --- 服务面对面 ---
    /// No enabled expert of the question's field serves its area.
    NoExpertAvailable,
    /// The question is not assigned to the caller (another expert, or nobody yet).
    NotAssigned,
    /// The consultation slot is already booked (or withdrawn).
    SlotTaken,
    /// The consultation's room is not open now (too early, or its time is over).
    ConsultationNotOpen,
    /// The question has already been rated.
    AlreadyRated,
    /// The question has no answer yet (rating before an answer).
    NotAnswered,
    /// The question is closed: no more messages, attachments or bookings.
    QuestionClosed,
    /// The question already carries the most attachments allowed.
    TooManyAttachments,
    /// This deployment does not let villagers register themselves.
    SelfRegistrationDisabled,
    // --- transfers and migrant members ---
    /// The letter token is garbled, forged or names no letter of this service.
    LetterTokenInvalid,
    // --- server side ---
    /// Something failed on the server; the request id identifies it in the logs.
    Internal,
    /// The service is not ready (starting, draining or a dependency is down).
    ServiceUnavailable,
    /// Any other client error without a more specific code.
    BadRequest,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationFailed => "validation_failed",
            Self::MalformedJson => "malformed_json",
            Self::InvalidBody => "invalid_body",
            Self::InvalidPath => "invalid_path",
            Self::InvalidQuery => "invalid_query",
            Self::InvalidHeader => "invalid_header",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RateLimited => "rate_limited",
            Self::InvalidCursor => "invalid_cursor",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInProgress => "idempotency_key_in_progress",
            Self::InvalidIdempotencyKey => "invalid_idempotency_key",
            Self::Unauthenticated => "unauthenticated",
            Self::TokenExpired => "token_expired",
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountInactive => "account_inactive",
            Self::InvalidActivationCode => "invalid_activation_code",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::MembershipEnded => "membership_ended",
            Self::MembershipStopped => "membership_stopped",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::IllegalTransition => "illegal_transition",
            Self::VersionConflict => "version_conflict",
            Self::AlreadyExists => "already_exists",
            Self::InvalidIdNumber => "invalid_id_number",
            Self::ImportInvalid => "import_invalid",
            Self::MemberHasNoAccount => "member_has_no_account",
            Self::TransitionPrecondition => "transition_precondition",
            Self::NotABranch => "not_a_branch",
            Self::AlreadyVoted => "already_voted",
            Self::MotionClosed => "motion_closed",
            Self::MotionNotOpen => "motion_not_open",
            Self::NoVotingRight => "no_voting_right",
            Self::NotPresent => "not_present",
            Self::InvalidBallot => "invalid_ballot",
            Self::InvalidAttachment => "invalid_attachment",
            Self::QrTokenExpired => "qr_token_expired",
            Self::QrTokenInvalid => "qr_token_invalid",
            Self::MeetingNotInProgress => "meeting_not_in_progress",
            Self::NoExpertAvailable => "no_expert_available",
            Self::NotAssigned => "not_assigned",
            Self::SlotTaken => "slot_taken",
            Self::ConsultationNotOpen => "consultation_not_open",
            Self::AlreadyRated => "already_rated",
            Self::NotAnswered => "not_answered",
            Self::QuestionClosed => "question_closed",
            Self::TooManyAttachments => "too_many_attachments",
            Self::SelfRegistrationDisabled => "self_registration_disabled",
            Self::LetterTokenInvalid => "letter_token_invalid",
            Self::Internal => "internal",
            Self::ServiceUnavailable => "service_unavailable",
            Self::BadRequest => "bad_request",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed field of a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the body, e.g. `agenda[2].title`.
    pub field: String,
    /// Stable code of the rule that failed, e.g. `length`, `required`, `unknown_field`.
    pub code: String,
    /// Chinese explanation for people.
    pub message: String,
}

/// RFC 9457 problem details, as every error response of the API carries it
/// (`Content-Type: application/problem+json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `https://hongying.invalid/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short English summary of the type (the HTTP reason phrase).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Chinese explanation of this occurrence, for people.
    pub detail: String,
    /// The stable code, for apps.
    pub code: String,
    /// Field errors, present for `validation_failed` and body-shape errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For 409 on a state machine: the transitions allowed from the current state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// The request id, to quote when reporting a problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The base of every problem `type` URI. `.invalid` is reserved, so it can never resolve
/// to somebody else's page.
pub const PROBLEM_TYPE_BASE: &str = "https://hongying.invalid/problems/";
