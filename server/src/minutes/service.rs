//! Writing the record: points, summary and resolutions, sign-off, submission, review,
//! attachments. Each change runs with its checks and its audit row in one transaction.

use hongying_proto::ErrorCode;
use hongying_proto::meetings::MeetingStatus;
use hongying_proto::minutes::{
    AddPoint, AttachmentMeta, MinutePoint, MinutesRecord, PutMinutes, ReviewMinutes, SignAs,
};
use serde_json::json;

use super::attachments::{self, Kind};
use super::record::{self, ATTACHMENT_OWNER};
use crate::auth::{Principal, Role};
use crate::authz::org_in_scope;
use crate::config::MeetingsConfig;
use crate::db::schema::{members, organizations};
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::meetings::lifecycle::{self, Action};
use crate::meetings::{self, Ctx};
use crate::motions::tally;
use crate::store::meetings::{self as meetings_store, MeetingRow, StatusChange};
use crate::store::minutes::{self as store, AttachmentRow, MinutesRow, PointRow};
use diesel::prelude::*;

fn status(m: &MeetingRow) -> AppResult<MeetingStatus> {
    MeetingStatus::parse(&m.status)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored meeting status {:?}", m.status)))
}

fn unique_violation(e: &AppError) -> bool {
    matches!(e, AppError::Internal(err) if err.downcast_ref::<diesel::result::Error>().is_some_and(|d| {
        matches!(
            d,
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            )
        )
    }))
}

/// A write transaction, run once more if it lost a race on a unique key (two first writes
/// creating the minutes row, two points taking the same sequence number): the second run
/// sees what the winner committed.
fn retrying<T>(
    conn: &mut AnyConnection,
    f: impl Fn(&mut AnyConnection) -> AppResult<T>,
) -> AppResult<T> {
    match write_tx(conn, &f) {
        Err(e) if unique_violation(&e) => write_tx(conn, &f),
        other => other,
    }
}

/// The record may be written while the meeting runs or has ended, until it is submitted.
fn require_writable(m: &MeetingRow) -> AppResult<()> {
    match status(m)? {
        MeetingStatus::InProgress | MeetingStatus::Ended => Ok(()),
        MeetingStatus::Draft | MeetingStatus::Scheduled => {
            Err(AppError::conflict("会议尚未开始，还不能记录。"))
        }
        MeetingStatus::Cancelled => Err(AppError::conflict("会议已取消。")),
        MeetingStatus::MinutesSubmitted | MeetingStatus::Reviewed => {
            Err(AppError::conflict("会议记录已提交，不能再修改。"))
        }
    }
}

/// Clears both signatures after a change: they sign what is recorded, not what was.
fn clear_signatures(row: &mut MinutesRow) -> bool {
    let had = row.host_signed_at.is_some() || row.recorder_signed_at.is_some();
    row.host_signed_at = None;
    row.host_signed_by = None;
    row.recorder_signed_at = None;
    row.recorder_signed_by = None;
    had
}

/// The record of a meeting (readers of the meeting).
pub fn read(
    conn: &mut AnyConnection,
    principal: &Principal,
    policy: &MeetingsConfig,
    meeting_id: &str,
    now: chrono::NaiveDateTime,
) -> AppResult<MinutesRecord> {
    let meeting = meetings::load(conn, meeting_id)?;
    meetings::require_read(conn, principal, &meeting)?;
    record::build(conn, &meeting, policy, now)
}

/// Appends a speaker's point. Managers, the host and the recorder.
pub fn add_point(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    meeting_id: &str,
    req: AddPoint,
) -> AppResult<MinutePoint> {
    retrying(conn, |c| {
        let meeting = meetings::load(c, meeting_id)?;
        meetings::require_attendance_keeper(c, ctx.principal, &meeting)?;
        require_writable(&meeting)?;
        let speaker_name = match (&req.speaker_member_id, &req.speaker_name) {
            (Some(id), _) => members::table
                .find(id)
                .select(members::name)
                .first::<String>(c)
                .optional()?
                .ok_or_else(|| {
                    AppError::invalid("speaker_member_id", "unknown_member", "找不到该发言人。")
                })?,
            (None, Some(name)) => name.trim().to_owned(),
            (None, None) => {
                return Err(AppError::invalid(
                    "speaker_name",
                    "required",
                    "须填写发言人（党员编号或姓名）。",
                ));
            }
        };
        if let Some(item) = req.agenda_item {
            let agenda: Vec<serde_json::Value> =
                serde_json::from_str(&meeting.agenda_json).unwrap_or_default();
            if usize::try_from(item).map_or(true, |i| i == 0 || i > agenda.len()) {
                return Err(AppError::invalid(
                    "agenda_item",
                    "unknown_item",
                    "议题序号超出本次会议的议程。",
                ));
            }
        }
        let mut minutes = store::ensure(c, &meeting.id, ctx.now)?;
        if minutes.submitted_at.is_some() {
            return Err(AppError::conflict("会议记录已提交，不能再修改。"));
        }
        let cleared = clear_signatures(&mut minutes);
        minutes.updated_at = ctx.now;
        store::save(c, &minutes)?;
        let row = PointRow {
            id: new_id(),
            meeting_id: meeting.id.clone(),
            seq: store::next_seq(c, &meeting.id)?,
            speaker_member_id: req.speaker_member_id.clone(),
            speaker_name,
            agenda_item: req.agenda_item,
            text: req.text.trim().to_owned(),
            recorded_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
        };
        store::insert_point(c, &row)?;
        ctx.audit(
            c,
            "minutes.point_add",
            ("meeting", &meeting.id),
            Some(&meeting.org_id),
            None,
            Some(json!({
                "seq": row.seq,
                "speaker": row.speaker_name,
                "agenda_item": row.agenda_item,
                "signatures_cleared": cleared,
            })),
        )?;
        Ok(record::point_view(row))
    })
}

/// Replaces the summary and resolutions. Managers, the host and the recorder.
pub fn put(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    policy: &MeetingsConfig,
    meeting_id: &str,
    req: PutMinutes,
) -> AppResult<MinutesRecord> {
    retrying(conn, |c| {
        let meeting = meetings::load(c, meeting_id)?;
        meetings::require_attendance_keeper(c, ctx.principal, &meeting)?;
        require_writable(&meeting)?;
        let mut minutes = store::ensure(c, &meeting.id, ctx.now)?;
        let before = json!({
            "summary": minutes.summary,
            "resolutions": serde_json::from_str::<serde_json::Value>(&minutes.resolutions_json).unwrap_or_default(),
        });
        let resolutions: Vec<String> = req
            .resolutions
            .iter()
            .map(|r| r.trim().to_owned())
            .collect();
        minutes.summary = req
            .summary
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        minutes.resolutions_json =
            serde_json::to_string(&resolutions).map_err(|e| AppError::Internal(e.into()))?;
        let cleared = clear_signatures(&mut minutes);
        minutes.updated_at = ctx.now;
        store::save(c, &minutes)?;
        ctx.audit(
            c,
            "minutes.update",
            ("meeting", &meeting.id),
            Some(&meeting.org_id),
            Some(before),
            Some(json!({
                "summary": minutes.summary,
                "resolutions": resolutions,
                "signatures_cleared": cleared,
            })),
        )?;
        record::build(c, &meeting, policy, ctx.now)
    })
}

/// The host or the recorder signs, as themself, once the meeting has ended. Signing again
/// changes nothing.
pub fn sign(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    policy: &MeetingsConfig,
    meeting_id: &str,
    as_: SignAs,
) -> AppResult<MinutesRecord> {
    retrying(conn, |c| {
        let meeting = meetings::load(c, meeting_id)?;
        meetings::require_read(c, ctx.principal, &meeting)?;
        let (role_member, label) = match as_ {
            SignAs::Host => (meeting.host_member_id.as_deref(), "主持人"),
            SignAs::Recorder => (meeting.recorder_member_id.as_deref(), "记录人"),
        };
        let me = ctx.principal.member_id.as_deref();
        if role_member.is_none() || role_member != me {
            return Err(AppError::Domain {
                status: 403,
                code: ErrorCode::Forbidden,
                detail: format!("只有本次会议的{label}本人可以以{label}身份签字。"),
            });
        }
        match status(&meeting)? {
            MeetingStatus::Ended => {}
            MeetingStatus::MinutesSubmitted | MeetingStatus::Reviewed => {
                return Err(AppError::conflict("会议记录已提交。"));
            }
            _ => return Err(AppError::conflict("会议结束后方可签字。")),
        }
        let mut minutes = store::ensure(c, &meeting.id, ctx.now)?;
        let already = match as_ {
            SignAs::Host => minutes.host_signed_at.is_some(),
            SignAs::Recorder => minutes.recorder_signed_at.is_some(),
        };
        if !already {
            let by = Some(ctx.principal.account_id.clone());
            match as_ {
                SignAs::Host => {
                    minutes.host_signed_by = by;
                    minutes.host_signed_at = Some(ctx.now);
                }
                SignAs::Recorder => {
                    minutes.recorder_signed_by = by;
                    minutes.recorder_signed_at = Some(ctx.now);
                }
            }
            minutes.updated_at = ctx.now;
            store::save(c, &minutes)?;
            ctx.audit(
                c,
                "minutes.sign",
                ("meeting", &meeting.id),
                Some(&meeting.org_id),
                None,
                Some(json!({ "as": match as_ { SignAs::Host => "host", SignAs::Recorder => "recorder" } })),
            )?;
        }
        record::build(c, &meeting, policy, ctx.now)
    })
}

/// Submits the record to the upper organization: the meeting must have ended and both
/// the host and the recorder must have signed. Freezes the quorum at the end and moves
/// the meeting to `minutes_submitted`. Managers of the meeting.
pub fn submit(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    policy: &MeetingsConfig,
    meeting_id: &str,
) -> AppResult<MinutesRecord> {
    retrying(conn, |c| {
        let meeting = meetings::load(c, meeting_id)?;
        meetings::require_manage(c, ctx.principal, &meeting)?;
        let from = status(&meeting)?;
        let to = lifecycle::transition(from, Action::SubmitMinutes)?;
        let mut minutes = store::ensure(c, &meeting.id, ctx.now)?;
        if minutes.host_signed_at.is_none() || minutes.recorder_signed_at.is_none() {
            return Err(AppError::conflict("提交前须由主持人和记录人签字。"));
        }
        let at_end = record::quorum_at_end(c, &meeting, policy)?;
        let snapshot = match (at_end, meeting.ended_at) {
            (Some(q), Some(end)) => Some(tally::snapshot(&q, end)),
            _ => None,
        };
        minutes.quorum_at_end_json = snapshot
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| AppError::Internal(e.into()))?;
        minutes.submitted_by = Some(ctx.principal.account_id.clone());
        minutes.submitted_at = Some(ctx.now);
        minutes.updated_at = ctx.now;
        store::save(c, &minutes)?;
        if !meetings_store::set_status(
            c,
            &meeting.id,
            meeting.version,
            &meeting.status,
            to.as_str(),
            &StatusChange::default(),
            ctx.now,
        )? {
            return Err(AppError::VersionConflict);
        }
        ctx.audit(
            c,
            "meeting.minutes_submit",
            ("meeting", &meeting.id),
            Some(&meeting.org_id),
            Some(json!({ "status": from.as_str() })),
            Some(json!({
                "status": to.as_str(),
                "quorum_at_end": snapshot.as_ref().map(|s| json!({
                    "expected": s.expected,
                    "present_voting": s.present_voting,
                    "quorate": s.quorate,
                })),
            })),
        )?;
        let updated = meetings::load(c, &meeting.id)?;
        record::build(c, &updated, policy, ctx.now)
    })
}

/// Whether the caller manages an organization strictly above the meeting's.
fn is_upper_manager(
    conn: &mut AnyConnection,
    principal: &Principal,
    m: &MeetingRow,
) -> AppResult<bool> {
    if principal.is_super_admin() {
        return Ok(true);
    }
    let parent: Option<String> = organizations::table
        .find(&m.org_id)
        .select(organizations::parent_id)
        .first(conn)?;
    match parent {
        Some(p) => Ok(org_in_scope(conn, principal, &p, &Role::MANAGERS)?),
        None => Ok(false),
    }
}

/// The upper organization reviews submitted minutes (a manager holding an organization
/// strictly above the meeting's). Moves the meeting to `reviewed`.
pub fn review(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    policy: &MeetingsConfig,
    meeting_id: &str,
    req: ReviewMinutes,
) -> AppResult<MinutesRecord> {
    retrying(conn, |c| {
        let meeting = meetings::load(c, meeting_id)?;
        meetings::require_read(c, ctx.principal, &meeting)?;
        if !is_upper_manager(c, ctx.principal, &meeting)? {
            return Err(AppError::Domain {
                status: 403,
                code: ErrorCode::Forbidden,
                detail: "会议记录由上级党组织审阅。".into(),
            });
        }
        let from = status(&meeting)?;
        let to = lifecycle::transition(from, Action::Review)?;
        let mut minutes = store::ensure(c, &meeting.id, ctx.now)?;
        let comment = req
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        minutes.reviewed_by = Some(ctx.principal.account_id.clone());
        minutes.reviewed_at = Some(ctx.now);
        minutes.review_comment = comment.clone();
        minutes.updated_at = ctx.now;
        store::save(c, &minutes)?;
        if !meetings_store::set_status(
            c,
            &meeting.id,
            meeting.version,
            &meeting.status,
            to.as_str(),
            &StatusChange::default(),
            ctx.now,
        )? {
            return Err(AppError::VersionConflict);
        }
        ctx.audit(
            c,
            "meeting.minutes_review",
            ("meeting", &meeting.id),
            Some(&meeting.org_id),
            Some(json!({ "status": from.as_str() })),
            Some(json!({ "status": to.as_str(), "comment": comment })),
        )?;
        let updated = meetings::load(c, &meeting.id)?;
        record::build(c, &updated, policy, ctx.now)
    })
}

/// May the caller attach files to this meeting? Managers, the host and the recorder, while
/// the record is open (not after submission, not for a cancelled meeting).
pub fn check_upload(
    conn: &mut AnyConnection,
    principal: &Principal,
    meeting_id: &str,
) -> AppResult<()> {
    let meeting = meetings::load(conn, meeting_id)?;
    meetings::require_attendance_keeper(conn, principal, &meeting)?;
    match status(&meeting)? {
        MeetingStatus::MinutesSubmitted | MeetingStatus::Reviewed => {
            Err(AppError::conflict("会议记录已提交，不能再添加附件。"))
        }
        MeetingStatus::Cancelled => Err(AppError::conflict("会议已取消。")),
        _ => Ok(()),
    }
}

/// Records an attachment whose content is already stored under `key`.
pub fn add_attachment(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    meeting_id: &str,
    filename: &str,
    kind: Kind,
    sha: &str,
    size: usize,
) -> AppResult<AttachmentMeta> {
    retrying(conn, |c| {
        check_upload(c, ctx.principal, meeting_id)?;
        let meeting = meetings::load(c, meeting_id)?;
        let row = AttachmentRow {
            id: new_id(),
            owner_type: ATTACHMENT_OWNER.into(),
            owner_id: meeting.id.clone(),
            filename: filename.to_owned(),
            content_type: kind.mime.into(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            sha256: sha.to_owned(),
            storage_key: attachments::storage_key(sha),
            uploaded_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
        };
        store::insert_attachment(c, &row)?;
        ctx.audit(
            c,
            "minutes.attachment_add",
            ("meeting", &meeting.id),
            Some(&meeting.org_id),
            None,
            Some(json!({
                "attachment_id": row.id,
                "filename": row.filename,
                "content_type": row.content_type,
                "size_bytes": row.size_bytes,
                "sha256": row.sha256,
            })),
        )?;
        Ok(record::attachment_view(row))
    })
}

/// An attachment's row, for a caller who may read its meeting (404 otherwise).
pub fn attachment_for(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
) -> AppResult<AttachmentRow> {
    let row = store::find_attachment(conn, id)?.ok_or(AppError::NotFound)?;
    if row.owner_type != ATTACHMENT_OWNER {
        return Err(AppError::NotFound);
    }
    let meeting = meetings::load(conn, &row.owner_id)?;
    meetings::require_read(conn, principal, &meeting)?;
    Ok(row)
}
