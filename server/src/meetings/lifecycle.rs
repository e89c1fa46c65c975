//! The meeting lifecycle as a pure function of (status, action).
//!
//! ```text
//! draft ──schedule──▶ scheduled ──start──▶ in_progress ──end──▶ ended ──submit_minutes──▶ minutes_submitted ──review──▶ reviewed
//!   │                    │
//!   └──────cancel────────┴──▶ cancelled
//! ```
//! `edit` keeps the status and is allowed while the meeting is a draft or scheduled. A
//! started meeting is not cancelled: it ends, and its record says what happened.

use hongying_proto::meetings::MeetingStatus;

use crate::error::AppError;

/// What a request asks the meeting to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Edit,
    Schedule,
    Start,
    End,
    Cancel,
    SubmitMinutes,
    Review,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Self::Edit,
        Self::Schedule,
        Self::Start,
        Self::End,
        Self::Cancel,
        Self::SubmitMinutes,
        Self::Review,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Edit => "edit",
            Self::Schedule => "schedule",
            Self::Start => "start",
            Self::End => "end",
            Self::Cancel => "cancel",
            Self::SubmitMinutes => "submit_minutes",
            Self::Review => "review",
        }
    }
}

/// The status `action` leads to from `from`, or `None` when `from` does not allow it.
pub fn next(from: MeetingStatus, action: Action) -> Option<MeetingStatus> {
    use Action as A;
    use MeetingStatus as S;
    match (from, action) {
        (S::Draft, A::Edit) => Some(S::Draft),
        (S::Scheduled, A::Edit) => Some(S::Scheduled),
        (S::Draft, A::Schedule) => Some(S::Scheduled),
        (S::Scheduled, A::Start) => Some(S::InProgress),
        (S::InProgress, A::End) => Some(S::Ended),
        (S::Draft | S::Scheduled, A::Cancel) => Some(S::Cancelled),
        (S::Ended, A::SubmitMinutes) => Some(S::MinutesSubmitted),
        (S::MinutesSubmitted, A::Review) => Some(S::Reviewed),
        _ => None,
    }
}

/// The actions `from` allows, in a stable order.
pub fn allowed(from: MeetingStatus) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|a| next(from, *a).is_some())
        .collect()
}

/// [`next`], or the 409 `illegal_transition` naming what `from` allows.
pub fn transition(from: MeetingStatus, action: Action) -> Result<MeetingStatus, AppError> {
    next(from, action).ok_or_else(|| AppError::IllegalTransition {
        from: from.as_str().to_string(),
        allowed: allowed(from)
            .into_iter()
            .map(|a| a.as_str().to_string())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use MeetingStatus as S;

    #[test]
    fn a_refusal_reads_in_chinese() {
        for s in S::ALL {
            assert!(crate::error::state_word_zh(s.as_str()).is_some(), "{s:?}");
        }
        let e = transition(S::Ended, Action::Start).unwrap_err();
        let detail = e.detail();
        assert!(!detail.chars().any(|c| c.is_ascii_alphabetic()), "{detail}");
        assert!(
            detail.contains("已结束") && detail.contains("提交会议记录"),
            "{detail}"
        );
    }

    /// Every allowed (from, action, to). Anything not listed must be refused.
    const ALLOWED: [(S, Action, S); 9] = [
        (S::Draft, Action::Edit, S::Draft),
        (S::Draft, Action::Schedule, S::Scheduled),
        (S::Draft, Action::Cancel, S::Cancelled),
        (S::Scheduled, Action::Edit, S::Scheduled),
        (S::Scheduled, Action::Start, S::InProgress),
        (S::Scheduled, Action::Cancel, S::Cancelled),
        (S::InProgress, Action::End, S::Ended),
        (S::Ended, Action::SubmitMinutes, S::MinutesSubmitted),
        (S::MinutesSubmitted, Action::Review, S::Reviewed),
    ];

    #[test]
    fn exactly_the_listed_transitions_are_allowed() {
        for from in S::ALL.iter().copied() {
            for action in Action::ALL {
                let want = ALLOWED
                    .iter()
                    .find(|(f, a, _)| *f == from && *a == action)
                    .map(|(_, _, to)| *to);
                assert_eq!(next(from, action), want, "{from:?} --{action:?}-->");
            }
        }
    }

    #[test]
    fn a_refusal_names_the_allowed_actions() {
        let err = transition(S::Draft, Action::Start).unwrap_err();
        match err {
            AppError::IllegalTransition { from, allowed } => {
                assert_eq!(from, "draft");
                assert_eq!(allowed, vec!["edit", "schedule", "cancel"]);
            }
            other => panic!("{other:?}"),
        }
        match transition(S::InProgress, Action::Cancel).unwrap_err() {
            AppError::IllegalTransition { allowed, .. } => assert_eq!(allowed, vec!["end"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn terminal_states_allow_nothing() {
        assert!(allowed(S::Cancelled).is_empty());
        assert!(allowed(S::Reviewed).is_empty());
        match transition(S::Cancelled, Action::Schedule).unwrap_err() {
            AppError::IllegalTransition { allowed, .. } => assert!(allowed.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}
