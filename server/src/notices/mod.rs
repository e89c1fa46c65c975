//! Notices to members (通知): what other modules announce, and each member's own list.
//!
//! Modules create notices with [`create_for_members`] inside the transaction of the change
//! they announce, so a notice exists exactly when its change does. A member lists and marks
//! only their own notices; another member's notice answers 404. Marking read is not
//! audited: it is the member's own reading state, not a record of the branch.

use chrono::{DateTime, NaiveDateTime, Utc};
use hongying_proto::notices::Notice;
use hongying_proto::{Page, PageQuery};

use crate::auth::Principal;
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::cursor;
use crate::store::notices::{self as store, NoticeRow};

const CURSOR_TAG: &str = "notices";
const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

/// Creates one notice per member in `member_ids` (each once, in the given order) about
/// `reference` = (type, id). Call inside the transaction of the change announced. Returns
/// how many notices were created.
pub fn create_for_members(
    conn: &mut AnyConnection,
    member_ids: &[String],
    kind: &str,
    title: &str,
    body: &str,
    reference: Option<(&str, &str)>,
    now: NaiveDateTime,
) -> diesel::QueryResult<usize> {
    let mut seen = std::collections::HashSet::new();
    let mut n = 0;
    for member_id in member_ids {
        if !seen.insert(member_id.as_str()) {
            continue;
        }
        store::insert(
            conn,
            &NoticeRow {
                id: new_id(),
                member_id: member_id.clone(),
                kind: kind.to_string(),
                title: title.to_string(),
                body: body.to_string(),
                ref_type: reference.map(|r| r.0.to_string()),
                ref_id: reference.map(|r| r.1.to_string()),
                created_at: now,
                read_at: None,
            },
        )?;
        n += 1;
    }
    Ok(n)
}

/// Creates one notice per account in `account_ids` (each once): an account with a member
/// record gets it among the member's notices, any other account (a `public` asker, an
/// expert, staff) among the account's own. Call inside the transaction of the change
/// announced. Returns how many notices were created.
pub fn create_for_accounts(
    conn: &mut AnyConnection,
    account_ids: &[String],
    kind: &str,
    title: &str,
    body: &str,
    reference: Option<(&str, &str)>,
    now: NaiveDateTime,
) -> diesel::QueryResult<usize> {
    use crate::db::schema::accounts;
    use diesel::prelude::*;
    let mut seen = std::collections::HashSet::new();
    let mut n = 0;
    for account_id in account_ids {
        if !seen.insert(account_id.as_str()) {
            continue;
        }
        let member: Option<Option<String>> = accounts::table
            .find(account_id)
            .select(accounts::member_id)
            .first(conn)
            .optional()?;
        match member {
            None => continue,
            Some(Some(member_id)) => {
                n += create_for_members(conn, &[member_id], kind, title, body, reference, now)?;
            }
            Some(None) => {
                store::insert_for_account(
                    conn,
                    &store::AccountNoticeRow {
                        id: new_id(),
                        account_id: account_id.clone(),
                        kind: kind.to_string(),
                        title: title.to_string(),
                        body: body.to_string(),
                        ref_type: reference.map(|r| r.0.to_string()),
                        ref_id: reference.map(|r| r.1.to_string()),
                        created_at: now,
                        read_at: None,
                    },
                )?;
                n += 1;
            }
        }
    }
    Ok(n)
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub fn to_proto(r: NoticeRow) -> Notice {
    Notice {
        id: r.id,
        kind: r.kind,
        title: r.title,
        body: r.body,
        ref_type: r.ref_type,
        ref_id: r.ref_id,
        created_at: utc(r.created_at),
        read_at: r.read_at.map(utc),
    }
}

/// The caller's notices, newest first: a member's, or for an account without a member
/// record the account's own.
pub fn list(
    conn: &mut AnyConnection,
    principal: &Principal,
    q: &PageQuery,
) -> AppResult<Page<Notice>> {
    let before = match &q.cursor {
        Some(c) => {
            let parts = cursor::decode(CURSOR_TAG, c, 2)?;
            let at = NaiveDateTime::parse_from_str(&parts[0], TS_FORMAT)
                .map_err(|_| AppError::InvalidCursor)?;
            Some((at, parts[1].clone()))
        }
        None => None,
    };
    let limit = cursor::limit(q.limit);
    let rows = match principal.member_id.as_deref() {
        Some(member_id) => store::list_for(conn, member_id, before, limit + 1)?,
        None => store::list_for_account(conn, &principal.account_id, before, limit + 1)?
            .into_iter()
            .map(NoticeRow::from)
            .collect(),
    };
    let (rows, next) = cursor::paginate(rows, limit, |r| {
        cursor::encode(
            CURSOR_TAG,
            &[&r.created_at.format(TS_FORMAT).to_string(), &r.id],
        )
    });
    Ok(Page {
        items: rows.into_iter().map(to_proto).collect(),
        next_cursor: next,
    })
}

/// Marks one of the caller's notices read (again is harmless); another's is 404.
pub fn mark_read(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
    now: NaiveDateTime,
) -> AppResult<Notice> {
    write_tx(conn, |c| {
        if let Some(row) = store::find_for_account(c, id)? {
            if row.account_id != principal.account_id {
                return Err(AppError::NotFound);
            }
            store::mark_read_for_account(c, id, now)?;
            let row = store::find_for_account(c, id)?.ok_or(AppError::NotFound)?;
            return Ok(to_proto(NoticeRow::from(row)));
        }
        let row = store::find(c, id)?.ok_or(AppError::NotFound)?;
        if principal.member_id.as_deref() != Some(row.member_id.as_str()) {
            return Err(AppError::NotFound);
        }
        store::mark_read(c, id, now)?;
        let row = store::find(c, id)?.ok_or(AppError::NotFound)?;
        Ok(to_proto(row))
    })
}

// --- live delivery over the /ws socket --------------------------------------------------

/// How many missed notices a reconnecting device gets at once; older ones stay in the list.
pub const REPLAY_LIMIT: i64 = 200;

/// Checks a notice cursor sent by a device: it is a notice id.
pub fn parse_cursor(cursor: &str) -> AppResult<String> {
    uuid::Uuid::parse_str(cursor)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| AppError::InvalidCursor)
}

/// Who a notice is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Member(String),
    /// An account without a member record (a villager, an expert, staff).
    Account(String),
}

/// A notice on its way to a device, from either list. Both lists have time-ordered ids
/// (UUIDv7), so one cursor per device covers both.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveNotice {
    pub id: String,
    pub to: Recipient,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: NaiveDateTime,
}

impl From<NoticeRow> for LiveNotice {
    fn from(r: NoticeRow) -> Self {
        Self {
            id: r.id,
            to: Recipient::Member(r.member_id),
            kind: r.kind,
            title: r.title,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

impl From<store::AccountNoticeRow> for LiveNotice {
    fn from(r: store::AccountNoticeRow) -> Self {
        Self {
            id: r.id,
            to: Recipient::Account(r.account_id),
            kind: r.kind,
            title: r.title,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

/// The caller's notices after `cursor` (or after the device's acknowledged cursor when
/// none is given; nothing when neither exists), oldest first: a member's from his list,
/// an account without a member record from the account's.
pub fn missed(
    conn: &mut AnyConnection,
    principal: &Principal,
    cursor: Option<&str>,
) -> AppResult<Vec<LiveNotice>> {
    let cursor = match cursor {
        Some(c) => Some(parse_cursor(c)?),
        None => store::cursor_of(conn, &principal.session_id)?,
    };
    let Some(c) = cursor else {
        return Ok(Vec::new());
    };
    Ok(match &principal.member_id {
        Some(member_id) => store::after_cursor(conn, member_id, &c, REPLAY_LIMIT)?
            .into_iter()
            .map(LiveNotice::from)
            .collect(),
        None => store::account_after_cursor(conn, &principal.account_id, &c, REPLAY_LIMIT)?
            .into_iter()
            .map(LiveNotice::from)
            .collect(),
    })
}

/// A device acknowledges the notices up to `cursor`.
pub fn acknowledge(
    conn: &mut AnyConnection,
    principal: &Principal,
    cursor: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    let cursor = parse_cursor(cursor)?;
    write_tx(conn, |c| {
        Ok(store::save_cursor(
            c,
            &principal.session_id,
            &principal.account_id,
            &cursor,
            now,
        )?)
    })
}
