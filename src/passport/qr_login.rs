//! The QR login itself (protocol.md §3–§5): the login form, generate and query, the
//! CONFIRMED variants' follow-ups, landing the session, and turning long login on.

use super::wire;
use super::*;

/// What query.do said about a QR code (protocol.md §5.2, §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrState {
    /// `NEW`: keep waiting.
    Waiting,
    /// An empty or unknown status (seen briefly during verification): keep waiting too.
    Unknown(String),
    Scanned,
    Confirmed(Confirmation),
    Expired,
    Canceled,
    /// `ERROR` or `hasError:true`: a transient server-side failure.
    ServerError(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmation {
    /// (b) a login token to redeem at `login_token/login.do`.
    pub token: Option<String>,
    /// (c) the keep-login dialog's confirm URL.
    pub keep_login_url: Option<String>,
    /// (d) identity verification required: where it starts.
    pub verify_url: Option<String>,
}

/// A QR code from generate.do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrCode {
    pub t: u64,
    pub ck: String,
    pub content: String,
}

impl PassportClient {
    /// Step 2 (§3): `mini_login.htm` → the login form, values as JSON renders them, plus
    /// `umidTag=SERVER`.
    pub async fn mini_login(&self) -> Result<Vec<(String, String)>, PassportError> {
        let mut url = self.url(&self.endpoints.passport, "mini_login.htm")?;
        url.query_pairs_mut().extend_pairs([
            ("lang", "zh_cn"),
            ("appName", "xianyu"),
            ("appEntrance", "web"),
            ("styleType", "vertical"),
            ("bizParams", ""),
            ("notLoadSsoView", "false"),
            ("notKeepLogin", "false"),
            ("isMobile", "false"),
            ("qrCodeFirst", "false"),
            ("stie", "77"),
            ("rnd", &format!("{}", rand::random::<f64>())),
        ]);
        // Loaded as the login iframe inside www.goofish.com (§3.1).
        let req = self
            .document(url, "iframe")
            .header(header::REFERER, self.endpoints.www.as_str())
            .header("sec-fetch-site", "same-site");
        let html = self.send(Step::MiniLogin, req).await?;
        let mut form = viewdata::login_form(&html).map_err(|e| PassportError::Malformed {
            step: Step::MiniLogin,
            detail: e.to_string(),
        })?;
        if !form.iter().any(|(k, _)| k == "umidTag") {
            form.push(("umidTag".into(), "SERVER".into()));
        }
        Ok(form)
    }

    /// Step 3 (§4): a new QR code.
    pub async fn generate(&self, form: &[(String, String)]) -> Result<QrCode, PassportError> {
        let url = self.url(&self.endpoints.passport, "newlogin/qrcode/generate.do")?;
        let req = self
            .http
            .get(url)
            .headers(self.passport_headers(&self.mini_login_url()))
            .query(form);
        let env: wire::Envelope<serde_json::Map<String, serde_json::Value>> =
            self.json(Step::Generate, req).await?;
        check_intercepted(Step::Generate, &env.ret)?;
        let content = env
            .content
            .ok_or_else(|| malformed(Step::Generate, "no `content`"))?;
        let data = content.data.unwrap_or_default();
        if content.success != Some(true) || env.has_error {
            let err: wire::ErrorData =
                serde_json::from_value(serde_json::Value::Object(data)).unwrap_or_default();
            return Err(PassportError::Rejected {
                step: Step::Generate,
                message: err.title_msg.unwrap_or_else(|| {
                    format!(
                        "code {}",
                        err.result_code.map_or("?".into(), |c| c.to_string())
                    )
                }),
            });
        }
        let g: wire::GenerateData = serde_json::from_value(serde_json::Value::Object(data))
            .map_err(|e| malformed(Step::Generate, &e.to_string()))?;
        if g.ck.is_empty() || g.code_content.is_empty() {
            return Err(malformed(Step::Generate, "empty `ck` or `codeContent`"));
        }
        Ok(QrCode {
            t: g.t,
            ck: g.ck,
            content: g.code_content,
        })
    }

    /// Step 4 (§5): one poll.
    pub async fn query(
        &self,
        form: &[(String, String)],
        qr: &QrCode,
    ) -> Result<QrState, PassportError> {
        let url = self.url(&self.endpoints.passport, "newlogin/qrcode/query.do")?;
        let t = qr.t.to_string();
        let www = self.endpoints.www.as_str();
        let im = format!("{www}im");
        let mut body: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        body.extend([
            ("t", t.as_str()),
            ("ck", qr.ck.as_str()),
            ("ua", ""),
            ("navlanguage", "zh-CN"),
            ("navUserAgent", self.user_agent.as_str()),
            ("navPlatform", "Win32"),
            ("isIframe", "true"),
            ("documentReferer", im.as_str()),
            ("defaultView", "qrcode"),
        ]);
        let req = self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url()))
            .form(&body);
        let env: wire::Envelope<wire::QueryData> = self.json(Step::Query, req).await?;
        check_intercepted(Step::Query, &env.ret)?;
        if env.has_error {
            return Ok(QrState::ServerError("hasError".into()));
        }
        let data = env.content.and_then(|c| c.data).unwrap_or_default();
        Ok(classify_query(data))
    }

    /// (b) Redeem a CONFIRMED login token.
    pub async fn redeem_token(&self, token: &str) -> Result<(), PassportError> {
        let url = self.url(&self.endpoints.passport, "login_token/login.do")?;
        let cna = self.cookie_value("cna").unwrap_or_default();
        let req = self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url()))
            .query(&[
                ("token", token),
                ("subFlow", "DIALOG_CHECK_LOGIN_RPC"),
                ("nextCode", "0018"),
                ("bizScene", "qrcode"),
                ("confirm", "true"),
            ])
            .form(&[("deviceId", cna.as_str())]);
        let env: wire::Envelope<wire::ErrorData> = self.json(Step::LoginToken, req).await?;
        expect_success(Step::LoginToken, env)
    }

    /// (c) Confirm the keep-login dialog.
    pub async fn confirm_keep_login(&self, path: &str) -> Result<(), PassportError> {
        let url = self.url(&self.endpoints.passport, path.trim_start_matches('/'))?;
        let req = self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url()));
        let env: wire::Envelope<wire::ErrorData> = self.json(Step::KeepLogin, req).await?;
        expect_success(Step::KeepLogin, env)
    }

    /// Land the session (§5.4): GET www `/im` as a document, following redirects and
    /// keeping every hop's cookies. Fails unless the result holds `unb`.
    pub async fn land(&self) -> Result<(), PassportError> {
        let url = self.url(&self.endpoints.www, "im")?;
        let req = self
            .document(url, "document")
            .header(header::REFERER, self.endpoints.www.as_str())
            .header("upgrade-insecure-requests", "1");
        let resp = self.execute(Step::Landing, req).await?;
        let status = resp.status();
        let final_host = resp.url().host_str().map(str::to_owned);
        let final_path = resp.url().path().to_owned();
        if !status.is_success() {
            return Err(PassportError::Http {
                step: Step::Landing,
                status: status.as_u16(),
            });
        }
        // The page itself is not needed, only its cookies; read it (bounded) to the end.
        let _ = self.body(Step::Landing, resp).await;
        if final_host != self.endpoints.www.host_str().map(str::to_owned)
            || !final_path.starts_with("/im")
        {
            return Err(PassportError::Rejected {
                step: Step::Landing,
                message: "sent to the login page: the session was not accepted".into(),
            });
        }
        if self.cookie_value("unb").is_none_or(|u| u.is_empty()) {
            return Err(PassportError::Rejected {
                step: Step::Landing,
                message: "no `unb` cookie after login".into(),
            });
        }
        Ok(())
    }

    /// A POST to one of the account's login-settings endpoints (§7.3), with their query.
    fn login_settings(&self, endpoint: &str) -> Result<RequestBuilder, PassportError> {
        let mut url = self.url(&self.endpoints.passport, &format!("ac/account/{endpoint}"))?;
        url.query_pairs_mut().extend_pairs([
            ("fromSite", "77"),
            ("appName", "xianyu"),
            ("bizEntrance", "web"),
        ]);
        Ok(self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url())))
    }

    /// Ask whether long login is on (§7.3): `queryLoginSettings.do`'s
    /// `returnValue.hasLongTokenLogin`, found at any depth as YD does. `None` when the
    /// answer does not say.
    pub async fn query_long_login(&self) -> Result<Option<bool>, PassportError> {
        let req = self.login_settings("queryLoginSettings.do")?;
        let v: serde_json::Value = self.json(Step::LongLogin, req).await?;
        fn find(v: &serde_json::Value) -> Option<bool> {
            match v {
                serde_json::Value::Object(m) => m
                    .get("returnValue")
                    .and_then(|r| r.get("hasLongTokenLogin"))
                    .and_then(serde_json::Value::as_bool)
                    .or_else(|| m.values().find_map(find)),
                serde_json::Value::Array(a) => a.iter().find_map(find),
                _ => None,
            }
        }
        Ok(find(&v))
    }

    /// Turn on long login (§7.3): `setLoginSettings.do status=0`. Returns whether the
    /// service said yes.
    pub async fn enable_long_login(&self) -> Result<bool, PassportError> {
        let req = self
            .login_settings("setLoginSettings.do")?
            .form(&[("status", "0")]);
        let r: wire::LoginSettings = self.json(Step::LongLogin, req).await?;
        check_intercepted(Step::LongLogin, &r.ret)?;
        Ok(r.success == Some(true)
            || r.data.and_then(|d| d.success) == Some(true)
            || r.content.and_then(|c| c.success) == Some(true))
    }
}

/// Map query.do's data to a state (§5.2, §5.3). Unknown or empty → keep waiting;
/// `SCANNED`/`CANCELLED` are accepted defensively.
pub fn classify_query(d: wire::QueryData) -> QrState {
    match d.qr_code_status.as_deref().map(str::trim).unwrap_or("") {
        "SCANED" | "SCANNED" => QrState::Scanned,
        "EXPIRED" => QrState::Expired,
        "CANCELED" | "CANCELLED" => QrState::Canceled,
        "ERROR" => QrState::ServerError(d.title_msg.unwrap_or_else(|| "ERROR".into())),
        "CONFIRMED" => {
            let verify_url = if d.iframe_redirect == Some(true) {
                d.iframe_redirect_url
                    .map(|u| normalise_url(&u))
                    .filter(|u| !u.is_empty())
            } else {
                None
            };
            let keep_login_url = match d.dialog_action.as_deref() {
                Some(
                    "keepLoginConfirm" | "keepLoginConfirmDialog" | "keepLoginSilentNoticeDialog",
                ) => d
                    .feedback_payload
                    .and_then(|f| f.dynamic_url)
                    .and_then(|u| u.dialog_confirm_login_url),
                _ => None,
            };
            QrState::Confirmed(Confirmation {
                token: d.token.or(d.lg_token).filter(|t| !t.is_empty()),
                keep_login_url,
                verify_url,
            })
        }
        "NEW" => QrState::Waiting,
        other => QrState::Unknown(other.to_owned()),
    }
}

/// A URL as pages hand them out: `\/`-escaped, HTML-escaped, or protocol-relative.
pub fn normalise_url(raw: &str) -> String {
    let u = raw.trim().replace("\\/", "/").replace("&amp;", "&");
    if let Some(rest) = u.strip_prefix("//") {
        format!("https://{rest}")
    } else {
        u
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_classification_is_tolerant() {
        let q = |s: &str| wire::QueryData {
            qr_code_status: Some(s.into()),
            ..Default::default()
        };
        assert_eq!(classify_query(q("NEW")), QrState::Waiting);
        assert_eq!(classify_query(q("")), QrState::Unknown(String::new()));
        assert_eq!(
            classify_query(q("WHATEVER")),
            QrState::Unknown("WHATEVER".into())
        );
        assert_eq!(classify_query(q("SCANED")), QrState::Scanned);
        assert_eq!(classify_query(q("CANCELLED")), QrState::Canceled);
        let mut d = q("CONFIRMED");
        d.iframe_redirect = Some(true);
        d.iframe_redirect_url = Some("\\/\\/passport.goofish.com\\/iv\\/x.htm?a=1&amp;b=2".into());
        let QrState::Confirmed(c) = classify_query(d) else {
            panic!()
        };
        assert_eq!(
            c.verify_url.as_deref(),
            Some("https://passport.goofish.com/iv/x.htm?a=1&b=2")
        );
    }
}
