//! Who a meeting is for (its body) and the standing of each person in it.
//!
//! - 党员大会 and what is held like one (党课, 主题党日, 组织生活会/民主评议 held as a congress):
//!   the members whose formal relationship is the branch, its party groups' members included.
//!   Called by a 党小组 organization, the group's members.
//! - 支部委员会 (or held as one): holders of the organization's current committee posts.
//! - 党小组会 (or held as one): the members placed in the group.
//!
//! Only Party members are on a body (applicants, activists and candidates attend as
//! observers). Before the start the body is read live; from the start on the roster
//! frozen then (`meeting_roster`) is the body, so later status changes cannot rewrite E.

use chrono::NaiveDate;
use hongying_proto::meetings::{HeldAs, MeetingKind};
use hongying_proto::members::MemberStatus;
use hongying_signaling::quorum::MemberStatus as QuorumStatus;

use crate::db::AnyConnection;
use crate::error::{AppError, AppResult};
use crate::members::voting::{Standing, host_status, quorum_status};
use crate::store::meetings::{self as store, BodyMember, MeetingRow};

/// Which people a meeting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    Branch,
    Committee,
    Group,
}

/// The body of a meeting of `kind` (held as `held_as`) called by an organization of
/// `org_kind`.
pub fn body_type(kind: MeetingKind, held_as: Option<HeldAs>, org_kind: &str) -> BodyType {
    match (kind, held_as) {
        (MeetingKind::Committee, _) | (_, Some(HeldAs::Committee)) => BodyType::Committee,
        (MeetingKind::PartyGroup, _) | (_, Some(HeldAs::PartyGroup)) => BodyType::Group,
        _ if org_kind == "party_group" => BodyType::Group,
        _ => BodyType::Branch,
    }
}

/// One person of the body with the standing that decides their vote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyEntry {
    pub member_id: String,
    pub name: String,
    pub status: QuorumStatus,
    pub is_committee: bool,
}

pub fn status_str(s: QuorumStatus) -> &'static str {
    match s {
        QuorumStatus::Full => "full",
        QuorumStatus::Probationary => "probationary",
        QuorumStatus::FullOnProbationDiscipline => "full_on_probation_discipline",
        QuorumStatus::FullRightsSuspended => "full_rights_suspended",
        QuorumStatus::Stopped => "stopped",
        QuorumStatus::Temporary => "temporary",
    }
}

pub fn parse_status(s: &str) -> Option<QuorumStatus> {
    [
        QuorumStatus::Full,
        QuorumStatus::Probationary,
        QuorumStatus::FullOnProbationDiscipline,
        QuorumStatus::FullRightsSuspended,
        QuorumStatus::Stopped,
        QuorumStatus::Temporary,
    ]
    .into_iter()
    .find(|q| status_str(*q) == s)
}

fn standing(m: &BodyMember) -> Option<Standing> {
    Some(Standing {
        status: MemberStatus::parse(&m.status)?,
        discipline_until: m.discipline_until,
        rights_suspended: m.rights_suspended,
        membership_stopped: m.membership_stopped,
    })
}

fn standing_of(m: &BodyMember, on: NaiveDate) -> Option<QuorumStatus> {
    quorum_status(&standing(m)?, on)
}

fn org_kind(conn: &mut AnyConnection, org_id: &str) -> AppResult<String> {
    use crate::db::schema::organizations;
    use diesel::prelude::*;
    organizations::table
        .find(org_id)
        .select(organizations::kind)
        .first::<String>(conn)
        .optional()?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("meeting org {org_id} missing")))
}

fn parse_kind(m: &MeetingRow) -> AppResult<(MeetingKind, Option<HeldAs>)> {
    let kind = MeetingKind::parse(&m.kind)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored meeting kind {:?}", m.kind)))?;
    let held_as =
        match &m.held_as {
            Some(h) => Some(HeldAs::parse(h).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("stored meeting held_as {h:?}"))
            })?),
            None => None,
        };
    Ok((kind, held_as))
}

/// The body of `meeting` as it stands on `today`, by name.
pub fn live_body(
    conn: &mut AnyConnection,
    meeting: &MeetingRow,
    today: NaiveDate,
) -> AppResult<Vec<BodyEntry>> {
    let (kind, held_as) = parse_kind(meeting)?;
    let org_kind = org_kind(conn, &meeting.org_id)?;
    let btype = body_type(kind, held_as, &org_kind);
    let people = match btype {
        BodyType::Branch => store::branch_people(conn, &meeting.org_id)?,
        BodyType::Committee => store::committee_people(conn, &meeting.org_id, today)?,
        BodyType::Group => store::group_people(conn, &meeting.org_id)?,
    };
    let committee: Vec<String> = match btype {
        BodyType::Committee => people.iter().map(|p| p.id.clone()).collect(),
        _ => store::committee_people(conn, &meeting.org_id, today)?
            .into_iter()
            .map(|p| p.id)
            .collect(),
    };
    // Registered as coming from outside the city but not accepted yet: the member
    // belongs to the receiving branch only once its committee accepts.
    let arriving = crate::store::transfers::arriving_member_ids(conn, &meeting.org_id)?;
    let mut body: Vec<BodyEntry> = people
        .iter()
        .filter(|p| !arriving.contains(&p.id))
        .filter_map(|p| {
            standing_of(p, today).map(|status| BodyEntry {
                member_id: p.id.clone(),
                name: p.name.clone(),
                status,
                is_committee: committee.contains(&p.id),
            })
        })
        .collect();
    // 流动党员 hosted by this branch take part without a vote: `temporary`, outside E.
    if btype == BodyType::Branch {
        for p in crate::store::migrants::hosted_people(conn, &meeting.org_id)? {
            if body.iter().any(|b| b.member_id == p.id) {
                continue;
            }
            if let Some(status) = standing(&p).and_then(|s| host_status(&s, today)) {
                body.push(BodyEntry {
                    member_id: p.id.clone(),
                    name: p.name.clone(),
                    status,
                    is_committee: false,
                });
            }
        }
    }
    Ok(body)
}

/// Whether `member_id` takes part in `org_id`'s activities as a hosted 流动党员.
pub fn hosted_here(conn: &mut AnyConnection, org_id: &str, member_id: &str) -> AppResult<bool> {
    Ok(crate::store::migrants::is_hosted(conn, org_id, member_id)?)
}

/// The roster frozen at the start.
pub fn frozen_roster(conn: &mut AnyConnection, meeting_id: &str) -> AppResult<Vec<BodyEntry>> {
    store::roster(conn, meeting_id)?
        .into_iter()
        .map(|r| {
            let status = parse_status(&r.quorum_status).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "stored roster status {:?}",
                    r.quorum_status
                ))
            })?;
            Ok(BodyEntry {
                member_id: r.member_id,
                name: r.name,
                status,
                is_committee: r.is_committee,
            })
        })
        .collect()
}

/// The body that counts now: the frozen roster once the meeting has started, else the
/// live body. The flag says which.
pub fn current_body(
    conn: &mut AnyConnection,
    meeting: &MeetingRow,
    today: NaiveDate,
) -> AppResult<(Vec<BodyEntry>, bool)> {
    if meeting.started_at.is_some() {
        Ok((frozen_roster(conn, &meeting.id)?, true))
    } else {
        Ok((live_body(conn, meeting, today)?, false))
    }
}

/// Whether a quorum rule governs this kind of meeting (QUORUM.md): 党员大会 and 支委会,
/// and the yearly meetings held as one of them. 党课, 主题党日 and 党小组会 take no votes.
pub fn quorum_applies(kind: MeetingKind, held_as: Option<HeldAs>) -> bool {
    match kind {
        MeetingKind::Congress | MeetingKind::Committee => true,
        MeetingKind::LifeMeeting | MeetingKind::DemocraticReview => {
            !matches!(held_as, Some(HeldAs::PartyGroup))
        }
        MeetingKind::PartyGroup | MeetingKind::Lecture | MeetingKind::ThemeDay => false,
    }
}

pub fn kinds_of(meeting: &MeetingRow) -> AppResult<(MeetingKind, Option<HeldAs>)> {
    parse_kind(meeting)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn body_follows_kind_then_held_as_then_org() {
        assert_eq!(
            body_type(MeetingKind::Congress, None, "branch"),
            BodyType::Branch
        );
        assert_eq!(
            body_type(MeetingKind::Committee, None, "branch"),
            BodyType::Committee
        );
        assert_eq!(
            body_type(MeetingKind::LifeMeeting, Some(HeldAs::Committee), "branch"),
            BodyType::Committee
        );
        assert_eq!(
            body_type(
                MeetingKind::DemocraticReview,
                Some(HeldAs::PartyGroup),
                "party_group"
            ),
            BodyType::Group
        );
        assert_eq!(
            body_type(MeetingKind::Lecture, None, "party_group"),
            BodyType::Group
        );
        assert_eq!(
            body_type(MeetingKind::ThemeDay, None, "branch"),
            BodyType::Branch
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            "full",
            "probationary",
            "full_on_probation_discipline",
            "full_rights_suspended",
            "stopped",
            "temporary",
        ] {
            assert_eq!(status_str(parse_status(s).unwrap()), s);
        }
        assert!(parse_status("removed").is_none());
    }

    #[test]
    fn quorum_applies_only_to_deciding_bodies() {
        assert!(quorum_applies(MeetingKind::Congress, None));
        assert!(quorum_applies(MeetingKind::LifeMeeting, None));
        assert!(!quorum_applies(
            MeetingKind::LifeMeeting,
            Some(HeldAs::PartyGroup)
        ));
        assert!(!quorum_applies(MeetingKind::Lecture, None));
    }
}
