//! Motion logic: who may create, open, vote, tally and close, and the checks of each step.
//! Every change runs in one write transaction with its audit row.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use hongying_proto::meetings::MeetingStatus;
use hongying_proto::members::MemberStatus;
use hongying_proto::motions::{
    Ballot, BallotChannel, Candidate, CastBallot, Choice, CreateMotion, ElectionMark, EnterTally,
    Motion, MotionKind, MotionResult, MotionStatus, QuorumSnapshot, RegisterWrittenOpinion,
    VotingMethod, WrittenOpinion,
};
use hongying_proto::{ErrorCode, Page, PageQuery};
use hongying_signaling::quorum::{BodyKind, Presence, PresenceMode, RollCall, assess_quorum};
use serde_json::json;

use super::tally::{self, Election};
use crate::auth::Principal;
use crate::config::MeetingsConfig;
use crate::db::schema::{accounts, members};
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::meetings::quorum::{MeetingRoll, meeting_roll};
use crate::meetings::{self, body};
use crate::orgs::{Ctx, cursor};
use crate::store::attendance as att_store;
use crate::store::audit::{self, Entry};
use crate::store::meetings::MeetingRow;
use crate::store::motions::{
    self as store, BallotRow, CandidateRow, MotionRow, TallyRow, WrittenRow,
};

fn domain(status: u16, code: ErrorCode, detail: &str) -> AppError {
    AppError::Domain {
        status,
        code,
        detail: detail.into(),
    }
}

fn corrupt(what: &str, v: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!("stored motion {what} {v:?}"))
}

fn meeting_status(m: &MeetingRow) -> AppResult<MeetingStatus> {
    MeetingStatus::parse(&m.status)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored meeting status {:?}", m.status)))
}

fn motion_kind(r: &MotionRow) -> AppResult<MotionKind> {
    MotionKind::parse(&r.kind).ok_or_else(|| corrupt("kind", &r.kind))
}

fn motion_status(r: &MotionRow) -> AppResult<MotionStatus> {
    MotionStatus::parse(&r.status).ok_or_else(|| corrupt("status", &r.status))
}

fn method(r: &MotionRow) -> AppResult<VotingMethod> {
    VotingMethod::parse(&r.voting_method).ok_or_else(|| corrupt("voting_method", &r.voting_method))
}

/// Whether the meeting is a 党员大会 body (or held as one): the only body that admits
/// members or elects.
fn is_congress_body(conn: &mut AnyConnection, m: &MeetingRow) -> AppResult<bool> {
    let (kind, held_as) = body::kinds_of(m)?;
    let org_kind: String = crate::db::schema::organizations::table
        .find(&m.org_id)
        .select(crate::db::schema::organizations::kind)
        .first(conn)?;
    let congress_like = matches!(
        kind,
        hongying_proto::meetings::MeetingKind::Congress
            | hongying_proto::meetings::MeetingKind::LifeMeeting
            | hongying_proto::meetings::MeetingKind::DemocraticReview
    );
    Ok(congress_like && body::body_type(kind, held_as, &org_kind) == body::BodyType::Branch)
}

/// The quorum rule a motion is voted under.
fn rule_for(kind: MotionKind, meeting_body: BodyKind) -> BodyKind {
    match kind {
        MotionKind::Admission | MotionKind::Regularization | MotionKind::ProbationExtension => {
            BodyKind::CongressAdmission
        }
        MotionKind::Election => BodyKind::Election,
        MotionKind::Ordinary => meeting_body,
    }
}

/// The roll call of the motion's meeting now, under the motion's rule.
fn motion_roll(
    conn: &mut AnyConnection,
    meeting: &MeetingRow,
    kind: MotionKind,
    policy: &MeetingsConfig,
    now: NaiveDateTime,
) -> AppResult<MeetingRoll> {
    let mut roll = meeting_roll(conn, meeting, policy, now)?;
    roll.roll.kind = rule_for(kind, roll.roll.kind);
    Ok(roll)
}

fn member_name(conn: &mut AnyConnection, id: &str) -> AppResult<Option<String>> {
    Ok(members::table
        .find(id)
        .select(members::name)
        .first(conn)
        .optional()?)
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, s: Option<&str>) -> AppResult<Option<T>> {
    s.map(|j| {
        serde_json::from_str(j)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("stored {what}: {e}")))
    })
    .transpose()
}

fn to_json<T: serde::Serialize>(v: &T) -> AppResult<String> {
    serde_json::to_string(v).map_err(|e| AppError::Internal(anyhow::anyhow!("encoding: {e}")))
}

fn ballot_view(b: &BallotRow) -> AppResult<Ballot> {
    let choice = b
        .choice
        .as_deref()
        .map(|c| Choice::parse(c).ok_or_else(|| corrupt("ballot choice", c)))
        .transpose()?;
    let choices: Vec<ElectionMark> =
        parse_json("ballot choices", b.choices_json.as_deref())?.unwrap_or_default();
    Ok(Ballot {
        id: b.id.clone(),
        motion_id: b.motion_id.clone(),
        member_id: b.member_id.clone(),
        choice,
        choices,
        channel: b.channel.clone(),
        cast_at: b.cast_at.and_utc(),
    })
}

/// The wire form of a motion, with the caller's own ballot when `viewer` has one.
pub fn view(conn: &mut AnyConnection, r: &MotionRow, viewer: Option<&str>) -> AppResult<Motion> {
    let kind = motion_kind(r)?;
    let status = motion_status(r)?;
    let vm = method(r)?;
    let candidates = store::candidates(conn, &r.id)?
        .into_iter()
        .map(|c| Candidate {
            id: c.id,
            name: c.name,
            member_id: c.member_id,
            position: c.position,
        })
        .collect();
    let candidate_name = match &r.candidate_member_id {
        Some(id) => member_name(conn, id)?,
        None => None,
    };
    let my_ballot = match viewer {
        Some(m) => store::ballot_of(conn, &r.id, m)?
            .map(|b| ballot_view(&b))
            .transpose()?,
        None => None,
    };
    let ballots_cast = u32::try_from(store::count_ballots(conn, &r.id)?).unwrap_or(u32::MAX);
    let written_opinions = u32::try_from(store::count_written(conn, &r.id)?).unwrap_or(u32::MAX);
    Ok(Motion {
        id: r.id.clone(),
        meeting_id: r.meeting_id.clone(),
        kind,
        kind_label_zh: kind.label_zh().into(),
        title: r.title.clone(),
        candidate_member_id: r.candidate_member_id.clone(),
        candidate_name,
        seats: r.seats,
        candidates,
        voting_method: vm,
        voting_method_label_zh: vm.label_zh().into(),
        status,
        status_label_zh: status.label_zh().into(),
        opened_at: r.opened_at.map(|t| t.and_utc()),
        closed_at: r.closed_at.map(|t| t.and_utc()),
        quorum_at_open: parse_json::<QuorumSnapshot>("quorum", r.quorum_at_open_json.as_deref())?,
        quorum_at_close: parse_json::<QuorumSnapshot>("quorum", r.quorum_at_close_json.as_deref())?,
        ballots_cast,
        written_opinions,
        my_ballot,
        result: parse_json::<MotionResult>("result", r.result_json.as_deref())?,
        created_at: r.created_at.and_utc(),
    })
}

fn load(conn: &mut AnyConnection, id: &str) -> AppResult<MotionRow> {
    store::find(conn, id)?.ok_or(AppError::NotFound)
}

/// The motion and its meeting, once the caller may read the meeting (404 otherwise).
fn load_readable(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
) -> AppResult<(MotionRow, MeetingRow)> {
    let motion = load(conn, id)?;
    let meeting = meetings::load(conn, &motion.meeting_id)?;
    meetings::require_read(conn, principal, &meeting)?;
    Ok((motion, meeting))
}

fn load_managed(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
) -> AppResult<(MotionRow, MeetingRow)> {
    let motion = load(conn, id)?;
    let meeting = meetings::load(conn, &motion.meeting_id)?;
    meetings::require_manage(conn, principal, &meeting)?;
    Ok((motion, meeting))
}

// --- create ---------------------------------------------------------------------------

fn check_candidate_member(
    conn: &mut AnyConnection,
    kind: MotionKind,
    meeting: &MeetingRow,
    member_id: &str,
) -> AppResult<()> {
    let row: Option<(String, Option<String>, String)> = members::table
        .find(member_id)
        .select((members::org_id, members::party_group_id, members::status))
        .first(conn)
        .optional()?;
    let Some((org, _group, status)) = row else {
        return Err(AppError::invalid(
            "candidate_member_id",
            "unknown_member",
            "找不到该人员。",
        ));
    };
    if org != meeting.org_id {
        return Err(AppError::invalid(
            "candidate_member_id",
            "not_in_branch",
            "该人员的组织关系不在召开会议的支部。",
        ));
    }
    let status = MemberStatus::parse(&status).ok_or_else(|| corrupt("member status", &status))?;
    let fits = match kind {
        MotionKind::Admission => matches!(status, MemberStatus::Activist | MemberStatus::Candidate),
        _ => status == MemberStatus::Probationary,
    };
    if !fits {
        return Err(AppError::invalid(
            "candidate_member_id",
            "candidate_status",
            match kind {
                MotionKind::Admission => "接收预备党员的对象须为发展对象（或入党积极分子）。",
                _ => "转正或延长预备期的对象须为预备党员。",
            },
        ));
    }
    Ok(())
}

/// Creates a motion (draft) at a meeting that has not ended. Managers of the meeting.
pub fn create(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    meeting_id: &str,
    req: CreateMotion,
) -> AppResult<Motion> {
    write_tx(conn, |c| {
        let meeting = meetings::load(c, meeting_id)?;
        meetings::require_manage(c, ctx.principal, &meeting)?;
        if !matches!(
            meeting_status(&meeting)?,
            MeetingStatus::Draft | MeetingStatus::Scheduled | MeetingStatus::InProgress
        ) {
            return Err(AppError::conflict("会议已结束或已取消，不能再添加议题。"));
        }
        let title = req.title.trim();
        if title.is_empty() {
            return Err(AppError::invalid("title", "length", "议题标题不能为空。"));
        }
        let candidates = req.candidates.clone().unwrap_or_default();
        match req.kind {
            MotionKind::Ordinary => {
                if req.candidate_member_id.is_some()
                    || req.seats.is_some()
                    || !candidates.is_empty()
                {
                    return Err(AppError::invalid(
                        "kind",
                        "not_allowed",
                        "一般事项表决不设候选人和名额。",
                    ));
                }
            }
            k if k.is_admission() => {
                let Some(candidate) = req.candidate_member_id.as_deref() else {
                    return Err(AppError::invalid(
                        "candidate_member_id",
                        "required",
                        "接收、转正和延长预备期须且只能针对一名对象表决。",
                    ));
                };
                if req.seats.is_some() || !candidates.is_empty() {
                    return Err(AppError::invalid(
                        "candidates",
                        "not_allowed",
                        "接收、转正和延长预备期一次只表决一名对象，不设候选人名单和名额。",
                    ));
                }
                if !is_congress_body(c, &meeting)? {
                    return Err(AppError::invalid(
                        "kind",
                        "congress_only",
                        "接收、转正和延长预备期须由支部党员大会表决。",
                    ));
                }
                check_candidate_member(c, k, &meeting, candidate)?;
            }
            _ => {
                let Some(seats) = req.seats else {
                    return Err(AppError::invalid(
                        "seats",
                        "required",
                        "选举须填写应选名额。",
                    ));
                };
                if req.candidate_member_id.is_some() {
                    return Err(AppError::invalid(
                        "candidate_member_id",
                        "not_allowed",
                        "选举的候选人请填写在 candidates 中。",
                    ));
                }
                if usize::try_from(seats).unwrap_or(usize::MAX) > candidates.len() {
                    return Err(AppError::invalid(
                        "candidates",
                        "too_few",
                        "候选人人数不得少于应选名额。",
                    ));
                }
                let mut names: Vec<&str> = candidates.iter().map(|c| c.name.trim()).collect();
                names.sort_unstable();
                if names.iter().any(|n| n.is_empty()) || names.windows(2).any(|w| w[0] == w[1]) {
                    return Err(AppError::invalid(
                        "candidates",
                        "duplicate",
                        "候选人姓名不能为空或重复。",
                    ));
                }
                if req.voting_method == VotingMethod::ShowOfHands {
                    return Err(AppError::invalid(
                        "voting_method",
                        "secret_required",
                        "选举须以选票（应用内或无记名投票）进行，不能举手表决。",
                    ));
                }
                if !is_congress_body(c, &meeting)? {
                    return Err(AppError::invalid(
                        "kind",
                        "congress_only",
                        "选举须由支部党员大会进行。",
                    ));
                }
                for (i, cand) in candidates.iter().enumerate() {
                    if let Some(m) = cand.member_id.as_deref()
                        && member_name(c, m)?.is_none()
                    {
                        return Err(AppError::invalid(
                            &format!("candidates[{i}].member_id"),
                            "unknown_member",
                            "找不到该候选人。",
                        ));
                    }
                }
            }
        }

        let row = MotionRow {
            id: new_id(),
            meeting_id: meeting.id.clone(),
            kind: req.kind.as_str().into(),
            title: title.into(),
            candidate_member_id: req.candidate_member_id.clone(),
            seats: req.seats.map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
            voting_method: req.voting_method.as_str().into(),
            status: MotionStatus::Draft.as_str().into(),
            opened_at: None,
            closed_at: None,
            quorum_at_open_json: None,
            quorum_at_close_json: None,
            result_json: None,
            created_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
        };
        store::insert(c, &row)?;
        for (i, cand) in candidates.iter().enumerate() {
            store::insert_candidate(
                c,
                &CandidateRow {
                    id: new_id(),
                    motion_id: row.id.clone(),
                    name: cand.name.trim().into(),
                    member_id: cand.member_id.clone(),
                    position: i32::try_from(i + 1).unwrap_or(i32::MAX),
                },
            )?;
        }
        ctx.audit(
            c,
            "motion.create",
            ("motion", &row.id),
            Some(&meeting.org_id),
            None,
            Some(json!({
                "meeting_id": meeting.id,
                "kind": row.kind,
                "title": row.title,
                "candidate_member_id": row.candidate_member_id,
                "seats": row.seats,
                "candidates": candidates.iter().map(|c| c.name.trim()).collect::<Vec<_>>(),
                "voting_method": row.voting_method,
            })),
        )?;
        view(c, &row, ctx.principal.member_id.as_deref())
    })
}

/// A meeting's motions, in creation order (readers of the meeting).
pub fn list(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting_id: &str,
    q: &PageQuery,
) -> AppResult<Page<Motion>> {
    const TAG: &str = "motions";
    let meeting = meetings::load(conn, meeting_id)?;
    meetings::require_read(conn, principal, &meeting)?;
    let after = match q.cursor.as_deref() {
        Some(c) => cursor::decode(TAG, c, 1)?.into_iter().next(),
        None => None,
    };
    let limit = cursor::limit(q.limit);
    let rows = store::page_of_meeting(conn, meeting_id, after.as_deref(), limit + 1)?;
    let (rows, next) = cursor::paginate(rows, limit, |r| cursor::encode(TAG, &[&r.id]));
    let items = rows
        .iter()
        .map(|r| view(conn, r, principal.member_id.as_deref()))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Page {
        items,
        next_cursor: next,
    })
}

/// One motion (readers of its meeting).
pub fn read(conn: &mut AnyConnection, principal: &Principal, id: &str) -> AppResult<Motion> {
    let (motion, _) = load_readable(conn, principal, id)?;
    view(conn, &motion, principal.member_id.as_deref())
}

// --- written opinions -----------------------------------------------------------------

/// Registers a written opinion of a voting member of the body, before the motion opens
/// (admission kinds only). Whether it counts is decided at the tally: only if the member
/// is then absent (QUORUM.md). Managers of the meeting.
pub fn register_written(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    policy: &MeetingsConfig,
    motion_id: &str,
    req: RegisterWrittenOpinion,
) -> AppResult<WrittenOpinion> {
    write_tx(conn, |c| {
        let (motion, meeting) = load_managed(c, ctx.principal, motion_id)?;
        let kind = motion_kind(&motion)?;
        if !kind.is_admission() {
            return Err(AppError::invalid(
                "member_id",
                "written_not_allowed",
                "只有接收预备党员、预备党员转正和延长预备期的表决可以登记书面意见。",
            ));
        }
        match motion_status(&motion)? {
            MotionStatus::Draft => {}
            MotionStatus::Open => {
                return Err(AppError::conflict(
                    "表决已开始，书面意见须在表决开始前登记。",
                ));
            }
            MotionStatus::Closed => {
                return Err(domain(409, ErrorCode::MotionClosed, "表决已结束。"));
            }
        }
        let roll = motion_roll(c, &meeting, kind, policy, ctx.now)?;
        let standing = roll
            .roll
            .members
            .iter()
            .find(|m| m.id == req.member_id)
            .map(|m| m.status);
        let name = match standing {
            None => {
                return Err(AppError::invalid(
                    "member_id",
                    "not_in_body",
                    "该党员不属于本次会议的参会范围。",
                ));
            }
            Some(s) if !s.has_voting_right() => {
                return Err(domain(
                    403,
                    ErrorCode::NoVotingRight,
                    "该党员没有表决权，其书面意见不能计入表决。",
                ));
            }
            Some(_) => roll.names.get(&req.member_id).cloned().unwrap_or_default(),
        };
        if store::written_of(c, &motion.id, &req.member_id)?.is_some() {
            return Err(AppError::Conflict {
                code: ErrorCode::AlreadyExists,
                detail: "该党员的书面意见已登记。".into(),
            });
        }
        let row = WrittenRow {
            id: new_id(),
            motion_id: motion.id.clone(),
            member_id: req.member_id.clone(),
            choice: req.choice.as_str().into(),
            registered_by: ctx.principal.account_id.clone(),
            registered_at: ctx.now,
        };
        store::insert_written(c, &row)?;
        ctx.audit(
            c,
            "motion.written_opinion",
            ("motion", &motion.id),
            Some(&meeting.org_id),
            None,
            Some(json!({ "member_id": row.member_id, "choice": row.choice })),
        )?;
        Ok(WrittenOpinion {
            id: row.id,
            motion_id: row.motion_id,
            member_id: row.member_id,
            member_name: name,
            choice: req.choice,
            registered_by: row.registered_by,
            registered_at: row.registered_at.and_utc(),
        })
    })
}

// --- open and close -------------------------------------------------------------------

fn require_in_progress(meeting: &MeetingRow, what: &str) -> AppResult<()> {
    if meeting_status(meeting)? != MeetingStatus::InProgress {
        return Err(AppError::conflict(&format!("会议未在进行中，不能{what}。")));
    }
    Ok(())
}

/// Opens the vote, freezing the quorum at that moment. The meeting must be in progress.
pub fn open(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    policy: &MeetingsConfig,
    motion_id: &str,
) -> AppResult<Motion> {
    write_tx(conn, |c| {
        let (motion, meeting) = load_managed(c, ctx.principal, motion_id)?;
        match motion_status(&motion)? {
            MotionStatus::Draft => {}
            MotionStatus::Open => {
                return Err(AppError::IllegalTransition {
                    from: "open".into(),
                    allowed: vec!["close".into()],
                });
            }
            MotionStatus::Closed => {
                return Err(domain(409, ErrorCode::MotionClosed, "表决已结束。"));
            }
        }
        require_in_progress(&meeting, "开始表决")?;
        let kind = motion_kind(&motion)?;
        let roll = motion_roll(c, &meeting, kind, policy, ctx.now)?;
        let q = assess_quorum(&roll.roll, &roll.thresholds);
        let snap = tally::snapshot(&q, ctx.now);
        if !store::open(c, &motion.id, ctx.now, &to_json(&snap)?)? {
            return Err(AppError::conflict("表决状态已被他人更改，请刷新后重试。"));
        }
        ctx.audit(
            c,
            "motion.open",
            ("motion", &motion.id),
            Some(&meeting.org_id),
            Some(json!({ "status": "draft" })),
            Some(json!({
                "status": "open",
                "expected": snap.expected,
                "present_voting": snap.present_voting,
                "quorate": snap.quorate,
            })),
        )?;
        let row = load(c, &motion.id)?;
        view(c, &row, ctx.principal.member_id.as_deref())
    })
}

/// The roll call to count votes under: those present now, plus every voter who cast a
/// ballot (checked present when it was cast) and has left since — leaving after voting
/// does not take the vote back. Mode: the voter's last interval.
fn tally_roll(
    conn: &mut AnyConnection,
    meeting_id: &str,
    mut roll: RollCall,
    voters: &[String],
) -> AppResult<RollCall> {
    let gone: Vec<&String> = voters
        .iter()
        .filter(|v| !roll.present.iter().any(|p| &p.member == *v))
        .collect();
    if gone.is_empty() {
        return Ok(roll);
    }
    let mut last_mode: HashMap<String, PresenceMode> = HashMap::new();
    for i in att_store::all_in_meeting(conn, meeting_id)? {
        let mode = if i.mode == "remote" {
            PresenceMode::Remote
        } else {
            PresenceMode::InPerson
        };
        // all_in_meeting is ordered by opening time per member: the last one wins.
        last_mode.insert(i.member_id, mode);
    }
    for v in gone {
        roll.present.push(Presence {
            member: v.clone(),
            mode: last_mode.get(v).copied().unwrap_or(PresenceMode::InPerson),
        });
    }
    Ok(roll)
}

fn written_choices(rows: &[WrittenRow]) -> AppResult<Vec<(String, Choice)>> {
    rows.iter()
        .map(|w| {
            Choice::parse(&w.choice)
                .map(|c| (w.member_id.clone(), c))
                .ok_or_else(|| corrupt("written choice", &w.choice))
        })
        .collect()
}

/// Closes the vote: freezes the quorum at close and computes the result from the ballots
/// and written opinions (or the entered show-of-hands counts). The meeting must still be
/// in progress, so the quorum at close is a real one.
pub fn close(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    policy: &MeetingsConfig,
    motion_id: &str,
) -> AppResult<Motion> {
    write_tx(conn, |c| {
        let (motion, meeting) = load_managed(c, ctx.principal, motion_id)?;
        match motion_status(&motion)? {
            MotionStatus::Open => {}
            MotionStatus::Draft => {
                return Err(domain(409, ErrorCode::MotionNotOpen, "表决尚未开始。"));
            }
            MotionStatus::Closed => {
                return Err(domain(409, ErrorCode::MotionClosed, "表决已结束。"));
            }
        }
        require_in_progress(&meeting, "结束表决")?;
        let kind = motion_kind(&motion)?;
        let vm = method(&motion)?;
        let roll = motion_roll(c, &meeting, kind, policy, ctx.now)?;
        let thresholds = roll.thresholds;
        let at_close = assess_quorum(&roll.roll, &thresholds);
        let snap = tally::snapshot(&at_close, ctx.now);
        let written = written_choices(&store::written(c, &motion.id)?)?;

        let result = if vm == VotingMethod::ShowOfHands {
            let Some(t) = store::tally(c, &motion.id)? else {
                return Err(AppError::conflict("举手表决须先录入赞成、反对、弃权票数。"));
            };
            let n = |v: i32| u32::try_from(v).unwrap_or(0);
            tally::tally_counts(
                &roll.roll,
                (n(t.yes), n(t.no), n(t.abstain)),
                &written,
                &thresholds,
                vm,
            )
        } else {
            let rows = store::ballots(c, &motion.id)?;
            let voters: Vec<String> = rows.iter().map(|b| b.member_id.clone()).collect();
            let counted = tally_roll(c, &meeting.id, roll.roll.clone(), &voters)?;
            if kind == MotionKind::Election {
                let candidates: Vec<(String, String)> = store::candidates(c, &motion.id)?
                    .into_iter()
                    .map(|c| (c.id, c.name))
                    .collect();
                let ballots = rows
                    .iter()
                    .map(|b| Ok((b.member_id.clone(), ballot_view(b)?.choices)))
                    .collect::<AppResult<Vec<_>>>()?;
                let seats = motion
                    .seats
                    .and_then(|s| u32::try_from(s).ok())
                    .ok_or_else(|| corrupt("seats", "none"))?;
                tally::tally_election(
                    &counted,
                    &Election {
                        candidates: &candidates,
                        seats,
                        ballots: &ballots,
                    },
                    &thresholds,
                    vm,
                )
            } else {
                let ballots = rows
                    .iter()
                    .map(|b| {
                        let choice = ballot_view(b)?
                            .choice
                            .ok_or_else(|| corrupt("ballot choice", "none"))?;
                        Ok((b.member_id.clone(), choice))
                    })
                    .collect::<AppResult<Vec<_>>>()?;
                tally::tally_ballots(&counted, &ballots, &written, &thresholds, vm)
            }
        };
        if !store::close(c, &motion.id, ctx.now, &to_json(&snap)?, &to_json(&result)?)? {
            return Err(AppError::conflict("表决状态已被他人更改，请刷新后重试。"));
        }
        ctx.audit(
            c,
            "motion.close",
            ("motion", &motion.id),
            Some(&meeting.org_id),
            Some(json!({ "status": "open" })),
            Some(json!({
                "status": "closed",
                "expected": result.expected,
                "present_voting": result.present_voting,
                "quorate": result.quorate,
                "yes": result.yes,
                "no": result.no,
                "abstain": result.abstain,
                "passed": result.passed,
                "elected": result.elected,
                "tied": result.tied,
            })),
        )?;
        let row = load(c, &motion.id)?;
        view(c, &row, ctx.principal.member_id.as_deref())
    })
}

// --- show of hands --------------------------------------------------------------------

/// Enters (or corrects, while the vote is open) the counts of a show of hands. Their sum
/// may not exceed the voting members present (422).
pub fn enter_tally(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    policy: &MeetingsConfig,
    motion_id: &str,
    req: EnterTally,
) -> AppResult<Motion> {
    write_tx(conn, |c| {
        let (motion, meeting) = load_managed(c, ctx.principal, motion_id)?;
        if method(&motion)? != VotingMethod::ShowOfHands {
            return Err(AppError::conflict(
                "该议题不是举手表决，票数由党员在应用中投票产生。",
            ));
        }
        match motion_status(&motion)? {
            MotionStatus::Open => {}
            MotionStatus::Draft => {
                return Err(domain(409, ErrorCode::MotionNotOpen, "表决尚未开始。"));
            }
            MotionStatus::Closed => {
                return Err(domain(409, ErrorCode::MotionClosed, "表决已结束。"));
            }
        }
        let kind = motion_kind(&motion)?;
        let roll = motion_roll(c, &meeting, kind, policy, ctx.now)?;
        let q = assess_quorum(&roll.roll, &roll.thresholds);
        let total = u64::from(req.yes) + u64::from(req.no) + u64::from(req.abstain);
        if total > u64::from(q.present_voting) {
            return Err(AppError::invalid(
                "yes",
                "exceeds_present",
                &format!(
                    "赞成、反对、弃权合计 {total} 票，超过到会有表决权的党员人数 {}。",
                    q.present_voting
                ),
            ));
        }
        let before = store::tally(c, &motion.id)?;
        let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        let row = TallyRow {
            motion_id: motion.id.clone(),
            yes: clamp(req.yes),
            no: clamp(req.no),
            abstain: clamp(req.abstain),
            entered_by: ctx.principal.account_id.clone(),
            entered_at: ctx.now,
        };
        store::put_tally(c, &row)?;
        ctx.audit(
            c,
            "motion.tally",
            ("motion", &motion.id),
            Some(&meeting.org_id),
            before.map(|b| json!({ "yes": b.yes, "no": b.no, "abstain": b.abstain })),
            Some(json!({
                "yes": row.yes,
                "no": row.no,
                "abstain": row.abstain,
                "present_voting": q.present_voting,
            })),
        )?;
        view(c, &motion, ctx.principal.member_id.as_deref())
    })
}

// --- ballots --------------------------------------------------------------------------

/// What a voter marks: a choice on a motion, marks on an election.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BallotChoice {
    Single(Choice),
    Election(Vec<ElectionMark>),
}

impl BallotChoice {
    /// From the REST body (its validation guarantees exactly one of the two).
    pub fn from_request(req: CastBallot) -> AppResult<Self> {
        match (req.choice, req.choices) {
            (Some(c), None) => Ok(Self::Single(c)),
            (None, Some(m)) => Ok(Self::Election(m)),
            _ => Err(domain(
                422,
                ErrorCode::InvalidBallot,
                "须且只能提供 choice（一般表决）或 choices（选举）之一。",
            )),
        }
    }
}

/// The outcome of casting: the ballot, and whether this call recorded it (`false` for a
/// repeat of the same vote, which answers the ballot already recorded).
#[derive(Debug, Clone)]
pub struct Cast {
    pub ballot: Ballot,
    pub created: bool,
}

/// Election marks in a canonical order, for comparing a repeat with the recorded ballot.
fn canonical(marks: &[ElectionMark]) -> Vec<ElectionMark> {
    let mut m: Vec<ElectionMark> = marks
        .iter()
        .map(|x| ElectionMark {
            candidate_id: x.candidate_id.clone(),
            mark: x.mark,
            other_name: x.other_name.as_ref().map(|n| n.trim().to_owned()),
        })
        .collect();
    m.sort_by(|a, b| a.candidate_id.cmp(&b.candidate_id));
    m
}

fn same_vote(existing: &BallotRow, choice: &BallotChoice) -> AppResult<bool> {
    let b = ballot_view(existing)?;
    Ok(match choice {
        BallotChoice::Single(c) => b.choice == Some(*c),
        BallotChoice::Election(m) => b.choice.is_none() && canonical(&b.choices) == canonical(m),
    })
}

/// Casts `member_id`'s vote on a motion. Called by the REST handler for the caller's own
/// vote and by the signaling module for a vote over the meeting socket.
///
/// Checks, in order: the motion is open (`motion_not_open` / `motion_closed`), it is not a
/// show of hands; the ballot fits the motion (`choice` on a motion; on an election known
/// candidates and no more votes for people than seats) — else `invalid_ballot`; a repeat
/// of the recorded vote answers that ballot (`created: false`), a different one is
/// `already_voted`; the member is on the roster with a voting right (and on the committee
/// for a committee meeting) — else `no_voting_right`; the member is present now (an open
/// attendance interval, remote ones with media when the locality requires it) — else
/// `not_present`.
///
/// `policy` is the meetings configuration (`state.config.meetings`): which exclusions are
/// approved and whether a remote member counts before media is proven.
///
/// The audit row records that the member voted and by which channel, never the choice: a
/// secret ballot stays secret in the log.
pub fn cast_ballot(
    conn: &mut AnyConnection,
    policy: &MeetingsConfig,
    motion_id: &str,
    member_id: &str,
    choice: BallotChoice,
    channel: BallotChannel,
    now: NaiveDateTime,
) -> AppResult<Cast> {
    cast(
        conn, policy, motion_id, member_id, choice, channel, now, None,
    )
}

#[allow(clippy::too_many_arguments)]
fn cast(
    conn: &mut AnyConnection,
    policy: &MeetingsConfig,
    motion_id: &str,
    member_id: &str,
    choice: BallotChoice,
    channel: BallotChannel,
    now: NaiveDateTime,
    ctx: Option<&Ctx<'_>>,
) -> AppResult<Cast> {
    let attempt = |c: &mut AnyConnection| -> AppResult<Cast> {
        let motion = load(c, motion_id)?;
        let meeting = meetings::load(c, &motion.meeting_id)?;
        match motion_status(&motion)? {
            MotionStatus::Open => {}
            MotionStatus::Draft => {
                return Err(domain(
                    409,
                    ErrorCode::MotionNotOpen,
                    "表决尚未开始，请稍候。",
                ));
            }
            MotionStatus::Closed => {
                return Err(domain(
                    409,
                    ErrorCode::MotionClosed,
                    "表决已结束，不能再投票。",
                ));
            }
        }
        let vm = method(&motion)?;
        if vm == VotingMethod::ShowOfHands {
            return Err(AppError::conflict(
                "该议题以举手方式表决，由书记录入票数，无需在应用中投票。",
            ));
        }
        // The ballot's shape first: a malformed ballot is refused whoever sends it.
        let kind = motion_kind(&motion)?;
        let (single, marks) = match (&choice, kind) {
            (BallotChoice::Election(m), MotionKind::Election) => {
                let ids: Vec<String> = store::candidates(c, &motion.id)?
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                let seats = motion
                    .seats
                    .and_then(|s| u32::try_from(s).ok())
                    .unwrap_or(0);
                if let Some(why) = tally::election_ballot_error(&ids, seats, m) {
                    return Err(domain(422, ErrorCode::InvalidBallot, why));
                }
                (None, Some(to_json(&canonical(m))?))
            }
            (BallotChoice::Single(ch), k) if k != MotionKind::Election => {
                (Some(ch.as_str().to_owned()), None)
            }
            (BallotChoice::Single(_), _) => {
                return Err(domain(
                    422,
                    ErrorCode::InvalidBallot,
                    "选举须对每名候选人分别标记（choices）。",
                ));
            }
            (BallotChoice::Election(_), _) => {
                return Err(domain(
                    422,
                    ErrorCode::InvalidBallot,
                    "该议题不是选举，请选择赞成、反对或弃权（choice）。",
                ));
            }
        };
        if let Some(existing) = store::ballot_of(c, &motion.id, member_id)? {
            if same_vote(&existing, &choice)? {
                return Ok(Cast {
                    ballot: ballot_view(&existing)?,
                    created: false,
                });
            }
            return Err(domain(
                409,
                ErrorCode::AlreadyVoted,
                "您已对该议题投过票，每人只能投一票。",
            ));
        }
        let roll = motion_roll(c, &meeting, kind, policy, now)?;
        let standing = roll.roll.members.iter().find(|m| m.id == member_id);
        let voting = standing.is_some_and(|m| m.status.has_voting_right())
            && (roll.roll.kind != BodyKind::Committee
                || roll.roll.committee.iter().any(|m| m == member_id));
        if !voting {
            return Err(domain(
                403,
                ErrorCode::NoVotingRight,
                "您在本次会议没有表决权（预备党员、受留党察看处分期间、权利中止等不能表决）。",
            ));
        }
        if !roll.roll.present.iter().any(|p| p.member == member_id) {
            return Err(domain(
                403,
                ErrorCode::NotPresent,
                "您尚未签到或接入会议，不能投票。",
            ));
        }
        let row = BallotRow {
            id: new_id(),
            motion_id: motion.id.clone(),
            member_id: member_id.to_owned(),
            choice: single,
            choices_json: marks,
            channel: channel.as_str().into(),
            cast_at: now,
        };
        store::insert_ballot(c, &row)?;
        let after = Some(json!({ "member_id": member_id, "channel": row.channel }));
        match ctx {
            Some(ctx) => {
                ctx.audit(
                    c,
                    "motion.ballot",
                    ("motion", &motion.id),
                    Some(&meeting.org_id),
                    None,
                    after,
                )?;
            }
            None => {
                let account: Option<String> = accounts::table
                    .filter(accounts::member_id.eq(member_id))
                    .select(accounts::id)
                    .first(c)
                    .optional()?;
                audit::append(
                    c,
                    &Entry {
                        actor_account_id: account,
                        actor_org_id: Some(meeting.org_id.clone()),
                        action: "motion.ballot".into(),
                        target_type: "motion".into(),
                        target_id: motion.id.clone(),
                        org_id: Some(meeting.org_id.clone()),
                        before: None,
                        after,
                        request_id: None,
                        client_addr: None,
                    },
                    now,
                )?;
            }
        }
        Ok(Cast {
            ballot: ballot_view(&row)?,
            created: true,
        })
    };
    match write_tx(conn, attempt) {
        // Two first votes racing: the unique key stopped the second; it now sees the first.
        Err(AppError::Internal(e))
            if e.downcast_ref::<diesel::result::Error>().is_some_and(|d| {
                matches!(
                    d,
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _
                    )
                )
            }) =>
        {
            write_tx(conn, attempt)
        }
        other => other,
    }
}

/// The caller votes on a motion of a meeting they may read.
pub fn cast_own(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    policy: &MeetingsConfig,
    motion_id: &str,
    req: CastBallot,
) -> AppResult<Cast> {
    let (motion, _) = load_readable(conn, ctx.principal, motion_id)?;
    let Some(member_id) = ctx.principal.member_id.clone() else {
        return Err(domain(
            403,
            ErrorCode::NoVotingRight,
            "当前账号未关联党员，不能投票。",
        ));
    };
    let choice = BallotChoice::from_request(req)?;
    cast(
        conn,
        policy,
        &motion.id,
        &member_id,
        choice,
        BallotChannel::App,
        ctx.now,
        Some(ctx),
    )
}
