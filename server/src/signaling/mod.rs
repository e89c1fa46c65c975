//! The server's side of meeting signaling: join tokens for the `/ws` socket, and the
//! recovery of attendance intervals left open by a crash.

pub mod join_token;
pub mod recovery;
