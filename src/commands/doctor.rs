//! `qrlogin doctor`: what is wrong, before anyone files a bug. One line per check with
//! ok / warn / fail and a hint. Exits 0 when nothing fails; otherwise 6 for the network or
//! the clock, 7 for the database, 2 for a bad proxy setting.

use crate::exit::Code;
use crate::printer::Printer;
use crate::settings::{Environment, Globals};
use crate::store::{Status, Store};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Ok,
    Warn,
    Fail,
}

struct Check {
    level: Level,
    area: &'static str,
    message: String,
    hint: Option<String>,
    /// The exit code when this check fails.
    code: Code,
}

fn check(
    level: Level,
    area: &'static str,
    message: impl Into<String>,
    hint: Option<&str>,
    code: Code,
) -> Check {
    Check {
        level,
        area,
        message: message.into(),
        hint: hint.map(str::to_owned),
        code,
    }
}

/// mtop signatures carry timestamps: past this skew, warn; past the second, fail.
const SKEW_WARN: i64 = 30;
const SKEW_FAIL: i64 = 300;
/// Warn when long login runs out within this many days.
const LONG_LOGIN_WARN_DAYS: i64 = 3;

pub fn run(globals: &Globals, env: &Environment, printer: &Printer) -> anyhow::Result<Code> {
    let rt = super::runtime()?;
    let mut checks = rt.block_on(network(globals));
    checks.extend(terminal(env));
    checks.extend(database(globals));
    checks.extend(proxies(globals, env));
    let mut out = String::new();
    for c in &checks {
        let level = match c.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        out.push_str(&format!("{level:<5} {:<9} {}", c.area, c.message));
        if let Some(h) = &c.hint {
            out.push_str(&format!(" (hint: {h})"));
        }
        out.push('\n');
    }
    printer.data(&out)?;
    Ok(checks
        .iter()
        .find(|c| c.level == Level::Fail)
        .map_or(Code::Success, |c| c.code))
}

/// Each configured host: resolves, connects (TLS included), answers; and the clock
/// against the first `Date` header.
async fn network(globals: &Globals) -> Vec<Check> {
    let e = &globals.endpoints;
    let mut seen = BTreeSet::new();
    let mut checks = Vec::new();
    let mut skew: Option<i64> = None;
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(globals.user_agent.clone())
        .build()
    {
        Ok(c) => c,
        Err(err) => {
            return vec![check(
                Level::Fail,
                "network",
                format!("cannot build an HTTP client: {err}"),
                None,
                Code::Network,
            )];
        }
    };
    for (role, url) in [
        ("passport", &e.passport),
        ("h5api", &e.h5api),
        ("www", &e.www),
    ] {
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        if !seen.insert((host.clone(), port, url.scheme().to_owned())) {
            checks.push(check(
                Level::Ok,
                "network",
                format!("{role}: same host as above ({host}:{port})"),
                None,
                Code::Network,
            ));
            continue;
        }
        let resolved = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map(|mut addrs| addrs.next().is_some())
            .unwrap_or(false);
        if !resolved {
            checks.push(check(
                Level::Fail,
                "network",
                format!("{role}: cannot resolve {host}"),
                Some("check DNS, or QRLOGIN_*_URL if you changed them"),
                Code::Network,
            ));
            continue;
        }
        let started = Instant::now();
        match http.get(url.clone()).send().await {
            Ok(resp) => {
                let ms = started.elapsed().as_millis();
                if skew.is_none() {
                    skew = resp
                        .headers()
                        .get(reqwest::header::DATE)
                        .and_then(|d| d.to_str().ok())
                        .and_then(|d| httpdate::parse_http_date(d).ok())
                        .map(|server| seconds_between(SystemTime::now(), server));
                }
                let tls = if url.scheme() == "https" {
                    ", TLS ok"
                } else {
                    ""
                };
                checks.push(check(
                    Level::Ok,
                    "network",
                    format!(
                        "{role}: {host}:{port} answered HTTP {} in {ms} ms{tls}",
                        resp.status().as_u16()
                    ),
                    None,
                    Code::Network,
                ));
            }
            Err(err) => {
                let why = root(&err.without_url());
                checks.push(check(
                    Level::Fail,
                    "network",
                    format!("{role}: cannot connect to {host}:{port} ({why})"),
                    Some("check the network, a firewall, or HTTPS_PROXY"),
                    Code::Network,
                ));
            }
        }
    }
    checks.push(match skew {
        None => check(
            Level::Warn,
            "clock",
            "no server Date header to compare with",
            None,
            Code::Network,
        ),
        Some(s) if s.abs() <= SKEW_WARN => check(
            Level::Ok,
            "clock",
            format!("local clock within {} s of the server's", s.abs()),
            None,
            Code::Network,
        ),
        Some(s) => check(
            if s.abs() > SKEW_FAIL {
                Level::Fail
            } else {
                Level::Warn
            },
            "clock",
            format!(
                "local clock is {} s {} the server's",
                s.abs(),
                if s > 0 { "ahead of" } else { "behind" }
            ),
            Some("mtop signatures carry timestamps: sync the clock (timedatectl set-ntp true)"),
            Code::Network,
        ),
    });
    checks
}

/// Local minus server, in seconds.
fn seconds_between(local: SystemTime, server: SystemTime) -> i64 {
    match local.duration_since(server) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

fn root(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn terminal(env: &Environment) -> Vec<Check> {
    let mut out = Vec::new();
    let tty = std::io::stderr().is_terminal();
    out.push(if tty {
        check(
            Level::Ok,
            "terminal",
            "stderr is a terminal",
            None,
            Code::Other,
        )
    } else {
        check(
            Level::Warn,
            "terminal",
            "stderr is not a terminal: the QR code is drawn without colours",
            Some("scan from a terminal, or use --qr-png FILE or the printed link"),
            Code::Other,
        )
    });
    let utf8 = env
        .locale
        .as_deref()
        .is_some_and(|l| l.to_ascii_lowercase().replace('-', "").contains("utf8"));
    out.push(if utf8 {
        check(
            Level::Ok,
            "terminal",
            format!(
                "UTF-8 locale ({})",
                env.locale.as_deref().unwrap_or_default()
            ),
            None,
            Code::Other,
        )
    } else {
        check(
            Level::Warn,
            "terminal",
            format!(
                "locale {} is not UTF-8: block characters may be mangled",
                env.locale.as_deref().unwrap_or("(unset)")
            ),
            Some("use --qr ascii, or set LANG=C.UTF-8"),
            Code::Other,
        )
    });
    let needed = qr_width();
    match terminal_columns() {
        Some(cols) if cols >= needed => out.push(check(
            Level::Ok,
            "terminal",
            format!("{cols} columns, the QR code needs {needed}"),
            None,
            Code::Other,
        )),
        Some(cols) => out.push(check(
            Level::Warn,
            "terminal",
            format!("{cols} columns, the QR code needs {needed}"),
            Some("widen the window or use --qr-png FILE"),
            Code::Other,
        )),
        None => out.push(check(
            Level::Ok,
            "terminal",
            format!("width unknown (not a terminal); the QR code needs {needed} columns"),
            None,
            Code::Other,
        )),
    }
    // Colours only matter where the QR is drawn on a terminal; the line above already
    // said it is drawn without them otherwise.
    if !tty {
        return out;
    }
    let dumb = env.term.as_deref().is_none_or(|t| t == "dumb");
    out.push(if dumb || env.no_color {
        check(
            Level::Warn,
            "terminal",
            "no colours (TERM unset or dumb, or NO_COLOR)",
            Some("the QR code is then drawn for a light background; use --qr ascii on dark ones"),
            Code::Other,
        )
    } else {
        check(
            Level::Ok,
            "terminal",
            format!("colours (TERM={})", env.term.as_deref().unwrap_or_default()),
            None,
            Code::Other,
        )
    });
    out
}

/// The width of the QR drawing for a typical login link.
fn qr_width() -> usize {
    let sample = "https://passport.goofish.com/qrcodeCheck.htm?lgToken=0123456789abcdef0123456789abcdef&tbScanOpenType=Notification";
    crate::qr::unicode(sample, false)
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.chars().count()))
        .unwrap_or(60)
}

fn terminal_columns() -> Option<usize> {
    use std::os::fd::AsRawFd;
    let fd = std::io::stderr().as_raw_fd();
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ fills a winsize we own; a non-terminal fd just returns an error.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_col > 0).then_some(ws.ws_col as usize)
}

fn database(globals: &Globals) -> Vec<Check> {
    use std::os::unix::fs::PermissionsExt;
    let path = &globals.db;
    let shown = path.display().to_string();
    let mut out = Vec::new();
    if std::fs::metadata(path).is_err() {
        out.push(check(
            Level::Ok,
            "database",
            format!("{shown} does not exist yet (created 0600 on first use)"),
            None,
            Code::Storage,
        ));
        return out;
    }
    // The WAL and shared-memory files hold cookie values too: all three are checked.
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = std::path::PathBuf::from(file);
        let Ok(m) = std::fs::metadata(&file) else {
            continue;
        };
        let shown = file.display().to_string();
        let mode = m.permissions().mode() & 0o777;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let mine = std::os::unix::fs::MetadataExt::uid(&m) == unsafe { libc::geteuid() };
        out.push(if mode & 0o077 != 0 {
            check(
                Level::Fail,
                "database",
                format!("{shown} is readable by others (mode {mode:o}): it holds login cookies"),
                Some(&format!("chmod 600 {}", crate::escape::shell_word(&shown))),
                Code::Storage,
            )
        } else if !mine {
            check(
                Level::Fail,
                "database",
                format!("{shown} belongs to another user: it holds login cookies"),
                Some("use a store of your own (--db)"),
                Code::Storage,
            )
        } else {
            check(
                Level::Ok,
                "database",
                format!("{shown} (mode {mode:o})"),
                None,
                Code::Storage,
            )
        });
    }
    if let Some(dir) = path.parent()
        && let Ok(m) = std::fs::metadata(dir)
        && m.permissions().mode() & 0o077 != 0
    {
        out.push(check(
            Level::Warn,
            "database",
            format!(
                "its directory {} is open to others (mode {:o})",
                dir.display(),
                m.permissions().mode() & 0o777
            ),
            Some(&format!("chmod 700 {}", dir.display())),
            Code::Storage,
        ));
    }
    let store = match Store::open(path) {
        Ok(s) => s,
        Err(e) => {
            out.push(check(
                Level::Fail,
                "database",
                e.to_string(),
                None,
                Code::Storage,
            ));
            return out;
        }
    };
    match store.integrity_check() {
        Ok(msg) if msg == "ok" => out.push(check(
            Level::Ok,
            "database",
            format!(
                "schema version {}, integrity ok",
                store.schema_version().unwrap_or(0)
            ),
            None,
            Code::Storage,
        )),
        Ok(msg) => out.push(check(
            Level::Fail,
            "database",
            format!("integrity check: {msg}"),
            Some("restore from a backup, or re-add the accounts"),
            Code::Storage,
        )),
        Err(e) => out.push(check(
            Level::Fail,
            "database",
            e.to_string(),
            None,
            Code::Storage,
        )),
    }
    out.extend(accounts(&store));
    out
}

/// Each account's long login and status.
fn accounts(store: &Store) -> Vec<Check> {
    let Ok(all) = store.all() else {
        return Vec::new();
    };
    let now = crate::time::now();
    all.iter()
        .map(|a| {
            let who = format!("{} ({})", crate::escape::for_terminal(&a.name), a.unb);
            let exp = crate::cookies::long_login_expiry(&a.cookies);
            match (a.status, exp) {
                (Status::Expired, _) => check(
                    Level::Warn,
                    "account",
                    format!("{who}: expired"),
                    Some(&format!(
                        "qrlogin add-account --name {}",
                        crate::escape::shell_word(&a.name)
                    )),
                    Code::Other,
                ),
                (Status::Risk, _) => check(
                    Level::Warn,
                    "account",
                    format!("{who}: blocked by risk control"),
                    Some("open 闲鱼 web in a browser and pass the check"),
                    Code::Other,
                ),
                (_, None) => check(
                    Level::Warn,
                    "account",
                    format!("{who}: no long login"),
                    Some("qrlogin refresh turns it on"),
                    Code::Other,
                ),
                (_, Some(t)) if t <= now => check(
                    Level::Warn,
                    "account",
                    format!(
                        "{who}: long login ran out at {}",
                        crate::time::display(Some(t))
                    ),
                    Some(&format!(
                        "qrlogin add-account --name {}",
                        crate::escape::shell_word(&a.name)
                    )),
                    Code::Other,
                ),
                (_, Some(t)) if t - now < LONG_LOGIN_WARN_DAYS * 86_400 => check(
                    Level::Warn,
                    "account",
                    format!(
                        "{who}: long login runs out at {}",
                        crate::time::display(Some(t))
                    ),
                    Some("qrlogin refresh renews it"),
                    Code::Other,
                ),
                (_, Some(t)) => check(
                    Level::Ok,
                    "account",
                    format!("{who}: long login until {}", crate::time::display(Some(t))),
                    None,
                    Code::Other,
                ),
            }
        })
        .collect()
}

fn proxies(globals: &Globals, env: &Environment) -> Vec<Check> {
    let mut out = Vec::new();
    for (name, value) in &env.proxies {
        let lower = name.to_ascii_lowercase();
        if lower == "no_proxy" {
            out.push(check(
                Level::Ok,
                "proxy",
                format!("{name}={value}"),
                None,
                Code::Usage,
            ));
            continue;
        }
        out.push(match crate::settings::check_proxy(value) {
            Ok(_) => check(
                Level::Ok,
                "proxy",
                format!("{name}={}", crate::redacted::redact_url(value)),
                None,
                Code::Usage,
            ),
            Err(e) => check(
                Level::Fail,
                "proxy",
                format!("{name}: {}", e.message),
                Some("unset it or fix the URL"),
                Code::Usage,
            ),
        });
    }
    if let Ok(Some(store)) = Store::open_existing(&globals.db)
        && let Ok(list) = store.all()
    {
        for a in list.iter().filter(|a| a.proxy.is_some()) {
            let p = a.proxy.as_deref().unwrap_or_default();
            if let Err(e) = crate::settings::check_proxy(p) {
                out.push(check(
                    Level::Fail,
                    "proxy",
                    format!(
                        "account {}: {}",
                        crate::escape::for_terminal(&a.name),
                        e.message
                    ),
                    None,
                    Code::Usage,
                ));
            } else {
                out.push(check(
                    Level::Ok,
                    "proxy",
                    format!(
                        "account {} uses {}",
                        crate::escape::for_terminal(&a.name),
                        crate::redacted::redact_url(p)
                    ),
                    None,
                    Code::Usage,
                ));
            }
        }
    }
    if out.is_empty() {
        out.push(check(
            Level::Ok,
            "proxy",
            "no proxy configured",
            None,
            Code::Usage,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_sign() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(seconds_between(t, t - Duration::from_secs(40)), 40);
        assert_eq!(seconds_between(t, t + Duration::from_secs(40)), -40);
    }
}
