//! Grant logic: authorization, rules, audit; one write transaction per change.

use diesel::prelude::*;
use hongying_proto::grants::{CreateGrant, GrantListQuery, GrantRole, RoleGrant};
use hongying_proto::{ErrorCode, Page};
use serde_json::json;

use crate::accounts::revocation::EndReason;
use crate::auth::{Principal, Role};
use crate::authz::require_manage_org;
use crate::db::schema::role_grants;
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::{Ctx, cursor};
use crate::store::grants::{self as store, GrantRow};
use crate::store::orgs as org_store;

pub fn to_proto(g: GrantRow, account_display_name: String) -> AppResult<RoleGrant> {
    let role = GrantRole::parse(&g.role)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored role {:?}", g.role)))?;
    Ok(RoleGrant {
        id: g.id,
        account_id: g.account_id,
        account_display_name,
        role,
        role_label_zh: role.label_zh().into(),
        org_id: g.org_id,
        granted_by: g.granted_by,
        granted_at: g.granted_at.and_utc(),
        revoked_at: g.revoked_at.map(|t| t.and_utc()),
        revoked_by: g.revoked_by,
        expires_at: g.expires_at.map(|t| t.and_utc()),
    })
}

/// Checks that the caller may grant or revoke `role` at `org_id` (see [`super`]).
fn authorize(
    c: &mut AnyConnection,
    principal: &Principal,
    role: GrantRole,
    org_id: Option<&str>,
    hidden_when_orgless: bool,
) -> AppResult<()> {
    let Some(org_id) = org_id else {
        if principal.is_super_admin() {
            return Ok(());
        }
        // A revoke of an organization-less grant by someone who could never see it.
        return Err(if hidden_when_orgless {
            AppError::NotFound
        } else {
            AppError::Forbidden
        });
    };
    require_manage_org(c, principal, org_id, &[Role::OrgAdmin])?;
    let org = org_store::find(c, org_id)?.ok_or(AppError::NotFound)?;
    if role == GrantRole::OrgAdmin && org.parent_id.is_none() && !principal.is_super_admin() {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

/// Grants a role.
pub fn create(conn: &mut AnyConnection, ctx: &Ctx<'_>, req: CreateGrant) -> AppResult<RoleGrant> {
    write_tx(conn, |c| {
        let org_id = req.org_id.as_deref().map(str::trim);
        if req.role == GrantRole::SuperAdmin && !ctx.principal.is_super_admin() {
            return Err(AppError::Forbidden);
        }
        if org_id.is_none() && !req.role.org_optional() {
            return Err(AppError::invalid(
                "org_id",
                "required",
                "该角色须指定所在组织。",
            ));
        }
        authorize(c, ctx.principal, req.role, org_id, false)?;
        if req.role == GrantRole::SuperAdmin && org_id.is_some() {
            return Err(AppError::invalid(
                "org_id",
                "not_allowed",
                "超级管理员角色不属于任何组织，请不要指定组织。",
            ));
        }
        let Some(name) = store::account_name(c, &req.account_id)? else {
            return Err(AppError::invalid("account_id", "not_found", "账号不存在。"));
        };
        let expires_at = req.expires_at.map(|t| t.naive_utc());
        if expires_at.is_some_and(|t| t <= ctx.now) {
            return Err(AppError::invalid(
                "expires_at",
                "not_in_future",
                "授权截止时间须晚于当前时间。",
            ));
        }
        if store::active_exists(c, &req.account_id, req.role.as_str(), org_id, ctx.now)? {
            return Err(AppError::Conflict {
                code: ErrorCode::AlreadyExists,
                detail: format!("该账号已拥有此组织的{}角色。", req.role.label_zh()),
            });
        }
        let row = GrantRow {
            id: new_id(),
            account_id: req.account_id.clone(),
            role: req.role.as_str().into(),
            org_id: org_id.map(str::to_string),
            granted_by: Some(ctx.principal.account_id.clone()),
            granted_at: ctx.now,
            revoked_at: None,
            revoked_by: None,
            expires_at,
        };
        store::insert(c, &row)?;
        ctx.audit(
            c,
            "grant.create",
            ("role_grant", &row.id),
            row.org_id.as_deref(),
            None,
            Some(json!({
                "account_id": row.account_id, "role": row.role, "org_id": row.org_id,
                "expires_at": row.expires_at.map(|t| t.and_utc()),
            })),
        )?;
        to_proto(row, name)
    })
}

/// Revokes a live grant (409 when it is revoked already).
pub fn revoke(conn: &mut AnyConnection, ctx: &Ctx<'_>, id: &str) -> AppResult<RoleGrant> {
    write_tx(conn, |c| {
        let grant = store::find(c, id)?.ok_or(AppError::NotFound)?;
        let role = GrantRole::parse(&grant.role)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored role {:?}", grant.role)))?;
        authorize(c, ctx.principal, role, grant.org_id.as_deref(), true)?;
        if role == GrantRole::SuperAdmin && !ctx.principal.is_super_admin() {
            return Err(AppError::Forbidden);
        }
        if grant.revoked_at.is_some() {
            return Err(AppError::Conflict {
                code: ErrorCode::Conflict,
                detail: "该角色授权已经撤销。".into(),
            });
        }
        if role == GrantRole::SuperAdmin {
            let live: i64 = role_grants::table
                .filter(role_grants::role.eq(GrantRole::SuperAdmin.as_str()))
                .filter(role_grants::revoked_at.is_null())
                .count()
                .get_result(c)?;
            if live <= 1 {
                return Err(AppError::Conflict {
                    code: ErrorCode::Conflict,
                    detail: "不能撤销最后一名超级管理员。".into(),
                });
            }
        }
        if !store::revoke(c, id, &ctx.principal.account_id, ctx.now)? {
            return Err(AppError::Conflict {
                code: ErrorCode::Conflict,
                detail: "该角色授权已经撤销。".into(),
            });
        }
        ctx.audit(
            c,
            "grant.revoke",
            ("role_grant", id),
            grant.org_id.as_deref(),
            Some(json!({ "account_id": grant.account_id, "role": grant.role, "revoked_at": null })),
            Some(
                json!({ "revoked_at": ctx.now.and_utc(), "revoked_by": ctx.principal.account_id }),
            ),
        )?;
        // Requests read grants anew; a socket's join token carries the grants it was
        // issued with, so his sockets close and reconnect with what he holds now.
        ctx.sockets.push(&grant.account_id, EndReason::GrantEnded);
        let name = store::account_name(c, &grant.account_id)?.unwrap_or_default();
        to_proto(
            GrantRow {
                revoked_at: Some(ctx.now),
                revoked_by: Some(ctx.principal.account_id.clone()),
                ..grant
            },
            name,
        )
    })
}

/// Stamps revoked every grant whose `expires_at` has passed, each audited as
/// `grant.expire`, and queues its holder's sockets: requests stopped honouring it the
/// moment it expired ([`crate::store::principals`]), but sockets and join tokens carry
/// what they were opened with. Run by the sweep as the system.
pub fn expire_due(conn: &mut AnyConnection, ctx: &Ctx<'_>) -> AppResult<usize> {
    write_tx(conn, |c| {
        let due = store::due_to_expire(c, ctx.now)?;
        for g in &due {
            let at = g.expires_at.unwrap_or(ctx.now);
            if !store::revoke(c, &g.id, &ctx.principal.account_id, at)? {
                continue;
            }
            ctx.audit(
                c,
                "grant.expire",
                ("role_grant", &g.id),
                g.org_id.as_deref(),
                Some(json!({ "account_id": g.account_id, "role": g.role, "revoked_at": null })),
                Some(json!({ "revoked_at": at.and_utc(), "reason": "expired" })),
            )?;
            ctx.sockets.push(&g.account_id, EndReason::GrantEnded);
        }
        Ok(due.len())
    })
}

/// Grants held at `org_id` (org admins in scope and super admins).
pub fn list_for_org(
    conn: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
    q: &GrantListQuery,
) -> AppResult<Page<RoleGrant>> {
    require_manage_org(conn, principal, org_id, &[Role::OrgAdmin])?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| cursor::decode("org_grants", c, 1))
        .transpose()?;
    let limit = cursor::limit(q.limit);
    let rows = store::list_for_org(
        conn,
        org_id,
        q.include_revoked.unwrap_or(false),
        before.as_ref().map(|b| b[0].as_str()),
        limit + 1,
    )?;
    let (rows, next) =
        cursor::paginate(rows, limit, |(g, _)| cursor::encode("org_grants", &[&g.id]));
    Ok(Page {
        items: rows
            .into_iter()
            .map(|(g, n)| to_proto(g, n))
            .collect::<AppResult<_>>()?,
        next_cursor: next,
    })
}
