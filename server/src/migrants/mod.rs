//! 流动党员 (RULES.md §4.4): members away from their branch without transferring their
//! formal relationship.
//!
//! Decisions (enforced in [`service`]):
//! - One row per time away (`migrant_records`), at most one under way per member. It is
//!   registered at home (`outflow`, by a manager of the member's branch) or at the host
//!   (`inflow`, by a manager of the host organization, who finds the member by his ID
//!   number). An outflow naming a host in the system waits for the host to accept
//!   (`host_status` `pending` → `accepted`); an inflow is accepted as it is recorded. The
//!   other side is told by a notice.
//! - The host must hold members (党支部, 联合党支部, 党总支) or be a 流动党员临时支部
//!   (`temporary_branch`), and differ from the member's branch.
//! - Accepted at the host, the member is on its congress rosters as `temporary`: he
//!   takes part, is outside E and cannot vote there ([`crate::meetings::body`]); at home
//!   nothing changes: he stays in E with his vote and may attend by video.
//! - The secretary's overview per member: last recorded contact, last attendance (any
//!   meeting), last app activity (newest login or refresh of his account). 失联: no
//!   recorded contact (or, before the first, since the registration) for six months —
//!   a flag to review, never a status change; the home secretary marks it reviewed, and
//!   a new contact clears it. Away six months or more at the same place (one record is
//!   one place) → `transfer_suggested` (应转尽转, RULES.md §4.1).
//! - Contacts are recorded by managers of the home or (accepted) host organization; the
//!   member himself may record his own report (`self_report`).
//! - The contact field is personal data: encrypted at rest, shown masked.
//! - Read: the member himself, managers in scope of the home or host organization;
//!   outside that 404, a reader who may not act 403.

pub mod service;
