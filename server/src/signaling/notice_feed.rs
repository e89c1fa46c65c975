//! Live notices: the node reads new notices from the database and hands each to the open
//! sockets of its member on this node.
//!
//! Notices are written by many modules inside their own transactions, on any node, so
//! the database is the one place that sees them all; polling it (one indexed query per
//! period, not one per socket) costs the same for 10 sockets as for 50,000 and needs no
//! hook in every module. Live delivery is best effort and at least once (a frame carries
//! its notice id); the reliable path is the replay after the device's cursor when it
//! reconnects, and the REST list.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use hongying_proto::signaling::{PROTOCOL_VERSION, ServerFrame, ServerMsg};

use crate::error::AppError;
use crate::state::AppState;
use crate::store::notices::{self as store, NoticeRow};
use crate::telemetry::names;

/// Rows per query.
const BATCH: i64 = 2000;
/// A notice whose transaction committed late (created earlier than one already
/// delivered) is still picked up if it is at most this much older.
const LATE: chrono::Duration = chrono::Duration::seconds(3);

pub fn frame(row: &NoticeRow) -> ServerFrame {
    ServerFrame {
        v: PROTOCOL_VERSION,
        id: None,
        seq: None,
        msg: ServerMsg::Notice {
            notice_id: row.id.clone(),
            kind: row.kind.clone(),
            title: row.title.clone(),
            body: row.body.clone(),
            cursor: row.id.clone(),
        },
    }
}

pub async fn run(state: AppState) {
    let every = Duration::from_millis(state.config.signaling.notice_poll_ms);
    let mut key: (NaiveDateTime, String) = (state.clock.now(), String::new());
    let mut delivered: HashMap<String, NaiveDateTime> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match poll(&state, &mut key, &mut delivered).await {
            Ok(n) if n > 0 => {
                metrics::counter!(names::WS_NOTICES).increment(n as u64);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "polling notices failed"),
        }
    }
}

async fn poll(
    state: &AppState,
    key: &mut (NaiveDateTime, String),
    delivered: &mut HashMap<String, NaiveDateTime>,
) -> crate::error::AppResult<usize> {
    let mut sent = 0;
    let mut deliver = |rows: &[NoticeRow], delivered: &mut HashMap<String, NaiveDateTime>| {
        for row in rows {
            if delivered.insert(row.id.clone(), row.created_at).is_some() {
                continue;
            }
            if state.signaling.has_member(&row.member_id) {
                sent += state.signaling.to_member(&row.member_id, &frame(row));
            }
        }
    };
    loop {
        let (at, id) = key.clone();
        let rows = state
            .db
            .run(move |c| store::after_key(c, at, &id, BATCH).map_err(AppError::from))
            .await?;
        if let Some(last) = rows.last() {
            *key = (last.created_at, last.id.clone());
        }
        deliver(&rows, delivered);
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    let since = key.0 - LATE;
    let late = state
        .db
        .run(move |c| store::created_since(c, since, BATCH).map_err(AppError::from))
        .await?;
    deliver(&late, delivered);
    delivered.retain(|_, at| *at >= since);
    Ok(sent)
}
