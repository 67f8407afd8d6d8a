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

/// The latest time humantime can write (9999-12-31T23:59:59Z); later ones are shown as it.
pub const MAX_DISPLAY: i64 = 253_402_300_799;

/// `2026-11-22T05:30:00Z`, or `-` for none. Never fails: a stored time past the year 9999
/// (a hostile import) shows as the last second of 9999 instead of breaking the output.
pub fn display(ts: Option<i64>) -> String {
    match ts {
        Some(t) if t >= 0 => {
            let t = t.min(MAX_DISPLAY) as u64;
            humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t)).to_string()
        }
        _ => "-".to_owned(),
    }
}

/// The width of `display(ts)` without formatting it: `list` measures every row before it
/// prints any, and formatting the times twice was a third of its time.
pub fn display_width(ts: Option<i64>) -> usize {
    match ts {
        // Clamped to year 9999 above: always `YYYY-MM-DDTHH:MM:SSZ`.
        Some(t) if t >= 0 => 20,
        _ => 1,
    }
}

/// RFC 3339 with milliseconds, for a trace's `startedDateTime`.
pub fn rfc3339_ms(ms: i64) -> String {
    let ms = ms.clamp(0, MAX_DISPLAY * 1000) as u64;
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// RFC 3339 for a typed JSON field (`Option` serialises as `null` for none).
pub fn rfc3339(ts: Option<i64>) -> Option<String> {
    ts.filter(|t| *t >= 0).map(|t| display(Some(t)))
}

/// RFC 3339 for JSON output, `null` for none.
pub fn json(ts: Option<i64>) -> serde_json::Value {
    match ts {
        Some(t) if t >= 0 => serde_json::Value::String(display(Some(t))),
        _ => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_width_is_the_width_of_display() {
        for ts in [None, Some(-1), Some(0), Some(1_700_000_000), Some(i64::MAX)] {
            assert_eq!(super::display_width(ts), super::display(ts).len(), "{ts:?}");
        }
    }

    #[test]
    fn far_future_times_display() {
        assert_eq!(super::display(Some(i64::MAX)), "9999-12-31T23:59:59Z");
        assert_eq!(
            super::display(Some(999_999_999_999_999_999)),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(super::display(Some(-5)), "-");
    }
}
