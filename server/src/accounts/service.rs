//! Login, refresh, logout, password change and the caller's profile.

use hongying_proto::ErrorCode;
use hongying_proto::auth::{
    AccountKind, LoginRequest, Me, MeGrant, MeMember, PasswordChange, RefreshRequest, TokenPair,
};
use serde_json::json;

use super::revocation;
use super::session::{self, Issued, secret_hash};
use super::{Client, cpu};
use crate::auth::{Principal, password};
use crate::crypto::pii::{Field, mask_phone, normalize_phone};
use crate::db::{AnyConnection, write_tx};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::accounts::{self as store, STATUS_ACTIVE};
use crate::store::{audit, sessions};

fn session_entry(
    action: &str,
    account_id: &str,
    session_id: &str,
    client: &Client,
) -> audit::Entry {
    audit::Entry {
        actor_account_id: Some(account_id.to_string()),
        action: action.into(),
        target_type: "session".into(),
        target_id: session_id.to_string(),
        request_id: client.meta.request_id.clone(),
        client_addr: client.meta.client_addr.clone(),
        ..Default::default()
    }
}

/// Phone and password in, a new session out. Unknown phone, an account without a
/// password yet and a wrong password are the same 401 after the same work; only the
/// right password learns that an account is pending or disabled (403), so the endpoint
/// cannot be used to find out which phone numbers belong to party members.
pub async fn login(
    state: &AppState,
    req: LoginRequest,
    client: &Client,
) -> Result<TokenPair, AppError> {
    let bidx = state
        .pii
        .blind_index(Field::Phone, &normalize_phone(&req.phone));
    // Per address as before; per account a growing delay after wrong passwords, which a
    // device that has signed in to the account before does not wait out, so a guesser
    // cannot lock the owner out.
    state
        .login_limiter
        .check(None, client.rate_key.as_deref())?;
    let (account, known_device) = {
        let (bidx, device) = (bidx.clone(), req.device_id.clone());
        state
            .db
            .run(move |c| {
                let account = store::find_by_phone_bidx(c, &bidx)?;
                let known = match &account {
                    Some(a) => sessions::device_known(c, &a.id, &device)?,
                    None => false,
                };
                Ok::<_, AppError>((account, known))
            })
            .await?
    };
    if !known_device {
        state.login_throttle.check(&bidx)?;
    }
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    let typed = req.password;
    let matches = cpu(move || password::verify_or_dummy(&typed, stored.as_deref())).await?;
    let Some(account) = account.filter(|_| matches) else {
        state.login_throttle.failed(&bidx);
        tracing::info!(client = ?client.rate_key, "login refused: invalid credentials");
        return Err(AppError::InvalidCredentials);
    };
    if !known_device {
        state.login_throttle.succeeded(&bidx);
    }
    if account.status != STATUS_ACTIVE {
        return Err(AppError::AccountInactive);
    }
    let now = state.clock.now();
    let ttl = state.config.auth.refresh_ttl_secs;
    let device_id = req.device_id;
    let client = client.clone();
    let issued = state
        .db
        .run(move |c| {
            write_tx(c, |c| {
                // After the password, like the status: only the owner learns why.
                if let Some(refused) = revocation::sign_in_refusal(c, account.member_id.as_deref())?
                {
                    return Err(refused);
                }
                let issued = session::open(c, &account.id, &device_id, ttl, now)?;
                let mut entry =
                    session_entry("session.login", &account.id, &issued.family_id, &client);
                entry.after = Some(json!({"device_id": device_id}));
                audit::append(c, &entry, now)?;
                Ok::<_, AppError>(issued)
            })
        })
        .await?;
    session::token_pair(&state.tokens, issued, now)
}

/// Rotates a refresh token. The check and the rotation are one conditional update in one
/// write transaction, so of two refreshes racing with the same token exactly one rotates
/// it; the other (like any later use of a rotated token) is treated as theft: the whole
/// family is revoked, the winner's new tokens included, and both parties must log in
/// again.
pub async fn refresh(
    state: &AppState,
    req: RefreshRequest,
    client: &Client,
) -> Result<TokenPair, AppError> {
    let hash = secret_hash(&req.refresh_token);
    let now = state.clock.now();
    let ttl = state.config.auth.refresh_ttl_secs;
    let client = client.clone();
    // Outer error: rolled back. Inner error: committed (the reuse revocation must stick).
    let outcome: Result<Issued, AppError> = state
        .db
        .run(move |c| write_tx(c, |c| rotate(c, &hash, &req.device_id, ttl, now, &client)))
        .await?;
    session::token_pair(&state.tokens, outcome?, now)
}

fn rotate(
    c: &mut AnyConnection,
    hash: &str,
    device_id: &str,
    ttl: u64,
    now: chrono::NaiveDateTime,
    client: &Client,
) -> Result<Result<Issued, AppError>, AppError> {
    let Some(row) = sessions::find_by_hash(c, hash)? else {
        return Ok(Err(AppError::InvalidRefreshToken));
    };
    if row.revoked_at.is_some() {
        return Ok(Err(AppError::InvalidRefreshToken));
    }
    if row.rotated_at.is_some() || sessions::mark_rotated(c, &row.id, now)? != 1 {
        revoke_reused(c, &row, now, client)?;
        return Ok(Err(AppError::RefreshTokenReused));
    }
    // Checked after the conditional rotation, so a reused token is caught whatever device
    // or age it comes with; failing here rolls the rotation back (nothing is used up).
    if row.expires_at <= now || row.device_id != device_id {
        return Err(AppError::InvalidRefreshToken);
    }
    let account = store::find(c, &row.account_id)?.filter(|a| a.status == STATUS_ACTIVE);
    let Some(account) = account else {
        return Err(AppError::AccountInactive);
    };
    if let Some(refused) = revocation::sign_in_refusal(c, account.member_id.as_deref())? {
        return Err(refused);
    }
    let issued = session::add_token(c, &row.account_id, &row.family_id, &row.device_id, ttl, now)?;
    Ok(Ok(issued))
}

fn revoke_reused(
    c: &mut AnyConnection,
    row: &sessions::RefreshRow,
    now: chrono::NaiveDateTime,
    client: &Client,
) -> Result<(), AppError> {
    let revoked = sessions::revoke_family(c, &row.family_id, now)?;
    tracing::warn!(
        account_id = %row.account_id,
        session_id = %row.family_id,
        "refresh token reused: session revoked"
    );
    let mut entry = session_entry(
        "session.refresh_reused",
        &row.account_id,
        &row.family_id,
        client,
    );
    entry.actor_account_id = None;
    entry.after = Some(json!({"tokens_revoked": revoked, "device_id": row.device_id}));
    audit::append(c, &entry, now)?;
    Ok(())
}

/// Ends the caller's session: its refresh tokens and, through the family check on every
/// request, its access tokens.
pub async fn logout(
    state: &AppState,
    principal: Principal,
    client: &Client,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let client = client.clone();
    state
        .db
        .run(move |c| {
            write_tx(c, |c| {
                let revoked = sessions::revoke_family(c, &principal.session_id, now)?;
                let mut entry = session_entry(
                    "session.logout",
                    &principal.account_id,
                    &principal.session_id,
                    &client,
                );
                entry.after = Some(json!({"tokens_revoked": revoked}));
                audit::append(c, &entry, now)?;
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// Ends every session of the caller's account, this one included.
pub async fn logout_all(
    state: &AppState,
    principal: Principal,
    client: &Client,
) -> Result<(), AppError> {
    let now = state.clock.now();
    let client = client.clone();
    state
        .db
        .run(move |c| {
            write_tx(c, |c| {
                let families = sessions::live_families(c, &principal.account_id, now)?;
                let revoked = sessions::revoke_account(c, &principal.account_id, None, now)?;
                let mut entry = session_entry(
                    "session.logout_all",
                    &principal.account_id,
                    &principal.session_id,
                    &client,
                );
                entry.target_type = "account".into();
                entry.target_id = principal.account_id.clone();
                entry.after =
                    Some(json!({"sessions_ended": families.len(), "tokens_revoked": revoked}));
                audit::append(c, &entry, now)?;
                Ok::<_, AppError>(())
            })
        })
        .await
}

/// Changes the caller's password after checking the current one (rate-limited like a
/// login), and ends every other session of the account.
pub async fn change_password(
    state: &AppState,
    principal: Principal,
    req: PasswordChange,
    client: &Client,
) -> Result<(), AppError> {
    let account_id = principal.account_id.clone();
    let account = state
        .db
        .run(move |c| Ok::<_, AppError>(store::find(c, &account_id)?))
        .await?
        .ok_or(AppError::Unauthenticated)?;
    state
        .login_limiter
        .check(Some(&account.phone_bidx), client.rate_key.as_deref())?;
    password::validate("new_password", &req.new_password)?;
    let stored = account.password_hash.clone();
    let current = req.current_password;
    let matches = cpu(move || password::verify_or_dummy(&current, stored.as_deref())).await?;
    let Some(old_hash) = account.password_hash.filter(|_| matches) else {
        // 403, not 401: the caller is authenticated; a 401 would make apps drop the session.
        return Err(AppError::Domain {
            status: 403,
            code: ErrorCode::InvalidCredentials,
            detail: "当前密码不正确。".into(),
        });
    };
    let new_password = req.new_password;
    let new_hash = cpu(move || password::hash(&new_password)).await??;
    let now = state.clock.now();
    let client = client.clone();
    state
        .db
        .run(move |c| {
            write_tx(c, |c| {
                if store::change_password(c, &principal.account_id, &old_hash, &new_hash, now)? != 1
                {
                    return Err(AppError::VersionConflict);
                }
                let ended = sessions::live_families(c, &principal.account_id, now)?
                    .into_iter()
                    .filter(|f| *f != principal.session_id)
                    .count();
                sessions::revoke_account(
                    c,
                    &principal.account_id,
                    Some(&principal.session_id),
                    now,
                )?;
                let mut entry = session_entry(
                    "account.password_changed",
                    &principal.account_id,
                    &principal.session_id,
                    &client,
                );
                entry.target_type = "account".into();
                entry.target_id = principal.account_id.clone();
                entry.before = Some(json!({"password": "***"}));
                entry.after = Some(json!({"password": "***", "other_sessions_ended": ended}));
                audit::append(c, &entry, now)?;
                Ok(())
            })
        })
        .await
}

/// The caller's profile: who they are, their masked phone, roles and branch.
pub async fn me(state: &AppState, principal: Principal) -> Result<Me, AppError> {
    let pii = state.pii.clone();
    let now = state.clock.now();
    state
        .db
        .run(move |c| {
            let account =
                store::find(c, &principal.account_id)?.ok_or(AppError::Unauthenticated)?;
            let phone = pii
                .decrypt(Field::Phone, &account.id, &account.phone_enc)
                .map_err(|e| AppError::Internal(e.context("decrypting the caller's phone")))?;
            let kind = AccountKind::parse(&account.kind).ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("account kind {:?} unknown", account.kind))
            })?;
            let grants = store::grants_with_org_names(c, &account.id, now)?
                .into_iter()
                .map(|g| MeGrant {
                    role: g.role,
                    org_id: g.org_id,
                    org_name: g.org_name,
                })
                .collect();
            let member = match &account.member_id {
                Some(member_id) => match store::member_org(c, member_id)? {
                    Some((org_id, _)) => Some(MeMember {
                        member_id: member_id.clone(),
                        org_name: store::org_name(c, &org_id)?.unwrap_or_default(),
                        org_id,
                    }),
                    None => None,
                },
                None => None,
            };
            Ok(Me {
                account_id: account.id,
                display_name: account.display_name,
                phone_masked: mask_phone(&phone),
                kind,
                grants,
                member,
            })
        })
        .await
}
