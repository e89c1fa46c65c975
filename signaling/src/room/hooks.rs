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
}
