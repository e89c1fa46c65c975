//! Quorum and vote rules of a party branch, as pure functions.
//!
//! The normative text is `shared/domain/QUORUM.md` (支部工作条例 art. 11–12, 基层组织选举工作条例 art. 5);
//! `testdata/quorum-cases.json` holds worked cases that the tests below check one by one.
//!
//! Everything here is deterministic and side-effect free so that the room engine, the API and the minutes
//! generator all reach the same answer from the same roll call. Arithmetic is integer-only: thresholds
//! such as "more than 4/5 of E" are compared by cross-multiplying (`5·P > 4·E`), never with floats, so an
//! edge case like E = 10, P = 8 can't be decided by a rounding error.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// A member's identifier as the branch roster spells it.
pub type MemberId = String;

/// A member's standing at the time of the meeting (QUORUM.md, "Who counts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// 正式党员.
    Full,
    /// 预备党员: may attend and speak, but has no vote.
    Probationary,
    /// 受留党察看处分, within the probation period.
    FullOnProbationDiscipline,
    /// 被依法留置、逮捕: rights suspended by the managing organization.
    FullRightsSuspended,
    /// 停止党籍.
    Stopped,
    /// Only a temporary relationship here (流动党员活动证); votes at the home branch.
    Temporary,
}

impl MemberStatus {
    /// Whether the member may vote (表决权/选举权). Only full members in good standing do; every other
    /// status is outside E and never counts toward P, even when the member attends.
    pub fn has_voting_right(&self) -> bool {
        matches!(self, Self::Full)
    }
}

/// The body that meets; it decides who E is and which thresholds apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    /// 支部党员大会, ordinary decision.
    Congress,
    /// 支部党员大会 voting on 接收预备党员 / 转正 / 延长预备期: as `Congress`, plus written opinions.
    CongressAdmission,
    /// 选举 at a 党员大会.
    Election,
    /// 支部委员会.
    Committee,
}

/// How a member attends. Both modes count the same; the split is kept for the minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceMode {
    /// Checked in at the venue.
    InPerson,
    /// Connected remotely with live media.
    Remote,
}

/// The listed reasons for leaving a voting member out of E for one meeting (不计入应到会人数).
///
/// Only these reasons exist on purpose: an absentee who is not on the list still counts in E.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExclusionReason {
    /// Ill and unable to express a view (患有精神病或其他疾病导致不能表达本人意志).
    Ill,
    /// Abroad (at own expense) for half a year or more.
    AbroadHalfYear,
    /// Serving a sentence without party discipline of 留党察看 or above.
    ServingSentence,
    /// Old and frail, bedridden, or long ill and unable to look after themself.
    Bedridden,
    /// Away half a year or more (transfer, secondment, study…) without transferring the relationship as required.
    AwayHalfYearNotTransferred,
    /// Retired and living back home long-term, relationship not transferred, truly unable to attend.
    RetiredLivingBackHome,
    /// A migrant member who cannot attend and applied to be left out.
    MigrantApplied,
}

/// A request to leave a member out of E for this meeting.
///
/// Who approved and when (upper organization and/or the congress, by local configuration) is an audit
/// record kept by the caller; the rule only needs to know whether the approval is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exclusion {
    /// The member concerned.
    pub member: MemberId,
    /// One of the listed reasons.
    pub reason: ExclusionReason,
    /// Whether every required approval has been given. An unapproved exclusion changes nothing.
    pub approved: bool,
}

/// One entry of the branch roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's identifier.
    pub id: MemberId,
    /// Standing at the meeting's time.
    pub status: MemberStatus,
}

/// A member's attendance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// The member who attends.
    pub member: MemberId,
    /// In the room or remote; both count the same.
    pub mode: PresenceMode,
}

/// Everything the rules need to know about who is expected and who is here.
///
/// Field names follow the case format of `quorum-cases.json`, so a case deserializes straight into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollCall {
    /// The body that meets.
    pub kind: BodyKind,
    /// The whole branch roster with each member's status.
    pub members: Vec<Member>,
    /// Committee members (only read for [`BodyKind::Committee`]).
    #[serde(default)]
    pub committee: Vec<MemberId>,
    /// Exclusions requested for this meeting (ignored for [`BodyKind::Committee`], see [`assess_quorum`]).
    #[serde(default)]
    pub exclusions: Vec<Exclusion>,
    /// Members checked in or connected.
    #[serde(default)]
    pub present: Vec<Presence>,
}

/// Whether a threshold is read as "more than" or "at least" the same fraction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// "超过": strictly more than the fraction (the reading of the 条例 and the default).
    #[default]
    Strict,
    /// "不少于": the fraction itself is enough. Some localities read e.g. the election rule this way.
    Inclusive,
}

/// Per-rule reading of the thresholds. `Default` is strict everywhere, as QUORUM.md prescribes; a
/// locality that counts "exactly half" or "exactly 4/5" as enough switches the one rule concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// 党员大会 quorum: P vs 1/2 of E (also used for admission votes).
    pub congress_quorum: Comparison,
    /// 党员大会 decision: yes vs 1/2 of E (also used for admission votes).
    pub congress_pass: Comparison,
    /// Election validity: P vs 4/5 of E.
    pub election_validity: Comparison,
    /// Election of a candidate: yes vs 1/2 of E.
    pub election_elect: Comparison,
    /// 支委会 quorum: P vs 1/2 of E.
    pub committee_quorum: Comparison,
    /// 支委会 decision: yes vs 1/2 of E.
    pub committee_pass: Comparison,
}

impl Thresholds {
    /// The quorum (validity) rule for a body: `(comparison, numerator, denominator)` of E that P must reach.
    fn quorum(&self, kind: BodyKind) -> (Comparison, u64, u64) {
        match kind {
            BodyKind::Congress | BodyKind::CongressAdmission => (self.congress_quorum, 1, 2),
            BodyKind::Election => (self.election_validity, 4, 5),
            BodyKind::Committee => (self.committee_quorum, 1, 2),
        }
    }

    /// The decision rule for a body. Every body decides by more than half of E (not of those present).
    fn pass(&self, kind: BodyKind) -> Comparison {
        match kind {
            BodyKind::Congress | BodyKind::CongressAdmission => self.congress_pass,
            BodyKind::Election => self.election_elect,
            BodyKind::Committee => self.committee_pass,
        }
    }
}

/// Whether `part` reaches `num/den` of `whole` under `cmp`, compared as `den·part ⋛ num·whole`.
///
/// `whole == 0` is always false: a body with nobody expected can't be quorate and can't decide, and with
/// the inclusive reading `0 >= 0` would otherwise say yes. Widening to u64 makes overflow impossible.
fn reaches(part: u32, whole: u32, num: u64, den: u64, cmp: Comparison) -> bool {
    if whole == 0 {
        return false;
    }
    let lhs = den * u64::from(part);
    let rhs = num * u64::from(whole);
    match cmp {
        Comparison::Strict => lhs > rhs,
        Comparison::Inclusive => lhs >= rhs,
    }
}

/// Counts never realistically exceed u32; saturate rather than panic if they somehow do.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The result of a roll call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumOutcome {
    /// The body that meets.
    pub kind: BodyKind,
    /// E (应到会): voting members expected at this meeting.
    pub expected: u32,
    /// P (实到会): present members who are in E.
    pub present_voting: u32,
    /// Of P, those in the room.
    pub present_in_person: u32,
    /// Of P, those connected remotely.
    pub present_remote: u32,
    /// Whether the meeting may vote (for an election: whether it is valid).
    pub quorate: bool,
    /// Members of E who are not present, in roster (or committee-list) order.
    pub missing: Vec<MemberId>,
    /// Voting members left out of E by an approved exclusion (and absent), for the minutes.
    pub excluded: Vec<MemberId>,
    /// Present entries that don't count toward P: no voting right, not on the committee, or not on the roster.
    /// Their presence is recorded, never counted.
    pub present_not_counted: Vec<MemberId>,
}

/// Who is in E and who is present, shared by [`assess_quorum`] and [`tally_motion`].
struct Roll<'a> {
    status: HashMap<&'a str, MemberStatus>,
    expected: HashSet<&'a str>,
    present: HashSet<&'a str>,
    outcome: QuorumOutcome,
}

fn roll<'a>(input: &'a RollCall, thresholds: &Thresholds) -> Roll<'a> {
    // Duplicate roster entries are a data error; the first one wins so the result doesn't depend on order
    // of later noise.
    let mut status: HashMap<&str, MemberStatus> = HashMap::new();
    for m in &input.members {
        status.entry(m.id.as_str()).or_insert(m.status);
    }

    // A member listed both in the room and remotely is one attendee; in person wins because the member is
    // physically there.
    let mut modes: HashMap<&str, PresenceMode> = HashMap::new();
    let mut present_order: Vec<&str> = Vec::new();
    for p in &input.present {
        match modes.get_mut(p.member.as_str()) {
            Some(mode) => {
                if p.mode == PresenceMode::InPerson {
                    *mode = PresenceMode::InPerson;
                }
            }
            None => {
                modes.insert(p.member.as_str(), p.mode);
                present_order.push(p.member.as_str());
            }
        }
    }

    // E in its order (roster order, or committee-list order), deduplicated.
    let mut expected_order: Vec<&str> = Vec::new();
    let mut excluded: Vec<MemberId> = Vec::new();
    match input.kind {
        BodyKind::Committee => {
            // E = the committee. A listed committee member without a voting right (e.g. under 留党察看,
            // which removes a member from party posts anyway) has no vote and is not expected. A listed
            // id missing from the roster is still counted: we can't verify its status, and counting a
            // seat we can't see can only make quorum harder, never produce a false one.
            // Exclusions are a 党员大会 rule (不计入应到会党员人数) and don't shrink the committee.
            for id in &input.committee {
                let id = id.as_str();
                let votes = status.get(id).is_none_or(MemberStatus::has_voting_right);
                if votes && !expected_order.contains(&id) {
                    expected_order.push(id);
                }
            }
        }
        BodyKind::Congress | BodyKind::CongressAdmission | BodyKind::Election => {
            let approved: HashSet<&str> = input
                .exclusions
                .iter()
                .filter(|e| e.approved)
                .map(|e| e.member.as_str())
                .collect();
            for m in &input.members {
                let id = m.id.as_str();
                if status.get(id) != Some(&m.status) || expected_order.contains(&id) {
                    continue; // duplicate roster entry
                }
                if !m.status.has_voting_right() {
                    continue;
                }
                // An excluded member who attends anyway counts in E and as present: the exclusion only
                // exists so that a member who can't come doesn't block the meeting.
                if approved.contains(id) && !modes.contains_key(id) {
                    excluded.push(m.id.clone());
                    continue;
                }
                expected_order.push(id);
            }
        }
    }
    let expected: HashSet<&str> = expected_order.iter().copied().collect();

    let mut present: HashSet<&str> = HashSet::new();
    let (mut in_person, mut remote) = (0u32, 0u32);
    let mut present_not_counted = Vec::new();
    for id in present_order {
        if expected.contains(id) {
            present.insert(id);
            match modes.get(id) {
                Some(PresenceMode::Remote) => remote += 1,
                _ => in_person += 1,
            }
        } else {
            present_not_counted.push(id.to_owned());
        }
    }
    let missing: Vec<MemberId> = expected_order
        .iter()
        .filter(|id| !present.contains(*id))
        .map(|id| (*id).to_owned())
        .collect();

    let e = count(expected_order.len());
    let p = count(present.len());
    let (cmp, num, den) = thresholds.quorum(input.kind);
    let outcome = QuorumOutcome {
        kind: input.kind,
        expected: e,
        present_voting: p,
        present_in_person: in_person,
        present_remote: remote,
        quorate: reaches(p, e, num, den, cmp),
        missing,
        excluded,
        present_not_counted,
    };
    Roll {
        status,
        expected,
        present,
        outcome,
    }
}

/// Computes E, P and whether the meeting is quorate (for an election: valid).
///
/// - Congress / admission / election: E = members with a voting right, less those left out by an
///   *approved* exclusion who are absent; quorate iff `2·P > E` (election: `5·P > 4·E`).
/// - Committee: E = the committee members with a voting right (exclusions don't apply); quorate iff
///   `2·P > E`. Other attendees (列席) are recorded in `present_not_counted`.
/// - P = present members who are in E, whether in the room or remote.
/// - E = 0 is never quorate, whatever the thresholds.
pub fn assess_quorum(input: &RollCall, thresholds: &Thresholds) -> QuorumOutcome {
    roll(input, thresholds).outcome
}

/// Whether a candidate (or a motion) with `yes_count` votes has more than half of E: `2·yes > E`
/// (or `>=` under the inclusive reading). Never true when E = 0.
///
/// This is the majority test only: for an election the caller must also require the election to be valid
/// (`QuorumOutcome::quorate`), and count only ballots of present voting members — see
/// [`QuorumOutcome::candidate_elected`] which does both checks at once.
pub fn elected(yes_count: u32, expected: u32, thresholds: &Thresholds) -> bool {
    reaches(yes_count, expected, 1, 2, thresholds.election_elect)
}

impl QuorumOutcome {
    /// Whether a candidate with `yes_count` valid yes-votes is elected: the election is valid and the
    /// candidate has more than half of E. Works for any number of candidates, one call each.
    pub fn candidate_elected(&self, yes_count: u32, thresholds: &Thresholds) -> bool {
        self.quorate && elected(yes_count, self.expected, thresholds)
    }
}

/// The ballots cast on one motion (or one candidate), by member id.
///
/// Abstentions and absences need no list: since yes is counted against E, they act as "no".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Votes {
    /// Yes-votes cast at the meeting (in the room or remotely).
    pub yes: Vec<MemberId>,
    /// No-votes cast at the meeting.
    pub no: Vec<MemberId>,
    /// Written opinions in favour handed in before the meeting (admission votes only).
    pub written_yes: Vec<MemberId>,
    /// Written opinions against handed in before the meeting (admission votes only). They don't change
    /// the result — absence already acts as "no" — but the minutes record them as votes.
    pub written_no: Vec<MemberId>,
}

/// Which list a ballot came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ballot {
    /// From [`Votes::yes`].
    Yes,
    /// From [`Votes::no`].
    No,
    /// From [`Votes::written_yes`].
    WrittenYes,
    /// From [`Votes::written_no`].
    WrittenNo,
}

impl Ballot {
    fn is_yes(self) -> bool {
        matches!(self, Self::Yes | Self::WrittenYes)
    }

    fn is_written(self) -> bool {
        matches!(self, Self::WrittenYes | Self::WrittenNo)
    }
}

/// Why a ballot was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IgnoreReason {
    /// The id is not on the branch roster.
    UnknownMember,
    /// The member has no voting right (probationary, disciplined, suspended, stopped, temporary).
    NoVotingRight,
    /// The member votes but is not in E: not on the committee, or left out by an approved exclusion.
    /// Yes is counted against E, so a vote from outside E would inflate the ratio.
    NotExpected,
    /// A vote at the meeting from a member who is not present.
    NotPresent,
    /// A written opinion on a motion that is not an admission vote.
    WrittenNotAllowed,
    /// A written opinion from a member who is present: the member votes in the room instead.
    WrittenWhilePresent,
    /// The member's counted ballots say both yes and no; none of them can be trusted.
    Conflicting,
    /// The same ballot repeated; it was counted once.
    Duplicate,
}

/// A ballot that was not counted, kept for the minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredVote {
    /// Who cast it.
    pub member: MemberId,
    /// Which list it came from.
    pub ballot: Ballot,
    /// Why it doesn't count.
    pub reason: IgnoreReason,
}

/// The result of tallying one motion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MotionOutcome {
    /// The roll call the motion was voted under.
    pub quorum: QuorumOutcome,
    /// Counted yes-votes, including admissible written opinions.
    pub counted_yes: u32,
    /// Counted no-votes, including admissible written opinions.
    pub counted_no: u32,
    /// Ballots not counted, with the reason.
    pub ignored: Vec<IgnoredVote>,
    /// Quorate and `2·yes > E` (or `>=` under the inclusive reading for the body's pass rule).
    pub passed: bool,
}

/// Tallies one motion (or one candidate) voted under `input`.
///
/// A ballot counts only if its member is on the roster, has a voting right, is in E, and either votes at
/// the meeting while present or — for [`BodyKind::CongressAdmission`] only — handed in a written opinion
/// while absent. A written opinion from a present member is ignored (the member votes in the room). The
/// motion passes iff the meeting is quorate and the counted yes-votes exceed half of E (not of those
/// present), so abstentions and absences act as "no".
pub fn tally_motion(input: &RollCall, votes: &Votes, thresholds: &Thresholds) -> MotionOutcome {
    let roll = roll(input, thresholds);

    let ballots = [
        (Ballot::Yes, &votes.yes),
        (Ballot::No, &votes.no),
        (Ballot::WrittenYes, &votes.written_yes),
        (Ballot::WrittenNo, &votes.written_no),
    ];
    let mut ignored = Vec::new();
    // Admissible ballots per member, in the order first seen, to resolve duplicates and conflicts.
    let mut admissible: Vec<(&str, Vec<Ballot>)> = Vec::new();
    for (ballot, ids) in ballots {
        for id in ids {
            let reason = match roll.status.get(id.as_str()) {
                None => Some(IgnoreReason::UnknownMember),
                Some(s) if !s.has_voting_right() => Some(IgnoreReason::NoVotingRight),
                Some(_) if !roll.expected.contains(id.as_str()) => Some(IgnoreReason::NotExpected),
                Some(_) => {
                    let present = roll.present.contains(id.as_str());
                    if !ballot.is_written() {
                        (!present).then_some(IgnoreReason::NotPresent)
                    } else if input.kind != BodyKind::CongressAdmission {
                        Some(IgnoreReason::WrittenNotAllowed)
                    } else {
                        present.then_some(IgnoreReason::WrittenWhilePresent)
                    }
                }
            };
            match reason {
                Some(reason) => ignored.push(IgnoredVote {
                    member: id.clone(),
                    ballot,
                    reason,
                }),
                None => match admissible.iter_mut().find(|(m, _)| *m == id.as_str()) {
                    Some((_, list)) => list.push(ballot),
                    None => admissible.push((id.as_str(), vec![ballot])),
                },
            }
        }
    }

    // One member, one vote. Present members can only have in-room ballots admitted and absent ones only
    // written ones, so what is left to resolve is repeats (count once) and contradictions (count none).
    let (mut yes, mut no) = (0u32, 0u32);
    for (member, list) in admissible {
        let conflicting = list.iter().any(|b| b.is_yes()) && list.iter().any(|b| !b.is_yes());
        if conflicting {
            ignored.extend(list.into_iter().map(|ballot| IgnoredVote {
                member: member.to_owned(),
                ballot,
                reason: IgnoreReason::Conflicting,
            }));
            continue;
        }
        let mut rest = list.into_iter();
        if let Some(first) = rest.next() {
            if first.is_yes() {
                yes += 1;
            } else {
                no += 1;
            }
        }
        ignored.extend(rest.map(|ballot| IgnoredVote {
            member: member.to_owned(),
            ballot,
            reason: IgnoreReason::Duplicate,
        }));
    }

    let quorum = roll.outcome;
    let passed = quorum.quorate && reaches(yes, quorum.expected, 1, 2, thresholds.pass(input.kind));
    MotionOutcome {
        quorum,
        counted_yes: yes,
        counted_no: no,
        ignored,
        passed,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct CaseFile {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        #[serde(flatten)]
        roll: RollCall,
        votes: Option<Votes>,
        expect: Expect,
    }

    #[derive(Deserialize)]
    struct Expect {
        expected: u32,
        present_voting: u32,
        quorate: bool,
        passed: Option<bool>,
    }

    #[test]
    fn every_worked_case_holds() {
        let file: CaseFile =
            serde_json::from_str(include_str!("../../testdata/quorum-cases.json")).unwrap();
        assert_eq!(file.cases.len(), 17, "the case file changed size");
        let th = Thresholds::default();
        let mut failures = Vec::new();
        for case in &file.cases {
            let q = assess_quorum(&case.roll, &th);
            let passed = case
                .votes
                .as_ref()
                .map(|v| tally_motion(&case.roll, v, &th).passed);
            let got = (q.expected, q.present_voting, q.quorate, passed);
            let want = (
                case.expect.expected,
                case.expect.present_voting,
                case.expect.quorate,
                case.expect.passed,
            );
            if got != want {
                failures.push(format!(
                    "{:?}: got (E, P, quorate, passed) = {got:?}, want {want:?}",
                    case.name
                ));
            }
        }
        assert!(
            failures.is_empty(),
            "failing cases:\n{}",
            failures.join("\n")
        );
    }

    fn full(n: usize) -> Vec<Member> {
        (1..=n)
            .map(|i| Member {
                id: format!("m{i}"),
                status: MemberStatus::Full,
            })
            .collect()
    }

    fn here(ids: &[&str]) -> Vec<Presence> {
        ids.iter()
            .map(|id| Presence {
                member: (*id).to_owned(),
                mode: PresenceMode::InPerson,
            })
            .collect()
    }

    fn ids(ids: &[&str]) -> Vec<MemberId> {
        ids.iter().map(|id| (*id).to_owned()).collect()
    }

    fn roll_call(kind: BodyKind, members: Vec<Member>, present: &[&str]) -> RollCall {
        RollCall {
            kind,
            members,
            committee: Vec::new(),
            exclusions: Vec::new(),
            present: here(present),
        }
    }

    #[test]
    fn inclusive_thresholds_turn_exact_fractions_into_yes() {
        let strict = Thresholds::default();
        let inclusive = Thresholds {
            congress_quorum: Comparison::Inclusive,
            congress_pass: Comparison::Inclusive,
            election_validity: Comparison::Inclusive,
            election_elect: Comparison::Inclusive,
            committee_quorum: Comparison::Inclusive,
            committee_pass: Comparison::Inclusive,
        };

        // Congress E = 10, P = 5: exactly half.
        let congress = roll_call(
            BodyKind::Congress,
            full(10),
            &["m1", "m2", "m3", "m4", "m5"],
        );
        assert!(!assess_quorum(&congress, &strict).quorate);
        assert!(assess_quorum(&congress, &inclusive).quorate);

        // Election E = 10, P = 8: exactly 4/5.
        let election = roll_call(
            BodyKind::Election,
            full(10),
            &["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"],
        );
        assert!(!assess_quorum(&election, &strict).quorate);
        let only_validity = Thresholds {
            election_validity: Comparison::Inclusive,
            ..Thresholds::default()
        };
        let q = assess_quorum(&election, &only_validity);
        assert!(q.quorate);
        // 5 yes of E = 10 is exactly half: elected only under the inclusive elect rule.
        assert!(!q.candidate_elected(5, &only_validity));
        assert!(q.candidate_elected(5, &inclusive));
        assert!(q.candidate_elected(6, &only_validity));

        // Pass rule: quorate congress, 5 yes of E = 10.
        let congress6 = roll_call(
            BodyKind::Congress,
            full(10),
            &["m1", "m2", "m3", "m4", "m5", "m6"],
        );
        let votes = Votes {
            yes: ids(&["m1", "m2", "m3", "m4", "m5"]),
            no: ids(&["m6"]),
            ..Votes::default()
        };
        assert!(!tally_motion(&congress6, &votes, &strict).passed);
        assert!(tally_motion(&congress6, &votes, &inclusive).passed);
    }

    #[test]
    fn nobody_expected_is_never_quorate_even_inclusive() {
        let inclusive = Thresholds {
            congress_quorum: Comparison::Inclusive,
            congress_pass: Comparison::Inclusive,
            election_validity: Comparison::Inclusive,
            election_elect: Comparison::Inclusive,
            committee_quorum: Comparison::Inclusive,
            committee_pass: Comparison::Inclusive,
        };
        for kind in [
            BodyKind::Congress,
            BodyKind::CongressAdmission,
            BodyKind::Election,
            BodyKind::Committee,
        ] {
            let empty = roll_call(kind, Vec::new(), &[]);
            let q = assess_quorum(&empty, &inclusive);
            assert_eq!((q.expected, q.present_voting, q.quorate), (0, 0, false));
            assert!(!tally_motion(&empty, &Votes::default(), &inclusive).passed);
        }
        assert!(!elected(0, 0, &inclusive));
    }

    #[test]
    fn unapproved_exclusion_changes_nothing() {
        let plain = roll_call(BodyKind::Congress, full(10), &["m1", "m2", "m3"]);
        let mut with = plain.clone();
        with.exclusions.push(Exclusion {
            member: "m10".into(),
            reason: ExclusionReason::Ill,
            approved: false,
        });
        let th = Thresholds::default();
        assert_eq!(assess_quorum(&plain, &th), assess_quorum(&with, &th));
        assert_eq!(assess_quorum(&with, &th).expected, 10);

        // Once approved, the absent member leaves E and is listed as excluded, not missing.
        with.exclusions[0].approved = true;
        let q = assess_quorum(&with, &th);
        assert_eq!(q.expected, 9);
        assert_eq!(q.excluded, ids(&["m10"]));
        assert!(!q.missing.contains(&"m10".to_owned()));
    }

    #[test]
    fn written_opinion_from_present_member_is_ignored() {
        let input = roll_call(
            BodyKind::CongressAdmission,
            full(10),
            &["m1", "m2", "m3", "m4", "m5", "m6"],
        );
        let votes = Votes {
            yes: ids(&["m2", "m3", "m4", "m5", "m6"]),
            written_yes: ids(&["m1", "m7"]),
            ..Votes::default()
        };
        let out = tally_motion(&input, &votes, &Thresholds::default());
        // m7 is absent, so the written opinion counts; m1 is here and didn't vote in the room.
        assert_eq!(out.counted_yes, 6);
        assert_eq!(
            out.ignored,
            vec![IgnoredVote {
                member: "m1".into(),
                ballot: Ballot::WrittenYes,
                reason: IgnoreReason::WrittenWhilePresent,
            }]
        );
        assert!(out.passed);
    }

    #[test]
    fn written_opinions_only_count_for_admission() {
        let input = roll_call(
            BodyKind::Congress,
            full(10),
            &["m1", "m2", "m3", "m4", "m5", "m6"],
        );
        let votes = Votes {
            yes: ids(&["m1", "m2", "m3", "m4", "m5"]),
            written_yes: ids(&["m7"]),
            ..Votes::default()
        };
        let out = tally_motion(&input, &votes, &Thresholds::default());
        assert_eq!(out.counted_yes, 5);
        assert_eq!(out.ignored[0].reason, IgnoreReason::WrittenNotAllowed);
        assert!(!out.passed);
    }

    #[test]
    fn probationary_vote_is_ignored() {
        let mut members = full(4);
        members.push(Member {
            id: "p1".into(),
            status: MemberStatus::Probationary,
        });
        let input = roll_call(BodyKind::Congress, members, &["m1", "m2", "m3", "p1"]);
        let votes = Votes {
            yes: ids(&["m1", "m2", "p1"]),
            no: ids(&["m3"]),
            ..Votes::default()
        };
        let out = tally_motion(&input, &votes, &Thresholds::default());
        assert_eq!(out.quorum.present_not_counted, ids(&["p1"]));
        assert_eq!((out.counted_yes, out.counted_no), (2, 1));
        assert_eq!(
            out.ignored,
            vec![IgnoredVote {
                member: "p1".into(),
                ballot: Ballot::Yes,
                reason: IgnoreReason::NoVotingRight,
            }]
        );
        // 2 yes of E = 4 is not more than half.
        assert!(!out.passed);
    }

    #[test]
    fn absent_members_cannot_vote_in_the_room() {
        let input = roll_call(BodyKind::Congress, full(5), &["m1", "m2", "m3"]);
        let votes = Votes {
            yes: ids(&["m1", "m2", "m4"]),
            ..Votes::default()
        };
        let out = tally_motion(&input, &votes, &Thresholds::default());
        assert_eq!(out.counted_yes, 2);
        assert_eq!(out.ignored[0].reason, IgnoreReason::NotPresent);
        assert!(!out.passed);
    }

    #[test]
    fn duplicates_count_once_and_contradictions_not_at_all() {
        let input = roll_call(BodyKind::Congress, full(5), &["m1", "m2", "m3", "m4"]);
        let votes = Votes {
            yes: ids(&["m1", "m1", "m2", "m3"]),
            no: ids(&["m3"]),
            ..Votes::default()
        };
        let out = tally_motion(&input, &votes, &Thresholds::default());
        assert_eq!((out.counted_yes, out.counted_no), (2, 0));
        let reasons: Vec<_> = out
            .ignored
            .iter()
            .map(|i| (i.member.as_str(), i.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("m1", IgnoreReason::Duplicate),
                ("m3", IgnoreReason::Conflicting),
                ("m3", IgnoreReason::Conflicting),
            ]
        );
    }

    #[test]
    fn remote_and_in_person_count_the_same_and_once() {
        let mut input = roll_call(BodyKind::Congress, full(5), &["m1", "m2"]);
        input.present.push(Presence {
            member: "m3".into(),
            mode: PresenceMode::Remote,
        });
        input.present.push(Presence {
            member: "m1".into(),
            mode: PresenceMode::Remote,
        });
        let q = assess_quorum(&input, &Thresholds::default());
        assert_eq!(
            (q.present_voting, q.present_in_person, q.present_remote),
            (3, 2, 1)
        );
        assert!(q.quorate);
        assert_eq!(q.missing, ids(&["m4", "m5"]));
    }

    #[test]
    fn committee_counts_only_its_members() {
        let mut input = roll_call(BodyKind::Committee, full(10), &["m1", "m2", "m6"]);
        input.committee = ids(&["m1", "m2", "m3", "m4", "m5"]);
        let votes = Votes {
            yes: ids(&["m1", "m2", "m6"]),
            ..Votes::default()
        };
        let out = tally_motion(&input, &votes, &Thresholds::default());
        assert_eq!(out.quorum.expected, 5);
        assert_eq!(out.quorum.present_voting, 2);
        assert_eq!(out.quorum.present_not_counted, ids(&["m6"]));
        assert!(!out.quorum.quorate);
        assert_eq!(out.counted_yes, 2);
        assert_eq!(out.ignored[0].reason, IgnoreReason::NotExpected);
        assert!(!out.passed);
    }

    #[test]
    fn exclusion_reasons_use_snake_case() {
        let reasons: Vec<ExclusionReason> = serde_json::from_str(
            r#"["ill","abroad_half_year","serving_sentence","bedridden",
                "away_half_year_not_transferred","retired_living_back_home","migrant_applied"]"#,
        )
        .unwrap();
        assert_eq!(reasons.len(), 7);
        let status: MemberStatus =
            serde_json::from_str(r#""full_on_probation_discipline""#).unwrap();
        assert!(!status.has_voting_right());
    }
}
