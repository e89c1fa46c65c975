//! The roster: people on the way into the Party and its members, held by the branch that
//! has their formal relationship (正式组织关系).
//!
//! Decisions (enforced in [`service`]):
//! - A member belongs to a `branch`, `joint_branch` or `general_branch` (a 党总支 without
//!   branches holds members itself). A `temporary_branch` never holds formal
//!   relationships, a `party_group` is recorded in `party_group_id` and must lie under the
//!   member's branch; anything else answers 422 `not_a_branch`.
//! - Create, update, status and flag changes: managers (`branch_secretary`,
//!   `branch_committee`, `org_admin`) in scope. The member may read their own record and
//!   history; a fellow member of the branch gets 403 on a record and the branch list with
//!   names and statuses only; outside scope 404.
//! - The ID number and phone are encrypted per row and shown masked. `?reveal=true` shows
//!   them to the member, the secretary of the member's own branch, org admins in scope
//!   and super admins (403 for other readers, e.g. branch committee members); each reveal
//!   is audited as `member.read_sensitive`. Lookups by ID number are audited too.
//! - Status changes follow RULES.md §5 ([`rules`]); a change out of order is 409
//!   `illegal_transition` with `allowed`, a change in order but too early (or an
//!   applicant who was under 18) 409 `transition_precondition`.
//! - The gender and birth date come from the ID number; given values must agree.
//! - A member entered with a phone gets a pending account
//!   ([`crate::accounts::provision_member_account`]) in the same transaction.

pub mod rules;
pub mod service;
pub mod voting;
