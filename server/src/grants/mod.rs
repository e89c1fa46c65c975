//! Granting and revoking roles.
//!
//! Rules (enforced in [`service`]):
//! - A role at an organization is granted or revoked by an `org_admin` whose scope
//!   includes that organization, or a super admin; outside the caller's scope the
//!   organization (and the grant) is not revealed (404), inside it a caller without
//!   `org_admin` gets 403.
//! - `super_admin` (never at an organization) and `org_admin` at a root organization are
//!   granted and revoked only by a super admin; the last super admin cannot be revoked.
//! - `expert` and `public` need no organization; without one only a super admin grants
//!   them (no organization scope to check an `org_admin` against).
//! - Every grant and revoke is audited (`grant.create`, `grant.revoke`).

pub mod service;
