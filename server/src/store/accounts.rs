//! Accounts, their activation codes and the role grants an account gets when it is made.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{accounts, activation_codes, members, organizations, role_grants};

/// Account kinds as stored.
pub const KIND_MEMBER: &str = "member";
pub const KIND_STAFF: &str = "staff";
pub const KIND_PUBLIC: &str = "public";
pub const KIND_EXPERT: &str = "expert";

/// Account statuses as stored.
pub const STATUS_PENDING: &str = "pending";
pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_DISABLED: &str = "disabled";

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = accounts)]
pub struct AccountRow {
    pub id: String,
    pub member_id: Option<String>,
    pub display_name: String,
    pub phone_enc: String,
    pub phone_bidx: String,
    pub password_hash: Option<String>,
    pub kind: String,
    pub status: String,
    pub password_changed_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A new account row; the phone is already encrypted and indexed.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub id: &'a str,
    pub member_id: Option<&'a str>,
    pub display_name: &'a str,
    pub phone_enc: &'a str,
    pub phone_bidx: &'a str,
    pub password_hash: Option<&'a str>,
    pub kind: &'a str,
    pub status: &'a str,
}

pub fn insert(conn: &mut AnyConnection, a: &NewAccount<'_>, now: NaiveDateTime) -> QueryResult<()> {
    diesel::insert_into(accounts::table)
        .values((
            accounts::id.eq(a.id),
            accounts::member_id.eq(a.member_id),
            accounts::display_name.eq(a.display_name),
            accounts::phone_enc.eq(a.phone_enc),
            accounts::phone_bidx.eq(a.phone_bidx),
            accounts::password_hash.eq(a.password_hash),
            accounts::kind.eq(a.kind),
            accounts::status.eq(a.status),
            accounts::password_changed_at.eq(a.password_hash.map(|_| now)),
            accounts::created_at.eq(now),
            accounts::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<AccountRow>> {
    accounts::table
        .find(id)
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_phone_bidx(conn: &mut AnyConnection, bidx: &str) -> QueryResult<Option<AccountRow>> {
    accounts::table
        .filter(accounts::phone_bidx.eq(bidx))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_member(
    conn: &mut AnyConnection,
    member_id: &str,
) -> QueryResult<Option<AccountRow>> {
    accounts::table
        .filter(accounts::member_id.eq(member_id))
        .select(AccountRow::as_select())
        .first(conn)
        .optional()
}

/// Every account linked to a roster member (one today; the schema allows more).
pub fn ids_of_member(conn: &mut AnyConnection, member_id: &str) -> QueryResult<Vec<String>> {
    accounts::table
        .filter(accounts::member_id.eq(member_id))
        .select(accounts::id)
        .load(conn)
}

/// The roster standing of a member: status and whether 停止党籍 is set.
pub fn member_standing(
    conn: &mut AnyConnection,
    member_id: &str,
) -> QueryResult<Option<(String, bool)>> {
    members::table
        .find(member_id)
        .select((members::status, members::membership_stopped))
        .first(conn)
        .optional()
}

/// Sets a new password hash (and, for activation, the status).
pub fn set_password(
    conn: &mut AnyConnection,
    id: &str,
    password_hash: &str,
    status: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(accounts::table.find(id))
        .set((
            accounts::password_hash.eq(password_hash),
            accounts::status.eq(status),
            accounts::password_changed_at.eq(now),
            accounts::updated_at.eq(now),
        ))
        .execute(conn)
}

/// The organization (branch) a member belongs to, with the member's name.
pub fn member_org(
    conn: &mut AnyConnection,
    member_id: &str,
) -> QueryResult<Option<(String, String)>> {
    members::table
        .find(member_id)
        .select((members::org_id, members::name))
        .first(conn)
        .optional()
}

pub fn org_name(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Option<String>> {
    organizations::table
        .find(org_id)
        .select(organizations::name)
        .first(conn)
        .optional()
}

/// Grants `role` at `org_id` unless the account already holds exactly that live grant.
/// Returns whether a row was written.
pub fn ensure_grant(
    conn: &mut AnyConnection,
    account_id: &str,
    role: &str,
    org_id: Option<&str>,
    granted_by: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let mut existing = role_grants::table
        .filter(role_grants::account_id.eq(account_id))
        .filter(role_grants::role.eq(role))
        .filter(role_grants::revoked_at.is_null())
        .into_boxed();
    existing = match org_id {
        Some(o) => existing.filter(role_grants::org_id.eq(o)),
        None => existing.filter(role_grants::org_id.is_null()),
    };
    let n: i64 = existing.count().get_result(conn)?;
    if n > 0 {
        return Ok(false);
    }
    diesel::insert_into(role_grants::table)
        .values((
            role_grants::id.eq(crate::db::new_id()),
            role_grants::account_id.eq(account_id),
            role_grants::role.eq(role),
            role_grants::org_id.eq(org_id),
            role_grants::granted_by.eq(granted_by),
            role_grants::granted_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// A live grant with the name of its organization.
#[derive(Debug, Clone, Queryable, PartialEq, Eq)]
pub struct GrantRow {
    pub role: String,
    pub org_id: Option<String>,
    pub org_name: Option<String>,
}

/// Live grants of an account with the names of their organizations.
pub fn grants_with_org_names(
    conn: &mut AnyConnection,
    account_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<GrantRow>> {
    role_grants::table
        .left_join(organizations::table.on(role_grants::org_id.eq(organizations::id.nullable())))
        .filter(role_grants::account_id.eq(account_id))
        .filter(role_grants::revoked_at.is_null())
        .filter(
            role_grants::expires_at
                .is_null()
                .or(role_grants::expires_at.gt(now)),
        )
        .order(role_grants::granted_at.asc())
        .select((
            role_grants::role,
            role_grants::org_id,
            organizations::name.nullable(),
        ))
        .load(conn)
}

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = activation_codes)]
pub struct ActivationCodeRow {
    pub id: String,
    pub account_id: String,
    pub code_hash: String,
    pub issued_by: Option<String>,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// Ends every unused, unexpired code of an account by moving its expiry to `now`
/// (`used_at` stays reserved for a code that was redeemed).
pub fn expire_open_codes(
    conn: &mut AnyConnection,
    account_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        activation_codes::table
            .filter(activation_codes::account_id.eq(account_id))
            .filter(activation_codes::used_at.is_null())
            .filter(activation_codes::expires_at.gt(now)),
    )
    .set(activation_codes::expires_at.eq(now))
    .execute(conn)
}

pub fn insert_code(
    conn: &mut AnyConnection,
    id: &str,
    account_id: &str,
    code_hash: &str,
    issued_by: Option<&str>,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(activation_codes::table)
        .values((
            activation_codes::id.eq(id),
            activation_codes::account_id.eq(account_id),
            activation_codes::code_hash.eq(code_hash),
            activation_codes::issued_by.eq(issued_by),
            activation_codes::expires_at.eq(expires_at),
            activation_codes::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The codes of an account that could still be redeemed at `now`.
pub fn open_codes(
    conn: &mut AnyConnection,
    account_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<ActivationCodeRow>> {
    activation_codes::table
        .filter(activation_codes::account_id.eq(account_id))
        .filter(activation_codes::used_at.is_null())
        .filter(activation_codes::expires_at.gt(now))
        .select(ActivationCodeRow::as_select())
        .load(conn)
}

/// Marks a code used if nobody has yet; 1 when this call redeemed it, 0 otherwise.
pub fn consume_code(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(
        activation_codes::table
            .filter(activation_codes::id.eq(id))
            .filter(activation_codes::used_at.is_null())
            .filter(activation_codes::expires_at.gt(now)),
    )
    .set(activation_codes::used_at.eq(now))
    .execute(conn)
}

/// Replaces the password if it is still `old_hash` (a concurrent change makes this 0).
pub fn change_password(
    conn: &mut AnyConnection,
    id: &str,
    old_hash: &str,
    new_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        accounts::table
            .filter(accounts::id.eq(id))
            .filter(accounts::password_hash.eq(old_hash)),
    )
    .set((
        accounts::password_hash.eq(new_hash),
        accounts::password_changed_at.eq(now),
        accounts::updated_at.eq(now),
    ))
    .execute(conn)
}
