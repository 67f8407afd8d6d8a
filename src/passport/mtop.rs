//! The h5api (mtop) gateway (protocol.md §2, §7.1): the anonymous token bootstrap,
//! signed calls, and what their `ret` codes mean for a login.

use super::wire;
use super::*;

/// What an mtop call found about the login (§2.5, §7.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MtopOutcome {
    Ok,
    SessionExpired(String),
    Risk(Option<String>),
    Other(String),
}

impl PassportClient {
    /// Step 1 (§2): the anonymous `_m_h5_tk`. A plain GET, then a POST signed with
    /// whatever token that gave; both answers set the token cookies.
    pub async fn bootstrap_h5_token(&self) -> Result<(), PassportError> {
        let api = "mtop.gaia.nodejs.gaia.idle.data.gw.v2.index.get";
        let url = self.url(&self.endpoints.h5api, &format!("h5/{api}/1.0/"))?;
        let _: wire::Mtop<serde::de::IgnoredAny> = self
            .json(
                Step::H5Token,
                self.http.get(url.clone()).headers(self.mtop_headers()),
            )
            .await?;
        match self
            .mtop_once(Step::H5Token, api, r#"{"bizScene":"home"}"#, false)
            .await?
        {
            (MtopOutcome::Ok, ..) => Ok(()),
            (MtopOutcome::Other(code), ..) if is_token_code(&code) => Ok(()),
            (other, ..) => Err(PassportError::Rejected {
                step: Step::H5Token,
                message: format!("{other:?}"),
            }),
        }
    }

    pub(super) fn mtop_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        let www = self.endpoints.www.as_str().trim_end_matches('/').to_owned();
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&www) {
            h.insert(header::ORIGIN, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("{www}/")) {
            h.insert(header::REFERER, v);
        }
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        h.insert("cache-control", HeaderValue::from_static("no-cache"));
        h
    }

    /// One signed mtop call; returns the outcome and the raw `ret[0]`.
    pub(super) async fn mtop_once(
        &self,
        step: Step,
        api: &str,
        data: &str,
        logged_in: bool,
    ) -> Result<(MtopOutcome, String, Option<String>), PassportError> {
        let t = crate::time::now_ms().to_string();
        let token = self.cookie_value("_m_h5_tk").unwrap_or_default();
        let sig = sign::sign(sign::token_of(&token), &t, sign::APP_KEY, data);
        let url = self.url(&self.endpoints.h5api, &format!("h5/{api}/1.0/"))?;
        let mut q: Vec<(&str, &str)> = vec![
            ("jsv", "2.7.2"),
            ("appKey", sign::APP_KEY),
            ("t", &t),
            ("sign", &sig),
            ("v", "1.0"),
            ("type", "originaljson"),
            ("dataType", "json"),
            ("timeout", "20000"),
            ("api", api),
        ];
        if logged_in {
            q.extend([
                ("accountSite", "xianyu"),
                ("sessionOption", "AutoLoginOnly"),
                ("spm_cnt", "a21ybx.im.0.0"),
            ]);
        }
        let req = self
            .http
            .post(url)
            .headers(self.mtop_headers())
            .query(&q)
            .form(&[("data", data)]);
        let resp: wire::Mtop<wire::PunishData> = self.json(step, req).await?;
        let first = resp.ret.first().cloned().unwrap_or_default();
        let (url, user) = resp.data.map(|d| (d.url, d.user_id)).unwrap_or_default();
        let user = user.and_then(|v| match v {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        Ok((classify_ret(&resp.ret, url), first, user))
    }

    /// A signed mtop call that absorbs a rotated token and signs again once (§7.5).
    pub async fn mtop(
        &self,
        step: Step,
        api: &str,
        data: &str,
    ) -> Result<MtopOutcome, PassportError> {
        Ok(self.mtop_user(step, api, data).await?.0)
    }

    /// [`mtop`](Self::mtop), also returning the `userId` the answer names, if any: the
    /// session's owner, to check against the account's unb.
    pub async fn mtop_user(
        &self,
        step: Step,
        api: &str,
        data: &str,
    ) -> Result<(MtopOutcome, Option<String>), PassportError> {
        let (outcome, first, user) = self.mtop_once(step, api, data, true).await?;
        if is_token_code(&first) {
            let (outcome, _, user) = self.mtop_once(step, api, data, true).await?;
            return Ok((outcome, user));
        }
        Ok((outcome, user))
    }
}

pub(super) fn is_token_code(code: &str) -> bool {
    code.starts_with("FAIL_SYS_TOKEN_EMPTY")
        || code.starts_with("FAIL_SYS_TOKEN_EXOIRED")
        || code.starts_with("FAIL_SYS_TOKEN_EXPIRED")
}

/// Map mtop `ret` codes to what they mean for the login (§2.5, §7.5, §9).
pub fn classify_ret(ret: &[String], url: Option<String>) -> MtopOutcome {
    let all = ret.join(" ");
    let first = ret.first().cloned().unwrap_or_default();
    if all.contains("FAIL_SYS_USER_VALIDATE")
        || all.contains("RGV587")
        || url.as_deref().is_some_and(|u| u.contains("punish"))
    {
        return MtopOutcome::Risk(url);
    }
    if first.starts_with("SUCCESS") {
        return MtopOutcome::Ok;
    }
    let dead = [
        "FAIL_SYS_SESSION_EXPIRED",
        "SID_INVALID",
        "AUTH_REJECT",
        "NEED_LOGIN",
        "FAIL_BIZ_USER_NOT_LOGIN",
    ];
    if dead.iter().any(|d| first.contains(d)) {
        return MtopOutcome::SessionExpired(first);
    }
    MtopOutcome::Other(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ret_classification() {
        let r = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            classify_ret(&r(&["SUCCESS::调用成功"]), None),
            MtopOutcome::Ok
        );
        assert!(matches!(
            classify_ret(&r(&["FAIL_SYS_SESSION_EXPIRED::Session过期"]), None),
            MtopOutcome::SessionExpired(_)
        ));
        assert!(matches!(
            classify_ret(
                &r(&["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::x"]),
                Some("u".into())
            ),
            MtopOutcome::Risk(Some(_))
        ));
        assert!(matches!(
            classify_ret(&r(&["FAIL_SYS_TOKEN_EXOIRED::令牌过期"]), None),
            MtopOutcome::Other(_)
        ));
    }
}
