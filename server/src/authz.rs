//! Scope checks over the organization tree. A role held at an organization reaches its
//! whole subtree. Services call these; routes never decide access themselves.
//!
//! Convention: reading an object outside the caller's scope answers 404 (its existence
//! is not revealed); a forbidden action on an object inside scope answers 403.

use diesel::prelude::*;

use crate::auth::{Principal, Role};
use crate::db::AnyConnection;
use crate::db::schema::org_closure;
use crate::error::AppError;

/// Whether `org_id` lies in the subtree of an organization where the caller holds one of
/// `roles` (super admins reach everything).
pub fn org_in_scope(
    conn: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
    roles: &[Role],
) -> QueryResult<bool> {
    if principal.is_super_admin() {
        return Ok(true);
    }
    let roots = principal.orgs_with(roles);
    if roots.is_empty() {
        return Ok(false);
    }
    let n: i64 = org_closure::table
        .filter(org_closure::descendant_id.eq(org_id))
        .filter(org_closure::ancestor_id.eq_any(&roots))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Whether the caller may read an organization: a manager in scope, or a member of it
/// (members see their own branch and the organizations above it).
pub fn can_read_org(
    conn: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
) -> QueryResult<bool> {
    if org_in_scope(conn, principal, org_id, &Role::MANAGERS)? {
        return Ok(true);
    }
    let Some(own) = principal.member_org_id.as_deref() else {
        return Ok(false);
    };
    if own == org_id {
        return Ok(true);
    }
    let n: i64 = org_closure::table
        .filter(org_closure::ancestor_id.eq(org_id))
        .filter(org_closure::descendant_id.eq(own))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Reads in scope or 404.
pub fn require_read_org(
    conn: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
) -> Result<(), AppError> {
    if can_read_org(conn, principal, org_id)? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Manage in scope, 403 when readable but not manageable, 404 when not even readable.
pub fn require_manage_org(
    conn: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
    roles: &[Role],
) -> Result<(), AppError> {
    if org_in_scope(conn, principal, org_id, roles)? {
        return Ok(());
    }
    if can_read_org(conn, principal, org_id)? {
        Err(AppError::Forbidden)
    } else {
        Err(AppError::NotFound)
    }
}
