//! Wire types of Hongying: every body that crosses HTTP or the signaling socket.
//!
//! This crate is declarative on purpose: serde for the encoding, utoipa for the OpenAPI
//! schema and validator for the field rules. The field rules live beside the fields so
//! that the published schema, the server and any Rust client read the same contract.
//! Nothing here does I/O.

pub mod audit;
pub mod auth;
pub mod compliance;
pub mod error;
pub mod grants;
pub mod meetings;
pub mod members;
pub mod migrants;
pub mod minutes;
pub mod motions;
pub mod notices;
pub mod ops;
pub mod orgs;
pub mod page;
pub mod services;
pub mod signaling;
#[cfg(test)]
mod signaling_doc;
pub mod transfers;

pub use error::{ErrorCode, FieldError, Problem};
pub use page::{Page, PageQuery};
