//! Reads `window.viewData.loginFormData` out of `mini_login.htm` (protocol.md §3.2).
//!
//! The JSON is parsed from the position of the assignment with a real JSON parser, not a
//! one-line regex: it may be pretty-printed over many lines and its strings may contain
//! `};`. Values are rendered the way JSON spells them (`false`, `77`), as the form must
//! send them (§3.3).

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ViewDataError {
    #[error("no `window.viewData = {{…}}` in the page")]
    NotFound,
    #[error("`window.viewData` is not valid JSON ({0})")]
    BadJson(String),
    #[error("`window.viewData` has no `loginFormData` object")]
    NoForm,
}

#[derive(Deserialize)]
struct ViewData {
    #[serde(rename = "loginFormData")]
    login_form_data: Option<serde_json::Map<String, Value>>,
}

/// The login form's fields, in page order, each value rendered as JSON renders it.
pub fn login_form(html: &str) -> Result<Vec<(String, String)>, ViewDataError> {
    let start = assignment(html).ok_or(ViewDataError::NotFound)?;
    let mut stream = serde_json::Deserializer::from_str(&html[start..]).into_iter::<ViewData>();
    let view = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(ViewDataError::BadJson(e.to_string())),
        None => return Err(ViewDataError::NotFound),
    };
    let form = view.login_form_data.ok_or(ViewDataError::NoForm)?;
    Ok(form
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, s)
        })
        .collect())
}

/// Byte offset of the `{` that starts the assigned object.
fn assignment(html: &str) -> Option<usize> {
    for marker in ["window.viewData", "var viewData"] {
        let mut from = 0;
        while let Some(pos) = html[from..].find(marker) {
            let after = from + pos + marker.len();
            let rest = &html[after..];
            let trimmed = rest.trim_start();
            if let Some(eq) = trimmed.strip_prefix('=') {
                let value = eq.trim_start();
                if value.starts_with('{') {
                    return Some(html.len() - value.len());
                }
            }
            from = after;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_and_pretty_with_brace_semicolon_in_strings() {
        let one = r#"<script>window.viewConfig = {"a":1};
window.viewData = {"loginFormData":{"appName":"xianyu","isMobile":false,"fromSite":77,"returnUrl":null}};
window._lang = "zh_CN";</script>"#;
        let f = login_form(one).unwrap();
        assert_eq!(
            f,
            vec![
                ("appName".into(), "xianyu".into()),
                ("isMobile".into(), "false".into()),
                ("fromSite".into(), "77".into()),
                ("returnUrl".into(), "".into())
            ]
        );
        let pretty = "window.viewData   =\n{\n  \"tips\": \"a};b\",\n  \"loginFormData\": {\n    \"mainPage\": true\n  }\n};";
        assert_eq!(
            login_form(pretty).unwrap(),
            vec![("mainPage".into(), "true".into())]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(login_form("<html></html>"), Err(ViewDataError::NotFound));
        assert_eq!(
            login_form("window.viewData = {\"x\":1};"),
            Err(ViewDataError::NoForm)
        );
        assert!(matches!(
            login_form("window.viewData = {\"loginFormData\": {"),
            Err(ViewDataError::BadJson(_))
        ));
        // A mention of window.viewData that is not an assignment is skipped.
        assert_eq!(
            login_form("if (window.viewData) {} window.viewData = {\"loginFormData\":{}};"),
            Ok(vec![])
        );
    }
}
