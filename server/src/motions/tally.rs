//! Counting a motion, as pure functions over a roll call: no database, no clock.
//!
//! Who counts and against what is decided by [`hongying_signaling::quorum`] alone; this
//! module only feeds it ballots and written opinions, adds what QUORUM.md leaves to the
//! record (abstentions, the reasons a ballot was ignored, election ranking and ties) and
//! shapes the result the minutes keep.

use std::collections::{HashMap, HashSet};

use hongying_proto::motions::{
    CandidateOutcome, CandidateResult, Choice, ElectionMark, IgnoredBallot, Mark, MotionResult,
    QuorumSnapshot, VotingMethod, WriteIn, WrittenCounts,
};
use hongying_signaling::quorum::{
    Ballot, BodyKind, Comparison, IgnoreReason, MemberStatus, QuorumOutcome, RollCall, Thresholds,
    Votes, assess_quorum, tally_motion,
};

/// The rule's name as results and snapshots spell it.
pub fn rule_name(kind: BodyKind) -> &'static str {
    match kind {
        BodyKind::Congress => "congress",
        BodyKind::CongressAdmission => "congress_admission",
        BodyKind::Election => "election",
        BodyKind::Committee => "committee",
    }
}

fn reason_name(r: IgnoreReason) -> &'static str {
    match r {
        IgnoreReason::UnknownMember => "unknown_member",
        IgnoreReason::NoVotingRight => "no_voting_right",
        IgnoreReason::NotExpected => "not_expected",
        IgnoreReason::NotPresent => "not_present",
        IgnoreReason::WrittenNotAllowed => "written_not_allowed",
        IgnoreReason::WrittenWhilePresent => "written_while_present",
        IgnoreReason::Conflicting => "conflicting",
        IgnoreReason::Duplicate => "duplicate",
    }
}

/// Freezes a roll call's outcome for `quorum_at_open` / `quorum_at_close`.
pub fn snapshot(q: &QuorumOutcome, at: chrono::NaiveDateTime) -> QuorumSnapshot {
    QuorumSnapshot {
        rule: rule_name(q.kind).into(),
        expected: q.expected,
        present_voting: q.present_voting,
        present_in_person: q.present_in_person,
        present_remote: q.present_remote,
        quorate: q.quorate,
        missing: q.missing.clone(),
        excluded: q.excluded.clone(),
        at: at.and_utc(),
    }
}

/// Whether `yes` is more than half of `expected` (or at least half, inclusive reading).
/// Never true for E = 0.
pub fn reaches_half(yes: u32, expected: u32, cmp: Comparison) -> bool {
    if expected == 0 {
        return false;
    }
    let (lhs, rhs) = (2 * u64::from(yes), u64::from(expected));
    match cmp {
        Comparison::Strict => lhs > rhs,
        Comparison::Inclusive => lhs >= rhs,
    }
}

/// The decision rule of a body, as configured.
fn pass_comparison(kind: BodyKind, t: &Thresholds) -> Comparison {
    match kind {
        BodyKind::Congress | BodyKind::CongressAdmission => t.congress_pass,
        BodyKind::Election => t.election_elect,
        BodyKind::Committee => t.committee_pass,
    }
}

/// Who is in E and who is present, recovered from an outcome and its roll call, to judge
/// the votes [`tally_motion`] has no list for (abstentions).
struct Sets<'a> {
    status: HashMap<&'a str, MemberStatus>,
    expected: HashSet<String>,
    present: HashSet<&'a str>,
}

fn sets<'a>(roll: &'a RollCall, q: &QuorumOutcome) -> Sets<'a> {
    let mut status = HashMap::new();
    for m in &roll.members {
        status.entry(m.id.as_str()).or_insert(m.status);
    }
    let present: HashSet<&str> = roll.present.iter().map(|p| p.member.as_str()).collect();
    let not_counted: HashSet<&str> = q.present_not_counted.iter().map(String::as_str).collect();
    // Every present entry is either counted in P (and so in E) or listed as not counted.
    let mut expected: HashSet<String> = q.missing.iter().cloned().collect();
    expected.extend(
        present
            .iter()
            .filter(|id| !not_counted.contains(*id))
            .map(|id| (*id).to_owned()),
    );
    Sets {
        status,
        expected,
        present,
    }
}

impl Sets<'_> {
    /// Why a vote (`written` or in the room) would not count, by the rules of
    /// [`tally_motion`]; `None` when it counts.
    fn ignore_reason(&self, kind: BodyKind, member: &str, written: bool) -> Option<IgnoreReason> {
        let Some(status) = self.status.get(member) else {
            return Some(IgnoreReason::UnknownMember);
        };
        if !status.has_voting_right() {
            return Some(IgnoreReason::NoVotingRight);
        }
        if !self.expected.contains(member) {
            return Some(IgnoreReason::NotExpected);
        }
        let present = self.present.contains(member);
        if !written {
            return (!present).then_some(IgnoreReason::NotPresent);
        }
        if kind != BodyKind::CongressAdmission {
            return Some(IgnoreReason::WrittenNotAllowed);
        }
        present.then_some(IgnoreReason::WrittenWhilePresent)
    }
}

fn ignored(member: &str, written: bool, choice: Option<Choice>, r: IgnoreReason) -> IgnoredBallot {
    IgnoredBallot {
        member_id: member.to_owned(),
        source: if written { "written" } else { "ballot" }.into(),
        choice,
        reason: reason_name(r).into(),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn base_result(q: &QuorumOutcome, method: VotingMethod, source: &str) -> MotionResult {
    MotionResult {
        rule: rule_name(q.kind).into(),
        voting_method: method,
        source: source.into(),
        expected: q.expected,
        present_voting: q.present_voting,
        present_in_person: q.present_in_person,
        present_remote: q.present_remote,
        quorate: q.quorate,
        yes: 0,
        no: 0,
        abstain: 0,
        ballots_cast: 0,
        written: WrittenCounts::default(),
        ignored: Vec::new(),
        passed: false,
        seats: None,
        candidates: Vec::new(),
        elected: Vec::new(),
        tied: Vec::new(),
        unfilled_seats: None,
        write_ins: Vec::new(),
        valid_ballots: None,
    }
}

/// Counts written opinions (admission kinds only; the rest are ignored with a reason):
/// adds the counted abstentions and the record of what was received.
fn count_written(
    roll: &RollCall,
    s: &Sets<'_>,
    written: &[(String, Choice)],
    r: &mut MotionResult,
) {
    let mut w = WrittenCounts {
        received: count(written.len()),
        ..WrittenCounts::default()
    };
    for (member, choice) in written {
        match s.ignore_reason(roll.kind, member, true) {
            None => match choice {
                Choice::Yes => w.counted_yes += 1,
                Choice::No => w.counted_no += 1,
                Choice::Abstain => w.counted_abstain += 1,
            },
            Some(reason) => {
                w.ignored += 1;
                // Yes/no written opinions are already reported by tally_motion.
                if *choice == Choice::Abstain {
                    r.ignored.push(ignored(member, true, Some(*choice), reason));
                }
            }
        }
    }
    r.abstain += w.counted_abstain;
    r.written = w;
}

/// Tallies a motion decided by ballots (in the app or over the socket) and, on admission
/// kinds, the written opinions of absent voting members.
///
/// `roll.kind` must already be the motion's rule. The roll call's presence should include
/// every member who voted while present, so that a voter who left afterwards keeps the vote.
pub fn tally_ballots(
    roll: &RollCall,
    ballots: &[(String, Choice)],
    written: &[(String, Choice)],
    thresholds: &Thresholds,
    method: VotingMethod,
) -> MotionResult {
    let pick = |list: &[(String, Choice)], c: Choice| -> Vec<String> {
        list.iter()
            .filter(|(_, x)| *x == c)
            .map(|(m, _)| m.clone())
            .collect()
    };
    let votes = Votes {
        yes: pick(ballots, Choice::Yes),
        no: pick(ballots, Choice::No),
        written_yes: pick(written, Choice::Yes),
        written_no: pick(written, Choice::No),
    };
    let outcome = tally_motion(roll, &votes, thresholds);
    let s = sets(roll, &outcome.quorum);
    let mut r = base_result(&outcome.quorum, method, "ballots");
    r.yes = outcome.counted_yes;
    r.no = outcome.counted_no;
    r.ballots_cast = count(ballots.len());
    r.passed = outcome.passed;
    r.ignored = outcome
        .ignored
        .iter()
        .map(|v| {
            let (written, choice) = match v.ballot {
                Ballot::Yes => (false, Choice::Yes),
                Ballot::No => (false, Choice::No),
                Ballot::WrittenYes => (true, Choice::Yes),
                Ballot::WrittenNo => (true, Choice::No),
            };
            ignored(&v.member, written, Some(choice), v.reason)
        })
        .collect();
    for (member, choice) in ballots.iter().filter(|(_, c)| *c == Choice::Abstain) {
        match s.ignore_reason(roll.kind, member, false) {
            None => r.abstain += 1,
            Some(reason) => r
                .ignored
                .push(ignored(member, false, Some(*choice), reason)),
        }
    }
    count_written(roll, &s, written, &mut r);
    r
}

/// Tallies a show of hands from the counts the secretary entered. On admission kinds the
/// written opinions of absent voting members are added to the counts, as they would be
/// to ballots. Passed iff quorate and `2·yes > E`.
pub fn tally_counts(
    roll: &RollCall,
    counts: (u32, u32, u32),
    written: &[(String, Choice)],
    thresholds: &Thresholds,
    method: VotingMethod,
) -> MotionResult {
    let q = assess_quorum(roll, thresholds);
    let s = sets(roll, &q);
    let mut r = base_result(&q, method, "tally");
    r.yes = counts.0;
    r.no = counts.1;
    r.abstain = counts.2;
    count_written(roll, &s, written, &mut r);
    // count_written added the abstentions; yes and no opinions are added here.
    r.yes += r.written.counted_yes;
    r.no += r.written.counted_no;
    for (member, choice) in written.iter().filter(|(_, c)| *c != Choice::Abstain) {
        if let Some(reason) = s.ignore_reason(roll.kind, member, true) {
            r.ignored.push(ignored(member, true, Some(*choice), reason));
        }
    }
    r.passed = q.quorate && reaches_half(r.yes, q.expected, pass_comparison(roll.kind, thresholds));
    r
}

/// Why an election ballot is invalid, or `None`: every candidate known and marked at most
/// once, a written-in name exactly with 另选他人, and no more votes for people (赞成 plus
/// 另选) than seats (选举条例: a ballot with more marks than seats is invalid).
pub fn election_ballot_error(
    candidates: &[String],
    seats: u32,
    marks: &[ElectionMark],
) -> Option<&'static str> {
    let mut seen = HashSet::new();
    let mut votes_for_people = 0u32;
    for m in marks {
        if !candidates.contains(&m.candidate_id) {
            return Some("选票中有不属于本次选举的候选人。");
        }
        if !seen.insert(m.candidate_id.as_str()) {
            return Some("同一候选人在选票上只能标记一次。");
        }
        let named = m
            .other_name
            .as_deref()
            .is_some_and(|n| !n.trim().is_empty());
        match m.mark {
            Mark::Other if !named => return Some("选择“另选他人”时须写明另选人姓名。"),
            Mark::Other => votes_for_people += 1,
            _ if m.other_name.is_some() => {
                return Some("只有选择“另选他人”时才能填写另选人姓名。");
            }
            Mark::Yes => votes_for_people += 1,
            _ => {}
        }
    }
    (votes_for_people > seats).then_some("赞成和另选的人数超过应选名额，选票无效。")
}

/// An election: the candidates in ballot order, the seats, and the ballots cast.
pub struct Election<'a> {
    /// `(candidate id, name)` in ballot order.
    pub candidates: &'a [(String, String)],
    pub seats: u32,
    /// `(member id, marks)`; each ballot was checked with [`election_ballot_error`].
    pub ballots: &'a [(String, Vec<ElectionMark>)],
}

/// Tallies an election: valid iff `5·P > 4·E`; a candidate has a majority iff valid and
/// `2·yes > E`; when more candidates have a majority than there are seats, the most
/// yes-votes win, and candidates tied for the last seat(s) are reported as `tie` (a
/// re-vote among them decides). Seats left without a majority candidate are unfilled.
pub fn tally_election(
    roll: &RollCall,
    e: &Election<'_>,
    thresholds: &Thresholds,
    method: VotingMethod,
) -> MotionResult {
    let q = assess_quorum(roll, thresholds);
    let s = sets(roll, &q);
    let mut r = base_result(&q, method, "ballots");
    r.ballots_cast = count(e.ballots.len());
    r.seats = Some(e.seats);

    let mut valid: Vec<&(String, Vec<ElectionMark>)> = Vec::new();
    for b in e.ballots {
        match s.ignore_reason(roll.kind, &b.0, false) {
            None => valid.push(b),
            Some(reason) => r.ignored.push(ignored(&b.0, false, None, reason)),
        }
    }
    r.valid_ballots = Some(count(valid.len()));

    let mut results: Vec<CandidateResult> = Vec::new();
    for (id, name) in e.candidates {
        let (mut yes, mut no) = (Vec::new(), Vec::new());
        for (member, marks) in &valid {
            match marks.iter().find(|m| &m.candidate_id == id).map(|m| m.mark) {
                Some(Mark::Yes) => yes.push(member.clone()),
                Some(Mark::No | Mark::Other) => no.push(member.clone()),
                Some(Mark::Abstain) | None => {}
            }
        }
        // The pure rule does the counting, so a ballot can never count where the rules
        // say it must not.
        let o = tally_motion(
            roll,
            &Votes {
                yes,
                no,
                ..Votes::default()
            },
            thresholds,
        );
        let abstain = count(valid.len()).saturating_sub(o.counted_yes + o.counted_no);
        results.push(CandidateResult {
            candidate_id: id.clone(),
            name: name.clone(),
            yes: o.counted_yes,
            no: o.counted_no,
            abstain,
            majority: q.candidate_elected(o.counted_yes, thresholds),
            outcome: CandidateOutcome::NotElected,
            rank: 0,
        });
    }
    let all_yes: Vec<u32> = results.iter().map(|c| c.yes).collect();
    for c in &mut results {
        c.rank = 1 + count(all_yes.iter().filter(|y| **y > c.yes).count());
    }

    let seats = usize::try_from(e.seats).unwrap_or(usize::MAX);
    let mut majority: Vec<usize> = (0..results.len())
        .filter(|i| results[*i].majority)
        .collect();
    // Stable sort: equal counts keep ballot order, which only matters for display.
    majority.sort_by(|a, b| results[*b].yes.cmp(&results[*a].yes));
    if majority.len() <= seats {
        for i in &majority {
            results[*i].outcome = CandidateOutcome::Elected;
        }
        r.unfilled_seats = Some(count(seats - majority.len()));
    } else {
        let cutoff = results[majority[seats - 1]].yes;
        let above = majority
            .iter()
            .filter(|i| results[**i].yes > cutoff)
            .count();
        let at = majority
            .iter()
            .filter(|i| results[**i].yes == cutoff)
            .count();
        for i in &majority {
            let y = results[*i].yes;
            results[*i].outcome = if y > cutoff || (y == cutoff && above + at <= seats) {
                CandidateOutcome::Elected
            } else if y == cutoff {
                CandidateOutcome::Tie
            } else {
                CandidateOutcome::NotElected
            };
        }
        r.unfilled_seats = Some(0);
    }
    r.elected = majority
        .iter()
        .filter(|i| results[**i].outcome == CandidateOutcome::Elected)
        .map(|i| results[*i].candidate_id.clone())
        .collect();
    r.tied = majority
        .iter()
        .filter(|i| results[**i].outcome == CandidateOutcome::Tie)
        .map(|i| results[*i].candidate_id.clone())
        .collect();
    r.passed = q.quorate && r.elected.len() == seats && r.tied.is_empty();
    r.candidates = results;

    let mut write_ins: Vec<WriteIn> = Vec::new();
    for (_, marks) in &valid {
        for m in marks.iter().filter(|m| m.mark == Mark::Other) {
            let name = m.other_name.as_deref().unwrap_or_default().trim();
            match write_ins.iter_mut().find(|w| w.name == name) {
                Some(w) => w.votes += 1,
                None => write_ins.push(WriteIn {
                    name: name.to_owned(),
                    votes: 1,
                }),
            }
        }
    }
    write_ins.sort_by(|a, b| b.votes.cmp(&a.votes).then_with(|| a.name.cmp(&b.name)));
    r.write_ins = write_ins;
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use hongying_signaling::quorum::{Exclusion, ExclusionReason, Member, Presence, PresenceMode};

    use super::*;

    fn roll(kind: BodyKind, full: usize, probationary: usize, present: &[usize]) -> RollCall {
        let mut members: Vec<Member> = (0..full)
            .map(|i| Member {
                id: format!("m{i}"),
                status: MemberStatus::Full,
            })
            .collect();
        members.extend((0..probationary).map(|i| Member {
            id: format!("p{i}"),
            status: MemberStatus::Probationary,
        }));
        RollCall {
            kind,
            members,
            committee: Vec::new(),
            exclusions: Vec::new(),
            present: present
                .iter()
                .map(|i| Presence {
                    member: format!("m{i}"),
                    mode: if i % 2 == 0 {
                        PresenceMode::InPerson
                    } else {
                        PresenceMode::Remote
                    },
                })
                .collect(),
        }
    }

    fn b(ids: &[usize], c: Choice) -> Vec<(String, Choice)> {
        ids.iter().map(|i| (format!("m{i}"), c)).collect()
    }

    #[test]
    fn yes_counts_against_e_not_against_those_present() {
        // E = 10, 6 present, 5 yes, 1 abstain: 2·5 = 10 is not more than 10.
        let r = roll(BodyKind::Congress, 10, 2, &[0, 1, 2, 3, 4, 5]);
        let mut ballots = b(&[0, 1, 2, 3, 4], Choice::Yes);
        ballots.extend(b(&[5], Choice::Abstain));
        let t = tally_ballots(&r, &ballots, &[], &Thresholds::default(), VotingMethod::App);
        assert_eq!((t.expected, t.present_voting, t.quorate), (10, 6, true));
        assert_eq!((t.yes, t.no, t.abstain), (5, 0, 1));
        assert!(!t.passed);
        let mut ballots = b(&[0, 1, 2, 3, 4, 5], Choice::Yes);
        ballots.push(("p0".into(), Choice::No));
        let t = tally_ballots(&r, &ballots, &[], &Thresholds::default(), VotingMethod::App);
        assert!(t.passed);
        assert_eq!(t.ignored.len(), 1);
        assert_eq!(t.ignored[0].reason, "no_voting_right");
    }

    #[test]
    fn written_opinions_count_only_for_absent_voting_members_on_admission() {
        // E = 9, present 5 (0..5); 4 yes in the room + written yes from absent m7 = 5 > 4.5.
        let r = roll(BodyKind::CongressAdmission, 9, 1, &[0, 1, 2, 3, 4]);
        let ballots = b(&[0, 1, 2, 3], Choice::Yes);
        let written = vec![
            ("m7".to_string(), Choice::Yes),
            // present: votes in the room instead
            ("m4".to_string(), Choice::Yes),
            ("m8".to_string(), Choice::Abstain),
            ("p0".to_string(), Choice::Yes),
        ];
        let t = tally_ballots(
            &r,
            &ballots,
            &written,
            &Thresholds::default(),
            VotingMethod::App,
        );
        assert_eq!(t.yes, 5);
        assert_eq!(t.abstain, 1);
        assert!(t.passed);
        assert_eq!(t.written.received, 4);
        assert_eq!(
            (
                t.written.counted_yes,
                t.written.counted_abstain,
                t.written.ignored
            ),
            (1, 1, 2)
        );
        let reasons: Vec<&str> = t.ignored.iter().map(|i| i.reason.as_str()).collect();
        assert!(reasons.contains(&"written_while_present"), "{reasons:?}");
        assert!(reasons.contains(&"no_voting_right"), "{reasons:?}");

        // The same opinions on an ordinary motion don't count.
        let mut ordinary = r.clone();
        ordinary.kind = BodyKind::Congress;
        let t = tally_ballots(
            &ordinary,
            &ballots,
            &written,
            &Thresholds::default(),
            VotingMethod::App,
        );
        assert_eq!(t.yes, 4);
        assert!(!t.passed);
        assert!(t.ignored.iter().any(|i| i.reason == "written_not_allowed"));
    }

    #[test]
    fn show_of_hands_uses_the_counts_and_e() {
        let r = roll(BodyKind::Congress, 9, 0, &[0, 1, 2, 3, 4]);
        let t = tally_counts(
            &r,
            (5, 0, 0),
            &[],
            &Thresholds::default(),
            VotingMethod::ShowOfHands,
        );
        assert!(t.passed);
        let t = tally_counts(
            &r,
            (4, 1, 0),
            &[],
            &Thresholds::default(),
            VotingMethod::ShowOfHands,
        );
        assert!(!t.passed);
        // Not quorate: 4 of 9.
        let r = roll(BodyKind::Congress, 9, 0, &[0, 1, 2, 3]);
        let t = tally_counts(
            &r,
            (4, 0, 0),
            &[],
            &Thresholds::default(),
            VotingMethod::ShowOfHands,
        );
        assert!(!t.quorate && !t.passed);
        // Inclusive reading of the pass rule: E = 10, 5 yes passes.
        let r = roll(BodyKind::Congress, 10, 0, &[0, 1, 2, 3, 4, 5]);
        let inclusive = Thresholds {
            congress_pass: Comparison::Inclusive,
            ..Thresholds::default()
        };
        assert!(tally_counts(&r, (5, 1, 0), &[], &inclusive, VotingMethod::ShowOfHands).passed);
        assert!(
            !tally_counts(
                &r,
                (5, 1, 0),
                &[],
                &Thresholds::default(),
                VotingMethod::ShowOfHands
            )
            .passed
        );
    }

    fn marks(list: &[(&str, Mark)]) -> Vec<ElectionMark> {
        list.iter()
            .map(|(c, m)| ElectionMark {
                candidate_id: (*c).into(),
                mark: *m,
                other_name: (*m == Mark::Other).then(|| "王五".to_string()),
            })
            .collect()
    }

    #[test]
    fn ballot_with_more_marks_than_seats_is_invalid() {
        let cands = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        assert!(
            election_ballot_error(&cands, 2, &marks(&[("a", Mark::Yes), ("b", Mark::Yes)]))
                .is_none()
        );
        assert!(
            election_ballot_error(
                &cands,
                2,
                &marks(&[("a", Mark::Yes), ("b", Mark::Yes), ("c", Mark::Other)])
            )
            .is_some()
        );
        assert!(
            election_ballot_error(
                &cands,
                2,
                &marks(&[("a", Mark::Yes), ("b", Mark::No), ("c", Mark::Abstain)])
            )
            .is_none()
        );
        assert!(election_ballot_error(&cands, 2, &marks(&[("x", Mark::Yes)])).is_some());
        assert!(
            election_ballot_error(&cands, 2, &marks(&[("a", Mark::Yes), ("a", Mark::No)]))
                .is_some()
        );
        let unnamed = vec![ElectionMark {
            candidate_id: "a".into(),
            mark: Mark::Other,
            other_name: None,
        }];
        assert!(election_ballot_error(&cands, 2, &unnamed).is_some());
    }

    fn election_roll(present: usize) -> RollCall {
        roll(BodyKind::Election, 10, 0, &(0..present).collect::<Vec<_>>())
    }

    fn cands(n: &[&str]) -> Vec<(String, String)> {
        n.iter()
            .map(|c| ((*c).to_string(), format!("候选人{c}")))
            .collect()
    }

    #[test]
    fn more_winners_than_seats_are_ranked_and_a_tie_at_the_last_seat_is_reported() {
        // E = 10, all 10 present, seats 2, every voter marks two: a 8 yes, b 6, c 6, d 0.
        let r = election_roll(10);
        let cs = cands(&["a", "b", "c", "d"]);
        let ballots: Vec<(String, Vec<ElectionMark>)> = (0..10)
            .map(|i| {
                let mut m = Vec::new();
                if i < 8 {
                    m.push(("a", Mark::Yes));
                }
                if !(4..8).contains(&i) {
                    m.push(("b", Mark::Yes));
                } else {
                    m.push(("b", Mark::No));
                }
                if i >= 4 {
                    m.push(("c", Mark::Yes));
                }
                (format!("m{i}"), marks(&m))
            })
            .collect();
        let e = Election {
            candidates: &cs,
            seats: 2,
            ballots: &ballots,
        };
        let t = tally_election(&r, &e, &Thresholds::default(), VotingMethod::SecretBallot);
        let by = |id: &str| {
            t.candidates
                .iter()
                .find(|c| c.candidate_id == id)
                .unwrap()
                .clone()
        };
        assert_eq!(by("a").yes, 8);
        assert_eq!(by("b").yes, 6);
        assert_eq!(by("c").yes, 6, "{:?}", t.candidates);
        assert_eq!((by("b").no, by("d").abstain), (4, 10));
        assert_eq!(by("a").outcome, CandidateOutcome::Elected);
        assert_eq!(by("b").outcome, CandidateOutcome::Tie);
        assert_eq!(by("c").outcome, CandidateOutcome::Tie);
        assert_eq!(by("d").outcome, CandidateOutcome::NotElected);
        assert_eq!(t.elected, vec!["a".to_string()]);
        assert_eq!(t.tied.len(), 2);
        assert!(!t.passed);
        assert_eq!((by("b").rank, by("c").rank, by("d").rank), (2, 2, 4));
    }

    #[test]
    fn ranking_without_a_tie_and_unfilled_seats() {
        let r = election_roll(10);
        let cs = cands(&["a", "b", "c"]);
        // a: 10, b: 8, c: 2; seats 2 → a, b.
        let ballots: Vec<(String, Vec<ElectionMark>)> = (0..10)
            .map(|i| {
                let mut m = vec![("a", Mark::Yes)];
                if i < 8 {
                    m.push(("b", Mark::Yes));
                } else {
                    m.push(("c", Mark::Yes));
                }
                (format!("m{i}"), marks(&m))
            })
            .collect();
        let e = Election {
            candidates: &cs,
            seats: 2,
            ballots: &ballots,
        };
        let t = tally_election(&r, &e, &Thresholds::default(), VotingMethod::App);
        assert_eq!(t.elected, vec!["a".to_string(), "b".to_string()]);
        assert!(t.passed);
        assert_eq!(t.unfilled_seats, Some(0));

        // Seats 3 but c has only 2 yes: one seat unfilled.
        let e = Election {
            candidates: &cs,
            seats: 3,
            ballots: &ballots,
        };
        let t = tally_election(&r, &e, &Thresholds::default(), VotingMethod::App);
        assert_eq!(t.elected.len(), 2);
        assert_eq!(t.unfilled_seats, Some(1));
        assert!(!t.passed);
    }

    #[test]
    fn an_election_needs_more_than_four_fifths_present() {
        // E = 10, 8 present: 5·8 = 40 is not more than 40 → invalid, nobody elected.
        let r = election_roll(8);
        let cs = cands(&["a"]);
        let ballots: Vec<(String, Vec<ElectionMark>)> = (0..8)
            .map(|i| (format!("m{i}"), marks(&[("a", Mark::Yes)])))
            .collect();
        let e = Election {
            candidates: &cs,
            seats: 1,
            ballots: &ballots,
        };
        let t = tally_election(&r, &e, &Thresholds::default(), VotingMethod::App);
        assert!(!t.quorate);
        assert!(t.elected.is_empty());
        assert!(!t.candidates[0].majority);
        let t = tally_election(
            &election_roll(9),
            &e,
            &Thresholds::default(),
            VotingMethod::App,
        );
        assert_eq!(t.elected, vec!["a".to_string()]);
    }

    #[test]
    fn write_ins_and_ignored_ballots_are_recorded() {
        let mut r = election_roll(9);
        r.exclusions.push(Exclusion {
            member: "m9".into(),
            reason: ExclusionReason::Ill,
            approved: true,
        });
        let cs = cands(&["a"]);
        let mut ballots: Vec<(String, Vec<ElectionMark>)> = (0..6)
            .map(|i| (format!("m{i}"), marks(&[("a", Mark::Yes)])))
            .collect();
        ballots.push(("m6".into(), marks(&[("a", Mark::Other)])));
        // m9 is excluded and absent: not in E, its ballot is not counted.
        ballots.push(("m9".into(), marks(&[("a", Mark::Yes)])));
        let e = Election {
            candidates: &cs,
            seats: 1,
            ballots: &ballots,
        };
        let t = tally_election(&r, &e, &Thresholds::default(), VotingMethod::App);
        assert_eq!(t.expected, 9);
        assert_eq!(t.valid_ballots, Some(7));
        assert_eq!(t.candidates[0].yes, 6);
        assert_eq!(t.candidates[0].no, 1);
        assert_eq!(t.candidates[0].abstain, 0);
        assert_eq!(
            t.write_ins,
            vec![WriteIn {
                name: "王五".into(),
                votes: 1
            }]
        );
        assert_eq!(t.ignored.len(), 1);
        assert_eq!(t.ignored[0].reason, "not_expected");
    }
}
