//! Ending a person's access when his right to it ends.
//!
//! Authorization already reads the account, the session family, the member's standing
//! and the grants on every request ([`crate::store::principals`]), so a change is felt by
//! the next request without any cache to invalidate. What a request cannot see is what
//! is already open: refresh tokens (they would mint new access tokens) and sockets (they
//! were authorized once, at their upgrade, and join tokens carry the grants of their
//! issue). The changes that end membership therefore revoke the person's session
//! families in their own transaction (audited), and queue his sockets to be closed
//! once that transaction has committed ([`SocketsToClose`], drained by
//! [`crate::state::AppState::run_as`]).
//!
//! What each change ends:
//! - removed (出党, 除名, 去世 — a `removed_reason`): sessions, every grant, sign-in;
//! - 停止党籍 (`membership_stopped`): sessions and sign-in while it is set; grants stay on
//!   record but count for nothing while it is set, and work again when it is lifted;
//! - a transfer accepted by the receiving side: the grants held in the old branch end,
//!   the member role moves to the new branch; sockets close (the rooms he sits in are
//!   the old branch's), sessions stay, since he is still a member;
//! - a grant revoked: that grant, at once; sockets close, because a join token carries
//!   the grants it was issued with; sessions stay, he keeps his other roles.

use std::sync::{Mutex, PoisonError};

use hongying_proto::ErrorCode;
use hongying_proto::members::MemberStatus;
use serde_json::json;

use crate::db::AnyConnection;
use crate::error::{AppError, AppResult};
use crate::orgs::Ctx;
use crate::store::{accounts as accounts_store, grants as grants_store, sessions};

/// Why a person's access ended: the close reason of his sockets and the `reason` of the
/// audit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Removed from the party (or from the roster): 出党, 除名, 去世.
    MembershipEnded,
    /// 停止党籍.
    MembershipStopped,
    /// Transferred to another branch: what he held at the old one ended.
    MembershipMoved,
    /// A role grant was revoked.
    GrantEnded,
}

impl EndReason {
    pub const ALL: [EndReason; 4] = [
        Self::MembershipEnded,
        Self::MembershipStopped,
        Self::MembershipMoved,
        Self::GrantEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MembershipEnded => "membership_ended",
            Self::MembershipStopped => "membership_stopped",
            Self::MembershipMoved => "membership_moved",
            Self::GrantEnded => "grant_ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What the person's socket is told before it closes.
    pub fn message_zh(self) -> &'static str {
        match self {
            Self::MembershipEnded => "您的党籍已终止，连接已断开。",
            Self::MembershipStopped => "您的党籍已停止，连接已断开。",
            Self::MembershipMoved => "您的组织关系已转出原党支部，请重新连接。",
            Self::GrantEnded => "您的角色授权已变更，请重新连接。",
        }
    }
}

/// Accounts whose open sockets close once the current change has committed. A change
/// only records them; whoever runs the transaction closes them after the commit, so a
/// rolled-back change closes nothing.
#[derive(Debug, Default)]
pub struct SocketsToClose(Mutex<Vec<(String, EndReason)>>);

impl SocketsToClose {
    pub fn push(&self, account_id: &str, reason: EndReason) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((account_id.to_string(), reason));
    }

    pub fn take(&self) -> Vec<(String, EndReason)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Revokes every session family of `account_id` (its access tokens die with them, since
/// each request checks the family), audits it as `session.revoked` with the reason, and
/// queues the account's sockets. Call inside the change's transaction.
pub fn end_sessions(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    account_id: &str,
    org_id: Option<&str>,
    reason: EndReason,
) -> AppResult<()> {
    let families = sessions::live_families(conn, account_id, ctx.now)?;
    let revoked = sessions::revoke_account(conn, account_id, None, ctx.now)?;
    ctx.audit(
        conn,
        "session.revoked",
        ("account", account_id),
        org_id,
        None,
        Some(json!({
            "reason": reason.as_str(),
            "sessions_ended": families.len(),
            "tokens_revoked": revoked,
        })),
    )?;
    ctx.sockets.push(account_id, reason);
    Ok(())
}

/// Revokes the live grants of `account_id` that `ends` selects, each audited as
/// `grant.revoke` with the reason; returns how many.
pub fn end_grants(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    account_id: &str,
    reason: EndReason,
    mut ends: impl FnMut(&mut AnyConnection, &grants_store::GrantRow) -> AppResult<bool>,
) -> AppResult<usize> {
    let mut n = 0;
    for g in grants_store::live_for_account(conn, account_id)? {
        if !ends(conn, &g)? {
            continue;
        }
        if grants_store::revoke(conn, &g.id, &ctx.principal.account_id, ctx.now)? {
            ctx.audit(
                conn,
                "grant.revoke",
                ("role_grant", &g.id),
                g.org_id.as_deref(),
                Some(json!({"account_id": g.account_id, "role": g.role, "revoked_at": null})),
                Some(json!({
                    "revoked_at": ctx.now.and_utc(),
                    "revoked_by": ctx.principal.account_id,
                    "reason": reason.as_str(),
                })),
            )?;
            n += 1;
        }
    }
    Ok(n)
}

/// The member's roster standing ended or stopped his membership: every account of his
/// loses its sessions (and, when it ended, its grants). Call inside the change's
/// transaction, after the member row is written.
pub fn member_left(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    member_id: &str,
    org_id: &str,
    reason: EndReason,
) -> AppResult<()> {
    for account_id in accounts_store::ids_of_member(conn, member_id)? {
        if reason == EndReason::MembershipEnded {
            end_grants(conn, ctx, &account_id, reason, |_, _| Ok(true))?;
        }
        end_sessions(conn, ctx, &account_id, Some(org_id), reason)?;
    }
    Ok(())
}

/// Why a member's account may not sign in (log in, refresh, activate), if it may not.
pub fn sign_in_refusal(
    conn: &mut AnyConnection,
    member_id: Option<&str>,
) -> AppResult<Option<AppError>> {
    let Some(member_id) = member_id else {
        return Ok(None);
    };
    let Some((status, stopped)) = accounts_store::member_standing(conn, member_id)? else {
        return Ok(None);
    };
    Ok(if status == MemberStatus::Removed.as_str() {
        Some(AppError::Domain {
            status: 403,
            code: ErrorCode::MembershipEnded,
            detail: "您的党籍已终止（出党、除名或去世），该账号不能再登录。如有疑问，请联系原所在党组织。"
                .into(),
        })
    } else if stopped {
        Some(AppError::Domain {
            status: 403,
            code: ErrorCode::MembershipStopped,
            detail: "您的党籍已停止，恢复党籍前该账号不能登录。如有疑问，请联系所在党支部。".into(),
        })
    } else {
        None
    })
}
