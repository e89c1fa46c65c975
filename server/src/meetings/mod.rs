//! Meetings (三会一课): lifecycle, roster, exclusions from E, attendance and quorum.
//!
//! Who may do what (enforced in [`service`] and [`attendance`]):
//! - create, edit, schedule, start, end, cancel, observers, exclusions, absences:
//!   managers (`branch_secretary`, `branch_committee`, `org_admin`) holding the meeting's
//!   organization or an ancestor ([`crate::authz::require_manage_org`]).
//! - attendance marking and showing the QR code: those managers, and the meeting's host
//!   and recorder.
//! - read a meeting, its quorum, attendance, observers and exclusions: managers in scope,
//!   members who may read the organization (its own members; members below it), members of
//!   the body or the roster (流动党员 hosted by the organization included), and invited
//!   observers.
//! - check in by QR: the member themself, if on the roster or an invited observer.
//! - exclusion approval `by: upper`: a manager (or super admin) holding an organization
//!   strictly above the meeting's; `by: congress` is recorded by a manager of the
//!   meeting's organization after the 党员大会 voted it.
//!
//! Anyone who may not read the meeting gets 404; a reader who may not act gets 403.
//! Every change is audited in its own transaction.

pub mod attendance;
pub mod body;
pub mod lifecycle;
pub mod qr;
pub mod quorum;
pub mod service;

use diesel::prelude::*;

use crate::auth::{Principal, Role};
use crate::authz::{can_read_org, org_in_scope};
use crate::db::AnyConnection;
use crate::db::schema::members;
use crate::error::{AppError, AppResult};
use crate::store::meetings::{self as store, MeetingRow};

pub use crate::orgs::Ctx;

/// The meeting or 404.
pub fn load(conn: &mut AnyConnection, id: &str) -> AppResult<MeetingRow> {
    store::find(conn, id)?.ok_or(AppError::NotFound)
}

/// Whether the caller manages the meeting's organization.
pub fn is_manager(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting: &MeetingRow,
) -> AppResult<bool> {
    Ok(org_in_scope(
        conn,
        principal,
        &meeting.org_id,
        &Role::MANAGERS,
    )?)
}

/// Whether the caller's member belongs to the meeting's body or roster, or is invited.
pub fn takes_part(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting: &MeetingRow,
) -> AppResult<bool> {
    if let Some(member_id) = principal.member_id.as_deref() {
        let placement: Option<(String, Option<String>)> = members::table
            .find(member_id)
            .select((members::org_id, members::party_group_id))
            .first(conn)
            .optional()?;
        if let Some((org, group)) = &placement {
            if *org == meeting.org_id || group.as_deref() == Some(meeting.org_id.as_str()) {
                return Ok(true);
            }
            // The roster frozen at the start names him, but only while he still belongs
            // below the meeting's organization: one transferred away since takes no
            // further part (he still counts in its 应到, as the roster froze it).
            let below = crate::store::orgs::ancestors(conn, org)?
                .iter()
                .any(|(a, _)| *a == meeting.org_id);
            if below && store::roster_entry(conn, &meeting.id, member_id)?.is_some() {
                return Ok(true);
            }
        }
        // A 流动党员 takes part in his host branch's meetings (without a vote).
        if body::hosted_here(conn, &meeting.org_id, member_id)? {
            return Ok(true);
        }
    }
    Ok(store::is_observer(
        conn,
        &meeting.id,
        principal.member_id.as_deref(),
        &principal.account_id,
    )?)
}

/// Whether the caller may read the meeting (see the module documentation).
pub fn can_read(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting: &MeetingRow,
) -> AppResult<bool> {
    Ok(can_read_org(conn, principal, &meeting.org_id)? || takes_part(conn, principal, meeting)?)
}

/// Reads or 404.
pub fn require_read(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting: &MeetingRow,
) -> AppResult<()> {
    if can_read(conn, principal, meeting)? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Manages, or 403 for a reader, or 404.
pub fn require_manage(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting: &MeetingRow,
) -> AppResult<()> {
    if is_manager(conn, principal, meeting)? {
        return Ok(());
    }
    require_read(conn, principal, meeting)?;
    Err(AppError::Forbidden)
}

/// Runs the attendance (marks, QR code): a manager, or the meeting's host or recorder.
pub fn require_attendance_keeper(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting: &MeetingRow,
) -> AppResult<()> {
    if is_manager(conn, principal, meeting)? {
        return Ok(());
    }
    if let Some(me) = principal.member_id.as_deref()
        && (meeting.host_member_id.as_deref() == Some(me)
            || meeting.recorder_member_id.as_deref() == Some(me))
    {
        return Ok(());
    }
    require_read(conn, principal, meeting)?;
    Err(AppError::Forbidden)
}
