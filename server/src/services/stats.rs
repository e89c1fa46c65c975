//! The figures a county office shows: per area (an organization's subtree) and field,
//! questions, time to the first answer (median and 90th percentile), resolution rate and
//! ratings. Percentiles are computed here from the rows, the same on both databases.

use hongying_proto::services::{CategoryStats, ServiceStats, StatsQuery};

use super::label_or_code;
use crate::auth::{Principal, Role};
use crate::authz;
use crate::config::ServicesConfig;
use crate::db::AnyConnection;
use crate::error::AppResult;
use crate::store::services::{self as store, QuestionRow};

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted values.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (u64::from(p) * n as u64).div_ceil(100).max(1) as usize;
    sorted.get(rank.min(n) - 1).copied()
}

fn figures(category: &str, label: String, rows: &[&QuestionRow]) -> CategoryStats {
    let mut waits: Vec<i64> = rows
        .iter()
        .filter_map(|q| q.first_answer_at.map(|a| (a - q.created_at).num_seconds()))
        .collect();
    waits.sort_unstable();
    let resolved = rows
        .iter()
        .filter(|q| q.status == "closed" && q.first_answer_at.is_some())
        .count();
    let ratings: Vec<i32> = rows.iter().filter_map(|q| q.rating).collect();
    let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    CategoryStats {
        category: category.to_string(),
        label,
        questions: n(rows.len()),
        answered: n(waits.len()),
        resolved: n(resolved),
        median_first_answer_secs: percentile(&waits, 50),
        p90_first_answer_secs: percentile(&waits, 90),
        resolution_rate: (!rows.is_empty()).then(|| resolved as f64 / rows.len() as f64),
        ratings: n(ratings.len()),
        mean_rating: (!ratings.is_empty())
            .then(|| f64::from(ratings.iter().sum::<i32>()) / ratings.len() as f64),
    }
}

pub fn stats(
    conn: &mut AnyConnection,
    p: &Principal,
    config: &ServicesConfig,
    org_id: &str,
    q: &StatsQuery,
) -> AppResult<ServiceStats> {
    authz::require_manage_org(conn, p, org_id, &[Role::OrgAdmin])?;
    let rows = store::questions_in_subtree(
        conn,
        org_id,
        q.from.map(|t| t.naive_utc()),
        q.to.map(|t| t.naive_utc()),
    )?;
    let mut codes: Vec<String> = config.fields.iter().map(|f| f.code.clone()).collect();
    for r in &rows {
        if !codes.contains(&r.category) {
            codes.push(r.category.clone());
        }
    }
    let categories = codes
        .iter()
        .map(|c| {
            let of: Vec<&QuestionRow> = rows.iter().filter(|r| &r.category == c).collect();
            figures(c, label_or_code(config, c), &of)
        })
        .collect();
    let all: Vec<&QuestionRow> = rows.iter().collect();
    Ok(ServiceStats {
        org_id: org_id.to_string(),
        categories,
        total: figures("all", "全部".into(), &all),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 90), Some(90));
        assert_eq!(percentile(&v, 100), Some(100));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[], 50), None);
    }
}
