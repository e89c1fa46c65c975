//! Organization logic: authorization, tree rules, term defaults, audit. Each function
//! runs its checks and its change in one write transaction.

use chrono::{Months, NaiveDate};
use diesel::prelude::*;
use hongying_proto::orgs::{
    AddPost, CreateOrg, EndPost, MoveOrg, Org, OrgDetail, OrgDomain, OrgKind, OrgPost, OrgStatus,
    PostKind, SubtreeQuery, UpdateOrg,
};
use hongying_proto::{ErrorCode, Page, PageQuery};
use serde_json::{Map, Value, json};

use super::{Ctx, cursor};
use crate::auth::{Principal, Role};
use crate::authz::{can_read_org, org_in_scope, require_manage_org, require_read_org};
use crate::db::{AnyConnection, Backend, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::store::orgs::{self as store, NewOrg, OrgChanges, OrgRow, PostRow, SubtreeFilter};

/// Roles that may change a branch's name and address but nothing structural.
const BRANCH_LEADERS: [Role; 2] = [Role::BranchSecretary, Role::BranchCommittee];

/// Key of the PostgreSQL advisory lock guarding the tree's shape: creates take it shared,
/// moves exclusive, so a create never links a child to ancestors a concurrent move is
/// rewriting, and two moves cannot build a cycle. (SQLite writers are serialized already.)
const TREE_LOCK: i64 = 0x6f72_675f_7472_6565;

fn lock_tree(conn: &mut AnyConnection, exclusive: bool) -> QueryResult<()> {
    if conn.backend() == Backend::Postgres {
        let f = if exclusive {
            "pg_advisory_xact_lock"
        } else {
            "pg_advisory_xact_lock_shared"
        };
        diesel::sql_query(format!("SELECT {f}({TREE_LOCK})")).execute(conn)?;
    }
    Ok(())
}

/// 发文简称 in effect: the one set, else the first character of the name once the party's
/// own prefix is off (中共堂街镇委员会 → 堂, 平顶山市委 → 平). Taking the name's first character
/// as it stands made every letter 中组字, the Central Organization Department's own prefix.
pub fn letter_abbr(name: &str, set: Option<&str>) -> String {
    if let Some(abbr) = set.filter(|a| !a.is_empty()) {
        return abbr.to_string();
    }
    let bare = ["中国共产党", "中共"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    bare.chars().next().map(String::from).unwrap_or_default()
}

/// A 发文简称 as given: Chinese characters only, since it stands in a serial.
fn checked_letter_abbr(v: &str) -> AppResult<String> {
    let v = v.trim();
    let n = v.chars().count();
    if (1..=4).contains(&n) && v.chars().all(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
        Ok(v.to_string())
    } else {
        Err(AppError::invalid(
            "letter_abbr",
            "format",
            "发文简称须为 1 到 4 个汉字。",
        ))
    }
}

/// The wire form of a stored row.
pub fn to_proto(r: OrgRow) -> AppResult<Org> {
    let bad = |what: &str, v: &str| AppError::Internal(anyhow::anyhow!("stored org {what} {v:?}"));
    let kind = OrgKind::parse(&r.kind).ok_or_else(|| bad("kind", &r.kind))?;
    let domain = OrgDomain::parse(&r.domain).ok_or_else(|| bad("domain", &r.domain))?;
    let status = OrgStatus::parse(&r.status).ok_or_else(|| bad("status", &r.status))?;
    let abbr = letter_abbr(&r.name, r.letter_abbr.as_deref());
    Ok(Org {
        id: r.id,
        code: r.code,
        name: r.name,
        kind,
        kind_label_zh: kind.label_zh().into(),
        domain,
        domain_label_zh: domain.label_zh().into(),
        parent_id: r.parent_id,
        depth: r.depth,
        status,
        status_label_zh: status.label_zh().into(),
        can_approve_members: r.can_approve_members,
        term_start: r.term_start,
        term_end: r.term_end,
        address: r.address,
        letter_abbr: abbr,
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
        version: r.version,
    })
}

fn post_to_proto(p: PostRow, member_name: String) -> AppResult<OrgPost> {
    let post = PostKind::parse(&p.post)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored post {:?}", p.post)))?;
    Ok(OrgPost {
        id: p.id,
        org_id: p.org_id,
        post,
        post_label_zh: post.label_zh().into(),
        member_id: p.member_id,
        member_name,
        since: p.since,
        until: p.until,
    })
}

fn kind_of(r: &OrgRow) -> AppResult<OrgKind> {
    OrgKind::parse(&r.kind)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored org kind {:?}", r.kind)))
}

/// The end of a term started on `start` in `domain`: 5 years for 村、社区, else 3.
pub fn default_term_end(domain: OrgDomain, start: NaiveDate) -> NaiveDate {
    start
        .checked_add_months(Months::new(12 * domain.default_term_years()))
        .unwrap_or(start)
}

fn check_term(start: Option<NaiveDate>, end: Option<NaiveDate>) -> AppResult<()> {
    match (start, end) {
        (Some(s), Some(e)) if e <= s => Err(AppError::invalid(
            "term_end",
            "term_order",
            "届期结束日期须晚于开始日期。",
        )),
        (None, Some(_)) => Err(AppError::invalid(
            "term_start",
            "required",
            "设置届期结束日期时须同时有开始日期。",
        )),
        _ => Ok(()),
    }
}

/// A 党小组 sits only under a 支部 kind; nothing sits under a 党小组.
fn check_placement(kind: OrgKind, parent: Option<&OrgRow>) -> AppResult<()> {
    let parent_kind = parent.map(kind_of).transpose()?;
    if parent_kind == Some(OrgKind::PartyGroup) {
        return Err(AppError::invalid(
            "parent_id",
            "party_group_parent",
            "党小组下不能再设下级组织。",
        ));
    }
    if kind == OrgKind::PartyGroup && !parent_kind.is_some_and(OrgKind::is_branch) {
        return Err(AppError::invalid(
            "kind",
            "party_group_placement",
            "党小组只能设在党支部（含联合党支部、临时党支部）之下。",
        ));
    }
    Ok(())
}

fn require_normal(parent: &OrgRow) -> AppResult<()> {
    if parent.status != OrgStatus::Normal.as_str() {
        return Err(AppError::Conflict {
            code: ErrorCode::Conflict,
            detail: "上级组织已撤销或合并，不能在其下设立或移入组织。".into(),
        });
    }
    Ok(())
}

/// The version the client read: from the body or `If-Match`; they must agree when both
/// are given.
fn expected_version(body: Option<i32>, if_match: Option<i32>) -> AppResult<i32> {
    match (body, if_match) {
        (Some(b), Some(h)) if b != h => Err(AppError::BadRequest(
            "If-Match 与请求体中的 version 不一致。".into(),
        )),
        (Some(v), _) | (None, Some(v)) => Ok(v),
        (None, None) => Err(AppError::invalid(
            "version",
            "required",
            "须提供读取时的 version（或 If-Match 请求头），以免覆盖他人的修改。",
        )),
    }
}

// --- create and read -------------------------------------------------------------------

/// Creates an organization under `req.parent_id` (a root without one).
pub fn create(conn: &mut AnyConnection, ctx: &Ctx<'_>, req: CreateOrg) -> AppResult<Org> {
    write_tx(conn, |c| {
        lock_tree(c, false)?;
        let parent = match req.parent_id.as_deref() {
            None => {
                if !ctx.principal.is_super_admin() {
                    return Err(AppError::Forbidden);
                }
                None
            }
            Some(p) => {
                require_manage_org(c, ctx.principal, p, &[Role::OrgAdmin])?;
                Some(store::find(c, p)?.ok_or(AppError::NotFound)?)
            }
        };
        let name = req.name.trim();
        if name.is_empty() {
            return Err(AppError::invalid("name", "length", "名称不能为空。"));
        }
        check_placement(req.kind, parent.as_ref())?;
        if let Some(p) = &parent {
            require_normal(p)?;
        }
        let term_end = match (req.term_start, req.term_end) {
            (Some(s), None) => Some(default_term_end(req.domain, s)),
            (_, e) => e,
        };
        check_term(req.term_start, term_end)?;
        let id = new_id();
        let code = match req.code.as_deref().map(str::trim) {
            Some("") => return Err(AppError::invalid("code", "length", "组织代码不能为空。")),
            Some(code) => code.to_string(),
            None => id.replace('-', ""),
        };
        if store::code_taken(c, &code)? {
            return Err(AppError::Conflict {
                code: ErrorCode::AlreadyExists,
                detail: format!("组织代码 {code} 已被使用。"),
            });
        }
        let address = req
            .address
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty());
        let abbr = req
            .letter_abbr
            .as_deref()
            .map(checked_letter_abbr)
            .transpose()?;
        store::insert(
            c,
            &NewOrg {
                id: &id,
                code: &code,
                name,
                kind: req.kind.as_str(),
                domain: req.domain.as_str(),
                parent_id: parent.as_ref().map(|p| p.id.as_str()),
                depth: parent.as_ref().map_or(0, |p| p.depth + 1),
                can_approve_members: req.can_approve_members,
                term_start: req.term_start,
                term_end,
                address,
                letter_abbr: abbr.as_deref(),
                now: ctx.now,
            },
        )?;
        let row = store::find(c, &id)?.ok_or(AppError::NotFound)?;
        ctx.audit(
            c,
            "org.create",
            ("organization", &id),
            Some(&id),
            None,
            Some(snapshot(&row)),
        )?;
        to_proto(row)
    })
}

/// Everything about a row worth recording when it is created.
fn snapshot(r: &OrgRow) -> Value {
    json!({
        "code": r.code,
        "name": r.name,
        "kind": r.kind,
        "domain": r.domain,
        "parent_id": r.parent_id,
        "status": r.status,
        "can_approve_members": r.can_approve_members,
        "term_start": r.term_start,
        "term_end": r.term_end,
        "address": r.address,
        "letter_abbr": r.letter_abbr,
    })
}

/// One organization with its current posts, if the caller may read it (404 otherwise).
pub fn read(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
    today: NaiveDate,
) -> AppResult<OrgDetail> {
    require_read_org(conn, principal, id)?;
    let row = store::find(conn, id)?.ok_or(AppError::NotFound)?;
    let posts = store::current_posts(conn, id, today)?
        .into_iter()
        .map(|(p, name)| post_to_proto(p, name))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(OrgDetail {
        org: to_proto(row)?,
        posts,
    })
}

// --- listing -----------------------------------------------------------------------------

/// Direct children, in creation order.
pub fn children(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
    page: &PageQuery,
) -> AppResult<Page<Org>> {
    require_manage_org(conn, principal, id, &Role::MANAGERS)?;
    let after = page
        .cursor
        .as_deref()
        .map(|c| cursor::decode("org_children", c, 1))
        .transpose()?;
    let limit = cursor::limit(page.limit);
    let rows = store::children(conn, id, after.as_ref().map(|a| a[0].as_str()), limit + 1)?;
    let (rows, next) = cursor::paginate(rows, limit, |r| cursor::encode("org_children", &[&r.id]));
    Ok(Page {
        items: rows.into_iter().map(to_proto).collect::<AppResult<_>>()?,
        next_cursor: next,
    })
}

/// Organizations below `id` matching the query, by depth then creation.
pub fn subtree(
    conn: &mut AnyConnection,
    principal: &Principal,
    id: &str,
    q: &SubtreeQuery,
) -> AppResult<Page<Org>> {
    require_manage_org(conn, principal, id, &Role::MANAGERS)?;
    let after = match q.cursor.as_deref() {
        Some(c) => {
            let parts = cursor::decode("org_subtree", c, 2)?;
            let depth: i32 = parts[0].parse().map_err(|_| AppError::InvalidCursor)?;
            Some((depth, parts[1].clone()))
        }
        None => None,
    };
    let filter = SubtreeFilter {
        name_contains: q
            .q
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        kind: q.kind.map(|k| k.as_str().to_string()),
        domain: q.domain.map(|d| d.as_str().to_string()),
        status: q.status.map(|s| s.as_str().to_string()),
    };
    let limit = cursor::limit(q.limit);
    let rows = store::subtree(
        conn,
        id,
        &filter,
        after.as_ref().map(|(d, i)| (*d, i.as_str())),
        limit + 1,
    )?;
    let (rows, next) = cursor::paginate(rows, limit, |r| {
        cursor::encode("org_subtree", &[&r.depth.to_string(), &r.id])
    });
    Ok(Page {
        items: rows.into_iter().map(to_proto).collect::<AppResult<_>>()?,
        next_cursor: next,
    })
}

// --- update and move -------------------------------------------------------------------

/// Applies a patch. See [`super`] for who may change which fields.
pub fn update(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    id: &str,
    patch: UpdateOrg,
    if_match: Option<i32>,
) -> AppResult<Org> {
    write_tx(conn, |c| {
        if !org_in_scope(c, ctx.principal, id, &[Role::OrgAdmin])? {
            if org_in_scope(c, ctx.principal, id, &BRANCH_LEADERS)? {
                if patch.has_structural_fields() {
                    return Err(AppError::Forbidden);
                }
            } else if can_read_org(c, ctx.principal, id)? {
                return Err(AppError::Forbidden);
            } else {
                return Err(AppError::NotFound);
            }
        }
        let version = expected_version(patch.version, if_match)?;
        let row = store::find(c, id)?.ok_or(AppError::NotFound)?;
        if row.version != version {
            return Err(AppError::VersionConflict);
        }
        let mut changes = OrgChanges::default();
        let mut before = Map::new();
        let mut after = Map::new();
        let mut note = |k: &str, b: Value, a: Value| {
            before.insert(k.into(), b);
            after.insert(k.into(), a);
        };
        if let Some(name) = patch.name.as_deref().map(str::trim) {
            if name.is_empty() {
                return Err(AppError::invalid("name", "length", "名称不能为空。"));
            }
            if name != row.name {
                note("name", json!(row.name), json!(name));
                changes.name = Some(name.to_string());
            }
        }
        if let Some(address) = &patch.address {
            let address = address
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string);
            if address != row.address {
                note("address", json!(row.address), json!(address));
                changes.address = Some(address);
            }
        }
        if let Some(abbr) = &patch.letter_abbr {
            let abbr = abbr.as_deref().map(checked_letter_abbr).transpose()?;
            if abbr != row.letter_abbr {
                note("letter_abbr", json!(row.letter_abbr), json!(abbr));
                changes.letter_abbr = Some(abbr);
            }
        }
        if let Some(status) = patch.status
            && status.as_str() != row.status
        {
            note("status", json!(row.status), json!(status.as_str()));
            changes.status = Some(status.as_str().into());
        }
        if let Some(v) = patch.can_approve_members
            && v != row.can_approve_members
        {
            note(
                "can_approve_members",
                json!(row.can_approve_members),
                json!(v),
            );
            changes.can_approve_members = Some(v);
        }
        let old_domain = OrgDomain::parse(&row.domain)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("stored domain {:?}", row.domain)))?;
        let domain = patch.domain.unwrap_or(old_domain);
        if domain != old_domain {
            note("domain", json!(row.domain), json!(domain.as_str()));
            changes.domain = Some(domain.as_str().into());
        }
        let start = patch.term_start.unwrap_or(row.term_start);
        let end = match (patch.term_start, patch.term_end) {
            (_, Some(e)) => e,
            (Some(Some(s)), None) => Some(default_term_end(domain, s)),
            _ => row.term_end,
        };
        check_term(start, end)?;
        if start != row.term_start {
            note("term_start", json!(row.term_start), json!(start));
            changes.term_start = Some(start);
        }
        if end != row.term_end {
            note("term_end", json!(row.term_end), json!(end));
            changes.term_end = Some(end);
        }
        if after.is_empty() {
            return to_proto(row);
        }
        if !store::update(c, id, version, &changes, ctx.now)? {
            return Err(AppError::VersionConflict);
        }
        ctx.audit(
            c,
            "org.update",
            ("organization", id),
            Some(id),
            Some(Value::Object(before)),
            Some(Value::Object(after)),
        )?;
        to_proto(store::find(c, id)?.ok_or(AppError::NotFound)?)
    })
}

/// Moves an organization with its subtree under another parent.
pub fn move_org(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    id: &str,
    req: MoveOrg,
    if_match: Option<i32>,
) -> AppResult<Org> {
    write_tx(conn, |c| {
        lock_tree(c, true)?;
        require_read_org(c, ctx.principal, id)?;
        let row = store::find(c, id)?.ok_or(AppError::NotFound)?;
        match row.parent_id.as_deref() {
            None if !ctx.principal.is_super_admin() => return Err(AppError::Forbidden),
            Some(old) if !org_in_scope(c, ctx.principal, old, &[Role::OrgAdmin])? => {
                return Err(AppError::Forbidden);
            }
            _ => {}
        }
        let new_parent_id = req.parent_id.trim();
        require_manage_org(c, ctx.principal, new_parent_id, &[Role::OrgAdmin])?;
        let version = expected_version(req.version, if_match)?;
        let new_parent = store::find(c, new_parent_id)?.ok_or(AppError::NotFound)?;
        if store::is_in_subtree(c, id, &new_parent.id)? {
            return Err(AppError::invalid(
                "parent_id",
                "cycle",
                "不能把组织移动到它自身或它的下级组织之下。",
            ));
        }
        check_placement(kind_of(&row)?, Some(&new_parent))?;
        require_normal(&new_parent)?;
        if row.version != version {
            return Err(AppError::VersionConflict);
        }
        if row.parent_id.as_deref() == Some(new_parent.id.as_str()) {
            return to_proto(row);
        }
        let depth_delta = new_parent.depth + 1 - row.depth;
        if !store::move_subtree(c, id, &new_parent.id, version, depth_delta, ctx.now)? {
            return Err(AppError::VersionConflict);
        }
        ctx.audit(
            c,
            "org.move",
            ("organization", id),
            Some(id),
            Some(json!({ "parent_id": row.parent_id, "depth": row.depth })),
            Some(json!({ "parent_id": new_parent.id, "depth": row.depth + depth_delta })),
        )?;
        to_proto(store::find(c, id)?.ok_or(AppError::NotFound)?)
    })
}

// --- posts -------------------------------------------------------------------------------

/// Who may appoint: org admins in scope; for a 党小组 also its branch's leaders.
fn authorize_posts(
    c: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
) -> AppResult<OrgRow> {
    require_read_org(c, principal, org_id)?;
    let org = store::find(c, org_id)?.ok_or(AppError::NotFound)?;
    let roles: &[Role] = if kind_of(&org)? == OrgKind::PartyGroup {
        &Role::MANAGERS
    } else {
        &[Role::OrgAdmin]
    };
    require_manage_org(c, principal, org_id, roles)?;
    Ok(org)
}

/// Whether a member belongs to `org` directly or through one of its party groups.
fn member_belongs(
    c: &mut AnyConnection,
    member_id: &str,
    org: &OrgRow,
) -> AppResult<Option<String>> {
    let Some((member_org, group, name)) = store::member_placement(c, member_id)? else {
        return Ok(None);
    };
    if member_org == org.id || group.as_deref() == Some(org.id.as_str()) {
        return Ok(Some(name));
    }
    for candidate in [Some(member_org), group].into_iter().flatten() {
        if let Some(g) = store::find(c, &candidate)?
            && g.kind == OrgKind::PartyGroup.as_str()
            && g.parent_id.as_deref() == Some(org.id.as_str())
        {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// A member of the organization (or of one of its party groups) takes a post.
pub fn add_post(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    org_id: &str,
    req: AddPost,
) -> AppResult<OrgPost> {
    write_tx(conn, |c| {
        let org = authorize_posts(c, ctx.principal, org_id)?;
        let is_group = kind_of(&org)? == OrgKind::PartyGroup;
        if is_group != (req.post == PostKind::GroupLeader) {
            return Err(AppError::invalid(
                "post",
                "post_kind",
                if is_group {
                    "党小组只设组长。"
                } else {
                    "组长职务只能设在党小组。"
                },
            ));
        }
        let Some(member_name) = member_belongs(c, &req.member_id, &org)? else {
            return Err(AppError::invalid(
                "member_id",
                "not_in_org",
                "该党员不属于本组织或其党小组，不能任职。",
            ));
        };
        let since = req.since.unwrap_or_else(|| ctx.today());
        let open = store::open_posts_of_kind(c, org_id, req.post.as_str())?;
        if open.iter().any(|p| p.member_id == req.member_id) {
            return Err(AppError::Conflict {
                code: ErrorCode::AlreadyExists,
                detail: format!("该党员已在任{}。", req.post.label_zh()),
            });
        }
        if req.post.is_single_holder() && !open.is_empty() {
            return Err(AppError::Conflict {
                code: ErrorCode::Conflict,
                detail: format!("{}已有在任人员，请先免去原任职。", req.post.label_zh()),
            });
        }
        let row = PostRow {
            id: new_id(),
            org_id: org_id.to_string(),
            post: req.post.as_str().to_string(),
            member_id: req.member_id.clone(),
            since,
            until: None,
            created_at: ctx.now,
        };
        store::insert_post(c, &row)?;
        ctx.audit(
            c,
            "org.post.add",
            ("org_post", &row.id),
            Some(org_id),
            None,
            Some(json!({ "member_id": row.member_id, "post": row.post, "since": row.since })),
        )?;
        post_to_proto(row, member_name)
    })
}

/// The holder leaves the post.
pub fn end_post(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    org_id: &str,
    post_id: &str,
    req: EndPost,
) -> AppResult<OrgPost> {
    write_tx(conn, |c| {
        authorize_posts(c, ctx.principal, org_id)?;
        let post = store::find_post(c, org_id, post_id)?.ok_or(AppError::NotFound)?;
        if post.until.is_some() {
            return Err(AppError::Conflict {
                code: ErrorCode::Conflict,
                detail: "该任职已经结束。".into(),
            });
        }
        let until = req.until.unwrap_or_else(|| ctx.today());
        if until < post.since {
            return Err(AppError::invalid(
                "until",
                "before_since",
                "离任日期不能早于任职日期。",
            ));
        }
        if !store::end_post(c, post_id, until)? {
            return Err(AppError::Conflict {
                code: ErrorCode::Conflict,
                detail: "该任职已经结束。".into(),
            });
        }
        ctx.audit(
            c,
            "org.post.end",
            ("org_post", post_id),
            Some(org_id),
            Some(json!({ "until": null })),
            Some(json!({ "until": until })),
        )?;
        let name = store::member_placement(c, &post.member_id)?
            .map(|(_, _, n)| n)
            .unwrap_or_default();
        post_to_proto(
            PostRow {
                until: Some(until),
                ..post
            },
            name,
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn terms_default_by_domain() {
        assert_eq!(
            default_term_end(OrgDomain::Rural, d("2024-03-01")),
            d("2029-03-01")
        );
        assert_eq!(
            default_term_end(OrgDomain::Community, d("2024-03-01")),
            d("2029-03-01")
        );
        assert_eq!(
            default_term_end(OrgDomain::Agency, d("2024-03-01")),
            d("2027-03-01")
        );
        // A leap day ends on the last day of February.
        assert_eq!(
            default_term_end(OrgDomain::School, d("2024-02-29")),
            d("2027-02-28")
        );
    }

    #[test]
    fn version_comes_from_body_or_header() {
        assert_eq!(expected_version(Some(3), None).unwrap(), 3);
        assert_eq!(expected_version(None, Some(4)).unwrap(), 4);
        assert_eq!(expected_version(Some(5), Some(5)).unwrap(), 5);
        assert!(matches!(
            expected_version(Some(5), Some(6)),
            Err(AppError::BadRequest(_))
        ));
        assert!(matches!(
            expected_version(None, None),
            Err(AppError::Validation(_))
        ));
    }
}
