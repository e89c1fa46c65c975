//! Motions and votes (议题表决): creating a motion at a meeting, written opinions of
//! absent voting members, opening it, ballots, a show-of-hands tally, closing it.
//!
//! Who may do what (enforced in [`service`]):
//! - create, register written opinions, open, enter a show-of-hands tally, close:
//!   managers of the meeting ([`crate::meetings::require_manage`]); readers get 403,
//!   anyone else 404.
//! - read and list: readers of the meeting ([`crate::meetings::require_read`]).
//! - vote: the member themself (`principal.member_id`), on a motion of a meeting they may
//!   read; the vote is refused `no_voting_right` without a voting right at this meeting,
//!   `not_present` without an open attendance interval.
//!
//! Decisions:
//! - One vote per member (`ballots` unique key). Repeating the same vote without an
//!   Idempotency-Key answers the recorded ballot with 200 (not 201) and records nothing;
//!   a different vote is 409 `already_voted`. The Idempotency-Key middleware replays a
//!   retried request itself.
//! - A voter who leaves after voting keeps the vote: the tally's roll call adds voters who
//!   are no longer present (they were checked present when voting). The quorum kept in
//!   `quorum_at_close` is the roll call at the moment of closing, unaugmented.
//! - Written opinions are registered before the vote opens (admission kinds only), from a
//!   voting member of the body; whether each counts is decided at the tally (only if the
//!   member is absent then). A show of hands on an admission kind adds the admissible
//!   written opinions to the entered counts.
//! - Close requires the meeting to be in progress, so the quorum at close is a real one.
//! - Ballot audit rows say who voted by which channel, never the choice.
//! - Unmarked candidates on an election ballot count as 弃权 for that candidate; a ballot
//!   with more 赞成 + 另选 marks than seats is refused (`invalid_ballot`).
//!
//! The counting is [`tally`] (pure), on top of [`hongying_signaling::quorum`].

pub mod service;
pub mod tally;
