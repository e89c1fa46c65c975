//! One-time activation codes: a branch manager issues one for a member's account and
//! hands it over in person; the member redeems it with their phone to choose a password.
//! Redeeming a code for an active account resets its password (and ends its sessions),
//! so the same path serves "forgot my password".

use chrono::NaiveDateTime;
use hongying_proto::ErrorCode;
use hongying_proto::auth::{ActivateRequest, ActivationCode, TokenPair};
use rand::Rng;
use serde_json::json;

use super::session::{self, secret_hash};
use super::{Client, cpu};
use crate::auth::principal::RequestMeta;
use crate::auth::{Principal, Role, password};
use crate::authz;
use crate::crypto::pii::{Field, normalize_phone};
use crate::db::write_tx;
use crate::error::AppError;
use crate::state::AppState;
use crate::store::accounts::{self as store, STATUS_ACTIVE, STATUS_DISABLED};
use crate::store::{audit, sessions};

/// No 0/O or 1/I: codes are read aloud and typed from paper.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
/// 8 symbols of 32: 2^40 codes. With the per-account attempt limit (5 a minute) a code
/// valid for a week can be guessed with odds of about 1 in 20 million.
const CODE_LEN: usize = 8;

pub fn generate_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..CODE_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The code as typed, in the form it was hashed: upper case, separators dropped.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Issues a new code for a member's account, ending any unused older one. Managers of
/// the member's branch (or above) only; 404 for members out of the caller's sight.
pub async fn issue_code(
    state: &AppState,
    principal: Principal,
    member_id: String,
    meta: RequestMeta,
) -> Result<ActivationCode, AppError> {
    let now = state.clock.now();
    let expires_at = now + chrono::Duration::seconds(state.config.auth.activation_ttl_secs as i64);
    let code = generate_code();
    let code_hash = secret_hash(&code);
    let account_id = state
        .db
        .run({
            let member_id = member_id.clone();
            move |c| {
                write_tx(c, |c| {
                    issue_in_tx(
                        c, &principal, &member_id, &code_hash, expires_at, now, &meta,
                    )
                })
            }
        })
        .await?;
    Ok(ActivationCode {
        account_id,
        member_id,
        code,
        expires_at: expires_at.and_utc(),
    })
}

fn issue_in_tx(
    c: &mut crate::db::AnyConnection,
    principal: &Principal,
    member_id: &str,
    code_hash: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
    meta: &RequestMeta,
) -> Result<String, AppError> {
    let (org_id, _) = store::member_org(c, member_id)?.ok_or(AppError::NotFound)?;
    authz::require_manage_org(c, principal, &org_id, &Role::MANAGERS)?;
    let account = store::find_by_member(c, member_id)?.ok_or_else(|| AppError::Conflict {
        code: ErrorCode::MemberHasNoAccount,
        detail: "该党员在名册中没有登记手机号，尚无账号，无法签发激活码；请先为其登记手机号。"
            .into(),
    })?;
    if account.status == STATUS_DISABLED {
        return Err(AppError::Conflict {
            code: ErrorCode::AccountInactive,
            detail: "该党员的账号已停用，不能签发激活码。".into(),
        });
    }
    if let Some(refused) = super::revocation::sign_in_refusal(c, Some(member_id))? {
        // A code he could not use would only sit in the branch's hands.
        return Err(AppError::Conflict {
            code: refused.code(),
            detail: "该人员党籍已终止或已停止，不能签发激活码。".into(),
        });
    }
    let superseded = store::expire_open_codes(c, &account.id, now)?;
    store::insert_code(
        c,
        &crate::db::new_id(),
        &account.id,
        code_hash,
        Some(&principal.account_id),
        expires_at,
        now,
    )?;
    audit::append(
        c,
        &audit::Entry {
            actor_account_id: Some(principal.account_id.clone()),
            actor_org_id: principal.primary_org(),
            action: "account.activation_code_issued".into(),
            target_type: "account".into(),
            target_id: account.id.clone(),
            org_id: Some(org_id),
            after: Some(json!({
                "member_id": member_id,
                "account_status": account.status,
                "expires_at": expires_at.and_utc(),
                "superseded_codes": superseded,
            })),
            request_id: meta.request_id.clone(),
            client_addr: meta.client_addr.clone(),
            ..Default::default()
        },
        now,
    )?;
    Ok(account.id)
}

/// Issues a new code for any account (服务面对面 `public` and `expert` accounts, whose
/// callers have checked the issuer's scope), ending unused older ones. Call inside the
/// write transaction that audits the issue. Returns the code (shown once), its expiry
/// and how many older codes it superseded.
pub fn issue_for_account(
    c: &mut crate::db::AnyConnection,
    account_id: &str,
    issued_by: &str,
    ttl_secs: u64,
    now: NaiveDateTime,
) -> Result<(String, NaiveDateTime, usize), AppError> {
    let code = generate_code();
    let expires_at = now + chrono::Duration::seconds(ttl_secs as i64);
    let superseded = store::expire_open_codes(c, account_id, now)?;
    store::insert_code(
        c,
        &crate::db::new_id(),
        account_id,
        &secret_hash(&code),
        Some(issued_by),
        expires_at,
        now,
    )?;
    Ok((code, expires_at, superseded))
}

/// Redeems a code: sets the password, activates the account, ends its other sessions
/// and opens a new one. Any mismatch (unknown phone, wrong, expired, used or superseded
/// code) is the same 400 `invalid_activation_code`.
pub async fn activate(
    state: &AppState,
    req: ActivateRequest,
    client: &Client,
) -> Result<TokenPair, AppError> {
    let bidx = state
        .pii
        .blind_index(Field::Phone, &normalize_phone(&req.phone));
    state
        .login_limiter
        .check(Some(&bidx), client.rate_key.as_deref())?;
    password::validate("password", &req.password)?;
    // Hashed before looking anything up: the answer takes as long for an unknown phone.
    let new_hash = {
        let pw = req.password.clone();
        cpu(move || password::hash(&pw)).await??
    };
    let code_hash = secret_hash(&normalize_code(&req.code));
    let now = state.clock.now();
    let ttl = state.config.auth.refresh_ttl_secs;
    let meta = client.meta.clone();
    let device_id = req.device_id;
    let issued = state
        .db
        .run(move |c| {
            write_tx(c, |c| {
                let account =
                    store::find_by_phone_bidx(c, &bidx)?.ok_or(AppError::InvalidActivationCode)?;
                let open = store::open_codes(c, &account.id, now)?;
                let code = open
                    .iter()
                    .find(|row| ct_eq(row.code_hash.as_bytes(), code_hash.as_bytes()))
                    .ok_or(AppError::InvalidActivationCode)?;
                if account.status == STATUS_DISABLED {
                    return Err(AppError::AccountInactive);
                }
                if let Some(refused) =
                    super::revocation::sign_in_refusal(c, account.member_id.as_deref())?
                {
                    return Err(refused);
                }
                if store::consume_code(c, &code.id, now)? != 1 {
                    return Err(AppError::InvalidActivationCode);
                }
                store::set_password(c, &account.id, &new_hash, STATUS_ACTIVE, now)?;
                let ended = sessions::revoke_account(c, &account.id, None, now)?;
                let issued = session::open(c, &account.id, &device_id, ttl, now)?;
                let org_id = match &account.member_id {
                    Some(m) => store::member_org(c, m)?.map(|(o, _)| o),
                    None => None,
                };
                audit::append(
                    c,
                    &audit::Entry {
                        actor_account_id: Some(account.id.clone()),
                        action: "account.activated".into(),
                        target_type: "account".into(),
                        target_id: account.id.clone(),
                        org_id,
                        before: Some(json!({"status": account.status})),
                        after: Some(json!({
                            "status": STATUS_ACTIVE,
                            "password": "***",
                            "activation_code_id": code.id,
                            "sessions_ended": ended,
                            "session_id": issued.family_id,
                            "device_id": device_id,
                        })),
                        request_id: meta.request_id.clone(),
                        client_addr: meta.client_addr.clone(),
                        ..Default::default()
                    },
                    now,
                )?;
                Ok::<_, AppError>(issued)
            })
        })
        .await?;
    session::token_pair(&state.tokens, issued, now)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn codes_use_the_unambiguous_alphabet() {
        let c = generate_code();
        assert_eq!(c.len(), CODE_LEN);
        assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
        assert_ne!(c, generate_code());
        assert_eq!(normalize_code(" k7mq-4tz9 "), "K7MQ4TZ9");
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
