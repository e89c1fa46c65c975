//! Experts (registered, verified, enabled and disabled by an `org_admin` of their area)
//! and `public` accounts for villagers.

use hongying_proto::ErrorCode;
use hongying_proto::auth::TokenPair;
use hongying_proto::services::{
    AvailabilityWindow, CreateExpert, CreatePublicAccount, Expert, ExpertAction, ExpertCreated,
    ExpertList, ExpertStatusChange, IssuedCode, OrgRef, RegisterPublic, UpdateExpert,
};
use serde_json::json;

use super::{conflict, field_label, label_or_code, utc};
use crate::accounts::{Client, activation, cpu, normalized_phone, session};
use crate::auth::{Principal, Role, password};
use crate::authz;
use crate::config::ServicesConfig;
use crate::crypto::pii::{Field, Pii, mask_phone};
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::Ctx;
use crate::state::AppState;
use crate::store::accounts::{
    self as accounts_store, KIND_EXPERT, KIND_PUBLIC, NewAccount, STATUS_ACTIVE, STATUS_DISABLED,
    STATUS_PENDING,
};
use crate::store::services::{self as store, ExpertRow};

fn parse_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> AppResult<T> {
    serde_json::from_str(s)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored {what} unreadable: {e}")))
}

pub fn to_proto(
    conn: &mut AnyConnection,
    config: &ServicesConfig,
    row: ExpertRow,
) -> AppResult<Expert> {
    let areas = store::areas_of(conn, &row.id)?
        .into_iter()
        .map(|(id, name)| OrgRef { id, name })
        .collect();
    Ok(Expert {
        field_label: label_or_code(config, &row.field),
        specialities: parse_json(&row.specialities_json, "specialities")?,
        availability: parse_json(&row.availability_json, "availability")?,
        id: row.id,
        account_id: row.account_id,
        org_id: row.org_id,
        name: row.name,
        field: row.field,
        areas,
        status: row.status,
        verified_at: row.verified_at.map(utc),
        created_at: utc(row.created_at),
        version: row.version,
    })
}

fn check_availability(windows: &[AvailabilityWindow]) -> AppResult<()> {
    for (i, w) in windows.iter().enumerate() {
        let parse = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M").ok();
        match (parse(&w.start), parse(&w.end)) {
            (Some(a), Some(b)) if a < b => {}
            _ => {
                return Err(AppError::invalid(
                    &format!("availability[{i}]"),
                    "time_range",
                    "时间须为 HH:MM，且开始早于结束。",
                ));
            }
        }
    }
    Ok(())
}

fn clean_specialities(list: &[String]) -> AppResult<Vec<String>> {
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let s = s.trim();
        if s.is_empty() || s.chars().count() > 50 {
            return Err(AppError::invalid(
                &format!("specialities[{i}]"),
                "length",
                "每项专长须为 1 到 50 个字符。",
            ));
        }
        if !out.iter().any(|x: &String| x == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

/// Areas must exist and lie in the caller's `org_admin` scope.
fn check_areas(conn: &mut AnyConnection, p: &Principal, areas: &[String]) -> AppResult<()> {
    for a in areas {
        authz::require_manage_org(conn, p, a, &[Role::OrgAdmin])?;
    }
    Ok(())
}

/// Manage (403 when the expert is readable but not managed, 404 when not readable).
fn require_manage(conn: &mut AnyConnection, p: &Principal, e: &ExpertRow) -> AppResult<()> {
    if authz::org_in_scope(conn, p, &e.org_id, &[Role::OrgAdmin])? {
        return Ok(());
    }
    if e.account_id == p.account_id {
        return Err(AppError::Forbidden);
    }
    Err(AppError::NotFound)
}

fn load(conn: &mut AnyConnection, id: &str) -> AppResult<ExpertRow> {
    store::find_expert(conn, id)?.ok_or(AppError::NotFound)
}

/// Who an account is made for.
struct Person<'a> {
    kind: &'a str,
    role: Role,
    org_id: &'a str,
    name: &'a str,
    phone: &'a str,
    /// Add the role to an existing account with this phone (else 409).
    link_existing: bool,
}

/// The account for a phone: an existing one gets the role added, a new one is made
/// `pending` with the role and an activation code.
fn account_for(
    c: &mut AnyConnection,
    pii: &Pii,
    ctx: &Ctx<'_>,
    person: Person<'_>,
    activation_ttl: u64,
) -> AppResult<(String, Option<IssuedCode>)> {
    let Person {
        kind,
        role,
        org_id,
        name,
        phone,
        link_existing,
    } = person;
    let phone = normalized_phone(phone)?;
    let bidx = pii.blind_index(Field::Phone, &phone);
    if let Some(existing) = accounts_store::find_by_phone_bidx(c, &bidx)? {
        if !link_existing {
            return Err(conflict(ErrorCode::AlreadyExists, "该手机号已有账号。"));
        }
        accounts_store::ensure_grant(
            c,
            &existing.id,
            role.as_str(),
            Some(org_id),
            Some(&ctx.principal.account_id),
            ctx.now,
        )?;
        return Ok((existing.id, None));
    }
    let account_id = new_id();
    let phone_enc = pii
        .encrypt(Field::Phone, &account_id, &phone)
        .map_err(AppError::Internal)?;
    accounts_store::insert(
        c,
        &NewAccount {
            id: &account_id,
            member_id: None,
            display_name: name,
            phone_enc: &phone_enc,
            phone_bidx: &bidx,
            password_hash: None,
            kind,
            status: STATUS_PENDING,
        },
        ctx.now,
    )?;
    accounts_store::ensure_grant(
        c,
        &account_id,
        role.as_str(),
        Some(org_id),
        Some(&ctx.principal.account_id),
        ctx.now,
    )?;
    let (code, expires_at, _) = activation::issue_for_account(
        c,
        &account_id,
        &ctx.principal.account_id,
        activation_ttl,
        ctx.now,
    )?;
    ctx.audit(
        c,
        "account.provisioned",
        ("account", &account_id),
        Some(org_id),
        None,
        Some(json!({
            "display_name": name, "phone": mask_phone(&phone), "kind": kind,
            "status": STATUS_PENDING, "grant": {"role": role.as_str(), "org_id": org_id},
            "activation_code_issued": true,
        })),
    )?;
    Ok((
        account_id.clone(),
        Some(IssuedCode {
            account_id,
            code,
            expires_at: utc(expires_at),
        }),
    ))
}

pub fn create(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    pii: &Pii,
    activation_ttl: u64,
    req: CreateExpert,
) -> AppResult<ExpertCreated> {
    let p = ctx.principal;
    write_tx(conn, |c| {
        authz::require_manage_org(c, p, &req.org_id, &[Role::OrgAdmin])?;
        field_label(config, "field", &req.field)?;
        check_availability(&req.availability)?;
        let specialities = clean_specialities(&req.specialities)?;
        let mut areas = req.area_org_ids.clone();
        if areas.is_empty() {
            areas.push(req.org_id.clone());
        }
        areas.sort();
        areas.dedup();
        check_areas(c, p, &areas)?;
        let name = req.name.trim();
        let (account_id, activation) = account_for(
            c,
            pii,
            ctx,
            Person {
                kind: KIND_EXPERT,
                role: Role::Expert,
                org_id: &req.org_id,
                name,
                phone: &req.phone,
                link_existing: true,
            },
            activation_ttl,
        )?;
        if store::find_expert_by_account(c, &account_id)?.is_some() {
            return Err(conflict(
                ErrorCode::AlreadyExists,
                "该手机号的账号已登记为专家。",
            ));
        }
        let row = ExpertRow {
            id: new_id(),
            account_id,
            org_id: req.org_id.clone(),
            name: name.to_string(),
            field: req.field.clone(),
            specialities_json: json!(specialities).to_string(),
            availability_json: json!(req.availability).to_string(),
            status: "pending".into(),
            verified_at: None,
            verified_by: None,
            created_by: p.account_id.clone(),
            created_at: ctx.now,
            updated_at: ctx.now,
            version: 1,
        };
        store::insert_expert(c, &row)?;
        store::set_areas(c, &row.id, &areas)?;
        ctx.audit(
            c,
            "service.expert_create",
            ("service_expert", &row.id),
            Some(&row.org_id),
            None,
            Some(json!({
                "account_id": row.account_id, "name": row.name, "field": row.field,
                "specialities": specialities, "areas": areas, "status": row.status,
            })),
        )?;
        Ok(ExpertCreated {
            expert: to_proto(c, config, row)?,
            activation,
        })
    })
}

/// An expert's profile: the expert himself and `org_admin`s in scope (404 otherwise).
pub fn get(
    conn: &mut AnyConnection,
    p: &Principal,
    config: &ServicesConfig,
    id: &str,
) -> AppResult<Expert> {
    let row = load(conn, id)?;
    if row.account_id != p.account_id
        && !authz::org_in_scope(conn, p, &row.org_id, &[Role::OrgAdmin])?
    {
        return Err(AppError::NotFound);
    }
    to_proto(conn, config, row)
}

pub fn list(
    conn: &mut AnyConnection,
    p: &Principal,
    config: &ServicesConfig,
    org_id: &str,
) -> AppResult<ExpertList> {
    authz::require_manage_org(conn, p, org_id, &[Role::OrgAdmin])?;
    let rows = store::experts_in_subtree(conn, org_id)?;
    let items = rows
        .into_iter()
        .map(|r| to_proto(conn, config, r))
        .collect::<AppResult<_>>()?;
    Ok(ExpertList { items })
}

pub fn update(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    id: &str,
    req: UpdateExpert,
) -> AppResult<Expert> {
    let p = ctx.principal;
    write_tx(conn, |c| {
        let mut row = load(c, id)?;
        let admin = authz::org_in_scope(c, p, &row.org_id, &[Role::OrgAdmin])?;
        let own = row.account_id == p.account_id && p.has_role(Role::Expert);
        if !admin && !own {
            return Err(AppError::NotFound);
        }
        if !admin && (req.name.is_some() || req.area_org_ids.is_some()) {
            return Err(AppError::Forbidden);
        }
        if req.version != row.version {
            return Err(AppError::VersionConflict);
        }
        let before = to_proto(c, config, row.clone())?;
        if let Some(name) = &req.name {
            row.name = name.trim().to_string();
        }
        if let Some(s) = &req.specialities {
            row.specialities_json = json!(clean_specialities(s)?).to_string();
        }
        if let Some(a) = &req.availability {
            check_availability(a)?;
            row.availability_json = json!(a).to_string();
        }
        if let Some(areas) = &req.area_org_ids {
            let mut areas = areas.clone();
            areas.sort();
            areas.dedup();
            check_areas(c, p, &areas)?;
            store::set_areas(c, &row.id, &areas)?;
        }
        row.version += 1;
        row.updated_at = ctx.now;
        if store::update_expert(c, &row)? != 1 {
            return Err(AppError::VersionConflict);
        }
        let after = to_proto(c, config, row.clone())?;
        ctx.audit(
            c,
            "service.expert_update",
            ("service_expert", &row.id),
            Some(&row.org_id),
            Some(json!(before)),
            Some(json!(after)),
        )?;
        Ok(after)
    })
}

pub fn change_status(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    id: &str,
    req: ExpertStatusChange,
) -> AppResult<Expert> {
    let p = ctx.principal;
    write_tx(conn, |c| {
        let mut row = load(c, id)?;
        require_manage(c, p, &row)?;
        let from = row.status.clone();
        let illegal = |allowed: &[&str]| AppError::IllegalTransition {
            from: from.clone(),
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
        };
        let allowed: &[&str] = match from.as_str() {
            "pending" => &["verify"],
            "enabled" => &["disable"],
            _ if row.verified_at.is_some() => &["enable"],
            _ => &["verify"],
        };
        let (name, next) = match req.action {
            ExpertAction::Verify => ("verify", "enabled"),
            ExpertAction::Enable => ("enable", "enabled"),
            ExpertAction::Disable => ("disable", "disabled"),
        };
        if !allowed.contains(&name) {
            return Err(illegal(allowed));
        }
        if req.action == ExpertAction::Verify {
            row.verified_at = Some(ctx.now);
            row.verified_by = Some(p.account_id.clone());
        }
        row.status = next.into();
        row.version += 1;
        row.updated_at = ctx.now;
        if store::update_expert(c, &row)? != 1 {
            return Err(AppError::VersionConflict);
        }
        ctx.audit(
            c,
            &format!("service.expert_{name}"),
            ("service_expert", &row.id),
            Some(&row.org_id),
            Some(json!({"status": from})),
            Some(json!({"status": next})),
        )?;
        let account = row.account_id.clone();
        let expert = to_proto(c, config, row)?;
        crate::notices::create_for_accounts(
            c,
            &[account],
            "service_expert_status",
            "专家状态变更",
            &format!("您的专家资格状态已变更为：{next}。"),
            Some(("service_expert", &expert.id)),
            ctx.now,
        )?;
        Ok(expert)
    })
}

/// A `public` account for a villager of `org_id`, opened at the service centre; the
/// activation code is handed over in person.
pub fn create_public_account(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    activation_ttl: u64,
    req: CreatePublicAccount,
) -> AppResult<IssuedCode> {
    write_tx(conn, |c| {
        authz::require_manage_org(c, ctx.principal, &req.org_id, &[Role::OrgAdmin])?;
        let (_, code) = account_for(
            c,
            pii,
            ctx,
            Person {
                kind: KIND_PUBLIC,
                role: Role::Public,
                org_id: &req.org_id,
                name: req.name.trim(),
                phone: &req.phone,
                link_existing: false,
            },
            activation_ttl,
        )?;
        code.ok_or_else(|| AppError::Internal(anyhow::anyhow!("new account without a code")))
    })
}

/// A new code for a `public` or `expert` account (first activation or a forgotten
/// password): `org_admin`s in scope of the organization its role is held at.
pub fn reissue_code(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    activation_ttl: u64,
    account_id: &str,
) -> AppResult<IssuedCode> {
    use crate::db::schema::role_grants;
    use diesel::prelude::*;
    write_tx(conn, |c| {
        let account = accounts_store::find(c, account_id)?.ok_or(AppError::NotFound)?;
        if account.kind != KIND_PUBLIC && account.kind != KIND_EXPERT {
            return Err(AppError::NotFound);
        }
        let orgs: Vec<Option<String>> = role_grants::table
            .filter(role_grants::account_id.eq(account_id))
            .filter(role_grants::role.eq_any([Role::Public.as_str(), Role::Expert.as_str()]))
            .filter(role_grants::revoked_at.is_null())
            .select(role_grants::org_id)
            .load(c)?;
        let mut scope = None;
        for o in orgs.into_iter().flatten() {
            if authz::org_in_scope(c, ctx.principal, &o, &[Role::OrgAdmin])? {
                scope = Some(o);
                break;
            }
        }
        let org_id = scope.ok_or(AppError::NotFound)?;
        if account.status == STATUS_DISABLED {
            return Err(conflict(
                ErrorCode::AccountInactive,
                "该账号已停用，不能签发激活码。",
            ));
        }
        let (code, expires_at, superseded) = activation::issue_for_account(
            c,
            account_id,
            &ctx.principal.account_id,
            activation_ttl,
            ctx.now,
        )?;
        ctx.audit(
            c,
            "account.activation_code_issued",
            ("account", account_id),
            Some(&org_id),
            None,
            Some(json!({
                "account_status": account.status, "kind": account.kind,
                "expires_at": utc(expires_at), "superseded_codes": superseded,
            })),
        )?;
        Ok(IssuedCode {
            account_id: account_id.to_string(),
            code,
            expires_at: utc(expires_at),
        })
    })
}

/// Self-registration of a `public` account, where the deployment allows it; logs in.
pub async fn register(
    state: &AppState,
    req: RegisterPublic,
    client: &Client,
) -> AppResult<TokenPair> {
    if !state.config.services.public_self_registration {
        return Err(AppError::Domain {
            status: 403,
            code: ErrorCode::SelfRegistrationDisabled,
            detail: "本地未开放群众自行注册，请到党群服务中心办理账号。".into(),
        });
    }
    state
        .registration_limiter
        .check(None, client.rate_key.as_deref())?;
    password::validate("password", &req.password)?;
    let phone = normalized_phone(&req.phone)?;
    let hash = {
        let pw = req.password.clone();
        cpu(move || password::hash(&pw)).await??
    };
    let now = state.clock.now();
    let ttl = state.config.auth.refresh_ttl_secs;
    let pii = state.pii.clone();
    let meta = client.meta.clone();
    let issued = state
        .db
        .run(move |c| {
            write_tx(c, |c| {
                if crate::store::orgs::find(c, &req.org_id)?.is_none() {
                    return Err(AppError::invalid(
                        "org_id",
                        "unknown_org",
                        "所在组织不存在。",
                    ));
                }
                let bidx = pii.blind_index(Field::Phone, &phone);
                if accounts_store::find_by_phone_bidx(c, &bidx)?.is_some() {
                    return Err(conflict(ErrorCode::AlreadyExists, "该手机号已有账号。"));
                }
                let account_id = new_id();
                let phone_enc = pii
                    .encrypt(Field::Phone, &account_id, &phone)
                    .map_err(AppError::Internal)?;
                accounts_store::insert(
                    c,
                    &NewAccount {
                        id: &account_id,
                        member_id: None,
                        display_name: req.name.trim(),
                        phone_enc: &phone_enc,
                        phone_bidx: &bidx,
                        password_hash: Some(&hash),
                        kind: KIND_PUBLIC,
                        status: STATUS_ACTIVE,
                    },
                    now,
                )?;
                accounts_store::ensure_grant(
                    c,
                    &account_id,
                    Role::Public.as_str(),
                    Some(&req.org_id),
                    None,
                    now,
                )?;
                let issued = session::open(c, &account_id, &req.device_id, ttl, now)?;
                crate::store::audit::append(
                    c,
                    &crate::store::audit::Entry {
                        actor_account_id: Some(account_id.clone()),
                        action: "account.self_registered".into(),
                        target_type: "account".into(),
                        target_id: account_id.clone(),
                        org_id: Some(req.org_id.clone()),
                        after: Some(json!({
                            "display_name": req.name.trim(), "phone": mask_phone(&phone),
                            "kind": KIND_PUBLIC, "status": STATUS_ACTIVE,
                            "grant": {"role": "public", "org_id": req.org_id},
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
    fn availability_windows_run_forward() {
        let w = vec![AvailabilityWindow {
            weekday: 1,
            start: "09:00".into(),
            end: "17:00".into(),
        }];
        assert!(check_availability(&w).is_ok());
        let bad = vec![AvailabilityWindow {
            weekday: 1,
            start: "18:00".into(),
            end: "09:00".into(),
        }];
        assert!(check_availability(&bad).is_err());
    }
}
