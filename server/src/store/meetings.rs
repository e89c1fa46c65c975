//! Meetings, their observers, the roster frozen at start and exclusions from E.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{
    meeting_exclusions, meeting_observers, meeting_roster, meetings, members, org_posts,
    organizations,
};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = meetings)]
pub struct MeetingRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub held_as: Option<String>,
    pub title: String,
    pub agenda_json: String,
    pub scheduled_start: NaiveDateTime,
    pub scheduled_end: NaiveDateTime,
    pub place: Option<String>,
    pub mode: String,
    pub host_member_id: Option<String>,
    pub recorder_member_id: Option<String>,
    pub lecturer: Option<String>,
    pub status: String,
    pub cancel_reason: Option<String>,
    pub started_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub thresholds_json: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

/// The editable fields of a draft or scheduled meeting; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = meetings)]
pub struct MeetingChanges {
    pub held_as: Option<Option<String>>,
    pub title: Option<String>,
    pub agenda_json: Option<String>,
    pub scheduled_start: Option<NaiveDateTime>,
    pub scheduled_end: Option<NaiveDateTime>,
    pub place: Option<Option<String>>,
    pub mode: Option<String>,
    pub host_member_id: Option<Option<String>>,
    pub recorder_member_id: Option<Option<String>>,
    pub lecturer: Option<Option<String>>,
}

pub fn insert(conn: &mut AnyConnection, row: &MeetingRow) -> QueryResult<()> {
    diesel::insert_into(meetings::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<MeetingRow>> {
    meetings::table
        .find(id)
        .select(MeetingRow::as_select())
        .first(conn)
        .optional()
}

/// Applies `changes` if the row is still at `version`; false when someone changed it
/// first (or it is gone).
pub fn update_fields(
    conn: &mut AnyConnection,
    id: &str,
    version: i32,
    changes: &MeetingChanges,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        meetings::table
            .filter(meetings::id.eq(id))
            .filter(meetings::version.eq(version)),
    )
    .set((
        changes,
        meetings::updated_at.eq(now),
        meetings::version.eq(version + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// What a status change writes besides the status.
#[derive(Debug, Clone, Default)]
pub struct StatusChange {
    pub cancel_reason: Option<String>,
    pub started_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub thresholds_json: Option<String>,
}

/// Moves the meeting from `from` to `to` if it is still in `from` at `version`; false
/// when a concurrent request moved or edited it first. Fields of `extra` left `None`
/// keep their value.
pub fn set_status(
    conn: &mut AnyConnection,
    id: &str,
    version: i32,
    from: &str,
    to: &str,
    extra: &StatusChange,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let target = meetings::table
        .filter(meetings::id.eq(id))
        .filter(meetings::version.eq(version))
        .filter(meetings::status.eq(from));
    let n = diesel::update(target)
        .set((
            meetings::status.eq(to),
            meetings::updated_at.eq(now),
            meetings::version.eq(version + 1),
        ))
        .execute(conn)?;
    if n != 1 {
        return Ok(false);
    }
    if let Some(reason) = &extra.cancel_reason {
        diesel::update(meetings::table.find(id))
            .set(meetings::cancel_reason.eq(reason))
            .execute(conn)?;
    }
    if let Some(at) = extra.started_at {
        diesel::update(meetings::table.find(id))
            .set(meetings::started_at.eq(at))
            .execute(conn)?;
    }
    if let Some(at) = extra.ended_at {
        diesel::update(meetings::table.find(id))
            .set(meetings::ended_at.eq(at))
            .execute(conn)?;
    }
    if let Some(t) = &extra.thresholds_json {
        diesel::update(meetings::table.find(id))
            .set(meetings::thresholds_json.eq(t))
            .execute(conn)?;
    }
    Ok(true)
}

/// Filters of an organization's meeting list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub org_id: String,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub kind: Option<String>,
    pub status: Option<String>,
    /// Keyset: meetings after (scheduled_start, id).
    pub after: Option<(NaiveDateTime, String)>,
    pub limit: i64,
}

/// Meetings of one organization by scheduled start, then id. `from`/`to` select meetings
/// starting in `[from, to)`.
pub fn list(conn: &mut AnyConnection, f: &ListFilter) -> QueryResult<Vec<MeetingRow>> {
    let mut q = meetings::table
        .filter(meetings::org_id.eq(&f.org_id))
        .select(MeetingRow::as_select())
        .into_boxed();
    if let Some(from) = f.from {
        q = q.filter(meetings::scheduled_start.ge(from));
    }
    if let Some(to) = f.to {
        q = q.filter(meetings::scheduled_start.lt(to));
    }
    if let Some(kind) = &f.kind {
        q = q.filter(meetings::kind.eq(kind));
    }
    if let Some(status) = &f.status {
        q = q.filter(meetings::status.eq(status));
    }
    if let Some((start, id)) = &f.after {
        q = q.filter(
            meetings::scheduled_start
                .gt(*start)
                .or(meetings::scheduled_start
                    .eq(*start)
                    .and(meetings::id.gt(id))),
        );
    }
    q.order((meetings::scheduled_start.asc(), meetings::id.asc()))
        .limit(f.limit)
        .load(conn)
}

// --- the meeting's body -------------------------------------------------------------

/// A person of the meeting's body with what decides their standing.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct BodyMember {
    pub id: String,
    pub name: String,
    pub status: String,
    pub discipline_until: Option<chrono::NaiveDate>,
    pub rights_suspended: bool,
    pub membership_stopped: bool,
}

type BodyColumns = (
    members::id,
    members::name,
    members::status,
    members::discipline_until,
    members::rights_suspended,
    members::membership_stopped,
);

const BODY_COLUMNS: BodyColumns = (
    members::id,
    members::name,
    members::status,
    members::discipline_until,
    members::rights_suspended,
    members::membership_stopped,
);

/// Everyone whose formal relationship is the branch `org_id`, which includes the members
/// of its party groups (they keep `org_id` = the branch), plus anyone placed in one of
/// its party groups from elsewhere. By name, then id.
pub fn branch_people(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Vec<BodyMember>> {
    let groups = organizations::table
        .filter(organizations::parent_id.eq(org_id))
        .filter(organizations::kind.eq("party_group"))
        .select(organizations::id.nullable());
    members::table
        .filter(
            members::org_id
                .eq(org_id)
                .or(members::party_group_id.eq_any(groups)),
        )
        .select(BODY_COLUMNS)
        .order((members::name.asc(), members::id.asc()))
        .load(conn)
}

/// The members placed in the party group `group_id`.
pub fn group_people(conn: &mut AnyConnection, group_id: &str) -> QueryResult<Vec<BodyMember>> {
    members::table
        .filter(members::party_group_id.eq(group_id))
        .select(BODY_COLUMNS)
        .order((members::name.asc(), members::id.asc()))
        .load(conn)
}

/// Holders of a current committee post of `org_id` on `today` (group leaders are not
/// committee members), each once.
pub fn committee_people(
    conn: &mut AnyConnection,
    org_id: &str,
    today: chrono::NaiveDate,
) -> QueryResult<Vec<BodyMember>> {
    let holders = org_posts::table
        .filter(org_posts::org_id.eq(org_id))
        .filter(org_posts::post.ne("group_leader"))
        .filter(org_posts::since.le(today))
        .filter(org_posts::until.is_null().or(org_posts::until.ge(today)))
        .select(org_posts::member_id);
    members::table
        .filter(members::id.eq_any(holders))
        .select(BODY_COLUMNS)
        .order((members::name.asc(), members::id.asc()))
        .load(conn)
}

// --- roster ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = meeting_roster)]
pub struct RosterRow {
    pub meeting_id: String,
    pub member_id: String,
    pub name: String,
    pub quorum_status: String,
    pub is_committee: bool,
}

pub fn insert_roster(conn: &mut AnyConnection, rows: &[RosterRow]) -> QueryResult<()> {
    // One statement per row: MultiConnection has no portable batch insert, and a body is
    // at most a few hundred people.
    for row in rows {
        diesel::insert_into(meeting_roster::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// The roster frozen at start, by name then member id; empty before start.
pub fn roster(conn: &mut AnyConnection, meeting_id: &str) -> QueryResult<Vec<RosterRow>> {
    meeting_roster::table
        .filter(meeting_roster::meeting_id.eq(meeting_id))
        .select(RosterRow::as_select())
        .order((meeting_roster::name.asc(), meeting_roster::member_id.asc()))
        .load(conn)
}

pub fn roster_entry(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
) -> QueryResult<Option<RosterRow>> {
    meeting_roster::table
        .find((meeting_id, member_id))
        .select(RosterRow::as_select())
        .first(conn)
        .optional()
}

// --- observers ------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = meeting_observers)]
pub struct ObserverRow {
    pub id: String,
    pub meeting_id: String,
    pub kind: String,
    pub name: String,
    pub member_id: Option<String>,
    pub account_id: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert_observer(conn: &mut AnyConnection, row: &ObserverRow) -> QueryResult<()> {
    diesel::insert_into(meeting_observers::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn observers(conn: &mut AnyConnection, meeting_id: &str) -> QueryResult<Vec<ObserverRow>> {
    meeting_observers::table
        .filter(meeting_observers::meeting_id.eq(meeting_id))
        .select(ObserverRow::as_select())
        .order(meeting_observers::id.asc())
        .load(conn)
}

/// Whether the member or account is an invited observer of the meeting.
pub fn is_observer(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: Option<&str>,
    account_id: &str,
) -> QueryResult<bool> {
    let mut q = meeting_observers::table
        .filter(meeting_observers::meeting_id.eq(meeting_id))
        .into_boxed();
    q = match member_id {
        Some(m) => q.filter(
            meeting_observers::member_id
                .eq(m)
                .or(meeting_observers::account_id.eq(account_id)),
        ),
        None => q.filter(meeting_observers::account_id.eq(account_id)),
    };
    let n: i64 = q.count().get_result(conn)?;
    Ok(n > 0)
}

// --- exclusions -----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = meeting_exclusions)]
pub struct ExclusionRow {
    pub id: String,
    pub meeting_id: String,
    pub member_id: String,
    pub reason: String,
    pub note: Option<String>,
    pub upper_approved_by: Option<String>,
    pub upper_approved_at: Option<NaiveDateTime>,
    pub congress_approved_by: Option<String>,
    pub congress_approved_at: Option<NaiveDateTime>,
    pub rejected_by: Option<String>,
    pub rejected_at: Option<NaiveDateTime>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

pub fn insert_exclusion(conn: &mut AnyConnection, row: &ExclusionRow) -> QueryResult<()> {
    diesel::insert_into(meeting_exclusions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_exclusion(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<ExclusionRow>> {
    meeting_exclusions::table
        .find(id)
        .select(ExclusionRow::as_select())
        .first(conn)
        .optional()
}

pub fn exclusion_of(
    conn: &mut AnyConnection,
    meeting_id: &str,
    member_id: &str,
) -> QueryResult<Option<ExclusionRow>> {
    meeting_exclusions::table
        .filter(meeting_exclusions::meeting_id.eq(meeting_id))
        .filter(meeting_exclusions::member_id.eq(member_id))
        .select(ExclusionRow::as_select())
        .first(conn)
        .optional()
}

pub fn exclusions(conn: &mut AnyConnection, meeting_id: &str) -> QueryResult<Vec<ExclusionRow>> {
    meeting_exclusions::table
        .filter(meeting_exclusions::meeting_id.eq(meeting_id))
        .select(ExclusionRow::as_select())
        .order(meeting_exclusions::id.asc())
        .load(conn)
}

/// Records the upper organization's approval unless already given or rejected.
pub fn approve_upper(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        meeting_exclusions::table
            .filter(meeting_exclusions::id.eq(id))
            .filter(meeting_exclusions::upper_approved_at.is_null())
            .filter(meeting_exclusions::rejected_at.is_null()),
    )
    .set((
        meeting_exclusions::upper_approved_by.eq(by),
        meeting_exclusions::upper_approved_at.eq(at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Records the congress's approval unless already given or rejected.
pub fn approve_congress(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        meeting_exclusions::table
            .filter(meeting_exclusions::id.eq(id))
            .filter(meeting_exclusions::congress_approved_at.is_null())
            .filter(meeting_exclusions::rejected_at.is_null()),
    )
    .set((
        meeting_exclusions::congress_approved_by.eq(by),
        meeting_exclusions::congress_approved_at.eq(at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn reject(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        meeting_exclusions::table
            .filter(meeting_exclusions::id.eq(id))
            .filter(meeting_exclusions::rejected_at.is_null()),
    )
    .set((
        meeting_exclusions::rejected_by.eq(by),
        meeting_exclusions::rejected_at.eq(at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
