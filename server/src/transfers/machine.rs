//! The transfer state machine (RULES.md §4.3) as pure functions: which action leads from
//! which status to which, and which party may take it. The service checks the party
//! against the caller's grants and applies the step with a conditional UPDATE.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Submitted,
    ReturnedForEdits,
    ApprovedByBranch,
    ApprovedByCommittee,
    Accepted,
    Assigned,
    Reported,
    ReceiptReturned,
    Done,
    Withdrawn,
    Rejected,
    Expired,
    Revoked,
}

impl Status {
    pub const ALL: [Status; 13] = [
        Self::Submitted,
        Self::ReturnedForEdits,
        Self::ApprovedByBranch,
        Self::ApprovedByCommittee,
        Self::Accepted,
        Self::Assigned,
        Self::Reported,
        Self::ReceiptReturned,
        Self::Done,
        Self::Withdrawn,
        Self::Rejected,
        Self::Expired,
        Self::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::ReturnedForEdits => "returned_for_edits",
            Self::ApprovedByBranch => "approved_by_branch",
            Self::ApprovedByCommittee => "approved_by_committee",
            Self::Accepted => "accepted",
            Self::Assigned => "assigned",
            Self::Reported => "reported",
            Self::ReceiptReturned => "receipt_returned",
            Self::Done => "done",
            Self::Withdrawn => "withdrawn",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Where the transfer stands, in the words of the notice its member and approvers read.
    pub fn progress_zh(self) -> &'static str {
        match self {
            Self::Submitted => "申请已提交，等待支部审核。",
            Self::ReturnedForEdits => "申请被退回，请按意见修改后重新提交。",
            Self::ApprovedByBranch => "支部已同意，等待乡镇（街道）党委审批。",
            Self::ApprovedByCommittee => "党委已审批，等待接收方党组织接收。",
            Self::Accepted => "接收方党委已同意接收，等待分配到支部。",
            Self::Assigned => "已分配到接收支部，请尽快去支部报到。",
            Self::Reported => "已到接收支部报到，等待回执寄回。",
            Self::ReceiptReturned => "回执已寄回，等待办结。",
            Self::Done => "已办结，组织关系转接完成。",
            Self::Withdrawn => "申请已撤回。",
            Self::Rejected => "申请未获同意。",
            Self::Expired => "介绍信已过期，请联系党委重新开具。",
            Self::Revoked => "已撤销。",
        }
    }

    /// No further step leads out of a terminal status.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Withdrawn | Self::Rejected | Self::Revoked
        )
    }

    /// Until the receiving committee accepts, the sending side stays responsible and the
    /// member belongs to the old branch.
    pub fn before_acceptance(self) -> bool {
        matches!(
            self,
            Self::Submitted
                | Self::ReturnedForEdits
                | Self::ApprovedByBranch
                | Self::ApprovedByCommittee
                | Self::Expired
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Resubmit,
    ApproveBranch,
    ApproveCommittee,
    Accept,
    Assign,
    Report,
    ReturnReceipt,
    Complete,
    ReturnForEdits,
    Withdraw,
    Reject,
    Expire,
    Reissue,
    Revoke,
}

impl Action {
    pub const ALL: [Action; 14] = [
        Self::Resubmit,
        Self::ApproveBranch,
        Self::ApproveCommittee,
        Self::Accept,
        Self::Assign,
        Self::Report,
        Self::ReturnReceipt,
        Self::Complete,
        Self::ReturnForEdits,
        Self::Withdraw,
        Self::Reject,
        Self::Expire,
        Self::Reissue,
        Self::Revoke,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resubmit => "resubmit",
            Self::ApproveBranch => "approve_branch",
            Self::ApproveCommittee => "approve_committee",
            Self::Accept => "accept",
            Self::Assign => "assign",
            Self::Report => "report",
            Self::ReturnReceipt => "return_receipt",
            Self::Complete => "complete",
            Self::ReturnForEdits => "return_for_edits",
            Self::Withdraw => "withdraw",
            Self::Reject => "reject",
            Self::Expire => "expire",
            Self::Reissue => "reissue",
            Self::Revoke => "revoke",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Who takes a step. The service maps each party to grants at one organization of the
/// transfer (the sending branch, the sending basic-level committee, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The member the transfer is about.
    Member,
    /// Secretary or committee member of the sending branch.
    SendingBranch,
    /// The sending basic-level committee (nearest ancestor with approval authority).
    SendingCommittee,
    /// The receiving basic-level committee.
    ReceivingCommittee,
    /// Secretary or committee member of the receiving branch.
    ReceivingBranch,
}

/// Whether the destination is an organization in the system (receiving steps are taken
/// here) or outside it (the paper receipt is recorded by the sending committee), or the
/// member comes from outside (`into_city`: the sending side's steps were taken on paper,
/// the receiving committee takes every step here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Internal,
    Outside,
    Incoming,
}

/// The status an action leads to from `from`, and the parties who may take it; `None`
/// when the action is not allowed in that status.
pub fn step(from: Status, action: Action, route: Route) -> Option<(Status, &'static [Party])> {
    use Action as A;
    use Party as P;
    use Status as S;
    let r = match (from, action) {
        (S::ReturnedForEdits, A::Resubmit) => (S::Submitted, &[P::Member, P::SendingBranch][..]),
        (S::Submitted, A::ApproveBranch) => (S::ApprovedByBranch, &[P::SendingBranch][..]),
        (S::Submitted, A::ReturnForEdits) => (S::ReturnedForEdits, &[P::SendingBranch][..]),
        (S::Submitted, A::Reject) => (S::Rejected, &[P::SendingBranch][..]),
        (S::ApprovedByBranch, A::ApproveCommittee) => {
            (S::ApprovedByCommittee, &[P::SendingCommittee][..])
        }
        (S::ApprovedByBranch, A::ReturnForEdits) => {
            (S::ReturnedForEdits, &[P::SendingCommittee][..])
        }
        (S::ApprovedByBranch, A::Reject) => (S::Rejected, &[P::SendingCommittee][..]),
        (S::Submitted | S::ReturnedForEdits | S::ApprovedByBranch, A::Withdraw) => {
            (S::Withdrawn, &[P::Member, P::SendingBranch][..])
        }
        (S::ApprovedByCommittee, A::Accept) if route != Route::Outside => {
            (S::Accepted, &[P::ReceivingCommittee][..])
        }
        (S::ApprovedByCommittee, A::Reject) if route != Route::Outside => {
            (S::Rejected, &[P::ReceivingCommittee][..])
        }
        (S::ApprovedByCommittee, A::ReturnReceipt) if route == Route::Outside => {
            (S::ReceiptReturned, &[P::SendingCommittee][..])
        }
        // The letter of an incoming member was issued outside; it neither expires nor is
        // reissued here.
        (S::ApprovedByCommittee, A::Expire) if route != Route::Incoming => {
            (S::Expired, &[P::SendingCommittee][..])
        }
        (S::Expired, A::Reissue) => (S::ApprovedByCommittee, &[P::SendingCommittee][..]),
        (S::ApprovedByCommittee, A::Revoke) if route == Route::Incoming => {
            (S::Revoked, &[P::ReceivingCommittee][..])
        }
        (
            S::Submitted
            | S::ReturnedForEdits
            | S::ApprovedByBranch
            | S::ApprovedByCommittee
            | S::Expired,
            A::Revoke,
        ) => (S::Revoked, &[P::SendingCommittee][..]),
        (S::Accepted, A::Assign) => (S::Assigned, &[P::ReceivingCommittee][..]),
        (S::Assigned, A::Report) => (S::Reported, &[P::Member, P::ReceivingBranch][..]),
        (S::Reported, A::ReturnReceipt) => (S::ReceiptReturned, &[P::ReceivingCommittee][..]),
        (S::ReceiptReturned, A::Complete) if route == Route::Incoming => {
            (S::Done, &[P::ReceivingCommittee][..])
        }
        (S::ReceiptReturned, A::Complete) => (S::Done, &[P::SendingCommittee][..]),
        _ => return None,
    };
    Some(r)
}

/// The actions `from` permits on `route`, for the 409 answer and for work lists.
pub fn allowed(from: Status, route: Route) -> Vec<Action> {
    Action::ALL
        .into_iter()
        .filter(|a| step(from, *a, route).is_some())
        .collect()
}

/// The parties who may act next, for the "to do" lists and notices.
pub fn next_parties(from: Status, route: Route) -> Vec<Party> {
    let mut out = Vec::new();
    for a in allowed(from, route) {
        // Withdrawals and revocations are escape hatches, not the awaited step.
        if matches!(a, Action::Withdraw | Action::Revoke | Action::Expire) {
            continue;
        }
        if let Some((_, parties)) = step(from, a, route) {
            for p in parties {
                if !out.contains(p) {
                    out.push(*p);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A refused step names the status and the steps allowed in Chinese, never the
    /// machine words.
    #[test]
    fn every_status_and_step_reads_in_chinese() {
        for s in Status::ALL {
            assert!(crate::error::state_word_zh(s.as_str()).is_some(), "{s}");
        }
        for a in Action::ALL {
            assert!(
                crate::error::state_word_zh(a.as_str()).is_some(),
                "{}",
                a.as_str()
            );
        }
    }

    #[test]
    fn internal_happy_path_reaches_done() {
        let path = [
            (Action::ApproveBranch, Party::SendingBranch),
            (Action::ApproveCommittee, Party::SendingCommittee),
            (Action::Accept, Party::ReceivingCommittee),
            (Action::Assign, Party::ReceivingCommittee),
            (Action::Report, Party::Member),
            (Action::ReturnReceipt, Party::ReceivingCommittee),
            (Action::Complete, Party::SendingCommittee),
        ];
        let mut s = Status::Submitted;
        for (a, p) in path {
            let (next, parties) = step(s, a, Route::Internal).unwrap();
            assert!(parties.contains(&p), "{a:?} by {p:?}");
            s = next;
        }
        assert_eq!(s, Status::Done);
        assert!(allowed(s, Route::Internal).is_empty());
    }

    #[test]
    fn outside_route_skips_receiving_steps() {
        assert!(step(Status::ApprovedByCommittee, Action::Accept, Route::Outside).is_none());
        let (next, parties) = step(
            Status::ApprovedByCommittee,
            Action::ReturnReceipt,
            Route::Outside,
        )
        .unwrap();
        assert_eq!(next, Status::ReceiptReturned);
        assert_eq!(parties, &[Party::SendingCommittee]);
    }

    #[test]
    fn approvals_only_by_their_party() {
        let (_, p) = step(Status::Submitted, Action::ApproveBranch, Route::Internal).unwrap();
        assert_eq!(p, &[Party::SendingBranch]);
        let (_, p) = step(
            Status::ApprovedByBranch,
            Action::ApproveCommittee,
            Route::Internal,
        )
        .unwrap();
        assert_eq!(p, &[Party::SendingCommittee]);
        let (_, p) = step(Status::ApprovedByCommittee, Action::Accept, Route::Internal).unwrap();
        assert_eq!(p, &[Party::ReceivingCommittee]);
    }

    #[test]
    fn skipping_a_step_is_refused_and_names_the_allowed() {
        assert!(step(Status::Submitted, Action::ApproveCommittee, Route::Internal).is_none());
        assert!(step(Status::Submitted, Action::Accept, Route::Internal).is_none());
        let allowed = allowed(Status::Submitted, Route::Internal);
        assert!(allowed.contains(&Action::ApproveBranch));
        assert!(allowed.contains(&Action::Withdraw));
        assert!(!allowed.contains(&Action::Accept));
    }

    #[test]
    fn side_exits() {
        let (s, _) = step(Status::Submitted, Action::Withdraw, Route::Internal).unwrap();
        assert_eq!(s, Status::Withdrawn);
        let (s, _) = step(Status::ApprovedByBranch, Action::Reject, Route::Internal).unwrap();
        assert_eq!(s, Status::Rejected);
        let (s, _) = step(Status::Submitted, Action::ReturnForEdits, Route::Internal).unwrap();
        assert_eq!(s, Status::ReturnedForEdits);
        let (s, _) = step(s, Action::Resubmit, Route::Internal).unwrap();
        assert_eq!(s, Status::Submitted);
        let (s, _) = step(Status::ApprovedByCommittee, Action::Expire, Route::Outside).unwrap();
        assert_eq!(s, Status::Expired);
        let (s, _) = step(s, Action::Reissue, Route::Outside).unwrap();
        assert_eq!(s, Status::ApprovedByCommittee);
        let (s, _) = step(Status::Expired, Action::Revoke, Route::Internal).unwrap();
        assert_eq!(s, Status::Revoked);
    }

    #[test]
    fn no_withdrawal_after_the_letter_is_out_and_none_from_terminal() {
        assert!(
            step(
                Status::ApprovedByCommittee,
                Action::Withdraw,
                Route::Internal
            )
            .is_none()
        );
        assert!(step(Status::Accepted, Action::Revoke, Route::Internal).is_none());
        for s in Status::ALL.into_iter().filter(|s| s.is_terminal()) {
            assert!(allowed(s, Route::Internal).is_empty(), "{s}");
            assert!(allowed(s, Route::Outside).is_empty(), "{s}");
        }
    }

    #[test]
    fn incoming_enters_at_the_receiving_committee_and_stays_there() {
        let r = Route::Incoming;
        assert_eq!(
            next_parties(Status::ApprovedByCommittee, r),
            vec![Party::ReceivingCommittee]
        );
        assert!(step(Status::ApprovedByCommittee, Action::Expire, r).is_none());
        let (s, p) = step(Status::ApprovedByCommittee, Action::Revoke, r).unwrap();
        assert_eq!((s, p), (Status::Revoked, &[Party::ReceivingCommittee][..]));
        let path = [
            (Action::Accept, Party::ReceivingCommittee),
            (Action::Assign, Party::ReceivingCommittee),
            (Action::Report, Party::Member),
            (Action::ReturnReceipt, Party::ReceivingCommittee),
            (Action::Complete, Party::ReceivingCommittee),
        ];
        let mut s = Status::ApprovedByCommittee;
        for (a, p) in path {
            let (next, parties) = step(s, a, r).unwrap();
            assert!(parties.contains(&p), "{a:?} by {p:?}");
            assert!(!parties.contains(&Party::SendingCommittee), "{a:?}");
            s = next;
        }
        assert_eq!(s, Status::Done);
    }

    #[test]
    fn names_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("approve"), None);
    }

    #[test]
    fn member_stays_with_old_branch_until_acceptance() {
        assert!(Status::ApprovedByCommittee.before_acceptance());
        assert!(!Status::Accepted.before_acceptance());
        assert_eq!(
            next_parties(Status::ApprovedByCommittee, Route::Internal),
            vec![Party::ReceivingCommittee]
        );
    }
}
