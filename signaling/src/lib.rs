//! Room engine of Hongying: participants, attendance, quorum and votes, the SFU.

pub mod cluster;
pub mod decode;
pub mod media;
pub mod quorum;
pub mod room;
