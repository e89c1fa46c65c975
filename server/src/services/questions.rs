//! Questions: asking, routing to the nearest experts, accept/decline, the answer thread,
//! closing, rating, escalation and assignment, attachments, and the periodic sweep.

use chrono::NaiveDateTime;
use hongying_proto::ErrorCode;
use hongying_proto::minutes::AttachmentMeta;
use hongying_proto::services::{
    Asker, AssignQuestion, CreateQuestion, ExpertRef, Question, QuestionList, QuestionMessage,
    QuestionRole, QuestionSummary, RateQuestion,
};
use serde_json::json;

use super::{
    QUESTION, conflict, expert_account, field_label, home_orgs, is_asker, is_at_or_above,
    label_or_code, my_expert, nearest_org_admins, notify, unprocessable, utc,
};
use crate::auth::{Principal, Role};
use crate::authz;
use crate::config::ServicesConfig;
use crate::crypto::pii::{Field, Pii, mask_phone};
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::minutes::attachments::{self, Kind};
use crate::orgs::Ctx;
use crate::store::audit::{self, Entry};
use crate::store::minutes::{self as files, AttachmentRow};
use crate::store::services::{self as store, MessageRow, QuestionRow, RouteRow};

/// How the caller relates to a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Asker,
    /// The assigned expert.
    Expert,
    /// An expert the question is offered to (may accept or decline).
    Offered,
    /// An `org_admin` in scope of the area (or a super admin).
    Admin,
}

impl Viewer {
    fn as_str(self) -> &'static str {
        match self {
            Self::Asker => "asker",
            Self::Expert => "expert",
            Self::Offered => "offered",
            Self::Admin => "admin",
        }
    }
}

/// The caller's relation to the question, or 404 for anyone who may not see it.
pub fn viewer(conn: &mut AnyConnection, p: &Principal, q: &QuestionRow) -> AppResult<Viewer> {
    if q.asker_account_id == p.account_id {
        return Ok(Viewer::Asker);
    }
    if let Some(me) = my_expert(conn, p)? {
        if q.assigned_expert_id.as_deref() == Some(me.id.as_str()) {
            return Ok(Viewer::Expert);
        }
        let offered = store::routes_of(conn, &q.id)?
            .iter()
            .any(|r| r.expert_id == me.id && r.status == "offered");
        if offered && matches!(q.status.as_str(), "open" | "escalated") {
            return Ok(Viewer::Offered);
        }
    }
    if authz::org_in_scope(conn, p, &q.area_org_id, &[Role::OrgAdmin])? {
        return Ok(Viewer::Admin);
    }
    Err(AppError::NotFound)
}

pub fn load(conn: &mut AnyConnection, id: &str) -> AppResult<QuestionRow> {
    store::find_question(conn, id)?.ok_or(AppError::NotFound)
}

/// Loads a question the caller may see, with the caller's relation to it.
pub fn load_for(
    conn: &mut AnyConnection,
    p: &Principal,
    id: &str,
) -> AppResult<(QuestionRow, Viewer)> {
    let q = load(conn, id)?;
    let v = viewer(conn, p, &q)?;
    Ok((q, v))
}

fn expert_ref(conn: &mut AnyConnection, id: &str) -> AppResult<Option<ExpertRef>> {
    Ok(store::find_expert(conn, id)?.map(|e| ExpertRef {
        id: e.id,
        name: e.name,
        field: e.field,
    }))
}

pub fn to_proto(
    conn: &mut AnyConnection,
    config: &ServicesConfig,
    pii: &Pii,
    q: QuestionRow,
    v: Viewer,
) -> AppResult<Question> {
    let account = crate::store::accounts::find(conn, &q.asker_account_id)?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("question without its asker")))?;
    let phone_masked = if v == Viewer::Offered {
        None
    } else {
        let phone = pii
            .decrypt(Field::Phone, &account.id, &account.phone_enc)
            .map_err(AppError::Internal)?;
        Some(mask_phone(&phone))
    };
    let area_name = crate::store::accounts::org_name(conn, &q.area_org_id)?.unwrap_or_default();
    let assigned_expert = match &q.assigned_expert_id {
        Some(e) => expert_ref(conn, e)?,
        None => None,
    };
    let mut offered_to = Vec::new();
    if v == Viewer::Admin {
        for r in store::routes_of(conn, &q.id)? {
            if r.status == "offered"
                && let Some(e) = expert_ref(conn, &r.expert_id)?
            {
                offered_to.push(e);
            }
        }
    }
    let messages = store::messages_of(conn, &q.id)?
        .into_iter()
        .map(|m| QuestionMessage {
            id: m.id,
            author_role: m.author_role,
            text: m.text,
            created_at: utc(m.created_at),
        })
        .collect();
    let attachments = files::attachments_of(conn, QUESTION, &q.id)?
        .into_iter()
        .map(crate::minutes::record::attachment_view)
        .collect();
    let consultations = store::consultations_of(conn, &q.id)?
        .into_iter()
        .map(super::consultations::to_proto)
        .collect();
    Ok(Question {
        category_label: label_or_code(config, &q.category),
        area_name,
        viewer_role: v.as_str().into(),
        asker: Asker {
            account_id: account.id,
            name: account.display_name,
            phone_masked,
        },
        assigned_expert,
        offered_to,
        messages,
        attachments,
        consultations,
        accepted_at: q.accepted_at.map(utc),
        first_answer_at: q.first_answer_at.map(utc),
        escalated_at: q.escalated_at.map(utc),
        closed_at: q.closed_at.map(utc),
        close_reason: q.close_reason,
        rating: q.rating,
        rating_comment: q.rating_comment,
        created_at: utc(q.created_at),
        version: q.version,
        id: q.id,
        category: q.category,
        text: q.text,
        area_org_id: q.area_org_id,
        urgency: q.urgency,
        status: q.status,
    })
}

fn summary(q: QuestionRow) -> QuestionSummary {
    QuestionSummary {
        id: q.id,
        category: q.category,
        area_org_id: q.area_org_id,
        urgency: q.urgency,
        status: q.status,
        assigned_expert_id: q.assigned_expert_id,
        created_at: utc(q.created_at),
        escalated_at: q.escalated_at.map(utc),
    }
}

/// Saves a changed question (bumping its version); 409 when another change came first.
fn save(conn: &mut AnyConnection, q: &mut QuestionRow, now: NaiveDateTime) -> AppResult<()> {
    q.version += 1;
    q.updated_at = now;
    if store::save_question(conn, q)? != 1 {
        return Err(AppError::VersionConflict);
    }
    Ok(())
}

/// Audits a change of a question, by the caller of `ctx` or (without one) the system.
fn audit_change(
    conn: &mut AnyConnection,
    ctx: Option<&Ctx<'_>>,
    action: &str,
    q: &QuestionRow,
    before: serde_json::Value,
    after: serde_json::Value,
    now: NaiveDateTime,
) -> AppResult<()> {
    audit::append(
        conn,
        &Entry {
            actor_account_id: ctx.map(|c| c.principal.account_id.clone()),
            actor_org_id: ctx.and_then(|c| c.principal.primary_org()),
            action: format!("service.question_{action}"),
            target_type: QUESTION.into(),
            target_id: q.id.clone(),
            org_id: Some(q.area_org_id.clone()),
            before: Some(before),
            after: Some(after),
            request_id: ctx.and_then(|c| c.meta.request_id.clone()),
            client_addr: ctx.and_then(|c| c.meta.client_addr.clone()),
        },
        now,
    )?;
    Ok(())
}

/// The audit record of a status step: `service.question_{action}`, before and after.
struct Audit {
    action: &'static str,
    before: serde_json::Value,
    after: serde_json::Value,
}

/// A notice a status step sends about the question.
struct Notice {
    to: Vec<String>,
    kind: &'static str,
    title: &'static str,
    body: String,
}

impl Notice {
    fn new(
        to: Vec<String>,
        kind: &'static str,
        title: &'static str,
        body: impl Into<String>,
    ) -> Self {
        Self {
            to,
            kind,
            title,
            body: body.into(),
        }
    }
}

/// What every status step does once it has set the question's fields, in the caller's
/// transaction: save it (409 when another change came first), audit the change (not
/// every step is audited: a follow-up message is not) and send the step's notices.
fn transition(
    conn: &mut AnyConnection,
    ctx: Option<&Ctx<'_>>,
    q: &mut QuestionRow,
    audit: Option<Audit>,
    notices: Vec<Notice>,
    now: NaiveDateTime,
) -> AppResult<()> {
    save(conn, q, now)?;
    if let Some(a) = audit {
        audit_change(conn, ctx, a.action, q, a.before, a.after, now)?;
    }
    for n in notices {
        notify(conn, &n.to, n.kind, n.title, &n.body, &q.id, now)?;
    }
    Ok(())
}

/// Offers the question to the nearest level of candidates not tried yet (distance
/// greater than `beyond`). Returns the experts offered to, none when nobody is left.
fn offer_next_level(
    conn: &mut AnyConnection,
    q: &QuestionRow,
    beyond: Option<i32>,
    now: NaiveDateTime,
) -> AppResult<Vec<String>> {
    let tried: Vec<String> = store::routes_of(conn, &q.id)?
        .into_iter()
        .map(|r| r.expert_id)
        .collect();
    let left: Vec<(String, i32)> = store::candidates(conn, &q.category, &q.area_org_id)?
        .into_iter()
        .filter(|(e, d)| !tried.contains(e) && beyond.is_none_or(|b| *d > b))
        .collect();
    let Some(nearest) = left.iter().map(|(_, d)| *d).min() else {
        return Ok(Vec::new());
    };
    let mut offered = Vec::new();
    for (expert_id, d) in left.into_iter().filter(|(_, d)| *d == nearest) {
        store::insert_route(
            conn,
            &RouteRow {
                question_id: q.id.clone(),
                expert_id: expert_id.clone(),
                distance: d,
                status: "offered".into(),
                created_at: now,
                decided_at: None,
            },
        )?;
        offered.push(expert_id);
    }
    let accounts: Vec<String> = offered
        .iter()
        .map(|e| expert_account(conn, e))
        .collect::<AppResult<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    notify(
        conn,
        &accounts,
        "service_question_offered",
        "有新的群众提问",
        "您服务的区域有一个新问题等待您接受或拒绝。",
        &q.id,
        now,
    )?;
    Ok(offered)
}

fn escalate(
    conn: &mut AnyConnection,
    q: &mut QuestionRow,
    ctx: Option<&Ctx<'_>>,
    now: NaiveDateTime,
) -> AppResult<()> {
    let before = json!({"status": q.status});
    q.status = "escalated".into();
    q.escalated_at = Some(now);
    let admins = nearest_org_admins(conn, &q.area_org_id)?;
    let notices = vec![
        Notice::new(
            admins,
            "service_question_escalated",
            "群众提问无人受理",
            "一个群众提问超时无专家接受，已转交您指派专家。",
        ),
        Notice::new(
            vec![q.asker_account_id.clone()],
            "service_question_escalated",
            "您的提问已转交",
            "您的提问暂未有专家接受，已转交组织管理员协调指派。",
        ),
    ];
    let audit = Audit {
        action: "escalate",
        before,
        after: json!({"status": "escalated"}),
    };
    transition(conn, ctx, q, Some(audit), notices, now)
}

pub fn create(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    pii: &Pii,
    req: CreateQuestion,
) -> AppResult<Question> {
    let p = ctx.principal;
    write_tx(conn, |c| {
        if !is_asker(p) {
            return Err(AppError::Forbidden);
        }
        field_label(config, "category", &req.category)?;
        let homes = home_orgs(p);
        let area = match req.area_org_id.clone() {
            Some(a) => {
                let mut ok = false;
                for h in &homes {
                    if is_at_or_above(c, &a, h)? {
                        ok = true;
                        break;
                    }
                }
                if !ok {
                    return Err(AppError::NotFound);
                }
                a
            }
            None => homes.first().cloned().ok_or_else(|| {
                AppError::invalid("area_org_id", "required", "请选择提问所在区域。")
            })?,
        };
        let text = req.text.trim().to_string();
        if text.is_empty() {
            return Err(AppError::invalid("text", "length", "问题内容不能为空。"));
        }
        let row = QuestionRow {
            id: new_id(),
            asker_account_id: p.account_id.clone(),
            category: req.category.clone(),
            text,
            area_org_id: area,
            urgency: req.urgency.as_str().into(),
            status: "open".into(),
            assigned_expert_id: None,
            accepted_at: None,
            first_answer_at: None,
            last_activity_at: ctx.now,
            escalated_at: None,
            closed_at: None,
            close_reason: None,
            rating: None,
            rating_comment: None,
            rated_at: None,
            created_at: ctx.now,
            updated_at: ctx.now,
            version: 1,
        };
        store::insert_question(c, &row)?;
        let offered = offer_next_level(c, &row, None, ctx.now)?;
        if offered.is_empty() {
            return Err(unprocessable(
                ErrorCode::NoExpertAvailable,
                "该区域暂无此领域的专家提供服务，请选择其他领域或联系党群服务中心。",
            ));
        }
        ctx.audit(
            c,
            "service.question_create",
            (QUESTION, &row.id),
            Some(&row.area_org_id),
            None,
            Some(json!({
                "category": row.category, "area_org_id": row.area_org_id,
                "urgency": row.urgency, "offered_to": offered,
            })),
        )?;
        notify(
            c,
            std::slice::from_ref(&row.asker_account_id),
            "service_question_routed",
            "提问已送达专家",
            "您的提问已送达服务区域的专家，请等待专家接受。",
            &row.id,
            ctx.now,
        )?;
        to_proto(c, config, pii, row, Viewer::Asker)
    })
}

pub fn get(
    conn: &mut AnyConnection,
    p: &Principal,
    config: &ServicesConfig,
    pii: &Pii,
    id: &str,
) -> AppResult<Question> {
    let (q, v) = load_for(conn, p, id)?;
    to_proto(conn, config, pii, q, v)
}

pub fn list_mine(
    conn: &mut AnyConnection,
    p: &Principal,
    role: QuestionRole,
) -> AppResult<QuestionList> {
    let rows = match role {
        QuestionRole::Asked => store::questions_asked_by(conn, &p.account_id)?,
        QuestionRole::Assigned | QuestionRole::Offered => match my_expert(conn, p)? {
            None => Vec::new(),
            Some(e) if role == QuestionRole::Assigned => store::questions_assigned_to(conn, &e.id)?,
            Some(e) => store::questions_offered_to(conn, &e.id)?,
        },
    };
    Ok(QuestionList {
        items: rows.into_iter().map(summary).collect(),
    })
}

fn illegal(q: &QuestionRow, allowed: &[&str]) -> AppError {
    AppError::IllegalTransition {
        from: q.status.clone(),
        allowed: allowed.iter().map(|s| s.to_string()).collect(),
    }
}

/// Takes the question: only an expert it is offered to, while it waits.
pub fn accept(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    pii: &Pii,
    id: &str,
) -> AppResult<Question> {
    write_tx(conn, |c| {
        let (mut q, v) = load_for(c, ctx.principal, id)?;
        match v {
            Viewer::Offered => {}
            Viewer::Expert => return Err(illegal(&q, &[])),
            Viewer::Asker | Viewer::Admin => return Err(AppError::Forbidden),
        }
        let me = my_expert(c, ctx.principal)?.ok_or(AppError::Forbidden)?;
        if me.status != "enabled" {
            return Err(AppError::Forbidden);
        }
        let before = json!({"status": q.status});
        q.status = "accepted".into();
        q.assigned_expert_id = Some(me.id.clone());
        q.accepted_at = Some(ctx.now);
        q.last_activity_at = ctx.now;
        let audit = Audit {
            action: "accept",
            before,
            after: json!({"status": "accepted", "expert_id": me.id}),
        };
        let notices = vec![Notice::new(
            vec![q.asker_account_id.clone()],
            "service_question_accepted",
            "专家已接受您的提问",
            format!("{}专家已接受您的提问，将尽快解答。", me.name),
        )];
        transition(c, Some(ctx), &mut q, Some(audit), notices, ctx.now)?;
        store::withdraw_offers(c, &q.id, ctx.now)?;
        to_proto(c, config, pii, q, Viewer::Expert)
    })
}

/// Declines an offered question. When every expert it is offered to has declined, the
/// next level up gets it; with nobody left it escalates at once.
pub fn decline(conn: &mut AnyConnection, ctx: &Ctx<'_>, id: &str) -> AppResult<()> {
    write_tx(conn, |c| {
        let (mut q, v) = load_for(c, ctx.principal, id)?;
        match v {
            Viewer::Offered => {}
            Viewer::Expert => return Err(illegal(&q, &[])),
            Viewer::Asker | Viewer::Admin => return Err(AppError::Forbidden),
        }
        let me = my_expert(c, ctx.principal)?.ok_or(AppError::Forbidden)?;
        store::set_route_status(c, &q.id, &me.id, "declined", ctx.now)?;
        audit_change(
            c,
            Some(ctx),
            "decline",
            &q,
            json!({"route": "offered", "expert_id": me.id}),
            json!({"route": "declined", "expert_id": me.id}),
            ctx.now,
        )?;
        let routes = store::routes_of(c, &q.id)?;
        if routes.iter().any(|r| r.status == "offered") {
            return Ok(());
        }
        let beyond = routes.iter().map(|r| r.distance).max();
        let offered = offer_next_level(c, &q, beyond, ctx.now)?;
        if offered.is_empty() && q.status == "open" {
            escalate(c, &mut q, Some(ctx), ctx.now)?;
        }
        Ok(())
    })
}

/// An answer by the assigned expert or a follow-up by the asker.
pub fn post_message(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    pii: &Pii,
    id: &str,
    text: &str,
) -> AppResult<Question> {
    write_tx(conn, |c| {
        let (mut q, v) = load_for(c, ctx.principal, id)?;
        let role = match v {
            Viewer::Asker => "asker",
            Viewer::Expert => "expert",
            Viewer::Offered => {
                return Err(AppError::Domain {
                    status: 403,
                    code: ErrorCode::NotAssigned,
                    detail: "该问题尚未分配给您，请先接受后再解答。".into(),
                });
            }
            Viewer::Admin => return Err(AppError::Forbidden),
        };
        if q.status == "closed" {
            return Err(conflict(ErrorCode::QuestionClosed, "该问题已关闭。"));
        }
        let text = text.trim();
        if text.is_empty() {
            return Err(AppError::invalid("text", "length", "内容不能为空。"));
        }
        store::insert_message(
            c,
            &MessageRow {
                id: new_id(),
                question_id: q.id.clone(),
                author_account_id: ctx.principal.account_id.clone(),
                author_role: role.into(),
                text: text.to_string(),
                created_at: ctx.now,
            },
        )?;
        let first = role == "expert" && q.first_answer_at.is_none();
        if first {
            q.first_answer_at = Some(ctx.now);
        }
        q.last_activity_at = ctx.now;
        // Only the first answer is a change worth auditing; follow-ups are the thread.
        let audit = first.then(|| Audit {
            action: "answer",
            before: json!({"answered": false}),
            after: json!({"answered": true}),
        });
        let (to, title, body) = if role == "expert" {
            (
                Some(q.asker_account_id.clone()),
                "专家回复了您的提问",
                "专家回复了您的提问，请查看。",
            )
        } else {
            (
                match &q.assigned_expert_id {
                    Some(e) => expert_account(c, e)?,
                    None => None,
                },
                "群众追问",
                "提问人补充了新的内容，请查看。",
            )
        };
        let notices = to
            .map(|to| Notice::new(vec![to], "service_question_message", title, body))
            .into_iter()
            .collect();
        transition(c, Some(ctx), &mut q, audit, notices, ctx.now)?;
        to_proto(c, config, pii, q, v)
    })
}

/// The asker closes the question.
pub fn close(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    pii: &Pii,
    id: &str,
) -> AppResult<Question> {
    write_tx(conn, |c| {
        let (mut q, v) = load_for(c, ctx.principal, id)?;
        if v != Viewer::Asker {
            return Err(AppError::Forbidden);
        }
        if q.status == "closed" {
            return Err(illegal(&q, &[]));
        }
        close_row(c, Some(ctx), &mut q, "asker", ctx.now)?;
        store::withdraw_offers(c, &q.id, ctx.now)?;
        to_proto(c, config, pii, q, v)
    })
}

/// Closes the question, by its asker (`reason` "asker", with `ctx`) or by the sweep
/// ("inactivity", by the system).
fn close_row(
    c: &mut AnyConnection,
    ctx: Option<&Ctx<'_>>,
    q: &mut QuestionRow,
    reason: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    let before = json!({"status": q.status});
    q.status = "closed".into();
    q.closed_at = Some(now);
    q.close_reason = Some(reason.into());
    let mut notices = Vec::new();
    if let Some(e) = q.assigned_expert_id.clone()
        && let Some(account) = expert_account(c, &e)?
    {
        notices.push(Notice::new(
            vec![account],
            "service_question_closed",
            "问题已关闭",
            if reason == "asker" {
                "提问人已关闭该问题。"
            } else {
                "该问题长时间无新内容，已自动关闭。"
            },
        ));
    }
    if reason != "asker" {
        notices.push(Notice::new(
            vec![q.asker_account_id.clone()],
            "service_question_closed",
            "问题已关闭",
            "您的提问长时间无新内容，已自动关闭。",
        ));
    }
    let audit = Audit {
        action: "close",
        before,
        after: json!({"status": "closed", "reason": reason}),
    };
    transition(c, ctx, q, Some(audit), notices, now)
}

/// Rates the answer once (1–5 with a comment): the asker, after an answer.
pub fn rate(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    pii: &Pii,
    id: &str,
    req: RateQuestion,
) -> AppResult<Question> {
    write_tx(conn, |c| {
        let (mut q, v) = load_for(c, ctx.principal, id)?;
        if v != Viewer::Asker {
            return Err(AppError::Forbidden);
        }
        if q.rating.is_some() {
            return Err(conflict(
                ErrorCode::AlreadyRated,
                "该问题已评价过，不能重复评价。",
            ));
        }
        if q.first_answer_at.is_none() {
            return Err(conflict(
                ErrorCode::NotAnswered,
                "专家尚未解答，暂不能评价。",
            ));
        }
        q.rating = Some(req.rating);
        q.rating_comment = req
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        q.rated_at = Some(ctx.now);
        q.last_activity_at = ctx.now;
        let audit = Audit {
            action: "rate",
            before: json!({"rating": null}),
            after: json!({"rating": q.rating, "comment": q.rating_comment}),
        };
        let mut notices = Vec::new();
        if let Some(e) = q.assigned_expert_id.clone()
            && let Some(account) = expert_account(c, &e)?
        {
            notices.push(Notice::new(
                vec![account],
                "service_question_rated",
                "提问人评价了您的解答",
                format!("提问人给出了 {} 分评价。", req.rating),
            ));
        }
        transition(c, Some(ctx), &mut q, Some(audit), notices, ctx.now)?;
        to_proto(c, config, pii, q, v)
    })
}

/// An `org_admin` in scope gives a waiting or escalated question to an expert.
pub fn assign(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    pii: &Pii,
    id: &str,
    req: AssignQuestion,
) -> AppResult<Question> {
    write_tx(conn, |c| {
        // 404 unless the caller may see it; 403 for its asker and experts.
        let (mut q, v) = load_for(c, ctx.principal, id)?;
        if v != Viewer::Admin {
            return Err(AppError::Forbidden);
        }
        if !matches!(q.status.as_str(), "open" | "escalated") {
            return Err(illegal(&q, &[]));
        }
        let serves = store::candidates(c, &q.category, &q.area_org_id)?
            .iter()
            .any(|(e, _)| *e == req.expert_id);
        if !serves {
            return Err(AppError::invalid(
                "expert_id",
                "not_serving",
                "该专家未启用，或不属于此领域，或不服务该区域。",
            ));
        }
        let expert = store::find_expert(c, &req.expert_id)?.ok_or(AppError::NotFound)?;
        let before = json!({"status": q.status});
        q.status = "accepted".into();
        q.assigned_expert_id = Some(expert.id.clone());
        q.accepted_at = Some(ctx.now);
        q.last_activity_at = ctx.now;
        let audit = Audit {
            action: "assign",
            before,
            after: json!({"status": "accepted", "expert_id": expert.id}),
        };
        let notices = vec![
            Notice::new(
                vec![expert.account_id.clone()],
                "service_question_assigned",
                "组织为您指派了一个提问",
                "组织管理员为您指派了一个群众提问，请尽快解答。",
            ),
            Notice::new(
                vec![q.asker_account_id.clone()],
                "service_question_accepted",
                "您的提问已指派专家",
                format!("组织已为您的提问指派{}专家。", expert.name),
            ),
        ];
        transition(c, Some(ctx), &mut q, Some(audit), notices, ctx.now)?;
        store::withdraw_offers(c, &q.id, ctx.now)?;
        to_proto(c, config, pii, q, Viewer::Admin)
    })
}

/// Escalated questions of an organization's subtree: its `org_admin`s.
pub fn escalations(
    conn: &mut AnyConnection,
    p: &Principal,
    org_id: &str,
) -> AppResult<QuestionList> {
    authz::require_manage_org(conn, p, org_id, &[Role::OrgAdmin])?;
    Ok(QuestionList {
        items: store::escalated_in_subtree(conn, org_id)?
            .into_iter()
            .map(summary)
            .collect(),
    })
}

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub escalated: Vec<String>,
    pub closed: Vec<String>,
}

/// Escalates questions nobody accepted within `accept_timeout_hours` and closes accepted
/// ones idle for `inactivity_close_days`. The server runs it every
/// `sweep_interval_secs`; tests call it with the clock advanced. Each question changes
/// in its own transaction, conditional on its version, so two nodes sweeping at once do
/// each change once.
pub fn sweep(
    conn: &mut AnyConnection,
    config: &ServicesConfig,
    now: NaiveDateTime,
) -> AppResult<SweepReport> {
    let mut report = SweepReport::default();
    let cutoff = now - chrono::Duration::hours(i64::from(config.accept_timeout_hours));
    for q in store::due_for_escalation(conn, cutoff)? {
        let done = write_tx(conn, |c| {
            let mut q = match store::find_question(c, &q.id)? {
                Some(q) if q.status == "open" => q,
                _ => return Ok(false),
            };
            escalate(c, &mut q, None, now)?;
            Ok::<_, AppError>(true)
        });
        match done {
            Ok(true) => report.escalated.push(q.id),
            Ok(false) | Err(AppError::VersionConflict) => {}
            Err(e) => return Err(e),
        }
    }
    let cutoff = now - chrono::Duration::days(i64::from(config.inactivity_close_days));
    for q in store::due_for_close(conn, cutoff)? {
        let done = write_tx(conn, |c| {
            let mut q = match store::find_question(c, &q.id)? {
                Some(q) if q.status == "accepted" && q.last_activity_at <= cutoff => q,
                _ => return Ok(false),
            };
            close_row(c, None, &mut q, "inactivity", now)?;
            Ok::<_, AppError>(true)
        });
        match done {
            Ok(true) => report.closed.push(q.id),
            Ok(false) | Err(AppError::VersionConflict) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

// --- attachments ------------------------------------------------------------------------

/// Whether the caller may attach a file now: the asker, while the question is not
/// closed and has room for another file.
pub fn check_upload(
    conn: &mut AnyConnection,
    p: &Principal,
    config: &ServicesConfig,
    id: &str,
) -> AppResult<QuestionRow> {
    let (q, v) = load_for(conn, p, id)?;
    if v != Viewer::Asker {
        return Err(AppError::Forbidden);
    }
    if q.status == "closed" {
        return Err(conflict(ErrorCode::QuestionClosed, "该问题已关闭。"));
    }
    let n = files::attachments_of(conn, QUESTION, &q.id)?.len();
    if n >= config.max_attachments as usize {
        return Err(conflict(
            ErrorCode::TooManyAttachments,
            &format!("每个问题最多 {} 个附件。", config.max_attachments),
        ));
    }
    Ok(q)
}

/// Records an attachment whose content is already stored under its digest.
#[allow(clippy::too_many_arguments)]
pub fn add_attachment(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    id: &str,
    filename: &str,
    kind: Kind,
    sha: &str,
    size: usize,
) -> AppResult<AttachmentMeta> {
    write_tx(conn, |c| {
        let q = check_upload(c, ctx.principal, config, id)?;
        let row = AttachmentRow {
            id: new_id(),
            owner_type: QUESTION.into(),
            owner_id: q.id.clone(),
            filename: filename.to_owned(),
            content_type: kind.mime.into(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            sha256: sha.to_owned(),
            storage_key: attachments::storage_key(sha),
            uploaded_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
        };
        files::insert_attachment(c, &row)?;
        ctx.audit(
            c,
            "service.question_attachment_add",
            (QUESTION, &q.id),
            Some(&q.area_org_id),
            None,
            Some(json!({
                "attachment_id": row.id, "filename": row.filename,
                "content_type": row.content_type, "size_bytes": row.size_bytes,
                "sha256": row.sha256,
            })),
        )?;
        Ok(crate::minutes::record::attachment_view(row))
    })
}

/// An attachment of a question the caller may read (404 otherwise).
pub fn attachment_for(
    conn: &mut AnyConnection,
    p: &Principal,
    id: &str,
) -> AppResult<AttachmentRow> {
    let row = files::find_attachment(conn, id)?.ok_or(AppError::NotFound)?;
    if row.owner_type != QUESTION {
        return Err(AppError::NotFound);
    }
    load_for(conn, p, &row.owner_id)?;
    Ok(row)
}
