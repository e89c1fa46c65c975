//! Roster import from .xlsx or .csv (`hongying import members`, and
//! `POST /api/v1/orgs/{org_id}/members/import`).
//!
//! Columns (Chinese headers, any order, unknown ones ignored): 姓名*, 性别, 民族,
//! 公民身份号码*, 手机号码, 学历, 工作单位, 所在支部 (an organization code inside the
//! import's organization; empty = that organization), 人员类别* (申请人/积极分子/发展对象/
//! 预备党员/正式党员), 申请入党日期, 确定积极分子日期, 确定发展对象日期, 加入党组织日期,
//! 转为正式党员日期, 备注. (* required.)
//!
//! How it behaves:
//! - One pass, one write transaction: each row is checked and written as it is read, and
//!   the transaction is rolled back at the end unless the whole file was valid (or
//!   `partial`, which keeps the valid rows) and this is not a dry run. Memory holds one
//!   row, the 16-byte prefixes of the blind indexes seen (to find duplicates inside the
//!   file) and at most [`MAX_ISSUES`] problems.
//! - Rows are matched to the roster by the ID number's blind index. A row equal to the
//!   member on record is `unchanged` (so importing a file twice changes nothing the second
//!   time). A row that changes profile fields (name, ethnicity, phone, education, work
//!   unit, note, stage dates) `updated`s them; an empty cell never clears a field. A row
//!   whose 人员类别 differs from the record is refused (`status_differs`): status changes
//!   go through the transitions, which keep the history. A person on the roster of a
//!   branch other than the row's is refused (`member_in_other_branch`): that is a
//!   transfer.
//! - An ID number that a spreadsheet stores as a number has already lost its last digits
//!   (and the X), so such a cell is refused (`id_number_not_text`) rather than guessed.
//! - Audit: `member.create` per created member, `member.update` per updated one, and one
//!   `member.import` for the file when something was written.

pub mod cli;
pub mod source;

use std::collections::HashMap;
use std::io::{Read, Seek};

use chrono::NaiveDate;
use diesel::Connection;
use hongying_proto::FieldError;
use hongying_proto::members::{Gender, ImportIssue, ImportReport, MemberStatus};
use serde_json::json;

use crate::auth::Role;
use crate::authz::require_manage_org;
use crate::crypto::id_number::IdNumber;
use crate::crypto::pii::{Field, Pii};
use crate::db::{AnyConnection, write_tx};
use crate::error::{AppError, AppResult};
use crate::members::rules::{self, Stages};
use crate::members::service::{self, Draft, ID_NUMBER_TAKEN};
use crate::orgs::Ctx;
use crate::store::members::{self as store, MemberRow, OrgFacts};
pub use source::{Cell, Format};
use source::{RowSink, SourceError};

/// Problems kept in a report; counting goes on past it.
pub const MAX_ISSUES: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Col {
    Name,
    Gender,
    Ethnicity,
    IdNumber,
    Phone,
    Education,
    WorkUnit,
    Branch,
    Status,
    Applied,
    Activist,
    Candidate,
    Probationary,
    Regularized,
    Note,
}

impl Col {
    const ALL: [Col; 15] = [
        Col::Name,
        Col::Gender,
        Col::Ethnicity,
        Col::IdNumber,
        Col::Phone,
        Col::Education,
        Col::WorkUnit,
        Col::Branch,
        Col::Status,
        Col::Applied,
        Col::Activist,
        Col::Candidate,
        Col::Probationary,
        Col::Regularized,
        Col::Note,
    ];

    /// The header as the template spells it.
    fn header(self) -> &'static str {
        match self {
            Col::Name => "姓名",
            Col::Gender => "性别",
            Col::Ethnicity => "民族",
            Col::IdNumber => "公民身份号码",
            Col::Phone => "手机号码",
            Col::Education => "学历",
            Col::WorkUnit => "工作单位",
            Col::Branch => "所在支部",
            Col::Status => "人员类别",
            Col::Applied => "申请入党日期",
            Col::Activist => "确定积极分子日期",
            Col::Candidate => "确定发展对象日期",
            Col::Probationary => "加入党组织日期",
            Col::Regularized => "转为正式党员日期",
            Col::Note => "备注",
        }
    }

    fn parse(header: &str) -> Option<Col> {
        let h = header.trim().trim_start_matches('\u{feff}').trim();
        let h = h.trim_end_matches('*').trim();
        Some(match h {
            "身份证号码" | "身份证号" => Col::IdNumber,
            "手机号" | "联系电话" => Col::Phone,
            _ => return Col::ALL.into_iter().find(|c| c.header() == h),
        })
    }

    fn required(self) -> bool {
        matches!(self, Col::Name | Col::IdNumber | Col::Status)
    }

    /// The column a record field's error belongs to.
    fn of_field(field: &str) -> Col {
        match field {
            "name" => Col::Name,
            "gender" => Col::Gender,
            "phone" => Col::Phone,
            "applied_on" => Col::Applied,
            "activist_on" => Col::Activist,
            "candidate_on" => Col::Candidate,
            "probationary_on" => Col::Probationary,
            "regularized_on" => Col::Regularized,
            "status" => Col::Status,
            _ => Col::IdNumber,
        }
    }
}

/// How to run an import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    pub partial: bool,
    /// The file's name, for the audit row.
    pub source_name: String,
}

/// Imports a roster into the organization `scope_org_id` (and the branches below it).
/// The caller must manage that organization. `progress` is called with the number of
/// rows read so far, every 100 rows and at the end.
#[allow(clippy::too_many_arguments)]
pub fn import_members<R: Read + Seek>(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    pii: &Pii,
    scope_org_id: &str,
    format: Format,
    input: R,
    opts: &Options,
    progress: &mut dyn FnMut(u64),
) -> AppResult<ImportReport> {
    require_manage_org(conn, ctx.principal, scope_org_id, &Role::MANAGERS)?;
    let scope = store::org(conn, scope_org_id)?.ok_or(AppError::NotFound)?;
    let outcome = write_tx(conn, |c| {
        let mut imp = Importer {
            conn: c,
            ctx,
            pii,
            today: ctx.today(),
            scope: scope.clone(),
            columns: Vec::new(),
            branches: HashMap::new(),
            seen_ids: HashMap::new(),
            seen_phones: HashMap::new(),
            report: ImportReport {
                dry_run: opts.dry_run,
                partial: opts.partial,
                ..Default::default()
            },
            file_problem: false,
            fatal: None,
            progress,
        };
        let read = source::read(format, input, &mut imp);
        if let Some(e) = imp.fatal.take() {
            return Err(Stop::App(e));
        }
        match read {
            Ok(()) => {}
            Err(SourceError::Unreadable(msg)) => imp.file_issue(0, "", "unreadable", msg),
            Err(SourceError::Io(e)) => {
                return Err(Stop::App(AppError::Internal(
                    anyhow::Error::new(e).context("reading the import file"),
                )));
            }
            Err(SourceError::Stopped) => {}
        }
        if imp.columns.is_empty() && !imp.file_problem {
            imp.file_issue(0, "", "empty_file", "文件中没有表头和数据。".into());
        }
        (imp.progress)(imp.report.rows);
        let mut report = imp.report;
        report.valid = !imp.file_problem && (report.rejected == 0 || report.partial);
        let writes = report.created + report.updated > 0;
        if report.dry_run || !report.valid || !writes {
            return Err(Stop::Rollback(report));
        }
        report.committed = true;
        ctx.audit(
            c,
            "member.import",
            ("organization", &scope.id),
            Some(&scope.id),
            None,
            Some(json!({
                "source": opts.source_name,
                "format": match format { Format::Csv => "csv", Format::Xlsx => "xlsx" },
                "partial": report.partial,
                "rows": report.rows,
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected,
            })),
        )
        .map_err(|e| Stop::App(e.into()))?;
        Ok(report)
    });
    match outcome {
        Ok(report) | Err(Stop::Rollback(report)) => Ok(report),
        Err(Stop::App(e)) => Err(e),
    }
}

/// Ends the import transaction: with a report to roll back, or with an error.
enum Stop {
    Rollback(ImportReport),
    App(AppError),
}

impl From<diesel::result::Error> for Stop {
    fn from(e: diesel::result::Error) -> Self {
        Stop::App(e.into())
    }
}

/// The report of a failed import as an error body: each issue named `rows[<n>].<column>`.
pub fn invalid(report: &ImportReport) -> AppError {
    AppError::ImportInvalid(
        report
            .issues
            .iter()
            .map(|i| FieldError {
                field: if i.row == 0 {
                    "file".into()
                } else {
                    format!("rows[{}].{}", i.row, i.column)
                },
                code: i.code.clone(),
                message: i.message.clone(),
            })
            .collect(),
    )
}

enum Outcome {
    Created,
    Updated,
    Unchanged,
    Rejected(Vec<(Col, &'static str, String)>),
}

struct Importer<'c, 'x> {
    conn: &'c mut AnyConnection,
    ctx: &'x Ctx<'x>,
    pii: &'x Pii,
    today: NaiveDate,
    scope: OrgFacts,
    columns: Vec<Option<Col>>,
    /// Branch code → org id, or the refusal (code, message).
    branches: HashMap<String, Result<String, (&'static str, String)>>,
    /// Blind-index prefix → the first row that had it.
    seen_ids: HashMap<u128, u64>,
    seen_phones: HashMap<u128, u64>,
    report: ImportReport,
    file_problem: bool,
    fatal: Option<AppError>,
    progress: &'x mut dyn FnMut(u64),
}

fn key(bidx: &str) -> u128 {
    bidx.get(..32)
        .and_then(|h| u128::from_str_radix(h, 16).ok())
        .unwrap_or_default()
}

/// Dates as rosters write them: 2020-01-02, 2020/1/2, 2020.1.2, 20200102, 2020年1月2日.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDate::parse_from_str(s, "%Y%m%d").ok();
    }
    let normalized: String = s
        .trim_end_matches('日')
        .chars()
        .map(|c| match c {
            '/' | '.' | '年' | '月' => '-',
            c => c,
        })
        .collect();
    // A trailing time ("2020-01-02 00:00:00") is what some exports append.
    let date_part = normalized.split_whitespace().next().unwrap_or_default();
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d").ok()
}

fn show(cell: &Cell) -> String {
    match cell {
        Cell::Empty => String::new(),
        Cell::Text(s) | Cell::Other(s) => s.clone(),
        Cell::Number(n) => n.to_string(),
        Cell::Date(d) => d.to_string(),
    }
}

/// An integral number cell as digits (phones and codes typed as numbers lose nothing).
fn integral(n: f64) -> Option<String> {
    (n.fract() == 0.0 && (0.0..1e15).contains(&n)).then(|| format!("{n:.0}"))
}

type Issues = Vec<(Col, &'static str, String)>;

impl Importer<'_, '_> {
    fn file_issue(&mut self, row: u64, column: &str, code: &str, message: String) {
        self.file_problem = true;
        self.push_issue(ImportIssue {
            row,
            column: column.into(),
            code: code.into(),
            message,
        });
    }

    fn push_issue(&mut self, issue: ImportIssue) {
        if self.report.issues.len() < MAX_ISSUES {
            self.report.issues.push(issue);
        } else {
            self.report.issues_truncated = true;
        }
    }

    fn cell<'a>(&self, cells: &'a [Cell], col: Col) -> &'a Cell {
        self.columns
            .iter()
            .position(|c| *c == Some(col))
            .and_then(|i| cells.get(i))
            .unwrap_or(&Cell::Empty)
    }

    fn text(&self, cells: &[Cell], col: Col, max: usize, issues: &mut Issues) -> Option<String> {
        let s = match self.cell(cells, col) {
            Cell::Empty => return None,
            Cell::Number(n) => integral(*n).unwrap_or_else(|| n.to_string()),
            other => show(other),
        };
        if s.chars().count() > max {
            issues.push((
                col,
                "too_long",
                format!("「{}」最多 {max} 个字符。", col.header()),
            ));
        }
        if s.chars().any(char::is_control) {
            issues.push((
                col,
                "invalid_text",
                format!("「{}」含有控制字符。", col.header()),
            ));
        }
        Some(s)
    }

    fn date(&self, cells: &[Cell], col: Col, issues: &mut Issues) -> Option<NaiveDate> {
        match self.cell(cells, col) {
            Cell::Empty => None,
            Cell::Date(d) => Some(*d),
            Cell::Text(s) => {
                let d = parse_date(s);
                if d.is_none() {
                    issues.push((
                        col,
                        "bad_date",
                        format!(
                            "「{}」不是有效日期：{s}（可写作 2020-01-02、2020/1/2 或 2020年1月2日）。",
                            col.header()
                        ),
                    ));
                }
                d
            }
            other => {
                issues.push((
                    col,
                    "bad_date",
                    format!(
                        "「{}」不是有效日期：{}（请设置为日期格式或按 2020-01-02 填写文本）。",
                        col.header(),
                        show(other)
                    ),
                ));
                None
            }
        }
    }

    /// The branch a row goes to: its 所在支部 code, or the import's organization.
    fn branch(&mut self, code: Option<&str>) -> AppResult<Result<String, (&'static str, String)>> {
        let Some(code) = code else {
            return Ok(match service::branch_usable(&self.scope) {
                Ok(()) => Ok(self.scope.id.clone()),
                Err(_) => Err((
                    "branch_required",
                    format!(
                        "{}不是党支部，须在「所在支部」填写党员所在支部的组织代码。",
                        self.scope.name
                    ),
                )),
            });
        };
        if let Some(hit) = self.branches.get(code) {
            return Ok(hit.clone());
        }
        let resolved = match store::org_by_code(self.conn, code)? {
            Some(org) if store::is_within(self.conn, &self.scope.id, &org.id)? => {
                match service::branch_usable(&org) {
                    Ok(()) => Ok(org.id),
                    Err(_) => Err((
                        "not_a_branch",
                        format!("{}（{code}）不是可管理党员的党支部，或已撤销。", org.name),
                    )),
                }
            }
            _ => Err((
                "unknown_branch",
                format!("组织代码 {code} 不存在或不在{}之下。", self.scope.name),
            )),
        };
        // Bounded by the organizations in scope, not by the rows.
        self.branches.insert(code.to_string(), resolved.clone());
        Ok(resolved)
    }

    fn process(&mut self, row_no: u64, cells: &[Cell]) -> AppResult<Outcome> {
        let mut issues: Issues = Vec::new();
        let name = self.text(cells, Col::Name, 50, &mut issues);
        if name.is_none() {
            issues.push((Col::Name, "required", "「姓名」不能为空。".into()));
        }
        let gender = match self.text(cells, Col::Gender, 4, &mut issues).as_deref() {
            None => None,
            Some("男") | Some("male") => Some(Gender::Male),
            Some("女") | Some("female") => Some(Gender::Female),
            Some(other) => {
                issues.push((
                    Col::Gender,
                    "bad_gender",
                    format!("「性别」应为男或女：{other}。"),
                ));
                None
            }
        };
        let ethnicity = self.text(cells, Col::Ethnicity, 20, &mut issues);
        let id_number = match self.cell(cells, Col::IdNumber) {
            Cell::Empty => {
                issues.push((
                    Col::IdNumber,
                    "required",
                    "「公民身份号码」不能为空。".into(),
                ));
                None
            }
            Cell::Number(n) => {
                issues.push((
                    Col::IdNumber,
                    "id_number_not_text",
                    format!(
                        "「公民身份号码」单元格是数字格式（{}），末几位和 X 已经丢失；请将该列设为文本格式后重新填写。",
                        integral(*n).unwrap_or_else(|| n.to_string())
                    ),
                ));
                None
            }
            other => match IdNumber::parse(&show(other)) {
                Ok(id) => Some(id),
                Err(e) => {
                    issues.push((
                        Col::IdNumber,
                        "invalid_id_number",
                        format!("「公民身份号码」无效：{e}。"),
                    ));
                    None
                }
            },
        };
        let phone = match self.text(cells, Col::Phone, 32, &mut issues) {
            None => None,
            Some(p) => match service::normalized_phone(&p) {
                Ok(p) => Some(p),
                Err(_) => {
                    issues.push((
                        Col::Phone,
                        "invalid_phone",
                        format!("「手机号码」格式不正确：{p}。"),
                    ));
                    None
                }
            },
        };
        let education = self.text(cells, Col::Education, 50, &mut issues);
        let work_unit = self.text(cells, Col::WorkUnit, 200, &mut issues);
        let note = self.text(cells, Col::Note, 500, &mut issues);
        let status_text = self.text(cells, Col::Status, 20, &mut issues);
        let status = match status_text.as_deref() {
            None => {
                issues.push((Col::Status, "required", "「人员类别」不能为空。".into()));
                None
            }
            Some(s) => {
                let st = MemberStatus::parse_zh(s);
                if st.is_none() {
                    issues.push((
                        Col::Status,
                        "unknown_status",
                        format!(
                            "「人员类别」应为申请人、积极分子、发展对象、预备党员或正式党员：{s}。"
                        ),
                    ));
                }
                st
            }
        };
        let stages = Stages {
            applied_on: self.date(cells, Col::Applied, &mut issues),
            activist_on: self.date(cells, Col::Activist, &mut issues),
            candidate_on: self.date(cells, Col::Candidate, &mut issues),
            probationary_on: self.date(cells, Col::Probationary, &mut issues),
            regularized_on: self.date(cells, Col::Regularized, &mut issues),
        };
        let code = self.text(cells, Col::Branch, 64, &mut issues);
        let org_id = match self.branch(code.as_deref())? {
            Ok(id) => Some(id),
            Err((c, m)) => {
                issues.push((Col::Branch, c, m));
                None
            }
        };
        let (Some(name), Some(id_number), Some(status), Some(org_id), true) =
            (name, id_number, status, org_id, issues.is_empty())
        else {
            return Ok(Outcome::Rejected(issues));
        };

        let mut errors = Vec::new();
        let (gender, birth_date) = service::identity(&id_number, gender, None, &mut errors);
        errors.extend(rules::check_record(
            status,
            &stages,
            Some(birth_date),
            0,
            self.today,
        ));
        if !errors.is_empty() {
            return Ok(Outcome::Rejected(
                errors
                    .into_iter()
                    .map(|e| (Col::of_field(&e.field), "invalid_record", e.message))
                    .collect(),
            ));
        }

        let id_bidx = self.pii.blind_index(Field::IdNumber, id_number.as_str());
        if let Some(first) = self.seen_ids.get(&key(&id_bidx)) {
            return Ok(Outcome::Rejected(vec![(
                Col::IdNumber,
                "duplicate_in_file",
                format!("「公民身份号码」与第 {first} 行重复。"),
            )]));
        }
        let phone_bidx = phone
            .as_deref()
            .map(|p| self.pii.blind_index(Field::Phone, p));
        if let Some(b) = &phone_bidx
            && let Some(first) = self.seen_phones.get(&key(b))
        {
            return Ok(Outcome::Rejected(vec![(
                Col::Phone,
                "duplicate_in_file",
                format!("「手机号码」与第 {first} 行重复。"),
            )]));
        }
        self.seen_ids.insert(key(&id_bidx), row_no);
        if let Some(b) = &phone_bidx {
            self.seen_phones.insert(key(b), row_no);
        }

        let draft = Draft {
            org_id,
            party_group_id: None,
            name: name.trim().to_string(),
            gender,
            birth_date,
            ethnicity: ethnicity.clone().unwrap_or_else(|| "汉族".into()),
            id_number,
            phone,
            education,
            work_unit,
            note,
            status,
            stages,
        };
        match store::find_by_id_number_bidx(self.conn, &id_bidx)? {
            None => self.create(&draft),
            Some(existing) => self.merge(existing, &draft, ethnicity.is_some()),
        }
    }

    fn create(&mut self, draft: &Draft) -> AppResult<Outcome> {
        if let Some(b) = draft
            .phone
            .as_deref()
            .map(|p| self.pii.blind_index(Field::Phone, p))
            && store::find_by_phone_bidx(self.conn, &b)?.is_some()
        {
            return Ok(Outcome::Rejected(vec![(
                Col::Phone,
                "phone_taken",
                service::PHONE_TAKEN.into(),
            )]));
        }
        let (ctx, pii) = (self.ctx, self.pii);
        // A savepoint per row: a refused row (say, a phone another account uses) leaves
        // the rows before it in place.
        let inserted = self
            .conn
            .transaction(|c| service::insert_draft(c, ctx, pii, draft));
        match inserted {
            Ok(_) => Ok(Outcome::Created),
            Err(AppError::Conflict { detail, .. }) => {
                let col = if detail == ID_NUMBER_TAKEN {
                    Col::IdNumber
                } else {
                    Col::Phone
                };
                Ok(Outcome::Rejected(vec![(col, "already_exists", detail)]))
            }
            Err(e) => Err(e),
        }
    }

    fn merge(
        &mut self,
        existing: MemberRow,
        d: &Draft,
        ethnicity_given: bool,
    ) -> AppResult<Outcome> {
        if existing.org_id != d.org_id {
            return Ok(Outcome::Rejected(vec![(
                Col::IdNumber,
                "member_in_other_branch",
                "该人员已在其他支部的名册中；调整所在支部须办理组织关系转接。".into(),
            )]));
        }
        let on_record = MemberStatus::parse(&existing.status);
        if on_record != Some(d.status) {
            let label = on_record.map_or("未知", MemberStatus::label_zh);
            return Ok(Outcome::Rejected(vec![(
                Col::Status,
                "status_differs",
                format!(
                    "名册中该人员为{label}，与文件中的{}不一致；人员类别的变更须通过发展党员流程办理。",
                    d.status.label_zh()
                ),
            )]));
        }
        let mut next = existing.clone();
        next.name = d.name.clone();
        next.gender = d.gender.as_str().into();
        next.birth_date = Some(d.birth_date);
        if ethnicity_given {
            next.ethnicity = d.ethnicity.clone();
        }
        let keep = |given: &Option<String>, cur: &Option<String>| given.clone().or(cur.clone());
        next.education = keep(&d.education, &existing.education);
        next.work_unit = keep(&d.work_unit, &existing.work_unit);
        next.note = keep(&d.note, &existing.note);
        next.applied_on = d.stages.applied_on.or(existing.applied_on);
        next.activist_on = d.stages.activist_on.or(existing.activist_on);
        next.candidate_on = d.stages.candidate_on.or(existing.candidate_on);
        next.probationary_on = d.stages.probationary_on.or(existing.probationary_on);
        next.regularized_on = d.stages.regularized_on.or(existing.regularized_on);
        let mut new_phone = None;
        if let Some(p) = &d.phone {
            let b = self.pii.blind_index(Field::Phone, p);
            if existing.phone_bidx.as_deref() != Some(b.as_str()) {
                if store::find_by_phone_bidx(self.conn, &b)?.is_some_and(|o| o != existing.id) {
                    return Ok(Outcome::Rejected(vec![(
                        Col::Phone,
                        "phone_taken",
                        service::PHONE_TAKEN.into(),
                    )]));
                }
                next.phone_enc = Some(
                    self.pii
                        .encrypt(Field::Phone, &existing.id, p)
                        .map_err(AppError::Internal)?,
                );
                next.phone_bidx = Some(b);
                new_phone = Some(p.clone());
            }
        }
        if next == existing {
            return Ok(Outcome::Unchanged);
        }
        let stages = Stages {
            applied_on: next.applied_on,
            activist_on: next.activist_on,
            candidate_on: next.candidate_on,
            probationary_on: next.probationary_on,
            regularized_on: next.regularized_on,
        };
        let ext = next
            .probation_extension_months
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0);
        let errors = rules::check_record(d.status, &stages, next.birth_date, ext, self.today);
        if !errors.is_empty() {
            return Ok(Outcome::Rejected(
                errors
                    .into_iter()
                    .map(|e| (Col::of_field(&e.field), "invalid_record", e.message))
                    .collect(),
            ));
        }
        next.version = existing.version + 1;
        next.updated_at = self.ctx.now;
        let (ctx, pii) = (self.ctx, self.pii);
        let written = self.conn.transaction(|c| {
            if !store::update_versioned(c, &next, existing.version)? {
                return Err(AppError::VersionConflict);
            }
            let before = service::snapshot(pii, &existing)?;
            let after = service::snapshot(pii, &next)?;
            let (b, a) = changed(&before, &after);
            ctx.audit(
                c,
                "member.update",
                ("member", &next.id),
                Some(&next.org_id),
                Some(b),
                Some(a),
            )?;
            if let Some(phone) = &new_phone {
                crate::accounts::provision_member_account(
                    c, pii, &next.id, &next.name, phone, ctx.now,
                )?;
            }
            Ok(())
        });
        match written {
            Ok(()) => Ok(Outcome::Updated),
            Err(AppError::Conflict { detail, .. }) => Ok(Outcome::Rejected(vec![(
                Col::Phone,
                "already_exists",
                detail,
            )])),
            Err(e) => Err(e),
        }
    }
}

/// The fields of two snapshots that differ.
fn changed(
    before: &serde_json::Value,
    after: &serde_json::Value,
) -> (serde_json::Value, serde_json::Value) {
    let (mut b, mut a) = (serde_json::Map::new(), serde_json::Map::new());
    if let (Some(bm), Some(am)) = (before.as_object(), after.as_object()) {
        for (k, av) in am {
            let bv = bm.get(k).cloned().unwrap_or_default();
            if &bv != av && k != "version" {
                b.insert(k.clone(), bv);
                a.insert(k.clone(), av.clone());
            }
        }
    }
    (b.into(), a.into())
}

impl RowSink for Importer<'_, '_> {
    fn header(&mut self, row: u64, cells: Vec<Cell>) -> Result<(), SourceError> {
        self.columns = cells
            .iter()
            .map(|c| match c {
                Cell::Text(s) => Col::parse(s),
                _ => None,
            })
            .collect();
        for col in Col::ALL {
            let count = self.columns.iter().filter(|c| **c == Some(col)).count();
            if col.required() && count == 0 {
                self.file_issue(
                    row,
                    col.header(),
                    "missing_column",
                    format!("缺少必需的列「{}」。", col.header()),
                );
            }
            if count > 1 {
                self.file_issue(
                    row,
                    col.header(),
                    "duplicate_column",
                    format!("列「{}」出现了多次。", col.header()),
                );
            }
        }
        if self.file_problem {
            return Err(SourceError::Stopped);
        }
        Ok(())
    }

    fn row(&mut self, row: u64, cells: Vec<Cell>) -> Result<(), SourceError> {
        self.report.rows += 1;
        match self.process(row, &cells) {
            Ok(Outcome::Created) => self.report.created += 1,
            Ok(Outcome::Updated) => self.report.updated += 1,
            Ok(Outcome::Unchanged) => self.report.unchanged += 1,
            Ok(Outcome::Rejected(issues)) => {
                self.report.rejected += 1;
                for (col, code, message) in issues {
                    self.push_issue(ImportIssue {
                        row,
                        column: col.header().into(),
                        code: code.into(),
                        message,
                    });
                }
            }
            Err(e) => {
                self.fatal = Some(e);
                return Err(SourceError::Stopped);
            }
        }
        if self.report.rows.is_multiple_of(100) {
            (self.progress)(self.report.rows);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// A secretary preparing a roster reads the columns in the README; a column the code
    /// knows but the README does not name is one nobody fills in.
    #[test]
    fn the_readme_names_every_column() {
        let readme = include_str!("../../../README.md");
        for col in Col::ALL {
            assert!(
                readme.contains(col.header()),
                "README lacks {}",
                col.header()
            );
            if col.required() {
                assert!(
                    readme.contains(&format!("{}\\*", col.header())),
                    "README must mark {} required",
                    col.header()
                );
            }
        }
    }

    #[test]
    fn roster_dates() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        for s in [
            "2020-01-02",
            "2020/1/2",
            "2020.01.02",
            "20200102",
            "2020年1月2日",
            "2020-01-02 00:00:00",
        ] {
            assert_eq!(parse_date(s), d("2020-01-02"), "{s}");
        }
        for s in ["2020-13-01", "2020.07", "昨天", "2020-02-30"] {
            assert_eq!(parse_date(s), None, "{s}");
        }
    }

    #[test]
    fn headers_and_aliases() {
        assert_eq!(Col::parse(" 公民身份号码* "), Some(Col::IdNumber));
        assert_eq!(Col::parse("身份证号"), Some(Col::IdNumber));
        assert_eq!(Col::parse("\u{feff}姓名"), Some(Col::Name));
        assert_eq!(Col::parse("籍贯"), None);
    }

    #[test]
    fn integral_numbers_keep_their_digits() {
        assert_eq!(integral(13800138000.0).as_deref(), Some("13800138000"));
        assert_eq!(integral(1.5), None);
    }
}
