//! The append-only, hash-chained audit log.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::{audit_head, audit_log};
use crate::db::{AnyConnection, Backend};

/// One audited action.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub actor_account_id: Option<String>,
    pub actor_org_id: Option<String>,
    /// e.g. `org.create`, `member.status`, `member.read_sensitive`, `grant.revoke`.
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// The organization the target belongs to, for scoped reading.
    pub org_id: Option<String>,
    /// Changed fields before and after, sensitive values already masked.
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, PartialEq)]
#[diesel(table_name = audit_log)]
pub struct Row {
    pub seq: i64,
    pub id: String,
    pub actor_account_id: Option<String>,
    pub actor_org_id: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub org_id: Option<String>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub created_at: NaiveDateTime,
    pub prev_hash: String,
    pub hash: String,
}

/// Appends an entry. Call inside the transaction that makes the change, so the change and
/// its record commit together. The head row is locked (`FOR UPDATE` on PostgreSQL; SQLite
/// writers are already serialized) so concurrent appenders cannot fork the chain.
pub fn append(conn: &mut AnyConnection, entry: &Entry, now: NaiveDateTime) -> QueryResult<i64> {
    let (last_seq, last_hash): (i64, String) = match conn.backend() {
        Backend::Postgres => {
            #[derive(QueryableByName)]
            struct Head {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                last_seq: i64,
                #[diesel(sql_type = diesel::sql_types::Text)]
                last_hash: String,
            }
            let h: Head = diesel::sql_query(
                "SELECT last_seq, last_hash FROM audit_head WHERE id = 1 FOR UPDATE",
            )
            .get_result(conn)?;
            (h.last_seq, h.last_hash)
        }
        Backend::Sqlite => audit_head::table
            .find(1)
            .select((audit_head::last_seq, audit_head::last_hash))
            .first(conn)?,
    };
    let seq = last_seq + 1;
    let mut row = Row {
        seq,
        id: crate::db::new_id(),
        actor_account_id: entry.actor_account_id.clone(),
        actor_org_id: entry.actor_org_id.clone(),
        action: entry.action.clone(),
        target_type: entry.target_type.clone(),
        target_id: entry.target_id.clone(),
        org_id: entry.org_id.clone(),
        before_json: entry.before.as_ref().map(|v| v.to_string()),
        after_json: entry.after.as_ref().map(|v| v.to_string()),
        request_id: entry.request_id.clone(),
        client_addr: entry.client_addr.clone(),
        created_at: now,
        prev_hash: last_hash,
        hash: String::new(),
    };
    row.hash = row_hash(&row);
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::seq.eq(row.seq),
            audit_log::id.eq(&row.id),
            audit_log::actor_account_id.eq(&row.actor_account_id),
            audit_log::actor_org_id.eq(&row.actor_org_id),
            audit_log::action.eq(&row.action),
            audit_log::target_type.eq(&row.target_type),
            audit_log::target_id.eq(&row.target_id),
            audit_log::org_id.eq(&row.org_id),
            audit_log::before_json.eq(&row.before_json),
            audit_log::after_json.eq(&row.after_json),
            audit_log::request_id.eq(&row.request_id),
            audit_log::client_addr.eq(&row.client_addr),
            audit_log::created_at.eq(row.created_at),
            audit_log::prev_hash.eq(&row.prev_hash),
            audit_log::hash.eq(&row.hash),
        ))
        .execute(conn)?;
    diesel::update(audit_head::table.find(1))
        .set((
            audit_head::last_seq.eq(seq),
            audit_head::last_hash.eq(&row.hash),
        ))
        .execute(conn)?;
    Ok(seq)
}

/// The hash of a row: SHA-256 over every field (length-prefixed, so no two different rows
/// serialize alike) and the previous hash.
pub fn row_hash(r: &Row) -> String {
    let mut h = Sha256::new();
    let fields: [Option<&str>; 13] = [
        Some(&r.id),
        r.actor_account_id.as_deref(),
        r.actor_org_id.as_deref(),
        Some(&r.action),
        Some(&r.target_type),
        Some(&r.target_id),
        r.org_id.as_deref(),
        r.before_json.as_deref(),
        r.after_json.as_deref(),
        r.request_id.as_deref(),
        r.client_addr.as_deref(),
        Some(&r.prev_hash),
        None,
    ];
    h.update(r.seq.to_be_bytes());
    for f in fields {
        match f {
            Some(s) => {
                h.update([1]);
                h.update((s.len() as u64).to_be_bytes());
                h.update(s.as_bytes());
            }
            None => h.update([0]),
        }
    }
    h.update(r.created_at.and_utc().timestamp_micros().to_be_bytes());
    hex::encode(h.finalize())
}

/// Walks the chain from the start; returns the first seq whose hash or link is wrong.
pub fn verify_chain(conn: &mut AnyConnection) -> QueryResult<Option<i64>> {
    let mut prev = "genesis".to_string();
    let mut expected_seq = 1;
    let mut after = 0i64;
    loop {
        let batch: Vec<Row> = audit_log::table
            .filter(audit_log::seq.gt(after))
            .order(audit_log::seq.asc())
            .limit(1000)
            .select(Row::as_select())
            .load(conn)?;
        if batch.is_empty() {
            return Ok(None);
        }
        for r in batch {
            if r.seq != expected_seq || r.prev_hash != prev || row_hash(&r) != r.hash {
                return Ok(Some(expected_seq));
            }
            prev = r.hash.clone();
            expected_seq += 1;
            after = r.seq;
        }
    }
}
