//! The async login loop: show a QR (`start`), poll until the state machine says finish or
//! fail (`wait`), run identity verification in the terminal when Goofish asks for it, then
//! land the session. Interval and deadline are parameters; what the person sees goes
//! through the `Ui` trait so the command decides how to show it.

use super::LoginError;
use super::machine::{self, Machine, Next, Observation, Phase};
use crate::cookies::{self, Cookie};
use crate::passport::{
    Confirmation, IvState, PassportClient, PassportError, QrCode, QrState, Verification,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often `iv/photoVerify/check.do` is polled (protocol.md §6).
pub const VERIFY_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub poll_interval: Duration,
    pub timeout: Duration,
    pub max_qr: u32,
    /// How often `iv/photoVerify/check.do` is polled (protocol.md §6: 2 s).
    pub verify_interval: Duration,
}

/// What the person at the terminal (or a script reading `--json`) is told.
pub trait Ui {
    /// A QR code to scan: number `n` of at most `max`, valid until about `valid_for` from now.
    fn qr(&mut self, qr: &QrCode, n: u32, max: u32, valid_for: Duration);
    /// The login moved to a new phase.
    fn phase(&mut self, phase: &Phase, time_left: Duration);
    /// Time passes (for a countdown).
    fn tick(&mut self, phase: &Phase, time_left: Duration);
    /// The second QR of identity verification, to scan with the 闲鱼 app.
    fn verification_qr(&mut self, text: &str, time_left: Duration);
    /// Verification cannot be run here (`why`): the person finishes it on the phone from
    /// `url`, which replaces any code shown before, while the login keeps polling.
    fn verification_fallback(&mut self, url: &str, why: &str);
    fn verification_passed(&mut self);
    fn confirmed(&mut self);
    fn warn(&mut self, msg: &str);
    fn detail(&mut self, msg: &str);
}

/// How long the service keeps a QR code (protocol.md §5.1: 300 s in most clients; the
/// real figure is uncertain, so this is only what the person is told).
pub const QR_LIFETIME: Duration = Duration::from_secs(300);

/// A QR code on screen and the form it was generated with.
#[derive(Debug, Clone)]
pub struct Started {
    pub form: Vec<(String, String)>,
    pub qr: QrCode,
}

/// Steps 2–4: the login form, a QR code, shown.
pub async fn start(
    client: &PassportClient,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<Started, LoginError> {
    let form = client.mini_login().await?;
    let qr = client.generate(&form).await?;
    ui.qr(&qr, 1, opts.max_qr, QR_LIFETIME.min(opts.timeout));
    Ok(Started { form, qr })
}

/// Run a whole login; on success the jar holds the session and the cookies are returned.
pub async fn login(
    client: Arc<PassportClient>,
    opts: Options,
    ui: &mut dyn Ui,
) -> Result<Vec<Cookie>, LoginError> {
    // The QR steps do not depend on the mtop token (protocol.md §2.1): fetch it beside them.
    let h5 = {
        let c = client.clone();
        tokio::spawn(async move { c.bootstrap_h5_token().await })
    };
    let started = start(&client, &opts, ui).await?;
    wait(&client, opts, started, ui).await?;
    // The mtop token is a nice-to-have at this point; say so if it failed.
    match tokio::time::timeout(Duration::from_secs(2), h5).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => ui.detail(&format!(
            "{e} (saved without an mtop token; refresh fetches one)"
        )),
        _ => ui.detail("h5api token bootstrap did not finish in time"),
    }
    Ok(client.service_cookies())
}

/// Poll the QR on screen until the login succeeds or fails; regenerate expired codes.
pub async fn wait(
    client: &PassportClient,
    opts: Options,
    started: Started,
    ui: &mut dyn Ui,
) -> Result<Vec<Cookie>, LoginError> {
    let Started { form, mut qr } = started;
    let mut deadline = Instant::now() + opts.timeout;
    let mut m = Machine::new(opts.max_qr);
    ui.phase(&m.phase, opts.timeout);
    let mut wait = opts.poll_interval;
    let confirmation = loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(machine::on_deadline(&m, opts.timeout));
        }
        tokio::time::sleep(wait.min(deadline - now)).await;
        if Instant::now() >= deadline {
            return Err(machine::on_deadline(&m, opts.timeout));
        }
        let obs = match client.query(&form, &qr).await {
            Ok(state) => Observation::State(state),
            Err(e) if e.is_transient() => Observation::Transient(e.to_string()),
            Err(PassportError::Risk { .. }) => {
                Observation::State(QrState::ServerError("blocked by risk control".into()))
            }
            Err(e) => Observation::Unreadable(e.to_string()),
        };
        if let Observation::Transient(why) | Observation::Unreadable(why) = &obs {
            ui.detail(&format!("poll failed, retrying: {why}"));
        }
        // Only a CONFIRMED answer needs to know whether the login cookies are in the jar.
        let has_unb = matches!(obs, Observation::State(QrState::Confirmed(_)))
            && client.with_cookies(|c| cookies::value_of(c, "unb").is_some_and(|u| !u.is_empty()));
        let before = m.phase.clone();
        let (next_m, next) = machine::step(&m, obs, has_unb, opts.poll_interval);
        m = next_m;
        let left = deadline.saturating_duration_since(Instant::now());
        if m.phase != before {
            ui.phase(&m.phase, left);
        } else {
            ui.tick(&m.phase, left);
        }
        if let (Phase::Verifying { url }, false) =
            (&m.phase, matches!(before, Phase::Verifying { .. }))
        {
            // People need time on the phone: the deadline starts again (protocol.md §6).
            deadline = Instant::now() + opts.timeout;
            match verify(client, url, &opts, ui).await? {
                Verified::Yes => break Confirmation::default(),
                Verified::FellBack(why) => ui.verification_fallback(url, &why),
            }
        }
        match next {
            Next::Poll => wait = opts.poll_interval,
            Next::Retry(d) => wait = d,
            Next::NewQr => {
                qr = client.generate(&form).await?;
                ui.qr(
                    &qr,
                    m.qr_shown,
                    m.max_qr,
                    QR_LIFETIME.min(deadline.saturating_duration_since(Instant::now())),
                );
                ui.phase(&m.phase, deadline.saturating_duration_since(Instant::now()));
                wait = opts.poll_interval;
            }
            Next::Finish(c) => break c,
            Next::Fail(e) => return Err(e),
        }
    };
    ui.confirmed();
    finish(client, &confirmation, ui).await?;
    Ok(client.service_cookies())
}

enum Verified {
    Yes,
    /// A page of the chain was not as expected: fall back to polling query.do.
    FellBack(String),
}

/// Answers from check.do that make no sense, tolerated in a row before falling back.
const MAX_VERIFY_ERRORS: u32 = 5;

/// The identity-verification chain of protocol.md §6, finished in the terminal.
async fn verify(
    client: &PassportClient,
    url: &str,
    opts: &Options,
    ui: &mut dyn Ui,
) -> Result<Verified, LoginError> {
    let v: Verification = match client.verification_start(url).await {
        Ok(v) => v,
        Err(e) => return Ok(Verified::FellBack(e.to_string())),
    };
    let deadline = Instant::now() + opts.timeout;
    ui.verification_qr(&v.qr_text, opts.timeout);
    let mut errors = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(LoginError::VerificationNotCompleted {
                why: format!(
                    "the face check was not finished within {} s",
                    opts.timeout.as_secs()
                ),
            });
        }
        tokio::time::sleep(opts.verify_interval.min(deadline - now)).await;
        let problem = match client.verification_check(&v).await {
            Ok(IvState::Waiting) => {
                errors = 0;
                ui.tick(
                    &Phase::Verifying {
                        url: url.to_owned(),
                    },
                    deadline.saturating_duration_since(Instant::now()),
                );
                continue;
            }
            Ok(IvState::Passed(next)) => match client.verification_finish(&next).await {
                Ok(()) => {
                    ui.verification_passed();
                    return Ok(Verified::Yes);
                }
                Err(e) if e.is_transient() => e.to_string(),
                Err(e) => return Ok(Verified::FellBack(e.to_string())),
            },
            Ok(IvState::Other(code)) => format!("check.do answered code {code}"),
            Err(e) if e.is_transient() => {
                ui.detail(&format!("verification poll failed, retrying: {e}"));
                continue;
            }
            Err(e) => e.to_string(),
        };
        errors += 1;
        ui.detail(&problem);
        if errors >= MAX_VERIFY_ERRORS {
            return Ok(Verified::FellBack(problem));
        }
    }
}

/// After CONFIRMED: redeem the variant's token or dialog, then land on www `/im` and turn
/// on long login side by side (they need the same cookies and nothing from each other).
async fn finish(
    client: &PassportClient,
    c: &Confirmation,
    ui: &mut dyn Ui,
) -> Result<(), LoginError> {
    if let Some(token) = &c.token {
        client.redeem_token(token).await?;
    }
    if let Some(url) = &c.keep_login_url {
        client.confirm_keep_login(url).await?;
    }
    let (landed, long) = tokio::join!(client.land(), client.enable_long_login());
    landed?;
    match long {
        Ok(true) => {}
        Ok(false) => ui.warn("the service did not turn on long login; cookies may expire sooner"),
        Err(e) => ui.warn(&format!("{e}; cookies may expire sooner")),
    }
    Ok(())
}

/// Whether a login error means the QR session is over (cancelled, expired, verification
/// abandoned), as opposed to a fault that a later attempt could get past.
pub fn ended_for_good(e: &LoginError) -> bool {
    !matches!(
        e,
        LoginError::Interrupted | LoginError::ServerErrors { .. } | LoginError::Passport(_)
    )
}
