//! The middleware every simulated response passes through: latency, injected faults
//! (statuses, spoiled, truncated, reset, gzip-bombed or cookie-laden bodies), gzip for
//! clients that accept it, and the server headers Goofish sends.

use super::*;

pub(super) async fn shape(State(sh): S, req: Request, next: Next) -> Response {
    // The latency counts from here, before the world's lock is waited for.
    let arrived = Instant::now();
    let path = req.uri().path().to_owned();
    let control = path.starts_with("/__sim/");
    let accepts_gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    let (latency, fault, skew) = {
        let mut w = sh.world();
        *w.hits.entry(path.clone()).or_insert(0) += 1;
        let skew = w.scenario.clock_skew_s;
        if control {
            (0, None, skew)
        } else {
            (w.scenario.latency_ms, w.take_fault(&path), skew)
        }
    };
    sh.latency
        .hold(arrived, Duration::from_millis(latency))
        .await;
    if let Some(FaultKind::Delay { ms }) = &fault {
        tokio::time::sleep(Duration::from_millis(*ms)).await;
    }
    let resp = next.run(req).await;
    let (mut parts, body) = resp.into_parts();
    if sh.tls {
        let scoped: Vec<HeaderValue> = parts
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| HeaderValue::from_str(&scope_for_tls(v)).ok())
            .collect();
        parts.headers.remove(header::SET_COOKIE);
        for v in scoped {
            parts.headers.append(header::SET_COOKIE, v);
        }
    }
    let bytes = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    parts
        .headers
        .insert(header::SERVER, HeaderValue::from_static("Tengine"));
    parts
        .headers
        .insert("x-sim", HeaderValue::from_static("qrlogin"));
    let skew = skew.clamp(-(MAX_CLOCK_SKEW_S as i64), MAX_CLOCK_SKEW_S as i64);
    let date = if skew >= 0 {
        std::time::SystemTime::now() + Duration::from_secs(skew as u64)
    } else {
        std::time::SystemTime::now() - Duration::from_secs(skew.unsigned_abs())
    };
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(date)) {
        parts.headers.insert(header::DATE, v);
    }
    // A spoiled body stands in for the page: a redirect becomes that page.
    if fault.as_ref().is_some_and(|f| {
        !matches!(
            f,
            FaultKind::Delay { .. } | FaultKind::Status { .. } | FaultKind::ExtraCookie { .. }
        )
    }) && parts.status.is_redirection()
    {
        parts.status = StatusCode::OK;
        parts.headers.remove(header::LOCATION);
    }
    let bytes: Bytes = match fault {
        None | Some(FaultKind::Delay { .. }) => bytes,
        Some(FaultKind::ExtraCookie { cookie }) => {
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                parts.headers.append(header::SET_COOKIE, v);
            }
            bytes
        }
        Some(FaultKind::Status { code }) => {
            parts.status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            parts.headers.remove(header::SET_COOKIE);
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            Bytes::from(format!("<html><body><h1>{code}</h1>Tengine</body></html>"))
        }
        Some(FaultKind::HtmlPage) => {
            parts.headers.remove(header::SET_COOKIE);
            parts
                .headers
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            Bytes::from_static(pages::BLOCK_PAGE.as_bytes())
        }
        Some(FaultKind::Truncated) => bytes.slice(..bytes.len() / 2),
        Some(FaultKind::Empty) => Bytes::new(),
        Some(FaultKind::CorruptGzip) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(
                parts,
                Body::from(&b"\x1f\x8b\x08\x00garbage-not-gzip"[..]),
            );
        }
        Some(FaultKind::GzipBomb { mb }) => {
            use std::io::Write;
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..mb.min(4096) {
                let _ = enc.write_all(&zeros);
            }
            let gz = enc.finish().unwrap_or_default();
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            return Response::from_parts(parts, Body::from(gz));
        }
        Some(FaultKind::Reset) => {
            parts.headers.remove(header::CONTENT_LENGTH);
            let half = bytes.slice(..bytes.len() / 2);
            let stream = futures_stream(half);
            return Response::from_parts(parts, Body::from_stream(stream));
        }
        Some(FaultKind::HasError) => {
            parts.status = StatusCode::OK;
            Bytes::from(
                json!({"content": {"data": {}, "success": false}, "hasError": true}).to_string(),
            )
        }
        Some(FaultKind::MissingField) => Bytes::from(spoil(&bytes, false)),
        Some(FaultKind::WrongType) => Bytes::from(spoil(&bytes, true)),
        Some(FaultKind::Body { body }) => Bytes::from(body),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    if accepts_gzip && !bytes.is_empty() && !parts.headers.contains_key(header::CONTENT_ENCODING) {
        if let Some(gz) = gzip_remembered(&bytes) {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            return Response::from_parts(parts, Body::from(gz));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Bodies this thread has gzipped lately, by body, at most this many: hasLogin's answer is
/// the same bytes for every account (only its cookies differ), so a fleet's refresh
/// compresses it once per thread instead of once per account.
const REMEMBERED: usize = 64;
/// And of at most this length: the small JSON answers repeat, and memory stays bounded.
const REMEMBERED_LEN: usize = 4096;

/// `gzip(bytes)`, from memory when this thread compressed the same body lately. Once full,
/// the memory is emptied: bodies that never repeat (a nick, a token) come and go, and one
/// that repeats is back after its next answer.
fn gzip_remembered(bytes: &Bytes) -> Option<Bytes> {
    thread_local! {
        static GZIPPED: std::cell::RefCell<HashMap<Bytes, Bytes>> =
            std::cell::RefCell::new(HashMap::new());
    }
    if let Some(gz) = GZIPPED.with_borrow(|m| m.get(bytes).cloned()) {
        return Some(gz);
    }
    let gz = Bytes::from(gzip(bytes)?);
    if bytes.len() > REMEMBERED_LEN {
        return Some(gz);
    }
    GZIPPED.with_borrow_mut(|m| {
        if m.len() >= REMEMBERED {
            m.clear();
        }
        m.insert(bytes.clone(), gz.clone());
    });
    Some(gz)
}

/// `bytes` as a gzip member, by a compressor each thread keeps: a new one zeroes about
/// 250 KiB of tables, and in the benchmarks the simulator shares the machine with the
/// clients it measures (that was a third of its CPU).
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    use flate2::{Compress, Compression, Crc, FlushCompress, Status};
    thread_local! {
        static DEFLATE: std::cell::RefCell<Compress> =
            std::cell::RefCell::new(Compress::new(Compression::fast(), false));
    }
    DEFLATE.with_borrow_mut(|deflate| {
        deflate.reset();
        // ID1 ID2, deflate, no flags, no time, fastest, unknown OS (RFC 1952 §2.3).
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff];
        out.reserve(bytes.len() / 2 + 64);
        loop {
            let read = usize::try_from(deflate.total_in()).ok()?;
            match deflate.compress_vec(&bytes[read..], &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => break,
                Ok(_) => out.reserve(out.capacity().max(64)),
                Err(_) => return None,
            }
        }
        let mut crc = Crc::new();
        crc.update(bytes);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        Some(out)
    })
}

/// Half a body, then an error: hyper aborts the connection mid-body.
pub(super) fn futures_stream(
    half: Bytes,
) -> impl tokio_stream_like::Stream<Item = Result<Bytes, std::io::Error>> {
    tokio_stream_like::two(half)
}

/// A tiny two-item stream without pulling in a streams crate.
pub(super) mod tokio_stream_like {
    use axum::body::Bytes;
    pub use futures_core::Stream;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Two(u8, Bytes);

    pub fn two(b: Bytes) -> Two {
        Two(0, b)
    }

    impl Stream for Two {
        type Item = Result<Bytes, std::io::Error>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.0 += 1;
            match self.0 {
                1 => Poll::Ready(Some(Ok(self.1.clone()))),
                2 => Poll::Ready(Some(Err(std::io::Error::other(
                    "connection reset by simulator",
                )))),
                _ => Poll::Ready(None),
            }
        }
    }
}

/// Remove (or retype) the payload field a client needs: `content.data`'s keys for a
/// passport envelope, `ret` for mtop, `success` for the account endpoints.
pub(super) fn spoil(bytes: &[u8], wrong_type: bool) -> String {
    let Ok(mut v) = serde_json::from_slice::<Value>(bytes) else {
        // An HTML page: spoil the login form inside `window.viewData`, if it has one.
        let html = String::from_utf8_lossy(bytes);
        return if wrong_type {
            html.replace("\"loginFormData\":{", "\"loginFormData\":[{")
                .replace("}};", "}]};")
        } else {
            html.replace("\"loginFormData\"", "\"loginForm\"")
        };
    };
    let replacement = |_: &Value| json!(["wrong", "type"]);
    if let Some(data) = v
        .pointer_mut("/content/data")
        .and_then(Value::as_object_mut)
    {
        let keys: Vec<String> = data.keys().cloned().collect();
        for k in keys {
            if wrong_type {
                let r = replacement(&data[&k]);
                data.insert(k, r);
            } else {
                data.remove(&k);
            }
        }
    } else if let Some(obj) = v.as_object_mut() {
        for k in ["ret", "success", "returnValue", "content"] {
            if obj.contains_key(k) {
                if wrong_type {
                    obj.insert(k.into(), json!(42));
                } else {
                    obj.remove(k);
                }
            }
        }
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoiling_removes_or_retypes_the_payload() {
        let body = passport(json!({"t": 1, "ck": "x"}), 0, true).to_string();
        let missing: Value = serde_json::from_str(&spoil(body.as_bytes(), false)).unwrap();
        assert_eq!(missing["content"]["data"], json!({}));
        let wrong: Value = serde_json::from_str(&spoil(body.as_bytes(), true)).unwrap();
        assert!(wrong["content"]["data"]["t"].is_array());
    }

    #[test]
    fn gzip_members_read_back_whole_however_many_and_however_large() {
        use std::io::Read;
        let big: Vec<u8> = (0..300_000u32)
            .flat_map(|i| i.wrapping_mul(7919).to_le_bytes())
            .collect();
        for body in [&br#"{"ok":true}"#[..], &big, b"x"] {
            // Twice each: the second reuses the thread's compressor.
            for _ in 0..2 {
                let gz = gzip(body).unwrap();
                assert_eq!(gzip_remembered(&Bytes::copy_from_slice(body)).unwrap(), gz);
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(&gz[..])
                    .read_to_end(&mut back)
                    .unwrap();
                assert_eq!(back, body);
            }
        }
    }
}
