//! The first administrator, made from the command line (`hongying admin create`): an
//! active staff account holding `super_admin`.

use std::io::{BufRead, Write};

use chrono::NaiveDateTime;
use hongying_proto::{ErrorCode, FieldError};
use serde_json::json;

use super::normalized_phone;
use crate::auth::{Role, password};
use crate::config::Config;
use crate::crypto::pii::{Field, Pii, mask_phone};
use crate::db::{self, AnyConnection, Db, write_tx};
use crate::error::AppError;
use crate::store::accounts::{self as store, KIND_STAFF, NewAccount, STATUS_ACTIVE};
use crate::store::audit;

/// Where `admin create` reads the password when set (else it asks on the terminal).
pub const PASSWORD_ENV: &str = "HONGYING_ADMIN_PASSWORD";

/// Creates an active staff account with a `super_admin` grant; returns its id. A phone
/// that already has an account is a 409 `already_exists` (nothing is changed).
pub fn create_admin(
    conn: &mut AnyConnection,
    pii: &Pii,
    phone: &str,
    display_name: &str,
    password: &str,
    now: NaiveDateTime,
) -> Result<String, AppError> {
    let phone = normalized_phone(phone)?;
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 64 {
        return Err(AppError::Validation(vec![FieldError {
            field: "name".into(),
            code: "length".into(),
            message: "姓名须为 1 到 64 个字符。".into(),
        }]));
    }
    let password_hash = password::hash(password)?;
    let bidx = pii.blind_index(Field::Phone, &phone);
    let account_id = db::new_id();
    let phone_enc = pii
        .encrypt(Field::Phone, &account_id, &phone)
        .map_err(AppError::Internal)?;
    write_tx(conn, |c| {
        if store::find_by_phone_bidx(c, &bidx)?.is_some() {
            return Err(AppError::Conflict {
                code: ErrorCode::AlreadyExists,
                detail: "该手机号已有账号。".into(),
            });
        }
        store::insert(
            c,
            &NewAccount {
                id: &account_id,
                member_id: None,
                display_name,
                phone_enc: &phone_enc,
                phone_bidx: &bidx,
                password_hash: Some(&password_hash),
                kind: KIND_STAFF,
                status: STATUS_ACTIVE,
            },
            now,
        )?;
        store::ensure_grant(c, &account_id, Role::SuperAdmin.as_str(), None, None, now)?;
        audit::append(
            c,
            &audit::Entry {
                action: "account.admin_created".into(),
                target_type: "account".into(),
                target_id: account_id.clone(),
                after: Some(json!({
                    "display_name": display_name,
                    "phone": mask_phone(&phone),
                    "kind": KIND_STAFF,
                    "status": STATUS_ACTIVE,
                    "password": "***",
                    "grant": {"role": Role::SuperAdmin.as_str(), "org_id": null},
                    "via": "cli",
                })),
                ..Default::default()
            },
            now,
        )?;
        Ok(account_id.clone())
    })
}

/// `hongying admin create --phone P --name N`.
pub fn run_create(config: &Config, phone: &str, name: &str) -> anyhow::Result<()> {
    let password = match std::env::var(PASSWORD_ENV) {
        Ok(p) => p,
        Err(_) => prompt_password()?,
    };
    let pii = Pii::load(&config.pii_keys_dir(), config.auth.generate_keys)?;
    let db = Db::connect(&config.database)?;
    let mut conn = db.get().map_err(|e| anyhow::anyhow!("{e}"))?;
    if config.database.migrate_on_start {
        db::migrate(&mut conn)?;
    }
    match create_admin(&mut conn, &pii, phone, name, &password, db::now()) {
        Ok(id) => {
            println!(
                "created super administrator {id} ({})",
                mask_phone(&crate::crypto::pii::normalize_phone(phone))
            );
            Ok(())
        }
        Err(AppError::Validation(errors)) => {
            let msgs: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            anyhow::bail!("{}", msgs.join("; "))
        }
        Err(AppError::Conflict { detail, .. }) => anyhow::bail!("{detail}"),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// Reads the password from standard input. The terminal echoes it (hiding it would need
/// another dependency); set the environment variable to keep it off the screen.
fn prompt_password() -> anyhow::Result<String> {
    eprint!("密码 / password (set {PASSWORD_ENV} to avoid typing it here): ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
