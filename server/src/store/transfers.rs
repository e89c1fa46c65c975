//! SQL for transfer requests and their steps.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::db::schema::{
    accounts, org_closure, organizations, role_grants, transfer_letters, transfer_steps, transfers,
};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = transfers)]
pub struct TransferRow {
    pub id: String,
    pub member_id: String,
    pub kind: String,
    pub from_org_id: Option<String>,
    pub from_committee_id: Option<String>,
    pub to_org_id: Option<String>,
    pub to_committee_id: Option<String>,
    pub to_branch_id: Option<String>,
    pub outside_org_name: Option<String>,
    pub outside_org_address: Option<String>,
    pub incoming_letter_serial: Option<String>,
    pub reason: String,
    pub planned_on: Option<chrono::NaiveDate>,
    pub status: String,
    pub reject_reason: Option<String>,
    pub dues_paid_to: Option<String>,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub status_since: NaiveDateTime,
    pub version: i32,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = transfer_steps)]
pub struct StepRow {
    pub id: String,
    pub transfer_id: String,
    pub seq: i32,
    pub action: String,
    pub from_status: String,
    pub to_status: String,
    pub actor_account_id: String,
    pub actor_org_id: Option<String>,
    pub comment: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut AnyConnection, row: &TransferRow) -> QueryResult<()> {
    diesel::insert_into(transfers::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<TransferRow>> {
    transfers::table
        .find(id)
        .select(TransferRow::as_select())
        .first(conn)
        .optional()
}

/// Whether the member has a transfer that is still under way.
pub fn open_for_member(conn: &mut AnyConnection, member_id: &str) -> QueryResult<bool> {
    let n: i64 = transfers::table
        .filter(transfers::member_id.eq(member_id))
        .filter(transfers::status.ne_all(["done", "withdrawn", "rejected", "revoked"]))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Moves the transfer to `to` only if nobody moved it since it was read (status and
/// version unchanged); the loser of two concurrent approvals gets 0 rows.
#[allow(clippy::too_many_arguments)]
pub fn advance(
    conn: &mut AnyConnection,
    id: &str,
    from_status: &str,
    version: i32,
    to: &str,
    reject_reason: Option<&str>,
    to_branch_id: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let target = transfers::table
        .filter(transfers::id.eq(id))
        .filter(transfers::status.eq(from_status))
        .filter(transfers::version.eq(version));
    let n = diesel::update(target)
        .set((
            transfers::status.eq(to),
            transfers::version.eq(version + 1),
            transfers::updated_at.eq(now),
            transfers::status_since.eq(now),
        ))
        .execute(conn)?;
    if n == 1 {
        if let Some(r) = reject_reason {
            diesel::update(transfers::table.find(id))
                .set(transfers::reject_reason.eq(r))
                .execute(conn)?;
        }
        if let Some(b) = to_branch_id {
            diesel::update(transfers::table.find(id))
                .set(transfers::to_branch_id.eq(b))
                .execute(conn)?;
        }
    }
    Ok(n)
}

pub fn insert_step(conn: &mut AnyConnection, row: &StepRow) -> QueryResult<()> {
    diesel::insert_into(transfer_steps::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn steps(conn: &mut AnyConnection, transfer_id: &str) -> QueryResult<Vec<StepRow>> {
    transfer_steps::table
        .filter(transfer_steps::transfer_id.eq(transfer_id))
        .order(transfer_steps::seq.asc())
        .select(StepRow::as_select())
        .load(conn)
}

pub fn next_seq(conn: &mut AnyConnection, transfer_id: &str) -> QueryResult<i32> {
    let max: Option<i32> = transfer_steps::table
        .filter(transfer_steps::transfer_id.eq(transfer_id))
        .select(diesel::dsl::max(transfer_steps::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

/// The nearest organization at or above `org_id` with approval authority (基层党委).
pub fn approving_ancestor(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Option<String>> {
    org_closure::table
        .inner_join(organizations::table.on(organizations::id.eq(org_closure::ancestor_id)))
        .filter(org_closure::descendant_id.eq(org_id))
        .filter(organizations::can_approve_members.eq(true))
        .order(org_closure::distance.asc())
        .select(organizations::id)
        .first(conn)
        .optional()
}

/// An organization's kind, when it exists.
pub fn org_kind(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Option<String>> {
    organizations::table
        .find(org_id)
        .select(organizations::kind)
        .first(conn)
        .optional()
}

/// The member records of accounts holding one of `roles` exactly at `org_id`, for notices.
pub fn member_ids_with_roles(
    conn: &mut AnyConnection,
    org_id: &str,
    roles: &[&str],
) -> QueryResult<Vec<String>> {
    let ids: Vec<Option<String>> = role_grants::table
        .inner_join(accounts::table.on(accounts::id.eq(role_grants::account_id)))
        .filter(role_grants::org_id.eq(org_id))
        .filter(role_grants::role.eq_any(roles))
        .filter(role_grants::revoked_at.is_null())
        .select(accounts::member_id)
        .load(conn)?;
    Ok(ids.into_iter().flatten().collect())
}

/// Every transfer in which `org_id` is the sending or receiving branch or committee.
pub fn involving(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Vec<TransferRow>> {
    transfers::table
        .filter(
            transfers::from_org_id
                .eq(org_id)
                .or(transfers::from_committee_id.eq(org_id))
                .or(transfers::to_org_id.eq(org_id))
                .or(transfers::to_committee_id.eq(org_id)),
        )
        .order(transfers::id.asc())
        .select(TransferRow::as_select())
        .load(conn)
}

// --- introduction letters (介绍信) -------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = transfer_letters)]
pub struct LetterRow {
    pub id: String,
    pub transfer_id: String,
    pub issuing_org_id: String,
    pub serial_year: i32,
    pub serial_no: i32,
    pub member_name: String,
    pub gender: String,
    pub age: Option<i32>,
    pub ethnicity: String,
    pub membership: String,
    pub id_number_masked: String,
    pub member_phone_masked: Option<String>,
    pub from_org_name: String,
    pub to_org_name: String,
    pub dues_paid_to: Option<String>,
    pub validity_days: i32,
    pub issued_on: chrono::NaiveDate,
    pub expires_on: chrono::NaiveDate,
    pub status: String,
    pub reissued_from: Option<String>,
    pub receipt_returned_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub serial: Option<String>,
    pub issuing_org_name: Option<String>,
    pub void_reason: Option<String>,
    pub voided_at: Option<NaiveDateTime>,
}

/// The highest serial number the committee issued in `year` (0 when none). The caller
/// inserts the next one; the unique key (committee, year, number) turns a concurrent
/// issue of the same number into a unique violation, and the caller retries.
pub fn last_serial_no(conn: &mut AnyConnection, org_id: &str, year: i32) -> QueryResult<i32> {
    let max: Option<i32> = transfer_letters::table
        .filter(transfer_letters::issuing_org_id.eq(org_id))
        .filter(transfer_letters::serial_year.eq(year))
        .select(diesel::dsl::max(transfer_letters::serial_no))
        .first(conn)?;
    Ok(max.unwrap_or(0))
}

pub fn insert_letter(conn: &mut AnyConnection, row: &LetterRow) -> QueryResult<()> {
    diesel::insert_into(transfer_letters::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_letter(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<LetterRow>> {
    transfer_letters::table
        .find(id)
        .select(LetterRow::as_select())
        .first(conn)
        .optional()
}

/// A transfer's letters, oldest first.
pub fn letters_of(conn: &mut AnyConnection, transfer_id: &str) -> QueryResult<Vec<LetterRow>> {
    transfer_letters::table
        .filter(transfer_letters::transfer_id.eq(transfer_id))
        .order(transfer_letters::id.asc())
        .select(LetterRow::as_select())
        .load(conn)
}

/// The letter that replaced `id`, if any.
pub fn reissue_of(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<LetterRow>> {
    transfer_letters::table
        .filter(transfer_letters::reissued_from.eq(id))
        .select(LetterRow::as_select())
        .first(conn)
        .optional()
}

/// Voids the transfer's valid letters; returns them as they were.
pub fn void_letters(
    conn: &mut AnyConnection,
    transfer_id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<LetterRow>> {
    let valid: Vec<LetterRow> = transfer_letters::table
        .filter(transfer_letters::transfer_id.eq(transfer_id))
        .filter(transfer_letters::status.eq("valid"))
        .select(LetterRow::as_select())
        .load(conn)?;
    for l in &valid {
        diesel::update(transfer_letters::table.find(&l.id))
            .set((
                transfer_letters::status.eq("void"),
                transfer_letters::void_reason.eq(reason),
                transfer_letters::voided_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(valid)
}

/// Stamps the receipt (回执) on the transfer's valid letters.
pub fn stamp_receipt(
    conn: &mut AnyConnection,
    transfer_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        transfer_letters::table
            .filter(transfer_letters::transfer_id.eq(transfer_id))
            .filter(transfer_letters::status.eq("valid"))
            .filter(transfer_letters::receipt_returned_at.is_null()),
    )
    .set(transfer_letters::receipt_returned_at.eq(now))
    .execute(conn)
}

/// Records the 党费已交到 month on the transfer.
pub fn set_dues_paid_to(conn: &mut AnyConnection, id: &str, month: &str) -> QueryResult<usize> {
    diesel::update(transfers::table.find(id))
        .set(transfers::dues_paid_to.eq(month))
        .execute(conn)
}

/// An organization's name and address, for letters.
pub fn org_name_address(
    conn: &mut AnyConnection,
    org_id: &str,
) -> QueryResult<Option<(String, Option<String>)>> {
    organizations::table
        .find(org_id)
        .select((organizations::name, organizations::address))
        .first(conn)
        .optional()
}

/// The ids of members entered by an `into_city` registration whose transfer the
/// receiving committee has not accepted yet: they are on no body until it does (one
/// turned down is marked removed).
pub fn arriving_member_ids(conn: &mut AnyConnection, org_id: &str) -> QueryResult<Vec<String>> {
    transfers::table
        .filter(transfers::kind.eq("into_city"))
        .filter(transfers::to_org_id.eq(org_id))
        .filter(transfers::status.eq("approved_by_committee"))
        .select(transfers::member_id)
        .load(conn)
}

/// Whether an `into_city` transfer under way already names this incoming letter.
pub fn incoming_serial_open(
    conn: &mut AnyConnection,
    from_org_name: &str,
    serial: &str,
) -> QueryResult<bool> {
    let n: i64 = transfers::table
        .filter(transfers::kind.eq("into_city"))
        .filter(transfers::outside_org_name.eq(from_org_name))
        .filter(transfers::incoming_letter_serial.eq(serial))
        .filter(transfers::status.ne_all(["rejected", "revoked", "withdrawn"]))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
