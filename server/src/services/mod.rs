//! 服务面对面: members and villagers ask experts (农技, 法律, 医疗 … by configuration)
//! and get answers; live one-to-one consultations are booked on the expert's slots.
//!
//! Who may do what (enforced in the submodules):
//! - experts ([`experts`]): an `org_admin` of the expert's managing organization (or above)
//!   creates, edits, verifies, enables and disables them (audited). The expert account
//!   holds the `expert` role, which grants nothing outside this module; the expert edits
//!   his own specialities and availability and offers slots.
//! - askers: roster members and `public` (群众) accounts. A service centre's `org_admin`
//!   opens `public` accounts with an activation code redeemed at `POST /auth/activate`;
//!   self-registration only when `services.public_self_registration` is on (rate-limited
//!   per address).
//! - questions ([`questions`]): asked in the asker's own organization or one above it;
//!   routed to the enabled experts of the field whose serving area is nearest up the tree
//!   (closure distance); if every one of them declines, the next level up gets it. A
//!   question no expert accepted within `services.accept_timeout_hours` escalates to the
//!   `org_admin`s nearest above its area, who assign it. The asker closes it, or
//!   [`questions::sweep`] does after `services.inactivity_close_days` without a message.
//! - privacy: a question is read by its asker, its assigned expert, the experts it is
//!   offered to (without the asker's phone) and `org_admin`s in scope of its area;
//!   anyone else gets 404. FAQ entries ([`faq`]) carry no asker identity.
//! - consultations ([`consultations`]): the asker books one of the assigned expert's
//!   open slots (409 `slot_taken` when taken; of concurrent bookings exactly one wins).
//!   The signaling room calls [`consultations::join_allowed`] to admit the two people and
//!   [`consultations::record_consultation`] (or begin/end) to record the duration.
//! - statistics ([`stats`]): `org_admin`s in scope, per area and field.

pub mod consultations;
pub mod experts;
pub mod faq;
pub mod questions;
pub mod stats;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use hongying_proto::ErrorCode;

use crate::auth::{Principal, Role};
use crate::config::ServicesConfig;
use crate::db::AnyConnection;
use crate::db::schema::org_closure;
use crate::error::{AppError, AppResult};
use crate::store::services::{self as store, ExpertRow};

/// Audit target type and attachment owner type of a question.
pub const QUESTION: &str = "service_question";

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

fn conflict(code: ErrorCode, detail: &str) -> AppError {
    AppError::Conflict {
        code,
        detail: detail.to_string(),
    }
}

/// The configured field with this code, or 422 naming `field`.
fn field_label(config: &ServicesConfig, field: &str, code: &str) -> AppResult<String> {
    config
        .field(code)
        .map(|f| f.label.clone())
        .ok_or_else(|| AppError::invalid(field, "unknown_field", "没有这个服务领域。"))
}

fn label_or_code(config: &ServicesConfig, code: &str) -> String {
    config
        .field(code)
        .map_or_else(|| code.to_string(), |f| f.label.clone())
}

/// The caller's expert profile, when the account holds the `expert` role and has one.
pub fn my_expert(conn: &mut AnyConnection, p: &Principal) -> AppResult<Option<ExpertRow>> {
    if !p.has_role(Role::Expert) {
        return Ok(None);
    }
    Ok(store::find_expert_by_account(conn, &p.account_id)?)
}

/// Where the caller lives for 服务面对面: the member's branch and the organizations of
/// the caller's `public` and `member` grants.
pub fn home_orgs(p: &Principal) -> Vec<String> {
    let mut out: Vec<String> = p.member_org_id.iter().cloned().collect();
    for o in p.orgs_with(&[Role::Public, Role::Member]) {
        if !out.contains(&o) {
            out.push(o);
        }
    }
    out
}

/// Whether the caller may ask questions: a roster member or a `public` account.
pub fn is_asker(p: &Principal) -> bool {
    p.member_id.is_some() || p.has_role(Role::Public) || p.has_role(Role::Member)
}

/// Whether `ancestor` is `org` or lies above it.
pub fn is_at_or_above(conn: &mut AnyConnection, ancestor: &str, org: &str) -> QueryResult<bool> {
    crate::store::orgs::is_in_subtree(conn, ancestor, org)
}

/// The `org_admin` accounts nearest above (or at) `org_id`: the admins of the closest
/// organization up the tree that has any.
pub fn nearest_org_admins(conn: &mut AnyConnection, org_id: &str) -> AppResult<Vec<String>> {
    let ancestors: Vec<String> = org_closure::table
        .filter(org_closure::descendant_id.eq(org_id))
        .order(org_closure::distance.asc())
        .select(org_closure::ancestor_id)
        .load(conn)?;
    for a in ancestors {
        let admins = store::org_admins_at(conn, &a)?;
        if !admins.is_empty() {
            return Ok(admins);
        }
    }
    Ok(Vec::new())
}

/// Notices to accounts (members get them among their member notices).
fn notify(
    conn: &mut AnyConnection,
    accounts: &[String],
    kind: &str,
    title: &str,
    body: &str,
    question_id: &str,
    now: NaiveDateTime,
) -> AppResult<()> {
    crate::notices::create_for_accounts(
        conn,
        accounts,
        kind,
        title,
        body,
        Some((QUESTION, question_id)),
        now,
    )?;
    Ok(())
}

/// The account of an expert.
fn expert_account(conn: &mut AnyConnection, expert_id: &str) -> AppResult<Option<String>> {
    Ok(store::find_expert(conn, expert_id)?.map(|e| e.account_id))
}
