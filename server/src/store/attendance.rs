//! Attendance intervals and recorded absences of meetings.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{attendance_intervals, meeting_absences};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = attendance_intervals)]
pub struct IntervalRow {
    pub id: String,
    pub meeting_id: String,
    pub member_id: String,
    /// `in_person` or `remote`.
    pub mode: String,
    /// `secretary`, `qr` or `signaling`.
    pub source: String,
    pub media_proven: bool,
    pub opened_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub close_reason: Option<String>,
    pub recorded_by: Option<String>,
}

/// Inserts an interval. Fails with a unique violation when the member already has an open
/// interval of the same mode in the meeting (index `attendance_one_open`).
pub fn insert(conn: &mut AnyConnection, row: &IntervalRow) -> QueryResult<()> {
    diesel::insert_into(attendance_intervals::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<IntervalRow>> {
    attendance_intervals::table
        .find(id)
        .select(IntervalRow::as_select())
        .first(conn)
        .optional()
}

/// The member's open interval of `mode`, if any.
pub fn open_of(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
    mode: &str,
) -> QueryResult<Option<IntervalRow>> {
    attendance_intervals::table
        .filter(attendance_intervals::meeting_id.eq(meeting_id))
        .filter(attendance_intervals::member_id.eq(member_id))
        .filter(attendance_intervals::mode.eq(mode))
        .filter(attendance_intervals::closed_at.is_null())
        .select(IntervalRow::as_select())
        .first(conn)
        .optional()
}

/// Every open interval of the meeting, oldest first.
pub fn open_in_meeting(
    conn: &mut AnyConnection,
    meeting_id: &str,
) -> QueryResult<Vec<IntervalRow>> {
    attendance_intervals::table
        .filter(attendance_intervals::meeting_id.eq(meeting_id))
        .filter(attendance_intervals::closed_at.is_null())
        .select(IntervalRow::as_select())
        .order((
            attendance_intervals::opened_at.asc(),
            attendance_intervals::id.asc(),
        ))
        .load(conn)
}

/// Every interval of the meeting, by member then opening time.
pub fn all_in_meeting(conn: &mut AnyConnection, meeting_id: &str) -> QueryResult<Vec<IntervalRow>> {
    attendance_intervals::table
        .filter(attendance_intervals::meeting_id.eq(meeting_id))
        .select(IntervalRow::as_select())
        .order((
            attendance_intervals::member_id.asc(),
            attendance_intervals::opened_at.asc(),
            attendance_intervals::id.asc(),
        ))
        .load(conn)
}

/// Moves `last_seen_at` of an open interval forward; false when it is closed or unknown.
pub fn touch(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        attendance_intervals::table
            .filter(attendance_intervals::id.eq(id))
            .filter(attendance_intervals::closed_at.is_null())
            .filter(attendance_intervals::last_seen_at.lt(now)),
    )
    .set(attendance_intervals::last_seen_at.eq(now))
    .execute(conn)?;
    if n == 1 {
        return Ok(true);
    }
    // A heartbeat at or before the last one changes nothing but is not an error.
    let open: i64 = attendance_intervals::table
        .filter(attendance_intervals::id.eq(id))
        .filter(attendance_intervals::closed_at.is_null())
        .count()
        .get_result(conn)?;
    Ok(open == 1)
}

/// Moves `last_seen_at` of the open intervals among `ids` to `now` (never backwards);
/// returns how many moved.
pub fn touch_many(
    conn: &mut AnyConnection,
    ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        attendance_intervals::table
            .filter(attendance_intervals::id.eq_any(ids))
            .filter(attendance_intervals::closed_at.is_null())
            .filter(attendance_intervals::last_seen_at.lt(now)),
    )
    .set(attendance_intervals::last_seen_at.eq(now))
    .execute(conn)
}

/// The member's signaling interval in the meeting closed most recently, if it closed at
/// or after `since`.
pub fn recently_closed_signaling(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
    since: NaiveDateTime,
) -> QueryResult<Option<IntervalRow>> {
    attendance_intervals::table
        .filter(attendance_intervals::meeting_id.eq(meeting_id))
        .filter(attendance_intervals::member_id.eq(member_id))
        .filter(attendance_intervals::source.eq("signaling"))
        .filter(attendance_intervals::closed_at.ge(since))
        .select(IntervalRow::as_select())
        .order(attendance_intervals::closed_at.desc())
        .first(conn)
        .optional()
}

/// Opens a closed interval again (the gap since it closed is merged into it).
pub fn reopen(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(
        attendance_intervals::table
            .filter(attendance_intervals::id.eq(id))
            .filter(attendance_intervals::closed_at.is_not_null()),
    )
    .set((
        attendance_intervals::closed_at.eq(None::<NaiveDateTime>),
        attendance_intervals::close_reason.eq(None::<String>),
        attendance_intervals::last_seen_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn mark_media_proven(conn: &mut AnyConnection, id: &str) -> QueryResult<bool> {
    let n = diesel::update(
        attendance_intervals::table
            .filter(attendance_intervals::id.eq(id))
            .filter(attendance_intervals::closed_at.is_null()),
    )
    .set(attendance_intervals::media_proven.eq(true))
    .execute(conn)?;
    Ok(n == 1)
}

/// Closes one open interval at `at` (never before it opened).
pub fn close(
    conn: &mut AnyConnection,
    row: &IntervalRow,
    at: NaiveDateTime,
    reason: &str,
) -> QueryResult<bool> {
    let at = at.max(row.opened_at);
    let n = diesel::update(
        attendance_intervals::table
            .filter(attendance_intervals::id.eq(&row.id))
            .filter(attendance_intervals::closed_at.is_null()),
    )
    .set((
        attendance_intervals::closed_at.eq(at),
        attendance_intervals::close_reason.eq(reason),
        attendance_intervals::last_seen_at.eq(at.max(row.last_seen_at)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Open intervals opened by the signaling bridge whose last heartbeat is older than
/// `older_than`, in any meeting.
pub fn stale_signaling(
    conn: &mut AnyConnection,
    older_than: NaiveDateTime,
) -> QueryResult<Vec<IntervalRow>> {
    attendance_intervals::table
        .filter(attendance_intervals::closed_at.is_null())
        .filter(attendance_intervals::source.eq("signaling"))
        .filter(attendance_intervals::last_seen_at.lt(older_than))
        .select(IntervalRow::as_select())
        .order(attendance_intervals::id.asc())
        .load(conn)
}

// --- absences -------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = meeting_absences)]
pub struct AbsenceRow {
    pub meeting_id: String,
    pub member_id: String,
    pub reason: String,
    pub note: Option<String>,
    pub recorded_by: String,
    pub recorded_at: NaiveDateTime,
}

pub fn find_absence(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
) -> QueryResult<Option<AbsenceRow>> {
    meeting_absences::table
        .find((meeting_id, member_id))
        .select(AbsenceRow::as_select())
        .first(conn)
        .optional()
}

/// Records or replaces the absence of a member (no portable upsert on MultiConnection:
/// the caller's write transaction makes the read-then-write safe).
pub fn put_absence(conn: &mut AnyConnection, row: &AbsenceRow) -> QueryResult<()> {
    let n = diesel::update(meeting_absences::table.find((&row.meeting_id, &row.member_id)))
        .set((
            meeting_absences::reason.eq(&row.reason),
            meeting_absences::note.eq(&row.note),
            meeting_absences::recorded_by.eq(&row.recorded_by),
            meeting_absences::recorded_at.eq(row.recorded_at),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(meeting_absences::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn absences(conn: &mut AnyConnection, meeting_id: &str) -> QueryResult<Vec<AbsenceRow>> {
    meeting_absences::table
        .filter(meeting_absences::meeting_id.eq(meeting_id))
        .select(AbsenceRow::as_select())
        .order(meeting_absences::member_id.asc())
        .load(conn)
}
