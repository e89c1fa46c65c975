//! Room engine of Hongying: participants, attendance, quorum and votes.

pub mod cluster;
pub mod decode;
pub mod quorum;
pub mod room;
