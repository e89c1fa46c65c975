//! Reading the audit log by organization subtree. (Appending and chain verification are
//! in [`super::audit`].)
//!
//! The subtree filter is `audit_log.org_id IN (descendants of the roots)`, the
//! descendants read from `org_closure` by `ancestor_id` (its primary key's leading
//! column); rows then come by `audit_log_org (org_id, seq)`.

use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{audit_head, audit_log, org_closure};
use crate::store::audit::Row;

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only rows about organizations in these subtrees; `None`: every row.
    pub roots: Option<Vec<String>>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
}

/// Rows matching `filter`, newest first, with `seq` below `before_seq`.
pub fn list(
    conn: &mut AnyConnection,
    filter: &Filter,
    before_seq: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<Row>> {
    let mut q = audit_log::table
        .select(Row::as_select())
        .order(audit_log::seq.desc())
        .limit(limit)
        .into_boxed();
    if let Some(roots) = &filter.roots {
        q = q.filter(
            audit_log::org_id.eq_any(
                org_closure::table
                    .filter(org_closure::ancestor_id.eq_any(roots.clone()))
                    .select(org_closure::descendant_id.nullable()),
            ),
        );
    }
    if let Some(t) = &filter.target_type {
        q = q.filter(audit_log::target_type.eq(t.clone()));
    }
    if let Some(t) = &filter.target_id {
        q = q.filter(audit_log::target_id.eq(t.clone()));
    }
    if let Some(b) = before_seq {
        q = q.filter(audit_log::seq.lt(b));
    }
    q.load(conn)
}

/// The newest sequence number (0 for an empty log).
pub fn last_seq(conn: &mut AnyConnection) -> QueryResult<i64> {
    audit_head::table
        .find(1)
        .select(audit_head::last_seq)
        .first(conn)
}

/// The highest sequence number present in the log (0 when empty).
pub fn max_seq(conn: &mut AnyConnection) -> QueryResult<i64> {
    let max: Option<i64> = audit_log::table
        .select(diesel::dsl::max(audit_log::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0))
}
