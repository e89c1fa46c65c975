//! Accounts made for roster members: created `pending` with no password when a member
//! with a phone is entered, activated later with a one-time code from the branch.

use chrono::NaiveDateTime;
use diesel::Connection;
use hongying_proto::{ErrorCode, FieldError};
use serde_json::json;

use crate::auth::Role;
use crate::crypto::pii::{Field, Pii, mask_phone, normalize_phone};
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::store::accounts::{self as store, KIND_MEMBER, NewAccount, STATUS_PENDING};
use crate::store::audit;

/// What [`provision_member_account`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub account_id: String,
    /// False when the member already had an account (the call changed nothing).
    pub created: bool,
}

/// A phone as accounts store it: normalized, 5 to 15 digits (E.164 allows 15).
pub fn normalized_phone(phone: &str) -> Result<String, AppError> {
    let normalized = normalize_phone(phone);
    if (5..=15).contains(&normalized.len()) {
        Ok(normalized)
    } else {
        Err(AppError::Validation(vec![FieldError {
            field: "phone".into(),
            code: "phone".into(),
            message: "手机号格式不正确。".into(),
        }]))
    }
}

/// Creates the `pending` account of roster member `member_id` (no password yet) and
/// grants it `member` at the member's branch. Idempotent: a member that already has an
/// account keeps it and nothing is written.
///
/// Call it inside the write transaction that creates the member (the member row must be
/// visible); it nests as a savepoint, so its writes and its audit entry commit with the
/// caller's. A phone already used by another account is a 409 `already_exists`: linking
/// the existing account instead would let whoever edits a roster attach someone else's
/// account, roles and all, to a member record.
pub fn provision_member_account(
    conn: &mut AnyConnection,
    pii: &Pii,
    member_id: &str,
    display_name: &str,
    phone: &str,
    now: NaiveDateTime,
) -> Result<Provisioned, AppError> {
    let phone = normalized_phone(phone)?;
    conn.transaction(|conn| {
        if let Some(existing) = store::find_by_member(conn, member_id)? {
            return Ok(Provisioned {
                account_id: existing.id,
                created: false,
            });
        }
        let (org_id, _) = store::member_org(conn, member_id)?.ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "provisioning an account for member {member_id}, which does not exist"
            ))
        })?;
        let bidx = pii.blind_index(Field::Phone, &phone);
        if store::find_by_phone_bidx(conn, &bidx)?.is_some() {
            return Err(AppError::Conflict {
                code: ErrorCode::AlreadyExists,
                detail: "该手机号已被其他账号使用。".into(),
            });
        }
        let account_id = crate::db::new_id();
        let phone_enc = pii
            .encrypt(Field::Phone, &account_id, &phone)
            .map_err(AppError::Internal)?;
        store::insert(
            conn,
            &NewAccount {
                id: &account_id,
                member_id: Some(member_id),
                display_name,
                phone_enc: &phone_enc,
                phone_bidx: &bidx,
                password_hash: None,
                kind: KIND_MEMBER,
                status: STATUS_PENDING,
            },
            now,
        )?;
        store::ensure_grant(
            conn,
            &account_id,
            Role::Member.as_str(),
            Some(&org_id),
            None,
            now,
        )?;
        audit::append(
            conn,
            &audit::Entry {
                action: "account.provisioned".into(),
                target_type: "account".into(),
                target_id: account_id.clone(),
                org_id: Some(org_id.clone()),
                after: Some(json!({
                    "member_id": member_id,
                    "display_name": display_name,
                    "phone": mask_phone(&phone),
                    "kind": KIND_MEMBER,
                    "status": STATUS_PENDING,
                    "grant": {"role": Role::Member.as_str(), "org_id": org_id},
                })),
                ..Default::default()
            },
            now,
        )?;
        Ok(Provisioned {
            account_id,
            created: true,
        })
    })
}
