//! Notices to members, and to accounts without a member record.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{notice_cursors, notices};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = notices)]
pub struct NoticeRow {
    pub id: String,
    pub member_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub ref_type: Option<String>,
    pub ref_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut AnyConnection, row: &NoticeRow) -> QueryResult<()> {
    diesel::insert_into(notices::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<NoticeRow>> {
    notices::table
        .find(id)
        .select(NoticeRow::as_select())
        .first(conn)
        .optional()
}

/// A member's notices, newest first (by creation time, then id), after the keyset
/// `before` = (created_at, id) of the last one seen.
pub fn list_for(
    conn: &mut AnyConnection,
    member_id: &str,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<NoticeRow>> {
    let mut q = notices::table
        .filter(notices::member_id.eq(member_id))
        .select(NoticeRow::as_select())
        .into_boxed();
    if let Some((at, id)) = before {
        q = q.filter(
            notices::created_at
                .lt(at)
                .or(notices::created_at.eq(at).and(notices::id.lt(id))),
        );
    }
    q.order((notices::created_at.desc(), notices::id.desc()))
        .limit(limit)
        .load(conn)
}

/// Marks a notice read, keeping the first reading time.
pub fn mark_read(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        notices::table
            .filter(notices::id.eq(id))
            .filter(notices::read_at.is_null()),
    )
    .set(notices::read_at.eq(now))
    .execute(conn)
    .map(|_| ())
}

/// A member's notices created after the notice `cursor` (ids are time-ordered), oldest
/// first.
pub fn after_cursor(
    conn: &mut AnyConnection,
    member_id: &str,
    cursor: &str,
    limit: i64,
) -> QueryResult<Vec<NoticeRow>> {
    notices::table
        .filter(notices::member_id.eq(member_id))
        .filter(notices::id.gt(cursor))
        .select(NoticeRow::as_select())
        .order(notices::id.asc())
        .limit(limit)
        .load(conn)
}

/// Notices after the keyset (created_at, id), oldest first: the live feed's next batch.
pub fn after_key(
    conn: &mut AnyConnection,
    at: NaiveDateTime,
    id: &str,
    limit: i64,
) -> QueryResult<Vec<NoticeRow>> {
    notices::table
        .filter(
            notices::created_at
                .gt(at)
                .or(notices::created_at.eq(at).and(notices::id.gt(id))),
        )
        .select(NoticeRow::as_select())
        .order((notices::created_at.asc(), notices::id.asc()))
        .limit(limit)
        .load(conn)
}

/// Every notice created at or after `since`, oldest first.
pub fn created_since(
    conn: &mut AnyConnection,
    since: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<NoticeRow>> {
    notices::table
        .filter(notices::created_at.ge(since))
        .select(NoticeRow::as_select())
        .order((notices::created_at.asc(), notices::id.asc()))
        .limit(limit)
        .load(conn)
}

/// The notice cursor a device acknowledged last.
pub fn cursor_of(conn: &mut AnyConnection, session_id: &str) -> QueryResult<Option<String>> {
    notice_cursors::table
        .find(session_id)
        .select(notice_cursors::cursor)
        .first(conn)
        .optional()
}

/// Records the device's acknowledged cursor; it only moves forward.
pub fn save_cursor(
    conn: &mut AnyConnection,
    session_id: &str,
    account_id: &str,
    cursor: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let moved = diesel::update(
        notice_cursors::table
            .filter(notice_cursors::session_id.eq(session_id))
            .filter(notice_cursors::cursor.lt(cursor)),
    )
    .set((
        notice_cursors::cursor.eq(cursor),
        notice_cursors::updated_at.eq(now),
    ))
    .execute(conn)?;
    if moved == 0 && cursor_of(conn, session_id)?.is_none() {
        diesel::insert_into(notice_cursors::table)
            .values((
                notice_cursors::session_id.eq(session_id),
                notice_cursors::account_id.eq(account_id),
                notice_cursors::cursor.eq(cursor),
                notice_cursors::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

// --- notices to accounts without a member record (public askers, experts, staff) ------

use crate::db::schema::account_notices;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = account_notices)]
pub struct AccountNoticeRow {
    pub id: String,
    pub account_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub ref_type: Option<String>,
    pub ref_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub read_at: Option<NaiveDateTime>,
}

pub fn insert_for_account(conn: &mut AnyConnection, row: &AccountNoticeRow) -> QueryResult<()> {
    diesel::insert_into(account_notices::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_for_account(
    conn: &mut AnyConnection,
    id: &str,
) -> QueryResult<Option<AccountNoticeRow>> {
    account_notices::table
        .find(id)
        .select(AccountNoticeRow::as_select())
        .first(conn)
        .optional()
}

/// An account's notices, newest first, after the keyset `before` = (created_at, id).
pub fn list_for_account(
    conn: &mut AnyConnection,
    account_id: &str,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> QueryResult<Vec<AccountNoticeRow>> {
    let mut q = account_notices::table
        .filter(account_notices::account_id.eq(account_id))
        .select(AccountNoticeRow::as_select())
        .into_boxed();
    if let Some((at, id)) = before {
        q = q.filter(
            account_notices::created_at
                .lt(at)
                .or(account_notices::created_at
                    .eq(at)
                    .and(account_notices::id.lt(id))),
        );
    }
    q.order((
        account_notices::created_at.desc(),
        account_notices::id.desc(),
    ))
    .limit(limit)
    .load(conn)
}

pub fn mark_read_for_account(
    conn: &mut AnyConnection,
    id: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        account_notices::table
            .filter(account_notices::id.eq(id))
            .filter(account_notices::read_at.is_null()),
    )
    .set(account_notices::read_at.eq(now))
    .execute(conn)
    .map(|_| ())
}

impl From<AccountNoticeRow> for NoticeRow {
    fn from(r: AccountNoticeRow) -> Self {
        NoticeRow {
            id: r.id,
            member_id: String::new(),
            kind: r.kind,
            title: r.title,
            body: r.body,
            ref_type: r.ref_type,
            ref_id: r.ref_id,
            created_at: r.created_at,
            read_at: r.read_at,
        }
    }
}

/// An account's notices created after the notice `cursor`, oldest first.
pub fn account_after_cursor(
    conn: &mut AnyConnection,
    account_id: &str,
    cursor: &str,
    limit: i64,
) -> QueryResult<Vec<AccountNoticeRow>> {
    account_notices::table
        .filter(account_notices::account_id.eq(account_id))
        .filter(account_notices::id.gt(cursor))
        .select(AccountNoticeRow::as_select())
        .order(account_notices::id.asc())
        .limit(limit)
        .load(conn)
}

/// Account notices after the keyset (created_at, id), oldest first.
pub fn account_after_key(
    conn: &mut AnyConnection,
    at: NaiveDateTime,
    id: &str,
    limit: i64,
) -> QueryResult<Vec<AccountNoticeRow>> {
    account_notices::table
        .filter(
            account_notices::created_at
                .gt(at)
                .or(account_notices::created_at
                    .eq(at)
                    .and(account_notices::id.gt(id))),
        )
        .select(AccountNoticeRow::as_select())
        .order((account_notices::created_at.asc(), account_notices::id.asc()))
        .limit(limit)
        .load(conn)
}

/// Every account notice created at or after `since`, oldest first.
pub fn account_created_since(
    conn: &mut AnyConnection,
    since: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<AccountNoticeRow>> {
    account_notices::table
        .filter(account_notices::created_at.ge(since))
        .select(AccountNoticeRow::as_select())
        .order((account_notices::created_at.asc(), account_notices::id.asc()))
        .limit(limit)
        .load(conn)
}
