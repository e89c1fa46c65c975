//! Anonymized FAQ entries: an `org_admin` publishes an answered question without its
//! asker; everyone of the area finds it.

use diesel::prelude::*;
use hongying_proto::ErrorCode;
use hongying_proto::services::{FaqEntry, FaqList, FaqQuery, PublishFaq};
use serde_json::json;

use super::questions::{Viewer, load_for};
use super::{QUESTION, conflict, home_orgs, is_at_or_above, label_or_code, my_expert, utc};
use crate::auth::{Principal, Role};
use crate::authz;
use crate::config::ServicesConfig;
use crate::crypto::pii::{Field, Pii};
use crate::db::schema::org_closure;
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::orgs::Ctx;
use crate::store::services::{self as store, FaqRow};

fn to_proto(conn: &mut AnyConnection, config: &ServicesConfig, r: FaqRow) -> AppResult<FaqEntry> {
    let area_name = crate::store::accounts::org_name(conn, &r.area_org_id)?.unwrap_or_default();
    Ok(FaqEntry {
        category_label: label_or_code(config, &r.category),
        area_name,
        id: r.id,
        area_org_id: r.area_org_id,
        category: r.category,
        question_text: r.question_text,
        answer_text: r.answer_text,
        created_at: utc(r.created_at),
    })
}

/// Removes the asker's name and phone from a text written by or about him.
fn scrub(text: &str, name: &str, phone: Option<&str>) -> String {
    let mut out = text.to_string();
    if name.chars().count() >= 2 {
        out = out.replace(name, "群众");
    }
    if let Some(p) = phone.filter(|p| p.len() >= 5) {
        out = out.replace(p, "***");
    }
    out
}

pub fn publish(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    config: &ServicesConfig,
    pii: &Pii,
    question_id: &str,
    req: PublishFaq,
) -> AppResult<FaqEntry> {
    let p = ctx.principal;
    write_tx(conn, |c| {
        let (q, v) = load_for(c, p, question_id)?;
        if v != Viewer::Admin && !authz::org_in_scope(c, p, &q.area_org_id, &[Role::OrgAdmin])? {
            return Err(AppError::Forbidden);
        }
        if q.first_answer_at.is_none() {
            return Err(conflict(
                ErrorCode::NotAnswered,
                "问题尚未解答，不能发布为常见问题。",
            ));
        }
        if store::faq_of_question(c, &q.id)?.is_some() {
            return Err(conflict(
                ErrorCode::AlreadyExists,
                "该问题已发布为常见问题。",
            ));
        }
        let area = req
            .area_org_id
            .clone()
            .unwrap_or_else(|| q.area_org_id.clone());
        if !is_at_or_above(c, &area, &q.area_org_id)?
            || !authz::org_in_scope(c, p, &area, &[Role::OrgAdmin])?
        {
            return Err(AppError::invalid(
                "area_org_id",
                "area",
                "发布区域须为问题所在区域或其上级，且在您的管理范围内。",
            ));
        }
        let asker = crate::store::accounts::find(c, &q.asker_account_id)?
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("question without its asker")))?;
        let phone = pii
            .decrypt(Field::Phone, &asker.id, &asker.phone_enc)
            .map_err(AppError::Internal)?;
        let answers: Vec<String> = store::messages_of(c, &q.id)?
            .into_iter()
            .filter(|m| m.author_role == "expert")
            .map(|m| m.text)
            .collect();
        let question_text = req.question_text.clone().unwrap_or_else(|| q.text.clone());
        let answer_text = req
            .answer_text
            .clone()
            .unwrap_or_else(|| answers.join("\n\n"));
        let row = FaqRow {
            id: new_id(),
            question_id: q.id.clone(),
            area_org_id: area,
            category: q.category.clone(),
            question_text: scrub(question_text.trim(), &asker.display_name, Some(&phone)),
            answer_text: scrub(answer_text.trim(), &asker.display_name, Some(&phone)),
            published_by: p.account_id.clone(),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        store::insert_faq(c, &row)?;
        ctx.audit(
            c,
            "service.faq_publish",
            (QUESTION, &q.id),
            Some(&row.area_org_id),
            None,
            Some(json!({"faq_id": row.id, "area_org_id": row.area_org_id,
                        "edited": req.question_text.is_some() || req.answer_text.is_some()})),
        )?;
        to_proto(c, config, row)
    })
}

/// The organization a caller searches from, when the query names none.
fn default_org(conn: &mut AnyConnection, p: &Principal) -> AppResult<Option<String>> {
    if let Some(h) = home_orgs(p).into_iter().next() {
        return Ok(Some(h));
    }
    if let Some(e) = my_expert(conn, p)? {
        return Ok(Some(e.org_id));
    }
    Ok(p.orgs_with(&Role::MANAGERS).into_iter().next())
}

/// Whether `org` is a place of the caller: at or above where he lives or serves, or in
/// the scope of his management roles.
fn in_area(conn: &mut AnyConnection, p: &Principal, org: &str) -> AppResult<bool> {
    if authz::org_in_scope(conn, p, org, &Role::MANAGERS)? {
        return Ok(true);
    }
    let mut places = home_orgs(p);
    if let Some(e) = my_expert(conn, p)? {
        places.extend(store::areas_of(conn, &e.id)?.into_iter().map(|(id, _)| id));
        places.push(e.org_id);
    }
    for h in places {
        if is_at_or_above(conn, org, &h)? {
            return Ok(true);
        }
    }
    Ok(false)
}

pub fn search(
    conn: &mut AnyConnection,
    p: &Principal,
    config: &ServicesConfig,
    q: &FaqQuery,
) -> AppResult<FaqList> {
    let org = match &q.org_id {
        Some(o) => o.clone(),
        None => match default_org(conn, p)? {
            Some(o) => o,
            None => return Ok(FaqList { items: Vec::new() }),
        },
    };
    if !in_area(conn, p, &org)? {
        return Err(AppError::NotFound);
    }
    let above: Vec<String> = org_closure::table
        .filter(org_closure::descendant_id.eq(&org))
        .select(org_closure::ancestor_id)
        .load(conn)?;
    let mut rows = store::faqs_at(conn, &above)?;
    if authz::org_in_scope(conn, p, &org, &Role::MANAGERS)? {
        for r in store::faqs_in_subtree(conn, &org)? {
            if !rows.iter().any(|x| x.id == r.id) {
                rows.push(r);
            }
        }
    }
    let words: Vec<String> =
        q.q.as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
    let items = rows
        .into_iter()
        .filter(|r| q.category.as_deref().is_none_or(|c| c == r.category))
        .filter(|r| {
            let hay = format!("{}\n{}", r.question_text, r.answer_text).to_lowercase();
            words.iter().all(|w| hay.contains(w.as_str()))
        })
        .map(|r| to_proto(conn, config, r))
        .collect::<AppResult<_>>()?;
    Ok(FaqList { items })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_askers_name_and_phone_are_removed() {
        assert_eq!(
            scrub(
                "我是王老汉，电话13800001111，玉米叶子发黄",
                "王老汉",
                Some("13800001111")
            ),
            "我是群众，电话***，玉米叶子发黄"
        );
        assert_eq!(scrub("王", "王", None), "王");
    }
}
