//! The wire shapes of Goofish responses (protocol.md §2.5, §4.2, §5, §6, §7.3), as typed
//! structs. Tolerant where the protocol is uncertain: optional fields are optional,
//! numbers may arrive as strings, booleans as strings.

use serde::{Deserialize, Deserializer};

/// The Havana passport envelope `{"content":{"data":…,"status":N,"success":b},"hasError":b}`,
/// which an anti-bot edge may replace with an mtop-style `ret` + `data.url` body.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    #[serde(default = "none")]
    pub content: Option<Content<T>>,
    #[serde(rename = "hasError", default, deserialize_with = "flex_bool")]
    pub has_error: bool,
    #[serde(default)]
    pub ret: Option<Vec<String>>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Debug, Deserialize)]
pub struct Content<T> {
    #[serde(default = "none")]
    pub data: Option<T>,
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(default, deserialize_with = "flex_opt_bool")]
    pub success: Option<bool>,
}

/// generate.do `content.data`.
#[derive(Debug, Deserialize)]
pub struct GenerateData {
    #[serde(deserialize_with = "integer")]
    pub t: u64,
    pub ck: String,
    #[serde(rename = "codeContent")]
    pub code_content: String,
}

/// Error details some passport answers carry.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorData {
    #[serde(rename = "titleMsg", default)]
    pub title_msg: Option<String>,
    #[serde(rename = "resultCode", default, deserialize_with = "flex_opt_i64")]
    pub result_code: Option<i64>,
}

/// query.do `content.data`.
#[derive(Debug, Default, Deserialize)]
pub struct QueryData {
    #[serde(rename = "qrCodeStatus", default)]
    pub qr_code_status: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(rename = "lgToken", default)]
    pub lg_token: Option<String>,
    #[serde(rename = "dialogAction", default)]
    pub dialog_action: Option<String>,
    #[serde(rename = "feedbackPayload", default)]
    pub feedback_payload: Option<FeedbackPayload>,
    #[serde(rename = "iframeRedirect", default, deserialize_with = "flex_opt_bool")]
    pub iframe_redirect: Option<bool>,
    #[serde(rename = "iframeRedirectUrl", default)]
    pub iframe_redirect_url: Option<String>,
    #[serde(rename = "titleMsg", default)]
    pub title_msg: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FeedbackPayload {
    #[serde(rename = "dynamicUrl", default)]
    pub dynamic_url: Option<DynamicUrl>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DynamicUrl {
    #[serde(rename = "dialogConfirmLoginUrl", default)]
    pub dialog_confirm_login_url: Option<String>,
}

/// hasLogin / silentHasLogin / keep-login confirm `content.data`.
#[derive(Debug, Default, Deserialize)]
pub struct RenewData {
    #[serde(
        rename = "processFinished",
        default,
        deserialize_with = "flex_opt_bool"
    )]
    pub process_finished: Option<bool>,
    #[serde(rename = "resultCode", default, deserialize_with = "flex_opt_i64")]
    pub result_code: Option<i64>,
    #[serde(rename = "titleMsg", default)]
    pub title_msg: Option<String>,
    #[serde(rename = "iframeRedirect", default, deserialize_with = "flex_opt_bool")]
    pub iframe_redirect: Option<bool>,
    #[serde(rename = "dialogAction", default)]
    pub dialog_action: Option<String>,
}

/// setLoginSettings / queryLoginSettings: top-level `success` (GS, YD) or the passport
/// envelope (ZN's stubs); both are accepted (protocol.md §12 q9).
#[derive(Debug, Deserialize)]
pub struct LoginSettings {
    #[serde(default, deserialize_with = "flex_opt_bool")]
    pub success: Option<bool>,
    #[serde(default)]
    pub data: Option<SuccessFlag>,
    #[serde(default)]
    pub content: Option<SuccessFlag>,
    #[serde(default)]
    pub ret: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SuccessFlag {
    #[serde(default, deserialize_with = "flex_opt_bool")]
    pub success: Option<bool>,
}

/// An mtop answer: `ret` codes and a payload.
#[derive(Debug, Deserialize)]
pub struct Mtop<T> {
    #[serde(default)]
    pub api: Option<String>,
    #[serde(default = "none")]
    pub data: Option<T>,
    pub ret: Vec<String>,
}

/// `data` of a risk-control answer.
#[derive(Debug, Default, Deserialize)]
pub struct PunishData {
    #[serde(default)]
    pub url: Option<String>,
    /// `loginuser.get`'s user id (a number or a string): whose session this is.
    #[serde(default, rename = "userId")]
    pub user_id: Option<serde_json::Value>,
}

/// `iv/photoVerify/check.do`.
#[derive(Debug, Deserialize)]
pub struct IvCheck {
    pub content: IvCheckContent,
}

#[derive(Debug, Deserialize)]
pub struct IvCheckContent {
    #[serde(deserialize_with = "integer_i64")]
    pub code: i64,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Flex {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
}

fn flex_to_bool(f: Flex) -> Option<bool> {
    match f {
        Flex::Bool(b) => Some(b),
        Flex::Int(n) => Some(n != 0),
        Flex::Uint(n) => Some(n != 0),
        Flex::Float(n) => Some(n != 0.0),
        Flex::Str(s) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" | "" => Some(false),
            _ => None,
        },
    }
}

fn flex_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<Flex>::deserialize(d)?
        .and_then(flex_to_bool)
        .unwrap_or(false))
}

fn flex_opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Option::<Flex>::deserialize(d)?.and_then(flex_to_bool))
}

fn flex_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Flex>::deserialize(d)? {
        Some(Flex::Int(n)) => Some(n),
        Some(Flex::Uint(n)) => i64::try_from(n).ok(),
        Some(Flex::Float(f)) if f.fract() == 0.0 => Some(f as i64),
        Some(Flex::Str(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// `t` of generate.do: a JSON integer, tolerated as an integral float (`1.73e12`) or a
/// numeric string; echoed back as the plain integer it is.
fn integer<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    use serde::de::Error;
    match Flex::deserialize(d)? {
        Flex::Uint(n) => Ok(n),
        Flex::Int(n) if n >= 0 => Ok(n as u64),
        Flex::Float(f) if f >= 0.0 && f.fract() == 0.0 && f < 1e19 => Ok(f as u64),
        Flex::Str(s) => s
            .trim()
            .parse()
            .map_err(|_| D::Error::custom(format!("`t` is not an integer: {s:?}"))),
        _ => Err(D::Error::custom("`t` is not a non-negative integer")),
    }
}

fn integer_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    match Flex::deserialize(d)? {
        Flex::Int(n) => Ok(n),
        Flex::Uint(n) => i64::try_from(n).map_err(D::Error::custom),
        Flex::Str(s) => s.trim().parse().map_err(D::Error::custom),
        _ => Err(D::Error::custom("expected an integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_is_an_integer_whatever_its_json_spelling() {
        for body in [
            r#"{"t":1730000000123,"ck":"c","codeContent":"u"}"#,
            r#"{"t":1.730000000123e12,"ck":"c","codeContent":"u"}"#,
            r#"{"t":"1730000000123","ck":"c","codeContent":"u"}"#,
        ] {
            let g: GenerateData = serde_json::from_str(body).unwrap();
            assert_eq!(g.t.to_string(), "1730000000123");
        }
        assert!(
            serde_json::from_str::<GenerateData>(r#"{"t":1.5,"ck":"c","codeContent":"u"}"#)
                .is_err()
        );
    }

    #[test]
    fn envelopes_tolerate_missing_and_stringly_fields() {
        let e: Envelope<QueryData> = serde_json::from_str(
            r#"{"content":{"data":{"qrCodeStatus":"CONFIRMED","iframeRedirect":"true"},"status":2,"success":true},"hasError":"false"}"#,
        )
        .unwrap();
        let d = e.content.unwrap().data.unwrap();
        assert_eq!(d.iframe_redirect, Some(true));
        assert!(!e.has_error);
        let risk: Envelope<QueryData> =
            serde_json::from_str(r#"{"ret":["FAIL_SYS_USER_VALIDATE"],"data":{"url":"x"}}"#)
                .unwrap();
        assert!(risk.content.is_none());
        assert_eq!(risk.ret.unwrap()[0], "FAIL_SYS_USER_VALIDATE");
    }
}
