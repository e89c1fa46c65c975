//! The compliance calendar (三会一课 台账): versioned meeting-frequency rules per locality
//! and, for a period, what every branch of a subtree held against them.
//!
//! Who may do what (enforced in [`service`]):
//! - `PUT /orgs/{id}/compliance-rules`: `org_admin` in scope (403 for other readers, 404
//!   outside scope). Each call stores a new version; nothing is overwritten.
//! - `GET /orgs/{id}/compliance-rules`: readers of the organization.
//! - `GET /orgs/{id}/compliance`: managers in scope; a member gets 403 (the report names
//!   branches one by one), outside scope 404.
//!
//! Decisions:
//! - The rule set of a branch for a period is the newest version effective on the
//!   period's first day from the nearest organization at or above the branch that has
//!   one; else the built-in defaults of RULES.md §1.2 (党员大会 and 党课 quarterly, 支委会,
//!   党小组会 and 主题党日 monthly, 组织生活会 and 民主评议 yearly).
//! - Branches judged: every 支部 kind (党支部, 联合党支部, 临时党支部) and a 党总支 with no
//!   branch below it, in normal status.
//! - 支委会 is required of a branch with 7 or more full members (支部条例: it must then
//!   have a committee) or with 3 or more current committee posts; 党小组会 of each party
//!   group, monthly; a branch without groups has no such requirement.
//! - A meeting counts when it started in the window (China time), its minutes were
//!   submitted or reviewed, and — for 党员大会, 支委会 and yearly meetings held as one of
//!   them — it was quorate at its end (the snapshot frozen when the minutes were
//!   submitted). It counts only for its own kind; 组织生活会/民主评议 held in a party group
//!   count for the branch.
//! - Monthly and quarterly rules are judged unit by unit (a surplus in one month does not
//!   make up for another). A rule coarser than the period (a yearly rule judged for a
//!   quarter) is due only in the period holding its last month and is then judged over the
//!   whole unit.

pub mod rules;
pub mod service;
