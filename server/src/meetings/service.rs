//! Meeting logic: create and edit, the lifecycle with its roster snapshot and notices,
//! listing, observers and exclusions. Each change runs with its checks and its audit row
//! in one write transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use hongying_proto::meetings::{
    AddObserver, AgendaItem, ApprovalBy, CreateExclusion, CreateMeeting, Exclusion,
    ExclusionReason, HeldAs, Meeting, MeetingKind, MeetingListQuery, MeetingMode, MeetingStatus,
    Observer, ObserverKind, QuorumReport, UpdateMeeting,
};
use hongying_proto::{ErrorCode, FieldError, Page};
use hongying_signaling::quorum::MemberStatus as QuorumStatus;
use serde_json::{Value, json};

use super::body::{self, BodyType};
use super::lifecycle::{self, Action};
use super::{Ctx, load, quorum, require_manage, require_read};
use crate::auth::{Principal, Role};
use crate::authz::require_manage_org;
use crate::config::MeetingsConfig;
use crate::db::schema::{accounts, members, org_closure, organizations};
use crate::db::{AnyConnection, new_id, truncate_micros, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::cursor;
use crate::store::meetings::{
    self as store, ExclusionRow, ListFilter, MeetingChanges, MeetingRow, ObserverRow, RosterRow,
    StatusChange,
};

const CURSOR_TAG: &str = "meetings";
const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

fn bad_stored(what: &str, v: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!("stored meeting {what} {v:?}"))
}

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

pub fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    truncate_micros(t.naive_utc())
}

/// The status of a stored meeting.
pub fn status_of(row: &MeetingRow) -> AppResult<MeetingStatus> {
    MeetingStatus::parse(&row.status).ok_or_else(|| bad_stored("status", &row.status))
}

/// The wire form of a stored meeting.
pub fn to_proto(row: MeetingRow) -> AppResult<Meeting> {
    let (kind, held_as) = body::kinds_of(&row)?;
    let mode = MeetingMode::parse(&row.mode).ok_or_else(|| bad_stored("mode", &row.mode))?;
    let status = status_of(&row)?;
    let agenda: Vec<AgendaItem> = serde_json::from_str(&row.agenda_json)
        .map_err(|_| bad_stored("agenda", &row.agenda_json))?;
    let thresholds = match &row.thresholds_json {
        Some(j) => {
            let v: BTreeMap<String, Value> =
                serde_json::from_str(j).map_err(|_| bad_stored("thresholds", j))?;
            Some(
                v.into_iter()
                    .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
                    .collect(),
            )
        }
        None => None,
    };
    Ok(Meeting {
        id: row.id,
        org_id: row.org_id,
        kind,
        held_as,
        title: row.title,
        agenda,
        scheduled_start: utc(row.scheduled_start),
        scheduled_end: utc(row.scheduled_end),
        place: row.place,
        mode,
        host_member_id: row.host_member_id,
        recorder_member_id: row.recorder_member_id,
        lecturer: row.lecturer,
        status,
        cancel_reason: row.cancel_reason,
        started_at: row.started_at.map(utc),
        ended_at: row.ended_at.map(utc),
        thresholds,
        quorum_applies: body::quorum_applies(kind, held_as),
        allowed_actions: lifecycle::allowed(status)
            .into_iter()
            .map(|a| a.as_str().to_string())
            .collect(),
        created_at: utc(row.created_at),
        updated_at: utc(row.updated_at),
        version: row.version,
    })
}

/// What the audit log keeps of a meeting (no personal data beyond member ids).
fn snapshot(row: &MeetingRow) -> Value {
    json!({
        "org_id": row.org_id,
        "kind": row.kind,
        "held_as": row.held_as,
        "title": row.title,
        "scheduled_start": utc(row.scheduled_start),
        "scheduled_end": utc(row.scheduled_end),
        "place": row.place,
        "mode": row.mode,
        "host_member_id": row.host_member_id,
        "recorder_member_id": row.recorder_member_id,
        "lecturer": row.lecturer,
        "status": row.status,
        "version": row.version,
    })
}

fn audit(
    ctx: &Ctx<'_>,
    conn: &mut AnyConnection,
    action: &str,
    target: (&str, &str),
    org_id: &str,
    before: Option<Value>,
    after: Option<Value>,
) -> AppResult<()> {
    ctx.audit(conn, action, target, Some(org_id), before, after)?;
    Ok(())
}

struct OrgFacts {
    kind: String,
    status: String,
}

fn org_facts(conn: &mut AnyConnection, org_id: &str) -> AppResult<Option<OrgFacts>> {
    Ok(organizations::table
        .find(org_id)
        .select((organizations::kind, organizations::status))
        .first::<(String, String)>(conn)
        .optional()?
        .map(|(kind, status)| OrgFacts { kind, status }))
}

/// Rules on kind, body and times shared by create and edit.
fn check_shape(
    kind: MeetingKind,
    held_as: Option<HeldAs>,
    org_kind: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> AppResult<()> {
    let mut errors = Vec::new();
    let mut push = |field: &str, code: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            code: code.into(),
            message: message.into(),
        })
    };
    if held_as.is_some()
        && !matches!(
            kind,
            MeetingKind::LifeMeeting | MeetingKind::DemocraticReview
        )
    {
        push(
            "held_as",
            "not_allowed",
            "只有组织生活会和民主评议党员可以指定召开形式",
        );
    }
    match body::body_type(kind, held_as, org_kind) {
        BodyType::Group if org_kind != "party_group" => {
            push("kind", "wrong_body", "党小组会须由党小组召开");
        }
        BodyType::Committee if org_kind == "party_group" => {
            push("kind", "wrong_body", "党小组没有支部委员会");
        }
        _ => {}
    }
    if end <= start {
        push("scheduled_end", "before_start", "结束时间须晚于开始时间");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

/// A host or recorder must be a member of the meeting's organization, of one above it
/// or of one below it (a 党小组 meeting may be chaired by the branch secretary).
fn check_person(
    conn: &mut AnyConnection,
    field: &str,
    member_id: &str,
    org_id: &str,
) -> AppResult<()> {
    let placement: Option<(String, Option<String>)> = members::table
        .find(member_id)
        .select((members::org_id, members::party_group_id))
        .first(conn)
        .optional()?;
    let Some((own, group)) = placement else {
        return Err(AppError::invalid(field, "unknown_member", "找不到该党员"));
    };
    if group.as_deref() == Some(org_id) {
        return Ok(());
    }
    let related: i64 = org_closure::table
        .filter(
            org_closure::ancestor_id
                .eq(org_id)
                .and(org_closure::descendant_id.eq(&own))
                .or(org_closure::ancestor_id
                    .eq(&own)
                    .and(org_closure::descendant_id.eq(org_id))),
        )
        .count()
        .get_result(conn)?;
    if related == 0 {
        return Err(AppError::invalid(
            field,
            "unknown_member",
            "该党员不属于本组织",
        ));
    }
    Ok(())
}

fn trimmed(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Creates a draft meeting of the organization `org_id` (managers in scope).
pub fn create(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    org_id: &str,
    req: CreateMeeting,
) -> AppResult<Meeting> {
    write_tx(conn, |c| {
        require_manage_org(c, ctx.principal, org_id, &Role::MANAGERS)?;
        let org = org_facts(c, org_id)?.ok_or(AppError::NotFound)?;
        if org.status != "normal" {
            return Err(AppError::Conflict {
                code: ErrorCode::Conflict,
                detail: "该组织已撤销或合并，不能召开会议。".into(),
            });
        }
        let start = naive(req.scheduled_start);
        let end = naive(req.scheduled_end);
        check_shape(req.kind, req.held_as, &org.kind, start, end)?;
        if let Some(h) = &req.host_member_id {
            check_person(c, "host_member_id", h, org_id)?;
        }
        if let Some(r) = &req.recorder_member_id {
            check_person(c, "recorder_member_id", r, org_id)?;
        }
        let row = MeetingRow {
            id: new_id(),
            org_id: org_id.to_string(),
            kind: req.kind.as_str().to_string(),
            held_as: req.held_as.map(|h| h.as_str().to_string()),
            title: req.title.trim().to_string(),
            agenda_json: serde_json::to_string(&req.agenda)
                .map_err(|e| AppError::Internal(e.into()))?,
            scheduled_start: start,
            scheduled_end: end,
            place: trimmed(req.place),
            mode: req.mode.as_str().to_string(),
            host_member_id: req.host_member_id,
            recorder_member_id: req.recorder_member_id,
            lecturer: trimmed(req.lecturer),
            status: MeetingStatus::Draft.as_str().to_string(),
            cancel_reason: None,
            started_at: None,
            ended_at: None,
            thresholds_json: None,
            created_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
            updated_at: ctx.now,
            version: 1,
        };
        store::insert(c, &row)?;
        audit(
            ctx,
            c,
            "meeting.create",
            ("meeting", &row.id),
            org_id,
            None,
            Some(snapshot(&row)),
        )?;
        to_proto(row)
    })
}

/// One meeting, for whoever may read it.
pub fn read(conn: &mut AnyConnection, principal: &Principal, id: &str) -> AppResult<Meeting> {
    let row = load(conn, id)?;
    require_read(conn, principal, &row)?;
    to_proto(row)
}

/// A meeting's organization's meetings, by scheduled start (readers of the organization).
pub fn list(
    conn: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
    q: &MeetingListQuery,
) -> AppResult<Page<Meeting>> {
    crate::authz::require_read_org(conn, principal, org_id)?;
    let after = match &q.cursor {
        Some(c) => {
            let parts = cursor::decode(CURSOR_TAG, c, 2)?;
            let at = NaiveDateTime::parse_from_str(&parts[0], TS_FORMAT)
                .map_err(|_| AppError::InvalidCursor)?;
            Some((at, parts[1].clone()))
        }
        None => None,
    };
    let limit = cursor::limit(q.limit);
    let rows = store::list(
        conn,
        &ListFilter {
            org_id: org_id.to_string(),
            from: q.from.map(naive),
            to: q.to.map(naive),
            kind: q.kind.map(|k| k.as_str().to_string()),
            status: q.status.map(|s| s.as_str().to_string()),
            after,
            limit: limit + 1,
        },
    )?;
    let (rows, next) = cursor::paginate(rows, limit, |r| {
        cursor::encode(
            CURSOR_TAG,
            &[&r.scheduled_start.format(TS_FORMAT).to_string(), &r.id],
        )
    });
    Ok(Page {
        items: rows.into_iter().map(to_proto).collect::<AppResult<_>>()?,
        next_cursor: next,
    })
}

/// When and where, as members read it (China Standard Time).
fn when_where(row: &MeetingRow) -> String {
    let cst = row.scheduled_start + chrono::Duration::hours(8);
    let place = row.place.as_deref().unwrap_or("线上");
    format!("{}，地点：{place}", cst.format("%Y年%m月%d日 %H:%M"))
}

fn kind_label(row: &MeetingRow) -> &'static str {
    MeetingKind::parse(&row.kind)
        .map(MeetingKind::label_zh)
        .unwrap_or("会议")
}

/// Who is told about a meeting: its body (the frozen roster once started) and the
/// invited observers who are on the roster of members.
fn recipients(
    conn: &mut AnyConnection,
    row: &MeetingRow,
    now: NaiveDateTime,
) -> AppResult<Vec<String>> {
    let (people, _) = body::current_body(conn, row, crate::orgs::today_cn(now))?;
    let mut ids: Vec<String> = people.into_iter().map(|p| p.member_id).collect();
    ids.extend(
        store::observers(conn, &row.id)?
            .into_iter()
            .filter_map(|o| o.member_id),
    );
    Ok(ids)
}

fn notify(
    conn: &mut AnyConnection,
    row: &MeetingRow,
    kind: &str,
    title: &str,
    text: &str,
    now: NaiveDateTime,
) -> AppResult<usize> {
    let ids = recipients(conn, row, now)?;
    Ok(crate::notices::create_for_members(
        conn,
        &ids,
        kind,
        title,
        text,
        Some(("meeting", &row.id)),
        now,
    )?)
}

/// Changes the fields present while the meeting is a draft or scheduled. A scheduled
/// meeting whose time, place or mode changes is announced again (`meeting_rescheduled`).
pub fn update(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    id: &str,
    req: UpdateMeeting,
    if_match: Option<i32>,
) -> AppResult<Meeting> {
    write_tx(conn, |c| {
        let row = load(c, id)?;
        require_manage(c, ctx.principal, &row)?;
        let status = status_of(&row)?;
        lifecycle::transition(status, Action::Edit)?;
        if let Some(v) = req.version.or(if_match)
            && v != row.version
        {
            return Err(AppError::VersionConflict);
        }
        let (kind, old_held_as) = body::kinds_of(&row)?;
        let held_as = req.held_as.or(old_held_as);
        let start = req
            .scheduled_start
            .map(naive)
            .unwrap_or(row.scheduled_start);
        let end = req.scheduled_end.map(naive).unwrap_or(row.scheduled_end);
        let org = org_facts(c, &row.org_id)?.ok_or(AppError::NotFound)?;
        check_shape(kind, held_as, &org.kind, start, end)?;
        if let Some(h) = &req.host_member_id {
            check_person(c, "host_member_id", h, &row.org_id)?;
        }
        if let Some(r) = &req.recorder_member_id {
            check_person(c, "recorder_member_id", r, &row.org_id)?;
        }

        let mut ch = MeetingChanges::default();
        let mut before = serde_json::Map::new();
        let mut after = serde_json::Map::new();
        let mut note = |name: &str, old: Value, new: Value| -> bool {
            if old == new {
                return false;
            }
            before.insert(name.into(), old);
            after.insert(name.into(), new);
            true
        };
        if let Some(h) = req.held_as
            && note("held_as", json!(row.held_as), json!(h.as_str()))
        {
            ch.held_as = Some(Some(h.as_str().to_string()));
        }
        if let Some(t) = req.title.map(|t| t.trim().to_string())
            && note("title", json!(row.title), json!(t))
        {
            ch.title = Some(t);
        }
        if let Some(a) = &req.agenda {
            let j = serde_json::to_string(a).map_err(|e| AppError::Internal(e.into()))?;
            if j != row.agenda_json {
                note("agenda", json!(row.agenda_json), json!(j));
                ch.agenda_json = Some(j);
            }
        }
        let mut reschedule = false;
        if req.scheduled_start.is_some()
            && note(
                "scheduled_start",
                json!(utc(row.scheduled_start)),
                json!(utc(start)),
            )
        {
            ch.scheduled_start = Some(start);
            reschedule = true;
        }
        if req.scheduled_end.is_some()
            && note(
                "scheduled_end",
                json!(utc(row.scheduled_end)),
                json!(utc(end)),
            )
        {
            ch.scheduled_end = Some(end);
            reschedule = true;
        }
        if let Some(p) = trimmed(req.place.clone())
            && note("place", json!(row.place), json!(p))
        {
            ch.place = Some(Some(p));
            reschedule = true;
        }
        if let Some(m) = req.mode
            && note("mode", json!(row.mode), json!(m.as_str()))
        {
            ch.mode = Some(m.as_str().to_string());
            reschedule = true;
        }
        if let Some(h) = req.host_member_id
            && note("host_member_id", json!(row.host_member_id), json!(h))
        {
            ch.host_member_id = Some(Some(h));
        }
        if let Some(r) = req.recorder_member_id
            && note(
                "recorder_member_id",
                json!(row.recorder_member_id),
                json!(r),
            )
        {
            ch.recorder_member_id = Some(Some(r));
        }
        if let Some(l) = trimmed(req.lecturer)
            && note("lecturer", json!(row.lecturer), json!(l))
        {
            ch.lecturer = Some(Some(l));
        }
        if after.is_empty() {
            return to_proto(row);
        }
        if !store::update_fields(c, id, row.version, &ch, ctx.now)? {
            return Err(AppError::VersionConflict);
        }
        let updated = load(c, id)?;
        let mut notified = 0;
        if status == MeetingStatus::Scheduled && reschedule {
            let title = format!("会议变更：{}", updated.title);
            let text = format!(
                "{}「{}」时间或地点有变更，现定于{}。",
                kind_label(&updated),
                updated.title,
                when_where(&updated)
            );
            notified = notify(c, &updated, "meeting_rescheduled", &title, &text, ctx.now)?;
        }
        after.insert("notified".into(), json!(notified));
        audit(
            ctx,
            c,
            "meeting.update",
            ("meeting", id),
            &updated.org_id,
            Some(Value::Object(before)),
            Some(Value::Object(after)),
        )?;
        to_proto(updated)
    })
}

/// Applies a status change after its checks; false from the store means a concurrent
/// request changed the meeting first.
fn apply(
    conn: &mut AnyConnection,
    row: &MeetingRow,
    to: MeetingStatus,
    extra: &StatusChange,
    now: NaiveDateTime,
) -> AppResult<MeetingRow> {
    if !store::set_status(
        conn,
        &row.id,
        row.version,
        &row.status,
        to.as_str(),
        extra,
        now,
    )? {
        return Err(AppError::VersionConflict);
    }
    load(conn, &row.id)
}

/// draft → scheduled; every member of the body is notified.
pub fn schedule(conn: &mut AnyConnection, ctx: &Ctx<'_>, id: &str) -> AppResult<Meeting> {
    write_tx(conn, |c| {
        let row = load(c, id)?;
        require_manage(c, ctx.principal, &row)?;
        let to = lifecycle::transition(status_of(&row)?, Action::Schedule)?;
        let updated = apply(c, &row, to, &StatusChange::default(), ctx.now)?;
        let title = format!("会议通知：{}", updated.title);
        let text = format!(
            "{}「{}」定于{}召开，请准时参加。",
            kind_label(&updated),
            updated.title,
            when_where(&updated)
        );
        let notified = notify(c, &updated, "meeting_scheduled", &title, &text, ctx.now)?;
        audit(
            ctx,
            c,
            "meeting.schedule",
            ("meeting", id),
            &updated.org_id,
            Some(json!({"status": row.status})),
            Some(json!({"status": updated.status, "notified": notified})),
        )?;
        to_proto(updated)
    })
}

/// scheduled → in_progress: freezes the roster with each member's standing, keeps the
/// thresholds in force, and tells the members the meeting has begun.
pub fn start(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    id: &str,
    policy: &MeetingsConfig,
) -> AppResult<Meeting> {
    write_tx(conn, |c| {
        let row = load(c, id)?;
        require_manage(c, ctx.principal, &row)?;
        let to = lifecycle::transition(status_of(&row)?, Action::Start)?;
        let people = body::live_body(c, &row, ctx.today())?;
        let thresholds = serde_json::to_string(&policy.thresholds.to_thresholds())
            .map_err(|e| AppError::Internal(e.into()))?;
        let updated = apply(
            c,
            &row,
            to,
            &StatusChange {
                started_at: Some(ctx.now),
                thresholds_json: Some(thresholds),
                ..StatusChange::default()
            },
            ctx.now,
        )?;
        let roster: Vec<RosterRow> = people
            .iter()
            .map(|p| RosterRow {
                meeting_id: id.to_string(),
                member_id: p.member_id.clone(),
                name: p.name.clone(),
                quorum_status: body::status_str(p.status).to_string(),
                is_committee: p.is_committee,
            })
            .collect();
        store::insert_roster(c, &roster)?;
        let title = format!("会议开始：{}", updated.title);
        let text = format!("{}「{}」已开始。", kind_label(&updated), updated.title);
        let notified = notify(c, &updated, "meeting_started", &title, &text, ctx.now)?;
        let voting = people
            .iter()
            .filter(|p| p.status == QuorumStatus::Full)
            .count();
        audit(
            ctx,
            c,
            "meeting.start",
            ("meeting", id),
            &updated.org_id,
            Some(json!({"status": row.status})),
            Some(json!({
                "status": updated.status,
                "roster": roster.len(),
                "roster_with_vote": voting,
                "thresholds": updated.thresholds_json,
                "notified": notified,
            })),
        )?;
        to_proto(updated)
    })
}

/// in_progress → ended: every open attendance interval closes at the end time.
pub fn end(conn: &mut AnyConnection, ctx: &Ctx<'_>, id: &str) -> AppResult<Meeting> {
    write_tx(conn, |c| {
        let row = load(c, id)?;
        require_manage(c, ctx.principal, &row)?;
        let to = lifecycle::transition(status_of(&row)?, Action::End)?;
        let updated = apply(
            c,
            &row,
            to,
            &StatusChange {
                ended_at: Some(ctx.now),
                ..StatusChange::default()
            },
            ctx.now,
        )?;
        let closed = super::attendance::close_open_in_tx(c, id, ctx.now, "meeting_ended")?;
        audit(
            ctx,
            c,
            "meeting.end",
            ("meeting", id),
            &updated.org_id,
            Some(json!({"status": row.status})),
            Some(json!({"status": updated.status, "intervals_closed": closed})),
        )?;
        to_proto(updated)
    })
}

/// draft/scheduled → cancelled with a reason; a scheduled meeting's members are told.
pub fn cancel(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    id: &str,
    reason: &str,
) -> AppResult<Meeting> {
    let reason = reason.trim().to_string();
    write_tx(conn, |c| {
        let row = load(c, id)?;
        require_manage(c, ctx.principal, &row)?;
        let from = status_of(&row)?;
        let to = lifecycle::transition(from, Action::Cancel)?;
        let updated = apply(
            c,
            &row,
            to,
            &StatusChange {
                cancel_reason: Some(reason.clone()),
                ..StatusChange::default()
            },
            ctx.now,
        )?;
        // A draft was never announced, so there is nobody to tell.
        let mut notified = 0;
        if from == MeetingStatus::Scheduled {
            let title = format!("会议取消：{}", updated.title);
            let text = format!(
                "原定于{}召开的{}「{}」已取消。原因：{reason}",
                when_where(&updated),
                kind_label(&updated),
                updated.title
            );
            notified = notify(c, &updated, "meeting_cancelled", &title, &text, ctx.now)?;
        }
        audit(
            ctx,
            c,
            "meeting.cancel",
            ("meeting", id),
            &updated.org_id,
            Some(json!({"status": row.status})),
            Some(json!({"status": updated.status, "reason": reason, "notified": notified})),
        )?;
        to_proto(updated)
    })
}

/// Who is expected, who is here, and whether the meeting may decide.
pub fn quorum(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
    policy: &MeetingsConfig,
    now: NaiveDateTime,
) -> AppResult<QuorumReport> {
    let row = load(conn, id)?;
    require_read(conn, principal, &row)?;
    quorum::report(conn, &row, policy, now)
}

// --- observers ------------------------------------------------------------------------

fn observer_proto(r: ObserverRow) -> AppResult<Observer> {
    Ok(Observer {
        kind: ObserverKind::parse(&r.kind).ok_or_else(|| bad_stored("observer kind", &r.kind))?,
        id: r.id,
        name: r.name,
        member_id: r.member_id,
        account_id: r.account_id,
        created_at: utc(r.created_at),
    })
}

fn require_open_record(row: &MeetingRow, what: &str) -> AppResult<()> {
    match status_of(row)? {
        MeetingStatus::Draft | MeetingStatus::Scheduled | MeetingStatus::InProgress => Ok(()),
        s => Err(AppError::Conflict {
            code: ErrorCode::Conflict,
            detail: format!("会议{}，不能再{what}。", s.label_zh()),
        }),
    }
}

/// Invites an observer (列席): an activist, a member of the masses or a guest.
pub fn add_observer(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    meeting_id: &str,
    req: AddObserver,
) -> AppResult<Observer> {
    write_tx(conn, |c| {
        let row = load(c, meeting_id)?;
        require_manage(c, ctx.principal, &row)?;
        require_open_record(&row, "添加列席人员")?;
        if let Some(m) = &req.member_id {
            let n: i64 = members::table.find(m).count().get_result(c)?;
            if n == 0 {
                return Err(AppError::invalid(
                    "member_id",
                    "unknown_member",
                    "找不到该人员",
                ));
            }
        }
        if let Some(a) = &req.account_id {
            let n: i64 = accounts::table.find(a).count().get_result(c)?;
            if n == 0 {
                return Err(AppError::invalid(
                    "account_id",
                    "unknown_account",
                    "找不到该账号",
                ));
            }
        }
        let obs = ObserverRow {
            id: new_id(),
            meeting_id: meeting_id.to_string(),
            kind: req.kind.as_str().to_string(),
            name: req.name.trim().to_string(),
            member_id: req.member_id,
            account_id: req.account_id,
            created_at: ctx.now,
        };
        store::insert_observer(c, &obs)?;
        audit(
            ctx,
            c,
            "meeting.observer_add",
            ("meeting", meeting_id),
            &row.org_id,
            None,
            Some(json!({
                "observer_id": obs.id,
                "kind": obs.kind,
                "member_id": obs.member_id,
                "account_id": obs.account_id,
            })),
        )?;
        observer_proto(obs)
    })
}

pub fn list_observers(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting_id: &str,
) -> AppResult<Vec<Observer>> {
    let row = load(conn, meeting_id)?;
    require_read(conn, principal, &row)?;
    store::observers(conn, meeting_id)?
        .into_iter()
        .map(observer_proto)
        .collect()
}

// --- exclusions -----------------------------------------------------------------------

fn exclusion_proto(
    conn: &mut AnyConnection,
    r: ExclusionRow,
    policy: &MeetingsConfig,
) -> AppResult<Exclusion> {
    let name: String = members::table
        .find(&r.member_id)
        .select(members::name)
        .first::<String>(conn)
        .optional()?
        .unwrap_or_default();
    let effective = quorum::exclusion_effective(&r, policy.exclusion_approval);
    Ok(Exclusion {
        reason: ExclusionReason::parse(&r.reason)
            .ok_or_else(|| bad_stored("exclusion reason", &r.reason))?,
        id: r.id,
        meeting_id: r.meeting_id,
        member_id: r.member_id,
        member_name: name,
        note: r.note,
        upper_approved_by: r.upper_approved_by,
        upper_approved_at: r.upper_approved_at.map(utc),
        congress_approved_by: r.congress_approved_by,
        congress_approved_at: r.congress_approved_at.map(utc),
        rejected_by: r.rejected_by,
        rejected_at: r.rejected_at.map(utc),
        effective,
        created_at: utc(r.created_at),
    })
}

/// Asks to leave a voting member of the body out of E for this meeting. It changes
/// nothing until approved as the locality requires.
pub fn create_exclusion(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    meeting_id: &str,
    req: CreateExclusion,
    policy: &MeetingsConfig,
) -> AppResult<Exclusion> {
    write_tx(conn, |c| {
        let row = load(c, meeting_id)?;
        require_manage(c, ctx.principal, &row)?;
        require_open_record(&row, "申请不计入应到会人数")?;
        let (people, _) = body::current_body(c, &row, ctx.today())?;
        let voting = people
            .iter()
            .any(|p| p.member_id == req.member_id && p.status.has_voting_right());
        if !voting {
            return Err(AppError::invalid(
                "member_id",
                "not_voting_member",
                "只有本次会议有表决权的党员才能申请不计入应到会人数",
            ));
        }
        if store::exclusion_of(c, meeting_id, &req.member_id)?.is_some() {
            return Err(AppError::Conflict {
                code: ErrorCode::AlreadyExists,
                detail: "该党员本次会议已有不计入应到会人数的申请。".into(),
            });
        }
        let ex = ExclusionRow {
            id: new_id(),
            meeting_id: meeting_id.to_string(),
            member_id: req.member_id,
            reason: req.reason.as_str().to_string(),
            note: trimmed(req.note),
            upper_approved_by: None,
            upper_approved_at: None,
            congress_approved_by: None,
            congress_approved_at: None,
            rejected_by: None,
            rejected_at: None,
            created_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
        };
        store::insert_exclusion(c, &ex)?;
        audit(
            ctx,
            c,
            "meeting.exclusion_create",
            ("meeting_exclusion", &ex.id),
            &row.org_id,
            None,
            Some(json!({
                "meeting_id": meeting_id,
                "member_id": ex.member_id,
                "reason": ex.reason,
            })),
        )?;
        exclusion_proto(c, ex, policy)
    })
}

pub fn list_exclusions(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting_id: &str,
    policy: &MeetingsConfig,
) -> AppResult<Vec<Exclusion>> {
    let row = load(conn, meeting_id)?;
    require_read(conn, principal, &row)?;
    store::exclusions(conn, meeting_id)?
        .into_iter()
        .map(|e| exclusion_proto(conn, e, policy))
        .collect()
}

/// Whether the caller manages an organization strictly above `org_id` (the 上级党组织).
fn manages_above(conn: &mut AnyConnection, principal: &Principal, org_id: &str) -> AppResult<bool> {
    if principal.is_super_admin() {
        return Ok(true);
    }
    let roots = principal.orgs_with(&Role::MANAGERS);
    if roots.is_empty() {
        return Ok(false);
    }
    let n: i64 = org_closure::table
        .filter(org_closure::descendant_id.eq(org_id))
        .filter(org_closure::ancestor_id.eq_any(&roots))
        .filter(org_closure::distance.gt(0))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Records an approval (`approve = true`) or a rejection of an exclusion. `by: upper`
/// needs a manager above the meeting's organization; `by: congress` records the
/// congress's decision and is entered by a manager of the meeting's organization.
pub fn decide_exclusion(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    exclusion_id: &str,
    by: ApprovalBy,
    approve: bool,
    policy: &MeetingsConfig,
) -> AppResult<Exclusion> {
    write_tx(conn, |c| {
        let ex = store::find_exclusion(c, exclusion_id)?.ok_or(AppError::NotFound)?;
        let row = load(c, &ex.meeting_id)?;
        require_read(c, ctx.principal, &row)?;
        let allowed = match by {
            ApprovalBy::Upper => manages_above(c, ctx.principal, &row.org_id)?,
            ApprovalBy::Congress => super::is_manager(c, ctx.principal, &row)?,
        };
        if !allowed {
            return Err(AppError::Forbidden);
        }
        require_open_record(&row, "审批不计入应到会人数")?;
        let who = ctx.principal.account_id.as_str();
        let done = match (approve, by) {
            (true, ApprovalBy::Upper) => store::approve_upper(c, exclusion_id, who, ctx.now)?,
            (true, ApprovalBy::Congress) => store::approve_congress(c, exclusion_id, who, ctx.now)?,
            (false, _) => store::reject(c, exclusion_id, who, ctx.now)?,
        };
        if !done {
            let detail = if ex.rejected_at.is_some() {
                "该申请已被驳回。"
            } else {
                "该申请已经审批过。"
            };
            return Err(AppError::Conflict {
                code: ErrorCode::Conflict,
                detail: detail.into(),
            });
        }
        let updated = store::find_exclusion(c, exclusion_id)?.ok_or(AppError::NotFound)?;
        let effective = quorum::exclusion_effective(&updated, policy.exclusion_approval);
        audit(
            ctx,
            c,
            if approve {
                "meeting.exclusion_approve"
            } else {
                "meeting.exclusion_reject"
            },
            ("meeting_exclusion", exclusion_id),
            &row.org_id,
            Some(json!({"effective": quorum::exclusion_effective(&ex, policy.exclusion_approval)})),
            Some(json!({
                "by": by.as_str(),
                "meeting_id": row.id,
                "member_id": updated.member_id,
                "effective": effective,
            })),
        )?;
        exclusion_proto(c, updated, policy)
    })
}
