//! The organization tree: `organizations` (adjacency, `parent_id`) plus the closure table
//! `org_closure` holding one row per (ancestor, descendant) pair, the node itself included
//! at distance 0.
//!
//! Every subtree or ancestry query filters `org_closure` on `ancestor_id` (the leading
//! column of its primary key) or on `descendant_id` (the `org_closure_descendant`
//! index), so none of them walks the tree recursively or scans the table.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

use crate::db::AnyConnection;
use crate::db::schema::{members, org_closure, org_posts, organizations};

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub domain: String,
    pub parent_id: Option<String>,
    pub depth: i32,
    pub status: String,
    pub can_approve_members: bool,
    pub term_start: Option<NaiveDate>,
    pub term_end: Option<NaiveDate>,
    pub address: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i32,
    pub letter_abbr: Option<String>,
}

/// A new organization; `parent_id` must exist (the caller checked it).
#[derive(Debug, Clone)]
pub struct NewOrg<'a> {
    pub id: &'a str,
    pub code: &'a str,
    pub name: &'a str,
    pub kind: &'a str,
    pub domain: &'a str,
    pub parent_id: Option<&'a str>,
    pub depth: i32,
    pub can_approve_members: bool,
    pub term_start: Option<NaiveDate>,
    pub term_end: Option<NaiveDate>,
    pub address: Option<&'a str>,
    pub letter_abbr: Option<&'a str>,
    pub now: NaiveDateTime,
}

/// Fields an update may change; `None` leaves a column alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = organizations)]
pub struct OrgChanges {
    pub name: Option<String>,
    pub address: Option<Option<String>>,
    pub status: Option<String>,
    pub can_approve_members: Option<bool>,
    pub term_start: Option<Option<NaiveDate>>,
    pub term_end: Option<Option<NaiveDate>>,
    pub domain: Option<String>,
    pub letter_abbr: Option<Option<String>>,
}

pub fn find(conn: &mut AnyConnection, id: &str) -> QueryResult<Option<OrgRow>> {
    organizations::table
        .find(id)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()
}

pub fn code_taken(conn: &mut AnyConnection, code: &str) -> QueryResult<bool> {
    diesel::select(exists(
        organizations::table.filter(organizations::code.eq(code)),
    ))
    .get_result(conn)
}

/// Inserts the organization and its closure rows: itself at distance 0, and every
/// ancestor of the parent one step further than it is from the parent.
pub fn insert(conn: &mut AnyConnection, o: &NewOrg<'_>) -> QueryResult<()> {
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(o.id),
            organizations::code.eq(o.code),
            organizations::name.eq(o.name),
            organizations::kind.eq(o.kind),
            organizations::domain.eq(o.domain),
            organizations::parent_id.eq(o.parent_id),
            organizations::depth.eq(o.depth),
            organizations::status.eq("normal"),
            organizations::can_approve_members.eq(o.can_approve_members),
            organizations::term_start.eq(o.term_start),
            organizations::term_end.eq(o.term_end),
            organizations::address.eq(o.address),
            organizations::letter_abbr.eq(o.letter_abbr),
            organizations::created_at.eq(o.now),
            organizations::updated_at.eq(o.now),
            organizations::version.eq(1),
        ))
        .execute(conn)?;
    diesel::insert_into(org_closure::table)
        .values((
            org_closure::ancestor_id.eq(o.id),
            org_closure::descendant_id.eq(o.id),
            org_closure::distance.eq(0),
        ))
        .execute(conn)?;
    if let Some(parent) = o.parent_id {
        diesel::insert_into(org_closure::table)
            .values(
                org_closure::table
                    .filter(org_closure::descendant_id.eq(parent))
                    .select((
                        org_closure::ancestor_id,
                        o.id.into_sql::<Text>(),
                        org_closure::distance + 1.into_sql::<Integer>(),
                    )),
            )
            .into_columns((
                org_closure::ancestor_id,
                org_closure::descendant_id,
                org_closure::distance,
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Applies `changes` when the row still has `expected_version`, bumping the version.
/// Returns whether a row was updated (false: missing or changed meanwhile).
pub fn update(
    conn: &mut AnyConnection,
    id: &str,
    expected_version: i32,
    changes: &OrgChanges,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let n = diesel::update(
        organizations::table
            .filter(organizations::id.eq(id))
            .filter(organizations::version.eq(expected_version)),
    )
    .set((
        changes,
        organizations::updated_at.eq(now),
        organizations::version.eq(organizations::version + 1),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Whether `descendant` lies in the subtree of `ancestor` (itself included).
pub fn is_in_subtree(
    conn: &mut AnyConnection,
    ancestor: &str,
    descendant: &str,
) -> QueryResult<bool> {
    diesel::select(exists(
        org_closure::table
            .filter(org_closure::ancestor_id.eq(ancestor))
            .filter(org_closure::descendant_id.eq(descendant)),
    ))
    .get_result(conn)
}

/// The ancestors of an organization with their distance to it, itself included, nearest
/// first.
pub fn ancestors(conn: &mut AnyConnection, id: &str) -> QueryResult<Vec<(String, i32)>> {
    org_closure::table
        .filter(org_closure::descendant_id.eq(id))
        .order(org_closure::distance.asc())
        .select((org_closure::ancestor_id, org_closure::distance))
        .load(conn)
}

/// Re-parents `id` (with its subtree) under `new_parent`, which must not lie in that
/// subtree. Rewrites the closure rows that link the subtree to the ancestors above it,
/// shifts the depth of the whole subtree and bumps the moved row's version when it
/// still has `expected_version`. Returns false when the version no longer matches. Run
/// it inside a transaction: it is several statements.
pub fn move_subtree(
    conn: &mut AnyConnection,
    id: &str,
    new_parent: &str,
    expected_version: i32,
    depth_delta: i32,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let moved = diesel::update(
        organizations::table
            .filter(organizations::id.eq(id))
            .filter(organizations::version.eq(expected_version)),
    )
    .set((
        organizations::parent_id.eq(new_parent),
        organizations::updated_at.eq(now),
        organizations::version.eq(organizations::version + 1),
    ))
    .execute(conn)?;
    if moved != 1 {
        return Ok(false);
    }
    // The old ancestors strictly above `id`: each loses its rows to the subtree.
    let old_above: Vec<String> = org_closure::table
        .filter(org_closure::descendant_id.eq(id))
        .filter(org_closure::distance.gt(0))
        .select(org_closure::ancestor_id)
        .load(conn)?;
    // Deleting per old ancestor with the subtree as a subquery keeps the statement size
    // independent of the subtree's size (a county can hold thousands of organizations).
    // The same table in the subquery needs an alias of its own.
    let sub = diesel::alias!(org_closure as closure_sub);
    for anc in &old_above {
        diesel::delete(
            org_closure::table
                .filter(org_closure::ancestor_id.eq(anc))
                .filter(
                    org_closure::descendant_id.eq_any(
                        sub.filter(sub.field(org_closure::ancestor_id).eq(id))
                            .select(sub.field(org_closure::descendant_id)),
                    ),
                ),
        )
        .execute(conn)?;
    }
    for (anc, dist) in ancestors(conn, new_parent)? {
        diesel::insert_into(org_closure::table)
            .values(
                org_closure::table
                    .filter(org_closure::ancestor_id.eq(id))
                    .select((
                        anc.as_str().into_sql::<Text>(),
                        org_closure::descendant_id,
                        org_closure::distance + (dist + 1).into_sql::<Integer>(),
                    )),
            )
            .into_columns((
                org_closure::ancestor_id,
                org_closure::descendant_id,
                org_closure::distance,
            ))
            .execute(conn)?;
    }
    if depth_delta != 0 {
        diesel::update(organizations::table.filter(organizations::id.eq_any(subtree_ids(id))))
            .set(organizations::depth.eq(organizations::depth + depth_delta))
            .execute(conn)?;
    }
    Ok(true)
}

/// The subquery "every id in the subtree of `id`" (itself included).
fn subtree_ids(id: &str) -> SubtreeIds {
    org_closure::table
        .filter(org_closure::ancestor_id.eq(id.to_string()))
        .select(org_closure::descendant_id)
}

type SubtreeIds = diesel::dsl::Select<
    diesel::dsl::Filter<org_closure::table, diesel::dsl::Eq<org_closure::ancestor_id, String>>,
    org_closure::descendant_id,
>;

/// Direct children, in creation order (ids are time-ordered), after the cursor's id.
pub fn children(
    conn: &mut AnyConnection,
    parent: &str,
    after_id: Option<&str>,
    limit: i64,
) -> QueryResult<Vec<OrgRow>> {
    let mut q = organizations::table
        .filter(organizations::parent_id.eq(parent))
        .select(OrgRow::as_select())
        .order(organizations::id.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after_id {
        q = q.filter(organizations::id.gt(after.to_string()));
    }
    q.load(conn)
}

/// Filters of a subtree search.
#[derive(Debug, Clone, Default)]
pub struct SubtreeFilter {
    /// Name substring (LIKE wildcards in it are matched literally).
    pub name_contains: Option<String>,
    pub kind: Option<String>,
    pub domain: Option<String>,
    pub status: Option<String>,
}

/// Organizations strictly below `root`, by depth then creation, after the cursor's
/// (depth, id). The join starts from `org_closure` filtered on `ancestor_id`, the
/// leading primary-key column.
pub fn subtree(
    conn: &mut AnyConnection,
    root: &str,
    filter: &SubtreeFilter,
    after: Option<(i32, &str)>,
    limit: i64,
) -> QueryResult<Vec<OrgRow>> {
    let mut q = org_closure::table
        .inner_join(organizations::table.on(organizations::id.eq(org_closure::descendant_id)))
        .filter(org_closure::ancestor_id.eq(root.to_string()))
        .filter(org_closure::distance.gt(0))
        .select(OrgRow::as_select())
        .order((organizations::depth.asc(), organizations::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(s) = &filter.name_contains {
        // lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
        q = q.filter(
            lower(organizations::name)
                .like(format!("%{}%", escape_like(&s.to_lowercase())))
                .escape('\\'),
        );
    }
    if let Some(k) = &filter.kind {
        q = q.filter(organizations::kind.eq(k.clone()));
    }
    if let Some(d) = &filter.domain {
        q = q.filter(organizations::domain.eq(d.clone()));
    }
    if let Some(s) = &filter.status {
        q = q.filter(organizations::status.eq(s.clone()));
    }
    if let Some((depth, id)) = after {
        q = q.filter(
            organizations::depth.gt(depth).or(organizations::depth
                .eq(depth)
                .and(organizations::id.gt(id.to_string()))),
        );
    }
    q.load(conn)
}

diesel::define_sql_function!(fn lower(x: Text) -> Text);

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// --- committee posts -------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = org_posts)]
pub struct PostRow {
    pub id: String,
    pub org_id: String,
    pub post: String,
    pub member_id: String,
    pub since: NaiveDate,
    pub until: Option<NaiveDate>,
    pub created_at: NaiveDateTime,
}

pub fn insert_post(conn: &mut AnyConnection, p: &PostRow) -> QueryResult<()> {
    diesel::insert_into(org_posts::table)
        .values((
            org_posts::id.eq(&p.id),
            org_posts::org_id.eq(&p.org_id),
            org_posts::post.eq(&p.post),
            org_posts::member_id.eq(&p.member_id),
            org_posts::since.eq(p.since),
            org_posts::until.eq(p.until),
            org_posts::created_at.eq(p.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find_post(
    conn: &mut AnyConnection,
    org_id: &str,
    post_id: &str,
) -> QueryResult<Option<PostRow>> {
    org_posts::table
        .filter(org_posts::id.eq(post_id))
        .filter(org_posts::org_id.eq(org_id))
        .select(PostRow::as_select())
        .first(conn)
        .optional()
}

/// Ends a post that is still open; returns whether it was.
pub fn end_post(conn: &mut AnyConnection, post_id: &str, until: NaiveDate) -> QueryResult<bool> {
    let n = diesel::update(
        org_posts::table
            .filter(org_posts::id.eq(post_id))
            .filter(org_posts::until.is_null()),
    )
    .set(org_posts::until.eq(until))
    .execute(conn)?;
    Ok(n == 1)
}

/// Posts held on `today` (open, or ending today or later), with the holder's name.
pub fn current_posts(
    conn: &mut AnyConnection,
    org_id: &str,
    today: NaiveDate,
) -> QueryResult<Vec<(PostRow, String)>> {
    org_posts::table
        .inner_join(members::table.on(members::id.eq(org_posts::member_id)))
        .filter(org_posts::org_id.eq(org_id))
        .filter(org_posts::until.is_null().or(org_posts::until.ge(today)))
        .order((org_posts::since.asc(), org_posts::id.asc()))
        .select((PostRow::as_select(), members::name))
        .load(conn)
}

/// Open posts of a kind in an organization (to keep single-holder posts single and not
/// give one member the same post twice).
pub fn open_posts_of_kind(
    conn: &mut AnyConnection,
    org_id: &str,
    post: &str,
) -> QueryResult<Vec<PostRow>> {
    org_posts::table
        .filter(org_posts::org_id.eq(org_id))
        .filter(org_posts::post.eq(post))
        .filter(org_posts::until.is_null())
        .select(PostRow::as_select())
        .load(conn)
}

/// Where a member belongs: (org_id, party_group_id, name).
pub fn member_placement(
    conn: &mut AnyConnection,
    member_id: &str,
) -> QueryResult<Option<(String, Option<String>, String)>> {
    members::table
        .find(member_id)
        .select((members::org_id, members::party_group_id, members::name))
        .first(conn)
        .optional()
}
