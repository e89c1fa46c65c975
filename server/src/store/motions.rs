//! Motions, election candidates, written opinions, ballots and show-of-hands tallies.
//!
//! One ballot per member per motion is the table's unique key, so a second vote cannot
//! slip in under a race; status changes are guarded by the status they leave, so two
//! closes cannot both compute a result.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{ballots, election_candidates, motion_tallies, motions, written_opinions};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = motions)]
pub struct MotionRow {
    pub id: String,
    pub meeting_id: String,
    pub kind: String,
    pub title: String,
    pub candidate_member_id: Option<String>,
    pub seats: Option<i32>,
    pub voting_method: String,
    pub status: String,
    pub opened_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub quorum_at_open_json: Option<String>,
    pub quorum_at_close_json: Option<String>,
    pub result_json: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = election_candidates)]
pub struct CandidateRow {
    pub id: String,
    pub motion_id: String,
    pub name: String,
    pub member_id: Option<String>,
    pub position: i32,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = written_opinions)]
pub struct WrittenRow {
    pub id: String,
    pub motion_id: String,
    pub member_id: String,
    pub choice: String,
    pub registered_by: String,
    pub registered_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = ballots)]
pub struct BallotRow {
    pub id: String,
    pub motion_id: String,
    pub member_id: String,
    pub choice: Option<String>,
    pub choices_json: Option<String>,
    pub channel: String,
    pub cast_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = motion_tallies)]
pub struct TallyRow {
    pub motion_id: String,
    pub yes: i32,
    pub no: i32,
    pub abstain: i32,
    pub entered_by: String,
    pub entered_at: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, row: &MotionRow) -> QueryResult<()> {
    diesel::insert_into(motions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<MotionRow>> {
    motions::table
        .find(id)
        .select(MotionRow::as_select())
        .first(conn)
        .optional()
}

/// A meeting's motions in creation order (ids are time-ordered).
pub fn of_meeting(conn: &mut AnyConnection, meeting_id: &str) -> QueryResult<Vec<MotionRow>> {
    motions::table
        .filter(motions::meeting_id.eq(meeting_id))
        .select(MotionRow::as_select())
        .order(motions::id.asc())
        .load(conn)
}

/// A meeting's motions after `after` (keyset), at most `limit`.
pub fn page_of_meeting(
    conn: &mut AnyConnection,
    meeting_id: &str,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<MotionRow>> {
    let mut q = motions::table
        .filter(motions::meeting_id.eq(meeting_id))
        .select(MotionRow::as_select())
        .into_boxed();
    if let Some(a) = after {
        q = q.filter(motions::id.gt(a));
    }
    q.order(motions::id.asc()).limit(limit).load(conn)
}

/// draft → open, once.
pub fn open(
    conn: &mut AnyConnection,
    id: &str,
    at: NaiveDateTime,
    quorum_json: &str,
) -> QueryResult<bool> {
    let n = diesel::update(
        motions::table
            .filter(motions::id.eq(id))
            .filter(motions::status.eq("draft")),
    )
    .set((
        motions::status.eq("open"),
        motions::opened_at.eq(at),
        motions::quorum_at_open_json.eq(quorum_json),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// open → closed with the result, once.
pub fn close(
    conn: &mut AnyConnection,
    id: &str,
    at: NaiveDateTime,
    quorum_json: &str,
    result_json: &str,
) -> QueryResult<bool> {
    let n = diesel::update(
        motions::table
            .filter(motions::id.eq(id))
            .filter(motions::status.eq("open")),
    )
    .set((
        motions::status.eq("closed"),
        motions::closed_at.eq(at),
        motions::quorum_at_close_json.eq(quorum_json),
        motions::result_json.eq(result_json),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn insert_candidate(conn: &mut AnyConnection, row: &CandidateRow) -> QueryResult<()> {
    diesel::insert_into(election_candidates::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Candidates in ballot order.
pub fn candidates(conn: &mut AnyConnection, motion_id: &str) -> QueryResult<Vec<CandidateRow>> {
    election_candidates::table
        .filter(election_candidates::motion_id.eq(motion_id))
        .select(CandidateRow::as_select())
        .order(election_candidates::position.asc())
        .load(conn)
}

pub fn insert_written(conn: &mut AnyConnection, row: &WrittenRow) -> QueryResult<()> {
    diesel::insert_into(written_opinions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn written_of(
    conn: &mut AnyConnection,
    motion_id: &str,
    member_id: &str,
) -> QueryResult<Option<WrittenRow>> {
    written_opinions::table
        .filter(written_opinions::motion_id.eq(motion_id))
        .filter(written_opinions::member_id.eq(member_id))
        .select(WrittenRow::as_select())
        .first(conn)
        .optional()
}

pub fn written(conn: &mut AnyConnection, motion_id: &str) -> QueryResult<Vec<WrittenRow>> {
    written_opinions::table
        .filter(written_opinions::motion_id.eq(motion_id))
        .select(WrittenRow::as_select())
        .order(written_opinions::id.asc())
        .load(conn)
}

/// Written opinions of all the motions of a meeting (for the minutes).
pub fn written_of_meeting(
    conn: &mut AnyConnection,
    meeting_id: &str,
) -> QueryResult<Vec<WrittenRow>> {
    let ids = motions::table
        .filter(motions::meeting_id.eq(meeting_id))
        .select(motions::id);
    written_opinions::table
        .filter(written_opinions::motion_id.eq_any(ids))
        .select(WrittenRow::as_select())
        .order(written_opinions::id.asc())
        .load(conn)
}

pub fn count_written(conn: &mut AnyConnection, motion_id: &str) -> QueryResult<i64> {
    written_opinions::table
        .filter(written_opinions::motion_id.eq(motion_id))
        .count()
        .get_result(conn)
}

pub fn insert_ballot(conn: &mut AnyConnection, row: &BallotRow) -> QueryResult<()> {
    diesel::insert_into(ballots::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn ballot_of(
    conn: &mut AnyConnection,
    motion_id: &str,
    member_id: &str,
) -> QueryResult<Option<BallotRow>> {
    ballots::table
        .filter(ballots::motion_id.eq(motion_id))
        .filter(ballots::member_id.eq(member_id))
        .select(BallotRow::as_select())
        .first(conn)
        .optional()
}

pub fn ballots(conn: &mut AnyConnection, motion_id: &str) -> QueryResult<Vec<BallotRow>> {
    ballots::table
        .filter(ballots::motion_id.eq(motion_id))
        .select(BallotRow::as_select())
        .order(ballots::id.asc())
        .load(conn)
}

pub fn count_ballots(conn: &mut AnyConnection, motion_id: &str) -> QueryResult<i64> {
    ballots::table
        .filter(ballots::motion_id.eq(motion_id))
        .count()
        .get_result(conn)
}

pub fn tally(conn: &mut AnyConnection, motion_id: &str) -> QueryResult<Option<TallyRow>> {
    motion_tallies::table
        .find(motion_id)
        .select(TallyRow::as_select())
        .first(conn)
        .optional()
}

/// Enters or replaces the show-of-hands counts (no upsert across both backends through
/// MultiConnection: update, then insert when nothing was there).
pub fn put_tally(conn: &mut AnyConnection, row: &TallyRow) -> QueryResult<()> {
    let n = diesel::update(motion_tallies::table.find(&row.motion_id))
        .set((
            motion_tallies::yes.eq(row.yes),
            motion_tallies::no.eq(row.no),
            motion_tallies::abstain.eq(row.abstain),
            motion_tallies::entered_by.eq(&row.entered_by),
            motion_tallies::entered_at.eq(row.entered_at),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(motion_tallies::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}
