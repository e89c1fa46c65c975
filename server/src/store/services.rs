//! 服务面对面: experts and their areas, questions, routes, messages, FAQ entries, slots and
//! consultations.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{
    org_closure, organizations, service_consultations, service_expert_areas, service_experts,
    service_faqs, service_messages, service_question_routes, service_questions, service_slots,
};

// --- experts ----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_experts)]
pub struct ExpertRow {
    pub id: String,
    pub account_id: String,
    pub org_id: String,
    pub name: String,
    pub field: String,
    pub specialities_json: String,
    pub availability_json: String,
    pub status: String,
    pub verified_at: Option<NaiveDateTime>,
    pub verified_by: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

pub fn insert_expert(conn: &mut AnyConnection, row: &ExpertRow) -> QueryResult<()> {
    diesel::insert_into(service_experts::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_expert(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<ExpertRow>> {
    service_experts::table
        .find(id)
        .select(ExpertRow::as_select())
        .first(conn)
        .optional()
}

pub fn find_expert_by_account(
    conn: &mut AnyConnection,
    account_id: &str,
) -> QueryResult<Option<ExpertRow>> {
    service_experts::table
        .filter(service_experts::account_id.eq(account_id))
        .select(ExpertRow::as_select())
        .first(conn)
        .optional()
}

/// Writes the changed profile if the row still has `row.version - 1`; 0 when another
/// change came first.
pub fn update_expert(conn: &mut AnyConnection, row: &ExpertRow) -> QueryResult<usize> {
    diesel::update(
        service_experts::table
            .filter(service_experts::id.eq(&row.id))
            .filter(service_experts::version.eq(row.version - 1)),
    )
    .set((
        service_experts::name.eq(&row.name),
        service_experts::specialities_json.eq(&row.specialities_json),
        service_experts::availability_json.eq(&row.availability_json),
        service_experts::status.eq(&row.status),
        service_experts::verified_at.eq(row.verified_at),
        service_experts::verified_by.eq(&row.verified_by),
        service_experts::updated_at.eq(row.updated_at),
        service_experts::version.eq(row.version),
    ))
    .execute(conn)
}

pub fn set_areas(conn: &mut AnyConnection, expert_id: &str, orgs: &[String]) -> QueryResult<()> {
    diesel::delete(
        service_expert_areas::table.filter(service_expert_areas::expert_id.eq(expert_id)),
    )
    .execute(conn)?;
    for org in orgs {
        diesel::insert_into(service_expert_areas::table)
            .values((
                service_expert_areas::expert_id.eq(expert_id),
                service_expert_areas::org_id.eq(org),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The organizations an expert serves, with their names, by name.
pub fn areas_of(conn: &mut AnyConnection, expert_id: &str) -> QueryResult<Vec<(String, String)>> {
    service_expert_areas::table
        .inner_join(organizations::table.on(organizations::id.eq(service_expert_areas::org_id)))
        .filter(service_expert_areas::expert_id.eq(expert_id))
        .order(organizations::name.asc())
        .select((organizations::id, organizations::name))
        .load(conn)
}

/// Experts managed by an organization of `org_id`'s subtree.
pub fn experts_in_subtree(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Vec<ExpertRow>> {
    service_experts::table
        .inner_join(org_closure::table.on(org_closure::descendant_id.eq(service_experts::org_id)))
        .filter(org_closure::ancestor_id.eq(org_id))
        .order(service_experts::created_at.asc())
        .select(ExpertRow::as_select())
        .load(conn)
}

/// Enabled experts of `field` serving `area` (one of their areas is `area` or above it),
/// each with the distance from the nearest such area down to `area`.
pub fn candidates(
    conn: &mut AnyConnection,
    field: &str,
    area: &str,
) -> QueryResult<Vec<(String, i32)>> {
    let rows: Vec<(String, i32)> = service_expert_areas::table
        .inner_join(
            service_experts::table.on(service_experts::id.eq(service_expert_areas::expert_id)),
        )
        .inner_join(
            org_closure::table.on(org_closure::ancestor_id.eq(service_expert_areas::org_id)),
        )
        .filter(org_closure::descendant_id.eq(area))
        .filter(service_experts::field.eq(field))
        .filter(service_experts::status.eq("enabled"))
        .select((service_experts::id, org_closure::distance))
        .load(conn)?;
    let mut best: std::collections::BTreeMap<String, i32> = std::collections::BTreeMap::new();
    for (id, d) in rows {
        best.entry(id).and_modify(|x| *x = (*x).min(d)).or_insert(d);
    }
    let mut out: Vec<(String, i32)> = best.into_iter().collect();
    out.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

// --- questions --------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_questions)]
pub struct QuestionRow {
    pub id: String,
    pub asker_account_id: String,
    pub category: String,
    pub text: String,
    pub area_org_id: String,
    pub urgency: String,
    pub status: String,
    pub assigned_expert_id: Option<String>,
    pub accepted_at: Option<NaiveDateTime>,
    pub first_answer_at: Option<NaiveDateTime>,
    pub last_activity_at: NaiveDateTime,
    pub escalated_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    pub close_reason: Option<String>,
    pub rating: Option<i32>,
    pub rating_comment: Option<String>,
    pub rated_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
}

pub fn insert_question(conn: &mut AnyConnection, row: &QuestionRow) -> QueryResult<()> {
    diesel::insert_into(service_questions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_question(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<QuestionRow>> {
    service_questions::table
        .find(id)
        .select(QuestionRow::as_select())
        .first(conn)
        .optional()
}

/// Writes the question's changing columns if it still has `row.version - 1` (the caller
/// bumps the version); 0 when another change came first.
pub fn save_question(conn: &mut AnyConnection, row: &QuestionRow) -> QueryResult<usize> {
    diesel::update(
        service_questions::table
            .filter(service_questions::id.eq(&row.id))
            .filter(service_questions::version.eq(row.version - 1)),
    )
    .set((
        service_questions::status.eq(&row.status),
        service_questions::assigned_expert_id.eq(&row.assigned_expert_id),
        service_questions::accepted_at.eq(row.accepted_at),
        service_questions::first_answer_at.eq(row.first_answer_at),
        service_questions::last_activity_at.eq(row.last_activity_at),
        service_questions::escalated_at.eq(row.escalated_at),
        service_questions::closed_at.eq(row.closed_at),
        service_questions::close_reason.eq(&row.close_reason),
        service_questions::rating.eq(row.rating),
        service_questions::rating_comment.eq(&row.rating_comment),
        service_questions::rated_at.eq(row.rated_at),
        service_questions::updated_at.eq(row.updated_at),
        service_questions::version.eq(row.version),
    ))
    .execute(conn)
}

pub fn questions_asked_by(
    conn: &mut AnyConnection,
    account_id: &str,
) -> QueryResult<Vec<QuestionRow>> {
    service_questions::table
        .filter(service_questions::asker_account_id.eq(account_id))
        .order(service_questions::created_at.desc())
        .select(QuestionRow::as_select())
        .load(conn)
}

pub fn questions_assigned_to(
    conn: &mut AnyConnection,
    expert_id: &str,
) -> QueryResult<Vec<QuestionRow>> {
    service_questions::table
        .filter(service_questions::assigned_expert_id.eq(expert_id))
        .order(service_questions::created_at.desc())
        .select(QuestionRow::as_select())
        .load(conn)
}

/// Questions waiting for an expert that are offered to `expert_id` now.
pub fn questions_offered_to(
    conn: &mut AnyConnection,
    expert_id: &str,
) -> QueryResult<Vec<QuestionRow>> {
    service_questions::table
        .inner_join(
            service_question_routes::table
                .on(service_question_routes::question_id.eq(service_questions::id)),
        )
        .filter(service_question_routes::expert_id.eq(expert_id))
        .filter(service_question_routes::status.eq("offered"))
        .filter(service_questions::status.eq_any(["open", "escalated"]))
        .order(service_questions::created_at.desc())
        .select(QuestionRow::as_select())
        .load(conn)
}

/// Escalated questions whose area lies in `org_id`'s subtree, oldest first.
pub fn escalated_in_subtree(
    conn: &mut AnyConnection,
    org_id: &str,
) -> QueryResult<Vec<QuestionRow>> {
    service_questions::table
        .inner_join(
            org_closure::table.on(org_closure::descendant_id.eq(service_questions::area_org_id)),
        )
        .filter(org_closure::ancestor_id.eq(org_id))
        .filter(service_questions::status.eq("escalated"))
        .order(service_questions::escalated_at.asc())
        .select(QuestionRow::as_select())
        .load(conn)
}

/// Questions still waiting for an expert that were asked at or before `cutoff`.
pub fn due_for_escalation(
    conn: &mut AnyConnection,
    cutoff: NaiveDateTime,
) -> QueryResult<Vec<QuestionRow>> {
    service_questions::table
        .filter(service_questions::status.eq("open"))
        .filter(service_questions::created_at.le(cutoff))
        .order(service_questions::created_at.asc())
        .select(QuestionRow::as_select())
        .load(conn)
}

/// Accepted questions without activity since `cutoff`.
pub fn due_for_close(
    conn: &mut AnyConnection,
    cutoff: NaiveDateTime,
) -> QueryResult<Vec<QuestionRow>> {
    service_questions::table
        .filter(service_questions::status.eq("accepted"))
        .filter(service_questions::last_activity_at.le(cutoff))
        .order(service_questions::last_activity_at.asc())
        .select(QuestionRow::as_select())
        .load(conn)
}

/// Questions whose area lies in `org_id`'s subtree, asked in `[from, to)`.
pub fn questions_in_subtree(
    conn: &mut AnyConnection,
    org_id: &str,
    from: Option<NaiveDateTime>,
    to: Option<NaiveDateTime>,
) -> QueryResult<Vec<QuestionRow>> {
    let mut q = service_questions::table
        .inner_join(
            org_closure::table.on(org_closure::descendant_id.eq(service_questions::area_org_id)),
        )
        .filter(org_closure::ancestor_id.eq(org_id))
        .select(QuestionRow::as_select())
        .into_boxed();
    if let Some(f) = from {
        q = q.filter(service_questions::created_at.ge(f));
    }
    if let Some(t) = to {
        q = q.filter(service_questions::created_at.lt(t));
    }
    q.order(service_questions::created_at.asc()).load(conn)
}

// --- routes -----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_question_routes)]
pub struct RouteRow {
    pub question_id: String,
    pub expert_id: String,
    pub distance: i32,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
}

pub fn insert_route(conn: &mut AnyConnection, row: &RouteRow) -> QueryResult<()> {
    diesel::insert_into(service_question_routes::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn routes_of(conn: &mut AnyConnection, question_id: &str) -> QueryResult<Vec<RouteRow>> {
    service_question_routes::table
        .filter(service_question_routes::question_id.eq(question_id))
        .order((
            service_question_routes::distance.asc(),
            service_question_routes::expert_id.asc(),
        ))
        .select(RouteRow::as_select())
        .load(conn)
}

pub fn set_route_status(
    conn: &mut AnyConnection,
    question_id: &str,
    expert_id: &str,
    status: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        service_question_routes::table
            .filter(service_question_routes::question_id.eq(question_id))
            .filter(service_question_routes::expert_id.eq(expert_id)),
    )
    .set((
        service_question_routes::status.eq(status),
        service_question_routes::decided_at.eq(Some(now)),
    ))
    .execute(conn)
}

/// Withdraws every open offer of a question (it was accepted or assigned).
pub fn withdraw_offers(
    conn: &mut AnyConnection,
    question_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        service_question_routes::table
            .filter(service_question_routes::question_id.eq(question_id))
            .filter(service_question_routes::status.eq("offered")),
    )
    .set((
        service_question_routes::status.eq("withdrawn"),
        service_question_routes::decided_at.eq(Some(now)),
    ))
    .execute(conn)
}

// --- messages ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_messages)]
pub struct MessageRow {
    pub id: String,
    pub question_id: String,
    pub author_account_id: String,
    pub author_role: String,
    pub text: String,
    pub created_at: NaiveDateTime,
}

pub fn insert_message(conn: &mut AnyConnection, row: &MessageRow) -> QueryResult<()> {
    diesel::insert_into(service_messages::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn messages_of(conn: &mut AnyConnection, question_id: &str) -> QueryResult<Vec<MessageRow>> {
    service_messages::table
        .filter(service_messages::question_id.eq(question_id))
        .order((
            service_messages::created_at.asc(),
            service_messages::id.asc(),
        ))
        .select(MessageRow::as_select())
        .load(conn)
}

// --- FAQ --------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_faqs)]
pub struct FaqRow {
    pub id: String,
    pub question_id: String,
    pub area_org_id: String,
    pub category: String,
    pub question_text: String,
    pub answer_text: String,
    pub published_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_faq(conn: &mut AnyConnection, row: &FaqRow) -> QueryResult<()> {
    diesel::insert_into(service_faqs::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn faq_of_question(conn: &mut AnyConnection, question_id: &str) -> QueryResult<Option<FaqRow>> {
    service_faqs::table
        .filter(service_faqs::question_id.eq(question_id))
        .select(FaqRow::as_select())
        .first(conn)
        .optional()
}

/// Entries published at any of `areas`, newest first.
pub fn faqs_at(conn: &mut AnyConnection, areas: &[String]) -> QueryResult<Vec<FaqRow>> {
    service_faqs::table
        .filter(service_faqs::area_org_id.eq_any(areas))
        .order((service_faqs::created_at.desc(), service_faqs::id.desc()))
        .select(FaqRow::as_select())
        .load(conn)
}

/// Entries published in `org_id`'s subtree, newest first.
pub fn faqs_in_subtree(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Vec<FaqRow>> {
    service_faqs::table
        .inner_join(org_closure::table.on(org_closure::descendant_id.eq(service_faqs::area_org_id)))
        .filter(org_closure::ancestor_id.eq(org_id))
        .order((service_faqs::created_at.desc(), service_faqs::id.desc()))
        .select(FaqRow::as_select())
        .load(conn)
}

// --- slots and consultations -----------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_slots)]
pub struct SlotRow {
    pub id: String,
    pub expert_id: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub status: String,
    pub created_at: NaiveDateTime,
}

pub fn insert_slot(conn: &mut AnyConnection, row: &SlotRow) -> QueryResult<()> {
    diesel::insert_into(service_slots::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_slot(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<SlotRow>> {
    service_slots::table
        .find(id)
        .select(SlotRow::as_select())
        .first(conn)
        .optional()
}

/// An expert's slots that have not ended by `now`, earliest first.
pub fn slots_of(
    conn: &mut AnyConnection,
    expert_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<SlotRow>> {
    service_slots::table
        .filter(service_slots::expert_id.eq(expert_id))
        .filter(service_slots::ends_at.gt(now))
        .order(service_slots::starts_at.asc())
        .select(SlotRow::as_select())
        .load(conn)
}

/// Whether the expert has a slot (not withdrawn) overlapping `[start, end)`.
pub fn slot_overlaps(
    conn: &mut AnyConnection,
    expert_id: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        service_slots::table
            .filter(service_slots::expert_id.eq(expert_id))
            .filter(service_slots::status.ne("withdrawn"))
            .filter(service_slots::starts_at.lt(end))
            .filter(service_slots::ends_at.gt(start)),
    ))
    .get_result(conn)
}

/// Moves a slot from `from` to `to` if it is still `from`: 1 for the caller that won.
pub fn switch_slot(conn: &mut AnyConnection, id: &str, from: &str, to: &str) -> QueryResult<usize> {
    diesel::update(
        service_slots::table
            .filter(service_slots::id.eq(id))
            .filter(service_slots::status.eq(from)),
    )
    .set(service_slots::status.eq(to))
    .execute(conn)
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_consultations)]
pub struct ConsultationRow {
    pub id: String,
    pub question_id: String,
    pub slot_id: String,
    pub expert_id: String,
    pub asker_account_id: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub status: String,
    pub started_at: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
    pub duration_seconds: Option<i64>,
    pub cancelled_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn insert_consultation(conn: &mut AnyConnection, row: &ConsultationRow) -> QueryResult<()> {
    diesel::insert_into(service_consultations::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_consultation(
    conn: &mut AnyConnection,
    id: &str,
) -> QueryResult<Option<ConsultationRow>> {
    service_consultations::table
        .find(id)
        .select(ConsultationRow::as_select())
        .first(conn)
        .optional()
}

pub fn consultations_of(
    conn: &mut AnyConnection,
    question_id: &str,
) -> QueryResult<Vec<ConsultationRow>> {
    service_consultations::table
        .filter(service_consultations::question_id.eq(question_id))
        .order(service_consultations::starts_at.asc())
        .select(ConsultationRow::as_select())
        .load(conn)
}

/// Writes a consultation's state if it is still `from_status`: 1 for the caller that won.
pub fn save_consultation(
    conn: &mut AnyConnection,
    row: &ConsultationRow,
    from_status: &str,
) -> QueryResult<usize> {
    diesel::update(
        service_consultations::table
            .filter(service_consultations::id.eq(&row.id))
            .filter(service_consultations::status.eq(from_status)),
    )
    .set((
        service_consultations::status.eq(&row.status),
        service_consultations::started_at.eq(row.started_at),
        service_consultations::ended_at.eq(row.ended_at),
        service_consultations::duration_seconds.eq(row.duration_seconds),
        service_consultations::cancelled_by.eq(&row.cancelled_by),
        service_consultations::updated_at.eq(row.updated_at),
    ))
    .execute(conn)
}

// --- people -----------------------------------------------------------------------------

/// Accounts holding a live `org_admin` grant at `org_id`.
pub fn org_admins_at(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Vec<String>> {
    use crate::db::schema::{accounts, role_grants};
    role_grants::table
        .inner_join(accounts::table.on(accounts::id.eq(role_grants::account_id)))
        .filter(role_grants::org_id.eq(org_id))
        .filter(role_grants::role.eq("org_admin"))
        .filter(role_grants::revoked_at.is_null())
        .filter(accounts::status.eq("active"))
        .select(role_grants::account_id)
        .load(conn)
}
