//! The pure rules of a refresh: when an account is skipped, which renewal the official
//! web would send, what a verdict does to the stored account (cooldowns, rechecks). No
//! I/O; `refresh::run` applies them.

use super::*;

/// How often an expired account is looked at again (it only comes back after a new QR
/// login, but a wrong verdict should not be permanent).
pub const EXPIRED_RECHECK: i64 = 3600;
/// First risk-control cooldown; it doubles on every repeat up to `RISK_COOLDOWN_MAX`
/// (protocol.md §9: tools back off 10 min to 2 h; never a tight loop).
pub const RISK_COOLDOWN: i64 = 600;
pub const RISK_COOLDOWN_MAX: i64 = 12 * 3600;

/// Why an account was not refreshed this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    Cooldown {
        until: i64,
    },
    Recent {
        at: i64,
    },
    /// Another run of this round checked it at `at`: one that was under way when this
    /// run started, or one that checked it after this run listed it.
    ThisRound {
        at: i64,
    },
    Leased,
    /// A login or an import saved the account while this refresh was checking it: the
    /// newer data was kept and this refresh's result dropped.
    Superseded,
}

/// What one account's check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Expired(String),
    Risk(String),
    /// Network, timeout, 5xx, an unreadable answer: try again next run.
    Transient(String),
}

/// A request a refresh sent, in the order sent (the report's `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    SilentHasLogin,
    HasLogin,
    LoginUserGet,
    SetLoginSettings,
    QueryLoginSettings,
}

impl Sent {
    pub fn as_str(self) -> &'static str {
        match self {
            Sent::SilentHasLogin => "silentHasLogin",
            Sent::HasLogin => "hasLogin",
            Sent::LoginUserGet => "loginuser.get",
            Sent::SetLoginSettings => "setLoginSettings",
            Sent::QueryLoginSettings => "queryLoginSettings",
        }
    }
}

/// What was sent, as the report shows it: `silentHasLogin+loginuser.get`, or `skipped`.
pub fn describe(sent: &[Sent]) -> String {
    if sent.is_empty() {
        return "skipped".into();
    }
    sent.iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("+")
}

/// Which renewal the official web would send now (§7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// `silentHasLogin.do`, in the mode the long-login cookies call for.
    Silent(SilentMode),
    HasLogin,
}

/// Skip an account in cooldown or refreshed within `min_interval` (unless forced).
pub fn decide(a: &Account, now: i64, min_interval: Option<Duration>, force: bool) -> Option<Skip> {
    if force {
        return None;
    }
    if let Some(until) = a.next_attempt_at.filter(|u| *u > now) {
        return Some(Skip::Cooldown { until });
    }
    if let (Some(min), Some(at)) = (min_interval, a.last_refreshed)
        && now - at < min.as_secs() as i64
    {
        return Some(Skip::Recent { at });
    }
    None
}

/// Skip an account that a run already under way when this one started has checked since
/// this one listed it or before: a fleet's hosts start a round moments apart, and a late
/// one must not renew again what the early ones have done. `under_way` holds the runs
/// registered in the store when this run started (`Store::begin_run`; never this run).
pub fn checked_this_round(a: &Account, under_way: &HashSet<String>) -> Option<Skip> {
    let by = a.checked_by.as_ref()?;
    under_way
        .contains(by)
        .then_some(a.last_checked)
        .flatten()
        .map(|at| Skip::ThisRound { at })
}

/// The official plugin's rule: silent login unless `sdkSilent` is in the future, and only
/// while a long-login cookie (`havana_lgc_exp`, `cookie3_bak_exp`) is still valid.
pub fn renewal(cookies: &[Cookie], now_ms: i64) -> Renewal {
    let ms =
        |name: &str| cookies::value_of(cookies, name).and_then(|v| v.trim().parse::<i64>().ok());
    let fatigued = ms("sdkSilent").is_some_and(|t| t > now_ms);
    if fatigued {
        Renewal::HasLogin
    } else if ms("havana_lgc_exp").is_some_and(|t| t > now_ms) {
        Renewal::Silent(SilentMode::Havana)
    } else if ms("cookie3_bak_exp").is_some_and(|t| t > now_ms) {
        Renewal::Silent(SilentMode::Cookie3)
    } else {
        Renewal::HasLogin
    }
}

/// Whether long login is on: a valid `havana_lgc_exp` and the credential itself.
pub fn long_login_on(cookies: &[Cookie], now_ms: i64) -> bool {
    cookies::value_of(cookies, "havana_lgc2_77").is_some()
        && cookies::value_of(cookies, "havana_lgc_exp")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .is_some_and(|t| t > now_ms)
}

pub(super) fn from_error(e: &PassportError) -> Verdict {
    match e {
        PassportError::Risk { .. } => Verdict::Risk(e.to_string()),
        _ => Verdict::Transient(e.to_string()),
    }
}

/// The stored result of a verdict.
pub fn record(
    a: &Account,
    verdict: &Verdict,
    cookies: Option<Vec<Cookie>>,
    now: i64,
) -> RefreshRecord {
    let failures = a.consecutive_failures + 1;
    match verdict {
        Verdict::Ok => RefreshRecord {
            status: Status::Ok,
            checked_at: now,
            refreshed: true,
            consecutive_failures: 0,
            next_attempt_at: None,
            cookies,
            long_login_refused: None,
        },
        Verdict::Expired(_) => RefreshRecord {
            status: Status::Expired,
            checked_at: now,
            refreshed: false,
            consecutive_failures: failures,
            next_attempt_at: Some(now + EXPIRED_RECHECK),
            cookies: None,
            long_login_refused: None,
        },
        Verdict::Risk(_) => {
            // Repeated risk answers double the wait: 10 min, 20 min, 40 min, … 12 h.
            let repeats = if a.status == Status::Risk {
                failures.clamp(1, 20)
            } else {
                1
            };
            let wait = (RISK_COOLDOWN << (repeats - 1).min(10)).min(RISK_COOLDOWN_MAX);
            RefreshRecord {
                status: Status::Risk,
                checked_at: now,
                refreshed: false,
                consecutive_failures: failures,
                next_attempt_at: Some(now + wait),
                cookies: None,
                long_login_refused: None,
            }
        }
        Verdict::Transient(_) => RefreshRecord {
            status: a.status,
            checked_at: now,
            refreshed: false,
            consecutive_failures: failures,
            next_attempt_at: None,
            cookies: None,
            long_login_refused: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(status: Status, failures: i64) -> Account {
        Account {
            id: 1,
            unb: "1".into(),
            name: "a".into(),
            nickname: None,
            created_at: 0,
            updated_at: 0,
            status,
            last_checked: None,
            last_refreshed: Some(1000),
            consecutive_failures: failures,
            next_attempt_at: None,
            proxy: None,
            user_agent: None,
            revision: 0,
            long_login_refused: false,
            long_login_until: None,
            checked_by: None,
            cookies: vec![],
            sealed: vec![],
        }
    }

    #[test]
    fn renewal_follows_the_official_plugin() {
        let c = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, v)| Cookie::for_domain(n, v, ".goofish.com"))
                .collect::<Vec<_>>()
        };
        let now = 1_000_000;
        assert_eq!(
            renewal(&c(&[("havana_lgc_exp", "2000000")]), now),
            Renewal::Silent(SilentMode::Havana)
        );
        // Havana expired, Cookie3 still valid: the plugin's second mode.
        assert_eq!(
            renewal(
                &c(&[("havana_lgc_exp", "900000"), ("cookie3_bak_exp", "2000000")]),
                now
            ),
            Renewal::Silent(SilentMode::Cookie3)
        );
        assert_eq!(
            renewal(
                &c(&[("havana_lgc_exp", "2000000"), ("sdkSilent", "1500000")]),
                now
            ),
            Renewal::HasLogin
        );
        assert_eq!(
            renewal(&c(&[("havana_lgc_exp", "900000"), ("sdkSilent", "1")]), now),
            Renewal::HasLogin
        );
        assert_eq!(renewal(&c(&[]), now), Renewal::HasLogin);
    }

    #[test]
    fn what_a_run_under_way_checked_is_left_alone() {
        let mut a = account(Status::Ok, 0);
        a.last_checked = Some(1200);
        let under_way: HashSet<String> = ["1-ab@host-a".to_string()].into();
        assert_eq!(checked_this_round(&a, &under_way), None);
        a.checked_by = Some("1-ab@host-a".into());
        assert_eq!(
            checked_this_round(&a, &under_way),
            Some(Skip::ThisRound { at: 1200 })
        );
        // A run that had ended before this one started: a round of its own.
        a.checked_by = Some("2-cd@host-b".into());
        assert_eq!(checked_this_round(&a, &under_way), None);
    }

    #[test]
    fn skips_and_cooldowns() {
        let mut a = account(Status::Ok, 0);
        assert_eq!(
            decide(&a, 1100, Some(Duration::from_secs(300)), false),
            Some(Skip::Recent { at: 1000 })
        );
        assert_eq!(
            decide(&a, 1300, Some(Duration::from_secs(300)), false),
            None
        );
        a.next_attempt_at = Some(2000);
        assert_eq!(
            decide(&a, 1500, None, false),
            Some(Skip::Cooldown { until: 2000 })
        );
        assert_eq!(decide(&a, 1500, None, true), None);
    }

    #[test]
    fn risk_cooldown_grows_and_transient_keeps_status() {
        let r1 = record(&account(Status::Ok, 0), &Verdict::Risk("x".into()), None, 0);
        assert_eq!((r1.status, r1.next_attempt_at), (Status::Risk, Some(600)));
        let r2 = record(
            &account(Status::Risk, 1),
            &Verdict::Risk("x".into()),
            None,
            0,
        );
        assert_eq!(r2.next_attempt_at, Some(1200));
        let r9 = record(
            &account(Status::Risk, 30),
            &Verdict::Risk("x".into()),
            None,
            0,
        );
        assert_eq!(r9.next_attempt_at, Some(RISK_COOLDOWN_MAX));
        let t = record(
            &account(Status::Ok, 2),
            &Verdict::Transient("x".into()),
            None,
            5,
        );
        assert_eq!(
            (t.status, t.consecutive_failures, t.cookies.is_none()),
            (Status::Ok, 3, true)
        );
        let e = record(
            &account(Status::Ok, 0),
            &Verdict::Expired("x".into()),
            Some(vec![]),
            5,
        );
        assert!(
            e.cookies.is_none(),
            "a failed refresh never touches cookies"
        );
    }
}
