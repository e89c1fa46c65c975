//! The organization tree: creating, changing and moving organizations, committee posts,
//! and the pieces other modules share (the audit context, cursors, today's date).
//!
//! Who may do what (decided here, enforced in [`service`]):
//! - create: an `org_admin` holding the parent or an ancestor of it, or a super admin;
//!   a root (no parent) only a super admin.
//! - read one: [`crate::authz::can_read_org`] (managers in scope; members their own
//!   branch and its ancestors), else 404.
//! - list children / search a subtree: managers (`org_admin`, `branch_secretary`,
//!   `branch_committee`) in scope; a member who may read the organization gets 403,
//!   since a listing would show organizations the member may not read one by one.
//! - update: an `org_admin` in scope (the organization itself included) changes every
//!   field; a `branch_secretary`/`branch_committee` in scope only `name` and `address`.
//! - move: an `org_admin` managing both the old and the new parent (a root moves only by
//!   a super admin).
//! - posts: an `org_admin` in scope; for a 党小组 also the branch's secretary and
//!   committee (the branch appoints its group leaders).

pub mod audit_read;
pub mod cursor;
pub mod service;

use chrono::{NaiveDate, NaiveDateTime};

use crate::auth::principal::RequestMeta;
use crate::auth::{Grant, Principal, Role};
use crate::db::AnyConnection;
use crate::store::audit::{self, Entry};

/// Who acts, from where, and when: what every audited change needs.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    pub principal: &'a Principal,
    pub meta: &'a RequestMeta,
    pub now: NaiveDateTime,
    /// Sockets to close once this change commits (see [`crate::accounts::revocation`]).
    pub sockets: &'a crate::accounts::revocation::SocketsToClose,
}

impl Ctx<'_> {
    /// Today in China Standard Time (UTC+8, no daylight saving): the date a branch sees.
    pub fn today(&self) -> NaiveDate {
        today_cn(self.now)
    }

    /// Appends an audit row for a change; call inside the change's transaction.
    pub fn audit(
        &self,
        conn: &mut AnyConnection,
        action: &str,
        target: (&str, &str),
        org_id: Option<&str>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> diesel::QueryResult<i64> {
        audit::append(
            conn,
            &Entry {
                actor_account_id: Some(self.principal.account_id.clone()),
                actor_org_id: self.principal.primary_org(),
                action: action.to_string(),
                target_type: target.0.to_string(),
                target_id: target.1.to_string(),
                org_id: org_id.map(str::to_string),
                before,
                after,
                request_id: self.meta.request_id.clone(),
                client_addr: self.meta.client_addr.clone(),
            },
            self.now,
        )
    }
}

pub fn today_cn(now: NaiveDateTime) -> NaiveDate {
    (now + chrono::Duration::hours(8)).date()
}

/// A super-admin principal for work the system does itself (CLI imports, test fixtures);
/// its audit rows name the actor `system`.
pub fn system_principal() -> Principal {
    Principal {
        account_id: "system".into(),
        session_id: String::new(),
        member_id: None,
        member_org_id: None,
        grants: vec![Grant {
            role: Role::SuperAdmin,
            org_id: None,
        }],
    }
}
