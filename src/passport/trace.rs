//! `--trace FILE`: every HTTP exchange of a run as a HAR 1.2 file (what browsers' developer
//! tools export), for a bug report when the service changes. Redaction is always on: cookie
//! values, token-like query, form and JSON fields, and any session value seen during the
//! run are replaced by `[redacted:N]` (N the length), names kept so the shape stays
//! readable. The QR content (`codeContent`) is kept: it is what the person scans.

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use url::Url;

/// Bodies are cut here: enough to see an answer's shape.
const BODY_LIMIT: usize = 64 * 1024;

/// Cookies whose values are not credentials (ids, flags, expiry times): kept as they are.
const PUBLIC_COOKIES: &[&str] = &[
    "unb",
    "tracknick",
    "_hvn_lgc_",
    "last_u_xianyu_web",
    "sdkSilent",
    "havana_lgc_exp",
    "cookie3_bak_exp",
    "_samesite_flag_",
];

/// A recorder shared by every client of one run.
#[derive(Clone, Default)]
pub struct Trace(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    entries: Vec<Value>,
    /// Session values seen (cookie values, redacted fields): scrubbed from every text at
    /// the end, so an HTML page that embeds one (mini_login's `hsiz`) does not leak it.
    secrets: BTreeSet<String>,
}

/// Whether a field or parameter named `name` carries a credential.
fn sensitive(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "_csrf_token" | "umidtoken" | "hsiz" | "ck" | "lgtoken" | "htoken" | "sign" | "deviceid"
    ) || [
        "token", "ticket", "session", "csrf", "_tk", "secret", "password", "sgcookie",
    ]
    .iter()
    .any(|k| n.contains(k))
}

fn mark(value: &str) -> String {
    format!("[redacted:{}]", value.chars().count())
}

/// Never the recorded exchanges: they hold (redacted, but still) session traffic.
impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trace({} entries)", self.inner().entries.len())
    }
}

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a request about to be sent; returns its entry's index.
    pub fn request(&self, req: &reqwest::Request, cookie: Option<&HeaderValue>) -> usize {
        let mut inner = self.inner();
        let mut headers = header_list(req.headers(), &mut inner.secrets);
        if let Some(c) = cookie.and_then(|c| c.to_str().ok()) {
            headers.push(
                json!({"name": "cookie", "value": redact_cookie_header(c, &mut inner.secrets)}),
            );
        }
        let url = redact_url(req.url(), &mut inner.secrets);
        let body = req
            .body()
            .and_then(|b| b.as_bytes())
            .map(|b| String::from_utf8_lossy(b).into_owned());
        let post = body.map(|text| {
            let params: Vec<Value> = url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| {
                    let v = if sensitive(&k) {
                        inner.secrets.insert(v.to_string());
                        mark(&v)
                    } else {
                        v.into_owned()
                    };
                    json!({"name": k, "value": v})
                })
                .collect();
            json!({"mimeType": "application/x-www-form-urlencoded", "params": params, "text": ""})
        });
        let entry = json!({
            "startedDateTime": crate::time::rfc3339_ms(crate::time::now_ms()),
            "time": 0,
            "request": {
                "method": req.method().as_str(),
                "url": url.as_str(),
                "httpVersion": "HTTP/1.1",
                "headers": headers,
                "queryString": url.query_pairs().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
                "cookies": [],
                "headersSize": -1,
                "bodySize": -1,
                "postData": post,
            },
            "response": {"status": 0, "statusText": "", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                         "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1, "bodySize": -1},
            "cache": {},
            "timings": {"send": 0, "wait": 0, "receive": 0},
        });
        inner.entries.push(entry);
        inner.entries.len() - 1
    }

    /// The response's status and headers, `wait_ms` after the request was sent.
    pub fn response(&self, i: usize, resp: &reqwest::Response, wait_ms: f64) {
        let mut inner = self.inner();
        let headers = header_list(resp.headers(), &mut inner.secrets);
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if let Some(e) = inner.entries.get_mut(i) {
            e["response"]["status"] = json!(resp.status().as_u16());
            e["response"]["statusText"] = json!(resp.status().canonical_reason().unwrap_or(""));
            e["response"]["headers"] = json!(headers);
            e["response"]["redirectURL"] = json!(location);
            e["timings"]["wait"] = json!(wait_ms);
            e["time"] = json!(wait_ms);
        }
    }

    /// The (decoded) body, cut at 64 KiB; JSON fields named like credentials redacted.
    pub fn body(&self, i: usize, body: &[u8], mime: &str, receive_ms: f64) {
        let mut inner = self.inner();
        let cut = &body[..body.len().min(BODY_LIMIT)];
        let mut text = String::from_utf8_lossy(cut).into_owned();
        if let Ok(mut v) = serde_json::from_slice::<Value>(cut) {
            redact_json(&mut v, &mut inner.secrets);
            text = v.to_string();
        }
        if let Some(e) = inner.entries.get_mut(i) {
            e["response"]["content"] = json!({"size": body.len(), "mimeType": mime, "text": text});
            e["response"]["bodySize"] = json!(body.len());
            e["timings"]["receive"] = json!(receive_ms);
            let total = e["timings"]["wait"].as_f64().unwrap_or(0.0) + receive_ms;
            e["time"] = json!(total);
        }
    }

    /// A redirect the HTTP client followed by itself.
    pub(super) fn redirect(&self, status: u16, from: &Url, to: &Url) {
        let mut inner = self.inner();
        let (from, to) = (
            redact_url(from, &mut inner.secrets),
            redact_url(to, &mut inner.secrets),
        );
        inner.entries.push(json!({
            "startedDateTime": crate::time::rfc3339_ms(crate::time::now_ms()),
            "time": 0,
            "request": {"method": "GET", "url": from.as_str(), "httpVersion": "HTTP/1.1", "headers": [],
                        "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1},
            "response": {"status": status, "statusText": "redirect (followed by the client)", "httpVersion": "HTTP/1.1",
                         "headers": [], "cookies": [], "content": {"size": 0, "mimeType": ""},
                         "redirectURL": to.as_str(), "headersSize": -1, "bodySize": -1},
            "cache": {},
            "timings": {"send": 0, "wait": 0, "receive": 0},
        }));
    }

    /// The whole run as HAR 1.2, every known session value scrubbed.
    pub fn to_har(&self) -> String {
        let inner = self.inner();
        let log = json!({"log": {
            "version": "1.2",
            "creator": {"name": "qrlogin", "version": env!("CARGO_PKG_VERSION")},
            "pages": [],
            "entries": inner.entries,
        }});
        let mut text = serde_json::to_string_pretty(&log).unwrap_or_default();
        // Longest first, so a value that contains another is replaced whole.
        let mut secrets: Vec<&String> = inner.secrets.iter().filter(|s| s.len() >= 8).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in secrets {
            let escaped = serde_json::to_string(s).unwrap_or_default();
            let inner_text = escaped.trim_matches('"');
            text = text.replace(inner_text, &mark(s));
        }
        text
    }

    /// Write the file, owner-only from the first byte.
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        crate::private_file::write_private(path, self.to_har().as_bytes())
    }
}

fn header_list(headers: &HeaderMap, secrets: &mut BTreeSet<String>) -> Vec<Value> {
    headers
        .iter()
        .map(|(k, v)| {
            let v = v.to_str().unwrap_or("");
            let shown = match k.as_str() {
                "cookie" => redact_cookie_header(v, secrets),
                "set-cookie" => redact_set_cookie(v, secrets),
                name if sensitive(name) => {
                    secrets.insert(v.to_owned());
                    mark(v)
                }
                _ => v.to_owned(),
            };
            json!({"name": k.as_str(), "value": shown})
        })
        .collect()
}

fn redact_cookie_header(v: &str, secrets: &mut BTreeSet<String>) -> String {
    v.split("; ")
        .map(|pair| match pair.split_once('=') {
            Some((n, val)) if !PUBLIC_COOKIES.contains(&n) => {
                secrets.insert(val.to_owned());
                format!("{n}={}", mark(val))
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn redact_set_cookie(v: &str, secrets: &mut BTreeSet<String>) -> String {
    let (first, rest) = v.split_once(';').unwrap_or((v, ""));
    let first = match first.split_once('=') {
        Some((n, val)) if !PUBLIC_COOKIES.contains(&n.trim()) => {
            secrets.insert(val.to_owned());
            format!("{n}={}", mark(val))
        }
        _ => first.to_owned(),
    };
    if rest.is_empty() {
        first
    } else {
        format!("{first};{rest}")
    }
}

fn redact_url(url: &Url, secrets: &mut BTreeSet<String>) -> Url {
    let mut out = url.clone();
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                if sensitive(&k) {
                    secrets.insert(v.to_string());
                    (k.into_owned(), mark(&v))
                } else {
                    (k.into_owned(), v.into_owned())
                }
            })
            .collect();
        out.query_pairs_mut().clear().extend_pairs(pairs);
    }
    out
}

fn redact_json(v: &mut Value, secrets: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if k == "codeContent" {
                    continue;
                }
                match val {
                    Value::String(s) if sensitive(k) => {
                        secrets.insert(s.clone());
                        *val = json!(mark(s));
                    }
                    Value::Number(n) if sensitive(k) => {
                        let s = n.to_string();
                        *val = json!(mark(&s));
                    }
                    _ => redact_json(val, secrets),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_json(x, secrets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_names_and_the_qr() {
        let mut secrets = BTreeSet::new();
        assert_eq!(
            redact_cookie_header("unb=1; cookie2=abcdef123456", &mut secrets),
            "unb=1; cookie2=[redacted:12]"
        );
        assert_eq!(
            redact_set_cookie("sgcookie=E100xyz; Path=/; HttpOnly", &mut secrets),
            "sgcookie=[redacted:7]; Path=/; HttpOnly"
        );
        let mut v = json!({"content": {"data": {"ck": "secretck", "t": 1, "codeContent": "https://x/?lgToken=abc"}}});
        redact_json(&mut v, &mut secrets);
        assert_eq!(v["content"]["data"]["ck"], "[redacted:8]");
        assert_eq!(
            v["content"]["data"]["codeContent"],
            "https://x/?lgToken=abc"
        );
        let u = redact_url(
            &Url::parse("https://h/p?t=1&sign=abcd&appKey=34839810").unwrap(),
            &mut secrets,
        );
        assert_eq!(
            u.query(),
            Some("t=1&sign=%5Bredacted%3A4%5D&appKey=34839810")
        );
    }
}
