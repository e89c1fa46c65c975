//! The server's side of meeting signaling: join tokens for the `/ws` socket.

pub mod join_token;
