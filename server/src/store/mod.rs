//! SQL lives here, one module per aggregate. Each function takes a connection and runs
//! its queries; callers choose the transaction (see [`crate::db::write_tx`]) and run it
//! off the async workers with [`crate::db::Db::run`].
//!
//! There are no store traits: diesel over `AnyConnection` already hides the backend, and
//! every test runs against the real databases, so a trait would have one implementation.

pub mod accounts;
pub mod attendance;
pub mod audit;
pub mod audit_read;
pub mod compliance;
pub mod grants;
pub mod idempotency;
pub mod meetings;
pub mod members;
pub mod migrants;
pub mod minutes;
pub mod motions;
pub mod notices;
pub mod orgs;
pub mod principals;
pub mod services;
pub mod sessions;
pub mod transfers;
