//! Transfer requests: creation, reading and the steps of the state machine, each step
//! recorded, audited and announced in the transaction that takes it.

use chrono::{DateTime, NaiveDateTime, Utc};
use hongying_proto::ErrorCode;
use hongying_proto::members::MemberStatus;
use hongying_proto::transfers::{
    CreateTransfer, Letter, LetterVerification, RegisterIncoming, Transfer, TransferCounts,
    TransferKind, TransferStep, TransferStepRequest, TransferWorklist,
};
use serde_json::json;

use crate::accounts::revocation::{self, EndReason, SocketsToClose};
use crate::auth::principal::RequestMeta;
use crate::auth::{Principal, Role};
use crate::authz;
use crate::crypto::pii::Pii;
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::Ctx;
use crate::store::accounts as accounts_store;
use crate::store::audit::{self, Entry};
use crate::store::members::{self as members_store, HistoryRow};
use crate::store::orgs as orgs_store;
use crate::store::transfers::{self as store, LetterRow, StepRow, TransferRow};

use super::letters::{self, LetterKeys, LetterPolicy};
use super::machine::{self, Action, Party, Route, Status};

const BRANCH_ROLES: [&str; 2] = ["branch_secretary", "branch_committee"];

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

fn unprocessable(code: ErrorCode, detail: &str) -> AppError {
    AppError::Domain {
        status: 422,
        code,
        detail: detail.to_string(),
    }
}

/// A `YYYY-MM` month (党费已交到), normalized.
fn check_month(s: &str) -> AppResult<String> {
    let ok = s
        .split_once('-')
        .filter(|(y, m)| y.len() == 4 && m.len() == 2)
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
        .filter(|(y, m)| (1921..=2200).contains(y) && (1..=12).contains(m));
    match ok {
        Some((y, m)) => Ok(format!("{y:04}-{m:02}")),
        None => Err(AppError::invalid(
            "dues_paid_to",
            "invalid_month",
            "党费交至年月格式为 YYYY-MM，例如 2026-11。",
        )),
    }
}

fn route_of(row: &TransferRow) -> Route {
    if row.kind == TransferKind::IntoCity.as_str() {
        Route::Incoming
    } else if row.to_org_id.is_some() {
        Route::Internal
    } else {
        Route::Outside
    }
}

fn status_of(row: &TransferRow) -> AppResult<Status> {
    Status::parse(&row.status).ok_or_else(|| {
        AppError::Internal(anyhow::anyhow!("unknown transfer status {}", row.status))
    })
}

fn holds_branch_role_at(principal: &Principal, org_id: Option<&str>) -> bool {
    let Some(org_id) = org_id else { return false };
    principal.grants.iter().any(|g| {
        matches!(g.role, Role::BranchSecretary | Role::BranchCommittee)
            && g.org_id.as_deref() == Some(org_id)
    })
}

/// Whether the caller acts as `party` on this transfer, and at which organization.
fn acts_as(
    conn: &mut AnyConnection,
    principal: &Principal,
    row: &TransferRow,
    party: Party,
) -> AppResult<Option<Option<String>>> {
    let committee = |org: &Option<String>, conn: &mut AnyConnection| -> AppResult<bool> {
        Ok(match org {
            Some(o) => authz::org_in_scope(conn, principal, o, &[Role::OrgAdmin])?,
            None => false,
        })
    };
    let yes = match party {
        Party::Member => principal.member_id.as_deref() == Some(row.member_id.as_str()),
        Party::SendingBranch => {
            principal.is_super_admin()
                || holds_branch_role_at(principal, row.from_org_id.as_deref())
        }
        Party::SendingCommittee => committee(&row.from_committee_id, conn)?,
        Party::ReceivingCommittee => committee(&row.to_committee_id, conn)?,
        Party::ReceivingBranch => {
            principal.is_super_admin() || holds_branch_role_at(principal, row.to_org_id.as_deref())
        }
    };
    if !yes {
        return Ok(None);
    }
    let org = match party {
        Party::Member => principal.member_org_id.clone(),
        Party::SendingBranch => row.from_org_id.clone(),
        Party::SendingCommittee => row.from_committee_id.clone(),
        Party::ReceivingCommittee => row.to_committee_id.clone(),
        Party::ReceivingBranch => row.to_org_id.clone(),
    };
    Ok(Some(org))
}

/// The member himself, or a manager in scope of either side.
fn can_read(conn: &mut AnyConnection, principal: &Principal, row: &TransferRow) -> AppResult<bool> {
    if principal.member_id.as_deref() == Some(row.member_id.as_str()) {
        return Ok(true);
    }
    for org in [&row.from_org_id, &row.to_org_id, &row.to_committee_id]
        .into_iter()
        .flatten()
    {
        if authz::org_in_scope(conn, principal, org, &Role::MANAGERS)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn to_proto(conn: &mut AnyConnection, row: TransferRow) -> AppResult<Transfer> {
    let steps = store::steps(conn, &row.id)?
        .into_iter()
        .map(|s| TransferStep {
            seq: s.seq,
            action: s.action,
            from_status: s.from_status,
            to_status: s.to_status,
            actor_account_id: s.actor_account_id,
            actor_org_id: s.actor_org_id,
            comment: s.comment,
            created_at: utc(s.created_at),
        })
        .collect();
    let status = status_of(&row)?;
    let allowed = machine::allowed(status, route_of(&row))
        .into_iter()
        .map(|a| a.as_str().to_string())
        .collect();
    let letters = store::letters_of(conn, &row.id)?
        .iter()
        .map(letters::summary)
        .collect();
    Ok(Transfer {
        id: row.id,
        member_id: row.member_id,
        kind: row.kind,
        from_org_id: row.from_org_id,
        from_committee_id: row.from_committee_id,
        to_org_id: row.to_org_id,
        to_committee_id: row.to_committee_id,
        to_branch_id: row.to_branch_id,
        outside_org_name: row.outside_org_name,
        outside_org_address: row.outside_org_address,
        incoming_letter_serial: row.incoming_letter_serial,
        reason: row.reason,
        planned_on: row.planned_on,
        status: row.status,
        reject_reason: row.reject_reason,
        dues_paid_to: row.dues_paid_to,
        version: row.version,
        allowed,
        steps,
        letters,
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
    })
}

/// The member ids to tell about a transfer now in `status`: the member and whoever acts next.
fn recipients(
    conn: &mut AnyConnection,
    row: &TransferRow,
    status: Status,
) -> AppResult<Vec<String>> {
    let mut out = vec![row.member_id.clone()];
    for party in machine::next_parties(status, route_of(row)) {
        let (org, roles): (Option<&String>, &[&str]) = match party {
            Party::Member => continue,
            Party::SendingBranch => (row.from_org_id.as_ref(), &BRANCH_ROLES),
            Party::ReceivingBranch => (row.to_org_id.as_ref(), &BRANCH_ROLES),
            Party::SendingCommittee => (row.from_committee_id.as_ref(), &["org_admin"]),
            Party::ReceivingCommittee => (row.to_committee_id.as_ref(), &["org_admin"]),
        };
        if let Some(org) = org {
            out.extend(store::member_ids_with_roles(conn, org, roles)?);
        }
    }
    Ok(out)
}

fn announce(
    conn: &mut AnyConnection,
    row: &TransferRow,
    status: Status,
    letter: Option<&LetterRow>,
    now: NaiveDateTime,
) -> AppResult<()> {
    let ids = recipients(conn, row, status)?;
    let mut text = format!("组织关系转接：{}", status.progress_zh());
    if let Some(l) = letter {
        text.push_str(&format!(
            "已开具党员组织关系介绍信 {}，有效期至 {}。",
            l.serial.as_deref().unwrap_or_default(),
            l.expires_on
        ));
    }
    crate::notices::create_for_members(
        conn,
        &ids,
        "transfer_step",
        "组织关系转接进展",
        &text,
        Some(("transfer", &row.id)),
        now,
    )?;
    Ok(())
}

pub fn create(
    conn: &mut AnyConnection,
    principal: &Principal,
    meta: &RequestMeta,
    req: &CreateTransfer,
    now: NaiveDateTime,
) -> AppResult<Transfer> {
    let member = members_store::find(conn, &req.member_id)?.ok_or(AppError::NotFound)?;
    let is_self = principal.member_id.as_deref() == Some(member.id.as_str());
    let is_secretary = principal.is_super_admin()
        || authz::org_in_scope(
            conn,
            principal,
            &member.org_id,
            &[Role::BranchSecretary, Role::BranchCommittee],
        )?;
    if !is_self && !is_secretary {
        authz::require_read_org(conn, principal, &member.org_id)?;
        return Err(AppError::Forbidden);
    }
    if !matches!(member.status.as_str(), "full" | "probationary") {
        return Err(unprocessable(
            ErrorCode::TransitionPrecondition,
            "只有正式党员和预备党员才能转接党员组织关系。",
        ));
    }
    let dues_paid_to = req.dues_paid_to.as_deref().map(check_month).transpose()?;
    let from_committee = store::approving_ancestor(conn, &member.org_id)?.ok_or_else(|| {
        unprocessable(
            ErrorCode::TransitionPrecondition,
            "党员所在党支部上级没有具有审批权限的基层党委，无法办理转接。",
        )
    })?;
    let (to_org_id, to_committee_id, outside_name) = match req.kind {
        TransferKind::WithinCounty | TransferKind::WithinCity => {
            let Some(to) = req.to_org_id.clone() else {
                return Err(unprocessable(
                    ErrorCode::ValidationFailed,
                    "请选择接收党支部。",
                ));
            };
            match store::org_kind(conn, &to)?.as_deref() {
                Some("branch") => {}
                Some(_) => {
                    return Err(unprocessable(
                        ErrorCode::NotABranch,
                        "接收组织必须是党支部。",
                    ));
                }
                None => {
                    return Err(unprocessable(
                        ErrorCode::ValidationFailed,
                        "接收党支部不存在。",
                    ));
                }
            }
            if to == member.org_id {
                return Err(unprocessable(
                    ErrorCode::ValidationFailed,
                    "接收党支部不能是党员当前所在党支部。",
                ));
            }
            let committee = store::approving_ancestor(conn, &to)?.ok_or_else(|| {
                unprocessable(
                    ErrorCode::TransitionPrecondition,
                    "接收党支部上级没有具有审批权限的基层党委。",
                )
            })?;
            (Some(to), Some(committee), None)
        }
        TransferKind::OutOfCity => {
            let Some(name) = req.outside_org_name.clone() else {
                return Err(unprocessable(
                    ErrorCode::ValidationFailed,
                    "请填写接收单位名称。",
                ));
            };
            if req.to_org_id.is_some() {
                return Err(unprocessable(
                    ErrorCode::ValidationFailed,
                    "转往市外时请填写接收单位名称，不选择系统内组织。",
                ));
            }
            (None, None, Some(name))
        }
        TransferKind::IntoCity => {
            return Err(unprocessable(
                ErrorCode::ValidationFailed,
                "市外转入由接收方凭介绍信登记（POST /api/v1/transfers/incoming）。",
            ));
        }
    };
    write_tx(conn, |c| {
        if store::open_for_member(c, &member.id)? {
            return Err(AppError::Conflict {
                code: ErrorCode::AlreadyExists,
                detail: "该党员已有正在办理的组织关系转接。".into(),
            });
        }
        let row = TransferRow {
            id: new_id(),
            member_id: member.id.clone(),
            kind: req.kind.as_str().to_string(),
            from_org_id: Some(member.org_id.clone()),
            from_committee_id: Some(from_committee.clone()),
            to_org_id: to_org_id.clone(),
            to_committee_id: to_committee_id.clone(),
            to_branch_id: None,
            outside_org_name: outside_name.clone(),
            outside_org_address: req.outside_org_address.clone(),
            incoming_letter_serial: None,
            reason: req.reason.clone(),
            planned_on: req.planned_on,
            status: Status::Submitted.as_str().to_string(),
            reject_reason: None,
            dues_paid_to: dues_paid_to.clone(),
            created_by: principal.account_id.clone(),
            created_at: now,
            updated_at: now,
            status_since: now,
            version: 1,
        };
        store::insert(c, &row)?;
        store::insert_step(
            c,
            &StepRow {
                id: new_id(),
                transfer_id: row.id.clone(),
                seq: 1,
                action: "submit".into(),
                from_status: "new".into(),
                to_status: row.status.clone(),
                actor_account_id: principal.account_id.clone(),
                actor_org_id: principal.primary_org(),
                comment: None,
                created_at: now,
            },
        )?;
        audit::append(
            c,
            &Entry {
                actor_account_id: Some(principal.account_id.clone()),
                actor_org_id: principal.primary_org(),
                action: "transfer.create".into(),
                target_type: "transfer".into(),
                target_id: row.id.clone(),
                org_id: row.from_org_id.clone(),
                before: None,
                after: Some(json!({
                    "member_id": row.member_id, "kind": row.kind, "to_org_id": row.to_org_id,
                    "outside_org_name": row.outside_org_name, "status": row.status,
                })),
                request_id: meta.request_id.clone(),
                client_addr: meta.client_addr.clone(),
            },
            now,
        )?;
        announce(c, &row, Status::Submitted, None, now)?;
        to_proto(c, row)
    })
}

pub fn get(conn: &mut AnyConnection, principal: &Principal, id: &str) -> AppResult<Transfer> {
    let row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
    if !can_read(conn, principal, &row)? {
        return Err(AppError::NotFound);
    }
    to_proto(conn, row)
}

/// Takes one step. Everything is read again inside the write transaction and the update
/// is conditional on the status and version read, so of two approvers acting at once one
/// wins and the other gets 409. The sending committee's approval issues the letter (and a
/// reissue voids the old one and issues a new serial) in the same transaction; two
/// committees' letters racing for one serial number retry the step.
#[allow(clippy::too_many_arguments)]
pub fn act(
    conn: &mut AnyConnection,
    principal: &Principal,
    meta: &RequestMeta,
    policy: &LetterPolicy<'_>,
    id: &str,
    req: &TransferStepRequest,
    now: NaiveDateTime,
    sockets: &SocketsToClose,
) -> AppResult<Transfer> {
    let mut tries = 0;
    loop {
        match act_once(conn, principal, meta, policy, id, req, now, sockets) {
            Err(e) if letters::is_serial_taken(&e) && tries < 5 => tries += 1,
            other => return other,
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn act_once(
    conn: &mut AnyConnection,
    principal: &Principal,
    meta: &RequestMeta,
    policy: &LetterPolicy<'_>,
    id: &str,
    req: &TransferStepRequest,
    now: NaiveDateTime,
    sockets: &SocketsToClose,
) -> AppResult<Transfer> {
    let ctx = Ctx {
        principal,
        meta,
        now,
        sockets,
    };
    write_tx(conn, |c| {
        let row = store::find(c, id)?.ok_or(AppError::NotFound)?;
        if !can_read(c, principal, &row)? {
            return Err(AppError::NotFound);
        }
        let status = status_of(&row)?;
        let route = route_of(&row);
        let illegal = || AppError::IllegalTransition {
            from: status.as_str().to_string(),
            allowed: machine::allowed(status, route)
                .into_iter()
                .map(|a| a.as_str().to_string())
                .collect(),
        };
        let action = Action::parse(&req.action).ok_or_else(illegal)?;
        let (next, parties) = machine::step(status, action, route).ok_or_else(illegal)?;
        let mut actor_org = None;
        let mut allowed_party = false;
        for p in parties {
            if let Some(org) = acts_as(c, principal, &row, *p)? {
                actor_org = org;
                allowed_party = true;
                break;
            }
        }
        if !allowed_party {
            return Err(AppError::Forbidden);
        }
        if req.version.is_some_and(|v| v != row.version) {
            return Err(AppError::VersionConflict);
        }
        let comment = req
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if action == Action::Reject && comment.is_none() {
            return Err(unprocessable(
                ErrorCode::ValidationFailed,
                "退回或拒绝须填写理由。",
            ));
        }
        let dues = match req.dues_paid_to.as_deref() {
            Some(m) if matches!(action, Action::ApproveBranch | Action::ApproveCommittee) => {
                Some(check_month(m)?)
            }
            Some(_) => {
                return Err(AppError::invalid(
                    "dues_paid_to",
                    "not_at_this_step",
                    "党费交至年月在党支部或基层党委审批时填写。",
                ));
            }
            None => None,
        };
        let today = crate::orgs::today_cn(now);
        if action == Action::Expire
            && let Some(l) = store::letters_of(c, &row.id)?
                .into_iter()
                .find(|l| letters::valid_on(l, today))
        {
            return Err(AppError::Conflict {
                code: ErrorCode::TransitionPrecondition,
                detail: format!(
                    "介绍信 {} 有效期至 {}，尚未过期。",
                    l.serial.as_deref().unwrap_or_default(),
                    l.expires_on
                ),
            });
        }
        let reject_reason = (action == Action::Reject).then_some(comment).flatten();
        let to_branch = (action == Action::Assign)
            .then_some(row.to_org_id.as_deref())
            .flatten();
        let n = store::advance(
            c,
            &row.id,
            &row.status,
            row.version,
            next.as_str(),
            reject_reason,
            to_branch,
            now,
        )?;
        if n == 0 {
            return Err(AppError::VersionConflict);
        }
        if let Some(m) = &dues {
            store::set_dues_paid_to(c, &row.id, m)?;
        }
        let seq = store::next_seq(c, &row.id)?;
        store::insert_step(
            c,
            &StepRow {
                id: new_id(),
                transfer_id: row.id.clone(),
                seq,
                action: action.as_str().into(),
                from_status: status.as_str().into(),
                to_status: next.as_str().into(),
                actor_account_id: principal.account_id.clone(),
                actor_org_id: actor_org.clone(),
                comment: comment.map(str::to_string),
                created_at: now,
            },
        )?;
        let entry = |action: String, before, after| Entry {
            actor_account_id: Some(principal.account_id.clone()),
            actor_org_id: actor_org.clone(),
            action,
            target_type: "transfer".into(),
            target_id: row.id.clone(),
            org_id: row.from_org_id.clone().or_else(|| row.to_org_id.clone()),
            before,
            after,
            request_id: meta.request_id.clone(),
            client_addr: meta.client_addr.clone(),
        };
        audit::append(
            c,
            &entry(
                format!("transfer.{}", action.as_str()),
                Some(json!({"status": status.as_str()})),
                Some(json!({"status": next.as_str(), "comment": comment, "dues_paid_to": dues})),
            ),
            now,
        )?;
        // The letter: issued on the sending committee's approval, voided when the
        // transfer is turned down, replaced on a reissue, stamped when the 回执 returns.
        let void_reason = match action {
            Action::Reissue => Some("reissued"),
            Action::Revoke => Some("revoked"),
            Action::Reject => Some("rejected"),
            _ => None,
        };
        let mut voided = Vec::new();
        if let Some(reason) = void_reason {
            voided = store::void_letters(c, &row.id, reason, now)?;
            for l in &voided {
                audit::append(
                    c,
                    &entry(
                        "transfer.letter_void".into(),
                        Some(json!({"letter_id": l.id, "serial": l.serial, "status": "valid"})),
                        Some(json!({"status": "void", "void_reason": reason})),
                    ),
                    now,
                )?;
            }
        }
        let mut issued = None;
        if matches!(action, Action::ApproveCommittee | Action::Reissue)
            && letters::needs_letter(&row.kind)
        {
            let fresh = store::find(c, &row.id)?.ok_or(AppError::NotFound)?;
            let from = voided.last().map(|l| l.id.as_str());
            let l = letters::issue(c, policy, &fresh, from, now)?;
            audit::append(
                c,
                &entry(
                    "transfer.letter_issue".into(),
                    None,
                    Some(json!({
                        "letter_id": l.id, "serial": l.serial, "validity_days": l.validity_days,
                        "expires_on": l.expires_on, "reissued_from": l.reissued_from,
                    })),
                ),
                now,
            )?;
            issued = Some(l);
        }
        if action == Action::ReturnReceipt {
            store::stamp_receipt(c, &row.id, now)?;
        }
        if action == Action::Accept {
            move_member(c, &ctx, &row)?;
        }
        if route == Route::Incoming && matches!(action, Action::Reject | Action::Revoke) {
            drop_unreceived(c, &ctx, &row, comment.unwrap_or("撤销登记"))?;
        }
        let updated = store::find(c, &row.id)?.ok_or(AppError::NotFound)?;
        announce(c, &updated, next, issued.as_ref(), now)?;
        to_proto(c, updated)
    })
}

/// An incoming member the receiving committee turned down (or whose registration it
/// revoked) never joined the branch: his roster entry is marked removed, with history
/// and audit, in the caller's transaction.
fn drop_unreceived(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    row: &TransferRow,
    reason: &str,
) -> AppResult<()> {
    use crate::db::schema::members;
    use diesel::prelude::*;
    let (principal, meta, now) = (ctx.principal, ctx.meta, ctx.now);
    let Some(member) = members_store::find(conn, &row.member_id)? else {
        return Ok(());
    };
    if member.status == MemberStatus::Removed.as_str() {
        return Ok(());
    }
    let why = format!("组织关系转入未被接收：{reason}");
    diesel::update(members::table.find(&member.id))
        .set((
            members::status.eq(MemberStatus::Removed.as_str()),
            members::removed_reason.eq(&why),
            members::updated_at.eq(now),
            members::version.eq(members::version + 1),
        ))
        .execute(conn)?;
    members_store::insert_history(
        conn,
        &HistoryRow {
            id: new_id(),
            member_id: member.id.clone(),
            change: "status".into(),
            from_value: Some(member.status.clone()),
            to_value: MemberStatus::Removed.as_str().into(),
            effective_on: crate::orgs::today_cn(now),
            reason: Some(why.clone()),
            actor_account_id: Some(principal.account_id.clone()),
            created_at: now,
        },
    )?;
    audit::append(
        conn,
        &Entry {
            actor_account_id: Some(principal.account_id.clone()),
            actor_org_id: row.to_committee_id.clone(),
            action: "member.status".into(),
            target_type: "member".into(),
            target_id: member.id.clone(),
            org_id: Some(member.org_id.clone()),
            before: Some(json!({"status": member.status})),
            after: Some(json!({"status": "removed", "removed_reason": why})),
            request_id: meta.request_id.clone(),
            client_addr: meta.client_addr.clone(),
        },
        now,
    )?;
    revocation::member_left(
        conn,
        ctx,
        &member.id,
        &member.org_id,
        EndReason::MembershipEnded,
    )
}

/// The receiving committee accepted: the relationship moves to the receiving branch (its
/// party group cleared), recorded in the member's history and audited, in the caller's
/// transaction. Until now the member belonged to the old branch.
fn move_member(conn: &mut AnyConnection, ctx: &Ctx<'_>, row: &TransferRow) -> AppResult<()> {
    use crate::db::schema::members;
    use diesel::prelude::*;
    let (principal, meta, now) = (ctx.principal, ctx.meta, ctx.now);
    let Some(to) = row.to_org_id.as_deref() else {
        return Ok(());
    };
    let Some(from) = row.from_org_id.as_deref() else {
        // 市外转入: entered on the roster at registration; the acceptance is the move in.
        let outside = row.outside_org_name.clone().unwrap_or_default();
        members_store::insert_history(
            conn,
            &HistoryRow {
                id: new_id(),
                member_id: row.member_id.clone(),
                change: "org_transfer".into(),
                from_value: Some(outside.clone()),
                to_value: to.to_string(),
                effective_on: crate::orgs::today_cn(now),
                reason: Some(format!(
                    "市外转入（{outside} 介绍信 {}）",
                    row.incoming_letter_serial.as_deref().unwrap_or_default()
                )),
                actor_account_id: Some(principal.account_id.clone()),
                created_at: now,
            },
        )?;
        audit::append(
            conn,
            &Entry {
                actor_account_id: Some(principal.account_id.clone()),
                actor_org_id: row.to_committee_id.clone(),
                action: "member.transfer".into(),
                target_type: "member".into(),
                target_id: row.member_id.clone(),
                org_id: Some(to.to_string()),
                before: Some(json!({"from_outside": outside})),
                after: Some(json!({"org_id": to})),
                request_id: meta.request_id.clone(),
                client_addr: meta.client_addr.clone(),
            },
            now,
        )?;
        return Ok(());
    };
    let n = diesel::update(
        members::table
            .filter(members::id.eq(&row.member_id))
            .filter(members::org_id.eq(from)),
    )
    .set((
        members::org_id.eq(to),
        members::party_group_id.eq(None::<String>),
        members::updated_at.eq(now),
        members::version.eq(members::version + 1),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(AppError::Conflict {
            code: ErrorCode::TransitionPrecondition,
            detail: "党员已不在转出党支部，无法接收。".into(),
        });
    }
    members_store::insert_history(
        conn,
        &HistoryRow {
            id: new_id(),
            member_id: row.member_id.clone(),
            change: "org_transfer".into(),
            from_value: Some(from.to_string()),
            to_value: to.to_string(),
            effective_on: now.date(),
            reason: Some(format!("组织关系转接 {}", row.id)),
            actor_account_id: Some(principal.account_id.clone()),
            created_at: now,
        },
    )?;
    audit::append(
        conn,
        &Entry {
            actor_account_id: Some(principal.account_id.clone()),
            actor_org_id: row.to_committee_id.clone(),
            action: "member.transfer".into(),
            target_type: "member".into(),
            target_id: row.member_id.clone(),
            org_id: Some(to.to_string()),
            before: Some(json!({"org_id": from})),
            after: Some(json!({"org_id": to, "party_group_id": null})),
            request_id: meta.request_id.clone(),
            client_addr: meta.client_addr.clone(),
        },
        now,
    )?;
    // What he held in the old branch (and its party groups) was held as its member; he
    // is a member of the new branch now, and his member role goes with him.
    for account_id in accounts_store::ids_of_member(conn, &row.member_id)? {
        revocation::end_grants(
            conn,
            ctx,
            &account_id,
            EndReason::MembershipMoved,
            |c, g| {
                let Some(org) = &g.org_id else {
                    return Ok(false);
                };
                Ok(orgs_store::ancestors(c, org)?
                    .iter()
                    .any(|(a, _)| a == from))
            },
        )?;
        let role = Role::Member.as_str();
        if accounts_store::ensure_grant(conn, &account_id, role, Some(to), None, now)? {
            ctx.audit(
                conn,
                "grant.create",
                ("account", &account_id),
                Some(to),
                None,
                Some(json!({
                    "account_id": account_id, "role": role, "org_id": to,
                    "reason": EndReason::MembershipMoved.as_str(),
                })),
            )?;
        }
        ctx.sockets.push(&account_id, EndReason::MembershipMoved);
    }
    Ok(())
}

/// The organization's work lists (ids, oldest first) with their counts.
pub fn worklist(
    conn: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
    overdue_days: Option<u32>,
    now: NaiveDateTime,
) -> AppResult<TransferWorklist> {
    authz::require_manage_org(conn, principal, org_id, &Role::MANAGERS)?;
    let days = overdue_days.unwrap_or(7);
    if !(1..=365).contains(&days) {
        return Err(unprocessable(
            ErrorCode::ValidationFailed,
            "超时天数须在 1 到 365 之间。",
        ));
    }
    let cutoff = now - chrono::Duration::days(i64::from(days));
    let mut w = TransferWorklist {
        todo: vec![],
        waiting: vec![],
        history_out: vec![],
        history_in: vec![],
        overdue: vec![],
        counts: TransferCounts {
            todo: 0,
            waiting: 0,
            history_out: 0,
            history_in: 0,
            overdue: 0,
        },
    };
    let is = |o: &Option<String>| o.as_deref() == Some(org_id);
    for row in store::involving(conn, org_id)? {
        let status = status_of(&row)?;
        if is(&row.from_org_id) || is(&row.from_committee_id) {
            w.history_out.push(row.id.clone());
        }
        if is(&row.to_org_id) || is(&row.to_committee_id) {
            w.history_in.push(row.id.clone());
        }
        if status.is_terminal() {
            continue;
        }
        let mine = machine::next_parties(status, route_of(&row))
            .into_iter()
            .any(|p| match p {
                Party::Member => false,
                Party::SendingBranch => is(&row.from_org_id),
                Party::SendingCommittee => is(&row.from_committee_id),
                Party::ReceivingCommittee => is(&row.to_committee_id),
                Party::ReceivingBranch => is(&row.to_org_id),
            });
        if mine {
            if row.status_since <= cutoff {
                w.overdue.push(row.id.clone());
            }
            w.todo.push(row.id);
        } else {
            w.waiting.push(row.id);
        }
    }
    let n = |v: &Vec<String>| u32::try_from(v.len()).unwrap_or(u32::MAX);
    w.counts = TransferCounts {
        todo: n(&w.todo),
        waiting: n(&w.waiting),
        history_out: n(&w.history_out),
        history_in: n(&w.history_in),
        overdue: n(&w.overdue),
    };
    Ok(w)
}

/// `POST /transfers/incoming`: the receiving side registers a member who comes from
/// outside the city with a paper letter. The person is entered on the receiving branch's
/// roster (audited as `member.create`) but belongs to no body until the receiving
/// committee accepts; the transfer starts at that step (`approved_by_committee`).
pub fn register_incoming(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    req: &RegisterIncoming,
) -> AppResult<Transfer> {
    use crate::members::service as members;
    let principal = ctx.principal;
    authz::require_manage_org(conn, principal, &req.to_org_id, &Role::MANAGERS)?;
    members::check_branch(conn, &req.to_org_id)?;
    let to_committee = store::approving_ancestor(conn, &req.to_org_id)?.ok_or_else(|| {
        unprocessable(
            ErrorCode::TransitionPrecondition,
            "接收党支部上级没有具有审批权限的基层党委。",
        )
    })?;
    if !matches!(
        req.person.status,
        MemberStatus::Full | MemberStatus::Probationary
    ) {
        return Err(AppError::invalid(
            "person.status",
            "not_a_party_member",
            "转入的须为正式党员或预备党员。",
        ));
    }
    let dues_paid_to = req.dues_paid_to.as_deref().map(check_month).transpose()?;
    let serial = req.incoming_letter_serial.trim().to_string();
    let from_name = req.from_org_name.trim().to_string();
    let draft = members::Draft::from_request(&req.to_org_id, &req.person, ctx.today())?;
    if let Some(e) =
        members::check_party_group(conn, &req.to_org_id, draft.party_group_id.as_deref())?
    {
        return Err(AppError::Validation(vec![e]));
    }
    write_tx(conn, |c| {
        if store::incoming_serial_open(c, &from_name, &serial)? {
            return Err(AppError::Conflict {
                code: ErrorCode::AlreadyExists,
                detail: format!("{from_name}开具的介绍信 {serial} 已登记。"),
            });
        }
        let member = members::insert_draft(c, ctx, pii, &draft)?;
        let row = TransferRow {
            id: new_id(),
            member_id: member.id.clone(),
            kind: TransferKind::IntoCity.as_str().to_string(),
            from_org_id: None,
            from_committee_id: None,
            to_org_id: Some(req.to_org_id.clone()),
            to_committee_id: Some(to_committee.clone()),
            to_branch_id: None,
            outside_org_name: Some(from_name.clone()),
            outside_org_address: req.from_org_address.clone(),
            incoming_letter_serial: Some(serial.clone()),
            reason: req.reason.clone(),
            planned_on: None,
            status: Status::ApprovedByCommittee.as_str().to_string(),
            reject_reason: None,
            dues_paid_to: dues_paid_to.clone(),
            created_by: principal.account_id.clone(),
            created_at: ctx.now,
            updated_at: ctx.now,
            status_since: ctx.now,
            version: 1,
        };
        store::insert(c, &row)?;
        store::insert_step(
            c,
            &StepRow {
                id: new_id(),
                transfer_id: row.id.clone(),
                seq: 1,
                action: "register_incoming".into(),
                from_status: "new".into(),
                to_status: row.status.clone(),
                actor_account_id: principal.account_id.clone(),
                actor_org_id: Some(req.to_org_id.clone()),
                comment: Some(format!("{from_name} 介绍信 {serial}")),
                created_at: ctx.now,
            },
        )?;
        ctx.audit(
            c,
            "transfer.register_incoming",
            ("transfer", &row.id),
            Some(&req.to_org_id),
            None,
            Some(json!({
                "member_id": row.member_id, "kind": row.kind, "to_org_id": row.to_org_id,
                "from_org_name": from_name, "incoming_letter_serial": serial,
                "status": row.status,
            })),
        )?;
        announce(c, &row, Status::ApprovedByCommittee, None, ctx.now)?;
        to_proto(c, row)
    })
}

/// A letter and its transfer, for a caller who may read the transfer (404 otherwise).
fn readable_letter(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
) -> AppResult<LetterRow> {
    let letter = store::find_letter(conn, id)?.ok_or(AppError::NotFound)?;
    let transfer = store::find(conn, &letter.transfer_id)?.ok_or(AppError::NotFound)?;
    if !can_read(conn, principal, &transfer)? {
        return Err(AppError::NotFound);
    }
    Ok(letter)
}

/// `GET /letters/{id}`: the letter as printed, with its QR token.
pub fn get_letter(
    conn: &mut AnyConnection,
    principal: &Principal,
    keys: &LetterKeys<'_>,
    id: &str,
    now: NaiveDateTime,
) -> AppResult<Letter> {
    let l = readable_letter(conn, principal, id)?;
    letters::to_proto(keys, &l, now)
}

/// `GET /letters/{id}/print`: the printable letter (存根, 介绍信 with its QR code, 回执).
pub fn print_letter(
    conn: &mut AnyConnection,
    principal: &Principal,
    keys: &LetterKeys<'_>,
    id: &str,
    now: NaiveDateTime,
) -> AppResult<String> {
    let l = readable_letter(conn, principal, id)?;
    let letter = letters::to_proto(keys, &l, now)?;
    let address = store::org_name_address(conn, &l.issuing_org_id)?.and_then(|(_, a)| a);
    let qr = letters::qr_svg(&letter.verify_url)?;
    Ok(letters::html(
        &letter,
        address.as_deref(),
        &qr,
        crate::orgs::today_cn(now),
    ))
}

/// `GET /letters/verify/{token}` (public).
pub fn verify_letter(
    conn: &mut AnyConnection,
    keys: &LetterKeys<'_>,
    token: &str,
    now: NaiveDateTime,
) -> AppResult<LetterVerification> {
    letters::verify(conn, keys, token, now)
}
