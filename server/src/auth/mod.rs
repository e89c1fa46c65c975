//! Who is calling and what they may do: signing keys, access tokens, the [`Principal`]
//! extractor, roles held at organizations.

pub mod keys;
pub mod password;
pub mod principal;
pub mod tokens;

pub use principal::{Grant, Principal, Role};
