//! A member's standing for quorum and votes (QUORUM.md "Who counts"), derived from the
//! roster record. The meetings module builds its roll call with this.
//!
//! Precedence, most restrictive first: 停止党籍, then 留党察看 in force, then suspended
//! rights. Being out of contact (失联) changes no right by itself: such a member still
//! counts in E until the branch excludes them for a meeting or stops their membership.

use chrono::NaiveDate;
use hongying_proto::members::MemberStatus;
use hongying_signaling::quorum::MemberStatus as QuorumStatus;

/// The parts of a record that decide the standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub status: MemberStatus,
    /// 留党察看 until this date, inclusive.
    pub discipline_until: Option<NaiveDate>,
    pub rights_suspended: bool,
    pub membership_stopped: bool,
}

/// The quorum status on day `on`, or `None` for people who are not Party members
/// (applicants, activists, candidates) or no longer are: they are not on the roll.
pub fn quorum_status(s: &Standing, on: NaiveDate) -> Option<QuorumStatus> {
    let member = matches!(s.status, MemberStatus::Probationary | MemberStatus::Full);
    if !member {
        return None;
    }
    if s.membership_stopped {
        return Some(QuorumStatus::Stopped);
    }
    if s.status == MemberStatus::Probationary {
        return Some(QuorumStatus::Probationary);
    }
    if s.discipline_until.is_some_and(|until| on <= until) {
        return Some(QuorumStatus::FullOnProbationDiscipline);
    }
    if s.rights_suspended {
        return Some(QuorumStatus::FullRightsSuspended);
    }
    Some(QuorumStatus::Full)
}

/// The standing at a host organization of a member who takes part there without his
/// formal relationship (流动党员, RULES.md §2.1): `Temporary` (no vote, outside E) for a
/// Party member who takes part anywhere; `None` when he would be on no roll at home
/// either, or his membership is stopped.
pub fn host_status(s: &Standing, on: NaiveDate) -> Option<QuorumStatus> {
    match quorum_status(s, on)? {
        QuorumStatus::Stopped => None,
        _ => Some(QuorumStatus::Temporary),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn standing(status: MemberStatus) -> Standing {
        Standing {
            status,
            discipline_until: None,
            rights_suspended: false,
            membership_stopped: false,
        }
    }

    #[test]
    fn only_party_members_are_on_the_roll() {
        let on = d("2026-11-28");
        for s in [
            MemberStatus::Applicant,
            MemberStatus::Activist,
            MemberStatus::Candidate,
            MemberStatus::Removed,
        ] {
            assert_eq!(quorum_status(&standing(s), on), None, "{s:?}");
        }
        assert_eq!(
            quorum_status(&standing(MemberStatus::Full), on),
            Some(QuorumStatus::Full)
        );
        assert_eq!(
            quorum_status(&standing(MemberStatus::Probationary), on),
            Some(QuorumStatus::Probationary)
        );
        assert!(
            quorum_status(&standing(MemberStatus::Full), on)
                .unwrap()
                .has_voting_right()
        );
    }

    #[test]
    fn a_hosted_member_is_temporary_without_a_vote() {
        let on = d("2026-11-28");
        let full = standing(MemberStatus::Full);
        assert_eq!(host_status(&full, on), Some(QuorumStatus::Temporary));
        assert!(!host_status(&full, on).unwrap().has_voting_right());
        // At home the same member keeps his vote.
        assert!(quorum_status(&full, on).unwrap().has_voting_right());
        assert_eq!(
            host_status(&standing(MemberStatus::Probationary), on),
            Some(QuorumStatus::Temporary)
        );
        let mut stopped = full;
        stopped.membership_stopped = true;
        assert_eq!(host_status(&stopped, on), None);
        assert_eq!(host_status(&standing(MemberStatus::Activist), on), None);
    }

    #[test]
    fn discipline_counts_until_its_last_day() {
        let mut s = standing(MemberStatus::Full);
        s.discipline_until = Some(d("2026-11-28"));
        assert_eq!(
            quorum_status(&s, d("2026-11-28")),
            Some(QuorumStatus::FullOnProbationDiscipline)
        );
        assert_eq!(quorum_status(&s, d("2026-11-29")), Some(QuorumStatus::Full));
    }

    #[test]
    fn the_most_restrictive_flag_wins() {
        let on = d("2026-11-28");
        let mut s = standing(MemberStatus::Full);
        s.rights_suspended = true;
        assert_eq!(
            quorum_status(&s, on),
            Some(QuorumStatus::FullRightsSuspended)
        );
        s.discipline_until = Some(d("2027-06-30"));
        assert_eq!(
            quorum_status(&s, on),
            Some(QuorumStatus::FullOnProbationDiscipline)
        );
        s.membership_stopped = true;
        assert_eq!(quorum_status(&s, on), Some(QuorumStatus::Stopped));
        let mut p = standing(MemberStatus::Probationary);
        p.membership_stopped = true;
        assert_eq!(quorum_status(&p, on), Some(QuorumStatus::Stopped));
        for status in [
            QuorumStatus::Stopped,
            QuorumStatus::FullOnProbationDiscipline,
        ] {
            assert!(!status.has_voting_right());
        }
    }
}
