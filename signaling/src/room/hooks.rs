//! What a room asks of the world outside it: persistence of attendance, the quorum, votes.
//! The server implements this over the meetings module; tests implement it in memory.

use std::future::Future;
use std::time::Duration;

use hongying_proto::signaling::{CastBallot, QuorumState};

/// A refusal from the outside world, passed on to the client as an error frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookError {
    /// Stable snake_case code.
    pub code: String,
    /// Chinese, for people.
    pub message: String,
}

pub trait RoomHooks: Send + Sync + 'static {
    /// Opens (or returns the open) remote attendance interval of the member; its id.
    /// `None` when the member takes part without attendance of his own (a host from the
    /// upper organization, an observer).
    fn open_interval(
        &self,
        meeting_id: &str,
        member_id: &str,
        media_proven: bool,
    ) -> impl Future<Output = Result<Option<String>, HookError>> + Send;

    /// These intervals' members were seen now (heartbeats, batched per room).
    fn touch(&self, interval_ids: &[String]) -> impl Future<Output = ()> + Send;

    /// Closes the member's remote interval at the moment he was last seen, `seen_ago`
    /// before now.
    fn close_interval(
        &self,
        meeting_id: &str,
        member_id: &str,
        seen_ago: Duration,
        reason: &str,
    ) -> impl Future<Output = ()> + Send;

    /// The meeting ended: closes every open interval.
    fn close_all(&self, meeting_id: &str, reason: &str) -> impl Future<Output = ()> + Send;

    /// The quorum now, if the meeting's kind has one.
    fn quorum(&self, meeting_id: &str) -> impl Future<Output = Option<QuorumState>> + Send;

    /// Casts the member's ballot, under the same rules as over HTTP.
    fn cast_ballot(
        &self,
        meeting_id: &str,
        member_id: &str,
        ballot: &CastBallot,
    ) -> impl Future<Output = Result<(), HookError>> + Send;

    /// Who is in the room changed: `joined` participants are seated, `present` of them
    /// are proven present (media flowing, or seated when the room runs without media).
    /// A room kind whose life follows its occupants (a one-to-one consultation: it runs
    /// while both are there, it is over when both have gone) answers `true` to end the
    /// room now. Meetings end over HTTP or by their host instead, so by default nothing
    /// happens.
    fn occupancy(
        &self,
        room_id: &str,
        joined: usize,
        present: usize,
    ) -> impl Future<Output = Option<String>> + Send {
        let _ = (room_id, joined, present);
        std::future::ready(None)
    }
}
