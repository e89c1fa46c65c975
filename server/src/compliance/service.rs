//! The compliance calendar: rule versions per locality and the per-branch report.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use hongying_proto::compliance::{
    BranchCompliance, ComplianceQuery, ComplianceReport, ComplianceRule, ComplianceTotals,
    PutComplianceRules, RuleSet,
};
use hongying_proto::meetings::{HeldAs, MeetingKind};
use hongying_proto::motions::QuorumSnapshot;
use hongying_proto::orgs::OrgKind;
use serde_json::json;

use super::rules::{self, BranchFacts, HeldMeeting};
use crate::auth::{Principal, Role};
use crate::authz::{require_manage_org, require_read_org};
use crate::db::{AnyConnection, new_id, write_tx};
use crate::error::{AppError, AppResult};
use crate::meetings::body;
use crate::orgs::{Ctx, cursor};
use crate::store::compliance::{self as store, RulesRow, SubtreeOrg};
use crate::store::minutes as minutes_store;

const CURSOR_TAG: &str = "compliance";

fn parse_rules(row: &RulesRow) -> AppResult<Vec<ComplianceRule>> {
    serde_json::from_str(&row.rules_json)
        .map(rules::resolved)
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored compliance rules: {e}")))
}

fn rule_set(row: Option<&RulesRow>) -> AppResult<RuleSet> {
    Ok(match row {
        Some(r) => RuleSet {
            org_id: r.org_id.clone(),
            version: Some(r.version),
            effective_from: Some(r.effective_from),
            rules: parse_rules(r)?,
            created_by: Some(r.created_by.clone()),
            created_at: Some(r.created_at.and_utc()),
        },
        None => RuleSet {
            org_id: None,
            version: None,
            effective_from: None,
            rules: rules::defaults(),
            created_by: None,
            created_at: None,
        },
    })
}

/// For each organization given, the rule set in force on `on`: the newest version
/// effective by then of the nearest organization above it (itself included) that has one;
/// `None` for the built-in defaults.
fn rule_sets_for(
    conn: &mut AnyConnection,
    orgs: &[String],
    on: NaiveDate,
) -> AppResult<HashMap<String, Option<RulesRow>>> {
    let mut newest: HashMap<String, RulesRow> = HashMap::new();
    for row in store::effective_on(conn, on)? {
        let Some(org) = row.org_id.clone() else {
            continue;
        };
        let newer = newest.get(&org).is_none_or(|cur| {
            (row.effective_from, row.version) > (cur.effective_from, cur.version)
        });
        if newer {
            newest.insert(org, row);
        }
    }
    let holders: Vec<String> = newest.keys().cloned().collect();
    let mut nearest: HashMap<String, (i32, String)> = HashMap::new();
    for (ancestor, descendant, distance) in store::closure_between(conn, &holders, orgs)? {
        let closer = nearest.get(&descendant).is_none_or(|(d, _)| distance < *d);
        if closer {
            nearest.insert(descendant, (distance, ancestor));
        }
    }
    Ok(orgs
        .iter()
        .map(|o| {
            let row = nearest
                .get(o)
                .and_then(|(_, holder)| newest.get(holder))
                .cloned();
            (o.clone(), row)
        })
        .collect())
}

/// Stores a new version of an organization's rule set. `org_admin` in scope.
pub fn put_rules(
    conn: &mut AnyConnection,
    ctx: &Ctx<'_>,
    org_id: &str,
    req: PutComplianceRules,
) -> AppResult<RuleSet> {
    write_tx(conn, |c| {
        require_manage_org(c, ctx.principal, org_id, &[Role::OrgAdmin])?;
        let list = rules::resolved(req.rules.clone());
        let row = RulesRow {
            id: new_id(),
            org_id: Some(org_id.to_owned()),
            version: store::last_version(c, org_id)? + 1,
            rules_json: serde_json::to_string(&list).map_err(|e| AppError::Internal(e.into()))?,
            effective_from: req.effective_from.unwrap_or_else(|| ctx.today()),
            created_by: ctx.principal.account_id.clone(),
            created_at: ctx.now,
        };
        store::insert(c, &row)?;
        ctx.audit(
            c,
            "compliance.rules_put",
            ("compliance_rules", &row.id),
            Some(org_id),
            None,
            Some(json!({
                "version": row.version,
                "effective_from": row.effective_from,
                "rules": list,
            })),
        )?;
        rule_set(Some(&row))
    })
}

/// The rule set in force for an organization on `on`. Readers of the organization.
pub fn effective_rules(
    conn: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
    on: NaiveDate,
) -> AppResult<RuleSet> {
    require_read_org(conn, principal, org_id)?;
    let mut sets = rule_sets_for(conn, &[org_id.to_owned()], on)?;
    rule_set(sets.remove(org_id).flatten().as_ref())
}

fn is_normal(o: &SubtreeOrg) -> bool {
    o.status == "normal"
}

/// The organizations the calendar judges: every 支部 kind, and a 党总支 that holds its
/// members itself (no branch below it).
fn branches(orgs: &[SubtreeOrg]) -> Vec<&SubtreeOrg> {
    let has_child_branch: HashSet<&str> = orgs
        .iter()
        .filter(|o| is_normal(o) && OrgKind::parse(&o.kind).is_some_and(OrgKind::is_branch))
        .filter_map(|o| o.parent_id.as_deref())
        .collect();
    orgs.iter()
        .filter(|o| is_normal(o))
        .filter(|o| match OrgKind::parse(&o.kind) {
            Some(k) if k.is_branch() => true,
            Some(OrgKind::GeneralBranch) => !has_child_branch.contains(o.id.as_str()),
            _ => false,
        })
        .collect()
}

/// China Standard Time midnight of `day`, in UTC.
fn cn_midnight_utc(day: NaiveDate) -> NaiveDateTime {
    day.and_hms_opt(0, 0, 0).unwrap_or_default() - chrono::Duration::hours(8)
}

/// The report for `q.period` over the subtree of `org_id`. Managers in scope (a member
/// who may read the organization gets 403: the report lists branches one by one).
pub fn report(
    conn: &mut AnyConnection,
    principal: &Principal,
    org_id: &str,
    q: &ComplianceQuery,
    today: NaiveDate,
) -> AppResult<ComplianceReport> {
    require_manage_org(conn, principal, org_id, &Role::MANAGERS)?;
    let period = rules::parse_period(&q.period).ok_or_else(|| {
        AppError::InvalidQuery("period 须为 2026（年）、2026-Q4（季度）或 2026-11（月）".into())
    })?;
    let after = match q.cursor.as_deref() {
        Some(c) => cursor::decode(CURSOR_TAG, c, 1)?.into_iter().next(),
        None => None,
    };

    let orgs = store::subtree(conn, org_id)?;
    let branch_list = branches(&orgs);
    let branch_ids: Vec<String> = branch_list.iter().map(|b| b.id.clone()).collect();
    let branch_set: HashSet<&str> = branch_ids.iter().map(String::as_str).collect();
    let mut groups: HashMap<&str, Vec<String>> = HashMap::new();
    for o in &orgs {
        if is_normal(o)
            && o.kind == OrgKind::PartyGroup.as_str()
            && let Some(p) = o.parent_id.as_deref()
            && branch_set.contains(p)
        {
            groups.entry(p).or_default().push(o.id.clone());
        }
    }

    let full: HashMap<String, i64> = store::full_members(conn, &branch_ids)?
        .into_iter()
        .collect();
    let posts_on = period.end.min(today);
    let mut posts: HashMap<String, HashSet<String>> = HashMap::new();
    for (org, member) in store::committee_posts(conn, &branch_ids, posts_on)? {
        posts.entry(org).or_default().insert(member);
    }

    // Yearly rules judged in a quarter or month look at the whole year.
    let from = NaiveDate::from_ymd_opt(period.start.year(), 1, 1).unwrap_or(period.start);
    let to = NaiveDate::from_ymd_opt(period.end.year() + 1, 1, 1).unwrap_or(period.end);
    let mut holders: Vec<String> = branch_ids.clone();
    holders.extend(groups.values().flatten().cloned());
    let facts =
        store::submitted_meetings(conn, &holders, cn_midnight_utc(from), cn_midnight_utc(to))?;
    let ids: Vec<String> = facts.iter().map(|m| m.id.clone()).collect();
    let quorums: HashMap<String, Option<String>> = minutes_store::submitted_quorums(conn, &ids)?
        .into_iter()
        .collect();
    let mut held = Vec::new();
    for m in facts {
        let (Some(kind), Some(started)) = (MeetingKind::parse(&m.kind), m.started_at) else {
            continue;
        };
        let held_as = m.held_as.as_deref().and_then(HeldAs::parse);
        let counts = if body::quorum_applies(kind, held_as) {
            quorums
                .get(&m.id)
                .and_then(|j| j.as_deref())
                .and_then(|j| serde_json::from_str::<QuorumSnapshot>(j).ok())
                .is_some_and(|s| s.quorate)
        } else {
            quorums.contains_key(&m.id)
        };
        held.push(HeldMeeting {
            id: m.id,
            kind,
            org_id: m.org_id,
            day: crate::orgs::today_cn(started),
            counts,
        });
    }

    let sets = rule_sets_for(conn, &branch_ids, period.start)?;
    let mut judged: Vec<BranchCompliance> = Vec::with_capacity(branch_list.len());
    for b in &branch_list {
        let facts = BranchFacts {
            branch_id: b.id.clone(),
            full_members: u32::try_from(full.get(&b.id).copied().unwrap_or(0)).unwrap_or(u32::MAX),
            committee_posts: u32::try_from(posts.get(&b.id).map_or(0, HashSet::len))
                .unwrap_or(u32::MAX),
            party_groups: groups.get(b.id.as_str()).cloned().unwrap_or_default(),
        };
        let row = sets.get(&b.id).cloned().flatten();
        let list = match &row {
            Some(r) => parse_rules(r)?,
            None => rules::defaults(),
        };
        let requirements: Vec<_> = list
            .iter()
            .map(|r| rules::evaluate(r, &period, &facts, &held))
            .collect();
        let compliant = requirements.iter().all(|r| r.missing == 0);
        judged.push(BranchCompliance {
            org_id: b.id.clone(),
            name: b.name.clone(),
            kind: b.kind.clone(),
            full_members: facts.full_members,
            has_committee: facts.has_committee(),
            party_groups: u32::try_from(facts.party_groups.len()).unwrap_or(u32::MAX),
            rules_org_id: row.as_ref().and_then(|r| r.org_id.clone()),
            rules_version: row.as_ref().map(|r| r.version),
            requirements,
            compliant,
        });
    }

    let total = u32::try_from(judged.len()).unwrap_or(u32::MAX);
    let compliant =
        u32::try_from(judged.iter().filter(|b| b.compliant).count()).unwrap_or(u32::MAX);
    let share = if total == 0 {
        0.0
    } else {
        (f64::from(compliant) / f64::from(total) * 10_000.0).round() / 10_000.0
    };
    let limit = cursor::limit(q.limit);
    let page: Vec<BranchCompliance> = judged
        .into_iter()
        .filter(|b| after.as_deref().is_none_or(|a| b.org_id.as_str() > a))
        .take(usize::try_from(limit + 1).unwrap_or(usize::MAX))
        .collect();
    let (items, next_cursor) =
        cursor::paginate(page, limit, |b| cursor::encode(CURSOR_TAG, &[&b.org_id]));
    Ok(ComplianceReport {
        org_id: org_id.to_owned(),
        period,
        totals: ComplianceTotals {
            branches: total,
            compliant,
            share,
        },
        items,
        next_cursor,
    })
}
