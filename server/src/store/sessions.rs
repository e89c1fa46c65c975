//! Refresh tokens. A session is a family of refresh tokens sharing `family_id` (the `sid`
//! of its access tokens); each refresh rotates the newest token into a new one.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::refresh_tokens;

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub id: String,
    pub account_id: String,
    pub family_id: String,
    pub token_hash: String,
    pub device_id: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[allow(clippy::too_many_arguments)]
pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    account_id: &str,
    family_id: &str,
    token_hash: &str,
    device_id: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::id.eq(id),
            refresh_tokens::account_id.eq(account_id),
            refresh_tokens::family_id.eq(family_id),
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::device_id.eq(device_id),
            refresh_tokens::issued_at.eq(now),
            refresh_tokens::expires_at.eq(expires_at),
            refresh_tokens::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find_by_hash(conn: &mut AnyConnection, token_hash: &str) -> QueryResult<Option<RefreshRow>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select(RefreshRow::as_select())
        .first(conn)
        .optional()
}

/// Marks a token rotated if it is still current: 1 when this call rotated it, 0 when a
/// concurrent refresh (or a revocation) got there first.
pub fn mark_rotated(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::id.eq(id))
            .filter(refresh_tokens::rotated_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(now))
    .execute(conn)
}

/// Revokes every token of a session family (logout, reuse detection).
pub fn revoke_family(
    conn: &mut AnyConnection,
    family_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

/// Revokes every token of an account, except those of `keep_family` when given.
pub fn revoke_account(
    conn: &mut AnyConnection,
    account_id: &str,
    keep_family: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mut q = refresh_tokens::table
        .filter(refresh_tokens::account_id.eq(account_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .into_boxed();
    if let Some(keep) = keep_family {
        q = q.filter(refresh_tokens::family_id.ne(keep));
    }
    let ids: Vec<String> = q.select(refresh_tokens::id).load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(refresh_tokens::table.filter(refresh_tokens::id.eq_any(&ids)))
        .set(refresh_tokens::revoked_at.eq(now))
        .execute(conn)
}

/// The families of an account that still have a live token.
pub fn live_families(
    conn: &mut AnyConnection,
    account_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    refresh_tokens::table
        .filter(refresh_tokens::account_id.eq(account_id))
        .filter(refresh_tokens::revoked_at.is_null())
        .filter(refresh_tokens::expires_at.gt(now))
        .select(refresh_tokens::family_id)
        .distinct()
        .load(conn)
}

/// Whether the device has ever held a session of the account (revoked or expired ones
/// count: it is the owner's device either way).
pub fn device_known(
    conn: &mut AnyConnection,
    account_id: &str,
    device_id: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        refresh_tokens::table
            .filter(refresh_tokens::account_id.eq(account_id))
            .filter(refresh_tokens::device_id.eq(device_id)),
    ))
    .get_result(conn)
}
