//! The server's side of meeting signaling: the `/ws` socket ([`session`]), join tokens,
//! the rooms' hooks into the meetings and motions services ([`hooks`]), the node's
//! sockets and rooms ([`hub`]), live notices ([`notice_feed`]), and the recovery of
//! attendance intervals left open by a crash.
//!
//! Rooms come in two kinds, told apart by their id ([`RoomKey`]): a meeting's room
//! (attendance, quorum, votes) and a 服务面对面 consultation's one-to-one room (two
//! people, no quorum, its duration recorded on the question).

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

const CONSULTATION_PREFIX: &str = "consultation:";

/// Which kind of room an id names. Meeting ids are bare UUIDs; a consultation's room
/// is `consultation:<consultation id>`, so one registry, one bus and one socket
/// protocol serve both kinds and neither id can be taken for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomKey<'a> {
    Meeting(&'a str),
    Consultation(&'a str),
}

impl<'a> RoomKey<'a> {
    pub fn parse(room_id: &'a str) -> Self {
        match room_id.strip_prefix(CONSULTATION_PREFIX) {
            Some(id) => Self::Consultation(id),
            None => Self::Meeting(room_id),
        }
    }

    /// The room id of a consultation.
    pub fn consultation(consultation_id: &str) -> String {
        format!("{CONSULTATION_PREFIX}{consultation_id}")
    }
}

/// What a join needs to know besides the token: the room's title and the joiner's
/// display name. A meeting must be in progress (its room opens when it starts); a
/// consultation booked or running.
pub fn room_entry(
    conn: &mut AnyConnection,
    room_id: &str,
    account_id: &str,
) -> AppResult<(String, String)> {
    let title = match RoomKey::parse(room_id) {
        RoomKey::Meeting(meeting_id) => {
            let meeting = meetings::load(conn, meeting_id)?;
            let status = status_of(&meeting)?;
            if status != MeetingStatus::InProgress {
                return Err(AppError::Domain {
                    status: 409,
                    code: ErrorCode::MeetingNotInProgress,
                    detail: format!("会议{}，开始后才能入会。", status.label_zh()),
                });
            }
            meeting.title
        }
        RoomKey::Consultation(id) => crate::services::consultations::room_title(conn, id)?,
    };
    Ok((title, display_name(conn, account_id)?))
}

/// The name a participant shows in rooms.
pub fn display_name(conn: &mut AnyConnection, account_id: &str) -> AppResult<String> {
    accounts::table
        .find(account_id)
        .select(accounts::display_name)
        .first(conn)
        .optional()?
        .ok_or(AppError::Unauthenticated)
}
