//! The minutes record of a meeting (会议记录): speakers' points one by one, summary and
//! resolutions, the attendance table and motion results assembled from what the meeting
//! stored, the host's and recorder's sign-off, submission to and review by the upper
//! organization, attachments, and the JSON / printable HTML export.
//!
//! Who may do what (enforced in [`service`]):
//! - read, export, download attachments: readers of the meeting
//!   ([`crate::meetings::require_read`]); anyone else 404.
//! - add points, put summary/resolutions, upload attachments: managers of the meeting,
//!   its host and its recorder, while the meeting is in progress or ended and the minutes
//!   are not submitted (409 otherwise).
//! - sign: only the meeting's host member (`as: host`) or recorder member
//!   (`as: recorder`) themself, once the meeting has ended (403 for anyone else).
//! - submit: managers of the meeting; the meeting must have ended (409
//!   `illegal_transition` otherwise) and both signatures must be there (409 `conflict`).
//!   Moves the meeting to `minutes_submitted` in the same transaction, with an audit row,
//!   and freezes the quorum at the end (`quorum_at_end`) for the compliance calendar.
//! - review: a manager holding an organization strictly above the meeting's (or a super
//!   admin); moves the meeting to `reviewed`.
//!
//! Decisions:
//! - Changing points, summary or resolutions after a signature clears both signatures:
//!   the host and the recorder sign what is recorded.
//! - 实到 counts members who attended at any time during the meeting; in the room at any
//!   time counts as in person. E and P come from the quorum rules over that presence.
//! - Attachment types come from the content (PNG, JPEG, PDF only): other content is 415
//!   `unsupported_media_type`; an empty body, or a declared type or extension that
//!   contradicts the content, is 422 `invalid_attachment`. Files are kept content-addressed
//!   under `<data_dir>/attachments/`.

pub mod attachments;
pub mod export;
pub mod record;
pub mod service;
