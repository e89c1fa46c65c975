//! The roll call of a meeting as the quorum rules see it, and its assessment.
//!
//! The rules themselves are [`hongying_signaling::quorum`] (one pure implementation of
//! QUORUM.md). This module only gathers their input from the database:
//! - members: the roster frozen at the start (before the start: the body today);
//! - exclusions: every requested exclusion, `approved` when the approvals the locality
//!   requires (`meetings.exclusion_approval`) are all given and none was rejected;
//! - present: every member with an open attendance interval, mode by interval. A remote
//!   interval counts only once media is proven when `meetings.remote_requires_media` is
//!   set. Observers and other non-members with an open interval are passed on as present
//!   too; the rules report them as `present_not_counted`.
//!
//! For motions (meetings engineer 2): take [`roll_call`], set `kind` to
//! `CongressAdmission` or `Election` as the motion requires, and tally with
//! [`thresholds_in_force`].

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use hongying_proto::meetings::{PersonRef, QuorumReport};
use hongying_signaling::quorum::{
    BodyKind, Comparison, Exclusion, ExclusionReason, Member, Presence, PresenceMode,
    QuorumOutcome, RollCall, Thresholds, assess_quorum,
};

use super::body::{self, BodyType};
use crate::config::{ExclusionApproval, MeetingsConfig};
use crate::db::AnyConnection;
use crate::db::schema::members;
use crate::error::{AppError, AppResult};
use crate::orgs::today_cn;
use crate::store::attendance as att_store;
use crate::store::meetings::{self as store, ExclusionRow, MeetingRow};

/// Whether an exclusion leaves its member out of E under `rule`.
pub fn exclusion_effective(row: &ExclusionRow, rule: ExclusionApproval) -> bool {
    if row.rejected_at.is_some() {
        return false;
    }
    let upper = row.upper_approved_at.is_some();
    let congress = row.congress_approved_at.is_some();
    match rule {
        ExclusionApproval::Upper => upper,
        ExclusionApproval::Congress => congress,
        ExclusionApproval::Both => upper && congress,
    }
}

fn exclusion_reason(s: &str) -> AppResult<ExclusionReason> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| AppError::Internal(anyhow::anyhow!("stored exclusion reason {s:?}")))
}

/// The thresholds a meeting is judged by: those stored when it started, else the
/// configured ones.
pub fn thresholds_in_force(meeting: &MeetingRow, policy: &MeetingsConfig) -> Thresholds {
    meeting
        .thresholds_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| policy.thresholds.to_thresholds())
}

/// The quorum rule of a meeting's body: 支委会 for committee bodies, else 党员大会.
pub fn body_kind(conn: &mut AnyConnection, meeting: &MeetingRow) -> AppResult<BodyKind> {
    use crate::db::schema::organizations;
    let (kind, held_as) = body::kinds_of(meeting)?;
    let org_kind: String = organizations::table
        .find(&meeting.org_id)
        .select(organizations::kind)
        .first(conn)?;
    Ok(match body::body_type(kind, held_as, &org_kind) {
        BodyType::Committee => BodyKind::Committee,
        BodyType::Branch | BodyType::Group => BodyKind::Congress,
    })
}

/// A roll call with what the API shows beside it.
#[derive(Debug, Clone)]
pub struct MeetingRoll {
    pub roll: RollCall,
    /// Member id → name, for everyone the roll call mentions.
    pub names: HashMap<String, String>,
    /// Whether the members come from the roster frozen at the start.
    pub frozen: bool,
    pub thresholds: Thresholds,
    pub quorum_applies: bool,
}

/// Gathers the roll call of `meeting` now (see the module documentation).
pub fn meeting_roll(
    conn: &mut AnyConnection,
    meeting: &MeetingRow,
    policy: &MeetingsConfig,
    now: NaiveDateTime,
) -> AppResult<MeetingRoll> {
    let (people, frozen) = body::current_body(conn, meeting, today_cn(now))?;
    let kind = body_kind(conn, meeting)?;
    let mut names: HashMap<String, String> = people
        .iter()
        .map(|p| (p.member_id.clone(), p.name.clone()))
        .collect();
    let committee = people
        .iter()
        .filter(|p| p.is_committee)
        .map(|p| p.member_id.clone())
        .collect();
    let members = people
        .iter()
        .map(|p| Member {
            id: p.member_id.clone(),
            status: p.status,
        })
        .collect();

    let exclusions = store::exclusions(conn, &meeting.id)?
        .iter()
        .map(|e| {
            Ok(Exclusion {
                member: e.member_id.clone(),
                reason: exclusion_reason(&e.reason)?,
                approved: exclusion_effective(e, policy.exclusion_approval),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;

    let present: Vec<Presence> = att_store::open_in_meeting(conn, &meeting.id)?
        .into_iter()
        .filter_map(|i| match i.mode.as_str() {
            "in_person" => Some(Presence {
                member: i.member_id,
                mode: PresenceMode::InPerson,
            }),
            "remote" if i.media_proven || !policy.remote_requires_media => Some(Presence {
                member: i.member_id,
                mode: PresenceMode::Remote,
            }),
            _ => None,
        })
        .collect();

    let unknown: Vec<&str> = present
        .iter()
        .map(|p| p.member.as_str())
        .chain(exclusions.iter().map(|e| e.member.as_str()))
        .filter(|id| !names.contains_key(*id))
        .collect();
    if !unknown.is_empty() {
        let found: Vec<(String, String)> = members::table
            .filter(members::id.eq_any(&unknown))
            .select((members::id, members::name))
            .load(conn)?;
        names.extend(found);
    }

    let (mkind, held_as) = body::kinds_of(meeting)?;
    Ok(MeetingRoll {
        roll: RollCall {
            kind,
            members,
            committee,
            exclusions,
            present,
        },
        names,
        frozen,
        thresholds: thresholds_in_force(meeting, policy),
        quorum_applies: body::quorum_applies(mkind, held_as),
    })
}

/// The roll call of the meeting `meeting_id` now: 404 when there is no such meeting.
/// `kind` is the meeting's body (`Congress` or `Committee`).
pub fn roll_call(
    conn: &mut AnyConnection,
    meeting_id: &str,
    policy: &MeetingsConfig,
    now: NaiveDateTime,
) -> AppResult<RollCall> {
    let meeting = store::find(conn, meeting_id)?.ok_or(AppError::NotFound)?;
    Ok(meeting_roll(conn, &meeting, policy, now)?.roll)
}

/// E, P and whether the meeting `meeting_id` is quorate now, under the thresholds in force.
pub fn assess(
    conn: &mut AnyConnection,
    meeting_id: &str,
    policy: &MeetingsConfig,
    now: NaiveDateTime,
) -> AppResult<QuorumOutcome> {
    let meeting = store::find(conn, meeting_id)?.ok_or(AppError::NotFound)?;
    let roll = meeting_roll(conn, &meeting, policy, now)?;
    Ok(assess_quorum(&roll.roll, &roll.thresholds))
}

/// The quorum rule as a formula, e.g. `2P > E`.
pub fn threshold_text(kind: BodyKind, thresholds: &Thresholds) -> String {
    let (cmp, lhs, rhs) = match kind {
        BodyKind::Congress | BodyKind::CongressAdmission => (thresholds.congress_quorum, "2P", "E"),
        BodyKind::Committee => (thresholds.committee_quorum, "2P", "E"),
        BodyKind::Election => (thresholds.election_validity, "5P", "4E"),
    };
    let op = match cmp {
        Comparison::Strict => ">",
        Comparison::Inclusive => "≥",
    };
    format!("{lhs} {op} {rhs}")
}

fn kind_str(kind: BodyKind) -> &'static str {
    match kind {
        BodyKind::Congress => "congress",
        BodyKind::CongressAdmission => "congress_admission",
        BodyKind::Election => "election",
        BodyKind::Committee => "committee",
    }
}

/// The report of `GET /meetings/{id}/quorum`.
pub fn report(
    conn: &mut AnyConnection,
    meeting: &MeetingRow,
    policy: &MeetingsConfig,
    now: NaiveDateTime,
) -> AppResult<QuorumReport> {
    let roll = meeting_roll(conn, meeting, policy, now)?;
    let out = assess_quorum(&roll.roll, &roll.thresholds);
    let person = |id: &String| PersonRef {
        member_id: id.clone(),
        name: roll.names.get(id).cloned().unwrap_or_default(),
    };
    Ok(QuorumReport {
        kind: kind_str(out.kind).to_string(),
        quorum_applies: roll.quorum_applies,
        roster_frozen: roll.frozen,
        expected: out.expected,
        present_voting: out.present_voting,
        present_in_person: out.present_in_person,
        present_remote: out.present_remote,
        threshold: threshold_text(out.kind, &roll.thresholds),
        quorate: out.quorate,
        missing: out.missing.iter().map(person).collect(),
        excluded: out.excluded.iter().map(person).collect(),
        present_not_counted: out.present_not_counted.iter().map(person).collect(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn exclusion(upper: bool, congress: bool, rejected: bool) -> ExclusionRow {
        let t = crate::db::now();
        ExclusionRow {
            id: "x".into(),
            meeting_id: "m".into(),
            member_id: "a".into(),
            reason: "ill".into(),
            note: None,
            upper_approved_by: upper.then(|| "u".into()),
            upper_approved_at: upper.then_some(t),
            congress_approved_by: congress.then(|| "c".into()),
            congress_approved_at: congress.then_some(t),
            rejected_by: rejected.then(|| "r".into()),
            rejected_at: rejected.then_some(t),
            created_by: "s".into(),
            created_at: t,
        }
    }

    #[test]
    fn an_exclusion_needs_every_required_approval_and_no_rejection() {
        use ExclusionApproval::*;
        let cases = [
            // (upper, congress, rejected) → effective under [Upper, Congress, Both]
            ((false, false, false), [false, false, false]),
            ((true, false, false), [true, false, false]),
            ((false, true, false), [false, true, false]),
            ((true, true, false), [true, true, true]),
            ((true, true, true), [false, false, false]),
        ];
        for ((u, c, r), want) in cases {
            let row = exclusion(u, c, r);
            let got = [Upper, Congress, Both].map(|rule| exclusion_effective(&row, rule));
            assert_eq!(got, want, "upper={u} congress={c} rejected={r}");
        }
    }

    #[test]
    fn thresholds_read_as_formulas() {
        let strict = Thresholds::default();
        assert_eq!(threshold_text(BodyKind::Congress, &strict), "2P > E");
        assert_eq!(threshold_text(BodyKind::Election, &strict), "5P > 4E");
        let inclusive = Thresholds {
            committee_quorum: Comparison::Inclusive,
            ..Thresholds::default()
        };
        assert_eq!(threshold_text(BodyKind::Committee, &inclusive), "2P ≥ E");
    }

    #[test]
    fn stored_thresholds_win_over_the_configuration() {
        let policy = MeetingsConfig::default();
        let stored = Thresholds {
            congress_quorum: Comparison::Inclusive,
            ..Thresholds::default()
        };
        let t = crate::db::now();
        let mut m = MeetingRow {
            id: "m".into(),
            org_id: "o".into(),
            kind: "congress".into(),
            held_as: None,
            title: "t".into(),
            agenda_json: "[]".into(),
            scheduled_start: t,
            scheduled_end: t,
            place: None,
            mode: "in_person".into(),
            host_member_id: None,
            recorder_member_id: None,
            lecturer: None,
            status: "in_progress".into(),
            cancel_reason: None,
            started_at: Some(t),
            ended_at: None,
            thresholds_json: None,
            created_by: "s".into(),
            created_at: t,
            updated_at: t,
            version: 1,
        };
        assert_eq!(thresholds_in_force(&m, &policy), Thresholds::default());
        m.thresholds_json = Some(serde_json::to_string(&stored).unwrap());
        assert_eq!(thresholds_in_force(&m, &policy), stored);
    }
}
