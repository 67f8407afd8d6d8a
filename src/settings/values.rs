//! Checks of single values from the command line and the environment: durations,
//! seconds, file modes, account names, proxies and base URLs. Each returns the library's
//! own type or a usage error (exit 2) that names the flag or variable.

use super::*;

/// A human duration: `90s`, `10m`, `1h 30m`, or plain seconds.
pub fn duration(raw: &str) -> Result<Duration, Coded> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return seconds("--min-interval", secs, 0.0);
    }
    humantime::parse_duration(raw).map_err(|e| {
        Coded::usage(format!(
            "`{raw}` is not a duration like 90s, 10m or 1h ({e})"
        ))
    })
}

/// A duration flag in fractional seconds, at least `min`.
pub fn seconds(flag: &str, value: f64, min: f64) -> Result<Duration, Coded> {
    if !value.is_finite() || value < min || value > 86_400.0 * 365.0 {
        return Err(Coded::usage(format!(
            "{flag} must be a number of seconds of at least {min}, got {value}"
        )));
    }
    Ok(Duration::from_secs_f64(value))
}

/// A file mode in octal (`600`, `0644`): read and write for the owner at least, no
/// execute or special bits.
pub fn file_mode(flag: &str, text: &str) -> Result<u32, Coded> {
    match u32::from_str_radix(text.trim(), 8) {
        Ok(m) if m & !0o666 == 0 && m & 0o600 == 0o600 => Ok(m),
        _ => Err(Coded::usage(format!(
            "{flag} must be an octal file mode such as 600 or 644 (owner read/write, no execute bits), got `{text}`"
        ))),
    }
}

/// An account name: shown in tables and typed on command lines.
pub fn check_name(name: &str) -> Result<String, Coded> {
    let n = name.trim();
    let shown = crate::escape::for_terminal(n);
    if n.is_empty()
        || n.chars().count() > 64
        || n.chars().any(crate::escape::is_invisible_or_control)
    {
        return Err(Coded::usage(format!(
            "account name `{shown}` must be 1 to 64 visible characters (no control, zero-width or direction characters)"
        )));
    }
    if n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Coded::usage(format!(
            "account name `{shown}` is all digits, so it would be mistaken for a unb: add a letter"
        )));
    }
    Ok(n.to_owned())
}

/// A proxy URL: http, https, socks5 or socks5h, with a host.
pub fn check_proxy(raw: &str) -> Result<Proxy, Coded> {
    Proxy::parse(raw).map_err(|e| Coded::usage(format!("--proxy {}: {e}", redact_url(raw))))
}

/// A base URL for one of the Goofish hosts: http or https, no query, no fragment.
pub fn parse_base_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "`{raw}` must be an http:// or https:// URL with a host"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{raw}` must not have a query or fragment"));
    }
    Ok(url)
}
