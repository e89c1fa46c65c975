//! Remembered responses per (principal, Idempotency-Key).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::db::schema::idempotency_keys as ik;
use crate::db::{AnyConnection, write_tx};

/// A response kept to be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// JSON array of `[name, value]` pairs.
    pub headers: String,
    pub body: Vec<u8>,
}

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// No earlier request (or a dead one): this request does the work.
    Started,
    /// Done before with the same body: answer with this.
    Replay(StoredResponse),
    /// Used before with another body.
    Mismatch,
    /// Another request with this key is running right now.
    InProgress,
}

pub struct Claim<'a> {
    pub principal: &'a str,
    pub key: &'a str,
    pub fingerprint: &'a str,
    pub now: NaiveDateTime,
    pub locked_until: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

type Row = (
    String,
    String,
    Option<i32>,
    Option<String>,
    Option<Vec<u8>>,
    NaiveDateTime,
    NaiveDateTime,
);

/// Claims the key for this request, or says why not.
pub fn begin(conn: &mut AnyConnection, claim: &Claim<'_>) -> QueryResult<Begin> {
    let result = write_tx(conn, |conn| {
        let existing: Option<Row> = ik::table
            .find((claim.principal, claim.key))
            .select((
                ik::fingerprint,
                ik::state,
                ik::status_code,
                ik::response_headers,
                ik::response_body,
                ik::locked_until,
                ik::expires_at,
            ))
            .first(conn)
            .optional()?;
        match existing {
            Some((fp, state, status, headers, body, locked_until, expires_at))
                if expires_at > claim.now =>
            {
                if fp != claim.fingerprint {
                    return Ok(Begin::Mismatch);
                }
                if state == "done" {
                    return Ok(Begin::Replay(StoredResponse {
                        status: status.unwrap_or(200).try_into().unwrap_or(200),
                        headers: headers.unwrap_or_else(|| "[]".into()),
                        body: body.unwrap_or_default(),
                    }));
                }
                if locked_until > claim.now {
                    return Ok(Begin::InProgress);
                }
                // The first attempt died with its process: this retry takes over.
                diesel::update(ik::table.find((claim.principal, claim.key)))
                    .set(ik::locked_until.eq(claim.locked_until))
                    .execute(conn)?;
                Ok(Begin::Started)
            }
            stale => {
                if stale.is_some() {
                    diesel::delete(ik::table.find((claim.principal, claim.key))).execute(conn)?;
                }
                diesel::insert_into(ik::table)
                    .values((
                        ik::principal.eq(claim.principal),
                        ik::idem_key.eq(claim.key),
                        ik::fingerprint.eq(claim.fingerprint),
                        ik::state.eq("pending"),
                        ik::created_at.eq(claim.now),
                        ik::locked_until.eq(claim.locked_until),
                        ik::expires_at.eq(claim.expires_at),
                    ))
                    .execute(conn)?;
                Ok(Begin::Started)
            }
        }
    });
    match result {
        // Two first attempts raced on PostgreSQL: the other one holds the key.
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(Begin::InProgress)
        }
        other => other,
    }
}

/// Stores the response of the request that held the key.
pub fn complete(
    conn: &mut AnyConnection,
    principal: &str,
    key: &str,
    response: &StoredResponse,
) -> QueryResult<()> {
    diesel::update(ik::table.find((principal, key)))
        .set((
            ik::state.eq("done"),
            ik::status_code.eq(i32::from(response.status)),
            ik::response_headers.eq(&response.headers),
            ik::response_body.eq(&response.body),
        ))
        .execute(conn)?;
    Ok(())
}

/// Releases the key of a request that failed without an answer worth keeping (5xx,
/// 429), so a retry does the work.
pub fn abandon(conn: &mut AnyConnection, principal: &str, key: &str) -> QueryResult<()> {
    diesel::delete(
        ik::table
            .find((principal, key))
            .filter(ik::state.eq("pending")),
    )
    .execute(conn)?;
    Ok(())
}

/// Deletes expired keys; returns how many.
pub fn purge_expired(conn: &mut AnyConnection, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(ik::table.filter(ik::expires_at.le(now))).execute(conn)
}
