//! Cursor pagination, the one convention every list endpoint follows.
//!
//! A list answers `{ "items": [...], "next_cursor": "..." }`. To get the next page the
//! client sends `?cursor=<next_cursor>` with the same filters; `next_cursor` is absent on
//! the last page. Cursors are opaque (base64url of the sort key of the last item), so
//! pages stay stable while rows are inserted, unlike offsets. `limit` defaults to 50 and
//! is capped at 200.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// Query parameters of every list endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

impl PageQuery {
    /// The page size to use, clamped to the allowed range.
    pub fn effective_limit(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
