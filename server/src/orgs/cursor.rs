//! Opaque keyset cursors: base64url of a listing tag and the sort key of the last item.
//! The tag makes a cursor from one listing fail cleanly (400 `invalid_cursor`) in another.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::AppError;

const SEP: char = '\u{1f}';

/// Encodes the sort key `parts` of the last item of a page of listing `tag`.
pub fn encode(tag: &str, parts: &[&str]) -> String {
    let mut s = String::from(tag);
    for p in parts {
        s.push(SEP);
        s.push_str(p);
    }
    URL_SAFE_NO_PAD.encode(s.as_bytes())
}

/// Decodes a cursor of listing `tag` with exactly `n` key parts.
pub fn decode(tag: &str, cursor: &str, n: usize) -> Result<Vec<String>, AppError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| AppError::InvalidCursor)?;
    let s = String::from_utf8(bytes).map_err(|_| AppError::InvalidCursor)?;
    let mut it = s.split(SEP);
    if it.next() != Some(tag) {
        return Err(AppError::InvalidCursor);
    }
    let parts: Vec<String> = it.map(str::to_string).collect();
    if parts.len() != n || parts.iter().any(|p| p.is_empty() || p.len() > 128) {
        return Err(AppError::InvalidCursor);
    }
    Ok(parts)
}

/// Page size from the query: default 50, clamped to 1..=200.
pub fn limit(requested: Option<u32>) -> i64 {
    i64::from(
        requested
            .unwrap_or(hongying_proto::page::DEFAULT_LIMIT)
            .clamp(1, hongying_proto::page::MAX_LIMIT),
    )
}

/// Trims a page loaded with `limit + 1` rows to `limit`, returning the cursor for the next
/// page (from the last kept row) when there was one more.
pub fn paginate<T>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() > limit {
        rows.truncate(limit);
        let next = rows.last().map(&key);
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn round_trips_and_refuses_foreign_cursors() {
        let c = encode("children", &["0193"]);
        assert_eq!(decode("children", &c, 1).unwrap(), vec!["0193".to_string()]);
        assert!(matches!(
            decode("subtree", &c, 1),
            Err(AppError::InvalidCursor)
        ));
        assert!(matches!(
            decode("children", &c, 2),
            Err(AppError::InvalidCursor)
        ));
        assert!(matches!(
            decode("children", "!!not base64", 1),
            Err(AppError::InvalidCursor)
        ));
    }

    #[test]
    fn limit_is_clamped() {
        assert_eq!(limit(None), 50);
        assert_eq!(limit(Some(0)), 1);
        assert_eq!(limit(Some(10_000)), 200);
    }
}
