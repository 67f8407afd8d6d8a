//! Renewing a stored session the way the official web does (protocol.md §7.3):
//! `hasLogin.do` and `silentHasLogin.do`.

use super::*;

/// Which long-login credential `silentHasLogin.do` renews with (§7.3): the Havana token
/// (`havana_lgc_exp` in the future) or, once that has passed, the Cookie3 backup
/// (`cookie3_bak_exp` in the future).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilentMode {
    Havana,
    Cookie3,
}

impl PassportClient {
    /// `hasLogin.do` (§7.3): is the session alive? Rotates login cookies when it is.
    pub async fn has_login(&self, unb: &str) -> Result<bool, PassportError> {
        let mut url = self.url(&self.endpoints.passport, "newlogin/hasLogin.do")?;
        url.query_pairs_mut()
            .extend_pairs([("appName", "xianyu"), ("fromSite", "77")]);
        let csrf = self.cookie_sent_to(&url, "_tb_token_").unwrap_or_default();
        let hsiz = self.cookie_sent_to(&url, "cookie2").unwrap_or_default();
        // The device as the peers identify it: the account's own `cna` (or `_uab_collina`),
        // never a fabricated one; empty when neither is stored.
        let device = self
            .cookie_sent_to(&url, "cna")
            .or_else(|| self.cookie_sent_to(&url, "_uab_collina"))
            .unwrap_or_default();
        let xsrf = self.cookie_sent_to(&url, "XSRF-TOKEN");
        let www = self.endpoints.www.as_str().to_owned();
        let page_trace = format!(
            "21504{}{:06}",
            crate::time::now_ms(),
            rand::random::<u32>() % 1_000_000
        );
        let form: [(&str, &str); 20] = [
            ("hid", unb),
            ("ltl", "true"),
            ("appName", "xianyu"),
            ("appEntrance", "web"),
            ("_csrf_token", &csrf),
            ("umidToken", &device),
            ("hsiz", &hsiz),
            ("bizParams", "taobaoBizLoginFrom=web"),
            ("mainPage", "false"),
            ("isMobile", "false"),
            ("lang", "zh_CN"),
            ("returnUrl", ""),
            ("fromSite", "77"),
            ("isIframe", "true"),
            ("documentReferer", &www),
            ("defaultView", "hasLogin"),
            ("umidTag", "SERVER"),
            ("deviceId", &device),
            ("pageTraceId", &page_trace),
            ("navlanguage", "zh-CN"),
        ];
        let mut req = self
            .http
            .post(url)
            .headers(self.passport_headers(&self.mini_login_url()))
            .form(&form);
        if let Some(token) = xsrf {
            req = req.header("x-xsrf-token", token);
        }
        let env: wire::Envelope<wire::RenewData> = self.json(Step::HasLogin, req).await?;
        check_intercepted(Step::HasLogin, &env.ret)?;
        if env.has_error {
            return Err(malformed(Step::HasLogin, "hasError"));
        }
        // An answer without `content.success` says nothing about the session.
        match env.content.and_then(|c| c.success) {
            Some(ok) => Ok(ok),
            None => Err(malformed(Step::HasLogin, "no `content.success`")),
        }
    }

    /// `silentHasLogin.do` as the official plugin sends it (§7.3): `ltl=true` in Havana
    /// mode, `skipSessionFilter=true&c2r=true` in Cookie3 mode.
    pub async fn silent_has_login(&self, mode: SilentMode) -> Result<bool, PassportError> {
        let mut url = self.url(&self.endpoints.passport, "newlogin/silentHasLogin.do")?;
        let page = self.endpoints.www.as_str().to_owned();
        url.query_pairs_mut().extend_pairs([
            ("documentReferer", page.as_str()),
            ("appName", "xianyu"),
            ("appEntrance", "xianyu_sdkSilent"),
            ("fromSite", "0"),
        ]);
        match mode {
            SilentMode::Havana => {
                url.query_pairs_mut().append_pair("ltl", "true");
            }
            SilentMode::Cookie3 => {
                url.query_pairs_mut()
                    .extend_pairs([("skipSessionFilter", "true"), ("c2r", "true")]);
            }
        }
        let origin = page.trim_end_matches('/').to_owned();
        let req = self
            .http
            .post(url)
            .header(header::ACCEPT, "*/*")
            .header(header::ORIGIN, origin)
            .header(header::REFERER, page)
            .header("sec-fetch-site", "same-site");
        let env: wire::Envelope<wire::RenewData> = self.json(Step::SilentLogin, req).await?;
        check_intercepted(Step::SilentLogin, &env.ret)?;
        let d = env
            .content
            .and_then(|c| c.data)
            .ok_or_else(|| malformed(Step::SilentLogin, "no `content.data`"))?;
        if d.process_finished.is_none() && d.result_code.is_none() {
            return Err(malformed(
                Step::SilentLogin,
                "no `processFinished` or `resultCode`",
            ));
        }
        if d.iframe_redirect == Some(true) || d.dialog_action.is_some() {
            return Err(PassportError::Risk {
                step: Step::SilentLogin,
                url: None,
            });
        }
        Ok(d.process_finished == Some(true) && d.result_code == Some(100))
    }
}
