//! 介绍信 (RULES.md §4.2): the introduction letter the sending committee issues when it
//! approves a transfer, its serial, its printable three parts (存根 / 介绍信 / 回执) and
//! the signed token its QR code carries.
//!
//! Decisions:
//! - A letter is issued for every transfer the sending committee approves that leaves from
//!   a branch of the system (`within_county`, `within_city`, `out_of_city`): within the
//!   city the member still carries it when he reports (报到) and the receiving side can
//!   check it by its QR code; its 回执 closes the receipt step. Validity: the
//!   configured days within the city (default 10) or outside (default 30), never more
//!   than 90. `into_city` transfers came with a paper letter from outside; its serial is
//!   recorded instead.
//! - Serial: `<the committee's 发文简称>组字〔<year>〕第<NNNN>号` (the abbreviation set on the
//!   organization, else the first character of its name after 中共), numbered
//!   per issuing committee and year. The next number is the highest + 1; the unique key
//!   (committee, year, number) makes a concurrent issue of the same number fail, and the
//!   whole step is retried ([`SerialTaken`]).
//! - `expires_on` is the last valid day: `issued_on + validity_days - 1`.
//! - The token is a JWT with its own audience ([`LETTER_AUDIENCE`]) naming the letter.
//!   It outlives the letter (ten years, like the stub): whether the letter still holds is
//!   read from the database, so an expired or void letter answers `valid: false` with
//!   the reason instead of a token error.
//! - Personal data on the letter is masked (ID number `410402********123X`, phone
//!   `138****5678`): the plain values never reach a printout or the public check.

use std::fmt::Write;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use hongying_proto::ErrorCode;
use hongying_proto::transfers::{Letter, LetterSummary, LetterVerification};
use serde::{Deserialize, Serialize};

use crate::auth::tokens::{HasExpiry, TokenService};
use crate::crypto::pii::{Field, Pii, mask_phone};
use crate::db::{AnyConnection, new_id};
use crate::error::{AppError, AppResult};
use crate::minutes::export::esc;
use crate::store::members as members_store;
use crate::store::transfers::{self as store, LetterRow, TransferRow};

/// The audience of letter tokens: no other token passes for one.
pub const LETTER_AUDIENCE: &str = "hongying-letter";

/// How long a letter token can be checked: as long as the stub is kept (~10 years).
const TOKEN_YEARS: i64 = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterClaims {
    /// Letter id.
    pub sub: String,
    /// The serial, as printed.
    pub ser: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

impl HasExpiry for LetterClaims {
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// What a letter's token and QR code need from the service.
#[derive(Clone, Copy)]
pub struct LetterKeys<'a> {
    pub tokens: &'a TokenService,
    pub issuer: &'a str,
    /// `transfers.public_base_url`.
    pub base_url: Option<&'a str>,
}

/// What issuing a letter needs from the service.
#[derive(Clone, Copy)]
pub struct LetterPolicy<'a> {
    pub pii: &'a Pii,
    pub within_city_days: u32,
    pub outside_days: u32,
}

/// A concurrent issue took the serial number; the step is retried.
#[derive(Debug, thiserror::Error)]
#[error("letter serial taken")]
pub struct SerialTaken;

/// Whether an error is [`SerialTaken`].
pub fn is_serial_taken(e: &AppError) -> bool {
    matches!(e, AppError::Internal(e) if e.downcast_ref::<SerialTaken>().is_some())
}

/// `甲组字〔2026〕第0001号`, from the issuing committee's 发文简称 (`orgs::service::letter_abbr`).
pub fn serial_text(abbr: &str, year: i32, no: i32) -> String {
    format!("{abbr}组字〔{year}〕第{no:04}号")
}

/// Whether a transfer of `kind` needs a letter from the sending committee.
pub fn needs_letter(kind: &str) -> bool {
    matches!(kind, "within_county" | "within_city" | "out_of_city")
}

/// The validity in days for a transfer of `kind`.
pub fn validity_days(kind: &str, policy: &LetterPolicy<'_>) -> u32 {
    if kind == "out_of_city" {
        policy.outside_days
    } else {
        policy.within_city_days
    }
}

fn age_on(birth: NaiveDate, on: NaiveDate) -> i32 {
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    years
}

/// Issues the next letter of the transfer's sending committee, inside the caller's
/// transaction. `reissued_from` names the (already voided) letter it replaces.
pub fn issue(
    conn: &mut AnyConnection,
    policy: &LetterPolicy<'_>,
    t: &TransferRow,
    reissued_from: Option<&str>,
    now: NaiveDateTime,
) -> AppResult<LetterRow> {
    let committee = t
        .from_committee_id
        .as_deref()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("transfer {} has no committee", t.id)))?;
    let member = members_store::find(conn, &t.member_id)?.ok_or(AppError::NotFound)?;
    let membership = match member.status.as_str() {
        "full" => "full",
        "probationary" => "probationary",
        _ => {
            return Err(AppError::Conflict {
                code: ErrorCode::TransitionPrecondition,
                detail: "只有正式党员和预备党员才能开具党员组织关系介绍信。".into(),
            });
        }
    };
    let id_number = policy
        .pii
        .decrypt(Field::IdNumber, &member.id, &member.id_number_enc)
        .map_err(AppError::Internal)?;
    let phone = member
        .phone_enc
        .as_deref()
        .map(|p| policy.pii.decrypt(Field::Phone, &member.id, p))
        .transpose()
        .map_err(AppError::Internal)?;
    let name_of = |conn: &mut AnyConnection, id: &str| -> AppResult<String> {
        Ok(store::org_name_address(conn, id)?
            .map(|(n, _)| n)
            .unwrap_or_default())
    };
    let committee_row = crate::store::orgs::find(conn, committee)?.ok_or(AppError::NotFound)?;
    let committee_abbr = crate::orgs::service::letter_abbr(
        &committee_row.name,
        committee_row.letter_abbr.as_deref(),
    );
    let committee_name = committee_row.name;
    let from_name = match t.from_org_id.as_deref() {
        Some(o) => name_of(conn, o)?,
        None => t.outside_org_name.clone().unwrap_or_default(),
    };
    let to_name = match t.to_org_id.as_deref() {
        Some(o) => name_of(conn, o)?,
        None => t.outside_org_name.clone().unwrap_or_default(),
    };
    let today = crate::orgs::today_cn(now);
    let days = validity_days(&t.kind, policy);
    let year = today.year();
    let no = store::last_serial_no(conn, committee, year)? + 1;
    let row = LetterRow {
        id: new_id(),
        transfer_id: t.id.clone(),
        issuing_org_id: committee.to_string(),
        serial_year: year,
        serial_no: no,
        member_name: member.name.clone(),
        gender: member.gender.clone(),
        age: member.birth_date.map(|b| age_on(b, today)),
        ethnicity: member.ethnicity.clone(),
        membership: membership.into(),
        id_number_masked: crate::crypto::id_number::mask(&id_number),
        member_phone_masked: phone.as_deref().map(mask_phone),
        from_org_name: from_name,
        to_org_name: to_name,
        dues_paid_to: t.dues_paid_to.clone(),
        validity_days: i32::try_from(days).unwrap_or(i32::MAX),
        issued_on: today,
        expires_on: today + chrono::Duration::days(i64::from(days) - 1),
        status: "valid".into(),
        reissued_from: reissued_from.map(str::to_string),
        receipt_returned_at: None,
        created_at: now,
        serial: Some(serial_text(&committee_abbr, year, no)),
        issuing_org_name: Some(committee_name),
        void_reason: None,
        voided_at: None,
    };
    store::insert_letter(conn, &row).map_err(|e| match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ) => AppError::Internal(anyhow::Error::new(SerialTaken)),
        other => other.into(),
    })?;
    Ok(row)
}

fn serial_of(l: &LetterRow) -> String {
    l.serial
        .clone()
        .unwrap_or_else(|| serial_text("", l.serial_year, l.serial_no))
}

/// Not void and not past its last day on `today`.
pub fn valid_on(l: &LetterRow, today: NaiveDate) -> bool {
    l.status == "valid" && today <= l.expires_on
}

pub fn summary(l: &LetterRow) -> LetterSummary {
    LetterSummary {
        id: l.id.clone(),
        serial: serial_of(l),
        status: l.status.clone(),
        issued_on: l.issued_on,
        expires_on: l.expires_on,
        void_reason: l.void_reason.clone(),
        receipt_returned_at: l.receipt_returned_at.map(|t| t.and_utc()),
    }
}

/// The token of a letter's QR code.
pub fn token(keys: &LetterKeys<'_>, l: &LetterRow, now: NaiveDateTime) -> AppResult<String> {
    let iat = now.and_utc().timestamp();
    let until = l.expires_on + chrono::Duration::days(365 * TOKEN_YEARS);
    let exp = until
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or(iat);
    keys.tokens.sign(&LetterClaims {
        sub: l.id.clone(),
        ser: serial_of(l),
        iss: keys.issuer.to_string(),
        aud: LETTER_AUDIENCE.to_string(),
        iat,
        exp,
    })
}

/// What the QR code carries.
pub fn verify_url(keys: &LetterKeys<'_>, token: &str) -> String {
    let base = keys.base_url.unwrap_or("").trim_end_matches('/');
    format!("{base}/api/v1/letters/verify/{token}")
}

pub fn to_proto(keys: &LetterKeys<'_>, l: &LetterRow, now: NaiveDateTime) -> AppResult<Letter> {
    let token = token(keys, l, now)?;
    Ok(Letter {
        id: l.id.clone(),
        transfer_id: l.transfer_id.clone(),
        serial: serial_of(l),
        issuing_org_id: l.issuing_org_id.clone(),
        issuing_org_name: l.issuing_org_name.clone().unwrap_or_default(),
        member_name: l.member_name.clone(),
        gender: l.gender.clone(),
        age: l.age,
        ethnicity: l.ethnicity.clone(),
        membership: l.membership.clone(),
        id_number_masked: l.id_number_masked.clone(),
        member_phone_masked: l.member_phone_masked.clone(),
        from_org_name: l.from_org_name.clone(),
        to_org_name: l.to_org_name.clone(),
        dues_paid_to: l.dues_paid_to.clone(),
        validity_days: l.validity_days,
        issued_on: l.issued_on,
        expires_on: l.expires_on,
        status: l.status.clone(),
        void_reason: l.void_reason.clone(),
        reissued_from: l.reissued_from.clone(),
        receipt_returned_at: l.receipt_returned_at.map(|t| t.and_utc()),
        valid_now: valid_on(l, crate::orgs::today_cn(now)),
        verify_url: verify_url(keys, &token),
        verify_token: token,
        created_at: l.created_at.and_utc(),
    })
}

fn invalid_token() -> AppError {
    AppError::Domain {
        status: 400,
        code: ErrorCode::LetterTokenInvalid,
        detail: "介绍信二维码无效：不是本系统开具的介绍信，或内容已被篡改。".into(),
    }
}

fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    let first: String = chars.next().map(String::from).unwrap_or_default();
    let rest = chars.count().max(1);
    format!("{first}{}", "*".repeat(rest))
}

/// `GET /letters/verify/{token}`: anyone may ask. A token that is not ours (forged,
/// garbled, another kind of token, a letter we do not have) is 400
/// `letter_token_invalid`; an authentic letter answers whether it still holds.
pub fn verify(
    conn: &mut AnyConnection,
    keys: &LetterKeys<'_>,
    token: &str,
    now: NaiveDateTime,
) -> AppResult<LetterVerification> {
    let claims: LetterClaims = keys
        .tokens
        .verify(token, LETTER_AUDIENCE, now.and_utc().timestamp())
        .map_err(|_| invalid_token())?;
    let l = store::find_letter(conn, &claims.sub)?.ok_or_else(invalid_token)?;
    if serial_of(&l) != claims.ser {
        return Err(invalid_token());
    }
    let today = crate::orgs::today_cn(now);
    let reason = if l.status != "valid" {
        Some("void")
    } else if today > l.expires_on {
        Some("expired")
    } else {
        None
    };
    let superseded_by = store::reissue_of(conn, &l.id)?.map(|n| serial_of(&n));
    Ok(LetterVerification {
        authentic: true,
        valid: reason.is_none(),
        reason: reason.map(str::to_string),
        void_reason: l.void_reason.clone(),
        superseded_by,
        serial: serial_of(&l),
        issuing_org_name: l.issuing_org_name.clone().unwrap_or_default(),
        member_name_masked: mask_name(&l.member_name),
        gender: l.gender.clone(),
        membership: l.membership.clone(),
        id_number_masked: l.id_number_masked.clone(),
        from_org_name: l.from_org_name.clone(),
        to_org_name: l.to_org_name.clone(),
        issued_on: l.issued_on,
        expires_on: l.expires_on,
        receipt_returned: l.receipt_returned_at.is_some(),
    })
}

// --- the printout -----------------------------------------------------------------------

/// The QR code for `text` as an inline `<svg>` element.
pub fn qr_svg(text: &str) -> AppResult<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("QR code: {e}")))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(180, 180)
        .quiet_zone(true)
        .build();
    // Inline in HTML: without the XML declaration.
    Ok(match image.find("<svg") {
        Some(i) => image[i..].to_string(),
        None => image,
    })
}

const DIGITS_LOWER: [&str; 10] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
const DIGITS_UPPER: [&str; 10] = ["零", "壹", "贰", "叁", "肆", "伍", "陆", "柒", "捌", "玖"];

/// A count in financial numerals (大写), 1 to 99: `30` → `叁拾`, `15` → `拾伍`.
pub fn upper_number(n: u32) -> String {
    let (tens, ones) = (n / 10, n % 10);
    let mut s = String::new();
    match tens {
        0 => {}
        1 => s.push('拾'),
        t if t < 10 => {
            s.push_str(DIGITS_UPPER[t as usize]);
            s.push('拾');
        }
        _ => return n.to_string(),
    }
    if ones > 0 || tens == 0 {
        s.push_str(DIGITS_UPPER[ones as usize]);
    }
    s
}

fn lower_small(n: u32) -> String {
    match n {
        0..=9 => DIGITS_LOWER[n as usize].to_string(),
        10 => "十".into(),
        11..=19 => format!("十{}", DIGITS_LOWER[(n % 10) as usize]),
        _ => {
            let ones = n % 10;
            let mut s = format!("{}十", DIGITS_LOWER[(n / 10) as usize % 10]);
            if ones > 0 {
                s.push_str(DIGITS_LOWER[ones as usize]);
            }
            s
        }
    }
}

fn year_text(y: i32) -> String {
    y.to_string()
        .chars()
        .map(|c| {
            c.to_digit(10)
                .map(|d| DIGITS_LOWER[d as usize].to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// `二〇二六年十一月二十八日`.
pub fn date_text(d: NaiveDate) -> String {
    format!(
        "{}年{}月{}日",
        year_text(d.year()),
        lower_small(d.month()),
        lower_small(d.day())
    )
}

/// `2026-05` → `二〇二六年五月`; anything else is printed as given.
pub fn month_text(ym: &str) -> String {
    let parsed = ym
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)));
    match parsed {
        Some((y, m)) if (1..=12).contains(&m) => {
            format!("{}年{}月", year_text(y), lower_small(m))
        }
        _ => ym.to_string(),
    }
}

fn gender_zh(g: &str) -> &'static str {
    match g {
        "male" => "男",
        "female" => "女",
        _ => "",
    }
}

fn membership_zh(m: &str) -> &'static str {
    if m == "probationary" {
        "预备"
    } else {
        "正式"
    }
}

const STYLE: &str = "body{font-family:'FangSong','STFangsong','SimSun','Songti SC','Noto Serif CJK SC',serif;margin:24px auto;max-width:760px;color:#000;font-size:15px;line-height:1.9}\
.part{border:1px solid #000;padding:18px 28px;margin:0 0 8px;position:relative}\
.cut{border-top:1px dashed #555;margin:14px 0;text-align:center;font-size:12px;color:#555}\
h1{text-align:center;font-size:22px;letter-spacing:2px;margin:0}\
h2{text-align:center;font-size:18px;margin:0}\
.serial{text-align:right;margin:4px 0 10px}\
.indent{text-indent:2em;margin:0}\
.sign{text-align:right;margin-top:18px}\
.qr{float:right;width:180px;margin:0 0 6px 12px;text-align:center;font-size:11px;color:#333}\
.qr svg{width:180px;height:180px}\
.foot{font-size:13px;margin-top:10px;clear:both}\
.blank{display:inline-block;min-width:5em;border-bottom:1px solid #000}\
.stamp{position:absolute;top:40%;left:25%;font-size:48px;color:#c00;border:4px solid #c00;padding:4px 24px;transform:rotate(-18deg);opacity:.75}\
.url{word-break:break-all;font-size:9px;color:#555}\
@page{size:A4;margin:12mm}\
@media screen and (max-width:600px){body{margin:8px;font-size:16px}.part{padding:12px}.qr{float:none;margin:0 auto 8px}}\
@media print{body{margin:0}.part{break-inside:avoid}.noprint{display:none}}";

const VERIFY_STYLE: &str = "body{font-family:system-ui,'PingFang SC','Noto Sans CJK SC',sans-serif;margin:0;padding:16px;max-width:560px;margin:auto;font-size:18px;line-height:1.7;color:#222}\
.verdict{border-radius:12px;padding:16px;margin:8px 0 16px;font-size:22px;font-weight:bold;text-align:center}\
.ok{background:#e8f5e9;color:#1b5e20;border:2px solid #2e7d32}\
.bad{background:#fdecea;color:#b71c1c;border:2px solid #c62828}\
dl{margin:0}dt{color:#666;font-size:16px;margin-top:10px}dd{margin:0;font-size:18px}\
.note{color:#555;font-size:16px;margin-top:20px}h1{font-size:24px;margin:4px 0}";

/// What a person sees who scans a letter's QR code with a phone: whether the letter is
/// genuine and still holds, in words, with the masked facts to compare with the paper.
/// `None` is a code this system did not issue.
pub fn verification_html(v: Option<&LetterVerification>) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>介绍信核验</title><style>{VERIFY_STYLE}</style></head><body><h1>党员组织关系介绍信核验</h1>"
    );
    let Some(v) = v else {
        o.push_str(
            "<div class=\"verdict bad\">无法核实：这个二维码不是本系统开具的介绍信</div>\
<p>请不要凭这张介绍信办理接收，并与开具介绍信的党委联系核实。</p></body></html>",
        );
        return o;
    };
    let verdict = match (v.valid, v.reason.as_deref(), v.void_reason.as_deref()) {
        (true, _, _) => {
            "<div class=\"verdict ok\">真实有效：这封介绍信由本系统开具，现在有效</div>".to_string()
        }
        (false, Some("expired"), _) => {
            "<div class=\"verdict bad\">介绍信是真的，但已经过期，请开具介绍信的党委重新开具</div>"
                .to_string()
        }
        (false, _, Some("reissued")) => format!(
            "<div class=\"verdict bad\">这封介绍信已作废，已重新开具{}</div>",
            v.superseded_by
                .as_deref()
                .map(|s| format!("（新介绍信 {}）", esc(s)))
                .unwrap_or_default()
        ),
        (false, _, _) => {
            "<div class=\"verdict bad\">这封介绍信已作废，不能再使用</div>".to_string()
        }
    };
    o.push_str(&verdict);
    let _ = write!(
        o,
        "<dl><dt>介绍信编号</dt><dd>{serial}</dd>\
<dt>开具党委</dt><dd>{issuer}</dd>\
<dt>党员</dt><dd>{name}（{gender}，{kind}党员，身份证号码 {id}）</dd>\
<dt>从</dt><dd>{from}</dd><dt>到</dt><dd>{to}</dd>\
<dt>开具日期</dt><dd>{issued}</dd><dt>有效期至</dt><dd>{expires}</dd>\
<dt>回执</dt><dd>{receipt}</dd></dl>\
<p class=\"note\">请核对以上内容与纸质介绍信是否一致。姓名和身份证号码只显示部分，以保护个人信息。</p></body></html>",
        serial = esc(&v.serial),
        issuer = esc(&v.issuing_org_name),
        name = esc(&v.member_name_masked),
        gender = gender_zh(&v.gender),
        kind = membership_zh(&v.membership),
        id = esc(&v.id_number_masked),
        from = esc(&v.from_org_name),
        to = esc(&v.to_org_name),
        issued = v.issued_on.format("%Y年%m月%d日"),
        expires = v.expires_on.format("%Y年%m月%d日"),
        receipt = if v.receipt_returned {
            "已寄回"
        } else {
            "尚未寄回"
        },
    );
    o
}

/// The three parts of a letter as one printable page. `committee_address` is the issuing
/// committee's address for the footer; `qr` the inline SVG of [`verify_url`].
pub fn html(l: &Letter, committee_address: Option<&str>, qr: &str, today: NaiveDate) -> String {
    let serial = esc(&l.serial);
    let name = esc(&l.member_name);
    let gender = gender_zh(&l.gender);
    let age = l.age.map(|a| format!("{a}岁")).unwrap_or_default();
    let ethnicity = esc(&l.ethnicity);
    let kind = membership_zh(&l.membership);
    let id = esc(&l.id_number_masked);
    let from = esc(&l.from_org_name);
    let to = esc(&l.to_org_name);
    let issuer = esc(&l.issuing_org_name);
    let dues = match &l.dues_paid_to {
        Some(m) => esc(&month_text(m)),
        None => "<span class=\"blank\"></span>年<span class=\"blank\"></span>月".into(),
    };
    let days = u32::try_from(l.validity_days)
        .map(upper_number)
        .unwrap_or_default();
    let issued = date_text(l.issued_on);
    let phone = l
        .member_phone_masked
        .as_deref()
        .map(esc)
        .unwrap_or_else(|| "<span class=\"blank\"></span>".into());
    let address = committee_address
        .map(esc)
        .unwrap_or_else(|| "<span class=\"blank\"></span>".into());
    let stamp = if l.status != "valid" {
        "<div class=\"stamp\">已作废</div>"
    } else if today > l.expires_on {
        "<div class=\"stamp\">已过期</div>"
    } else {
        ""
    };
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>党员组织关系介绍信 {serial}</title><style>{STYLE}</style></head><body>"
    );
    // 存根
    let _ = write!(
        o,
        "<section class=\"part stub\">{stamp}<h2>中国共产党党员组织关系介绍信（存根）</h2>\
<div class=\"serial\">{serial}</div>\
<p class=\"indent\">{name}同志（{gender}，{age}，{ethnicity}，中共{kind}党员，身份证号码{id}），\
由{from}去{to}。党费已交到{dues}。</p>\
<p class=\"indent\">有效期{days}天。</p>\
<div class=\"sign\">{issued}</div></section>\
<div class=\"cut\">（骑缝 {serial}）</div>"
    );
    // 介绍信
    let _ = write!(
        o,
        "<section class=\"part letter\">{stamp}\
<div class=\"qr\">{qr}<div>扫码核验真伪与有效期</div><div class=\"url\">{url}</div></div>\
<h1>中国共产党党员组织关系介绍信</h1>\
<div class=\"serial\">{serial}</div>\
<p>{to}：</p>\
<p class=\"indent\">{name}同志（{gender}，{age}，{ethnicity}，身份证号码{id}）系中共{kind}党员，\
由{from}去{to}，请转接组织关系。该同志党费已交到{dues}。</p>\
<p class=\"indent\">（有效期{days}天）</p>\
<div class=\"sign\">{issuer}（盖章）<br>{issued}</div>\
<div class=\"foot\">党员联系电话：{phone}<br>党员原所在基层党委通讯地址：{address}</div>\
</section><div class=\"cut\">（骑缝 {serial}）</div>",
        url = esc(&l.verify_url),
    );
    // 回执
    let _ = write!(
        o,
        "<section class=\"part receipt\"><h2>中国共产党党员组织关系介绍信（回执）</h2>\
<div class=\"serial\">{serial}</div>\
<p>{issuer}：</p>\
<p class=\"indent\">{name}同志的党员组织关系已转达我处。</p>\
<div class=\"sign\">接收党组织（盖章）<br><span class=\"blank\"></span>年<span class=\"blank\"></span>月<span class=\"blank\"></span>日</div>\
<div class=\"foot\">经办人：<span class=\"blank\"></span>　联系电话：<span class=\"blank\"></span><br>\
（回执请接收党组织在一个月内直接寄回{issuer}）</div></section>"
    );
    o.push_str("</body></html>");
    o
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_verify_page_says_it_in_words() {
        let mut v = LetterVerification {
            authentic: true,
            valid: true,
            reason: None,
            void_reason: None,
            superseded_by: None,
            serial: "堂组字〔2026〕第0007号".into(),
            issuing_org_name: "中共堂街镇委员会".into(),
            member_name_masked: "张*".into(),
            gender: "male".into(),
            membership: "full".into(),
            id_number_masked: "4102**********123X".into(),
            from_org_name: "马街村党总支".into(),
            to_org_name: "中共柳州市柳北区委员会组织部".into(),
            issued_on: d("2026-11-28"),
            expires_on: d("2026-12-27"),
            receipt_returned: false,
        };
        let page = verification_html(Some(&v));
        if let Ok(path) = std::env::var("HONGYING_DUMP_VERIFY_PAGE") {
            std::fs::write(path, &page).unwrap();
        }
        assert!(page.contains("真实有效") && page.contains("2026年12月27日"));
        v.valid = false;
        v.reason = Some("void".into());
        v.void_reason = Some("reissued".into());
        v.superseded_by = Some("堂组字〔2026〕第0008号".into());
        let page = verification_html(Some(&v));
        assert!(page.contains("已作废") && page.contains("第0008号"));
        v.reason = Some("expired".into());
        v.void_reason = None;
        assert!(verification_html(Some(&v)).contains("已经过期"));
        assert!(verification_html(None).contains("无法核实"));
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn serials_read_like_paper_ones() {
        use crate::orgs::service::letter_abbr;
        let serial = |name: &str, set: Option<&str>, year, no| {
            serial_text(&letter_abbr(name, set), year, no)
        };
        assert_eq!(
            serial("平顶山市委", None, 2026, 1),
            "平组字〔2026〕第0001号"
        );
        assert_eq!(
            serial("甲一镇党委", None, 2027, 12345),
            "甲组字〔2027〕第12345号"
        );
        // The party's own prefix is not the committee's name.
        assert_eq!(
            serial("中共堂街镇委员会", None, 2026, 3),
            "堂组字〔2026〕第0003号"
        );
        assert_eq!(
            serial("中国共产党叶县委员会", None, 2026, 3),
            "叶组字〔2026〕第0003号"
        );
        // What the committee set wins.
        assert_eq!(
            serial("中共宝丰县委员会", Some("宝丰"), 2026, 7),
            "宝丰组字〔2026〕第0007号"
        );
    }

    #[test]
    fn numbers_in_words() {
        assert_eq!(upper_number(10), "拾");
        assert_eq!(upper_number(30), "叁拾");
        assert_eq!(upper_number(15), "拾伍");
        assert_eq!(upper_number(90), "玖拾");
        assert_eq!(upper_number(7), "柒");
        assert_eq!(upper_number(25), "贰拾伍");
        assert_eq!(date_text(d("2026-11-28")), "二〇二六年十一月二十八日");
        assert_eq!(date_text(d("2026-01-05")), "二〇二六年一月五日");
        assert_eq!(date_text(d("2026-10-30")), "二〇二六年十月三十日");
        assert_eq!(month_text("2026-05"), "二〇二六年五月");
        assert_eq!(month_text("2026-12"), "二〇二六年十二月");
        assert_eq!(month_text("soon"), "soon");
    }

    #[test]
    fn age_counts_whole_years() {
        assert_eq!(age_on(d("1980-06-15"), d("2026-06-14")), 45);
        assert_eq!(age_on(d("1980-06-15"), d("2026-06-15")), 46);
    }

    #[test]
    fn names_are_masked_but_the_first_character() {
        assert_eq!(mask_name("张东"), "张*");
        assert_eq!(mask_name("欧阳小明"), "欧***");
        assert_eq!(mask_name("王"), "王*");
    }

    #[test]
    fn the_qr_code_is_an_inline_svg() {
        let svg = qr_svg("https://hongying.example.cn/api/v1/letters/verify/abc.def.ghi").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("</svg>"));
        // Deterministic: the same text gives the same picture.
        assert_eq!(
            svg,
            qr_svg("https://hongying.example.cn/api/v1/letters/verify/abc.def.ghi").unwrap()
        );
    }
}
