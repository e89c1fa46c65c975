//! 组织关系转接: transfer requests, their approval steps, the move of the member, and the
//! introduction letters (介绍信) the sending committee issues.

pub mod letters;
pub mod machine;
pub mod service;
