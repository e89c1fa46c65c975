//! Assembling the full record of a meeting from what was stored: the header, the
//! attendance table (应到/实到), points, resolutions, motions, sign-offs, attachments.
//!
//! Numbers about who counts come from [`hongying_signaling::quorum`] over the same roll
//! call the meeting used (roster, exclusions as the locality approves them, intervals), so
//! the record cannot disagree with the quorum shown during the meeting.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use hongying_proto::meetings::{
    AbsenceReason, AgendaItem, ExclusionReason, HeldAs, MeetingKind, MeetingMode, MeetingStatus,
    ObserverKind, PersonRef,
};
use hongying_proto::minutes::{
    Absentee, AttachmentMeta, AttendanceTable, Attendee, ByMode, ExclusionEntry, HeadCount,
    MinutePoint, MinutesHeader, MinutesRecord, MinutesStatus, ObserverEntry, SignOffs, Signature,
    WrittenEntry,
};
use hongying_proto::motions::{Choice, MotionStatus, QuorumSnapshot};
use hongying_signaling::quorum::{
    Exclusion, MemberStatus as QuorumStatus, Presence, PresenceMode, QuorumOutcome, RollCall,
    assess_quorum,
};

use crate::config::MeetingsConfig;
use crate::db::AnyConnection;
use crate::db::schema::{members, organizations};
use crate::error::{AppError, AppResult};
use crate::meetings::{body, quorum};
use crate::motions::{service as motions, tally};
use crate::store::attendance::{self as att_store, IntervalRow};
use crate::store::meetings::{self as meetings_store, MeetingRow};
use crate::store::minutes::{self as store, MinutesRow};
use crate::store::motions as motions_store;

/// The owner type of meeting attachments in `attachments.owner_type`.
pub const ATTACHMENT_OWNER: &str = "meeting";

fn corrupt(what: &str, v: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!("stored {what} {v:?}"))
}

/// A roster standing in Chinese.
pub fn standing_label(s: &str) -> &'static str {
    match s {
        "full" => "正式党员",
        "probationary" => "预备党员",
        "full_on_probation_discipline" => "正式党员（留党察看期间）",
        "full_rights_suspended" => "正式党员（权利中止）",
        "stopped" => "停止党籍",
        "temporary" => "临时组织关系",
        _ => "",
    }
}

fn is_full(s: QuorumStatus) -> bool {
    matches!(
        s,
        QuorumStatus::Full
            | QuorumStatus::FullOnProbationDiscipline
            | QuorumStatus::FullRightsSuspended
    )
}

fn names(conn: &mut AnyConnection, ids: &[&str]) -> AppResult<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(members::table
        .filter(members::id.eq_any(ids))
        .select((members::id, members::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// Whether an interval counts as presence under the locality's policy.
fn counts(i: &IntervalRow, policy: &MeetingsConfig) -> bool {
    i.mode == "in_person" || i.media_proven || !policy.remote_requires_media
}

fn presence_of(ids: &HashMap<String, PresenceMode>) -> Vec<Presence> {
    let mut v: Vec<Presence> = ids
        .iter()
        .map(|(m, mode)| Presence {
            member: m.clone(),
            mode: *mode,
        })
        .collect();
    v.sort_by(|a, b| a.member.cmp(&b.member));
    v
}

/// Presence modes from intervals: in the room at any time wins over remote.
fn modes<'a>(intervals: impl Iterator<Item = &'a IntervalRow>) -> HashMap<String, PresenceMode> {
    let mut m: HashMap<String, PresenceMode> = HashMap::new();
    for i in intervals {
        let mode = if i.mode == "in_person" {
            PresenceMode::InPerson
        } else {
            PresenceMode::Remote
        };
        m.entry(i.member_id.clone())
            .and_modify(|x| {
                if mode == PresenceMode::InPerson {
                    *x = PresenceMode::InPerson;
                }
            })
            .or_insert(mode);
    }
    m
}

/// The roll call of the meeting with an explicit presence, and its thresholds.
fn roll_with(
    conn: &mut AnyConnection,
    meeting: &MeetingRow,
    policy: &MeetingsConfig,
    now: NaiveDateTime,
    present: Vec<Presence>,
) -> AppResult<(RollCall, hongying_signaling::quorum::Thresholds)> {
    let mut roll = quorum::meeting_roll(conn, meeting, policy, now)?;
    roll.roll.present = present;
    Ok((roll.roll, roll.thresholds))
}

/// The quorum at the moment the meeting ended: members whose interval was open then
/// (ending the meeting closes every open interval at the end time).
pub fn quorum_at_end(
    conn: &mut AnyConnection,
    meeting: &MeetingRow,
    policy: &MeetingsConfig,
) -> AppResult<Option<QuorumOutcome>> {
    let Some(end) = meeting.ended_at else {
        return Ok(None);
    };
    let intervals = att_store::all_in_meeting(conn, &meeting.id)?;
    let at_end = modes(intervals.iter().filter(|i| {
        counts(i, policy) && i.opened_at <= end && i.closed_at.is_none_or(|c| c >= end)
    }));
    let (roll, thresholds) = roll_with(conn, meeting, policy, end, presence_of(&at_end))?;
    Ok(Some(assess_quorum(&roll, &thresholds)))
}

/// The status of the record.
pub fn status_of(row: Option<&MinutesRow>) -> MinutesStatus {
    match row {
        Some(r) if r.reviewed_at.is_some() => MinutesStatus::Reviewed,
        Some(r) if r.submitted_at.is_some() => MinutesStatus::Submitted,
        _ => MinutesStatus::Draft,
    }
}

pub fn point_view(p: store::PointRow) -> MinutePoint {
    MinutePoint {
        id: p.id,
        seq: p.seq,
        speaker_member_id: p.speaker_member_id,
        speaker_name: p.speaker_name,
        agenda_item: p.agenda_item,
        text: p.text,
        recorded_by: p.recorded_by,
        created_at: p.created_at.and_utc(),
    }
}

pub fn attachment_view(a: store::AttachmentRow) -> AttachmentMeta {
    AttachmentMeta {
        id: a.id,
        filename: a.filename,
        content_type: a.content_type,
        size_bytes: a.size_bytes,
        sha256: a.sha256,
        uploaded_by: a.uploaded_by,
        created_at: a.created_at.and_utc(),
    }
}

fn header(conn: &mut AnyConnection, m: &MeetingRow) -> AppResult<MinutesHeader> {
    let kind = MeetingKind::parse(&m.kind).ok_or_else(|| corrupt("meeting kind", &m.kind))?;
    let held_as = m
        .held_as
        .as_deref()
        .map(|h| HeldAs::parse(h).ok_or_else(|| corrupt("meeting held_as", h)))
        .transpose()?;
    let mode = MeetingMode::parse(&m.mode).ok_or_else(|| corrupt("meeting mode", &m.mode))?;
    let status =
        MeetingStatus::parse(&m.status).ok_or_else(|| corrupt("meeting status", &m.status))?;
    let org_name: String = organizations::table
        .find(&m.org_id)
        .select(organizations::name)
        .first(conn)?;
    let ids: Vec<&str> = [m.host_member_id.as_deref(), m.recorder_member_id.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let who = names(conn, &ids)?;
    let person = |id: &Option<String>| {
        id.as_ref().map(|id| PersonRef {
            member_id: id.clone(),
            name: who.get(id).cloned().unwrap_or_default(),
        })
    };
    let agenda: Vec<AgendaItem> = serde_json::from_str(&m.agenda_json)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored agenda: {e}")))?;
    Ok(MinutesHeader {
        kind: kind.as_str().into(),
        kind_label_zh: kind.label_zh().into(),
        held_as: held_as.map(|h| h.as_str().into()),
        held_as_label_zh: held_as.map(|h| h.label_zh().into()),
        title: m.title.clone(),
        org_id: m.org_id.clone(),
        org_name,
        scheduled_start: m.scheduled_start.and_utc(),
        scheduled_end: m.scheduled_end.and_utc(),
        started_at: m.started_at.map(|t| t.and_utc()),
        ended_at: m.ended_at.map(|t| t.and_utc()),
        place: m.place.clone(),
        mode: mode.as_str().into(),
        mode_label_zh: mode.label_zh().into(),
        host: person(&m.host_member_id),
        recorder: person(&m.recorder_member_id),
        lecturer: m.lecturer.clone(),
        agenda,
        meeting_status: status.as_str().into(),
        meeting_status_label_zh: status.label_zh().into(),
    })
}

fn signature(
    member: &Option<String>,
    by: &Option<String>,
    at: Option<NaiveDateTime>,
    who: &HashMap<String, String>,
) -> Option<Signature> {
    match (member, by, at) {
        (Some(m), Some(by), Some(at)) => Some(Signature {
            member_id: m.clone(),
            name: who.get(m).cloned().unwrap_or_default(),
            signed_by: by.clone(),
            signed_at: at.and_utc(),
        }),
        _ => None,
    }
}

/// The full record of `meeting` as of `now`.
pub fn build(
    conn: &mut AnyConnection,
    meeting: &MeetingRow,
    policy: &MeetingsConfig,
    now: NaiveDateTime,
) -> AppResult<MinutesRecord> {
    let header = header(conn, meeting)?;
    let row = store::find(conn, &meeting.id)?;
    let (people, frozen) = body::current_body(conn, meeting, crate::orgs::today_cn(now))?;
    let intervals: Vec<IntervalRow> = att_store::all_in_meeting(conn, &meeting.id)?
        .into_iter()
        .filter(|i| counts(i, policy))
        .collect();
    let absences = att_store::absences(conn, &meeting.id)?;
    let observers = meetings_store::observers(conn, &meeting.id)?;
    let exclusion_rows = meetings_store::exclusions(conn, &meeting.id)?;

    // --- attendance ---
    let ever = modes(intervals.iter());
    let roster_ids: HashSet<&str> = people.iter().map(|p| p.member_id.as_str()).collect();
    let mut expected = HeadCount::default();
    let mut present = HeadCount::default();
    let mut by_mode = ByMode::default();
    for p in &people {
        let tally_head = |h: &mut HeadCount| {
            h.total += 1;
            if is_full(p.status) {
                h.full += 1;
            } else if p.status == QuorumStatus::Probationary {
                h.probationary += 1;
            }
        };
        tally_head(&mut expected);
        if let Some(mode) = ever.get(&p.member_id) {
            tally_head(&mut present);
            match mode {
                PresenceMode::InPerson => by_mode.in_person += 1,
                PresenceMode::Remote => by_mode.remote += 1,
            }
        }
    }
    let (roll, thresholds) = roll_with(conn, meeting, policy, now, presence_of(&ever))?;
    let overall = assess_quorum(&roll, &thresholds);
    let effective: HashSet<&str> = roll
        .exclusions
        .iter()
        .filter(|e: &&Exclusion| e.approved)
        .map(|e| e.member.as_str())
        .collect();

    let mut by_member: HashMap<&str, Vec<&IntervalRow>> = HashMap::new();
    for i in &intervals {
        by_member.entry(i.member_id.as_str()).or_default().push(i);
    }
    let mut attendees = Vec::new();
    let mut absentees = Vec::new();
    for p in &people {
        let status = body::status_str(p.status);
        match by_member.get(p.member_id.as_str()) {
            Some(list) => {
                let first = list.iter().map(|i| i.opened_at).min().unwrap_or(now);
                let last_left = if list.iter().any(|i| i.closed_at.is_none()) {
                    None
                } else {
                    list.iter().filter_map(|i| i.closed_at).max()
                };
                attendees.push(Attendee {
                    member_id: p.member_id.clone(),
                    name: p.name.clone(),
                    status: status.into(),
                    status_label_zh: standing_label(status).into(),
                    mode: match ever.get(&p.member_id) {
                        Some(PresenceMode::InPerson) => "in_person".into(),
                        _ => "remote".into(),
                    },
                    first_arrived_at: first.and_utc(),
                    last_left_at: last_left.map(|t| t.and_utc()),
                    intervals: u32::try_from(list.len()).unwrap_or(u32::MAX),
                });
            }
            None => {
                let absence = absences.iter().find(|a| a.member_id == p.member_id);
                let reason = absence
                    .map(|a| {
                        AbsenceReason::parse(&a.reason)
                            .ok_or_else(|| corrupt("absence reason", &a.reason))
                    })
                    .transpose()?;
                absentees.push(Absentee {
                    member_id: p.member_id.clone(),
                    name: p.name.clone(),
                    status: status.into(),
                    status_label_zh: standing_label(status).into(),
                    reason: reason.map(|r| r.as_str().into()),
                    reason_label_zh: reason.map(|r| r.label_zh().into()),
                    note: absence.and_then(|a| a.note.clone()),
                    excluded: effective.contains(p.member_id.as_str()),
                });
            }
        }
    }

    let observer_entries = observers
        .iter()
        .map(|o| {
            let kind =
                ObserverKind::parse(&o.kind).ok_or_else(|| corrupt("observer kind", &o.kind))?;
            Ok(ObserverEntry {
                kind: kind.as_str().into(),
                kind_label_zh: kind.label_zh().into(),
                name: o.name.clone(),
                member_id: o.member_id.clone(),
                attended: o
                    .member_id
                    .as_deref()
                    .is_some_and(|m| by_member.contains_key(m)),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;

    let mut name_ids: Vec<&str> = exclusion_rows
        .iter()
        .map(|e| e.member_id.as_str())
        .collect();
    let written_rows = motions_store::written_of_meeting(conn, &meeting.id)?;
    name_ids.extend(written_rows.iter().map(|w| w.member_id.as_str()));
    name_ids.extend(
        [
            meeting.host_member_id.as_deref(),
            meeting.recorder_member_id.as_deref(),
        ]
        .into_iter()
        .flatten(),
    );
    name_ids.retain(|id| !roster_ids.contains(id));
    let mut who = names(conn, &name_ids)?;
    who.extend(people.iter().map(|p| (p.member_id.clone(), p.name.clone())));

    let exclusions = exclusion_rows
        .iter()
        .map(|e| {
            let reason = ExclusionReason::parse(&e.reason)
                .ok_or_else(|| corrupt("exclusion reason", &e.reason))?;
            Ok(ExclusionEntry {
                member_id: e.member_id.clone(),
                name: who.get(&e.member_id).cloned().unwrap_or_default(),
                reason: reason.as_str().into(),
                reason_label_zh: reason.label_zh().into(),
                note: e.note.clone(),
                upper_approved_at: e.upper_approved_at.map(|t| t.and_utc()),
                upper_approved_by: e.upper_approved_by.clone(),
                congress_approved_at: e.congress_approved_at.map(|t| t.and_utc()),
                congress_approved_by: e.congress_approved_by.clone(),
                rejected_at: e.rejected_at.map(|t| t.and_utc()),
                effective: quorum::exclusion_effective(e, policy.exclusion_approval),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;

    // --- motions and written opinions ---
    let motion_rows = motions_store::of_meeting(conn, &meeting.id)?;
    let motions = motion_rows
        .iter()
        .map(|r| motions::view(conn, r, None))
        .collect::<AppResult<Vec<_>>>()?;
    let mut written_opinions = Vec::new();
    for w in &written_rows {
        let Some(m) = motions.iter().find(|m| m.id == w.motion_id) else {
            continue;
        };
        let choice =
            Choice::parse(&w.choice).ok_or_else(|| corrupt("written choice", &w.choice))?;
        let counted = match (&m.status, &m.result) {
            (MotionStatus::Closed, Some(r)) => Some(
                !r.ignored
                    .iter()
                    .any(|i| i.member_id == w.member_id && i.source == "written"),
            ),
            _ => None,
        };
        written_opinions.push(WrittenEntry {
            motion_id: m.id.clone(),
            motion_title: m.title.clone(),
            member_id: w.member_id.clone(),
            name: who.get(&w.member_id).cloned().unwrap_or_default(),
            choice: choice.as_str().into(),
            choice_label_zh: choice.label_zh().into(),
            counted,
        });
    }

    let quorum_at_end: Option<QuorumSnapshot> =
        match row.as_ref().and_then(|r| r.quorum_at_end_json.as_deref()) {
            Some(j) => {
                Some(serde_json::from_str(j).map_err(|e| {
                    AppError::Internal(anyhow::anyhow!("stored quorum at end: {e}"))
                })?)
            }
            None => match (quorum_at_end(conn, meeting, policy)?, meeting.ended_at) {
                (Some(q), Some(end)) => Some(tally::snapshot(&q, end)),
                _ => None,
            },
        };

    let attendance = AttendanceTable {
        roster_frozen: frozen,
        expected,
        present,
        present_by_mode: by_mode,
        expected_voting: overall.expected,
        present_voting: overall.present_voting,
        present_voting_by_mode: ByMode {
            in_person: overall.present_in_person,
            remote: overall.present_remote,
        },
        quorum_at_end,
        attendees,
        absentees,
        observers: observer_entries,
        exclusions,
        written_opinions,
    };

    let points = store::points(conn, &meeting.id)?
        .into_iter()
        .map(point_view)
        .collect();
    let attachments = store::attachments_of(conn, ATTACHMENT_OWNER, &meeting.id)?
        .into_iter()
        .map(attachment_view)
        .collect();
    let status = status_of(row.as_ref());
    let resolutions: Vec<String> = match &row {
        Some(r) => serde_json::from_str(&r.resolutions_json)
            .map_err(|e| AppError::Internal(anyhow::anyhow!("stored resolutions: {e}")))?,
        None => Vec::new(),
    };
    let sign_offs = match &row {
        Some(r) => SignOffs {
            host: signature(
                &meeting.host_member_id,
                &r.host_signed_by,
                r.host_signed_at,
                &who,
            ),
            recorder: signature(
                &meeting.recorder_member_id,
                &r.recorder_signed_by,
                r.recorder_signed_at,
                &who,
            ),
        },
        None => SignOffs::default(),
    };
    Ok(MinutesRecord {
        meeting_id: meeting.id.clone(),
        status,
        status_label_zh: status.label_zh().into(),
        header,
        attendance,
        points,
        summary: row.as_ref().and_then(|r| r.summary.clone()),
        resolutions,
        motions,
        sign_offs,
        submitted_by: row.as_ref().and_then(|r| r.submitted_by.clone()),
        submitted_at: row
            .as_ref()
            .and_then(|r| r.submitted_at.map(|t| t.and_utc())),
        reviewed_by: row.as_ref().and_then(|r| r.reviewed_by.clone()),
        reviewed_at: row
            .as_ref()
            .and_then(|r| r.reviewed_at.map(|t| t.and_utc())),
        review_comment: row.as_ref().and_then(|r| r.review_comment.clone()),
        attachments,
        updated_at: row.as_ref().map(|r| r.updated_at.and_utc()),
    })
}
