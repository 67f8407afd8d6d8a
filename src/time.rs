//! Wall-clock helpers: the store keeps Unix seconds; people read RFC 3339.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2026-11-22T05:30:00Z`, or `-` for none.
pub fn display(ts: Option<i64>) -> String {
    match ts {
        Some(t) if t >= 0 => {
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t as u64))
                .to_string()
        }
        _ => "-".to_owned(),
    }
}

/// RFC 3339 for JSON output, `null` for none.
pub fn json(ts: Option<i64>) -> serde_json::Value {
    match ts {
        Some(t) if t >= 0 => serde_json::Value::String(display(Some(t))),
        _ => serde_json::Value::Null,
    }
}
