//! Role grants (`role_grants`). Grants are never deleted: revoking stamps `revoked_at`
//! and `revoked_by`, so who held what, when, stays answerable.

use chrono::NaiveDateTime;
use diesel::dsl::exists;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{accounts, role_grants};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = role_grants)]
pub struct GrantRow {
    pub id: String,
    pub account_id: String,
    pub role: String,
    pub org_id: Option<String>,
    pub granted_by: Option<String>,
    pub granted_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut AnyConnection, g: &GrantRow) -> QueryResult<()> {
    diesel::insert_into(role_grants::table)
        .values((
            role_grants::id.eq(&g.id),
            role_grants::account_id.eq(&g.account_id),
            role_grants::role.eq(&g.role),
            role_grants::org_id.eq(&g.org_id),
            role_grants::granted_by.eq(&g.granted_by),
            role_grants::granted_at.eq(g.granted_at),
            role_grants::revoked_at.eq(g.revoked_at),
            role_grants::revoked_by.eq(&g.revoked_by),
            role_grants::expires_at.eq(g.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<GrantRow>> {
    role_grants::table
        .find(id)
        .select(GrantRow::as_select())
        .first(conn)
        .optional()
}

/// Whether the account already holds this role at this organization (not revoked).
pub fn active_exists(
    conn: &mut AnyConnection,
    account_id: &str,
    role: &str,
    org_id: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    // An expired grant the sweep has not stamped yet is no obstacle to a new one.
    let base = role_grants::table
        .filter(role_grants::account_id.eq(account_id))
        .filter(role_grants::role.eq(role))
        .filter(role_grants::revoked_at.is_null())
        .filter(
            role_grants::expires_at
                .is_null()
                .or(role_grants::expires_at.gt(now)),
        );
    match org_id {
        Some(o) => diesel::select(exists(base.filter(role_grants::org_id.eq(o)))).get_result(conn),
        None => diesel::select(exists(base.filter(role_grants::org_id.is_null()))).get_result(conn),
    }
}

/// Stamps a live grant revoked; returns whether it was live.
pub fn revoke(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        role_grants::table
            .filter(role_grants::id.eq(id))
            .filter(role_grants::revoked_at.is_null()),
    )
    .set((
        role_grants::revoked_at.eq(now),
        role_grants::revoked_by.eq(by),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The display name of an account, if it exists.
pub fn account_name(conn: &mut AnyConnection, account_id: &str) -> QueryResult<Option<String>> {
    accounts::table
        .find(account_id)
        .select(accounts::display_name)
        .first(conn)
        .optional()
}

/// Grants held at exactly `org_id`, newest first (ids are time-ordered), before the
/// cursor's id, with each holder's display name.
pub fn list_for_org(
    conn: &mut AnyConnection,
    org_id: &str,
    include_revoked: bool,
    before_id: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<(GrantRow, String)>> {
    let mut q = role_grants::table
        .inner_join(accounts::table)
        .filter(role_grants::org_id.eq(org_id.to_string()))
        .select((GrantRow::as_select(), accounts::display_name))
        .order(role_grants::id.desc())
        .limit(limit)
        .into_boxed();
    if !include_revoked {
        q = q.filter(role_grants::revoked_at.is_null());
    }
    if let Some(b) = before_id {
        q = q.filter(role_grants::id.lt(b.to_string()));
    }
    q.load(conn)
}

/// The live grants of an account.
pub fn live_for_account(conn: &mut AnyConnection, account_id: &str) -> QueryResult<Vec<GrantRow>> {
    role_grants::table
        .filter(role_grants::account_id.eq(account_id))
        .filter(role_grants::revoked_at.is_null())
        .order(role_grants::id.asc())
        .select(GrantRow::as_select())
        .load(conn)
}

/// Live grants whose time has run out, oldest expiry first.
pub fn due_to_expire(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<Vec<GrantRow>> {
    role_grants::table
        .filter(role_grants::revoked_at.is_null())
        .filter(role_grants::expires_at.le(now))
        .order(role_grants::expires_at.asc())
        .select(GrantRow::as_select())
        .load(conn)
}
