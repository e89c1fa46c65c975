//! The server's side of meeting signaling: the `/ws` socket ([`session`]), join tokens,
//! the rooms' hooks into the meetings and motions services ([`hooks`]), the node's
//! sockets and rooms ([`hub`]), live notices ([`notice_feed`]), and the recovery of
//! attendance intervals left open by a crash.

pub mod hooks;
pub mod hub;
pub mod join_token;
pub mod notice_feed;
pub mod recovery;
pub mod session;

use diesel::prelude::*;
use hongying_proto::ErrorCode;
use hongying_proto::meetings::MeetingStatus;

use crate::db::AnyConnection;
use crate::db::schema::accounts;
use crate::error::{AppError, AppResult};
use crate::meetings::{self, service::status_of};

/// What a join needs to know besides the token: the meeting's title (it must be in
/// progress: a room opens when the meeting starts) and the joiner's display name.
pub fn room_entry(
    conn: &mut AnyConnection,
    meeting_id: &str,
    account_id: &str,
) -> AppResult<(String, String)> {
    let meeting = meetings::load(conn, meeting_id)?;
    let status = status_of(&meeting)?;
    if status != MeetingStatus::InProgress {
        return Err(AppError::Domain {
            status: 409,
            code: ErrorCode::MeetingNotInProgress,
            detail: format!("会议{}，开始后才能入会。", status.label_zh()),
        });
    }
    let name: String = accounts::table
        .find(account_id)
        .select(accounts::display_name)
        .first(conn)
        .optional()?
        .ok_or(AppError::Unauthenticated)?;
    Ok((meeting.title, name))
}
