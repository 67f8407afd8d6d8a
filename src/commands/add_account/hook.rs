//! `--on-qr CMD`: each QR code shown (the first, every replacement, the verification QR)
//! is handed to `sh -c CMD`, so a script can send it to whoever holds the phone. The hook
//! runs beside the login, bounded by `--on-qr-timeout`: a failing or slow hook is reported
//! on stderr and never changes how the login ends.

use crate::printer::Printer;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub(super) struct QrHook {
    cmd: String,
    timeout: Duration,
    /// A private directory (0700) for the PNGs handed to the hook; removed at the end.
    dir: PathBuf,
    account: String,
    /// `--web`'s page, handed to the hook as QRLOGIN_WEB_URL.
    web_url: Option<String>,
    printer: Printer,
    shown: u32,
    running: Vec<std::thread::JoinHandle<()>>,
}

impl QrHook {
    pub(super) fn new(
        cmd: &str,
        timeout: Duration,
        tmp: &std::path::Path,
        account: Option<&str>,
        web_url: Option<&str>,
        printer: &Printer,
    ) -> std::io::Result<QrHook> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = tmp.join(format!(
            "qrlogin-qr-{}-{}",
            std::process::id(),
            crate::ids::random_hex(8)
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(QrHook {
            cmd: cmd.to_owned(),
            timeout,
            dir,
            account: account.unwrap_or_default().to_owned(),
            web_url: web_url.map(str::to_owned),
            printer: printer.clone(),
            shown: 0,
            running: Vec::new(),
        })
    }

    /// Hand one QR code to the hook, in the background.
    pub(super) fn fire(&mut self, text: &str, kind: &'static str, expires_at: Option<i64>) {
        self.shown += 1;
        let png = self.dir.join(format!("qr-{}.png", self.shown));
        if let Err(e) = crate::qr::write_png(text, &png, 0o600) {
            self.printer
                .warn(&format!("--on-qr: {}", crate::exit::message_for(&e)));
            return;
        }
        let mut command = std::process::Command::new("sh");
        command
            .arg("-c")
            .arg(&self.cmd)
            .env("QRLOGIN_QR_TEXT", text)
            .env("QRLOGIN_QR_PNG", &png)
            .env("QRLOGIN_QR_KIND", kind)
            .env(
                "QRLOGIN_QR_EXPIRES_AT",
                crate::time::rfc3339(expires_at).unwrap_or_default(),
            )
            .env("QRLOGIN_ACCOUNT", &self.account)
            .env(
                "QRLOGIN_WEB_URL",
                self.web_url.as_deref().unwrap_or_default(),
            )
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(std::io::stderr()));
        let (timeout, printer) = (self.timeout, self.printer.clone());
        self.running.push(std::thread::spawn(move || {
            run(command, timeout, kind, &printer);
            let _ = std::fs::remove_file(&png);
        }));
    }

    /// Wait for the hooks still running (each is bounded by its timeout) when `wait`, then
    /// remove the directory of PNGs. Ctrl-C does not wait: the person wants out now.
    pub(super) fn finish(&mut self, wait: bool) {
        for t in self.running.drain(..) {
            if wait {
                let _ = t.join();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for QrHook {
    fn drop(&mut self) {
        self.finish(false);
    }
}

/// Run the hook in its own process group; kill the group when it outlives `timeout`.
fn run(mut command: std::process::Command, timeout: Duration, kind: &str, printer: &Printer) {
    use std::os::unix::process::CommandExt;
    let mut child = match command.process_group(0).spawn() {
        Ok(c) => c,
        Err(e) => return printer.warn(&format!("--on-qr command could not run: {e}")),
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) if s.success() => return,
            Ok(Some(s)) => {
                return printer.warn(&format!(
                    "--on-qr command exited with {s} for the {kind} QR code; the login goes on"
                ));
            }
            Ok(None) if Instant::now() >= deadline => {
                // SAFETY: kill(2) on the process group this child leads.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                return printer.warn(&format!(
                    "--on-qr command was still running after {} s and was killed (--on-qr-timeout); the login goes on",
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return printer.warn(&format!("--on-qr command: {e}")),
        }
    }
}
