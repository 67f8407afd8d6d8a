//! The QR login's state machine as a pure function: given where the login is and what the
//! last poll observed, where it is now and what to do next. No I/O, no clock; the async
//! loop in `flow` owns the interval and the deadline.

use super::LoginError;
use crate::passport::{Confirmation, QrState};
use std::time::Duration;

/// `hasError` / `ERROR` / unreadable answers tolerated in a row before giving up.
pub const MAX_ERROR_STREAK: u32 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    WaitingForScan,
    Scanned,
    /// CONFIRMED with `iframeRedirect` and no `unb` yet: the person must verify on the phone.
    Verifying {
        url: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    pub phase: Phase,
    /// QR codes shown so far, this one included.
    pub qr_shown: u32,
    pub max_qr: u32,
    /// Consecutive failed polls.
    pub error_streak: u32,
    /// Why the last poll failed, while `error_streak > 0`.
    pub last_error: Option<String>,
    /// Consecutive answers without a known status.
    pub unknown_streak: u32,
}

/// What one poll produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    State(QrState),
    /// The service could not be reached, timed out or answered 5xx/429.
    Transient(String),
    /// The service answered something unreadable.
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Poll again after the interval.
    Poll,
    /// Poll again after this back-off.
    Retry(Duration),
    /// This QR expired: show a new one.
    NewQr,
    /// Logged in on the phone: finish the session.
    Finish(Confirmation),
    Fail(LoginError),
}

impl Machine {
    pub fn new(max_qr: u32) -> Machine {
        Machine {
            phase: Phase::WaitingForScan,
            qr_shown: 1,
            max_qr,
            error_streak: 0,
            last_error: None,
            unknown_streak: 0,
        }
    }
}

/// One transition. `has_unb` says whether the cookie jar already holds the login
/// (`unb`): a CONFIRMED with `iframeRedirect` that also carries `unb` is a login.
pub fn step(m: &Machine, obs: Observation, has_unb: bool, interval: Duration) -> (Machine, Next) {
    let mut next_m = m.clone();
    let next = match obs {
        Observation::Transient(why) => {
            next_m.error_streak += 1;
            next_m.last_error = Some(why);
            // Back off 2, 4, 8… intervals, at most 5 s; the deadline bounds the total.
            let factor = 1u32 << next_m.error_streak.min(6);
            Next::Retry((interval * factor).min(Duration::from_secs(5)))
        }
        Observation::Unreadable(why) | Observation::State(QrState::ServerError(why)) => {
            next_m.error_streak += 1;
            next_m.last_error = Some(why.clone());
            if next_m.error_streak >= MAX_ERROR_STREAK {
                Next::Fail(LoginError::ServerErrors {
                    count: next_m.error_streak,
                    last: why,
                })
            } else {
                Next::Poll
            }
        }
        Observation::State(state) => {
            next_m.error_streak = 0;
            next_m.last_error = None;
            next_m.unknown_streak = match &state {
                QrState::Unknown(_) => m.unknown_streak + 1,
                _ => 0,
            };
            match state {
                QrState::Waiting | QrState::Unknown(_) => Next::Poll,
                QrState::Scanned => {
                    if next_m.phase == Phase::WaitingForScan {
                        next_m.phase = Phase::Scanned;
                    }
                    Next::Poll
                }
                QrState::Canceled => Next::Fail(LoginError::Cancelled),
                QrState::Expired => match &m.phase {
                    Phase::Verifying { .. } => Next::Fail(LoginError::VerificationNotCompleted {
                        why: "the QR session expired before verification finished".into(),
                    }),
                    _ if m.qr_shown < m.max_qr => {
                        next_m.qr_shown += 1;
                        next_m.phase = Phase::WaitingForScan;
                        Next::NewQr
                    }
                    _ => Next::Fail(LoginError::Expired { shown: m.qr_shown }),
                },
                QrState::Confirmed(c) => match c.verify_url.clone() {
                    Some(url) if !has_unb => {
                        next_m.phase = Phase::Verifying { url };
                        Next::Poll
                    }
                    _ => Next::Finish(Confirmation {
                        verify_url: None,
                        ..c
                    }),
                },
                // Counted as an error by the arm above; Rust cannot narrow the enum here.
                QrState::ServerError(_) => Next::Poll,
            }
        }
    };
    (next_m, next)
}

/// What to do when the deadline passes in `phase`. A deadline that arrives while the
/// service keeps failing is the service's fault (exit 6), not an expired QR.
pub fn on_deadline(m: &Machine, timeout: Duration) -> LoginError {
    if let (true, Some(last)) = (m.error_streak > 0, &m.last_error) {
        return LoginError::ServerErrors {
            count: m.error_streak,
            last: last.clone(),
        };
    }
    if m.unknown_streak > 0 && !matches!(m.phase, Phase::Verifying { .. }) {
        return LoginError::ServerErrors {
            count: m.unknown_streak,
            last: "answers without a known qrCodeStatus".into(),
        };
    }
    match m.phase {
        Phase::Verifying { .. } => LoginError::VerificationNotCompleted {
            why: format!("not finished within {} s", timeout.as_secs()),
        },
        Phase::Scanned => LoginError::TimedOut {
            secs: timeout.as_secs(),
            scanned: true,
        },
        Phase::WaitingForScan => LoginError::TimedOut {
            secs: timeout.as_secs(),
            scanned: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: Duration = Duration::from_millis(800);

    fn confirmed(verify: Option<&str>) -> Observation {
        Observation::State(QrState::Confirmed(Confirmation {
            verify_url: verify.map(Into::into),
            ..Default::default()
        }))
    }

    #[test]
    fn happy_path() {
        let m = Machine::new(3);
        let (m, n) = step(&m, Observation::State(QrState::Waiting), false, I);
        assert_eq!((m.phase.clone(), n), (Phase::WaitingForScan, Next::Poll));
        let (m, _) = step(&m, Observation::State(QrState::Scanned), false, I);
        assert_eq!(m.phase, Phase::Scanned);
        // A NEW after SCANED does not go back.
        let (m, _) = step(&m, Observation::State(QrState::Waiting), false, I);
        assert_eq!(m.phase, Phase::Scanned);
        let (_, n) = step(&m, confirmed(None), true, I);
        assert!(matches!(n, Next::Finish(_)));
    }

    #[test]
    fn expiry_regenerates_until_max_qr() {
        let m = Machine::new(2);
        let (m, n) = step(&m, Observation::State(QrState::Expired), false, I);
        assert_eq!((m.qr_shown, n), (2, Next::NewQr));
        let (_, n) = step(&m, Observation::State(QrState::Expired), false, I);
        assert_eq!(n, Next::Fail(LoginError::Expired { shown: 2 }));
    }

    #[test]
    fn cancel_and_verification() {
        let m = Machine::new(3);
        assert_eq!(
            step(&m, Observation::State(QrState::Canceled), false, I).1,
            Next::Fail(LoginError::Cancelled)
        );
        let (v, n) = step(&m, confirmed(Some("u")), false, I);
        assert_eq!(
            (v.phase.clone(), n),
            (Phase::Verifying { url: "u".into() }, Next::Poll)
        );
        // iframeRedirect again without unb: keep waiting; with unb: logged in.
        assert_eq!(step(&v, confirmed(Some("u")), false, I).1, Next::Poll);
        assert!(matches!(
            step(&v, confirmed(Some("u")), true, I).1,
            Next::Finish(_)
        ));
        assert!(matches!(
            on_deadline(&v, Duration::from_secs(9)),
            LoginError::VerificationNotCompleted { .. }
        ));
        assert!(matches!(
            on_deadline(&m, Duration::from_secs(9)),
            LoginError::TimedOut {
                secs: 9,
                scanned: false
            }
        ));
        assert_eq!(
            on_deadline(&m, Duration::from_secs(9)).to_string(),
            "nobody scanned the QR code within 9 s (--timeout)"
        );
    }

    #[test]
    fn error_streaks() {
        let mut m = Machine::new(3);
        for i in 1..MAX_ERROR_STREAK {
            let (n_m, n) = step(
                &m,
                Observation::State(QrState::ServerError("hasError".into())),
                false,
                I,
            );
            assert_eq!(n, Next::Poll, "error {i}");
            m = n_m;
        }
        let (_, n) = step(
            &m,
            Observation::State(QrState::ServerError("hasError".into())),
            false,
            I,
        );
        assert!(matches!(
            n,
            Next::Fail(LoginError::ServerErrors { count: 5, .. })
        ));
        // A good answer resets the streak; transport errors back off without failing.
        let (m, _) = step(&m, Observation::State(QrState::Waiting), false, I);
        assert_eq!(m.error_streak, 0);
        let (m, n) = step(&m, Observation::Transient("refused".into()), false, I);
        assert_eq!(n, Next::Retry(I * 2));
        let mut m = m;
        for _ in 0..10 {
            m = step(&m, Observation::Transient("refused".into()), false, I).0;
        }
        assert_eq!(
            step(&m, Observation::Transient("x".into()), false, I).1,
            Next::Retry(Duration::from_secs(5))
        );
        assert!(matches!(
            on_deadline(&m, Duration::from_secs(1)),
            LoginError::ServerErrors { .. }
        ));
    }
}
