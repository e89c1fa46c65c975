//! 组织关系转接: transfer requests, their approval steps and the move of the member.

pub mod machine;
pub mod service;
