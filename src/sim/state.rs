//! The simulator's world: QR sessions and their legal transitions, the phone's one-time
//! tokens, server-side login sessions per account, mtop tokens, identity verification,
//! and the scenario and faults a test or a person chose. Pure data and rules; the HTTP
//! side is in `routes`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Which CONFIRMED variant of protocol.md §5.3 the phone produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// (a) login cookies on the CONFIRMED response.
    Plain,
    /// (b) a `token` redeemed at `login_token/login.do`.
    Token,
    /// (b') a `token` and the login cookies on the same answer (protocol.md §12 leaves
    /// open whether the service does this; a client must work either way).
    TokenWithCookies,
    /// (c) a keep-login `dialogAction` confirmed at its URL.
    KeepLogin,
    /// (d) `iframeRedirect`: identity verification first.
    Verify,
}

/// The scenario: what the phone does and how the service behaves. Changeable at run time
/// through the control API.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Scenario {
    pub variant: Variant,
    pub auto_scan_after_ms: Option<u64>,
    pub auto_confirm_after_ms: Option<u64>,
    /// Cancel instead of confirming when auto-confirming.
    pub auto_cancel: bool,
    /// With `Verify`: the phone passes face verification by itself this long after it starts.
    pub auto_verify_after_ms: Option<u64>,
    pub latency_ms: u64,
    pub unb: String,
    pub nickname: String,
    /// A QR expires this long after generation, polled or not.
    pub qr_lifetime_ms: u64,
    /// A QR expires when nobody polled it for this long.
    pub qr_idle_ms: u64,
    /// generate.do calls allowed per client per minute.
    pub generate_per_minute: u32,
    /// How long an mtop token stays valid.
    pub h5_token_ttl_ms: u64,
    /// Serve `window.viewData` pretty-printed over many lines, with `};` inside a string
    /// (a shape a one-line regex cannot parse; protocol.md §3.2).
    pub pretty_view_data: bool,
    /// Seconds added to the `Date` header (a server whose clock disagrees with ours).
    pub clock_skew_s: i64,
    /// setLoginSettings answers success but sets nothing, and queryLoginSettings says long
    /// login is off: an account whose long login cannot be turned on.
    pub refuse_long_login: bool,
    /// The next this-many query.do polls answer `qrCodeStatus: ERROR` (a transient
    /// server-side failure, protocol.md §5.2) instead of the QR's status.
    pub error_polls: u32,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            variant: Variant::Plain,
            auto_scan_after_ms: None,
            auto_confirm_after_ms: None,
            auto_cancel: false,
            auto_verify_after_ms: None,
            latency_ms: 0,
            unb: "2219000000001".into(),
            nickname: "xy_demo_user".into(),
            qr_lifetime_ms: 300_000,
            qr_idle_ms: 180_000,
            generate_per_minute: 60,
            h5_token_ttl_ms: 2 * 3600 * 1000,
            pretty_view_data: false,
            clock_skew_s: 0,
            refuse_long_login: false,
            error_polls: 0,
        }
    }
}

/// `qrCodeStatus` values, spelled as the server spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum QrStatus {
    #[serde(rename = "NEW")]
    New,
    #[serde(rename = "SCANED")]
    Scanned,
    #[serde(rename = "CONFIRMED")]
    Confirmed,
    #[serde(rename = "EXPIRED")]
    Expired,
    #[serde(rename = "CANCELED")]
    Canceled,
}

impl QrStatus {
    pub fn wire(self) -> &'static str {
        match self {
            QrStatus::New => "NEW",
            QrStatus::Scanned => "SCANED",
            QrStatus::Confirmed => "CONFIRMED",
            QrStatus::Expired => "EXPIRED",
            QrStatus::Canceled => "CANCELED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct QrSession {
    pub t: u64,
    pub ck: String,
    pub lg_token: String,
    pub created: Instant,
    pub last_poll: Instant,
    pub status: QrStatus,
    pub scanned_at: Option<Instant>,
    /// The one-time token the phone got by scanning; confirm must present it.
    pub phone_token: Option<String>,
    pub variant: Variant,
    pub unb: String,
    pub nickname: String,
    /// Variant (b): the login token to redeem.
    pub login_token: Option<String>,
    /// Variant (c): the keep-login confirm token.
    pub keep_token: Option<String>,
    /// Variant (d): the verification handle.
    pub htoken: Option<String>,
}

/// Identity verification started by a `Verify` confirmation.
#[derive(Debug, Clone)]
pub struct Verification {
    pub lg_token: String,
    pub started: Option<Instant>,
    pub passed: bool,
    pub unb: String,
    pub nickname: String,
}

/// Server-side state of an account's login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Alive,
    Dead,
    Blocked,
}

/// A fault injected into responses of paths containing `path`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Fault {
    pub path: String,
    pub kind: FaultKind,
    /// How many responses to spoil; `None` for all.
    #[serde(default)]
    pub count: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FaultKind {
    /// An HTTP status with a short HTML body.
    Status { code: u16 },
    /// A 200 HTML error page instead of JSON.
    HtmlPage,
    /// The real body cut in half.
    Truncated,
    /// A 200 with no body.
    Empty,
    /// `Content-Encoding: gzip` over bytes that are not gzip.
    CorruptGzip,
    /// The headers, then the connection dropped mid-body.
    Reset,
    /// Sleep this long before answering.
    Delay { ms: u64 },
    /// Passport `{"hasError":true}` envelope.
    HasError,
    /// A body of the right envelope with a required field missing.
    MissingField,
    /// A body where a field has the wrong JSON type.
    WrongType,
    /// Replace the body with this text.
    Body { body: String },
    /// The real answer plus this `Set-Cookie` header (a stray or hostile cookie).
    ExtraCookie { cookie: String },
    /// A gzip bomb: `mb` MiB of zeros, gzip-compressed (about 1 KiB per MiB on the wire).
    GzipBomb { mb: u32 },
}

pub struct World {
    pub scenario: Scenario,
    pub qrs: HashMap<(u64, String), QrSession>,
    pub by_lg_token: HashMap<String, (u64, String)>,
    /// mtop tokens → expiry (epoch ms).
    pub h5_tokens: HashMap<String, i64>,
    /// cookie2 → unb.
    pub sessions: HashMap<String, String>,
    /// unb → server-side state.
    pub accounts: HashMap<String, SessionState>,
    pub verifications: HashMap<String, Verification>,
    pub faults: Vec<Fault>,
    /// generate.do calls per client address: (minute window start, count).
    pub generate_calls: HashMap<String, (Instant, u32)>,
    /// Count of requests per path, for tests that check what a client did.
    pub hits: HashMap<String, u64>,
    /// Renewal requests (hasLogin, silentHasLogin) per account unb: tests of many
    /// refresh processes check that each account was renewed exactly once.
    pub renewals: HashMap<String, u64>,
    /// The last form posted to a renewal endpoint, by path: tests check which session
    /// values a client sends where.
    pub forms: HashMap<String, serde_json::Value>,
    /// Requests the simulator has no route for, and handlers that panicked: a test that
    /// causes either fails (the test harness checks this when it drops the simulator).
    pub unexpected: Vec<String>,
    last_t: u64,
}

pub use crate::ids::random_hex as hex;

#[derive(Debug, PartialEq, Eq)]
pub enum PhoneError {
    UnknownQr,
    WrongState(QrStatus),
    BadToken,
}

impl std::fmt::Display for PhoneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhoneError::UnknownQr => f.write_str("unknown QR code"),
            PhoneError::WrongState(s) => write!(f, "QR code is {}", s.wire()),
            PhoneError::BadToken => f.write_str("temporary token missing, wrong or already used"),
        }
    }
}

impl World {
    pub fn new(scenario: Scenario) -> World {
        World {
            scenario,
            qrs: HashMap::new(),
            by_lg_token: HashMap::new(),
            h5_tokens: HashMap::new(),
            sessions: HashMap::new(),
            accounts: HashMap::new(),
            verifications: HashMap::new(),
            faults: Vec::new(),
            generate_calls: HashMap::new(),
            hits: HashMap::new(),
            renewals: HashMap::new(),
            forms: HashMap::new(),
            unexpected: Vec::new(),
            last_t: 0,
        }
    }

    /// Count a renewal request of the account whose cookies it carries.
    pub fn count_renewal(&mut self, cookies: &HashMap<String, String>) {
        if let Some(unb) = cookies.get("unb") {
            *self.renewals.entry(unb.clone()).or_insert(0) += 1;
        }
    }

    /// Count a generate.do call from `client`; false when over the per-minute limit.
    pub fn allow_generate(&mut self, client: &str, now: Instant) -> bool {
        let limit = self.scenario.generate_per_minute;
        let entry = self
            .generate_calls
            .entry(client.to_owned())
            .or_insert((now, 0));
        if now.duration_since(entry.0) >= Duration::from_secs(60) {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= limit
    }

    /// A new QR session: `t` is a 13-digit number, unique and increasing.
    pub fn generate(&mut self, now: Instant, now_ms: u64) -> QrSession {
        let t = now_ms.max(self.last_t + 1);
        self.last_t = t;
        let s = QrSession {
            t,
            ck: hex(32),
            lg_token: hex(32),
            created: now,
            last_poll: now,
            status: QrStatus::New,
            scanned_at: None,
            phone_token: None,
            variant: self.scenario.variant,
            unb: self.scenario.unb.clone(),
            nickname: self.scenario.nickname.clone(),
            login_token: None,
            keep_token: None,
            htoken: None,
        };
        self.by_lg_token
            .insert(s.lg_token.clone(), (s.t, s.ck.clone()));
        self.qrs.insert((s.t, s.ck.clone()), s.clone());
        s
    }

    /// Apply the clock: expiry rules, then the scenario's automatic phone.
    pub fn advance(&mut self, key: &(u64, String), now: Instant) {
        let sc = self.scenario.clone();
        let Some(s) = self.qrs.get_mut(key) else {
            return;
        };
        let open = matches!(s.status, QrStatus::New | QrStatus::Scanned);
        if open
            && (now.duration_since(s.created) >= Duration::from_millis(sc.qr_lifetime_ms)
                || now.duration_since(s.last_poll) >= Duration::from_millis(sc.qr_idle_ms))
        {
            s.status = QrStatus::Expired;
            return;
        }
        if s.status == QrStatus::New
            && sc
                .auto_scan_after_ms
                .is_some_and(|ms| now.duration_since(s.created) >= Duration::from_millis(ms))
        {
            s.status = QrStatus::Scanned;
            s.scanned_at = Some(now);
            s.phone_token = Some(hex(16));
        }
        if s.status == QrStatus::Scanned
            && let (Some(ms), Some(at)) = (sc.auto_confirm_after_ms, s.scanned_at)
            && now.duration_since(at) >= Duration::from_millis(ms)
        {
            let lg = s.lg_token.clone();
            let token = s.phone_token.clone().unwrap_or_default();
            let result = if sc.auto_cancel {
                self.cancel(&lg)
            } else {
                self.confirm(&lg, &token, now)
            };
            debug_assert!(result.is_ok());
        }
        // Automatic face verification.
        if let Some(ms) = sc.auto_verify_after_ms {
            for v in self.verifications.values_mut() {
                if let Some(start) = v.started
                    && now.duration_since(start) >= Duration::from_millis(ms)
                {
                    v.passed = true;
                }
            }
        }
    }

    /// The (t, ck) of the QR whose code carries `lg_token`.
    fn key_of(&self, lg_token: &str) -> Result<(u64, String), PhoneError> {
        self.by_lg_token
            .get(lg_token)
            .cloned()
            .ok_or(PhoneError::UnknownQr)
    }

    /// The phone scans: NEW → SCANED, and the phone gets a one-time temporary token.
    pub fn scan(&mut self, lg_token: &str, now: Instant) -> Result<String, PhoneError> {
        let key = self.key_of(lg_token)?;
        self.advance(&key, now);
        let s = self.qrs.get_mut(&key).ok_or(PhoneError::UnknownQr)?;
        if s.status != QrStatus::New {
            return Err(PhoneError::WrongState(s.status));
        }
        s.status = QrStatus::Scanned;
        s.scanned_at = Some(now);
        let token = hex(16);
        s.phone_token = Some(token.clone());
        Ok(token)
    }

    /// The phone confirms with its temporary token: SCANED → CONFIRMED. The token is
    /// spent either way it ends.
    pub fn confirm(&mut self, lg_token: &str, tmp: &str, now: Instant) -> Result<(), PhoneError> {
        let key = self.key_of(lg_token)?;
        let s = self.qrs.get_mut(&key).ok_or(PhoneError::UnknownQr)?;
        if s.status != QrStatus::Scanned {
            return Err(PhoneError::WrongState(s.status));
        }
        if s.phone_token.as_deref() != Some(tmp) || tmp.is_empty() {
            return Err(PhoneError::BadToken);
        }
        s.phone_token = None;
        s.status = QrStatus::Confirmed;
        match s.variant {
            Variant::Plain => {}
            Variant::Token | Variant::TokenWithCookies => {
                s.login_token = Some(format!("LT-{}", hex(24)))
            }
            Variant::KeepLogin => s.keep_token = Some(hex(24)),
            Variant::Verify => {
                let h = hex(20);
                s.htoken = Some(h.clone());
                self.verifications.insert(
                    h,
                    Verification {
                        lg_token: lg_token.to_owned(),
                        // The phone starts verifying as soon as it confirms.
                        started: Some(now),
                        passed: false,
                        unb: s.unb.clone(),
                        nickname: s.nickname.clone(),
                    },
                );
            }
        }
        Ok(())
    }

    /// The phone cancels: NEW or SCANED → CANCELED.
    pub fn cancel(&mut self, lg_token: &str) -> Result<(), PhoneError> {
        let key = self.key_of(lg_token)?;
        let s = self.qrs.get_mut(&key).ok_or(PhoneError::UnknownQr)?;
        if !matches!(s.status, QrStatus::New | QrStatus::Scanned) {
            return Err(PhoneError::WrongState(s.status));
        }
        s.status = QrStatus::Canceled;
        s.phone_token = None;
        Ok(())
    }

    /// Expire a QR now (control API).
    pub fn expire(&mut self, lg_token: &str) -> Result<(), PhoneError> {
        let key = self.key_of(lg_token)?;
        let s = self.qrs.get_mut(&key).ok_or(PhoneError::UnknownQr)?;
        if !matches!(s.status, QrStatus::New | QrStatus::Scanned) {
            return Err(PhoneError::WrongState(s.status));
        }
        s.status = QrStatus::Expired;
        Ok(())
    }

    /// Start a login session for `unb`: a fresh `cookie2` bound to it, alive.
    pub fn open_session(&mut self, unb: &str) -> String {
        let cookie2 = hex(32);
        self.sessions.insert(cookie2.clone(), unb.to_owned());
        self.accounts
            .entry(unb.to_owned())
            .or_insert(SessionState::Alive);
        cookie2
    }

    /// The account a request's `cookie2` and `unb` identify, with its state; a `cookie2`
    /// that was never issued, or belongs to another unb, identifies nobody.
    pub fn session_of(
        &self,
        cookie2: Option<&str>,
        unb: Option<&str>,
    ) -> Option<(String, SessionState)> {
        let owner = self.sessions.get(cookie2?)?;
        if unb.is_some_and(|u| u != owner) {
            return None;
        }
        let state = self
            .accounts
            .get(owner)
            .copied()
            .unwrap_or(SessionState::Dead);
        Some((owner.clone(), state))
    }

    /// Take the next fault for `path`, if any.
    pub fn take_fault(&mut self, path: &str) -> Option<FaultKind> {
        let i = self.faults.iter().position(|f| path.contains(&f.path))?;
        let f = &mut self.faults[i];
        let kind = f.kind.clone();
        match &mut f.count {
            Some(1) => {
                self.faults.remove(i);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(kind)
    }

    /// Mint an mtop token valid for the scenario's TTL; returns the cookie value.
    pub fn mint_h5_token(&mut self, now_ms: i64) -> String {
        let token = hex(32);
        let expiry = now_ms + self.scenario.h5_token_ttl_ms as i64;
        self.h5_tokens.insert(token.clone(), expiry);
        format!("{token}_{expiry}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> (World, Instant) {
        (World::new(Scenario::default()), Instant::now())
    }

    #[test]
    fn only_legal_transitions_and_one_time_tokens() {
        let (mut w, now) = world();
        let s = w.generate(now, 1_730_000_000_123);
        assert_eq!(s.t.to_string().len(), 13);
        assert_eq!(
            w.confirm(&s.lg_token, "x", now),
            Err(PhoneError::WrongState(QrStatus::New))
        );
        let tmp = w.scan(&s.lg_token, now).unwrap();
        assert_eq!(
            w.scan(&s.lg_token, now),
            Err(PhoneError::WrongState(QrStatus::Scanned))
        );
        assert_eq!(
            w.confirm(&s.lg_token, "wrong", now),
            Err(PhoneError::BadToken)
        );
        w.confirm(&s.lg_token, &tmp, now).unwrap();
        assert_eq!(
            w.confirm(&s.lg_token, &tmp, now),
            Err(PhoneError::WrongState(QrStatus::Confirmed))
        );
        assert_eq!(
            w.cancel(&s.lg_token),
            Err(PhoneError::WrongState(QrStatus::Confirmed))
        );
        assert_eq!(w.scan("nope", now), Err(PhoneError::UnknownQr));
    }

    #[test]
    fn qr_expires_absolute_and_idle() {
        let (mut w, now) = world();
        let s = w.generate(now, 1);
        let key = (s.t, s.ck.clone());
        w.qrs.get_mut(&key).unwrap().last_poll = now + Duration::from_secs(299);
        w.advance(&key, now + Duration::from_secs(299));
        assert_eq!(w.qrs[&key].status, QrStatus::New);
        w.advance(&key, now + Duration::from_secs(300));
        assert_eq!(w.qrs[&key].status, QrStatus::Expired);
        let s = w.generate(now, 2);
        let key = (s.t, s.ck.clone());
        w.advance(&key, now + Duration::from_secs(180));
        assert_eq!(w.qrs[&key].status, QrStatus::Expired);
    }

    #[test]
    fn automatic_phone_scans_then_confirms() {
        let (mut w, now) = world();
        w.scenario.auto_scan_after_ms = Some(1000);
        w.scenario.auto_confirm_after_ms = Some(1000);
        let s = w.generate(now, 1);
        let key = (s.t, s.ck.clone());
        w.advance(&key, now + Duration::from_millis(999));
        assert_eq!(w.qrs[&key].status, QrStatus::New);
        w.advance(&key, now + Duration::from_millis(1000));
        assert_eq!(w.qrs[&key].status, QrStatus::Scanned);
        w.advance(&key, now + Duration::from_millis(2000));
        assert_eq!(w.qrs[&key].status, QrStatus::Confirmed);
    }

    #[test]
    fn faults_are_counted_down() {
        let (mut w, _) = world();
        w.faults.push(Fault {
            path: "query.do".into(),
            kind: FaultKind::HasError,
            count: Some(2),
        });
        assert!(w.take_fault("/newlogin/qrcode/query.do").is_some());
        assert!(w.take_fault("/newlogin/qrcode/generate.do").is_none());
        assert!(w.take_fault("/newlogin/qrcode/query.do").is_some());
        assert!(w.take_fault("/newlogin/qrcode/query.do").is_none());
    }

    #[test]
    fn rate_limit_per_client() {
        let (mut w, now) = world();
        w.scenario.generate_per_minute = 2;
        assert!(w.allow_generate("a", now));
        assert!(w.allow_generate("a", now));
        assert!(!w.allow_generate("a", now));
        assert!(w.allow_generate("b", now));
        assert!(w.allow_generate("a", now + Duration::from_secs(60)));
    }
}
