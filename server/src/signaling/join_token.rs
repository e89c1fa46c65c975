//! Join tokens: a short-lived JWT that lets one device join one meeting's room.
//!
//! Access tokens say who a device is; a join token says that this person may enter this
//! room and with which grants. It has its own audience ([`JOIN_AUDIENCE`]), so neither
//! kind can pass for the other, and it names the meeting, so a token for one meeting
//! opens no other.
//!
//! Granted to members of the meeting's body (or its frozen roster) and invited observers
//! (publish + subscribe), and with the host grant to the meeting's host and recorder and to
//! managers of its organization. The meeting must be scheduled or in progress.
//!
//! A consultation's one-to-one room has its own tokens, for its two people only.

use chrono::NaiveDateTime;
use hongying_proto::ErrorCode;
use hongying_proto::meetings::MeetingStatus;
use hongying_proto::signaling::{JOIN_AUDIENCE, JoinGrants, JoinTokenResponse};
use serde::{Deserialize, Serialize};

use super::RoomKey;
use crate::auth::Principal;
use crate::auth::tokens::{HasExpiry, TokenService};
use crate::db::AnyConnection;
use crate::error::{AppError, AppResult};
use crate::meetings::{self, service::status_of, service::utc};
use crate::services::consultations;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// Account id.
    pub sub: String,
    /// Session family of the device that asked; the socket must present an access token
    /// of the same account.
    pub sid: String,
    /// The room: a meeting id, or a consultation's room id (see [`RoomKey`]).
    pub mid: String,
    /// The member the account speaks for, if any (observers from outside may have none).
    #[serde(default)]
    pub mem: Option<String>,
    pub grants: JoinGrants,
    /// The room's title and the joiner's display name as they were at issue: a join to
    /// a room already open needs no database read (the room's existence proves the
    /// meeting in progress), which keeps a 60-member meeting's start from becoming 60
    /// queries at once.
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub name: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    /// The issue time in milliseconds: a change of the holder's access is compared with
    /// it, and a second is too coarse to tell a token issued just before a revocation
    /// from one issued just after. Absent (0) in tokens from before it existed, which
    /// then compare by `iat`.
    #[serde(default)]
    pub iat_ms: i64,
    pub exp: i64,
    pub jti: String,
}

impl JoinClaims {
    /// When the token was issued, in unix milliseconds (from `iat` for older tokens,
    /// counting the whole second as before).
    pub fn issued_ms(&self) -> i64 {
        if self.iat_ms > 0 {
            self.iat_ms
        } else {
            self.iat.saturating_mul(1000)
        }
    }
}

impl HasExpiry for JoinClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Whether a meeting in this status has a room one may join.
pub fn joinable(status: MeetingStatus) -> bool {
    matches!(status, MeetingStatus::Scheduled | MeetingStatus::InProgress)
}

/// Decides the grants of the caller for the meeting, or refuses (404 outside, 403 for a
/// reader who takes no part, 409 when the meeting is not open).
pub fn grants_for(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting_id: &str,
) -> AppResult<(JoinGrants, String)> {
    let meeting = meetings::load(conn, meeting_id)?;
    let host = meetings::is_manager(conn, principal, &meeting)?
        || principal.member_id.as_deref().is_some_and(|me| {
            meeting.host_member_id.as_deref() == Some(me)
                || meeting.recorder_member_id.as_deref() == Some(me)
        });
    let takes_part = host || meetings::takes_part(conn, principal, &meeting)?;
    if !takes_part {
        meetings::require_read(conn, principal, &meeting)?;
        return Err(AppError::Forbidden);
    }
    let status = status_of(&meeting)?;
    if !joinable(status) {
        return Err(AppError::Domain {
            status: 409,
            code: ErrorCode::MeetingNotInProgress,
            detail: format!(
                "会议{}，只有已安排或进行中的会议才能加入。",
                status.label_zh()
            ),
        });
    }
    Ok((
        JoinGrants {
            publish: true,
            subscribe: true,
            host,
        },
        meeting.title,
    ))
}

/// What signing a join token takes: the server's keys, its issuer name, the lifetime,
/// and the time of issue.
pub struct Issuer {
    pub tokens: TokenService,
    pub issuer: String,
    pub ttl_secs: u64,
    pub now: NaiveDateTime,
}

impl Issuer {
    /// Issues a join token for the caller to the meeting's room.
    pub fn meeting(
        &self,
        conn: &mut AnyConnection,
        principal: &Principal,
        meeting_id: &str,
    ) -> AppResult<JoinTokenResponse> {
        let (grants, title) = grants_for(conn, principal, meeting_id)?;
        let ticket = Ticket {
            room_id: meeting_id,
            member_id: principal.member_id.clone(),
            grants,
            title,
            name: super::display_name(conn, &principal.account_id)?,
        };
        self.sign(principal, ticket)
    }

    /// Issues a join token for a consultation's one-to-one room: to its expert (as host,
    /// so he can end it) and its asker, in the consultation's time (see
    /// [`consultations::room_grant`]). The token names no member: a consultation counts
    /// toward no attendance, even when the asker is a party member.
    pub fn consultation(
        &self,
        conn: &mut AnyConnection,
        principal: &Principal,
        consultation_id: &str,
        open_early: chrono::Duration,
    ) -> AppResult<JoinTokenResponse> {
        let host =
            consultations::room_grant(conn, principal, consultation_id, self.now, open_early)?;
        let room_id = RoomKey::consultation(consultation_id);
        let ticket = Ticket {
            room_id: &room_id,
            member_id: None,
            grants: JoinGrants {
                publish: true,
                subscribe: true,
                host,
            },
            title: consultations::room_title(conn, consultation_id)?,
            name: super::display_name(conn, &principal.account_id)?,
        };
        self.sign(principal, ticket)
    }

    fn sign(&self, principal: &Principal, ticket: Ticket<'_>) -> AppResult<JoinTokenResponse> {
        let iat = self.now.and_utc().timestamp();
        let exp = iat + self.ttl_secs as i64;
        let claims = JoinClaims {
            sub: principal.account_id.clone(),
            sid: principal.session_id.clone(),
            mid: ticket.room_id.to_string(),
            mem: ticket.member_id,
            grants: ticket.grants,
            title: ticket.title,
            name: ticket.name,
            iss: self.issuer.clone(),
            aud: JOIN_AUDIENCE.to_string(),
            iat,
            iat_ms: self.now.and_utc().timestamp_millis(),
            exp,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let token = self.tokens.sign(&claims)?;
        Ok(JoinTokenResponse {
            token,
            meeting_id: ticket.room_id.to_string(),
            expires_at: utc(self.now + chrono::Duration::seconds(self.ttl_secs as i64)),
            grants: ticket.grants,
        })
    }
}

/// What a token admits to.
struct Ticket<'a> {
    room_id: &'a str,
    member_id: Option<String>,
    grants: JoinGrants,
    title: String,
    name: String,
}

/// Verifies a join token (signature, issuer, audience, expiry against `now`).
pub fn verify(tokens: &TokenService, token: &str, now: NaiveDateTime) -> AppResult<JoinClaims> {
    tokens.verify::<JoinClaims>(token, JOIN_AUDIENCE, now.and_utc().timestamp())
}
