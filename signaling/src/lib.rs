//! Room engine of Hongying: participants, attendance, quorum and votes.

pub mod quorum;
