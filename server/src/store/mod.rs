//! SQL lives here, one module per aggregate. Each function takes a connection and runs
//! its queries; callers choose the transaction (see [`crate::db::write_tx`]) and run it
//! off the async workers with [`crate::db::Db::run`].
//!
//! There are no store traits: diesel over `AnyConnection` already hides the backend, and
//! every test runs against the real databases, so a trait would have one implementation.

pub mod audit;
pub mod idempotency;
pub mod principals;
