//! The minutes of a meeting (one row per meeting, created on first write), the speakers'
//! points and attachment metadata.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{attachments, minute_points, minutes};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = minutes)]
pub struct MinutesRow {
    pub meeting_id: String,
    pub summary: Option<String>,
    pub resolutions_json: String,
    pub host_signed_by: Option<String>,
    pub host_signed_at: Option<NaiveDateTime>,
    pub recorder_signed_by: Option<String>,
    pub recorder_signed_at: Option<NaiveDateTime>,
    pub submitted_by: Option<String>,
    pub submitted_at: Option<NaiveDateTime>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub review_comment: Option<String>,
    pub updated_at: NaiveDateTime,
    pub quorum_at_end_json: Option<String>,
}

impl MinutesRow {
    /// An empty record, as it is before anything is written.
    pub fn empty(meeting_id: &str, now: NaiveDateTime) -> Self {
        Self {
            meeting_id: meeting_id.to_owned(),
            summary: None,
            resolutions_json: "[]".into(),
            host_signed_by: None,
            host_signed_at: None,
            recorder_signed_by: None,
            recorder_signed_at: None,
            submitted_by: None,
            submitted_at: None,
            reviewed_by: None,
            reviewed_at: None,
            review_comment: None,
            updated_at: now,
            quorum_at_end_json: None,
        }
    }
}

pub fn find(conn: &mut AnyConnection, meeting_id: &str) -> QueryResult<Option<MinutesRow>> {
    minutes::table
        .find(meeting_id)
        .select(MinutesRow::as_select())
        .first(conn)
        .optional()
}

/// The row, inserted empty first if there is none (inside the caller's write transaction).
pub fn ensure(
    conn: &mut AnyConnection,
    meeting_id: &str,
    now: NaiveDateTime,
) -> QueryResult<MinutesRow> {
    if let Some(row) = find(conn, meeting_id)? {
        return Ok(row);
    }
    let row = MinutesRow::empty(meeting_id, now);
    diesel::insert_into(minutes::table)
        .values(&row)
        .execute(conn)?;
    Ok(row)
}

/// Writes every column of the row back.
pub fn save(conn: &mut AnyConnection, row: &MinutesRow) -> QueryResult<()> {
    diesel::update(minutes::table.find(&row.meeting_id))
        .set((
            minutes::summary.eq(&row.summary),
            minutes::resolutions_json.eq(&row.resolutions_json),
            minutes::host_signed_by.eq(&row.host_signed_by),
            minutes::host_signed_at.eq(row.host_signed_at),
            minutes::recorder_signed_by.eq(&row.recorder_signed_by),
            minutes::recorder_signed_at.eq(row.recorder_signed_at),
            minutes::submitted_by.eq(&row.submitted_by),
            minutes::submitted_at.eq(row.submitted_at),
            minutes::reviewed_by.eq(&row.reviewed_by),
            minutes::reviewed_at.eq(row.reviewed_at),
            minutes::review_comment.eq(&row.review_comment),
            minutes::updated_at.eq(row.updated_at),
            minutes::quorum_at_end_json.eq(&row.quorum_at_end_json),
        ))
        .execute(conn)
        .map(|_| ())
}

/// `(meeting id, quorum at end)` of the submitted minutes of `meeting_ids`.
pub fn submitted_quorums(
    conn: &mut AnyConnection,
    meeting_ids: &[String],
) -> QueryResult<Vec<(String, Option<String>)>> {
    let mut out = Vec::new();
    // Bounded IN lists: SQLite's default limit on bound parameters is well above this.
    for chunk in meeting_ids.chunks(500) {
        out.extend(
            minutes::table
                .filter(minutes::meeting_id.eq_any(chunk))
                .filter(minutes::submitted_at.is_not_null())
                .select((minutes::meeting_id, minutes::quorum_at_end_json))
                .load::<(String, Option<String>)>(conn)?,
        );
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = minute_points)]
pub struct PointRow {
    pub id: String,
    pub meeting_id: String,
    pub seq: i32,
    pub speaker_member_id: Option<String>,
    pub speaker_name: String,
    pub agenda_item: Option<i32>,
    pub text: String,
    pub recorded_by: String,
    pub created_at: NaiveDateTime,
}

pub fn points(conn: &mut AnyConnection, meeting_id: &str) -> QueryResult<Vec<PointRow>> {
    minute_points::table
        .filter(minute_points::meeting_id.eq(meeting_id))
        .select(PointRow::as_select())
        .order(minute_points::seq.asc())
        .load(conn)
}

/// The next sequence number (1 for the first point). The unique key (meeting, seq) makes
/// a concurrent duplicate fail rather than interleave.
pub fn next_seq(conn: &mut AnyConnection, meeting_id: &str) -> QueryResult<i32> {
    let max: Option<i32> = minute_points::table
        .filter(minute_points::meeting_id.eq(meeting_id))
        .select(diesel::dsl::max(minute_points::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

pub fn insert_point(conn: &mut AnyConnection, row: &PointRow) -> QueryResult<()> {
    diesel::insert_into(minute_points::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = attachments)]
pub struct AttachmentRow {
    pub id: String,
    pub owner_type: String,
    pub owner_id: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub storage_key: String,
    pub uploaded_by: String,
    pub created_at: NaiveDateTime,
}

pub fn insert_attachment(conn: &mut AnyConnection, row: &AttachmentRow) -> QueryResult<()> {
    diesel::insert_into(attachments::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_attachment(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<AttachmentRow>> {
    attachments::table
        .find(id)
        .select(AttachmentRow::as_select())
        .first(conn)
        .optional()
}

pub fn attachments_of(
    conn: &mut AnyConnection,
    owner_type: &str,
    owner_id: &str,
) -> QueryResult<Vec<AttachmentRow>> {
    attachments::table
        .filter(attachments::owner_type.eq(owner_type))
        .filter(attachments::owner_id.eq(owner_id))
        .select(AttachmentRow::as_select())
        .order(attachments::id.asc())
        .load(conn)
}
