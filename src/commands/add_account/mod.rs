//! `qrlogin add-account`: run the QR login and save the account. What the person sees
//! (QR, spinner or plain lines, `--json` events) is decided here; the login itself is in
//! `login::flow`.

mod hook;
mod rescue;
mod ui;
mod web;

use crate::cookies;
use crate::exit::{Code, code_for, message_for};
use crate::login::LoginError;
use crate::login::flow::{self, Ui};
use crate::passport::{PassportClient, QrCode};
use crate::printer::Printer;
use crate::redacted::Proxy;
use crate::settings::{Globals, LoginConfig};
use crate::store::{NewAccount, PendingLogin, Saved, Status, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use ui::{Event, TermUi};

pub fn run(globals: &Globals, cfg: &LoginConfig, printer: &Printer) -> anyhow::Result<Code> {
    let mut store = super::open(globals)?;
    super::key::unlock(globals, &mut store, super::key::Need::Write, printer)?;
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
    let web = match &cfg.web {
        Some((addr, grace)) => Some(start_web(addr, *grace, cfg, printer).await?),
        None => None,
    };
    let mut ui = TermUi::new(printer, cfg, web);
    if let Some(w) = &ui.web {
        ui.event(Event::Web { url: &w.url });
    }
    let result = tokio::select! {
        r = login(globals, store, cfg, &mut ui) => r,
        _ = tokio::signal::ctrl_c() => Err(LoginError::Interrupted.into()),
    };
    ui.clear();
    if let Some(w) = ui.web.take() {
        if let Err(e) = &result {
            let state = match e.downcast_ref::<LoginError>() {
                Some(LoginError::Expired { .. } | LoginError::TimedOut { .. }) => "expired",
                Some(LoginError::Cancelled) => "cancelled",
                _ if e.downcast_ref::<rescue::Kept>().is_some() => "unsaved",
                _ => "failed",
            };
            w.failed(state, &message_for(e));
        }
        // The page shows the outcome for the grace period; Ctrl-C cuts it short.
        tokio::select! {
            _ = w.finish() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    let interrupted = matches!(
        result
            .as_ref()
            .err()
            .and_then(|e| e.downcast_ref::<LoginError>()),
        Some(LoginError::Interrupted)
    );
    tokio::task::block_in_place(|| ui.finish_hooks(!interrupted));
    if let (Some(trace), Some(path)) = (&ui.trace, &cfg.trace) {
        super::write_trace(trace, path, printer);
    }
    if let Err(e) = &result
        && cfg.json
    {
        // The error itself is what the caller reports; a stdout that also fails adds nothing.
        let _ = printer.data_line(
            &Event::Error {
                code: code_for(e).as_i32(),
                message: message_for(e),
            }
            .to_line(),
        );
    }
    result
}

/// Serve `--web`'s page and say where it is.
async fn start_web(
    addr: &str,
    grace: Duration,
    cfg: &LoginConfig,
    printer: &Printer,
) -> anyhow::Result<web::Web> {
    let (w, bound) = web::Web::start(addr, grace, cfg.name.as_deref())
        .await
        .map_err(crate::exit::Coded::usage)?;
    if !bound.ip().is_loopback() {
        printer.warn(&format!(
            "the login page listens on {bound}, not loopback: anyone who has the link can see the QR code and log in with it"
        ));
    }
    printer.info(&format!(
        "login page for the phone holder (valid for this login only): {}",
        w.url
    ));
    Ok(w)
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
        return resume(store, cfg, pending?, globals, ui).await;
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
        ui.trace.clone(),
    )?);
    let opts = cfg.flow;
    if !cfg.no_wait {
        let cookies = flow::login(client.clone(), opts, ui).await?;
        return save(globals, store, cfg, cfg.name.clone(), &client, cookies, ui);
    }
    // --no-wait: show the QR, keep everything needed to finish it, print the id.
    let (h5, started) = tokio::join!(client.bootstrap_h5_token(), flow::start(&client, &opts, ui));
    if let Err(e) = h5 {
        ui.detail(&e.to_string());
    }
    let started = started?;
    let id = crate::ids::random_hex(12);
    let expires = now + flow::QR_LIFETIME.min(cfg.flow.timeout).as_secs() as i64;
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
        ui.event(Event::Pending {
            id: &id,
            expires_at: crate::time::display(Some(expires)),
        });
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
    globals: &Globals,
    ui: &mut TermUi<'_>,
) -> anyhow::Result<Code> {
    let id = p.id.as_str();
    let http_timeout = globals.http_timeout;
    // The hosts the login started with; how to reach them is this run's (--resolve, CA).
    let endpoints = crate::settings::Endpoints {
        passport: p.passport_url.clone(),
        h5api: p.h5api_url.clone(),
        www: p.www_url.clone(),
        ..globals.endpoints.clone()
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
        ui.trace.clone(),
    )?;
    let qr = QrCode {
        t: p.t,
        ck: p.ck.clone(),
        content: p.qr_content.clone(),
    };
    if ui.qr_png.is_none() {
        ui.qr_png = p.qr_png.clone().map(|path| (path, p.qr_png_mode));
    }
    let opts = cfg.flow;
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
                globals,
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
    globals: &Globals,
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
    let (account, saved) = match store.save(&new, crate::time::now()) {
        Ok(saved) => saved,
        Err(e) => {
            return Err(rescue::rescue(
                globals,
                new.name.as_deref(),
                &new.unb,
                &new.cookies,
                e,
            ));
        }
    };
    ui.event(Event::Saved {
        name: &account.name,
        unb: &account.unb,
        cookies: account.cookies.len(),
        new: saved == Saved::Created,
        renamed_from: match &saved {
            Saved::Renamed { from } => Some(from),
            _ => None,
        },
    });
    if let Some(w) = &ui.web {
        w.saved(&account.name, &account.unb);
    }
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
