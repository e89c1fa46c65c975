//! Motions (议题表决) and their ballots: ordinary decisions, the one-candidate admission
//! kinds (接收预备党员、预备党员转正、延长预备期) and elections (选举).
//!
//! How a motion is decided is QUORUM.md's: yes-votes count against E (应到会有表决权党员),
//! written opinions of absent voting members count on admission kinds only, and an election
//! is valid only when more than 4/5 of E are present. The result a closed motion carries
//! (`result`) keeps every count the minutes record needs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

/// What a motion decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MotionKind {
    /// 一般事项表决.
    Ordinary,
    /// 接收预备党员 (one candidate).
    Admission,
    /// 预备党员转正 (one candidate).
    Regularization,
    /// 延长预备期 (one candidate).
    ProbationExtension,
    /// 选举 (candidates and seats).
    Election,
}

impl MotionKind {
    pub const ALL: [MotionKind; 5] = [
        Self::Ordinary,
        Self::Admission,
        Self::Regularization,
        Self::ProbationExtension,
        Self::Election,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordinary => "ordinary",
            Self::Admission => "admission",
            Self::Regularization => "regularization",
            Self::ProbationExtension => "probation_extension",
            Self::Election => "election",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Ordinary => "一般事项",
            Self::Admission => "接收预备党员",
            Self::Regularization => "预备党员转正",
            Self::ProbationExtension => "延长预备期",
            Self::Election => "选举",
        }
    }

    /// The kinds voted one candidate at a time, where written opinions of absent voting
    /// members count (支部条例 art. 11; QUORUM.md `congress_admission`).
    pub fn is_admission(self) -> bool {
        matches!(
            self,
            Self::Admission | Self::Regularization | Self::ProbationExtension
        )
    }
}

/// How the votes are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VotingMethod {
    /// Each member votes in the app (in the room or remotely); ballots are not secret.
    App,
    /// 举手表决: the secretary enters the counts.
    ShowOfHands,
    /// 无记名投票 in the app: who voted what is never shown, only the counts.
    SecretBallot,
}

impl VotingMethod {
    pub const ALL: [VotingMethod; 3] = [Self::App, Self::ShowOfHands, Self::SecretBallot];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::ShowOfHands => "show_of_hands",
            Self::SecretBallot => "secret_ballot",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::App => "应用内表决",
            Self::ShowOfHands => "举手表决",
            Self::SecretBallot => "无记名投票",
        }
    }
}

/// Where a motion stands: votes are taken only while it is `open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MotionStatus {
    Draft,
    Open,
    Closed,
}

impl MotionStatus {
    pub const ALL: [MotionStatus; 3] = [Self::Draft, Self::Open, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Draft => "未开始",
            Self::Open => "表决中",
            Self::Closed => "已结束",
        }
    }
}

/// A vote on a motion: 赞成 / 反对 / 弃权.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Yes,
    No,
    Abstain,
}

impl Choice {
    pub const ALL: [Choice; 3] = [Self::Yes, Self::No, Self::Abstain];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
            Self::Abstain => "abstain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Yes => "赞成",
            Self::No => "反对",
            Self::Abstain => "弃权",
        }
    }
}

/// A mark next to one candidate on an election ballot: 赞成 / 不赞成 / 弃权 / 另选他人
/// (另选 is a 不赞成 for this candidate plus a name written in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Yes,
    No,
    Abstain,
    Other,
}

impl Mark {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Yes => "赞成",
            Self::No => "不赞成",
            Self::Abstain => "弃权",
            Self::Other => "另选他人",
        }
    }
}

/// How a ballot arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BallotChannel {
    /// `POST /motions/{id}/ballots`.
    App,
    /// A vote message over the meeting socket.
    Socket,
}

impl BallotChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::App => "app",
            Self::Socket => "socket",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "app" => Some(Self::App),
            "socket" => Some(Self::Socket),
            _ => None,
        }
    }
}

/// An election candidate as entered when the motion is created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewCandidate {
    #[validate(length(min = 1, max = 50, message = "候选人姓名须为 1 到 50 个字符。"))]
    pub name: String,
    /// The candidate's member record, when the candidate is on the roster.
    pub member_id: Option<String>,
}

/// `POST /meetings/{id}/motions`.
///
/// - `ordinary`: a title only.
/// - `admission`, `regularization`, `probation_extension`: exactly one
///   `candidate_member_id`, at a 党员大会 only.
/// - `election`: `seats` (1–20) and at least `seats` `candidates`, at a 党员大会 only, by
///   `app` or `secret_ballot` (never by show of hands).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CreateMotion {
    pub kind: MotionKind,
    #[validate(length(min = 1, max = 200, message = "议题标题须为 1 到 200 个字符。"))]
    pub title: String,
    pub candidate_member_id: Option<String>,
    #[validate(range(min = 1, max = 20, message = "应选名额须为 1 到 20。"))]
    pub seats: Option<u32>,
    #[validate(length(max = 50, message = "候选人最多 50 名。"), nested)]
    pub candidates: Option<Vec<NewCandidate>>,
    pub voting_method: VotingMethod,
}

/// `POST /motions/{id}/written-opinions`: a written opinion (书面意见) handed in before
/// the vote by a voting member who will be absent, registered by the secretary.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RegisterWrittenOpinion {
    #[validate(length(min = 1, max = 64, message = "党员编号无效。"))]
    pub member_id: String,
    pub choice: Choice,
}

/// One candidate's mark on an election ballot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ElectionMark {
    #[validate(length(min = 1, max = 64, message = "候选人编号无效。"))]
    pub candidate_id: String,
    pub mark: Mark,
    /// The name written in, with `mark: other` only.
    #[validate(length(min = 1, max = 50, message = "另选人姓名须为 1 到 50 个字符。"))]
    pub other_name: Option<String>,
}

/// `POST /motions/{id}/ballots`: `choice` on a motion, `choices` on an election. A
/// candidate left out of `choices` counts as 弃权 for that candidate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
#[validate(schema(function = "one_of_choice_or_choices"))]
pub struct CastBallot {
    pub choice: Option<Choice>,
    #[validate(length(max = 50, message = "选票最多 50 项。"), nested)]
    pub choices: Option<Vec<ElectionMark>>,
}

fn one_of_choice_or_choices(b: &CastBallot) -> Result<(), ValidationError> {
    if b.choice.is_some() == b.choices.is_some() {
        let mut e = ValidationError::new("one_of");
        e.message = Some("须且只能提供 choice（一般表决）或 choices（选举）之一。".into());
        return Err(e);
    }
    Ok(())
}

/// `POST /motions/{id}/tally`: the counts of a show of hands, entered by the secretary.
/// Their sum may not exceed the voting members present (422).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct EnterTally {
    #[validate(range(max = 100000, message = "票数超出范围。"))]
    pub yes: u32,
    #[validate(range(max = 100000, message = "票数超出范围。"))]
    pub no: u32,
    #[validate(range(max = 100000, message = "票数超出范围。"))]
    pub abstain: u32,
}

/// An election candidate.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub member_id: Option<String>,
    /// Order on the ballot, from 1.
    pub position: i32,
}

/// The roll call frozen when a motion opened or closed (QUORUM.md terms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuorumSnapshot {
    /// `congress`, `congress_admission`, `election` or `committee`: the rule applied.
    pub rule: String,
    /// E (应到会有表决权人数).
    pub expected: u32,
    /// P (实到会有表决权人数).
    pub present_voting: u32,
    pub present_in_person: u32,
    pub present_remote: u32,
    /// Quorate (for an election: valid).
    pub quorate: bool,
    /// Voting members of E not present.
    pub missing: Vec<String>,
    /// Voting members left out of E by an approved exclusion.
    pub excluded: Vec<String>,
    pub at: DateTime<Utc>,
}

/// A ballot that did not count, and why (QUORUM.md reasons: `no_voting_right`,
/// `not_expected`, `not_present`, `written_while_present`, `written_not_allowed`,
/// `conflicting`, `duplicate`, `unknown_member`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IgnoredBallot {
    pub member_id: String,
    /// `ballot` or `written`.
    pub source: String,
    /// The choice, for a motion; absent for an election ballot (it is ignored whole).
    pub choice: Option<Choice>,
    pub reason: String,
}

/// Written opinions as the tally saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WrittenCounts {
    /// Registered in all.
    pub received: u32,
    /// Counted as votes (from absent voting members of E), by choice.
    pub counted_yes: u32,
    pub counted_no: u32,
    pub counted_abstain: u32,
    /// Not counted (e.g. the member was present and voted in the room).
    pub ignored: u32,
}

/// Whether a candidate is elected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateOutcome {
    /// More yes than half of E, and within the seats.
    Elected,
    /// Not elected: too few yes-votes, or more than half of E but ranked below the seats.
    NotElected,
    /// More than half of E, tied with others for the last seat(s): a re-vote among the
    /// tied candidates decides (选举条例).
    Tie,
}

/// One candidate's count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CandidateResult {
    pub candidate_id: String,
    pub name: String,
    pub yes: u32,
    /// 不赞成, including 另选他人.
    pub no: u32,
    /// 弃权 or left unmarked.
    pub abstain: u32,
    /// More than half of E (and the election valid), before the ranking by seats.
    pub majority: bool,
    pub outcome: CandidateOutcome,
    /// Rank by yes-votes among all candidates, from 1 (equal votes share a rank).
    pub rank: u32,
}

/// A name written in under 另选他人, with its count (for the record only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WriteIn {
    pub name: String,
    pub votes: u32,
}

/// The result of a closed motion, as kept in `motions.result_json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MotionResult {
    /// The rule applied (`congress`, `congress_admission`, `election`, `committee`).
    pub rule: String,
    pub voting_method: VotingMethod,
    /// `ballots` (counted from ballots and written opinions) or `tally` (entered counts).
    pub source: String,
    /// E.
    pub expected: u32,
    /// P: voting members present at close, plus voters who voted while present and left.
    pub present_voting: u32,
    pub present_in_person: u32,
    pub present_remote: u32,
    pub quorate: bool,
    /// Counted votes, written opinions included. Zero for an election, whose counts are
    /// per candidate (`candidates`).
    pub yes: u32,
    pub no: u32,
    pub abstain: u32,
    /// Ballots cast in all (valid or not).
    pub ballots_cast: u32,
    pub written: WrittenCounts,
    pub ignored: Vec<IgnoredBallot>,
    /// For a motion: quorate and `2·yes > E` (or `≥` by local configuration). For an
    /// election: valid and every seat filled without a tie.
    pub passed: bool,
    /// Elections: seats, candidates with their counts, elected ids (ranked), tied ids,
    /// and seats left unfilled (另行选举).
    pub seats: Option<u32>,
    #[serde(default)]
    pub candidates: Vec<CandidateResult>,
    #[serde(default)]
    pub elected: Vec<String>,
    #[serde(default)]
    pub tied: Vec<String>,
    pub unfilled_seats: Option<u32>,
    #[serde(default)]
    pub write_ins: Vec<WriteIn>,
    /// Ballots refused for more marks than seats never reach the table; this counts
    /// valid election ballots only.
    pub valid_ballots: Option<u32>,
}

/// A motion.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Motion {
    pub id: String,
    pub meeting_id: String,
    pub kind: MotionKind,
    pub kind_label_zh: String,
    pub title: String,
    pub candidate_member_id: Option<String>,
    pub candidate_name: Option<String>,
    pub seats: Option<i32>,
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    pub voting_method: VotingMethod,
    pub voting_method_label_zh: String,
    pub status: MotionStatus,
    pub status_label_zh: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub quorum_at_open: Option<QuorumSnapshot>,
    pub quorum_at_close: Option<QuorumSnapshot>,
    /// Ballots cast so far (counts only; never who voted what).
    pub ballots_cast: u32,
    /// Written opinions registered.
    pub written_opinions: u32,
    /// The caller's own ballot, if any.
    pub my_ballot: Option<Ballot>,
    /// Present once closed.
    pub result: Option<MotionResult>,
    pub created_at: DateTime<Utc>,
}

/// A ballot, as its voter sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Ballot {
    pub id: String,
    pub motion_id: String,
    pub member_id: String,
    pub choice: Option<Choice>,
    #[serde(default)]
    pub choices: Vec<ElectionMark>,
    pub channel: String,
    pub cast_at: DateTime<Utc>,
}

/// A registered written opinion.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WrittenOpinion {
    pub id: String,
    pub motion_id: String,
    pub member_id: String,
    pub member_name: String,
    pub choice: Choice,
    pub registered_by: String,
    pub registered_at: DateTime<Utc>,
}
