//! Live one-to-one consultations, the part without media: the expert's slots, the
//! asker's booking and cancelling, and the record of when the call ran.
//!
//! The seam for the signaling room (a one-to-one room kind without quorum):
//! - [`join_allowed`] says whether a caller may join a consultation's room and names its
//!   two participants (expert account, asker account); issue the join token on that.
//! - [`begin_consultation`] / [`end_consultation`] when the room opens and closes, or
//!   [`record_consultation`] with both times at once; the duration lands on the
//!   question's consultation record.

use chrono::NaiveDateTime;
use hongying_proto::ErrorCode;
use hongying_proto::services::{Consultation, CreateSlot, Slot, SlotList};
use serde_json::json;

use super::questions::{Viewer, load_for};
use super::{QUESTION, conflict, my_expert, notify, utc};
use crate::auth::{Principal, Role};
use crate::authz;
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::Ctx;
use crate::store::audit::{self, Entry};
use crate::store::services::{self as store, ConsultationRow, SlotRow};

pub fn to_proto(r: ConsultationRow) -> Consultation {
    Consultation {
        id: r.id,
        question_id: r.question_id,
        slot_id: r.slot_id,
        expert_id: r.expert_id,
        starts_at: utc(r.starts_at),
        ends_at: utc(r.ends_at),
        status: r.status,
        started_at: r.started_at.map(utc),
        ended_at: r.ended_at.map(utc),
        duration_seconds: r.duration_seconds,
    }
}

fn slot_proto(r: SlotRow) -> Slot {
    Slot {
        id: r.id,
        expert_id: r.expert_id,
        starts_at: utc(r.starts_at),
        ends_at: utc(r.ends_at),
        status: r.status,
    }
}

/// The calling expert offers a time (enabled experts only).
pub fn create_slot(conn: &mut AnyConnection, ctx: &Ctx<'_>, req: CreateSlot) -> AppResult<Slot> {
    write_tx(conn, |c| {
        let me = my_expert(c, ctx.principal)?.ok_or(AppError::Forbidden)?;
        if me.status != "enabled" {
            return Err(AppError::Forbidden);
        }
        let (start, end) = (req.starts_at.naive_utc(), req.ends_at.naive_utc());
        let (start, end) = (
            crate::db::truncate_micros(start),
            crate::db::truncate_micros(end),
        );
        if end <= start || end - start > chrono::Duration::hours(4) {
            return Err(AppError::invalid(
                "ends_at",
                "time_range",
                "结束时间须晚于开始时间，且时长不超过 4 小时。",
            ));
        }
        if start <= ctx.now {
            return Err(AppError::invalid("starts_at", "past", "开始时间须在将来。"));
        }
        if store::slot_overlaps(c, &me.id, start, end)? {
            return Err(AppError::conflict("该时段与您已提供的时段重叠。"));
        }
        let row = SlotRow {
            id: new_id(),
            expert_id: me.id.clone(),
            starts_at: start,
            ends_at: end,
            status: "open".into(),
            created_at: ctx.now,
        };
        store::insert_slot(c, &row)?;
        ctx.audit(
            c,
            "service.slot_create",
            ("service_slot", &row.id),
            Some(&me.org_id),
            None,
            Some(json!({"expert_id": me.id, "starts_at": utc(start), "ends_at": utc(end)})),
        )?;
        Ok(slot_proto(row))
    })
}

/// An expert's slots that have not ended: the expert, `org_admin`s managing him, and
/// askers of a question assigned to him (404 for anyone else).
pub fn list_slots(
    conn: &mut AnyConnection,
    p: &Principal,
    expert_id: &str,
    now: NaiveDateTime,
) -> AppResult<SlotList> {
    let expert = store::find_expert(conn, expert_id)?.ok_or(AppError::NotFound)?;
    let allowed = expert.account_id == p.account_id
        || authz::org_in_scope(conn, p, &expert.org_id, &[Role::OrgAdmin])?
        || store::questions_asked_by(conn, &p.account_id)?
            .iter()
            .any(|q| q.assigned_expert_id.as_deref() == Some(expert_id) && q.status != "closed");
    if !allowed {
        return Err(AppError::NotFound);
    }
    Ok(SlotList {
        items: store::slots_of(conn, expert_id, now)?
            .into_iter()
            .map(slot_proto)
            .collect(),
    })
}

fn slot_taken() -> AppError {
    conflict(ErrorCode::SlotTaken, "该时段已被预约，请选择其他时段。")
}

fn is_unique_violation(e: &AppError) -> bool {
    matches!(e, AppError::Internal(err) if err.downcast_ref::<diesel::result::Error>().is_some_and(|d| {
        matches!(d, diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _))
    }))
}

/// The asker books one of the assigned expert's open slots. Of two bookings of one slot
/// exactly one wins (a conditional update of the slot, backed by a unique index); the
/// other gets 409 `slot_taken`.
pub fn book(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    question_id: &str,
    slot_id: &str,
) -> AppResult<Consultation> {
    let result = write_tx(conn, |c| {
        let (q, v) = load_for(c, ctx.principal, question_id)?;
        if v != Viewer::Asker {
            return Err(AppError::Forbidden);
        }
        if q.status != "accepted" {
            return Err(AppError::IllegalTransition {
                from: q.status.clone(),
                allowed: vec![],
            });
        }
        let slot = store::find_slot(c, slot_id)?
            .filter(|s| q.assigned_expert_id.as_deref() == Some(s.expert_id.as_str()))
            .ok_or_else(|| AppError::invalid("slot_id", "unknown_slot", "没有这个专家时段。"))?;
        if slot.ends_at <= ctx.now {
            return Err(AppError::invalid("slot_id", "past", "该时段已过去。"));
        }
        if store::switch_slot(c, &slot.id, "open", "booked")? != 1 {
            return Err(slot_taken());
        }
        let row = ConsultationRow {
            id: new_id(),
            question_id: q.id.clone(),
            slot_id: slot.id.clone(),
            expert_id: slot.expert_id.clone(),
            asker_account_id: q.asker_account_id.clone(),
            starts_at: slot.starts_at,
            ends_at: slot.ends_at,
            status: "booked".into(),
            started_at: None,
            ended_at: None,
            duration_seconds: None,
            cancelled_by: None,
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        store::insert_consultation(c, &row)?;
        ctx.audit(
            c,
            "service.consultation_book",
            (QUESTION, &q.id),
            Some(&q.area_org_id),
            None,
            Some(json!({"consultation_id": row.id, "slot_id": slot.id,
                        "starts_at": utc(slot.starts_at)})),
        )?;
        if let Some(e) = store::find_expert(c, &slot.expert_id)? {
            notify(
                c,
                &[e.account_id],
                "service_consultation_booked",
                "群众预约了视频咨询",
                &format!(
                    "提问人预约了 {} 开始的视频咨询。",
                    (slot.starts_at + chrono::Duration::hours(8)).format("%Y-%m-%d %H:%M")
                ),
                &q.id,
                ctx.now,
            )?;
        }
        Ok(to_proto(row))
    });
    match result {
        Err(e) if is_unique_violation(&e) => Err(slot_taken()),
        other => other,
    }
}

/// Who a consultation is for, or 404 for anyone else: (is expert, row).
fn load_own(
    conn: &mut AnyConnection,
    p: &Principal,
    id: &str,
) -> AppResult<(ConsultationRow, Viewer)> {
    let row = store::find_consultation(conn, id)?.ok_or(AppError::NotFound)?;
    let (_, v) = load_for(conn, p, &row.question_id)?;
    Ok((row, v))
}

pub fn get(conn: &mut AnyConnection, p: &Principal, id: &str) -> AppResult<Consultation> {
    let (row, v) = load_own(conn, p, id)?;
    if v == Viewer::Offered {
        return Err(AppError::NotFound);
    }
    Ok(to_proto(row))
}

/// The asker or the expert cancels a booked consultation; the slot opens again.
pub fn cancel(conn: &mut AnyConnection, ctx: &Ctx<'_>, id: &str) -> AppResult<Consultation> {
    write_tx(conn, |c| {
        let (mut row, v) = load_own(c, ctx.principal, id)?;
        let expert = store::find_expert(c, &row.expert_id)?;
        let is_expert = expert
            .as_ref()
            .is_some_and(|e| e.account_id == ctx.principal.account_id);
        if v != Viewer::Asker && !is_expert {
            return Err(if v == Viewer::Offered {
                AppError::NotFound
            } else {
                AppError::Forbidden
            });
        }
        if row.status != "booked" {
            return Err(AppError::IllegalTransition {
                from: row.status.clone(),
                allowed: vec![],
            });
        }
        row.status = "cancelled".into();
        row.cancelled_by = Some(ctx.principal.account_id.clone());
        row.updated_at = ctx.now;
        if store::save_consultation(c, &row, "booked")? != 1 {
            return Err(AppError::VersionConflict);
        }
        store::switch_slot(c, &row.slot_id, "booked", "open")?;
        let (q, _) = load_for(c, ctx.principal, &row.question_id)?;
        ctx.audit(
            c,
            "service.consultation_cancel",
            (QUESTION, &q.id),
            Some(&q.area_org_id),
            Some(json!({"consultation_id": row.id, "status": "booked"})),
            Some(json!({"consultation_id": row.id, "status": "cancelled"})),
        )?;
        let other = if is_expert {
            Some(row.asker_account_id.clone())
        } else {
            expert.map(|e| e.account_id)
        };
        if let Some(other) = other {
            notify(
                c,
                &[other],
                "service_consultation_cancelled",
                "视频咨询已取消",
                "一场已预约的视频咨询被取消。",
                &q.id,
                ctx.now,
            )?;
        }
        Ok(to_proto(row))
    })
}

// --- the seam for the signaling room ---------------------------------------------------

/// Whether `principal` may join the consultation's one-to-one room: he must be its
/// expert or its asker, and the consultation booked or running. Returns the two
/// participants' account ids, (expert, asker): the room admits exactly these two.
/// 404 for anyone else (the consultation's existence is not revealed), 409
/// `illegal_transition` when it was cancelled or has ended.
pub fn join_allowed(
    conn: &mut AnyConnection,
    principal: &Principal,
    consultation_id: &str,
) -> AppResult<(String, String)> {
    let row = store::find_consultation(conn, consultation_id)?.ok_or(AppError::NotFound)?;
    let expert = store::find_expert(conn, &row.expert_id)?.ok_or(AppError::NotFound)?;
    let is_expert = expert.account_id == principal.account_id && principal.has_role(Role::Expert);
    if !is_expert && row.asker_account_id != principal.account_id {
        return Err(AppError::NotFound);
    }
    if !matches!(row.status.as_str(), "booked" | "in_progress") {
        return Err(AppError::IllegalTransition {
            from: row.status,
            allowed: vec![],
        });
    }
    Ok((expert.account_id, row.asker_account_id))
}

/// Who may enter a consultation's room now, and as what: [`join_allowed`], and the time
/// is from `open_early` before the slot's start to its end (a running consultation
/// stays open to its two people: a dropped phone comes back after the slot's end too).
/// Returns whether the caller is the expert, who hosts the room (he may end it).
pub fn room_grant(
    conn: &mut AnyConnection,
    principal: &Principal,
    consultation_id: &str,
    now: NaiveDateTime,
    open_early: chrono::Duration,
) -> AppResult<bool> {
    let (expert_account, _) = join_allowed(conn, principal, consultation_id)?;
    let row = store::find_consultation(conn, consultation_id)?.ok_or(AppError::NotFound)?;
    let at = |t: NaiveDateTime| (t + chrono::Duration::hours(8)).format("%Y-%m-%d %H:%M");
    if row.status == "booked" {
        if now < row.starts_at - open_early {
            return Err(conflict(
                ErrorCode::ConsultationNotOpen,
                &format!(
                    "视频咨询 {} 开始，开始前 {} 分钟可进入。",
                    at(row.starts_at),
                    open_early.num_minutes()
                ),
            ));
        }
        if now >= row.ends_at {
            return Err(conflict(
                ErrorCode::ConsultationNotOpen,
                &format!("预约的时段已于 {} 结束，请重新预约。", at(row.ends_at)),
            ));
        }
    }
    Ok(expert_account == principal.account_id)
}

/// The title a consultation's room shows; 409 when it is not booked or running.
pub fn room_title(conn: &mut AnyConnection, consultation_id: &str) -> AppResult<String> {
    let row = store::find_consultation(conn, consultation_id)?.ok_or(AppError::NotFound)?;
    if !matches!(row.status.as_str(), "booked" | "in_progress") {
        return Err(AppError::IllegalTransition {
            from: row.status,
            allowed: vec![],
        });
    }
    let expert = store::find_expert(conn, &row.expert_id)?.ok_or(AppError::NotFound)?;
    Ok(format!("与{}的视频咨询", expert.name))
}

/// The room's occupants changed. Both proven present: the consultation runs from now
/// (again while running: nothing). Returns whether the room is over: nobody is left.
pub fn room_occupancy(
    conn: &mut AnyConnection,
    consultation_id: &str,
    joined: usize,
    present: usize,
    now: NaiveDateTime,
) -> AppResult<bool> {
    if present >= 2 {
        let row = store::find_consultation(conn, consultation_id)?.ok_or(AppError::NotFound)?;
        if row.status == "booked" {
            begin_consultation(conn, consultation_id, now)?;
        }
    }
    Ok(joined == 0)
}

/// The room closed (both left, or the expert ended it): a running
/// consultation ends now with its duration; one that never started stays booked, so
/// the two may still meet within the slot. A node that stops does not close it: the
/// two come back to a room on another node and the consultation runs on.
pub fn room_closed(
    conn: &mut AnyConnection,
    consultation_id: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    let row = store::find_consultation(conn, consultation_id)?.ok_or(AppError::NotFound)?;
    if row.status == "in_progress" {
        end_consultation(conn, consultation_id, now)?;
    }
    Ok(())
}

fn system_audit(
    conn: &mut AnyConnection,
    row: &ConsultationRow,
    action: &str,
    after: serde_json::Value,
    now: NaiveDateTime,
) -> AppResult<()> {
    audit::append(
        conn,
        &Entry {
            action: format!("service.consultation_{action}"),
            target_type: QUESTION.into(),
            target_id: row.question_id.clone(),
            after: Some(after),
            ..Default::default()
        },
        now,
    )?;
    Ok(())
}

/// The room opened: the consultation is running from `now`. Again while running is a
/// no-op.
pub fn begin_consultation(
    conn: &mut AnyConnection,
    consultation_id: &str,
    now: NaiveDateTime,
) -> AppResult<Consultation> {
    write_tx(conn, |c| {
        let mut row = store::find_consultation(c, consultation_id)?.ok_or(AppError::NotFound)?;
        match row.status.as_str() {
            "in_progress" => return Ok(to_proto(row)),
            "booked" => {}
            other => {
                return Err(AppError::IllegalTransition {
                    from: other.to_string(),
                    allowed: vec![],
                });
            }
        }
        row.status = "in_progress".into();
        row.started_at = Some(now);
        row.updated_at = now;
        if store::save_consultation(c, &row, "booked")? != 1 {
            return Err(AppError::VersionConflict);
        }
        system_audit(
            c,
            &row,
            "begin",
            json!({"consultation_id": row.id, "started_at": utc(now)}),
            now,
        )?;
        Ok(to_proto(row))
    })
}

/// The room closed at `now`: records the end and the duration since the start.
pub fn end_consultation(
    conn: &mut AnyConnection,
    consultation_id: &str,
    now: NaiveDateTime,
) -> AppResult<Consultation> {
    let row = store::find_consultation(conn, consultation_id)?.ok_or(AppError::NotFound)?;
    let started = row.started_at.ok_or_else(|| AppError::IllegalTransition {
        from: row.status.clone(),
        allowed: vec![],
    })?;
    record_consultation(conn, consultation_id, started, now)
}

/// Records a consultation that ran from `started_at` to `ended_at`: it becomes
/// `completed` with its duration in whole seconds. For a booked or running consultation.
pub fn record_consultation(
    conn: &mut AnyConnection,
    consultation_id: &str,
    started_at: NaiveDateTime,
    ended_at: NaiveDateTime,
) -> AppResult<Consultation> {
    if ended_at < started_at {
        return Err(AppError::invalid(
            "ended_at",
            "time_range",
            "结束时间不能早于开始时间。",
        ));
    }
    write_tx(conn, |c| {
        let mut row = store::find_consultation(c, consultation_id)?.ok_or(AppError::NotFound)?;
        let from = row.status.clone();
        if !matches!(from.as_str(), "booked" | "in_progress") {
            return Err(AppError::IllegalTransition {
                from,
                allowed: vec![],
            });
        }
        let started_at = crate::db::truncate_micros(started_at);
        let ended_at = crate::db::truncate_micros(ended_at);
        row.status = "completed".into();
        row.started_at = Some(started_at);
        row.ended_at = Some(ended_at);
        row.duration_seconds = Some((ended_at - started_at).num_seconds());
        row.updated_at = ended_at;
        if store::save_consultation(c, &row, &from)? != 1 {
            return Err(AppError::VersionConflict);
        }
        system_audit(
            c,
            &row,
            "record",
            json!({"consultation_id": row.id, "started_at": utc(started_at),
                   "ended_at": utc(ended_at), "duration_seconds": row.duration_seconds}),
            ended_at,
        )?;
        Ok(to_proto(row))
    })
}
