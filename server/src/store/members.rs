//! Members, their status history, and the few organization facts the roster needs.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{member_status_history, members, org_closure, organizations};

/// A `members` row. `id_number_enc`/`phone_enc` are ciphertexts bound to `id`.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = members, treat_none_as_null = true)]
pub struct MemberRow {
    pub id: String,
    pub org_id: String,
    pub party_group_id: Option<String>,
    pub name: String,
    pub gender: String,
    pub birth_date: Option<NaiveDate>,
    pub ethnicity: String,
    pub id_number_enc: String,
    pub id_number_bidx: String,
    pub phone_enc: Option<String>,
    pub phone_bidx: Option<String>,
    pub education: Option<String>,
    pub work_unit: Option<String>,
    pub status: String,
    pub applied_on: Option<NaiveDate>,
    pub activist_on: Option<NaiveDate>,
    pub candidate_on: Option<NaiveDate>,
    pub probationary_on: Option<NaiveDate>,
    pub probation_extended: bool,
    pub regularized_on: Option<NaiveDate>,
    pub discipline_until: Option<NaiveDate>,
    pub rights_suspended: bool,
    pub membership_stopped: bool,
    pub lost_contact: bool,
    pub removed_reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    pub probation_extension_months: Option<i32>,
    pub note: Option<String>,
}

pub fn insert(conn: &mut AnyConnection, row: &MemberRow) -> QueryResult<()> {
    diesel::insert_into(members::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<MemberRow>> {
    members::table
        .find(id)
        .select(MemberRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_id_number_bidx(
    conn: &mut AnyConnection,
    bidx: &str,
) -> QueryResult<Option<MemberRow>> {
    members::table
        .filter(members::id_number_bidx.eq(bidx))
        .select(MemberRow::as_select())
        .first(conn)
        .optional()
}

/// The id of the member using a phone (by blind index), if any.
pub fn find_by_phone_bidx(conn: &mut AnyConnection, bidx: &str) -> QueryResult<Option<String>> {
    members::table
        .filter(members::phone_bidx.eq(bidx))
        .select(members::id)
        .first(conn)
        .optional()
}

/// Writes `row` over the stored one if the stored version is `expected`; `row.version`
/// must already be the next one. False when the version moved on (or the row is gone).
pub fn update_versioned(
    conn: &mut AnyConnection,
    row: &MemberRow,
    expected: i32,
) -> QueryResult<bool> {
    let n = diesel::update(
        members::table
            .filter(members::id.eq(&row.id))
            .filter(members::version.eq(expected)),
    )
    .set(row)
    .execute(conn)?;
    Ok(n == 1)
}

/// A filter on flags in a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagFilter {
    UnderDiscipline,
    RightsSuspended,
    MembershipStopped,
    LostContact,
}

/// A branch list request, already authorized.
#[derive(Debug, Clone)]
pub struct ListFilter {
    pub org_id: String,
    pub subtree: bool,
    pub statuses: Vec<String>,
    pub name_prefix: Option<String>,
    pub flags: Vec<FlagFilter>,
    /// For `under_discipline`: 留党察看 still in force on this day.
    pub today: NaiveDate,
    /// Resume after this (name, id).
    pub after: Option<(String, String)>,
    pub limit: i64,
}

/// Escapes LIKE wildcards so a name prefix matches literally.
fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One page of members ordered by (name, id).
pub fn list(conn: &mut AnyConnection, f: &ListFilter) -> QueryResult<Vec<MemberRow>> {
    let mut q = members::table.select(MemberRow::as_select()).into_boxed();
    if f.subtree {
        q = q.filter(
            members::org_id.eq_any(
                org_closure::table
                    .filter(org_closure::ancestor_id.eq(f.org_id.clone()))
                    .select(org_closure::descendant_id),
            ),
        );
    } else {
        q = q.filter(members::org_id.eq(f.org_id.clone()));
    }
    q = q.filter(members::status.eq_any(f.statuses.clone()));
    if let Some(prefix) = &f.name_prefix {
        q = q.filter(members::name.like(like_prefix(prefix)).escape('\\'));
    }
    for flag in &f.flags {
        q = match flag {
            FlagFilter::UnderDiscipline => q.filter(members::discipline_until.ge(f.today)),
            FlagFilter::RightsSuspended => q.filter(members::rights_suspended.eq(true)),
            FlagFilter::MembershipStopped => q.filter(members::membership_stopped.eq(true)),
            FlagFilter::LostContact => q.filter(members::lost_contact.eq(true)),
        };
    }
    if let Some((name, id)) = &f.after {
        q = q.filter(
            members::name.gt(name.clone()).or(members::name
                .eq(name.clone())
                .and(members::id.gt(id.clone()))),
        );
    }
    q.order((members::name.asc(), members::id.asc()))
        .limit(f.limit)
        .load(conn)
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = member_status_history)]
pub struct HistoryRow {
    pub id: String,
    pub member_id: String,
    pub change: String,
    pub from_value: Option<String>,
    pub to_value: String,
    pub effective_on: NaiveDate,
    pub reason: Option<String>,
    pub actor_account_id: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert_history(conn: &mut AnyConnection, row: &HistoryRow) -> QueryResult<()> {
    diesel::insert_into(member_status_history::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A member's history, oldest first (ids are time-ordered UUIDv7), after `after_id`.
pub fn history(
    conn: &mut AnyConnection,
    member_id: &str,
    after_id: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<HistoryRow>> {
    let mut q = member_status_history::table
        .filter(member_status_history::member_id.eq(member_id))
        .select(HistoryRow::as_select())
        .into_boxed();
    if let Some(after) = after_id {
        q = q.filter(member_status_history::id.gt(after.to_string()));
    }
    q.order(member_status_history::id.asc())
        .limit(limit)
        .load(conn)
}

/// What the roster needs to know about an organization.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct OrgFacts {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub parent_id: Option<String>,
}

fn org_facts_columns() -> (
    organizations::id,
    organizations::code,
    organizations::name,
    organizations::kind,
    organizations::status,
    organizations::parent_id,
) {
    (
        organizations::id,
        organizations::code,
        organizations::name,
        organizations::kind,
        organizations::status,
        organizations::parent_id,
    )
}

pub fn org(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<OrgFacts>> {
    organizations::table
        .find(id)
        .select(org_facts_columns())
        .first(conn)
        .optional()
}

pub fn org_by_code(conn: &mut AnyConnection, code: &str) -> QueryResult<Option<OrgFacts>> {
    organizations::table
        .filter(organizations::code.eq(code))
        .select(org_facts_columns())
        .first(conn)
        .optional()
}

/// Whether `descendant` lies in the subtree of `ancestor` (itself included).
pub fn is_within(conn: &mut AnyConnection, ancestor: &str, descendant: &str) -> QueryResult<bool> {
    let n: i64 = org_closure::table
        .filter(org_closure::ancestor_id.eq(ancestor))
        .filter(org_closure::descendant_id.eq(descendant))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::like_prefix;

    #[test]
    fn prefixes_match_literally() {
        assert_eq!(like_prefix("王"), "王%");
        assert_eq!(like_prefix("a_b%c\\"), "a\\_b\\%c\\\\%");
    }
}
