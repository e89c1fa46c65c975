//! The 流动党员 registry's logic (see the module documentation).

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime};
use hongying_proto::ErrorCode;
use hongying_proto::migrants::{
    ContactChannel, EndMigrant, MigrantContact, MigrantDetail, MigrantListQuery, MigrantRecord,
    MigrantSide, RecordContact, RegisterInflow, RegisterOutflow, ReviewLostContact,
};
use hongying_proto::page::Page;
use serde_json::json;

use crate::auth::{Principal, Role};
use crate::authz;
use crate::crypto::id_number::IdNumber;
use crate::crypto::pii::{Field, Pii, mask_phone};
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::{Ctx, cursor};
use crate::store::members as members_store;
use crate::store::migrants::{self as store, ContactRow, MigrantRow};
use crate::store::transfers::member_ids_with_roles;

/// Six months without a recorded contact raise the 失联 flag; six months at one place
/// suggest a transfer (RULES.md §4.1, §4.4).
const LOST_CONTACT_MONTHS: u32 = 6;
const TRANSFER_AFTER_MONTHS: u32 = 6;

const MANAGER_ROLES: [&str; 3] = ["branch_secretary", "branch_committee", "org_admin"];

/// Organizations that may host a migrant member's participation.
const HOST_KINDS: [&str; 4] = [
    "branch",
    "joint_branch",
    "general_branch",
    "temporary_branch",
];

fn conflict(code: ErrorCode, detail: impl Into<String>) -> AppError {
    AppError::Conflict {
        code,
        detail: detail.into(),
    }
}

fn load(conn: &mut AnyConnection, id: &str) -> AppResult<MigrantRow> {
    store::find(conn, id)?.ok_or(AppError::NotFound)
}

/// Which side the caller manages: the home branch's subtree, or the host's (once it is
/// asked or has accepted).
struct Sides {
    home: bool,
    host: bool,
    own: bool,
}

fn sides(conn: &mut AnyConnection, p: &Principal, row: &MigrantRow) -> AppResult<Sides> {
    let home = authz::org_in_scope(conn, p, &row.home_org_id, &Role::MANAGERS)?;
    let host = match row.host_org_id.as_deref() {
        Some(h) if row.host_status != "none" => authz::org_in_scope(conn, p, h, &Role::MANAGERS)?,
        _ => false,
    };
    let own = p.member_id.as_deref() == Some(row.member_id.as_str());
    Ok(Sides { home, host, own })
}

/// Readers: the member and managers of either side; others 404.
fn readable(conn: &mut AnyConnection, p: &Principal, row: &MigrantRow) -> AppResult<Sides> {
    let s = sides(conn, p, row)?;
    if s.home || s.host || s.own {
        Ok(s)
    } else {
        Err(AppError::NotFound)
    }
}

fn months_between(from: NaiveDate, to: NaiveDate) -> u32 {
    if to < from {
        return 0;
    }
    let mut m = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32;
    if to.day() < from.day() {
        m -= 1;
    }
    u32::try_from(m.max(0)).unwrap_or(0)
}

fn decrypt_contact(pii: &Pii, row: &MigrantRow) -> AppResult<Option<String>> {
    row.contact
        .as_deref()
        .map(|c| pii.decrypt(Field::Phone, &row.id, c))
        .transpose()
        .map_err(AppError::Internal)
}

/// The record as the secretary sees it, with the flags computed for `now`.
fn view(
    conn: &mut AnyConnection,
    pii: &Pii,
    row: &MigrantRow,
    now: NaiveDateTime,
) -> AppResult<MigrantRecord> {
    let (member_name, _, _) = store::member_facts(conn, &row.member_id)?.unwrap_or_default();
    let home_name = store::org_facts(conn, &row.home_org_id)?
        .map(|(n, _)| n)
        .unwrap_or_default();
    let host_name = match row.host_org_id.as_deref() {
        Some(h) => store::org_facts(conn, h)?.map(|(n, _)| n),
        None => None,
    };
    let last_attendance = store::last_attendance(conn, &row.member_id)?;
    let last_app = store::last_app_activity(conn, &row.member_id)?;
    let today = crate::orgs::today_cn(now);
    let open = row.ended_on.is_none();
    // Before the first recorded contact, the registration is the last contact.
    let baseline = row
        .last_contact_at
        .map_or(row.created_at, |c| c.max(row.created_at));
    let lost_contact = open
        && baseline
            .checked_add_months(Months::new(LOST_CONTACT_MONTHS))
            .is_some_and(|due| due <= now);
    let reviewed = lost_contact && row.lost_contact_reviewed_at.is_some_and(|r| r >= baseline);
    let months_away = months_between(row.since, row.ended_on.unwrap_or(today));
    Ok(MigrantRecord {
        id: row.id.clone(),
        member_id: row.member_id.clone(),
        member_name,
        direction: row.direction.clone(),
        home_org_id: row.home_org_id.clone(),
        home_org_name: home_name,
        host_org_id: row.host_org_id.clone(),
        host_org_name: host_name,
        host_status: row.host_status.clone(),
        destination: row.destination.clone(),
        work_unit: row.work_unit.clone(),
        contact_masked: decrypt_contact(pii, row)?.as_deref().map(mask_phone),
        since: row.since,
        card_number: row.card_number.clone(),
        ended_on: row.ended_on,
        end_reason: row.end_reason.clone(),
        last_contact_at: row.last_contact_at.map(|t| t.and_utc()),
        last_attendance_at: last_attendance.map(|t| t.and_utc()),
        last_app_activity_at: last_app.map(|t| t.and_utc()),
        lost_contact,
        lost_contact_reviewed: reviewed,
        transfer_suggested: open && months_away >= TRANSFER_AFTER_MONTHS,
        months_away,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
        version: row.version,
    })
}

fn contact_view(c: ContactRow) -> MigrantContact {
    MigrantContact {
        id: c.id,
        channel: c.channel,
        contacted_at: c.contacted_at.and_utc(),
        note: c.note,
        recorded_by: c.recorded_by,
        created_at: c.created_at.and_utc(),
    }
}

fn trimmed(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The member must be a Party member (正式 or 预备) in good standing to be registered.
fn check_member(status: &str) -> AppResult<()> {
    if matches!(status, "full" | "probationary") {
        Ok(())
    } else {
        Err(conflict(
            ErrorCode::TransitionPrecondition,
            "只有正式党员和预备党员才能登记为流动党员。",
        ))
    }
}

/// A host in the system: an organization that holds members or a 流动党员临时支部.
fn check_host(conn: &mut AnyConnection, host: &str, home: &str) -> AppResult<String> {
    let Some((name, kind)) = store::org_facts(conn, host)? else {
        return Err(AppError::invalid(
            "host_org_id",
            "not_found",
            "流入地党组织不存在。",
        ));
    };
    if !HOST_KINDS.contains(&kind.as_str()) {
        return Err(AppError::Domain {
            status: 422,
            code: ErrorCode::NotABranch,
            detail: format!("{name}不是党支部或流动党员临时支部，不能接收流动党员参加组织生活。"),
        });
    }
    if host == home {
        return Err(AppError::invalid(
            "host_org_id",
            "same_as_home",
            "流入地党组织不能是党员本人所在党支部。",
        ));
    }
    Ok(name)
}

fn check_since(since: NaiveDate, today: NaiveDate) -> AppResult<()> {
    if since > today {
        return Err(AppError::invalid(
            "since",
            "in_future",
            "外出时间不能晚于今天。",
        ));
    }
    Ok(())
}

fn already_away() -> AppError {
    conflict(
        ErrorCode::AlreadyExists,
        "该党员已登记为流动党员（尚未结束），请先结束原登记。",
    )
}

/// Maps the one-open-record unique index to 409.
fn insert_row(conn: &mut AnyConnection, row: &MigrantRow) -> AppResult<()> {
    store::insert(conn, row).map_err(|e| match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => already_away(),
        other => other.into(),
    })
}

fn notify(
    conn: &mut AnyConnection,
    ids: &[String],
    title: &str,
    body: &str,
    record_id: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    crate::notices::create_for_members(
        conn,
        ids,
        "migrant",
        title,
        body,
        Some(("migrant", record_id)),
        now,
    )?;
    Ok(())
}

/// `POST /members/{id}/outflow`.
pub fn register_outflow(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    member_id: &str,
    req: &RegisterOutflow,
) -> AppResult<MigrantDetail> {
    let member = members_store::find(conn, member_id)?.ok_or(AppError::NotFound)?;
    authz::require_manage_org(conn, ctx.principal, &member.org_id, &Role::MANAGERS)?;
    check_member(&member.status)?;
    check_since(req.since, ctx.today())?;
    let host = trimmed(req.host_org_id.as_deref());
    let host_name = match host.as_deref() {
        Some(h) => Some(check_host(conn, h, &member.org_id)?),
        None => None,
    };
    let destination = req.destination.trim().to_string();
    let row = write_tx(conn, |c| {
        if store::open_for_member(c, &member.id)?.is_some() {
            return Err(already_away());
        }
        let id = new_id();
        let contact = trimmed(req.contact.as_deref())
            .map(|v| pii.encrypt(Field::Phone, &id, &v))
            .transpose()
            .map_err(AppError::Internal)?;
        let row = MigrantRow {
            id: id.clone(),
            member_id: member.id.clone(),
            direction: "outflow".into(),
            home_org_id: member.org_id.clone(),
            host_org_id: host.clone(),
            destination: destination.clone(),
            work_unit: trimmed(req.work_unit.as_deref()),
            contact,
            since: req.since,
            card_number: trimmed(req.card_number.as_deref()),
            last_contact_at: None,
            ended_on: None,
            created_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
            updated_at: ctx.now,
            version: 1,
            host_status: if host.is_some() { "pending" } else { "none" }.into(),
            host_accepted_at: None,
            host_accepted_by: None,
            lost_contact_reviewed_at: None,
            lost_contact_reviewed_by: None,
            end_reason: None,
        };
        insert_row(c, &row)?;
        ctx.audit(
            c,
            "migrant.outflow",
            ("migrant", &row.id),
            Some(&row.home_org_id),
            None,
            Some(json!({
                "member_id": row.member_id, "destination": row.destination,
                "host_org_id": row.host_org_id, "since": row.since,
                "card_number": row.card_number, "host_status": row.host_status,
            })),
        )?;
        notify(
            c,
            std::slice::from_ref(&row.member_id),
            "流动党员登记",
            &format!("您已登记为流动党员（流向：{destination}），请定期向党组织报告。"),
            &row.id,
            ctx.now,
        )?;
        if let (Some(h), Some(name)) = (host.as_deref(), host_name.as_deref()) {
            let ids = member_ids_with_roles(c, h, &MANAGER_ROLES)?;
            notify(
                c,
                &ids,
                "流动党员待接收",
                &format!(
                    "{}（外出流动党员）登记流入{name}，请确认接收其参加组织生活。",
                    member.name
                ),
                &row.id,
                ctx.now,
            )?;
        }
        Ok(row)
    })?;
    detail(conn, pii, &row, ctx.now)
}

/// `POST /orgs/{org_id}/migrants/inflow`.
pub fn register_inflow(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    host_org_id: &str,
    req: &RegisterInflow,
) -> AppResult<MigrantDetail> {
    authz::require_manage_org(conn, ctx.principal, host_org_id, &Role::MANAGERS)?;
    check_since(req.since, ctx.today())?;
    let id_number =
        IdNumber::parse(&req.id_number).map_err(|e| AppError::InvalidIdNumber(e.to_string()))?;
    let bidx = pii.blind_index(Field::IdNumber, id_number.as_str());
    let member = members_store::find_by_id_number_bidx(conn, &bidx)?.ok_or_else(|| {
        AppError::invalid(
            "id_number",
            "not_found",
            "党员名册中没有该身份证号码的党员（系统外转入请办理组织关系转接）。",
        )
    })?;
    check_member(&member.status)?;
    let host_name = check_host(conn, host_org_id, &member.org_id)?;
    let row = write_tx(conn, |c| {
        if let Some(open) = store::open_for_member(c, &member.id)? {
            return Err(
                if open.host_org_id.as_deref() == Some(host_org_id) && open.host_status == "pending"
                {
                    conflict(
                        ErrorCode::Conflict,
                        "该党员的流出登记正等待本组织接收，请直接确认接收。",
                    )
                } else {
                    already_away()
                },
            );
        }
        let id = new_id();
        let contact = trimmed(req.contact.as_deref())
            .map(|v| pii.encrypt(Field::Phone, &id, &v))
            .transpose()
            .map_err(AppError::Internal)?;
        let row = MigrantRow {
            id: id.clone(),
            member_id: member.id.clone(),
            direction: "inflow".into(),
            home_org_id: member.org_id.clone(),
            host_org_id: Some(host_org_id.to_string()),
            destination: trimmed(req.destination.as_deref()).unwrap_or_else(|| host_name.clone()),
            work_unit: trimmed(req.work_unit.as_deref()),
            contact,
            since: req.since,
            card_number: trimmed(req.card_number.as_deref()),
            // The host saw him: that is a contact.
            last_contact_at: Some(ctx.now),
            ended_on: None,
            created_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
            updated_at: ctx.now,
            version: 1,
            host_status: "accepted".into(),
            host_accepted_at: Some(ctx.now),
            host_accepted_by: Some(ctx.principal.account_id.clone()),
            lost_contact_reviewed_at: None,
            lost_contact_reviewed_by: None,
            end_reason: None,
        };
        insert_row(c, &row)?;
        ctx.audit(
            c,
            "migrant.inflow",
            ("migrant", &row.id),
            Some(host_org_id),
            None,
            Some(json!({
                "member_id": row.member_id, "home_org_id": row.home_org_id,
                "host_org_id": row.host_org_id, "since": row.since,
                "card_number": row.card_number, "id_number": id_number.masked(),
            })),
        )?;
        let mut ids = member_ids_with_roles(c, &member.org_id, &MANAGER_ROLES)?;
        ids.push(member.id.clone());
        notify(
            c,
            &ids,
            "流动党员流入登记",
            &format!(
                "{}已由{host_name}登记为流入党员，参加该组织的组织生活（无表决权），正式组织关系仍在原党支部。",
                member.name
            ),
            &row.id,
            ctx.now,
        )?;
        Ok(row)
    })?;
    detail(conn, pii, &row, ctx.now)
}

/// Bumps the record's version or reports the concurrent change.
fn touch(conn: &mut AnyConnection, row: &MigrantRow, now: NaiveDateTime) -> AppResult<()> {
    if store::touch(conn, &row.id, row.version, now)? == 0 {
        return Err(AppError::VersionConflict);
    }
    Ok(())
}

fn require_open(row: &MigrantRow) -> AppResult<()> {
    if row.ended_on.is_some() {
        return Err(conflict(ErrorCode::Conflict, "该流动党员登记已结束。"));
    }
    Ok(())
}

/// `POST /migrants/{id}/accept`: the host organization accepts the member.
pub fn accept(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    id: &str,
) -> AppResult<MigrantDetail> {
    let row = write_tx(conn, |c| {
        let row = load(c, id)?;
        let s = readable(c, ctx.principal, &row)?;
        if !s.host {
            return Err(AppError::Forbidden);
        }
        require_open(&row)?;
        if row.host_status != "pending" {
            return Err(AppError::IllegalTransition {
                from: row.host_status.clone(),
                allowed: vec![],
            });
        }
        touch(c, &row, ctx.now)?;
        store::accept_at_host(c, &row.id, &ctx.principal.account_id, ctx.now)?;
        store::set_last_contact(c, &row.id, ctx.now)?;
        ctx.audit(
            c,
            "migrant.accept",
            ("migrant", &row.id),
            row.host_org_id.as_deref(),
            Some(json!({"host_status": "pending"})),
            Some(json!({"host_status": "accepted"})),
        )?;
        let mut ids = member_ids_with_roles(c, &row.home_org_id, &MANAGER_ROLES)?;
        ids.push(row.member_id.clone());
        notify(
            c,
            &ids,
            "流动党员已被接收",
            "流入地党组织已确认接收，该党员可参加其组织生活（无表决权），表决权仍在原党支部行使。",
            &row.id,
            ctx.now,
        )?;
        load(c, id)
    })?;
    detail(conn, pii, &row, ctx.now)
}

/// `POST /migrants/{id}/contacts`.
pub fn record_contact(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    id: &str,
    req: &RecordContact,
) -> AppResult<MigrantContact> {
    write_tx(conn, |c| {
        let row = load(c, id)?;
        let s = readable(c, ctx.principal, &row)?;
        let manager = s.home || (s.host && row.host_status == "accepted");
        let self_report = s.own && req.channel == ContactChannel::SelfReport;
        if !(manager || self_report) {
            return Err(AppError::Forbidden);
        }
        require_open(&row)?;
        let at = req.contacted_at.map_or(ctx.now, |t| t.naive_utc());
        if at > ctx.now + chrono::Duration::minutes(5) {
            return Err(AppError::invalid(
                "contacted_at",
                "in_future",
                "联系时间不能晚于现在。",
            ));
        }
        let contact = ContactRow {
            id: new_id(),
            record_id: row.id.clone(),
            contacted_at: at.min(ctx.now),
            channel: req.channel.as_str().into(),
            note: trimmed(req.note.as_deref()),
            recorded_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
        };
        touch(c, &row, ctx.now)?;
        store::insert_contact(c, &contact)?;
        store::set_last_contact(c, &row.id, contact.contacted_at)?;
        ctx.audit(
            c,
            "migrant.contact",
            ("migrant", &row.id),
            Some(&row.home_org_id),
            None,
            Some(json!({
                "contact_id": contact.id, "channel": contact.channel,
                "contacted_at": contact.contacted_at,
            })),
        )?;
        Ok(contact_view(contact))
    })
}

/// `POST /migrants/{id}/review`: the home secretary looked into the 失联 flag.
pub fn review(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    id: &str,
    req: &ReviewLostContact,
) -> AppResult<MigrantDetail> {
    let row = write_tx(conn, |c| {
        let row = load(c, id)?;
        let s = readable(c, ctx.principal, &row)?;
        if !s.home {
            return Err(AppError::Forbidden);
        }
        let current = view(c, pii, &row, ctx.now)?;
        if !current.lost_contact {
            return Err(conflict(
                ErrorCode::Conflict,
                "该党员当前没有失联提醒（六个月内有联系记录）。",
            ));
        }
        touch(c, &row, ctx.now)?;
        store::mark_reviewed(c, &row.id, &ctx.principal.account_id, ctx.now)?;
        ctx.audit(
            c,
            "migrant.review_lost_contact",
            ("migrant", &row.id),
            Some(&row.home_org_id),
            None,
            Some(json!({
                "last_contact_at": row.last_contact_at,
                "comment": trimmed(req.comment.as_deref()),
            })),
        )?;
        load(c, id)
    })?;
    detail(conn, pii, &row, ctx.now)
}

/// `POST /migrants/{id}/end`: returned, transferred, or otherwise no longer away.
pub fn end(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    id: &str,
    req: &EndMigrant,
) -> AppResult<MigrantDetail> {
    let row = write_tx(conn, |c| {
        let row = load(c, id)?;
        let s = readable(c, ctx.principal, &row)?;
        if !(s.home || s.host) {
            return Err(AppError::Forbidden);
        }
        require_open(&row)?;
        let on = req.ended_on.unwrap_or_else(|| ctx.today());
        if on < row.since || on > ctx.today() {
            return Err(AppError::invalid(
                "ended_on",
                "out_of_range",
                "结束日期须在外出时间与今天之间。",
            ));
        }
        let reason = req.reason.trim();
        touch(c, &row, ctx.now)?;
        store::end(c, &row.id, on, reason)?;
        ctx.audit(
            c,
            "migrant.end",
            ("migrant", &row.id),
            Some(&row.home_org_id),
            None,
            Some(json!({"ended_on": on, "reason": reason})),
        )?;
        let mut ids = member_ids_with_roles(c, &row.home_org_id, &MANAGER_ROLES)?;
        if let Some(h) = row.host_org_id.as_deref() {
            ids.extend(member_ids_with_roles(c, h, &MANAGER_ROLES)?);
        }
        ids.push(row.member_id.clone());
        notify(
            c,
            &ids,
            "流动党员登记结束",
            &format!("流动党员登记已结束：{reason}。"),
            &row.id,
            ctx.now,
        )?;
        load(c, id)
    })?;
    detail(conn, pii, &row, ctx.now)
}

fn detail(
    conn: &mut AnyConnection,
    pii: &Pii,
    row: &MigrantRow,
    now: NaiveDateTime,
) -> AppResult<MigrantDetail> {
    Ok(MigrantDetail {
        record: view(conn, pii, row, now)?,
        contacts: store::contacts(conn, &row.id)?
            .into_iter()
            .map(contact_view)
            .collect(),
    })
}

/// `GET /migrants/{id}`.
pub fn get(
    conn: &mut AnyConnection,
    principal: &Principal,
    pii: &Pii,
    id: &str,
    now: NaiveDateTime,
) -> AppResult<MigrantDetail> {
    let row = load(conn, id)?;
    readable(conn, principal, &row)?;
    detail(conn, pii, &row, now)
}

const CURSOR_TAG: &str = "migrants";

/// `GET /orgs/{org_id}/migrants`: managers of the organization, for its subtree.
pub fn list(
    conn: &mut AnyConnection,
    principal: &Principal,
    pii: &Pii,
    org_id: &str,
    q: &MigrantListQuery,
    now: NaiveDateTime,
) -> AppResult<Page<MigrantRecord>> {
    authz::require_manage_org(conn, principal, org_id, &Role::MANAGERS)?;
    let side = q.side.unwrap_or_default();
    let after = match q.cursor.as_deref() {
        Some(c) => cursor::decode(CURSOR_TAG, c, 1)?.into_iter().next(),
        None => None,
    };
    let limit = cursor::limit(q.limit);
    let rows = store::list(
        conn,
        org_id,
        side == MigrantSide::Host,
        q.include_ended.unwrap_or(false),
        after.as_deref(),
        limit + 1,
    )?;
    let (rows, next) = cursor::paginate(rows, limit, |r| cursor::encode(CURSOR_TAG, &[&r.id]));
    let items = rows
        .iter()
        .map(|r| view(conn, pii, r, now))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Page {
        items,
        next_cursor: next,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn whole_months_away() {
        assert_eq!(months_between(d("2026-01-15"), d("2026-07-14")), 5);
        assert_eq!(months_between(d("2026-01-15"), d("2026-07-15")), 6);
        assert_eq!(months_between(d("2025-11-30"), d("2026-05-30")), 6);
        assert_eq!(months_between(d("2026-03-01"), d("2026-02-01")), 0);
    }
}
