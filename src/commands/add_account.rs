//! `qrlogin add-account`: run the QR login and save the account. What the person sees
//! (QR, spinner or plain lines, `--json` events) is decided here; the login itself is in
//! `login::flow`.

use crate::cookies;
use crate::exit::{Code, Coded, code_for, message_for};
use crate::login::LoginError;
use crate::login::flow::{self, Ui};
use crate::login::machine::Phase;
use crate::passport::{PassportClient, QrCode};
use crate::printer::Printer;
use crate::redacted::Proxy;
use crate::settings::{Globals, LoginConfig, QrMode};
use crate::store::{NewAccount, PendingLogin, Saved, Status, Store, StoreError};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub fn run(globals: &Globals, cfg: &LoginConfig, printer: &Printer) -> anyhow::Result<Code> {
    let store = super::open(globals)?;
    let rt = super::runtime()?;
    rt.block_on(add_account(globals, &store, cfg, printer))
}

/// The whole command, also used by `demo` inside its own runtime.
pub async fn add_account(
    globals: &Globals,
    store: &Store,
    cfg: &LoginConfig,
    printer: &Printer,
) -> anyhow::Result<Code> {
    let mut ui = TermUi::new(printer, cfg);
    let result = tokio::select! {
        r = login(globals, store, cfg, &mut ui) => r,
        _ = tokio::signal::ctrl_c() => Err(LoginError::Interrupted.into()),
    };
    ui.clear();
    if let Err(e) = &result
        && cfg.json
    {
        // The error itself is what the caller reports; a stdout that also fails adds nothing.
        let _ = printer.data_line(
            &json!({"event": "error", "code": code_for(e).as_i32(), "message": message_for(e)})
                .to_string(),
        );
    }
    result
}

fn options(cfg: &LoginConfig) -> flow::Options {
    flow::Options {
        poll_interval: cfg.poll_interval,
        timeout: cfg.timeout,
        max_qr: cfg.max_qr,
        verify_interval: Duration::from_secs(2),
    }
}

async fn login(
    globals: &Globals,
    store: &Store,
    cfg: &LoginConfig,
    ui: &mut TermUi<'_>,
) -> anyhow::Result<Code> {
    let now = crate::time::now();
    if let Some(id) = &cfg.resume {
        // Look the id up before purging, so an expired one is reported as expired.
        let pending = store.pending(id, now);
        store.purge_pending(now)?;
        return resume(store, cfg, pending?, globals.http_timeout, ui).await;
    }
    store.purge_pending(now)?;
    if let Some(name) = &cfg.name
        && let Some(unb) = store.owner_of_name(name)?
    {
        ui.warn(&format!(
            "the name `{name}` belongs to account {unb}: this login will only be saved if you log in as that account"
        ));
    }
    let client = Arc::new(PassportClient::new(
        globals.endpoints.clone(),
        &globals.user_agent,
        cfg.proxy.as_ref(),
        globals.http_timeout,
        &[],
    )?);
    let opts = options(cfg);
    if !cfg.no_wait {
        let cookies = flow::login(client.clone(), opts, ui).await?;
        return save(store, cfg, cfg.name.clone(), &client, cookies, ui);
    }
    // --no-wait: show the QR, keep everything needed to finish it, print the id.
    let (h5, started) = tokio::join!(client.bootstrap_h5_token(), flow::start(&client, &opts, ui));
    if let Err(e) = h5 {
        ui.detail(&e.to_string());
    }
    let started = started?;
    let id = crate::ids::random_hex(12);
    let expires = now + flow::QR_LIFETIME.min(cfg.timeout).as_secs() as i64;
    store.save_pending(&PendingLogin {
        id: id.clone(),
        created_at: now,
        expires_at: expires,
        name: cfg.name.clone(),
        t: started.qr.t,
        ck: started.qr.ck.clone(),
        qr_content: started.qr.content.clone(),
        form: started.form.clone(),
        cookies: client.cookies(),
        user_agent: client.user_agent().to_owned(),
        proxy: cfg.proxy.as_ref().map(|p| p.expose().to_owned()),
        passport_url: globals.endpoints.passport.clone(),
        h5api_url: globals.endpoints.h5api.clone(),
        www_url: globals.endpoints.www.clone(),
        qr_png: cfg.qr_png.clone(),
        qr_png_mode: cfg.qr_png_mode,
    })?;
    ui.say(&format!(
        "pending login {id} saved (valid until {}); finish it with `qrlogin add-account --resume {id}`",
        crate::time::display(Some(expires))
    ));
    // With --json every stdout line is an event; otherwise stdout is the bare id.
    if cfg.json {
        ui.event(json!({"event": "pending", "id": id, "expires_at": crate::time::display(Some(expires))}));
    } else {
        ui.printer.data_line(&id)?;
    }
    Ok(Code::Success)
}

/// Finish a `--no-wait` login in this process, exactly as an uninterrupted login would.
async fn resume(
    store: &Store,
    cfg: &LoginConfig,
    p: PendingLogin,
    http_timeout: Duration,
    ui: &mut TermUi<'_>,
) -> anyhow::Result<Code> {
    let id = p.id.as_str();
    let endpoints = crate::settings::Endpoints {
        passport: p.passport_url.clone(),
        h5api: p.h5api_url.clone(),
        www: p.www_url.clone(),
    };
    let proxy = p
        .proxy
        .as_deref()
        .map(Proxy::parse)
        .transpose()
        .map_err(|_| StoreError::PendingCorrupt {
            id: id.to_owned(),
            what: "proxy".into(),
        })?;
    let client = PassportClient::new(
        endpoints,
        &p.user_agent,
        proxy.as_ref(),
        http_timeout,
        &p.cookies,
    )?;
    let qr = QrCode {
        t: p.t,
        ck: p.ck.clone(),
        content: p.qr_content.clone(),
    };
    if ui.qr_png.is_none() {
        ui.qr_png = p.qr_png.clone().map(|path| (path, p.qr_png_mode));
    }
    let opts = options(cfg);
    let left = Duration::from_secs((p.expires_at - crate::time::now()).max(1) as u64);
    ui.qr(&qr, 1, opts.max_qr, left);
    let result = flow::wait(
        &client,
        opts,
        flow::Started {
            form: p.form.clone(),
            qr,
        },
        ui,
    )
    .await;
    match result {
        Ok(cookies) => {
            let cfg = LoginConfig {
                proxy,
                ..cfg.clone()
            };
            let code = save(
                store,
                &cfg,
                cfg.name.clone().or(p.name.clone()),
                &client,
                cookies,
                ui,
            )?;
            store.delete_pending(id)?;
            Ok(code)
        }
        Err(e) => {
            // A login that ended for good cannot be resumed again; a network fault can.
            if crate::login::flow::ended_for_good(&e) {
                store.delete_pending(id)?;
            }
            Err(e.into())
        }
    }
}

fn save(
    store: &Store,
    cfg: &LoginConfig,
    name: Option<String>,
    client: &PassportClient,
    cookies: Vec<cookies::Cookie>,
    ui: &mut TermUi<'_>,
) -> anyhow::Result<Code> {
    let new = NewAccount {
        proxy: cfg.proxy.as_ref().map(|p| p.expose().to_owned()),
        user_agent: Some(client.user_agent().to_owned()),
        refreshed: true,
        rename: cfg.rename,
        ..NewAccount::from_cookies(cookies, name, Status::Ok)
    };
    // A `--name` of another account is refused (the warning before the QR said so);
    // default names never clash.
    let (account, saved) = store
        .save(&new, crate::time::now())
        .map_err(|e| match e {
            StoreError::NameTaken { .. } => {
                Coded::usage(format!("{e}; log in again and choose another with --name")).into()
            }
            e => anyhow::Error::from(e),
        })
        .context("saving the account")?;
    ui.event(json!({
        "event": "saved",
        "name": account.name,
        "unb": account.unb,
        "cookies": account.cookies.len(),
        "new": saved == Saved::Created,
        "renamed_from": match &saved { Saved::Renamed { from } => Some(from), _ => None },
    }));
    ui.clear();
    ui.printer.info(&super::describe_save(
        &account,
        &saved,
        "saved new account",
        &format!(
            "add-account --name {} --rename",
            crate::escape::shell_word(cfg.name.as_deref().unwrap_or("NAME"))
        ),
    ));
    Ok(Code::Success)
}

/// The terminal side of a login: the QR on stderr, a spinner on a TTY or one plain line
/// per change otherwise, and NDJSON events on stdout with `--json`.
struct TermUi<'a> {
    printer: &'a Printer,
    cfg: &'a LoginConfig,
    spinner: Option<ProgressBar>,
    mode: QrMode,
    /// Where every QR shown is also written as a PNG, and with which mode.
    qr_png: Option<(std::path::PathBuf, u32)>,
}

impl<'a> TermUi<'a> {
    fn new(printer: &'a Printer, cfg: &'a LoginConfig) -> TermUi<'a> {
        let mode = crate::qr::resolve_mode(
            cfg.qr,
            printer.stderr_is_terminal(),
            printer.stdout_is_terminal(),
            cfg.json,
            cfg.image_terminal,
        );
        let spinner = (printer.stderr_is_terminal() && printer.verbosity() >= 0).then(|| {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            pb.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        });
        TermUi {
            printer,
            cfg,
            spinner,
            mode,
            qr_png: cfg.qr_png.clone().map(|p| (p, cfg.qr_png_mode)),
        }
    }

    fn clear(&mut self) {
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
        }
    }

    fn event(&self, v: serde_json::Value) {
        if self.cfg.json {
            // A reader that went away must not abort a login the phone may confirm: the
            // account is saved either way and the exit code says how it ended.
            let _ = self.printer.data_line(&v.to_string());
        }
    }

    /// Rewrite the `--qr-png` file with the QR now current (atomically: a reader sees the
    /// old image or the new one).
    fn write_png(&self, text: &str) {
        if let Some((path, mode)) = &self.qr_png
            && let Err(e) = crate::qr::write_png(text, path, *mode)
        {
            self.printer.warn(&message_for(&e));
        }
    }

    fn say(&self, msg: &str) {
        match &self.spinner {
            Some(pb) => pb.suspend(|| self.printer.info(msg)),
            None => self.printer.info(msg),
        }
    }

    fn draw(&self, text: &str) {
        let drawn = match self.mode {
            QrMode::None => return,
            QrMode::Ascii => crate::qr::ascii(text),
            QrMode::Image => {
                // With the spinner suspended, so its glyph is not left above the image.
                let printed = match &self.spinner {
                    Some(pb) => {
                        pb.suspend(|| crate::qr::print_image(text, self.cfg.image_terminal))
                    }
                    None => crate::qr::print_image(text, self.cfg.image_terminal),
                };
                match printed {
                    Ok(()) => return,
                    Err(_) => crate::qr::unicode(text, true),
                }
            }
            _ => crate::qr::unicode(text, self.printer.stderr_is_terminal()),
        };
        match drawn {
            Ok(s) => match &self.spinner {
                Some(pb) => pb.suspend(|| self.printer.raw_stderr(&s)),
                None => self.printer.raw_stderr(&s),
            },
            Err(e) => self.printer.warn(&e.to_string()),
        }
    }
}

fn phase_text(phase: &Phase) -> &'static str {
    match phase {
        Phase::WaitingForScan => "waiting for the scan (闲鱼 app → scan)",
        Phase::Scanned => "scanned: confirm the login on the phone",
        Phase::Verifying { .. } => "verification required: finish it on the phone",
    }
}

impl Ui for TermUi<'_> {
    fn qr(&mut self, qr: &QrCode, n: u32, max: u32, valid_for: Duration) {
        self.draw(&qr.content);
        self.say(&format!(
            "QR code {n}/{max}: scan it with the 闲鱼 app, or open: {}",
            qr.content
        ));
        self.write_png(&qr.content);
        let expires = crate::time::now() + valid_for.as_secs() as i64;
        self.event(json!({"event": "qr", "url": qr.content, "n": n, "max": max, "expires_at": crate::time::display(Some(expires))}));
    }

    fn phase(&mut self, phase: &Phase, time_left: Duration) {
        match phase {
            Phase::WaitingForScan => {}
            Phase::Scanned => self.event(json!({"event": "scanned"})),
            Phase::Verifying { url } => {
                // Only one code at a time: the verification QR follows as soon as its
                // pages are read, or the link itself if they cannot be.
                self.event(json!({"event": "verification_required", "url": url}));
                self.say("Goofish asks for identity verification before this login completes: the login QR above is done with; preparing the verification QR code…");
            }
        }
        match &self.spinner {
            Some(pb) => pb.set_message(format!(
                "{} · {} s left",
                phase_text(phase),
                time_left.as_secs()
            )),
            None => self.printer.info(phase_text(phase)),
        }
    }

    fn tick(&mut self, phase: &Phase, time_left: Duration) {
        if let Some(pb) = &self.spinner {
            pb.set_message(format!(
                "{} · {} s left",
                phase_text(phase),
                time_left.as_secs()
            ));
        }
    }

    fn verification_qr(&mut self, text: &str, time_left: Duration) {
        self.event(json!({"event": "verification_qr", "text": text}));
        self.draw(text);
        self.write_png(text);
        self.say(&format!(
            "Verification QR: scan THIS code with the 闲鱼 app (it replaces the login QR above) and follow the face check on the phone ({} s left): {text}",
            time_left.as_secs()
        ));
    }

    fn verification_fallback(&mut self, url: &str, why: &str) {
        self.event(json!({"event": "verification_fallback", "url": url, "reason": why}));
        self.draw(url);
        self.write_png(url);
        self.say(&format!(
            "qrlogin cannot run the verification here ({why}), so this code is shown instead: scan THIS one with the 闲鱼 app (it replaces every code above) and finish the face check on the phone; qrlogin keeps waiting. Link: {url}"
        ));
    }

    fn verification_passed(&mut self) {
        self.event(json!({"event": "verification_passed"}));
        self.say("verification passed");
    }

    fn confirmed(&mut self) {
        self.event(json!({"event": "confirmed"}));
        match &self.spinner {
            Some(pb) => pb.set_message("confirmed: logging in…"),
            None => self.printer.info("confirmed: logging in"),
        }
    }

    fn warn(&mut self, msg: &str) {
        match &self.spinner {
            Some(pb) => pb.suspend(|| self.printer.warn(msg)),
            None => self.printer.warn(msg),
        }
    }

    fn detail(&mut self, msg: &str) {
        match &self.spinner {
            Some(pb) => pb.suspend(|| self.printer.detail(msg)),
            None => self.printer.detail(msg),
        }
    }
}
