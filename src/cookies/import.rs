//! Parsers for cookies arriving from outside: a `Cookie:` header string, a JSON array
//! (qrlogin's own export, Playwright's `storageState`, browser cookie-editor extensions),
//! and a Netscape cookies.txt. Every error names the line or the field that failed.

use super::{Cookie, SameSite};
use crate::redacted::Secret;
use serde::Deserialize;

/// Where a cookie header with no domain information is assumed to come from.
pub const DEFAULT_DOMAIN: &str = ".goofish.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Header,
    Json,
    Netscape,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
    #[error("{0}")]
    Json(String),
    #[error("no cookies found in the input")]
    Empty,
    #[error(
        "the cookies have no `unb` (the Goofish user id); log in on www.goofish.com and copy all cookies"
    )]
    NoUnb,
}

pub fn parse(format: Format, text: &str) -> Result<Vec<Cookie>, ImportError> {
    let cookies = match format {
        Format::Header => parse_header(text)?,
        Format::Json => parse_json(text)?,
        Format::Netscape => parse_netscape(text)?,
    };
    let cookies = cookies
        .into_iter()
        .enumerate()
        .map(|(i, c)| checked(i + 1, c))
        .collect::<Result<Vec<_>, _>>()?;
    if cookies.is_empty() {
        return Err(ImportError::Empty);
    }
    if super::value_of(&cookies, "unb").is_none_or(str::is_empty) {
        return Err(ImportError::NoUnb);
    }
    Ok(cookies)
}

/// `name=value; name=value`, optionally starting with `Cookie:`, on one or more lines.
pub fn parse_header(text: &str) -> Result<Vec<Cookie>, ImportError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let line = line
            .strip_prefix("Cookie:")
            .or_else(|| line.strip_prefix("cookie:"))
            .unwrap_or(line);
        for pair in line.split(';') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let Some((name, value)) = pair.split_once('=') else {
                // Never echo the text: a wrapped paste puts a value's continuation here.
                return Err(ImportError::Line {
                    line: i + 1,
                    reason: format!(
                        "{} characters without `=` (a wrapped header?)",
                        pair.chars().count()
                    ),
                });
            };
            let name = name.trim();
            if !is_token(name) {
                return Err(ImportError::Line {
                    line: i + 1,
                    reason: format!("`{}` is not a valid cookie name", truncate(name)),
                });
            }
            let value = value.trim().trim_matches('"');
            out.retain(|c: &Cookie| c.name != name);
            out.push(Cookie::for_domain(name, value, DEFAULT_DOMAIN));
        }
    }
    Ok(out)
}

/// One cookie as the JSON dialects we accept spell it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCookie {
    name: String,
    value: String,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    expires: Option<f64>,
    #[serde(default, rename = "expirationDate")]
    expiration_date: Option<f64>,
    #[serde(default)]
    secure: Option<bool>,
    #[serde(default, alias = "httpOnly")]
    http_only: Option<bool>,
    #[serde(default, alias = "sameSite")]
    same_site: Option<String>,
    #[serde(default, rename = "hostOnly")]
    host_only: Option<bool>,
    #[serde(default)]
    session: Option<bool>,
    // Fields browser extensions add that carry nothing we keep.
    #[serde(default, rename = "storeId")]
    _store_id: Option<serde_json::Value>,
    #[serde(default)]
    _id: Option<serde_json::Value>,
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default, rename = "partitionKey")]
    _partition_key: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonInput {
    Array(Vec<serde_json::Value>),
    State { cookies: Vec<serde_json::Value> },
}

/// qrlogin's JSON export, Playwright's storageState (or its `cookies` array), and the
/// arrays cookie-editor extensions write.
pub fn parse_json(text: &str) -> Result<Vec<Cookie>, ImportError> {
    let input: JsonInput = serde_json::from_str(text).map_err(|e| {
        ImportError::Json(format!(
            "not a JSON array of cookies or a storageState object ({e})"
        ))
    })?;
    let items = match input {
        JsonInput::Array(items) | JsonInput::State { cookies: items } => items,
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        check_json_types(i + 1, &item)?;
        // serde's messages quote the offending value; the types were checked above, so
        // what is left (an unknown field) is named without it.
        let c: JsonCookie = serde_json::from_value(item).map_err(|e| {
            let msg = e.to_string();
            let field = msg
                .split('`')
                .nth(1)
                .filter(|_| msg.starts_with("unknown field") || msg.starts_with("missing field"))
                .unwrap_or("?");
            ImportError::Json(format!(
                "cookie {}: {} field `{field}`",
                i + 1,
                if msg.starts_with("missing") {
                    "missing"
                } else {
                    "unexpected"
                }
            ))
        })?;
        let _ = c.id;
        if !is_token(&c.name) {
            return Err(ImportError::Json(format!(
                "cookie {}: field `name`: `{}` is not a valid cookie name",
                i + 1,
                truncate(&c.name)
            )));
        }
        let domain_raw = c.domain.unwrap_or_else(|| DEFAULT_DOMAIN.to_owned());
        let host_only = c.host_only.unwrap_or(!domain_raw.starts_with('.'));
        let expires = c
            .expires
            .or(c.expiration_date)
            .filter(|e| *e > 0.0 && !c.session.unwrap_or(false))
            .map(|e| e.min(MAX_TIME as f64) as i64);
        out.push(Cookie {
            name: c.name,
            value: Secret::new(c.value),
            domain: domain_raw.trim_start_matches('.').to_ascii_lowercase(),
            host_only,
            path: c
                .path
                .filter(|p| p.starts_with('/'))
                .unwrap_or_else(|| "/".into()),
            expires,
            secure: c.secure.unwrap_or(false),
            http_only: c.http_only.unwrap_or(false),
            same_site: c.same_site.as_deref().and_then(SameSite::parse),
        });
    }
    Ok(out)
}

/// The JSON type every field we read must have, checked before serde sees the object so
/// an error can name the field without quoting its value (a cookie value is a secret).
fn check_json_types(n: usize, item: &serde_json::Value) -> Result<(), ImportError> {
    use serde_json::Value;
    let Some(obj) = item.as_object() else {
        return Err(ImportError::Json(format!("cookie {n}: not a JSON object")));
    };
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| is_token(s))
        .map(|s| format!(" (`{}`)", truncate(s)))
        .unwrap_or_default();
    for (field, value) in obj {
        let want = match field.as_str() {
            "name" | "value" => "a string",
            "domain" | "path" | "sameSite" | "same_site" => "a string or null",
            "expires" | "expirationDate" => "a number or null",
            "secure" | "httpOnly" | "http_only" | "hostOnly" | "session" => "true, false or null",
            _ => continue,
        };
        let ok = matches!(
            (want, value),
            ("a string", Value::String(_))
                | ("a string or null", Value::String(_) | Value::Null)
                | ("a number or null", Value::Number(_) | Value::Null)
                | ("true, false or null", Value::Bool(_) | Value::Null)
        );
        if !ok {
            return Err(ImportError::Json(format!(
                "cookie {n}{name}: field `{field}` must be {want}"
            )));
        }
    }
    Ok(())
}

/// The latest time shown or stored: 9999-12-31T23:59:59Z. Later expiries (a year-10000
/// netscape date, `1e15`) are clamped to it rather than breaking every table.
pub const MAX_TIME: i64 = 253_402_300_799;

/// One imported cookie as RFC 6265 allows it: a token name, a value without controls or
/// `;`, a domain of DNS characters, a path starting with `/` without controls or `;`.
/// Anything else would inject into the header and cookies.txt exports. Errors name the
/// cookie and the field, never the value.
fn checked(n: usize, mut c: Cookie) -> Result<Cookie, ImportError> {
    let bad = |field: &str, why: &str| {
        ImportError::Json(format!(
            "cookie {n} (`{}`): its {field} {why}",
            truncate(&c.name)
        ))
    };
    if !is_token(&c.name) {
        return Err(ImportError::Json(format!(
            "cookie {n}: its name is not a valid cookie name"
        )));
    }
    if c.value
        .expose()
        .chars()
        .any(|ch| ch.is_control() || ch == ';')
    {
        return Err(bad(
            "value",
            "holds a control character or `;`, which no cookie value may",
        ));
    }
    let domain_ok = !c.domain.is_empty()
        && c.domain.len() <= 253
        && c.domain.split('.').all(|l| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if !domain_ok {
        return Err(bad("domain", "is not a host name"));
    }
    if !c.path.starts_with('/') || c.path.chars().any(|ch| ch.is_control() || ch == ';') {
        return Err(bad(
            "path",
            "must start with / and hold no control character or `;`",
        ));
    }
    c.expires = c.expires.map(|t| t.clamp(0, MAX_TIME));
    Ok(c)
}

/// Netscape cookies.txt: `domain  include-subdomains  path  secure  expires  name  value`.
pub fn parse_netscape(text: &str) -> Result<Vec<Cookie>, ImportError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let (line, http_only) = match raw.strip_prefix("#HttpOnly_") {
            Some(rest) => (rest, true),
            None => (raw, false),
        };
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.trim_end_matches(['\r', '\n']).split('\t').collect();
        if fields.len() != 7 {
            return Err(ImportError::Line {
                line: line_no,
                reason: format!("expected 7 tab-separated fields, found {}", fields.len()),
            });
        }
        let flag = |s: &str, what: &str| match s.to_ascii_uppercase().as_str() {
            "TRUE" => Ok(true),
            "FALSE" => Ok(false),
            _ => Err(ImportError::Line {
                line: line_no,
                reason: format!("{what} must be TRUE or FALSE, found `{}`", truncate(s)),
            }),
        };
        let include_subdomains = flag(fields[1], "include-subdomains")?;
        let secure = flag(fields[3], "secure")?;
        let expires: i64 = fields[4].trim().parse().map_err(|_| ImportError::Line {
            line: line_no,
            reason: format!("expiry `{}` is not a number", truncate(fields[4])),
        })?;
        if !is_token(fields[5]) {
            return Err(ImportError::Line {
                line: line_no,
                reason: format!("`{}` is not a valid cookie name", truncate(fields[5])),
            });
        }
        out.push(Cookie {
            name: fields[5].to_owned(),
            value: Secret::new(fields[6]),
            domain: fields[0].trim_start_matches('.').to_ascii_lowercase(),
            host_only: !include_subdomains,
            path: fields[2].to_owned(),
            expires: (expires > 0).then_some(expires),
            secure,
            http_only,
            same_site: None,
        });
    }
    Ok(out)
}

/// The accounts of a xianyu-auto-reply database: its `cookies` table holds one row per
/// account, an `id` it shows as the account's name and a `value` with `k=v; k=v`. Opened
/// read-only; the file is never written.
pub fn read_xianyu_auto_reply(
    path: &std::path::Path,
) -> Result<Vec<(String, String)>, ImportError> {
    use rusqlite::OpenFlags;
    let bad = |why: &str| ImportError::Json(why.to_owned());
    if !path.is_file() {
        return Err(bad("no such file"));
    }
    // Read-only and immutable: the other program's file is never written, not even a
    // journal or WAL, whatever state it is in.
    let mut uri = url::Url::parse("file:///").map_err(|_| bad("unusable path"))?;
    let abs = std::path::absolute(path).map_err(|e| ImportError::Json(e.to_string()))?;
    uri.set_path(&abs.to_string_lossy());
    uri.set_query(Some("mode=ro&immutable=1"));
    let conn = rusqlite::Connection::open_with_flags(
        uri.as_str(),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|_| bad("cannot open it as an SQLite database"))?;
    let not_ours = "not a xianyu-auto-reply database (it has no `cookies` table with `id` and `value` columns)";
    // A real table only: a view can recurse forever or build gigabytes (zeroblob).
    let is_table: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'cookies'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n == 1)
        .map_err(|_| bad("not an SQLite database, or a corrupt one"))?;
    if !is_table {
        return Err(bad(not_ours));
    }
    let mut stmt = conn
        .prepare(
            "SELECT CAST(id AS TEXT), substr(CAST(value AS TEXT), 1, ?1), length(CAST(value AS TEXT)) \
             FROM cookies ORDER BY rowid LIMIT ?2",
        )
        .map_err(|_| bad(not_ours))?;
    let rows = stmt
        .query_map(
            [MAX_XIANYU_VALUE as i64 + 1, MAX_XIANYU_ROWS as i64 + 1],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    r.get::<_, Option<i64>>(2)?.unwrap_or_default(),
                ))
            },
        )
        .map_err(|_| bad(not_ours))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, value, len) = row.map_err(|_| bad("its `cookies` table cannot be read"))?;
        if out.len() == MAX_XIANYU_ROWS {
            return Err(bad(&format!(
                "its `cookies` table has more than {MAX_XIANYU_ROWS} rows"
            )));
        }
        if len as usize > MAX_XIANYU_VALUE {
            return Err(ImportError::Json(format!(
                "account `{}`: its cookie string is over {} KiB",
                crate::escape::for_terminal(&id.chars().take(64).collect::<String>()),
                MAX_XIANYU_VALUE / 1024
            )));
        }
        out.push((id, value));
    }
    Ok(out)
}

/// Bounds on a xianyu-auto-reply database: far above any real one, far below harm.
pub const MAX_XIANYU_ROWS: usize = 100_000;
pub const MAX_XIANYU_VALUE: usize = 64 * 1024;

/// RFC 6265 cookie-name: an HTTP token.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'(' | b')'
                        | b'<'
                        | b'>'
                        | b'@'
                        | b','
                        | b';'
                        | b':'
                        | b'\\'
                        | b'"'
                        | b'/'
                        | b'['
                        | b']'
                        | b'?'
                        | b'='
                        | b'{'
                        | b'}'
                )
        })
}

/// Error messages quote input, which may be a credential: never more than a few characters.
fn truncate(s: &str) -> String {
    let mut t: String = s.chars().take(24).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_with_prefix_and_duplicates() {
        let c = parse(Format::Header, "Cookie: unb=1; t=a=b; unb=2\n").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(super::super::value_of(&c, "unb"), Some("2"));
        assert_eq!(super::super::value_of(&c, "t"), Some("a=b"));
        assert!(!c[0].host_only);
        assert_eq!(c[0].domain, "goofish.com");
    }

    #[test]
    fn header_errors_name_the_line() {
        assert_eq!(
            parse(Format::Header, "unb=1\nbroken").unwrap_err(),
            ImportError::Line {
                line: 2,
                reason: "6 characters without `=` (a wrapped header?)".into()
            }
        );
        assert_eq!(
            parse(Format::Header, "t=1").unwrap_err(),
            ImportError::NoUnb
        );
        assert_eq!(parse(Format::Header, " ").unwrap_err(), ImportError::Empty);
    }

    #[test]
    fn json_dialects() {
        let ours = r#"[{"name":"unb","value":"1","domain":".goofish.com","path":"/","expires":null,"secure":false,"http_only":true,"same_site":"Lax"}]"#;
        let c = parse(Format::Json, ours).unwrap();
        assert!(c[0].http_only && !c[0].host_only);
        assert_eq!(c[0].same_site, Some(SameSite::Lax));
        let pw = r#"{"cookies":[{"name":"unb","value":"1","domain":"www.goofish.com","path":"/","expires":-1,"httpOnly":false,"secure":true,"sameSite":"None"}],"origins":[]}"#;
        let c = parse(Format::Json, pw).unwrap();
        assert!(c[0].host_only && c[0].secure && c[0].expires.is_none());
        let ext = r#"[{"domain":".goofish.com","expirationDate":1790000000.5,"hostOnly":false,"httpOnly":false,"name":"unb","path":"/","sameSite":"no_restriction","secure":true,"session":false,"storeId":"0","value":"1","id":1}]"#;
        let c = parse(Format::Json, ext).unwrap();
        assert_eq!(c[0].expires, Some(1_790_000_000));
        let err = parse(Format::Json, r#"[{"value":"1"}]"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cookie 1: missing field `name`"),
            "{err}"
        );
        let err = parse(Format::Json, r#"[{"name":"unb","value":12345}]"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cookie 1 (`unb`): field `value` must be a string"
        );
        let err = parse(
            Format::Json,
            r#"[{"name":"unb","value":"1","secure":"secretvalue"}]"#,
        )
        .unwrap_err();
        assert!(!err.to_string().contains("secretvalue"), "{err}");
    }

    #[test]
    fn netscape_roundtrip_and_errors() {
        let text = "# Netscape HTTP Cookie File\n#HttpOnly_.goofish.com\tTRUE\t/\tFALSE\t0\tunb\t1\nwww.goofish.com\tFALSE\t/im\tTRUE\t1790000000\tt\tx\n";
        let c = parse(Format::Netscape, text).unwrap();
        assert!(c[0].http_only && !c[0].host_only && c[0].expires.is_none());
        assert!(c[1].host_only && c[1].secure && c[1].path == "/im");
        let err = parse(Format::Netscape, "a\tb\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 1: expected 7 tab-separated fields, found 2"
        );
        let err = parse(Format::Netscape, ".g\tMAYBE\t/\tFALSE\t0\tunb\t1").unwrap_err();
        assert!(
            err.to_string()
                .contains("include-subdomains must be TRUE or FALSE")
        );
    }

    #[test]
    fn error_quotes_are_short() {
        let long = "x".repeat(100);
        let err = parse(Format::Header, &long).unwrap_err().to_string();
        assert!(err.len() < 80, "{err}");
    }
}
