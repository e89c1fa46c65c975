//! Attendance: intervals of presence per member, opened and closed by the secretary, by
//! a QR check-in at the venue, or by the signaling bridge for remote attendees; and the
//! absences recorded with their reasons.
//!
//! A member has at most one open interval per mode (index `attendance_one_open`): leaving
//! closes it, coming back opens a new one, nothing is overwritten. Only open intervals
//! count towards the quorum ([`super::quorum`]). Attendance is taken while the meeting is
//! in progress; ending the meeting closes every open interval at the end time.
//!
//! # Service API for the signaling module
//!
//! [`open_remote_interval`], [`touch`], [`mark_media_proven`], [`close_interval`],
//! [`close_all_open`] and [`close_stale_open_intervals`] take a pooled connection that is
//! not inside a transaction: the ones that change presence run their own write
//! transaction with an audit row (actor: none, i.e. the system), the heartbeat ones are a
//! single statement each. They only ever touch `remote` intervals except
//! [`close_all_open`], so a phone dropping its socket never ends the in-room presence of
//! a member who checked in at the venue.

use chrono::NaiveDateTime;
use diesel::Connection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use hongying_proto::meetings::{
    Absence, AbsenceReason, Attendance, AttendanceAction, AttendanceInterval, AttendanceMode,
    MarkAttendance, MeetingStatus, PutAbsence, QrCode,
};
use hongying_proto::{ErrorCode, FieldError};
use serde_json::json;

use super::service::{status_of, utc};
use super::{Ctx, load, qr, require_attendance_keeper, require_manage, require_read};
use crate::auth::Principal;
use crate::config::Config;
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::store::attendance::{self as store, AbsenceRow, IntervalRow};
use crate::store::audit::{self, Entry};
use crate::store::meetings::{self as meetings_store, MeetingRow};

fn not_in_progress(row: &MeetingRow) -> AppError {
    let label = MeetingStatus::parse(&row.status)
        .map(MeetingStatus::label_zh)
        .unwrap_or("不在进行中");
    AppError::Domain {
        status: 409,
        code: ErrorCode::MeetingNotInProgress,
        detail: format!("会议{label}，只有进行中的会议才能签到或记录到会。"),
    }
}

fn require_in_progress(row: &MeetingRow) -> AppResult<()> {
    if status_of(row)? == MeetingStatus::InProgress {
        Ok(())
    } else {
        Err(not_in_progress(row))
    }
}

/// Whether `member_id` may be present at the meeting: on the roster frozen at the start,
/// or an invited observer with a member record.
pub fn may_attend(conn: &mut AnyConnection, meeting_id: &str, member_id: &str) -> AppResult<bool> {
    if meetings_store::roster_entry(conn, meeting_id, member_id)?.is_some() {
        return Ok(true);
    }
    Ok(meetings_store::observers(conn, meeting_id)?
        .iter()
        .any(|o| o.member_id.as_deref() == Some(member_id)))
}

pub fn interval_proto(r: IntervalRow) -> AppResult<AttendanceInterval> {
    Ok(AttendanceInterval {
        mode: AttendanceMode::parse(&r.mode)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored mode {:?}", r.mode)))?,
        id: r.id,
        member_id: r.member_id,
        source: r.source,
        media_proven: r.media_proven,
        opened_at: utc(r.opened_at),
        last_seen_at: utc(r.last_seen_at),
        closed_at: r.closed_at.map(utc),
        close_reason: r.close_reason,
    })
}

/// Opens an interval unless the member already has one open in this mode, which is
/// returned instead (a double tap or a retried join is not a second arrival). The bool
/// says whether a new one was opened.
#[allow(clippy::too_many_arguments)] // one call per source; a struct would only rename them
fn open_in_tx(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
    mode: AttendanceMode,
    source: &str,
    media_proven: bool,
    recorded_by: Option<&str>,
    now: NaiveDateTime,
) -> AppResult<(IntervalRow, bool)> {
    if let Some(open) = store::open_of(conn, meeting_id, member_id, mode.as_str())? {
        return Ok((open, false));
    }
    let row = IntervalRow {
        id: new_id(),
        meeting_id: meeting_id.to_string(),
        member_id: member_id.to_string(),
        mode: mode.as_str().to_string(),
        source: source.to_string(),
        media_proven,
        opened_at: now,
        last_seen_at: now,
        closed_at: None,
        close_reason: None,
        recorded_by: recorded_by.map(str::to_string),
    };
    // A savepoint, so that losing the race to a concurrent open (unique index) leaves the
    // surrounding transaction usable on PostgreSQL.
    match conn.transaction(|c| store::insert(c, &row)) {
        Ok(()) => Ok((row, true)),
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            let open = store::open_of(conn, meeting_id, member_id, mode.as_str())?
                .ok_or_else(|| AppError::Internal(anyhow::anyhow!("open interval vanished")))?;
            Ok((open, false))
        }
        Err(e) => Err(e.into()),
    }
}

/// Closes the member's open intervals of `mode` (all modes when `None`).
fn close_member_in_tx(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
    mode: Option<AttendanceMode>,
    at: NaiveDateTime,
    reason: &str,
) -> AppResult<Vec<IntervalRow>> {
    let mut closed = Vec::new();
    let modes: Vec<AttendanceMode> = match mode {
        Some(m) => vec![m],
        None => AttendanceMode::ALL.to_vec(),
    };
    for m in modes {
        if let Some(open) = store::open_of(conn, meeting_id, member_id, m.as_str())?
            && store::close(conn, &open, at, reason)?
        {
            closed.push(open);
        }
    }
    Ok(closed)
}

/// Closes every open interval of the meeting at `at`; for use inside a caller's
/// transaction (ending the meeting).
pub fn close_open_in_tx(
    conn: &mut AnyConnection,
    meeting_id: &str,
    at: NaiveDateTime,
    reason: &str,
) -> AppResult<usize> {
    let mut n = 0;
    for open in store::open_in_meeting(conn, meeting_id)? {
        if store::close(conn, &open, at, reason)? {
            n += 1;
        }
    }
    Ok(n)
}

fn system_audit(
    conn: &mut AnyConnection,
    action: &str,
    target: (&str, &str),
    org_id: &str,
    after: serde_json::Value,
    now: NaiveDateTime,
) -> AppResult<()> {
    audit::append(
        conn,
        &Entry {
            action: action.to_string(),
            target_type: target.0.to_string(),
            target_id: target.1.to_string(),
            org_id: Some(org_id.to_string()),
            after: Some(after),
            ..Entry::default()
        },
        now,
    )?;
    Ok(())
}

// --- service API for the signaling module -----------------------------------------------

/// Opens a remote interval for `member_id` (who joined the meeting's room) and returns its
/// id. Idempotent: when the member already has an open remote interval, that one's id is
/// returned (and `media_proven` only ever turns it on). The meeting must be in progress
/// (409 `meeting_not_in_progress`) and the member on the roster or an invited observer
/// (403). Runs its own write transaction.
pub fn open_remote_interval(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
    media_proven: bool,
    now: NaiveDateTime,
) -> AppResult<String> {
    write_tx(conn, |c| {
        let meeting = load(c, meeting_id)?;
        require_in_progress(&meeting)?;
        if !may_attend(c, meeting_id, member_id)? {
            return Err(AppError::Forbidden);
        }
        let (row, opened) = open_in_tx(
            c,
            meeting_id,
            member_id,
            AttendanceMode::Remote,
            "signaling",
            media_proven,
            None,
            now,
        )?;
        if !opened {
            if media_proven && !row.media_proven {
                store::mark_media_proven(c, &row.id)?;
            }
            return Ok(row.id);
        }
        system_audit(
            c,
            "attendance.remote_open",
            ("attendance_interval", &row.id),
            &meeting.org_id,
            json!({"meeting_id": meeting_id, "member_id": member_id, "media_proven": media_proven}),
            now,
        )?;
        Ok(row.id)
    })
}

/// What the signaling room calls when a member joins: `None` when he takes part without
/// attendance of his own (a host from the upper organization, a guest); else his open
/// remote interval — the one he left less than `merge_within` ago, reopened so that the
/// gap merges (a dropped phone, a node restart), or a new one. Runs its own write
/// transaction.
pub fn open_or_resume_remote(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
    now: NaiveDateTime,
    merge_within: chrono::Duration,
) -> AppResult<Option<String>> {
    let reopened = write_tx(conn, |c| -> AppResult<Option<Option<String>>> {
        let meeting = load(c, meeting_id)?;
        require_in_progress(&meeting)?;
        if !may_attend(c, meeting_id, member_id)? {
            return Ok(Some(None));
        }
        if store::open_of(c, meeting_id, member_id, AttendanceMode::Remote.as_str())?.is_some() {
            return Ok(None);
        }
        let Some(recent) =
            store::recently_closed_signaling(c, meeting_id, member_id, now - merge_within)?
        else {
            return Ok(None);
        };
        if !store::reopen(c, &recent.id, now)? {
            return Ok(None);
        }
        system_audit(
            c,
            "attendance.remote_resume",
            ("attendance_interval", &recent.id),
            &meeting.org_id,
            json!({"meeting_id": meeting_id, "member_id": member_id}),
            now,
        )?;
        Ok(Some(Some(recent.id)))
    });
    if let Some(r) = reopened? {
        return Ok(r);
    }
    open_remote_interval(conn, meeting_id, member_id, false, now).map(Some)
}

/// Heartbeats of many intervals at once (the room writes them in batches).
pub fn touch_many(
    conn: &mut AnyConnection,
    ids: &[String],
    now: NaiveDateTime,
) -> AppResult<usize> {
    Ok(store::touch_many(conn, ids, now)?)
}

/// Heartbeat: records that the interval's member was seen at `now`. False when the
/// interval is closed (the bridge should open a new one) or unknown.
pub fn touch(conn: &mut AnyConnection, interval_id: &str, now: NaiveDateTime) -> AppResult<bool> {
    Ok(store::touch(conn, interval_id, now)?)
}

/// Records that the SFU saw media from the interval's member. False when the interval is
/// closed or unknown.
pub fn mark_media_proven(conn: &mut AnyConnection, interval_id: &str) -> AppResult<bool> {
    Ok(store::mark_media_proven(conn, interval_id)?)
}

/// Closes the member's open remote interval at `at` (left, kicked, timed out…); returns
/// how many were closed (0 when none was open). Runs its own write transaction.
pub fn close_interval(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
    at: NaiveDateTime,
    reason: &str,
) -> AppResult<usize> {
    write_tx(conn, |c| {
        let meeting = load(c, meeting_id)?;
        let closed = close_member_in_tx(
            c,
            meeting_id,
            member_id,
            Some(AttendanceMode::Remote),
            at,
            reason,
        )?;
        for row in &closed {
            system_audit(
                c,
                "attendance.remote_close",
                ("attendance_interval", &row.id),
                &meeting.org_id,
                json!({"meeting_id": meeting_id, "member_id": member_id, "reason": reason}),
                at,
            )?;
        }
        Ok(closed.len())
    })
}

/// Closes every open interval of the meeting, in every mode, at `at` (the room closed).
/// Returns how many were closed. Runs its own write transaction.
pub fn close_all_open(
    conn: &mut AnyConnection,
    meeting_id: &str,
    at: NaiveDateTime,
    reason: &str,
) -> AppResult<usize> {
    write_tx(conn, |c| {
        let meeting = load(c, meeting_id)?;
        let n = close_open_in_tx(c, meeting_id, at, reason)?;
        if n > 0 {
            system_audit(
                c,
                "attendance.close_all",
                ("meeting", meeting_id),
                &meeting.org_id,
                json!({"closed": n, "reason": reason}),
                at,
            )?;
        }
        Ok(n)
    })
}

/// Crash recovery: closes every remote interval, in any meeting, whose last heartbeat is
/// older than `older_than`, at that last heartbeat (the last moment the member was known
/// to be there). Returns how many were closed. Runs its own write transaction.
pub fn close_stale_open_intervals(
    conn: &mut AnyConnection,
    older_than: NaiveDateTime,
) -> AppResult<usize> {
    write_tx(conn, |c| {
        let stale = store::stale_signaling(c, older_than)?;
        let mut n = 0;
        for row in &stale {
            if store::close(c, row, row.last_seen_at, "stale")? {
                n += 1;
                let org_id = load(c, &row.meeting_id)?.org_id;
                system_audit(
                    c,
                    "attendance.remote_close",
                    ("attendance_interval", &row.id),
                    &org_id,
                    json!({"meeting_id": row.meeting_id, "member_id": row.member_id, "reason": "stale"}),
                    row.last_seen_at,
                )?;
            }
        }
        Ok(n)
    })
}

// --- REST ---------------------------------------------------------------------------------

fn member_exists_in_body(
    conn: &mut AnyConnection,
    meeting: &MeetingRow,
    member_id: &str,
    today: chrono::NaiveDate,
) -> AppResult<bool> {
    let (people, _) = super::body::current_body(conn, meeting, today)?;
    Ok(people.iter().any(|p| p.member_id == member_id))
}

/// The secretary (or host/recorder) records an arrival or a departure.
pub fn mark(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    meeting_id: &str,
    req: MarkAttendance,
) -> AppResult<AttendanceInterval> {
    write_tx(conn, |c| {
        let meeting = load(c, meeting_id)?;
        require_attendance_keeper(c, ctx.principal, &meeting)?;
        require_in_progress(&meeting)?;
        if !may_attend(c, meeting_id, &req.member_id)? {
            return Err(AppError::Validation(vec![FieldError {
                field: "member_id".into(),
                code: "not_on_roster".into(),
                message: "该人员不在本次会议的名单或列席人员中".into(),
            }]));
        }
        let row = match req.action {
            AttendanceAction::Arrive => {
                let (row, opened) = open_in_tx(
                    c,
                    meeting_id,
                    &req.member_id,
                    req.mode,
                    "secretary",
                    false,
                    Some(&ctx.principal.account_id),
                    ctx.now,
                )?;
                if !opened {
                    return interval_proto(row);
                }
                row
            }
            AttendanceAction::Leave => {
                let closed = close_member_in_tx(
                    c,
                    meeting_id,
                    &req.member_id,
                    Some(req.mode),
                    ctx.now,
                    "left",
                )?;
                let Some(first) = closed.into_iter().next() else {
                    return Err(AppError::Conflict {
                        code: ErrorCode::Conflict,
                        detail: "该人员当前不在会（没有未结束的到会记录）。".into(),
                    });
                };
                store::find(c, &first.id)?.ok_or(AppError::NotFound)?
            }
        };
        ctx.audit(
            c,
            match req.action {
                AttendanceAction::Arrive => "attendance.arrive",
                AttendanceAction::Leave => "attendance.leave",
            },
            ("attendance_interval", &row.id),
            Some(&meeting.org_id),
            None,
            Some(json!({
                "meeting_id": meeting_id,
                "member_id": req.member_id,
                "mode": req.mode.as_str(),
            })),
        )?;
        interval_proto(row)
    })
}

/// The code to show at the venue now (managers, host, recorder), while the meeting is
/// scheduled or in progress.
pub fn qr_code(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting_id: &str,
    config: &Config,
    now: NaiveDateTime,
) -> AppResult<QrCode> {
    let meeting = load(conn, meeting_id)?;
    require_attendance_keeper(conn, principal, &meeting)?;
    if !matches!(
        status_of(&meeting)?,
        MeetingStatus::Scheduled | MeetingStatus::InProgress
    ) {
        return Err(not_in_progress(&meeting));
    }
    let key = qr::key(config)?;
    let secs = config.meetings.qr_window_secs;
    Ok(QrCode {
        token: qr::token(&key, meeting_id, qr::window(now, secs))?,
        window_secs: secs,
        rotates_in_secs: qr::seconds_until_rotation(now, secs),
    })
}

/// The caller checks in at the venue with the code they scanned.
pub fn check_in(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    meeting_id: &str,
    token: &str,
    config: &Config,
) -> AppResult<AttendanceInterval> {
    let key = qr::key(config)?;
    write_tx(conn, |c| {
        let meeting = load(c, meeting_id)?;
        let eligible = match ctx.principal.member_id.as_deref() {
            Some(me) => may_attend(c, meeting_id, me)?,
            None => false,
        };
        if !eligible {
            require_read(c, ctx.principal, &meeting)?;
            return Err(AppError::Forbidden);
        }
        let me = ctx.principal.member_id.clone().unwrap_or_default();
        require_in_progress(&meeting)?;
        qr::verify(
            &key,
            meeting_id,
            token,
            ctx.now,
            config.meetings.qr_window_secs,
        )?;
        let (row, opened) = open_in_tx(
            c,
            meeting_id,
            &me,
            AttendanceMode::InPerson,
            "qr",
            false,
            Some(&ctx.principal.account_id),
            ctx.now,
        )?;
        if opened {
            ctx.audit(
                c,
                "attendance.check_in",
                ("attendance_interval", &row.id),
                Some(&meeting.org_id),
                None,
                Some(json!({"meeting_id": meeting_id, "member_id": me})),
            )?;
        }
        interval_proto(row)
    })
}

fn absence_proto(r: AbsenceRow) -> AppResult<Absence> {
    Ok(Absence {
        reason: AbsenceReason::parse(&r.reason)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored reason {:?}", r.reason)))?,
        member_id: r.member_id,
        note: r.note,
        recorded_by: r.recorded_by,
        recorded_at: utc(r.recorded_at),
    })
}

/// Records (or replaces) why a member of the body is absent (managers).
pub fn put_absence(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    meeting_id: &str,
    member_id: &str,
    req: PutAbsence,
) -> AppResult<Absence> {
    write_tx(conn, |c| {
        let meeting = load(c, meeting_id)?;
        require_manage(c, ctx.principal, &meeting)?;
        if !matches!(
            status_of(&meeting)?,
            MeetingStatus::Draft
                | MeetingStatus::Scheduled
                | MeetingStatus::InProgress
                | MeetingStatus::Ended
        ) {
            return Err(AppError::Conflict {
                code: ErrorCode::Conflict,
                detail: "会议记录已提交或会议已取消，不能再登记缺席。".into(),
            });
        }
        if !member_exists_in_body(c, &meeting, member_id, ctx.today())? {
            return Err(AppError::NotFound);
        }
        let before = store::find_absence(c, meeting_id, member_id)?;
        let row = AbsenceRow {
            meeting_id: meeting_id.to_string(),
            member_id: member_id.to_string(),
            reason: req.reason.as_str().to_string(),
            note: req
                .note
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            recorded_by: ctx.principal.account_id.clone(),
            recorded_at: ctx.now,
        };
        store::put_absence(c, &row)?;
        ctx.audit(
            c,
            "attendance.absence",
            ("meeting", meeting_id),
            Some(&meeting.org_id),
            before.map(|b| json!({"member_id": b.member_id, "reason": b.reason})),
            Some(json!({"member_id": member_id, "reason": row.reason})),
        )?;
        absence_proto(row)
    })
}

/// Every interval and recorded absence of the meeting (its readers).
pub fn list(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting_id: &str,
) -> AppResult<Attendance> {
    let meeting = load(conn, meeting_id)?;
    require_read(conn, principal, &meeting)?;
    Ok(Attendance {
        intervals: store::all_in_meeting(conn, meeting_id)?
            .into_iter()
            .map(interval_proto)
            .collect::<AppResult<_>>()?,
        absences: store::absences(conn, meeting_id)?
            .into_iter()
            .map(absence_proto)
            .collect::<AppResult<_>>()?,
    })
}
