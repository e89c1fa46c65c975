//! Reading the audit log, scoped by the organization tree, and verifying its chain.
//!
//! An `org_admin` reads the rows about organizations in the subtrees they administer
//! (`org_id` narrows to one of them: 404 outside their scope, 403 inside it without
//! `org_admin`); a super admin reads everything, rows without an organization included.
//! Only a super admin verifies the chain.

use hongying_proto::Page;
use hongying_proto::audit::{AuditEntry, AuditQuery, ChainVerification};

use super::cursor;
use crate::auth::{Principal, Role};
use crate::authz::require_manage_org;
use crate::db::AnyConnection;
use crate::error::{AppError, AppResult};
use crate::store::audit::{self, Row};
use crate::store::audit_read::{self, Filter};

fn parse_json(s: Option<String>) -> Option<serde_json::Value> {
    // A row whose JSON does not parse is still shown, as the raw string.
    s.map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
}

fn to_proto(r: Row) -> AuditEntry {
    AuditEntry {
        seq: r.seq,
        id: r.id,
        actor_account_id: r.actor_account_id,
        actor_org_id: r.actor_org_id,
        action: r.action,
        target_type: r.target_type,
        target_id: r.target_id,
        org_id: r.org_id,
        before: parse_json(r.before_json),
        after: parse_json(r.after_json),
        request_id: r.request_id,
        client_addr: r.client_addr,
        created_at: r.created_at.and_utc(),
        hash: r.hash,
    }
}

pub fn list(
    conn: &mut AnyConnection,
    principal: &Principal,
    q: &AuditQuery,
) -> AppResult<Page<AuditEntry>> {
    let roots = match q.org_id.as_deref() {
        Some(org) => {
            require_manage_org(conn, principal, org, &[Role::OrgAdmin])?;
            Some(vec![org.to_string()])
        }
        None if principal.is_super_admin() => None,
        None => {
            let own = principal.orgs_with(&[Role::OrgAdmin]);
            if own.is_empty() {
                return Err(AppError::Forbidden);
            }
            Some(own)
        }
    };
    let before = match q.cursor.as_deref() {
        Some(c) => Some(
            cursor::decode("audit", c, 1)?[0]
                .parse::<i64>()
                .map_err(|_| AppError::InvalidCursor)?,
        ),
        None => None,
    };
    let filter = Filter {
        roots,
        target_type: q.target_type.clone().filter(|s| !s.is_empty()),
        target_id: q.target_id.clone().filter(|s| !s.is_empty()),
    };
    let limit = cursor::limit(q.limit);
    let rows = audit_read::list(conn, &filter, before, limit + 1)?;
    let (rows, next) = cursor::paginate(rows, limit, |r| {
        cursor::encode("audit", &[&r.seq.to_string()])
    });
    Ok(Page {
        items: rows.into_iter().map(to_proto).collect(),
        next_cursor: next,
    })
}

pub fn verify(conn: &mut AnyConnection, principal: &Principal) -> AppResult<ChainVerification> {
    if !principal.is_super_admin() {
        return Err(AppError::Forbidden);
    }
    let last_seq = audit_read::last_seq(conn)?;
    let mut broken = audit::verify_chain(conn)?;
    if broken.is_none() {
        // The chain cannot tell that rows were cut off its end; the head row can.
        let present = audit_read::max_seq(conn)?;
        if present < last_seq {
            broken = Some(present + 1);
        }
    }
    Ok(ChainVerification {
        ok: broken.is_none(),
        broken_seq: broken,
        last_seq,
    })
}
