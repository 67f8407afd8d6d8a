//! Exit codes, and the one place that maps an error to one of them.
//!
//! Every failure below `main` is an `anyhow::Error` whose chain holds at most one of the
//! typed errors listed in [`code_for`]; the README's exit-code table is this file.

use crate::login::LoginError;
use crate::passport::PassportError;
use crate::store::StoreError;
use std::fmt;

/// The documented exit codes (README, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Success = 0,
    /// Anything not classified below: a bug or an unexpected system condition.
    Other = 1,
    Usage = 2,
    QrExpired = 3,
    Cancelled = 4,
    VerificationRequired = 5,
    Network = 6,
    Storage = 7,
    NotFound = 8,
    NeedsLogin = 10,
    Risk = 11,
    Interrupted = 130,
}

impl Code {
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// An error that carries its exit code explicitly: bad arguments and bad import input
/// (`Usage`), a refused confirmation, a login outcome.
#[derive(Debug)]
pub struct Coded {
    pub code: Code,
    pub message: String,
}

impl Coded {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Coded {
            code,
            message: message.into(),
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Coded::new(Code::Usage, message)
    }
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// The exit code for an error: the first typed error in its chain decides. Every error
/// type a lower layer returns is matched here and nowhere else.
pub fn code_for(err: &anyhow::Error) -> Code {
    for cause in err.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.code;
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return store(e);
        }
        if let Some(e) = cause.downcast_ref::<PassportError>() {
            return passport(e);
        }
        if let Some(e) = cause.downcast_ref::<LoginError>() {
            return login(e);
        }
        if cause
            .downcast_ref::<crate::printer::OutputError>()
            .is_some()
            || cause.downcast_ref::<crate::vault::VaultError>().is_some()
            || cause.downcast_ref::<rusqlite::Error>().is_some()
        {
            return Code::Storage;
        }
    }
    Code::Other
}

fn store(e: &StoreError) -> Code {
    match e {
        StoreError::PartWay { cause, .. } => store(cause),
        StoreError::NotFound { .. } | StoreError::PendingNotFound { .. } => Code::NotFound,
        StoreError::PendingExpired { .. } => Code::QrExpired,
        StoreError::NameTaken { .. } | StoreError::CopyConflict { .. } => Code::Usage,
        _ => Code::Storage,
    }
}

fn passport(e: &PassportError) -> Code {
    match e {
        PassportError::Proxy { .. } => Code::Usage,
        _ => Code::Network,
    }
}

fn login(e: &LoginError) -> Code {
    match e {
        LoginError::Expired { .. } | LoginError::TimedOut { .. } => Code::QrExpired,
        LoginError::Cancelled => Code::Cancelled,
        LoginError::VerificationNotCompleted { .. } => Code::VerificationRequired,
        LoginError::ServerErrors { .. } => Code::Network,
        LoginError::Interrupted => Code::Interrupted,
        LoginError::Passport(e) => passport(e),
    }
}

/// A refresh's exit code, tallied report by report: 10 if any account needs a QR login,
/// else 11 if any is blocked, else 6 if any hit a transient error, else 0.
#[derive(Debug, Default, Clone, Copy)]
pub struct RefreshTally {
    /// An account's stored value did not open: the store needs looking at first.
    unopened: bool,
    needs_login: bool,
    risk: bool,
    transient: bool,
}

impl RefreshTally {
    pub fn add(&mut self, r: &crate::refresh::Report) {
        use crate::store::Status;
        self.unopened |= r.unopened;
        self.needs_login |= r.new == Status::Expired;
        self.risk |= r.new == Status::Risk;
        self.transient |= r.transient;
    }

    pub fn code(&self) -> Code {
        if self.unopened {
            Code::Storage
        } else if self.needs_login {
            Code::NeedsLogin
        } else if self.risk {
            Code::Risk
        } else if self.transient {
            Code::Network
        } else {
            Code::Success
        }
    }
}

/// The one-line message for an error: its whole chain joined with ": ", with any line
/// breaks folded so a log line stays a line.
pub fn message_for(err: &anyhow::Error) -> String {
    format!("{err:#}").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_error_deep_in_a_chain_decides() {
        let err = anyhow::Error::new(Coded::new(Code::NotFound, "no account x"))
            .context("reading account")
            .context("export");
        assert_eq!(code_for(&err), Code::NotFound);
        assert_eq!(message_for(&err), "export: reading account: no account x");
    }

    #[test]
    fn unknown_errors_are_other() {
        assert_eq!(code_for(&anyhow::anyhow!("boom")), Code::Other);
    }
}
