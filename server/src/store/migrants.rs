//! SQL for the 流动党员 registry: times away, their contacts, and what the secretary's
//! overview reads beside them (last attendance, last app activity).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{
    accounts, attendance_intervals, members, migrant_contacts, migrant_records, org_closure,
    organizations, refresh_tokens,
};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = migrant_records)]
pub struct MigrantRow {
    pub id: String,
    pub member_id: String,
    pub direction: String,
    pub home_org_id: String,
    pub host_org_id: Option<String>,
    pub destination: String,
    pub work_unit: Option<String>,
    /// Encrypted (PII, bound to the row id).
    pub contact: Option<String>,
    pub since: chrono::NaiveDate,
    pub card_number: Option<String>,
    pub last_contact_at: Option<NaiveDateTime>,
    pub ended_on: Option<chrono::NaiveDate>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    pub host_status: String,
    pub host_accepted_at: Option<NaiveDateTime>,
    pub host_accepted_by: Option<String>,
    pub lost_contact_reviewed_at: Option<NaiveDateTime>,
    pub lost_contact_reviewed_by: Option<String>,
    pub end_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = migrant_contacts)]
pub struct ContactRow {
    pub id: String,
    pub record_id: String,
    pub contacted_at: NaiveDateTime,
    pub channel: String,
    pub note: Option<String>,
    pub recorded_by: String,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, row: &MigrantRow) -> QueryResult<()> {
    diesel::insert_into(migrant_records::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<MigrantRow>> {
    migrant_records::table
        .find(id)
        .select(MigrantRow::as_select())
        .first(conn)
        .optional()
}

/// The member's time away that is under way, if any.
pub fn open_for_member(
    conn: &mut AnyConnection,
    member_id: &str,
) -> QueryResult<Option<MigrantRow>> {
    migrant_records::table
        .filter(migrant_records::member_id.eq(member_id))
        .filter(migrant_records::ended_on.is_null())
        .select(MigrantRow::as_select())
        .first(conn)
        .optional()
}

/// Bumps the version if it is still `version`; 0 rows when another change won.
pub fn touch(
    conn: &mut AnyConnection,
    id: &str,
    version: i32,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        migrant_records::table
            .filter(migrant_records::id.eq(id))
            .filter(migrant_records::version.eq(version)),
    )
    .set((
        migrant_records::version.eq(version + 1),
        migrant_records::updated_at.eq(now),
    ))
    .execute(conn)
}

pub fn accept_at_host(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        migrant_records::table
            .filter(migrant_records::id.eq(id))
            .filter(migrant_records::host_status.eq("pending")),
    )
    .set((
        migrant_records::host_status.eq("accepted"),
        migrant_records::host_accepted_at.eq(now),
        migrant_records::host_accepted_by.eq(by),
    ))
    .execute(conn)
}

pub fn set_last_contact(
    conn: &mut AnyConnection,
    id: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        migrant_records::table
            .filter(migrant_records::id.eq(id))
            .filter(
                migrant_records::last_contact_at
                    .is_null()
                    .or(migrant_records::last_contact_at.lt(at)),
            ),
    )
    .set(migrant_records::last_contact_at.eq(at))
    .execute(conn)
}

pub fn mark_reviewed(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(migrant_records::table.find(id))
        .set((
            migrant_records::lost_contact_reviewed_at.eq(now),
            migrant_records::lost_contact_reviewed_by.eq(by),
        ))
        .execute(conn)
}

pub fn end(
    conn: &mut AnyConnection,
    id: &str,
    on: chrono::NaiveDate,
    reason: &str,
) -> QueryResult<usize> {
    diesel::update(
        migrant_records::table
            .filter(migrant_records::id.eq(id))
            .filter(migrant_records::ended_on.is_null()),
    )
    .set((
        migrant_records::ended_on.eq(on),
        migrant_records::end_reason.eq(reason),
    ))
    .execute(conn)
}

pub fn insert_contact(conn: &mut AnyConnection, row: &ContactRow) -> QueryResult<()> {
    diesel::insert_into(migrant_contacts::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A record's contacts, newest first.
pub fn contacts(conn: &mut AnyConnection, record_id: &str) -> QueryResult<Vec<ContactRow>> {
    migrant_contacts::table
        .filter(migrant_contacts::record_id.eq(record_id))
        .order((
            migrant_contacts::contacted_at.desc(),
            migrant_contacts::id.desc(),
        ))
        .select(ContactRow::as_select())
        .load(conn)
}

/// The records of one side of `org_id`'s subtree: members away from it (`host` false) or
/// hosted by it (`host` true), by id after `after`, at most `limit`.
pub fn list(
    conn: &mut AnyConnection,
    org_id: &str,
    host: bool,
    include_ended: bool,
    after: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<MigrantRow>> {
    let mut q = migrant_records::table
        .select(MigrantRow::as_select())
        .into_boxed();
    q = if host {
        q.filter(
            migrant_records::host_org_id.eq_any(
                org_closure::table
                    .filter(org_closure::ancestor_id.eq(org_id.to_string()))
                    .select(org_closure::descendant_id.nullable()),
            ),
        )
    } else {
        q.filter(
            migrant_records::home_org_id.eq_any(
                org_closure::table
                    .filter(org_closure::ancestor_id.eq(org_id.to_string()))
                    .select(org_closure::descendant_id),
            ),
        )
    };
    if !include_ended {
        q = q.filter(migrant_records::ended_on.is_null());
    }
    if let Some(a) = after {
        q = q.filter(migrant_records::id.gt(a.to_string()));
    }
    q.order(migrant_records::id.asc()).limit(limit).load(conn)
}

/// Whether `member_id` is hosted by `org_id` now.
pub fn is_hosted(conn: &mut AnyConnection, org_id: &str, member_id: &str) -> QueryResult<bool> {
    let n: i64 = migrant_records::table
        .filter(migrant_records::host_org_id.eq(org_id))
        .filter(migrant_records::member_id.eq(member_id))
        .filter(migrant_records::host_status.eq("accepted"))
        .filter(migrant_records::ended_on.is_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// When the member last attended a meeting (an attendance interval opened).
pub fn last_attendance(
    conn: &mut AnyConnection,
    member_id: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    attendance_intervals::table
        .filter(attendance_intervals::member_id.eq(member_id))
        .select(diesel::dsl::max(attendance_intervals::last_seen_at))
        .first(conn)
}

/// When the member's account last logged in or refreshed its token (each issues a
/// refresh token).
pub fn last_app_activity(
    conn: &mut AnyConnection,
    member_id: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    refresh_tokens::table
        .inner_join(accounts::table.on(accounts::id.eq(refresh_tokens::account_id)))
        .filter(accounts::member_id.eq(member_id))
        .select(diesel::dsl::max(refresh_tokens::issued_at))
        .first(conn)
}

/// A member's name, branch and status, for the registry.
pub fn member_facts(
    conn: &mut AnyConnection,
    member_id: &str,
) -> QueryResult<Option<(String, String, String)>> {
    members::table
        .find(member_id)
        .select((members::name, members::org_id, members::status))
        .first(conn)
        .optional()
}

/// An organization's name and kind.
pub fn org_facts(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Option<(String, String)>> {
    organizations::table
        .find(org_id)
        .select((organizations::name, organizations::kind))
        .first(conn)
        .optional()
}

/// The members hosted by `org_id` now, with what decides their standing, by name.
pub fn hosted_people(
    conn: &mut AnyConnection,
    org_id: &str,
) -> QueryResult<Vec<crate::store::meetings::BodyMember>> {
    let hosted = migrant_records::table
        .filter(migrant_records::host_org_id.eq(org_id.to_string()))
        .filter(migrant_records::host_status.eq("accepted"))
        .filter(migrant_records::ended_on.is_null())
        .select(migrant_records::member_id);
    members::table
        .filter(members::id.eq_any(hosted))
        .select((
            members::id,
            members::name,
            members::status,
            members::discipline_until,
            members::rights_suspended,
            members::membership_stopped,
        ))
        .order((members::name.asc(), members::id.asc()))
        .load(conn)
}
