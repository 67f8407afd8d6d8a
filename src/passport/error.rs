//! What can go wrong talking to Goofish: which step failed (`Step`) and how
//! (`PassportError`), plus the helpers that turn an odd answer into one of them without
//! echoing a URL or a token.

use super::wire;
use super::*;

/// Which request failed, for the one-line error and the fault matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    H5Token,
    MiniLogin,
    Generate,
    Query,
    LoginToken,
    KeepLogin,
    Verification,
    Landing,
    LongLogin,
    HasLogin,
    SilentLogin,
    Validate,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::H5Token => "h5api token bootstrap",
            Step::MiniLogin => "mini_login.htm",
            Step::Generate => "qrcode/generate.do",
            Step::Query => "qrcode/query.do",
            Step::LoginToken => "login_token/login.do",
            Step::KeepLogin => "keep-login confirm",
            Step::Verification => "identity verification",
            Step::Landing => "www /im landing",
            Step::LongLogin => "setLoginSettings.do",
            Step::HasLogin => "hasLogin.do",
            Step::SilentLogin => "silentHasLogin.do",
            Step::Validate => "mtop loginuser.get",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassportError {
    #[error("{step}: cannot reach the service ({detail})")]
    Network { step: Step, detail: String },
    #[error("{step}: no answer within {secs} s")]
    Timeout { step: Step, secs: u64 },
    #[error("{step}: HTTP {status}")]
    Http { step: Step, status: u16 },
    #[error("{step}: unexpected response: {detail}")]
    Malformed { step: Step, detail: String },
    #[error("{step}: refused: {message}")]
    Rejected { step: Step, message: String },
    #[error("{step}: blocked by risk control (slider or verification required)")]
    Risk { step: Step, url: Option<String> },
    /// The proxy URL was accepted as a URL but the HTTP client cannot use it.
    #[error("proxy {proxy}: {detail}")]
    Proxy { proxy: String, detail: String },
}

impl PassportError {
    pub fn step(&self) -> Step {
        match self {
            PassportError::Network { step, .. }
            | PassportError::Timeout { step, .. }
            | PassportError::Http { step, .. }
            | PassportError::Malformed { step, .. }
            | PassportError::Rejected { step, .. }
            | PassportError::Risk { step, .. } => *step,
            PassportError::Proxy { .. } => Step::H5Token,
        }
    }

    /// Worth retrying: the network or the server's side, not an answer that says no.
    pub fn is_transient(&self) -> bool {
        match self {
            PassportError::Network { .. } | PassportError::Timeout { .. } => true,
            PassportError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// The innermost cause of an error: what actually failed (a refused connection, a bad
/// certificate), without the layers that only say where.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let cause = cur.to_string();
    // rustls names the problem but not what to do about it.
    if cause.starts_with("invalid peer certificate") {
        return format!(
            "{cause}: the server's certificate is not trusted; a TLS-intercepting proxy or a test server needs its CA in QRLOGIN_CA_FILE"
        );
    }
    cause
}

pub(super) fn malformed(step: Step, detail: &str) -> PassportError {
    PassportError::Malformed {
        step,
        detail: detail.to_owned(),
    }
}

/// Parse a JSON body, describing what came instead when it is not JSON.
pub fn parse_json<T: DeserializeOwned>(step: Step, body: &str) -> Result<T, PassportError> {
    let trimmed = body.trim_start();
    if trimmed.is_empty() {
        return Err(malformed(step, "empty body"));
    }
    if trimmed.starts_with('<') {
        return Err(malformed(
            step,
            "an HTML page instead of JSON (blocked or an error page)",
        ));
    }
    serde_json::from_str(trimmed).map_err(|e| {
        if e.is_eof() {
            malformed(step, "truncated JSON")
        } else {
            malformed(step, &format!("JSON not as expected ({e})"))
        }
    })
}

/// An anti-bot edge answering for a passport endpoint (§1, §9).
pub(super) fn check_intercepted(
    step: Step,
    ret: &Option<Vec<String>>,
) -> Result<(), PassportError> {
    match ret {
        Some(r)
            if r.iter()
                .any(|c| c.contains("FAIL_SYS_USER_VALIDATE") || c.contains("RGV587")) =>
        {
            Err(PassportError::Risk { step, url: None })
        }
        _ => Ok(()),
    }
}

pub(super) fn expect_success(
    step: Step,
    env: wire::Envelope<wire::ErrorData>,
) -> Result<(), PassportError> {
    check_intercepted(step, &env.ret)?;
    let content = env.content.ok_or_else(|| malformed(step, "no `content`"))?;
    if content.success == Some(true) && !env.has_error {
        return Ok(());
    }
    let d = content.data.unwrap_or_default();
    Err(PassportError::Rejected {
        step,
        message: d.title_msg.unwrap_or_else(|| {
            format!(
                "code {}",
                d.result_code.map_or("?".into(), |c| c.to_string())
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_json_bodies_are_described() {
        let e = parse_json::<wire::Mtop<wire::PunishData>>(Step::Query, "<html>").unwrap_err();
        assert!(e.to_string().contains("HTML page"), "{e}");
        let e = parse_json::<wire::Mtop<wire::PunishData>>(Step::Query, "{\"ret\":[").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = parse_json::<wire::Mtop<wire::PunishData>>(Step::Query, "").unwrap_err();
        assert!(e.to_string().contains("empty body"), "{e}");
    }
}
