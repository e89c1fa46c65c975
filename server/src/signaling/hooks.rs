//! The rooms' view of the world: attendance, quorum and ballots through the meetings and
//! motions services, so that a member in a room is counted and votes under exactly the
//! rules that apply over REST; and a consultation's, whose occupancy starts and ends the
//! consultation.

use std::time::Duration;

use hongying_proto::motions::Choice;
use hongying_proto::signaling::{CastBallot, QuorumState, VoteChoice};
use hongying_signaling::quorum::assess_quorum;
use hongying_signaling::room::{HookError, RoomHooks};

use super::RoomKey;
use crate::config::MeetingsConfig;
use crate::db::Db;
use crate::error::AppError;
use crate::meetings::{attendance, quorum};
use crate::motions::service::{self as motions, BallotChoice};
use crate::services::consultations;
use crate::state::Clock;
use crate::store::meetings as meetings_store;
use crate::store::motions as motions_store;
use hongying_proto::motions::BallotChannel;

/// The hooks of every room, sent to its kind's: meetings and consultations keep their
/// rules apart, and the registry still holds one hooks value.
pub struct DbHooks {
    pub meetings: MeetingHooks,
    pub consultations: ConsultationHooks,
}

/// A meeting's room: attendance intervals, quorum and ballots.
pub struct MeetingHooks {
    pub db: Db,
    pub clock: Clock,
    pub policy: MeetingsConfig,
    /// A member who left less than this ago gets his interval back (the gap merges).
    pub merge_within: chrono::Duration,
}

/// A consultation's one-to-one room: no attendance, quorum or votes; its occupancy
/// starts the consultation and its closing ends it.
pub struct ConsultationHooks {
    pub db: Db,
    pub clock: Clock,
}

fn hook_error(e: &AppError) -> HookError {
    HookError {
        code: e.code().as_str().to_string(),
        message: e.problem().detail,
    }
}

fn ago(now: chrono::NaiveDateTime, d: Duration) -> chrono::NaiveDateTime {
    now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())
}

impl RoomHooks for MeetingHooks {
    async fn open_interval(
        &self,
        meeting_id: &str,
        member_id: &str,
        media_proven: bool,
    ) -> Result<Option<String>, HookError> {
        let (m, who, now, within) = (
            meeting_id.to_string(),
            member_id.to_string(),
            self.clock.now(),
            self.merge_within,
        );
        self.db
            .run(move |c| attendance::open_or_resume_remote(c, &m, &who, media_proven, now, within))
            .await
            .map_err(|e| hook_error(&e))
    }

    async fn touch(&self, interval_ids: &[String]) {
        let (ids, now) = (interval_ids.to_vec(), self.clock.now());
        if let Err(e) = self
            .db
            .run(move |c| attendance::touch_many(c, &ids, now))
            .await
        {
            tracing::warn!(error = %e, "writing heartbeats failed");
        }
    }

    async fn close_interval(
        &self,
        meeting_id: &str,
        member_id: &str,
        seen_ago: Duration,
        reason: &str,
    ) {
        let (m, who, why) = (
            meeting_id.to_string(),
            member_id.to_string(),
            reason.to_string(),
        );
        let at = ago(self.clock.now(), seen_ago);
        if let Err(e) = self
            .db
            .run(move |c| attendance::close_interval(c, &m, &who, at, &why))
            .await
        {
            tracing::warn!(error = %e, meeting_id, "closing an attendance interval failed");
        }
    }

    async fn close_all(&self, meeting_id: &str, reason: &str) {
        let (m, why, now) = (meeting_id.to_string(), reason.to_string(), self.clock.now());
        match self
            .db
            .run(move |c| attendance::close_all_open(c, &m, now, &why))
            .await
        {
            Ok(_) | Err(AppError::NotFound) => {}
            Err(e) => tracing::warn!(error = %e, meeting_id, "closing the room's intervals failed"),
        }
    }

    async fn quorum(&self, meeting_id: &str) -> Option<QuorumState> {
        let (m, policy, now) = (
            meeting_id.to_string(),
            self.policy.clone(),
            self.clock.now(),
        );
        let result = self
            .db
            .run(move |c| {
                let Some(meeting) = meetings_store::find(c, &m)? else {
                    return Ok(None);
                };
                let roll = quorum::meeting_roll(c, &meeting, &policy, now)?;
                if !roll.quorum_applies {
                    return Ok(None);
                }
                let out = assess_quorum(&roll.roll, &roll.thresholds);
                Ok(Some(QuorumState {
                    expected: out.expected,
                    present_voting: out.present_voting,
                    present_in_person: out.present_in_person,
                    present_remote: out.present_remote,
                    quorate: out.quorate,
                    threshold: quorum::threshold_text(out.kind, &roll.thresholds),
                }))
            })
            .await;
        result.unwrap_or_else(|e: AppError| {
            tracing::warn!(error = %e, meeting_id, "computing the quorum failed");
            None
        })
    }

    async fn cast_ballot(
        &self,
        meeting_id: &str,
        member_id: &str,
        ballot: &CastBallot,
    ) -> Result<(), HookError> {
        let (m, who, b, policy, now) = (
            meeting_id.to_string(),
            member_id.to_string(),
            ballot.clone(),
            self.policy.clone(),
            self.clock.now(),
        );
        self.db
            .run(move |c| {
                // A motion of another meeting is, from this room, no motion at all.
                let motion = motions_store::find(c, &b.motion_id)?.ok_or(AppError::NotFound)?;
                if motion.meeting_id != m {
                    return Err(AppError::NotFound);
                }
                let choice = match b.choice {
                    VoteChoice::Yes => Choice::Yes,
                    VoteChoice::No => Choice::No,
                    VoteChoice::Abstain => Choice::Abstain,
                };
                motions::cast_ballot(
                    c,
                    &policy,
                    &b.motion_id,
                    &who,
                    BallotChoice::Single(choice),
                    BallotChannel::Socket,
                    now,
                )
                .map(|_| ())
            })
            .await
            .map_err(|e| hook_error(&e))
    }
}

impl RoomHooks for ConsultationHooks {
    async fn open_interval(&self, _: &str, _: &str, _: bool) -> Result<Option<String>, HookError> {
        Ok(None)
    }

    async fn touch(&self, _: &[String]) {}

    async fn close_interval(&self, _: &str, _: &str, _: Duration, _: &str) {}

    async fn close_all(&self, room_id: &str, _: &str) {
        let RoomKey::Consultation(id) = RoomKey::parse(room_id) else {
            return;
        };
        let (id, now) = (id.to_string(), self.clock.now());
        if let Err(e) = self
            .db
            .run(move |c| consultations::room_closed(c, &id, now))
            .await
        {
            tracing::warn!(error = %e, room_id, "recording the consultation's end failed");
        }
    }

    async fn quorum(&self, _: &str) -> Option<QuorumState> {
        None
    }

    async fn cast_ballot(&self, _: &str, _: &str, _: &CastBallot) -> Result<(), HookError> {
        Err(hook_error(&AppError::NotFound))
    }

    async fn occupancy(&self, room_id: &str, joined: usize, present: usize) -> Option<String> {
        let RoomKey::Consultation(id) = RoomKey::parse(room_id) else {
            return None;
        };
        let (id, now) = (id.to_string(), self.clock.now());
        match self
            .db
            .run(move |c| consultations::room_occupancy(c, &id, joined, present, now))
            .await
        {
            Ok(true) => Some("consultation_ended".into()),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(error = %e, room_id, "recording the consultation's start failed");
                None
            }
        }
    }
}

impl RoomHooks for DbHooks {
    async fn open_interval(
        &self,
        room_id: &str,
        member_id: &str,
        media_proven: bool,
    ) -> Result<Option<String>, HookError> {
        match RoomKey::parse(room_id) {
            RoomKey::Meeting(_) => {
                self.meetings
                    .open_interval(room_id, member_id, media_proven)
                    .await
            }
            RoomKey::Consultation(_) => {
                self.consultations
                    .open_interval(room_id, member_id, media_proven)
                    .await
            }
        }
    }

    /// Only meetings have intervals to touch.
    async fn touch(&self, interval_ids: &[String]) {
        self.meetings.touch(interval_ids).await;
    }

    async fn close_interval(
        &self,
        room_id: &str,
        member_id: &str,
        seen_ago: Duration,
        reason: &str,
    ) {
        match RoomKey::parse(room_id) {
            RoomKey::Meeting(_) => {
                self.meetings
                    .close_interval(room_id, member_id, seen_ago, reason)
                    .await;
            }
            RoomKey::Consultation(_) => {
                self.consultations
                    .close_interval(room_id, member_id, seen_ago, reason)
                    .await;
            }
        }
    }

    async fn close_all(&self, room_id: &str, reason: &str) {
        match RoomKey::parse(room_id) {
            RoomKey::Meeting(_) => self.meetings.close_all(room_id, reason).await,
            RoomKey::Consultation(_) => self.consultations.close_all(room_id, reason).await,
        }
    }

    async fn quorum(&self, room_id: &str) -> Option<QuorumState> {
        match RoomKey::parse(room_id) {
            RoomKey::Meeting(_) => self.meetings.quorum(room_id).await,
            RoomKey::Consultation(_) => self.consultations.quorum(room_id).await,
        }
    }

    async fn cast_ballot(
        &self,
        room_id: &str,
        member_id: &str,
        ballot: &CastBallot,
    ) -> Result<(), HookError> {
        match RoomKey::parse(room_id) {
            RoomKey::Meeting(_) => self.meetings.cast_ballot(room_id, member_id, ballot).await,
            RoomKey::Consultation(_) => {
                self.consultations
                    .cast_ballot(room_id, member_id, ballot)
                    .await
            }
        }
    }

    async fn occupancy(&self, room_id: &str, joined: usize, present: usize) -> Option<String> {
        match RoomKey::parse(room_id) {
            RoomKey::Meeting(_) => self.meetings.occupancy(room_id, joined, present).await,
            RoomKey::Consultation(_) => {
                self.consultations.occupancy(room_id, joined, present).await
            }
        }
    }
}
