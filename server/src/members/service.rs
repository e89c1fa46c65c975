//! Member logic: authorization, validation, encryption of personal data, status and flag
//! changes with their history, audit. Every change and its history and audit rows commit
//! in one write transaction.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Months, NaiveDate};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use hongying_proto::members::{
    CreateMember, FlagsChange, Gender, HistoryEntry, MemberFlags, MemberListItem, MemberListQuery,
    MemberStatus, MemberView, StatusChange, UpdateMember,
};
use hongying_proto::{ErrorCode, FieldError, Page};
use serde_json::{Map, Value, json};

use super::rules::{self, Facts, Stages, TransitionError};
use crate::accounts::revocation::{self, EndReason};
use crate::auth::{Principal, Role};
use crate::authz::{can_read_org, org_in_scope, require_manage_org, require_read_org};
use crate::crypto::id_number::{self, IdNumber};
use crate::crypto::pii::{Field, Pii, mask_phone, normalize_phone};
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::{Ctx, cursor};
use crate::store::members::{self as store, FlagFilter, HistoryRow, ListFilter, MemberRow};

const HISTORY_TAG: &str = "member_history";

/// The list's cursor: base64url of `m1`, the last name and id. Written here rather than
/// with the shared cursor helper because a 50-character name is longer in UTF-8 than that
/// helper's per-part limit.
fn list_cursor(name: &str, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("m1\u{1f}{name}\u{1f}{id}"))
}

fn parse_list_cursor(c: &str) -> AppResult<(String, String)> {
    let bytes = URL_SAFE_NO_PAD
        .decode(c.as_bytes())
        .map_err(|_| AppError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| AppError::InvalidCursor)?;
    let mut parts = text.split('\u{1f}');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("m1"), Some(name), Some(id), None) if !id.is_empty() && name.len() <= 1024 => {
            Ok((name.to_string(), id.to_string()))
        }
        _ => Err(AppError::InvalidCursor),
    }
}

fn field(field: &str, code: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        code: code.into(),
        message: message.into(),
    }
}

fn stored<T>(what: &str, v: &str, parsed: Option<T>) -> AppResult<T> {
    parsed.ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored member {what} {v:?}")))
}

fn status_of(row: &MemberRow) -> AppResult<MemberStatus> {
    stored("status", &row.status, MemberStatus::parse(&row.status))
}

fn stages_of(row: &MemberRow) -> Stages {
    Stages {
        applied_on: row.applied_on,
        activist_on: row.activist_on,
        candidate_on: row.candidate_on,
        probationary_on: row.probationary_on,
        regularized_on: row.regularized_on,
    }
}

fn extension_of(row: &MemberRow) -> u32 {
    row.probation_extension_months
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(0)
}

/// A unique index refused a write that the checks before it did not see coming (a
/// concurrent insert): the same answer as the check would have given.
pub fn unique_violation(e: DieselError) -> AppError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => AppError::Conflict {
            code: ErrorCode::AlreadyExists,
            detail: "身份证号码或手机号已被其他人员使用。".into(),
        },
        other => other.into(),
    }
}

// --- personal data ----------------------------------------------------------------------

/// A phone as stored: normalized, 5 to 15 digits (the rule accounts use too).
pub fn normalized_phone(raw: &str) -> Result<String, FieldError> {
    let p = normalize_phone(raw);
    if (5..=15).contains(&p.len()) {
        Ok(p)
    } else {
        Err(field("phone", "phone", "手机号格式不正确。"))
    }
}

struct Plain {
    id_number: String,
    phone: Option<String>,
}

fn decrypt(pii: &Pii, row: &MemberRow) -> AppResult<Plain> {
    let id_number = pii
        .decrypt(Field::IdNumber, &row.id, &row.id_number_enc)
        .map_err(AppError::Internal)?;
    let phone = row
        .phone_enc
        .as_deref()
        .map(|p| pii.decrypt(Field::Phone, &row.id, p))
        .transpose()
        .map_err(AppError::Internal)?;
    Ok(Plain { id_number, phone })
}

/// The record as the API shows it; personal data masked unless `reveal`.
pub fn view(pii: &Pii, row: &MemberRow, reveal: bool) -> AppResult<MemberView> {
    let plain = decrypt(pii, row)?;
    let status = status_of(row)?;
    let gender = stored("gender", &row.gender, Gender::parse(&row.gender))?;
    let ext = extension_of(row);
    Ok(MemberView {
        id: row.id.clone(),
        org_id: row.org_id.clone(),
        party_group_id: row.party_group_id.clone(),
        name: row.name.clone(),
        gender,
        birth_date: row.birth_date,
        ethnicity: row.ethnicity.clone(),
        id_number: if reveal {
            plain.id_number
        } else {
            id_number::mask(&plain.id_number)
        },
        phone: plain.phone.map(|p| if reveal { p } else { mask_phone(&p) }),
        revealed: reveal,
        education: row.education.clone(),
        work_unit: row.work_unit.clone(),
        note: row.note.clone(),
        status,
        applied_on: row.applied_on,
        activist_on: row.activist_on,
        candidate_on: row.candidate_on,
        probationary_on: row.probationary_on,
        probation_extended: row.probation_extended,
        probation_extension_months: row.probation_extension_months,
        probation_ends_on: match (status, row.probationary_on) {
            (MemberStatus::Probationary, Some(p)) => rules::probation_ends_on(p, ext),
            _ => None,
        },
        regularized_on: row.regularized_on,
        flags: flags_of(row),
        removed_reason: row.removed_reason.clone(),
        version: row.version,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
    })
}

fn flags_of(row: &MemberRow) -> MemberFlags {
    MemberFlags {
        discipline_until: row.discipline_until,
        rights_suspended: row.rights_suspended,
        membership_stopped: row.membership_stopped,
        lost_contact: row.lost_contact,
    }
}

/// Every field worth recording, personal data masked (for audit rows).
pub fn snapshot(pii: &Pii, row: &MemberRow) -> AppResult<Value> {
    let v = view(pii, row, false)?;
    let mut value = serde_json::to_value(&v).map_err(|e| AppError::Internal(e.into()))?;
    if let Some(map) = value.as_object_mut() {
        for k in ["revealed", "created_at", "updated_at", "probation_ends_on"] {
            map.remove(k);
        }
    }
    Ok(value)
}

/// The fields of `before` and `after` that differ, as two objects.
fn diff(before: &Value, after: &Value) -> (Value, Value) {
    let (mut b, mut a) = (Map::new(), Map::new());
    if let (Some(bm), Some(am)) = (before.as_object(), after.as_object()) {
        for (k, av) in am {
            let bv = bm.get(k).cloned().unwrap_or(Value::Null);
            if &bv != av && k != "version" {
                b.insert(k.clone(), bv);
                a.insert(k.clone(), av.clone());
            }
        }
    }
    (Value::Object(b), Value::Object(a))
}

// --- access -----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Manager,
    Own,
}

/// Managers in scope and the member themself may read a record; a fellow member (who
/// can read the branch) gets 403; anyone else 404.
fn read_access(conn: &mut AnyConnection, p: &Principal, row: &MemberRow) -> AppResult<Access> {
    if org_in_scope(conn, p, &row.org_id, &Role::MANAGERS)? {
        return Ok(Access::Manager);
    }
    if p.member_id.as_deref() == Some(row.id.as_str()) {
        return Ok(Access::Own);
    }
    if can_read_org(conn, p, &row.org_id)? {
        Err(AppError::Forbidden)
    } else {
        Err(AppError::NotFound)
    }
}

fn require_manage(conn: &mut AnyConnection, p: &Principal, row: &MemberRow) -> AppResult<()> {
    match read_access(conn, p, row)? {
        Access::Manager => Ok(()),
        Access::Own => Err(AppError::Forbidden),
    }
}

/// Who may see a member's ID number and phone in full: the member, the secretary of the
/// member's own branch (not of a branch above), org admins in scope and super admins.
/// Branch committee members manage the roster with masked values.
fn may_reveal(conn: &mut AnyConnection, p: &Principal, row: &MemberRow) -> AppResult<bool> {
    if p.is_super_admin() || p.member_id.as_deref() == Some(row.id.as_str()) {
        return Ok(true);
    }
    if p.grants
        .iter()
        .any(|g| g.role == Role::BranchSecretary && g.org_id.as_deref() == Some(&row.org_id))
    {
        return Ok(true);
    }
    Ok(org_in_scope(conn, p, &row.org_id, &[Role::OrgAdmin])?)
}

fn load(conn: &mut AnyConnection, id: &str) -> AppResult<MemberRow> {
    store::find(conn, id)?.ok_or(AppError::NotFound)
}

// --- drafts: a validated new member -----------------------------------------------------

/// A person to enter on the roster, validated except for what needs the database.
#[derive(Debug, Clone)]
pub struct Draft {
    pub org_id: String,
    pub party_group_id: Option<String>,
    pub name: String,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub ethnicity: String,
    pub id_number: IdNumber,
    pub phone: Option<String>,
    pub education: Option<String>,
    pub work_unit: Option<String>,
    pub note: Option<String>,
    pub status: MemberStatus,
    pub stages: Stages,
}

fn name_error(name: &str) -> Option<FieldError> {
    if name.is_empty() {
        Some(field("name", "length", "姓名不能为空。"))
    } else if name.chars().any(char::is_control) {
        Some(field("name", "invalid_text", "姓名不能含有控制字符。"))
    } else {
        None
    }
}

fn trimmed(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Gender and birth date follow from the ID number; given ones must agree.
pub fn identity(
    id: &IdNumber,
    gender: Option<Gender>,
    birth_date: Option<NaiveDate>,
    errors: &mut Vec<FieldError>,
) -> (Gender, NaiveDate) {
    let derived_gender = if id.is_male() {
        Gender::Male
    } else {
        Gender::Female
    };
    if gender.is_some_and(|g| g != derived_gender) {
        errors.push(field(
            "gender",
            "id_number_mismatch",
            format!(
                "性别与身份证号码不符（号码显示为{}）。",
                derived_gender.label_zh()
            ),
        ));
    }
    // IdNumber::parse already refused numbers without a valid birth date.
    let derived_birth = id.birth_date().unwrap_or_default();
    if birth_date.is_some_and(|b| b != derived_birth) {
        errors.push(field(
            "birth_date",
            "id_number_mismatch",
            format!("出生日期与身份证号码不符（号码显示为 {derived_birth}）。"),
        ));
    }
    (derived_gender, derived_birth)
}

impl Draft {
    pub fn from_request(org_id: &str, req: &CreateMember, today: NaiveDate) -> AppResult<Self> {
        let id_number = IdNumber::parse(&req.id_number)
            .map_err(|e| AppError::InvalidIdNumber(e.to_string()))?;
        let mut errors = Vec::new();
        let (gender, birth_date) = identity(&id_number, req.gender, req.birth_date, &mut errors);
        let phone = match trimmed(req.phone.as_deref()) {
            Some(p) => match normalized_phone(&p) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            None => None,
        };
        let name = req.name.trim().to_string();
        if let Some(e) = name_error(&name) {
            errors.push(e);
        }
        let draft = Draft {
            org_id: org_id.to_string(),
            party_group_id: trimmed(req.party_group_id.as_deref()),
            name,
            gender,
            birth_date,
            ethnicity: trimmed(req.ethnicity.as_deref()).unwrap_or_else(|| "汉族".into()),
            id_number,
            phone,
            education: trimmed(req.education.as_deref()),
            work_unit: trimmed(req.work_unit.as_deref()),
            note: trimmed(req.note.as_deref()),
            status: req.status,
            stages: Stages {
                applied_on: req.applied_on,
                activist_on: req.activist_on,
                candidate_on: req.candidate_on,
                probationary_on: req.probationary_on,
                regularized_on: req.regularized_on,
            },
        };
        errors.extend(rules::check_record(
            draft.status,
            &draft.stages,
            Some(draft.birth_date),
            0,
            today,
        ));
        if errors.is_empty() {
            Ok(draft)
        } else {
            errors.sort_by(|a, b| a.field.cmp(&b.field));
            Err(AppError::Validation(errors))
        }
    }
}

/// The branch must exist, be in normal state and be of a kind that holds members.
pub fn check_branch(conn: &mut AnyConnection, org_id: &str) -> AppResult<store::OrgFacts> {
    let org = store::org(conn, org_id)?.ok_or(AppError::NotFound)?;
    branch_usable(&org)?;
    Ok(org)
}

pub fn branch_usable(org: &store::OrgFacts) -> AppResult<()> {
    if !rules::HOLDING_KINDS.contains(&org.kind.as_str()) {
        return Err(AppError::Domain {
            status: 422,
            code: ErrorCode::NotABranch,
            detail: format!(
                "{}不是党支部、联合党支部或党总支，不能直接管理党员的组织关系。",
                org.name
            ),
        });
    }
    if org.status != "normal" {
        return Err(AppError::Conflict {
            code: ErrorCode::Conflict,
            detail: format!("{}已撤销或合并，不能再接收党员。", org.name),
        });
    }
    Ok(())
}

/// A 党小组 must be a `party_group` inside the member's branch.
pub fn check_party_group(
    conn: &mut AnyConnection,
    org_id: &str,
    group_id: Option<&str>,
) -> AppResult<Option<FieldError>> {
    let Some(group_id) = group_id else {
        return Ok(None);
    };
    let ok = match store::org(conn, group_id)? {
        Some(g) => g.kind == "party_group" && store::is_within(conn, org_id, group_id)?,
        None => false,
    };
    Ok((!ok).then(|| {
        field(
            "party_group_id",
            "invalid_party_group",
            "党小组须为本支部下属的党小组。",
        )
    }))
}

fn already_exists(detail: &str) -> AppError {
    AppError::Conflict {
        code: ErrorCode::AlreadyExists,
        detail: detail.into(),
    }
}

pub const ID_NUMBER_TAKEN: &str = "该身份证号码已在党员名册中。";
pub const PHONE_TAKEN: &str = "该手机号已被名册中的其他人员使用。";

/// The date the current stage began (the first history row's effective date).
fn stage_date(status: MemberStatus, s: &Stages) -> Option<NaiveDate> {
    match status {
        MemberStatus::Applicant => s.applied_on,
        MemberStatus::Activist => s.activist_on,
        MemberStatus::Candidate => s.candidate_on,
        MemberStatus::Probationary => s.probationary_on,
        MemberStatus::Full => s.regularized_on,
        MemberStatus::Removed => None,
    }
}

/// Inserts a validated draft with its first history row and audit row, and provisions
/// the member's account when there is a phone. Call inside a write transaction.
pub fn insert_draft(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    d: &Draft,
) -> AppResult<MemberRow> {
    let id_bidx = pii.blind_index(Field::IdNumber, d.id_number.as_str());
    if store::find_by_id_number_bidx(conn, &id_bidx)?.is_some() {
        return Err(already_exists(ID_NUMBER_TAKEN));
    }
    let phone_bidx = d.phone.as_deref().map(|p| pii.blind_index(Field::Phone, p));
    if let Some(b) = &phone_bidx
        && store::find_by_phone_bidx(conn, b)?.is_some()
    {
        return Err(already_exists(PHONE_TAKEN));
    }
    let id = new_id();
    let row = MemberRow {
        id: id.clone(),
        org_id: d.org_id.clone(),
        party_group_id: d.party_group_id.clone(),
        name: d.name.clone(),
        gender: d.gender.as_str().into(),
        birth_date: Some(d.birth_date),
        ethnicity: d.ethnicity.clone(),
        id_number_enc: pii
            .encrypt(Field::IdNumber, &id, d.id_number.as_str())
            .map_err(AppError::Internal)?,
        id_number_bidx: id_bidx,
        phone_enc: d
            .phone
            .as_deref()
            .map(|p| pii.encrypt(Field::Phone, &id, p))
            .transpose()
            .map_err(AppError::Internal)?,
        phone_bidx,
        education: d.education.clone(),
        work_unit: d.work_unit.clone(),
        status: d.status.as_str().into(),
        applied_on: d.stages.applied_on,
        activist_on: d.stages.activist_on,
        candidate_on: d.stages.candidate_on,
        probationary_on: d.stages.probationary_on,
        probation_extended: false,
        regularized_on: d.stages.regularized_on,
        discipline_until: None,
        rights_suspended: false,
        membership_stopped: false,
        lost_contact: false,
        removed_reason: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        version: 1,
        probation_extension_months: None,
        note: d.note.clone(),
    };
    store::insert(conn, &row).map_err(unique_violation)?;
    store::insert_history(
        conn,
        &HistoryRow {
            id: new_id(),
            member_id: id.clone(),
            change: "status".into(),
            from_value: None,
            to_value: d.status.as_str().into(),
            effective_on: stage_date(d.status, &d.stages).unwrap_or_else(|| ctx.today()),
            reason: Some("录入名册".into()),
            actor_account_id: Some(ctx.principal.account_id.clone()),
            created_at: ctx.now,
        },
    )?;
    ctx.audit(
        conn,
        "member.create",
        ("member", &id),
        Some(&d.org_id),
        None,
        Some(snapshot(pii, &row)?),
    )?;
    if let Some(phone) = &d.phone {
        provision_account(conn, pii, &row, phone, ctx)?;
    }
    Ok(row)
}

/// Gives a member with a phone the (pending) account they will activate to log in.
fn provision_account(
    conn: &mut AnyConnection,
    pii: &Pii,
    row: &MemberRow,
    phone: &str,
    ctx: &Ctx<'_>,
) -> AppResult<()> {
    crate::accounts::provision_member_account(conn, pii, &row.id, &row.name, phone, ctx.now)?;
    Ok(())
}

// --- the endpoints' logic ----------------------------------------------------------------

/// `POST /orgs/{org_id}/members`.
pub fn create(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    org_id: &str,
    req: &CreateMember,
) -> AppResult<MemberView> {
    require_manage_org(conn, ctx.principal, org_id, &Role::MANAGERS)?;
    check_branch(conn, org_id)?;
    let draft = Draft::from_request(org_id, req, ctx.today())?;
    if let Some(e) = check_party_group(conn, org_id, draft.party_group_id.as_deref())? {
        return Err(AppError::Validation(vec![e]));
    }
    let row = write_tx(conn, |c| insert_draft(c, ctx, pii, &draft))?;
    view(pii, &row, false)
}

/// `GET /members/{id}`: with `reveal`, the full personal data, audited.
pub fn read(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    id: &str,
    reveal: bool,
) -> AppResult<MemberView> {
    let row = load(conn, id)?;
    read_access(conn, ctx.principal, &row)?;
    if reveal {
        if !may_reveal(conn, ctx.principal, &row)? {
            return Err(AppError::Forbidden);
        }
        write_tx(conn, |c| {
            ctx.audit(
                c,
                "member.read_sensitive",
                ("member", &row.id),
                Some(&row.org_id),
                None,
                Some(json!({"fields": ["id_number", "phone"]})),
            )
        })?;
    }
    view(pii, &row, reveal)
}

/// `GET /members/lookup?id_number=`: exact search by blind index, for managers. Out of
/// scope (or unknown) answers 404 alike; the search itself is audited, since it tells
/// the caller where a person stands.
pub fn lookup(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    raw_id_number: &str,
) -> AppResult<MemberView> {
    let p = ctx.principal;
    if !p.is_super_admin() && p.orgs_with(&Role::MANAGERS).is_empty() {
        return Err(AppError::Forbidden);
    }
    let id =
        IdNumber::parse(raw_id_number).map_err(|e| AppError::InvalidIdNumber(e.to_string()))?;
    let bidx = pii.blind_index(Field::IdNumber, id.as_str());
    let row = store::find_by_id_number_bidx(conn, &bidx)?.ok_or(AppError::NotFound)?;
    if !org_in_scope(conn, p, &row.org_id, &Role::MANAGERS)? {
        return Err(AppError::NotFound);
    }
    write_tx(conn, |c| {
        ctx.audit(
            c,
            "member.lookup",
            ("member", &row.id),
            Some(&row.org_id),
            None,
            Some(json!({"by": "id_number", "id_number": id.masked()})),
        )
    })?;
    view(pii, &row, false)
}

/// `PATCH /members/{id}`.
pub fn update(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    id: &str,
    req: &UpdateMember,
) -> AppResult<MemberView> {
    let current = load(conn, id)?;
    require_manage(conn, ctx.principal, &current)?;
    if req.version != current.version {
        return Err(AppError::VersionConflict);
    }
    let plain = decrypt(pii, &current)?;
    let mut errors = Vec::new();
    let mut next = current.clone();

    let id_number = match req.id_number.as_deref() {
        Some(raw) => IdNumber::parse(raw).map_err(|e| AppError::InvalidIdNumber(e.to_string()))?,
        None => IdNumber::parse(&plain.id_number).map_err(|e| {
            AppError::Internal(anyhow::anyhow!("stored id number of {id} invalid: {e}"))
        })?,
    };
    let stored_gender = Gender::parse(&current.gender);
    let given_gender = req.gender.or(if req.id_number.is_some() {
        None
    } else {
        stored_gender
    });
    let given_birth = req.birth_date;
    let (gender, birth) = identity(&id_number, given_gender, given_birth, &mut errors);
    next.gender = gender.as_str().into();
    next.birth_date = Some(birth);
    let id_changed = id_number.as_str() != plain.id_number;
    if id_changed {
        next.id_number_enc = pii
            .encrypt(Field::IdNumber, id, id_number.as_str())
            .map_err(AppError::Internal)?;
        next.id_number_bidx = pii.blind_index(Field::IdNumber, id_number.as_str());
    }

    let mut new_phone: Option<String> = None;
    match &req.phone {
        None => {}
        Some(None) => {
            next.phone_enc = None;
            next.phone_bidx = None;
        }
        Some(Some(raw)) => match normalized_phone(raw) {
            Ok(p) if plain.phone.as_deref() == Some(p.as_str()) => {}
            Ok(p) => {
                next.phone_enc = Some(
                    pii.encrypt(Field::Phone, id, &p)
                        .map_err(AppError::Internal)?,
                );
                next.phone_bidx = Some(pii.blind_index(Field::Phone, &p));
                new_phone = Some(p);
            }
            Err(e) => errors.push(e),
        },
    }
    if let Some(name) = &req.name {
        let name = name.trim();
        if let Some(e) = name_error(name) {
            errors.push(e);
        }
        next.name = name.to_string();
    }
    if let Some(e) = &req.ethnicity {
        next.ethnicity = e.trim().to_string();
    }
    let text = |v: &Option<Option<String>>, cur: &Option<String>| match v {
        None => cur.clone(),
        Some(v) => trimmed(v.as_deref()),
    };
    next.education = text(&req.education, &current.education);
    next.work_unit = text(&req.work_unit, &current.work_unit);
    next.note = text(&req.note, &current.note);
    next.party_group_id = text(&req.party_group_id, &current.party_group_id);
    for (value, len, name, label) in [
        (&next.education, 50, "education", "学历"),
        (&next.work_unit, 200, "work_unit", "工作单位"),
        (&next.note, 500, "note", "备注"),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > len) {
            errors.push(field(name, "length", format!("{label}最多 {len} 个字符。")));
        }
    }
    let date = |v: &Option<Option<NaiveDate>>, cur: Option<NaiveDate>| match v {
        None => cur,
        Some(v) => *v,
    };
    next.applied_on = date(&req.applied_on, current.applied_on);
    next.activist_on = date(&req.activist_on, current.activist_on);
    next.candidate_on = date(&req.candidate_on, current.candidate_on);
    next.probationary_on = date(&req.probationary_on, current.probationary_on);
    next.regularized_on = date(&req.regularized_on, current.regularized_on);
    let status = status_of(&current)?;
    if status != MemberStatus::Removed {
        errors.extend(rules::check_record(
            status,
            &stages_of(&next),
            next.birth_date,
            extension_of(&next),
            ctx.today(),
        ));
    }
    if next.party_group_id != current.party_group_id
        && let Some(e) = check_party_group(conn, &current.org_id, next.party_group_id.as_deref())?
    {
        errors.push(e);
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        return Err(AppError::Validation(errors));
    }
    let before = snapshot(pii, &current)?;
    let after_probe = snapshot(pii, &next)?;
    let (b, a) = diff(&before, &after_probe);
    if a.as_object().is_some_and(Map::is_empty) && !id_changed && new_phone.is_none() {
        return view(pii, &current, false);
    }
    next.version = current.version + 1;
    next.updated_at = ctx.now;
    write_tx(conn, |c| {
        if id_changed
            && store::find_by_id_number_bidx(c, &next.id_number_bidx)?.is_some_and(|o| o.id != id)
        {
            return Err(already_exists(ID_NUMBER_TAKEN));
        }
        if let (Some(_), Some(b)) = (&new_phone, &next.phone_bidx)
            && store::find_by_phone_bidx(c, b)?.is_some_and(|o| o != id)
        {
            return Err(already_exists(PHONE_TAKEN));
        }
        if !store::update_versioned(c, &next, current.version).map_err(unique_violation)? {
            return Err(AppError::VersionConflict);
        }
        ctx.audit(
            c,
            "member.update",
            ("member", id),
            Some(&current.org_id),
            Some(b),
            Some(a),
        )?;
        if let Some(phone) = &new_phone {
            provision_account(c, pii, &next, phone, ctx)?;
        }
        Ok(())
    })?;
    view(pii, &next, false)
}

fn transition_error(e: TransitionError) -> AppError {
    match e {
        TransitionError::Illegal { from, allowed } => AppError::IllegalTransition {
            from: from.as_str().into(),
            allowed: allowed.iter().map(|t| t.as_str().to_string()).collect(),
        },
        TransitionError::Precondition(detail) => AppError::Domain {
            status: 409,
            code: ErrorCode::TransitionPrecondition,
            detail,
        },
        TransitionError::Invalid(f) => AppError::Validation(vec![f]),
    }
}

/// `POST /members/{id}/status`.
pub fn change_status(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    id: &str,
    req: &StatusChange,
) -> AppResult<MemberView> {
    let current = load(conn, id)?;
    require_manage(conn, ctx.principal, &current)?;
    if req.version.is_some_and(|v| v != current.version) {
        return Err(AppError::VersionConflict);
    }
    let from = status_of(&current)?;
    let facts = Facts {
        status: from,
        stages: stages_of(&current),
        birth_date: current.birth_date,
        probation_extended: current.probation_extended,
        extension_months: extension_of(&current),
    };
    let effect = rules::transition(
        &facts,
        req.to,
        req.effective_on,
        req.reason.as_deref(),
        req.extension_months,
        ctx.today(),
    )
    .map_err(transition_error)?;
    let mut next = current.clone();
    next.status = effect.status.as_str().into();
    next.applied_on = effect.stages.applied_on;
    next.activist_on = effect.stages.activist_on;
    next.candidate_on = effect.stages.candidate_on;
    next.probationary_on = effect.stages.probationary_on;
    next.regularized_on = effect.stages.regularized_on;
    next.probation_extended = effect.probation_extended;
    next.probation_extension_months = effect.extension_months.and_then(|m| i32::try_from(m).ok());
    if effect.removed_reason.is_some() {
        next.removed_reason = effect.removed_reason.clone();
    }
    next.version = current.version + 1;
    next.updated_at = ctx.now;
    let (change, from_value, to_value) = match req.to {
        hongying_proto::members::TransitionTarget::ExtendProbation => (
            "extend_probation",
            None,
            format!("{}", effect.extension_months.unwrap_or_default()),
        ),
        _ => (
            "status",
            Some(from.as_str().to_string()),
            effect.status.as_str().to_string(),
        ),
    };
    let reason = trimmed(req.reason.as_deref());
    write_tx(conn, |c| {
        if !store::update_versioned(c, &next, current.version)? {
            return Err(AppError::VersionConflict);
        }
        store::insert_history(
            c,
            &HistoryRow {
                id: new_id(),
                member_id: id.to_string(),
                change: change.into(),
                from_value: from_value.clone(),
                to_value: to_value.clone(),
                effective_on: req.effective_on,
                reason: reason.clone(),
                actor_account_id: Some(ctx.principal.account_id.clone()),
                created_at: ctx.now,
            },
        )?;
        let (b, a) = diff(&snapshot(pii, &current)?, &snapshot(pii, &next)?);
        let mut a = a;
        if let Some(m) = a.as_object_mut() {
            m.insert("effective_on".into(), json!(req.effective_on));
            m.insert("reason".into(), json!(reason));
        }
        ctx.audit(
            c,
            "member.status",
            ("member", id),
            Some(&current.org_id),
            Some(b),
            Some(a),
        )?;
        if effect.status == MemberStatus::Removed && from != MemberStatus::Removed {
            revocation::member_left(c, ctx, id, &current.org_id, EndReason::MembershipEnded)?;
        }
        Ok(())
    })?;
    view(pii, &next, false)
}

/// `POST /members/{id}/flags`. Values equal to the current ones are no change; a request
/// that changes nothing writes nothing.
pub fn change_flags(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    id: &str,
    req: &FlagsChange,
) -> AppResult<MemberView> {
    let current = load(conn, id)?;
    require_manage(conn, ctx.principal, &current)?;
    if req.version.is_some_and(|v| v != current.version) {
        return Err(AppError::VersionConflict);
    }
    if req.discipline_until.is_none()
        && req.rights_suspended.is_none()
        && req.membership_stopped.is_none()
        && req.lost_contact.is_none()
    {
        return Err(AppError::Validation(vec![field(
            "flags",
            "required",
            "至少须指定一个要设置或取消的标记。",
        )]));
    }
    let today = ctx.today();
    if req.effective_on > today {
        return Err(AppError::Validation(vec![field(
            "effective_on",
            "date_in_future",
            "生效日期不能晚于今天。",
        )]));
    }
    let status = status_of(&current)?;
    let precondition = |detail: &str| AppError::Domain {
        status: 409,
        code: ErrorCode::TransitionPrecondition,
        detail: detail.into(),
    };
    if status == MemberStatus::Removed {
        return Err(precondition("已出党人员不能变更标记。"));
    }
    let party_member = matches!(status, MemberStatus::Probationary | MemberStatus::Full);
    let mut next = current.clone();
    let mut changes: Vec<(&str, String, String)> = Vec::new();
    let show = |d: Option<NaiveDate>| d.map_or_else(|| "none".to_string(), |d| d.to_string());
    if let Some(until) = req.discipline_until
        && until != current.discipline_until
    {
        if let Some(until) = until {
            if status != MemberStatus::Full {
                return Err(precondition("留党察看处分只适用于正式党员。"));
            }
            let latest = req
                .effective_on
                .checked_add_months(Months::new(rules::MAX_DISCIPLINE_MONTHS));
            if until <= req.effective_on || latest.is_some_and(|l| until > l) {
                return Err(AppError::Validation(vec![field(
                    "discipline_until",
                    "range",
                    "留党察看期限须晚于生效日期，且最长两年。",
                )]));
            }
        }
        changes.push((
            "flag.discipline_until",
            show(current.discipline_until),
            show(until),
        ));
        next.discipline_until = until;
    }
    for (name, wanted, cur, slot, needs_member) in [
        (
            "flag.rights_suspended",
            req.rights_suspended,
            current.rights_suspended,
            &mut next.rights_suspended,
            true,
        ),
        (
            "flag.membership_stopped",
            req.membership_stopped,
            current.membership_stopped,
            &mut next.membership_stopped,
            true,
        ),
        (
            "flag.lost_contact",
            req.lost_contact,
            current.lost_contact,
            &mut next.lost_contact,
            false,
        ),
    ] {
        let Some(wanted) = wanted else { continue };
        if wanted == cur {
            continue;
        }
        if wanted && needs_member && !party_member {
            return Err(precondition(
                "中止权利和停止党籍只适用于党员（含预备党员）。",
            ));
        }
        changes.push((name, cur.to_string(), wanted.to_string()));
        *slot = wanted;
    }
    if changes.is_empty() {
        return view(pii, &current, false);
    }
    next.version = current.version + 1;
    next.updated_at = ctx.now;
    let reason = trimmed(req.reason.as_deref());
    write_tx(conn, |c| {
        if !store::update_versioned(c, &next, current.version)? {
            return Err(AppError::VersionConflict);
        }
        for (change, from, to) in &changes {
            store::insert_history(
                c,
                &HistoryRow {
                    id: new_id(),
                    member_id: id.to_string(),
                    change: (*change).into(),
                    from_value: Some(from.clone()),
                    to_value: to.clone(),
                    effective_on: req.effective_on,
                    reason: reason.clone(),
                    actor_account_id: Some(ctx.principal.account_id.clone()),
                    created_at: ctx.now,
                },
            )?;
        }
        let (b, mut a) = diff(&snapshot(pii, &current)?, &snapshot(pii, &next)?);
        if let Some(m) = a.as_object_mut() {
            m.insert("effective_on".into(), json!(req.effective_on));
            m.insert("reason".into(), json!(reason));
        }
        ctx.audit(
            c,
            "member.flags",
            ("member", id),
            Some(&current.org_id),
            Some(b),
            Some(a),
        )?;
        if next.membership_stopped && !current.membership_stopped {
            revocation::member_left(c, ctx, id, &current.org_id, EndReason::MembershipStopped)?;
        }
        Ok(())
    })?;
    view(pii, &next, false)
}

/// `GET /members/{id}/history`: managers in scope and the member.
pub fn history(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
    cursor_text: Option<&str>,
    limit: Option<u32>,
) -> AppResult<Page<HistoryEntry>> {
    let row = load(conn, id)?;
    read_access(conn, principal, &row)?;
    let after = cursor_text
        .map(|c| cursor::decode(HISTORY_TAG, c, 1))
        .transpose()?
        .and_then(|mut v| v.pop());
    let limit = cursor::limit(limit);
    let rows = store::history(conn, id, after.as_deref(), limit + 1)?;
    let (rows, next) = cursor::paginate(rows, limit, |r| cursor::encode(HISTORY_TAG, &[&r.id]));
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| HistoryEntry {
                id: r.id,
                change: r.change,
                from_value: r.from_value,
                to_value: r.to_value,
                effective_on: r.effective_on,
                reason: r.reason,
                actor_account_id: r.actor_account_id,
                created_at: r.created_at.and_utc(),
            })
            .collect(),
        next_cursor: next,
    })
}

fn parse_list<T>(
    raw: Option<&str>,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> AppResult<Vec<T>> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse(s).ok_or_else(|| AppError::InvalidQuery(format!("{what} 不认识 {s}"))))
        .collect()
}

/// `GET /orgs/{org_id}/members`.
///
/// - managers in scope: the masked profile of each member, every filter; `subtree`
///   only for org admins (403 for others);
/// - a member of this very branch: names and statuses only, no flag filter, no subtree
///   (403 for those);
/// - anyone else who may read the organization (a member of a branch below): 403;
///   outside scope: 404.
pub fn list(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    org_id: &str,
    q: &MemberListQuery,
) -> AppResult<Page<MemberListItem>> {
    let p = ctx.principal;
    require_read_org(conn, p, org_id)?;
    let manager = org_in_scope(conn, p, org_id, &Role::MANAGERS)?;
    let own_branch = p.member_org_id.as_deref() == Some(org_id)
        || p.grants
            .iter()
            .any(|g| g.role == Role::Member && g.org_id.as_deref() == Some(org_id));
    let subtree = q.subtree.unwrap_or(false);
    let flags = parse_list(q.flags.as_deref(), "flags", |s| {
        Some(match s {
            "under_discipline" => FlagFilter::UnderDiscipline,
            "rights_suspended" => FlagFilter::RightsSuspended,
            "membership_stopped" => FlagFilter::MembershipStopped,
            "lost_contact" => FlagFilter::LostContact,
            _ => return None,
        })
    })?;
    let mut statuses = parse_list(q.status.as_deref(), "status", MemberStatus::parse)?;
    if !manager && (!own_branch || subtree || !flags.is_empty()) {
        return Err(AppError::Forbidden);
    }
    if subtree && !org_in_scope(conn, p, org_id, &[Role::OrgAdmin])? {
        return Err(AppError::Forbidden);
    }
    if statuses.is_empty() {
        statuses = MemberStatus::ALL
            .into_iter()
            .filter(|s| *s != MemberStatus::Removed)
            .collect();
    }
    let after = q.cursor.as_deref().map(parse_list_cursor).transpose()?;
    let limit = cursor::limit(q.limit);
    let rows = store::list(
        conn,
        &ListFilter {
            org_id: org_id.to_string(),
            subtree,
            statuses: statuses.iter().map(|s| s.as_str().to_string()).collect(),
            name_prefix: q
                .name_prefix
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            flags,
            today: ctx.today(),
            after,
            limit: limit + 1,
        },
    )?;
    let (rows, next) = cursor::paginate(rows, limit, |r| list_cursor(&r.name, &r.id));
    let items = rows
        .iter()
        .map(|r| {
            let status = status_of(r)?;
            if !manager {
                return Ok(MemberListItem {
                    id: r.id.clone(),
                    org_id: r.org_id.clone(),
                    name: r.name.clone(),
                    status,
                    party_group_id: None,
                    gender: None,
                    id_number: None,
                    phone: None,
                    work_unit: None,
                    flags: None,
                    version: None,
                });
            }
            let v = view(pii, r, false)?;
            Ok(MemberListItem {
                id: v.id,
                org_id: v.org_id,
                name: v.name,
                status,
                party_group_id: v.party_group_id,
                gender: Some(v.gender),
                id_number: Some(v.id_number),
                phone: v.phone,
                work_unit: v.work_unit,
                flags: Some(v.flags),
                version: Some(v.version),
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Page {
        items,
        next_cursor: next,
    })
}
