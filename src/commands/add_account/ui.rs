//! add-account's terminal side: the QR on stderr (and in the `--qr-png` file), a spinner
//! on a TTY or one plain line per change otherwise, and NDJSON events on stdout with
//! `--json`. The login itself knows nothing of this: it talks to the `Ui` trait.

use crate::exit::message_for;
use crate::login::flow::Ui;
use crate::login::machine::Phase;
use crate::passport::QrCode;
use crate::printer::Printer;
use crate::settings::{LoginConfig, QrMode};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

/// One `--json` line of add-account (README, "add-account"): what scripts parse, so its
/// shape is a type, pinned by a snapshot test.
#[derive(Debug, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(super) enum Event<'a> {
    Qr {
        url: &'a str,
        n: u32,
        max: u32,
        expires_at: String,
    },
    Scanned,
    VerificationRequired {
        url: &'a str,
    },
    VerificationQr {
        text: &'a str,
    },
    VerificationFallback {
        url: &'a str,
        reason: &'a str,
    },
    VerificationPassed,
    Confirmed,
    Saved {
        name: &'a str,
        unb: &'a str,
        cookies: usize,
        new: bool,
        renamed_from: Option<&'a str>,
    },
    Pending {
        id: &'a str,
        expires_at: String,
    },
    Web {
        url: &'a str,
    },
    Error {
        code: i32,
        message: String,
    },
}

impl Event<'_> {
    pub(super) fn to_line(&self) -> String {
        // INVARIANT: every field is a string, a number, a bool or an option of them, which
        // serde_json always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The terminal side of a login: the QR on stderr, a spinner on a TTY or one plain line
/// per change otherwise, and NDJSON events on stdout with `--json`.
pub(super) struct TermUi<'a> {
    pub(super) printer: &'a Printer,
    cfg: &'a LoginConfig,
    spinner: Option<ProgressBar>,
    mode: QrMode,
    /// Where every QR shown is also written as a PNG, and with which mode.
    pub(super) qr_png: Option<(std::path::PathBuf, u32)>,
    /// `--on-qr`, when given.
    hook: Option<super::hook::QrHook>,
    /// `--trace`, when given: the login's exchanges.
    pub(super) trace: Option<crate::passport::Trace>,
    /// `--web`, when given: the page that follows the login.
    pub(super) web: Option<super::web::Web>,
}

impl<'a> TermUi<'a> {
    pub(super) fn new(
        printer: &'a Printer,
        cfg: &'a LoginConfig,
        web: Option<super::web::Web>,
    ) -> TermUi<'a> {
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
            trace: cfg.trace.as_ref().map(|_| crate::passport::Trace::new()),
            hook: cfg.on_qr.as_ref().and_then(|(cmd, timeout)| {
                let web_url = web.as_ref().map(|w| w.url.as_str());
                super::hook::QrHook::new(
                    cmd,
                    *timeout,
                    &cfg.tmp,
                    cfg.name.as_deref(),
                    web_url,
                    printer,
                )
                .map_err(|e| printer.warn(&format!("--on-qr: no temporary directory: {e}")))
                .ok()
            }),
            web,
        }
    }

    /// Wait for `--on-qr` hooks still running (each bounded by its timeout), unless the
    /// login was interrupted.
    pub(super) fn finish_hooks(&mut self, wait: bool) {
        if let Some(h) = self.hook.as_mut() {
            h.finish(wait);
        }
    }

    /// Hand a QR code to `--on-qr`.
    fn hook(&mut self, text: &str, kind: &'static str, valid_for: Option<Duration>) {
        let expires = valid_for.map(|d| crate::time::now() + d.as_secs() as i64);
        if let Some(h) = self.hook.as_mut() {
            h.fire(text, kind, expires);
        }
    }

    pub(super) fn clear(&mut self) {
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
        }
    }

    pub(super) fn event(&self, e: Event<'_>) {
        if self.cfg.json {
            // A reader that went away must not abort a login the phone may confirm: the
            // account is saved either way and the exit code says how it ended.
            let _ = self.printer.data_line(&e.to_line());
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

    pub(super) fn say(&self, msg: &str) {
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
        self.hook(&qr.content, "login", Some(valid_for));
        self.say(&format!(
            "QR code {n}/{max}: scan it with the 闲鱼 app, or open: {}",
            qr.content
        ));
        self.write_png(&qr.content);
        let expires = crate::time::now() + valid_for.as_secs() as i64;
        if let Some(w) = &self.web {
            w.qr(&qr.content, "login", Some(expires));
        }
        self.event(Event::Qr {
            url: &qr.content,
            n,
            max,
            expires_at: crate::time::display(Some(expires)),
        });
    }

    fn phase(&mut self, phase: &Phase, time_left: Duration) {
        match phase {
            Phase::WaitingForScan => {}
            Phase::Scanned => {
                self.event(Event::Scanned);
                if let Some(w) = &self.web {
                    w.scanned();
                }
            }
            Phase::Verifying { url } => {
                if let Some(w) = &self.web {
                    w.verifying();
                }
                // Only one code at a time: the verification QR follows as soon as its
                // pages are read, or the link itself if they cannot be.
                self.event(Event::VerificationRequired { url });
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
        self.event(Event::VerificationQr { text });
        if let Some(w) = &self.web {
            w.qr(
                text,
                "verification",
                Some(crate::time::now() + time_left.as_secs() as i64),
            );
        }
        self.draw(text);
        self.write_png(text);
        self.hook(text, "verification", Some(time_left));
        self.say(&format!(
            "Verification QR: scan THIS code with the 闲鱼 app (it replaces the login QR above) and follow the face check on the phone ({} s left): {text}",
            time_left.as_secs()
        ));
    }

    fn verification_fallback(&mut self, url: &str, why: &str) {
        self.event(Event::VerificationFallback { url, reason: why });
        if let Some(w) = &self.web {
            w.qr(url, "verification", None);
        }
        self.draw(url);
        self.write_png(url);
        self.hook(url, "verification", None);
        self.say(&format!(
            "qrlogin cannot run the verification here ({why}), so this code is shown instead: scan THIS one with the 闲鱼 app (it replaces every code above) and finish the face check on the phone; qrlogin keeps waiting. Link: {url}"
        ));
    }

    fn verification_passed(&mut self) {
        self.event(Event::VerificationPassed);
        self.say("verification passed");
    }

    fn confirmed(&mut self) {
        self.event(Event::Confirmed);
        if let Some(w) = &self.web {
            w.confirmed();
        }
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
