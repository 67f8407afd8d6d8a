//! The async login loop: bootstrap, show a QR, poll until the state machine says finish or
//! fail, then land the session. Interval and deadline are parameters; what the person
//! sees goes through the `Ui` trait so the command decides how to show it.

use super::LoginError;
use super::machine::{self, Machine, Next, Observation, Phase};
use crate::cookies::{self, Cookie};
use crate::passport::{Confirmation, PassportClient, PassportError, QrCode, QrState};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub poll_interval: Duration,
    pub timeout: Duration,
    pub max_qr: u32,
}

/// What the person at the terminal (or a script reading `--json`) is told.
pub trait Ui {
    /// A QR code to scan: number `n` of at most `max`, valid until about `valid_for` from now.
    fn qr(&mut self, qr: &QrCode, n: u32, max: u32, valid_for: Duration);
    /// The login moved to a new phase.
    fn phase(&mut self, phase: &Phase, time_left: Duration);
    /// Time passes (for a countdown).
    fn tick(&mut self, phase: &Phase, time_left: Duration);
    fn confirmed(&mut self);
    fn warn(&mut self, msg: &str);
    fn detail(&mut self, msg: &str);
}

/// How long the service keeps a QR code (protocol.md §5.1: 300 s in most clients; the
/// real figure is uncertain, so this is only what the person is told).
const QR_LIFETIME: Duration = Duration::from_secs(300);

/// Run a whole login; on success the jar holds the session and the cookies are returned.
pub async fn login(
    client: Arc<PassportClient>,
    opts: Options,
    ui: &mut dyn Ui,
) -> anyhow::Result<Vec<Cookie>> {
    let deadline = Instant::now() + opts.timeout;
    // The QR steps do not depend on the mtop token (protocol.md §2.1): fetch it beside them.
    let h5 = {
        let c = client.clone();
        tokio::spawn(async move { c.bootstrap_h5_token().await })
    };
    let form = client.mini_login().await?;
    let mut m = Machine::new(opts.max_qr);
    let confirmation = 'qr: loop {
        let qr = client.generate(&form).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        ui.qr(&qr, m.qr_shown, m.max_qr, QR_LIFETIME.min(left));
        ui.phase(&m.phase, left);
        let mut wait = opts.poll_interval;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(machine::on_deadline(&m, opts.timeout).into());
            }
            tokio::time::sleep(wait.min(deadline - now)).await;
            if Instant::now() >= deadline {
                return Err(machine::on_deadline(&m, opts.timeout).into());
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
            let has_unb =
                cookies::value_of(&client.cookies(), "unb").is_some_and(|u| !u.is_empty());
            let before = m.phase.clone();
            let (next_m, next) = machine::step(&m, obs, has_unb, opts.poll_interval);
            m = next_m;
            let left = deadline.saturating_duration_since(Instant::now());
            if m.phase != before {
                ui.phase(&m.phase, left);
            } else {
                ui.tick(&m.phase, left);
            }
            match next {
                Next::Poll => wait = opts.poll_interval,
                Next::Retry(d) => wait = d,
                Next::NewQr => continue 'qr,
                Next::Finish(c) => break 'qr c,
                Next::Fail(e) => return Err(e.into()),
            }
        }
    };
    ui.confirmed();
    finish(&client, &confirmation, ui).await?;
    // The mtop token is a nice-to-have at this point; say so if it failed.
    match tokio::time::timeout(Duration::from_secs(2), h5).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => ui.detail(&format!(
            "{e} (the account is saved without an mtop token; refresh fetches one)"
        )),
        _ => ui.detail("h5api token bootstrap did not finish in time"),
    }
    Ok(client.cookies())
}

/// After CONFIRMED: redeem the variant's token or dialog, then land on www `/im` and turn
/// on long login side by side (they need the same cookies and nothing from each other).
async fn finish(client: &PassportClient, c: &Confirmation, ui: &mut dyn Ui) -> anyhow::Result<()> {
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

/// Map a failure to the login error it is, for callers that only have the anyhow chain.
pub fn as_login_error(e: &anyhow::Error) -> Option<&LoginError> {
    e.downcast_ref::<LoginError>()
}
