//! Crash recovery of attendance. Rooms live in memory; when the process dies, the remote
//! intervals its rooms held stay open in the database. At start-up no room exists yet on
//! this (single) node, so every interval the signaling plane left open is an orphan: it is
//! closed at the last heartbeat seen, the last moment the member was known to be there.
//! (With several nodes, only the intervals of rooms whose node is gone may be closed; that
//! comes with the cluster presence.)

use crate::error::AppResult;
use crate::meetings::attendance;
use crate::state::AppState;

/// Closes the orphaned remote intervals; returns how many.
pub async fn close_orphaned_intervals(state: &AppState) -> AppResult<usize> {
    // No room exists yet, so every open signaling interval is an orphan; the bound only has
    // to lie after any heartbeat stamp, including one a little ahead of this clock.
    let bound = state.clock.now() + chrono::Duration::days(1);
    state
        .db
        .run(move |c| attendance::close_stale_open_intervals(c, bound))
        .await
}
