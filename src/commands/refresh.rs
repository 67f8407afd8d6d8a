//! `qrlogin refresh`: renew and validate accounts, quietly, for cron. One line on stderr
//! per account that needs attention; `--json` for a full report; `--on-change` hooks.

use crate::exit::{Code, RefreshTally};
use crate::printer::Printer;
use crate::refresh::{self, Report, Skip};
use crate::settings::{Globals, RefreshConfig};
use crate::store::{Planned, Status};
use serde::ser::{SerializeSeq, Serializer};
use std::io::Write;
use std::sync::Arc;

pub fn run(globals: &Globals, cfg: &RefreshConfig, printer: &Printer) -> anyhow::Result<Code> {
    let mut store = super::open(globals)?;
    // What a plan needs only: each account is read whole when its refresh has the lease.
    let accounts: Vec<Planned> = if cfg.opts.names.is_empty() {
        store.planned()?
    } else {
        let mut picked = Vec::with_capacity(cfg.opts.names.len());
        for n in &cfg.opts.names {
            picked.push(Planned::from(&store.get(n)?));
        }
        picked
    };
    if accounts.is_empty() {
        printer.detail("no accounts to refresh");
        if cfg.json {
            printer.data_line("[]")?;
        }
        return Ok(Code::Success);
    }
    // Only now: a refresh of nothing writes no secret and makes no key.
    super::key::unlock(globals, &mut store, super::key::Need::Write, printer)?;
    let hook = cfg.on_change.clone();
    let hook_printer = printer.clone();
    let hook_timeout = cfg.on_change_timeout;
    let on_change: refresh::OnChange = Arc::new(move |r: &Report| {
        let Some(cmd) = hook.clone() else {
            return Box::pin(std::future::ready(()));
        };
        let (r, printer) = (r.clone(), hook_printer.clone());
        // On a blocking thread: the hook may take up to its timeout, and the runtime's one
        // thread carries every other account meanwhile. `run_hook` reports its own
        // failures; it does not panic.
        let hook = tokio::task::spawn_blocking(move || run_hook(&cmd, &r, hook_timeout, &printer));
        Box::pin(async move {
            let _ = hook.await;
        })
    });
    let rt = super::runtime_one_thread()?;
    let trace = cfg.trace.as_ref().map(|_| crate::passport::Trace::new());
    let opts = refresh::Options {
        trace: trace.clone(),
        ..cfg.opts.clone()
    };
    // Each report is printed as it comes, in listing order, and none is kept: at 100,000
    // accounts they were a fifth of the run's memory. `--json` stays one array, closed
    // even when the run fails part-way (what it holds was stored).
    let mut tally = RefreshTally::default();
    let (total, mut reported) = (accounts.len(), 0usize);
    let mut ser = cfg
        .json
        .then(|| serde_json::Serializer::pretty(printer.data_stream()));
    let mut seq = match ser.as_mut() {
        Some(ser) => Some(ser.serialize_seq(None)?),
        None => None,
    };
    let mut unwritten: Option<serde_json::Error> = None;
    let (sent, mut reports) = tokio::sync::mpsc::channel(REPORTS_QUEUED);
    let passport = globals.endpoints.passport.host_str().unwrap_or_default();
    let mut unsent_told = false;
    let mut print = |r: Report| {
        tally.add(&r);
        reported += 1;
        // Real accounts against another passport host (a simulator's URL left exported):
        // said once. Their goofish.com session values are not sent there.
        if r.cookies_unsent && !std::mem::replace(&mut unsent_told, true) {
            printer.warn(&format!(
                "refreshing against {passport} (QRLOGIN_PASSPORT_URL), not passport.goofish.com: accounts with goofish.com cookies send none of them there and will not renew; unset QRLOGIN_PASSPORT_URL to refresh them for real"
            ));
        }
        print_line(&r, printer);
        if let Some(seq) = seq.as_mut()
            && unwritten.is_none()
            && let Err(e) = seq.serialize_element(&report_json(&r))
        {
            unwritten = Some(e);
        }
    };
    let (endpoints, ua) = (globals.endpoints.clone(), globals.user_agent.clone());
    let ran = std::thread::scope(|s| {
        let run = std::thread::Builder::new()
            .name("qrlogin-refresh".into())
            .spawn_scoped(s, move || {
                rt.block_on(refresh::run(
                    store, accounts, endpoints, ua, opts, on_change, sent,
                ))
            })?;
        // Printed here, where a slow reader of stdout or stderr holds back only new
        // accounts. Woken once per batch, not once per account: after printing what has
        // come, wait a little for more.
        while let Some(r) = reports.blocking_recv() {
            print(r);
            while let Ok(r) = reports.try_recv() {
                print(r);
            }
            std::thread::sleep(PRINT_PAUSE);
        }
        run.join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the refresh thread panicked")))
    });
    if let Some(seq) = seq {
        seq.end()?;
    }
    if let Some(ser) = ser {
        let mut out = ser.into_inner();
        out.write_all(b"\n")?;
        out.finish()?;
    }
    if let (Some(t), Some(path)) = (&trace, &cfg.trace) {
        super::write_trace(t, path, printer);
    }
    ran.map_err(|e| {
        super::stopped_part_way(
            e,
            format!(
                "refresh stopped after {reported} of {total} accounts (the results reported are stored)"
            ),
        )
    })?;
    if let Some(e) = unwritten {
        return Err(e.into());
    }
    Ok(tally.code())
}

/// Reports the refresh may finish ahead of the printing: beyond these it waits to start
/// new accounts (about 200 bytes each).
const REPORTS_QUEUED: usize = 1024;
/// How long the printing lets reports gather before it looks again.
const PRINT_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// An account's lines on stderr: the long-login refusal once, and what happened to it.
fn print_line(r: &Report, printer: &Printer) {
    if r.long_login_refused_now {
        printer.info(&format!(
            "{} ({}): the service would not turn long login on (queryLoginSettings: hasLongTokenLogin false); qrlogin will not ask again until the next login",
            crate::escape::for_terminal(&r.name),
            r.unb
        ));
    }
    match line(r) {
        Some((true, text)) => printer.info(&text),
        Some((false, text)) => printer.detail(&text),
        None => {}
    }
}

/// The stderr line for an account, and whether it needs attention (shown without -v).
fn line(r: &Report) -> Option<(bool, String)> {
    let who = format!("{} ({})", crate::escape::for_terminal(&r.name), r.unb);
    let err = r.error.clone().unwrap_or_default();
    if let Some(skip) = &r.skipped {
        let why = match skip {
            Skip::Cooldown { until } => {
                format!("in cooldown until {}", crate::time::display(Some(*until)))
            }
            Skip::Recent { at } => format!("refreshed at {}", crate::time::display(Some(*at))),
            Skip::ThisRound { at } => format!(
                "another refresh of this round checked it at {}",
                crate::time::display(Some(*at))
            ),
            Skip::Leased => "another refresh is working on it".into(),
            Skip::Superseded => {
                "a login or import saved it meanwhile; its newer cookies were kept".into()
            }
        };
        return Some((
            false,
            format!("{who}: skipped, {why} (status {})", r.new.as_str()),
        ));
    }
    let changed = r.old != r.new;
    Some(match r.new {
        _ if r.unopened => (true, format!("{who}: not checked: {err}")),
        _ if r.transient => (
            true,
            format!("{who}: could not check, will retry next run: {err}"),
        ),
        Status::Expired => (
            changed,
            format!(
                "{who}: needs a new QR login (`qrlogin add-account --name {}`): {err}",
                crate::escape::shell_word(&r.name)
            ),
        ),
        Status::Risk => (
            changed,
            format!(
                "{who}: blocked by risk control; next attempt after {}: {err}",
                crate::time::display(r.next_attempt)
            ),
        ),
        _ => (false, format!("{who}: ok ({})", refresh::describe(&r.sent))),
    })
}

/// One account in `refresh --json`: the report's stable, documented shape.
#[derive(serde::Serialize)]
struct ReportJson<'a> {
    name: &'a str,
    unb: &'a str,
    old_status: Status,
    new_status: Status,
    /// What was sent (`silentHasLogin+loginuser.get`), or `skipped`.
    action: String,
    skipped: Option<&'static str>,
    transient: bool,
    error: Option<&'a str>,
    next_attempt: Option<String>,
}

fn report_json(r: &Report) -> ReportJson<'_> {
    ReportJson {
        name: &r.name,
        unb: &r.unb,
        old_status: r.old,
        new_status: r.new,
        action: refresh::describe(&r.sent),
        skipped: r
            .unopened
            .then_some("unreadable")
            .or(r.skipped.as_ref().map(|s| match s {
                Skip::Cooldown { .. } => "cooldown",
                Skip::Recent { .. } => "min-interval",
                Skip::ThisRound { .. } => "this-round",
                Skip::Leased => "leased",
                Skip::Superseded => "superseded",
            })),
        transient: r.transient,
        error: r.error.as_deref(),
        next_attempt: crate::time::rfc3339(r.next_attempt),
    }
}

/// `sh -c CMD` with the transition in its environment; its output goes to our stderr so
/// stdout stays the `--json` report. A command still running after `timeout` is killed
/// (its whole process group), so a hanging hook cannot hold its account for long. Blocks:
/// run on a blocking thread.
fn run_hook(cmd: &str, r: &Report, timeout: std::time::Duration, printer: &Printer) {
    use std::os::unix::process::CommandExt;
    let outcome = (|| -> std::io::Result<Option<std::process::ExitStatus>> {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("QRLOGIN_ACCOUNT", &r.name)
            .env("QRLOGIN_UNB", &r.unb)
            .env("QRLOGIN_OLD_STATUS", r.old.as_str())
            .env("QRLOGIN_NEW_STATUS", r.new.as_str())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(std::io::stderr()))
            .process_group(0)
            .spawn()?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status));
            }
            if std::time::Instant::now() >= deadline {
                // SAFETY: kill(2) on the process group this child leads.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    })();
    let who = crate::escape::for_terminal(&r.name);
    match outcome {
        Ok(Some(s)) if s.success() => {}
        Ok(Some(s)) => printer.warn(&format!("--on-change command exited with {s} for {who}")),
        Ok(None) => printer.warn(&format!(
            "--on-change command for {who} was still running after {} s and was killed (--on-change-timeout)",
            timeout.as_secs_f64()
        )),
        Err(e) => printer.warn(&format!("--on-change command could not run: {e}")),
    }
}
