//! Identity verification (protocol.md §6): the pages that lead to the second QR code,
//! polling its result, and the page that lands the session once it passed.

use super::wire;
use super::*;

/// The verification chain's second QR (protocol.md §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub htoken: String,
    /// What to draw as the second QR.
    pub qr_text: String,
    /// The identity_verify page, sent as Referer while polling.
    pub page: Url,
}

/// What `iv/photoVerify/check.do` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IvState {
    Waiting,
    Passed(String),
    Other(i64),
}

impl PassportClient {
    /// Follow `iframeRedirectUrl` to `normal_validate.htm`, read the `htoken`, open
    /// `verify_modes.htm` (which redirects to `identity_verify.htm`) and read the second
    /// QR's text. One cookie jar for the whole chain.
    pub async fn verification_start(&self, url: &str) -> Result<Verification, PassportError> {
        let step = Step::Verification;
        let start = self
            .endpoints
            .passport
            .join(&normalise_url(url))
            .map_err(|e| malformed(step, &format!("bad verification URL ({e})")))?;
        let (validate_url, html) = self.page(step, start).await?;
        let htoken = extract_htoken(&html)
            .or_else(|| {
                validate_url
                    .query_pairs()
                    .find(|(k, _)| k == "htoken")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(|| malformed(step, "normal_validate.htm has no htoken"))?;
        let mut modes = self.url(&self.endpoints.passport, "iv/mini/verify_modes.htm")?;
        modes
            .query_pairs_mut()
            .append_pair("htoken", &htoken)
            .append_pair("_umidfg", "1");
        let (page, html) = self.page(step, modes).await?;
        let qr_text = extract_qr_text(&html)
            .ok_or_else(|| malformed(step, "identity_verify.htm has no verification QR code"))?;
        Ok(Verification {
            htoken,
            qr_text,
            page,
        })
    }

    /// One poll of `iv/photoVerify/check.do`.
    pub async fn verification_check(&self, v: &Verification) -> Result<IvState, PassportError> {
        let mut url = self.url(&self.endpoints.passport, "iv/photoVerify/check.do")?;
        url.query_pairs_mut().append_pair("htoken", &v.htoken);
        let req = self
            .http
            .get(url)
            .header(
                header::ACCEPT,
                "application/json, text/javascript, */*; q=0.01",
            )
            .header("x-requested-with", "XMLHttpRequest")
            .header(header::REFERER, v.page.as_str());
        let r: wire::IvCheck = self.json(Step::Verification, req).await?;
        Ok(match (r.content.code, r.content.url) {
            (0, _) => IvState::Waiting,
            (3, Some(u)) if !u.is_empty() => IvState::Passed(normalise_url(&u)),
            (code, _) => IvState::Other(code),
        })
    }

    /// Open the URL verification passed with (`ivCheckLogin.htm`): it sets the login cookies.
    pub async fn verification_finish(&self, url: &str) -> Result<(), PassportError> {
        let step = Step::Verification;
        let url = self
            .endpoints
            .passport
            .join(url)
            .map_err(|e| malformed(step, &format!("bad URL ({e})")))?;
        self.page(step, url).await?;
        if self.cookie_value("unb").is_none_or(|u| u.is_empty()) {
            return Err(PassportError::Rejected {
                step,
                message: "verification passed but no `unb` cookie arrived".into(),
            });
        }
        Ok(())
    }

    /// GET a page as a document, following redirects; returns where it landed and the HTML.
    pub(super) async fn page(&self, step: Step, url: Url) -> Result<(Url, String), PassportError> {
        let resp = self.execute(step, self.document(url, "document")).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(PassportError::Http {
                step,
                status: status.as_u16(),
            });
        }
        let landed = resp.url().clone();
        let body = self.body(step, resp).await?;
        Ok((landed, body))
    }
}

/// Compiled once: these run on every verification page.
/// A constant pattern. INVARIANT: these are literals, so a failure is a programmer error
/// caught by the first test that reads a verification page (`verification_pages_are_read`)
/// — it fails loudly instead of quietly disabling verification.
fn pattern(re: &str) -> regex::Regex {
    regex::Regex::new(re).expect("a constant regex compiles")
}

static HTOKEN: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| pattern(r#"htoken(?:=|"\s*value="|\s*:\s*")([A-Za-z0-9_-]{6,})"#));
static HTOKEN_INPUT: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| pattern(r#"name="htoken"\s+value="([A-Za-z0-9_-]+)""#));
static QR_TEXT: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    pattern(r#"text\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')"#)
});

/// `htoken=<[A-Za-z0-9_-]+>` anywhere in the page (a query string, a hidden input's value).
pub fn extract_htoken(html: &str) -> Option<String> {
    if let Some(c) = HTOKEN.captures(html) {
        return Some(c[1].to_owned());
    }
    HTOKEN_INPUT.captures(html).map(|c| c[1].to_owned())
}

/// The text of `new Qrcode({ … text: "…" … })`, with JS-escaped slashes and HTML entities
/// undone.
pub fn extract_qr_text(html: &str) -> Option<String> {
    let start = html.find("new Qrcode(")?;
    let c = QR_TEXT.captures(&html[start..])?;
    let raw = c.get(1).or_else(|| c.get(2))?.as_str();
    let text = raw
        .replace("\\/", "/")
        .replace("\\u0026", "&")
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/");
    (!text.trim().is_empty()).then(|| normalise_url(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_pages_are_read() {
        let v = r#"<input type="hidden" name="htoken" value="abc_DEF-123">
<script>window.location.href = "//passport.goofish.com/iv/mini/verify_modes.htm?htoken=abc_DEF-123&_umidfg=" + x;</script>"#;
        assert_eq!(extract_htoken(v).as_deref(), Some("abc_DEF-123"));
        assert_eq!(extract_htoken("<p>nothing</p>"), None);
        let page = r#"<script>new Qrcode({ el: x, text: "https:\/\/passport.goofish.com\/iv\/qr?a=1&amp;b=2", size: 180 });</script>"#;
        assert_eq!(
            extract_qr_text(page).as_deref(),
            Some("https://passport.goofish.com/iv/qr?a=1&b=2")
        );
        assert_eq!(extract_qr_text("new Qrcode({ text: '' })"), None);
        assert_eq!(extract_qr_text("<html></html>"), None);
    }
}
