//! Live notices: the node reads new notices from the database and hands each to the open
//! sockets of its member (or, for accounts without a member record — villagers, experts —
//! of its account) on this node.
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

use crate::error::AppResult;
use crate::notices::{LiveNotice, Recipient};
use crate::state::AppState;
use crate::store::notices as store;
use crate::telemetry::names;

/// Rows per query.
const BATCH: i64 = 2000;
/// A notice whose transaction committed late (created earlier than one already
/// delivered) is still picked up if it is at most this much older.
const LATE: chrono::Duration = chrono::Duration::seconds(3);

pub fn frame(n: &LiveNotice) -> ServerFrame {
    ServerFrame {
        v: PROTOCOL_VERSION,
        id: None,
        seq: None,
        msg: ServerMsg::Notice {
            notice_id: n.id.clone(),
            kind: n.kind.clone(),
            title: n.title.clone(),
            body: n.body.clone(),
            cursor: n.id.clone(),
        },
    }
}

/// The two lists the feed follows.
#[derive(Debug, Clone, Copy)]
enum List {
    Members,
    Accounts,
}

/// Where the feed is in one list: the keyset of the last notice read, and the notices
/// delivered recently (a late commit may surface one again).
struct Feed {
    list: List,
    key: (NaiveDateTime, String),
    delivered: HashMap<String, NaiveDateTime>,
}

pub async fn run(state: AppState) {
    let every = Duration::from_millis(state.config.signaling.notice_poll_ms);
    let now = state.clock.now();
    let mut feeds = [List::Members, List::Accounts].map(|list| Feed {
        list,
        key: (now, String::new()),
        delivered: HashMap::new(),
    });
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for feed in &mut feeds {
            match poll(&state, feed).await {
                Ok(n) if n > 0 => {
                    metrics::counter!(names::WS_NOTICES).increment(n as u64);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, list = ?feed.list, "polling notices failed"),
            }
        }
    }
}

async fn after_key(
    state: &AppState,
    list: List,
    (at, id): (NaiveDateTime, String),
) -> AppResult<Vec<LiveNotice>> {
    state
        .db
        .run(move |c| {
            Ok(match list {
                List::Members => into_live(store::after_key(c, at, &id, BATCH)?),
                List::Accounts => into_live(store::account_after_key(c, at, &id, BATCH)?),
            })
        })
        .await
}

async fn created_since(
    state: &AppState,
    list: List,
    since: NaiveDateTime,
) -> AppResult<Vec<LiveNotice>> {
    state
        .db
        .run(move |c| {
            Ok(match list {
                List::Members => into_live(store::created_since(c, since, BATCH)?),
                List::Accounts => into_live(store::account_created_since(c, since, BATCH)?),
            })
        })
        .await
}

fn into_live<R: Into<LiveNotice>>(rows: Vec<R>) -> Vec<LiveNotice> {
    rows.into_iter().map(Into::into).collect()
}

async fn poll(state: &AppState, feed: &mut Feed) -> AppResult<usize> {
    let mut sent = 0;
    let mut deliver = |rows: &[LiveNotice], delivered: &mut HashMap<String, NaiveDateTime>| {
        for n in rows {
            if delivered.insert(n.id.clone(), n.created_at).is_some() {
                continue;
            }
            sent += match &n.to {
                Recipient::Member(m) if state.signaling.has_member(m) => {
                    state.signaling.to_member(m, &frame(n))
                }
                Recipient::Account(a) if state.signaling.has_account(a) => {
                    state.signaling.to_account(a, &frame(n))
                }
                _ => 0,
            };
        }
    };
    loop {
        let rows = after_key(state, feed.list, feed.key.clone()).await?;
        if let Some(last) = rows.last() {
            feed.key = (last.created_at, last.id.clone());
        }
        deliver(&rows, &mut feed.delivered);
        if (rows.len() as i64) < BATCH {
            break;
        }
    }
    let since = feed.key.0 - LATE;
    let late = created_since(state, feed.list, since).await?;
    deliver(&late, &mut feed.delivered);
    feed.delivered.retain(|_, at| *at >= since);
    Ok(sent)
}
