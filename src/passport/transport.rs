//! Sending requests the way a browser does: headers of protocol.md §8, this account's
//! cookies on a shared pool, status checks, bodies read up to a cap, transport errors
//! mapped to `PassportError` without the URL.

use super::*;

/// Which trace entry a response belongs to (carried in its extensions).
#[derive(Clone, Copy)]
pub(super) struct TraceEntry(usize);

/// The largest decoded body accepted from each step: 4 MiB for HTML pages, 2 MiB for
/// JSON answers, both hundreds of times what the service sends.
pub(super) fn body_cap(step: Step) -> usize {
    match step {
        Step::MiniLogin | Step::Verification | Step::Landing => 4 << 20,
        _ => 2 << 20,
    }
}

impl PassportClient {
    /// Send one request, with this account's cookies when the client is shared.
    pub(super) async fn execute(
        &self,
        step: Step,
        rb: RequestBuilder,
    ) -> Result<reqwest::Response, PassportError> {
        use reqwest::cookie::CookieStore as _;
        let mut req = rb.build().map_err(|e| self.transport(step, e))?;
        let url = req.url().clone();
        let cookie = self.jar.cookies(&url);
        if self.shared {
            if let Some(v) = &cookie {
                req.headers_mut().insert(header::COOKIE, v.clone());
            }
            if let Ok(v) = HeaderValue::from_str(&self.user_agent) {
                req.headers_mut().insert(header::USER_AGENT, v);
            }
        }
        let traced = self.trace.as_ref().map(|t| {
            let shown = if self.shared { None } else { cookie.as_ref() };
            (t, t.request(&req, shown), std::time::Instant::now())
        });
        let mut resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| self.transport(step, e))?;
        if self.shared {
            self.jar
                .set_cookies(&mut resp.headers().get_all(header::SET_COOKIE).iter(), &url);
        }
        if let Some((t, i, started)) = traced {
            t.response(i, &resp, started.elapsed().as_secs_f64() * 1000.0);
            resp.extensions_mut().insert(TraceEntry(i));
        }
        Ok(resp)
    }

    pub(super) fn url(&self, base: &Url, path: &str) -> Result<Url, PassportError> {
        base.join(path).map_err(|e| PassportError::Malformed {
            step: Step::Landing,
            detail: format!("bad URL {path}: {e}"),
        })
    }

    pub(super) fn passport_headers(&self, referer: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let origin = self
            .endpoints
            .passport
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let pairs: [(&str, String); 9] = [
            ("accept", "application/json, text/plain, */*".into()),
            ("accept-language", "zh-CN,zh;q=0.9,en;q=0.8".into()),
            ("origin", origin),
            ("referer", referer.to_owned()),
            ("sec-fetch-dest", "empty".into()),
            ("sec-fetch-mode", "cors".into()),
            ("sec-fetch-site", "same-origin".into()),
            (
                "sec-ch-ua",
                "\"Chromium\";v=\"146\", \"Not-A.Brand\";v=\"24\", \"Google Chrome\";v=\"146\""
                    .into(),
            ),
            ("sec-ch-ua-platform", "\"Windows\"".into()),
        ];
        for (k, v) in pairs {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        }
        h.insert("sec-ch-ua-mobile", HeaderValue::from_static("?0"));
        h
    }

    /// A page navigation (a document or an iframe), as a browser sends it.
    pub(super) fn document(&self, url: Url, dest: &'static str) -> RequestBuilder {
        self.http
            .get(url)
            .header(
                header::ACCEPT,
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            )
            .header("sec-fetch-dest", dest)
            .header("sec-fetch-mode", "navigate")
    }

    pub(super) fn mini_login_url(&self) -> String {
        format!("{}mini_login.htm", self.endpoints.passport)
    }

    /// Send, check the status, read the (decompressed) body.
    pub(super) async fn send(
        &self,
        step: Step,
        req: RequestBuilder,
    ) -> Result<String, PassportError> {
        let resp = self.execute(step, req).await?;
        let status = resp.status();
        if status.is_server_error() || status.is_client_error() {
            return Err(PassportError::Http {
                step,
                status: status.as_u16(),
            });
        }
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            return Err(PassportError::Malformed {
                step,
                detail: format!("too many redirects (HTTP {})", status.as_u16()),
            });
        }
        self.body(step, resp).await
    }

    /// The decoded body, read up to the step's cap (protocol answers are a few KiB; a
    /// gzip bomb or an endless body must not take the host's memory, times
    /// `--concurrency`). Over the cap the step fails as a malformed answer (exit 6).
    pub(super) async fn body(
        &self,
        step: Step,
        mut resp: reqwest::Response,
    ) -> Result<String, PassportError> {
        let entry = resp.extensions().get::<TraceEntry>().copied();
        let mime = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let started = std::time::Instant::now();
        let cap = body_cap(step);
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(step, e))? {
            if buf.len() + chunk.len() > cap {
                return Err(PassportError::Malformed {
                    step,
                    detail: format!(
                        "the answer is larger than {} MiB once decoded: refused",
                        cap >> 20
                    ),
                });
            }
            buf.extend_from_slice(&chunk);
        }
        if let (Some(t), Some(TraceEntry(i))) = (&self.trace, entry) {
            t.body(i, &buf, &mime, started.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(String::from_utf8(buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    pub(super) fn transport(&self, step: Step, e: reqwest::Error) -> PassportError {
        // Never echo the URL: query strings can carry tokens.
        let e = e.without_url();
        if e.is_timeout() {
            PassportError::Timeout {
                step,
                secs: self.timeout.as_secs().max(1),
            }
        } else if e.is_decode() || e.is_body() {
            PassportError::Malformed {
                step,
                detail: format!("unreadable body ({})", root_cause(&e)),
            }
        } else {
            PassportError::Network {
                step,
                detail: root_cause(&e),
            }
        }
    }

    pub(super) async fn json<T: DeserializeOwned>(
        &self,
        step: Step,
        req: RequestBuilder,
    ) -> Result<T, PassportError> {
        let body = self.send(step, req).await?;
        parse_json(step, &body)
    }
}
