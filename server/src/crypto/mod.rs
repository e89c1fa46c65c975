//! Protection of personal data at rest.

pub mod id_number;
pub mod pii;
