//! Compliance rule versions and the facts the calendar reads in bulk for a subtree:
//! organizations, full-member and committee-post counts, and the meetings that may count.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::count_star;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{
    compliance_rules, meetings, members, org_closure, org_posts, organizations,
};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = compliance_rules)]
pub struct RulesRow {
    pub id: String,
    pub org_id: Option<String>,
    pub version: i32,
    pub rules_json: String,
    pub effective_from: NaiveDate,
    pub created_by: String,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, row: &RulesRow) -> QueryResult<()> {
    diesel::insert_into(compliance_rules::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// The highest version an organization has stored (0 when none).
pub fn last_version(conn: &mut AnyConnection, org_id: &str) -> QueryResult<i32> {
    let v: Option<i32> = compliance_rules::table
        .filter(compliance_rules::org_id.eq(org_id))
        .select(diesel::dsl::max(compliance_rules::version))
        .first(conn)?;
    Ok(v.unwrap_or(0))
}

/// Every version in force on `on` (effective from that day or earlier), any organization.
pub fn effective_on(conn: &mut AnyConnection, on: NaiveDate) -> QueryResult<Vec<RulesRow>> {
    compliance_rules::table
        .filter(compliance_rules::effective_from.le(on))
        .filter(compliance_rules::org_id.is_not_null())
        .select(RulesRow::as_select())
        .load(conn)
}

/// `(ancestor, descendant, distance)` for the descendants given and the ancestors given.
pub fn closure_between(
    conn: &mut AnyConnection,
    ancestors: &[String],
    descendants: &[String],
) -> QueryResult<Vec<(String, String, i32)>> {
    let mut out = Vec::new();
    if ancestors.is_empty() {
        return Ok(out);
    }
    for chunk in descendants.chunks(400) {
        out.extend(
            org_closure::table
                .filter(org_closure::ancestor_id.eq_any(ancestors))
                .filter(org_closure::descendant_id.eq_any(chunk))
                .select((
                    org_closure::ancestor_id,
                    org_closure::descendant_id,
                    org_closure::distance,
                ))
                .load::<(String, String, i32)>(conn)?,
        );
    }
    Ok(out)
}

/// An organization of the subtree.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct SubtreeOrg {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<String>,
    pub status: String,
}

/// Every organization in the subtree of `root` (itself included).
pub fn subtree(conn: &mut AnyConnection, root: &str) -> QueryResult<Vec<SubtreeOrg>> {
    org_closure::table
        .inner_join(organizations::table.on(organizations::id.eq(org_closure::descendant_id)))
        .filter(org_closure::ancestor_id.eq(root))
        .select((
            organizations::id,
            organizations::name,
            organizations::kind,
            organizations::parent_id,
            organizations::status,
        ))
        .order(organizations::id.asc())
        .load(conn)
}

/// Full members per branch, for the branches given.
pub fn full_members(
    conn: &mut AnyConnection,
    org_ids: &[String],
) -> QueryResult<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for chunk in org_ids.chunks(400) {
        out.extend(
            members::table
                .filter(members::org_id.eq_any(chunk))
                .filter(members::status.eq("full"))
                .group_by(members::org_id)
                .select((members::org_id, count_star()))
                .load::<(String, i64)>(conn)?,
        );
    }
    Ok(out)
}

/// `(org, member)` of committee posts (not group leaders) held on `on`.
pub fn committee_posts(
    conn: &mut AnyConnection,
    org_ids: &[String],
    on: NaiveDate,
) -> QueryResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for chunk in org_ids.chunks(400) {
        out.extend(
            org_posts::table
                .filter(org_posts::org_id.eq_any(chunk))
                .filter(org_posts::post.ne("group_leader"))
                .filter(org_posts::since.le(on))
                .filter(org_posts::until.is_null().or(org_posts::until.ge(on)))
                .select((org_posts::org_id, org_posts::member_id))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(out)
}

/// A meeting that may count toward the calendar.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct MeetingFact {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub held_as: Option<String>,
    pub started_at: Option<NaiveDateTime>,
}

/// Meetings of the organizations given whose minutes were submitted (or reviewed) and
/// that started in `[from, to)`.
pub fn submitted_meetings(
    conn: &mut AnyConnection,
    org_ids: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<MeetingFact>> {
    let mut out = Vec::new();
    for chunk in org_ids.chunks(400) {
        out.extend(
            meetings::table
                .filter(meetings::org_id.eq_any(chunk))
                .filter(meetings::status.eq_any(["minutes_submitted", "reviewed"]))
                .filter(meetings::started_at.ge(from))
                .filter(meetings::started_at.lt(to))
                .select((
                    meetings::id,
                    meetings::org_id,
                    meetings::kind,
                    meetings::held_as,
                    meetings::started_at,
                ))
                .order(meetings::id.asc())
                .load::<MeetingFact>(conn)?,
        );
    }
    Ok(out)
}
