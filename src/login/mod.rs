//! The QR login: a pure state machine (`machine`) and the async loop that drives it
//! against the passport client (`flow`).

pub mod flow;
pub mod machine;

/// How a login ended without an account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error(
        "the QR code expired {shown} time(s) without a confirmation (raise --max-qr to wait longer)"
    )]
    Expired { shown: u32 },
    #[error("{} within {secs} s (--timeout)", if *.scanned { "the scan was not confirmed on the phone" } else { "nobody scanned the QR code" })]
    TimedOut { secs: u64, scanned: bool },
    #[error("the login was cancelled on the phone")]
    Cancelled,
    #[error("identity verification was required and not completed: {why}")]
    VerificationNotCompleted { why: String },
    #[error("qrcode/query.do: the service failed {count} times in a row (last: {last})")]
    ServerErrors { count: u32, last: String },
    #[error("interrupted")]
    Interrupted,
    /// A request of the login failed (the message names the step).
    #[error(transparent)]
    Passport(#[from] crate::passport::PassportError),
}
