//! Resolves the command line, `QRLOGIN_*` environment variables and defaults into the
//! configuration every command runs with. This is the only module that reads the
//! environment, and the last one that sees clap types.

mod values;

pub use values::{check_name, check_proxy, duration, file_mode, parse_base_url, seconds};

use crate::cli::{self, Cli, Command};
use crate::cookies::{export, import};
use crate::exit::Coded;
use crate::redacted::{Proxy, redact_url};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The User-Agent sent on every request and as `navUserAgent` (protocol.md §8: one UA
/// everywhere, a current desktop Chrome).
pub const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/146.0.0.0 Safari/537.36";

pub use crate::passport::{
    DEFAULT_H5API_URL, DEFAULT_PASSPORT_URL, DEFAULT_WWW_URL, Endpoints, ExtraCa, Resolve,
};

/// Settings every command shares.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `--db`/`QRLOGIN_DB`: a SQLite path or a PostgreSQL URL (shown redacted).
    pub db: crate::store::Location,
    /// -1 quiet, 0 normal, 1+ verbose.
    pub verbosity: i8,
    pub endpoints: Endpoints,
    pub user_agent: String,
    /// Per-request timeout (`QRLOGIN_HTTP_TIMEOUT`, seconds).
    pub http_timeout: Duration,
    /// Where the encryption key comes from (`QRLOGIN_KEY`, …, the default key file).
    pub keys: crate::vault::KeySources,
}

#[derive(Debug, Clone)]
pub struct LoginConfig {
    pub name: Option<String>,
    /// Apply `name` to an account that is already stored under another name.
    pub rename: bool,
    /// The login loop's own options: poll interval, deadline, QR budget.
    pub flow: crate::login::flow::Options,
    pub qr: QrMode,
    pub qr_png: Option<PathBuf>,
    /// The mode the `--qr-png` file is given (0600 unless `--qr-png-mode`).
    pub qr_png_mode: u32,
    pub proxy: Option<Proxy>,
    pub json: bool,
    pub no_wait: bool,
    pub resume: Option<String>,
    /// The terminal says it shows inline images (kitty, iTerm2, WezTerm), read from its
    /// environment, so `--qr auto` never has to probe a terminal that may not answer.
    pub image_terminal: bool,
    /// `--on-qr`: a command run for every QR code shown, and how long it may take.
    pub on_qr: Option<(String, Duration)>,
    /// `--web ADDR` and `--web-grace`: the login page's address and how long it shows the
    /// outcome.
    pub web: Option<(String, Duration)>,
    /// Where temporary files go (`TMPDIR`): the PNGs handed to `--on-qr`.
    pub tmp: PathBuf,
    /// `--trace FILE`: the run's HTTP exchanges as HAR.
    pub trace: Option<PathBuf>,
}

pub use crate::qr::QrMode;

#[derive(Debug, Clone)]
pub struct RefreshConfig {
    pub opts: crate::refresh::Options,
    /// `--trace FILE`: the run's HTTP exchanges as HAR.
    pub trace: Option<PathBuf>,
    pub json: bool,
    pub on_change: Option<String>,
    /// How long an `--on-change` command may run before it is killed.
    pub on_change_timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum ImportSource {
    Cookies {
        name: String,
        /// Rename an account that is already stored under another name.
        rename: bool,
        format: import::Format,
        /// `None` for standard input.
        from: Option<PathBuf>,
    },
    XianyuAutoReply(PathBuf),
}

/// What to do, with everything resolved.
#[derive(Debug, Clone)]
pub enum Action {
    AddAccount(LoginConfig),
    Refresh(RefreshConfig),
    List {
        json: bool,
    },
    Show {
        name: String,
        json: bool,
    },
    Delete {
        names: Vec<String>,
        yes: bool,
    },
    Copy {
        to: crate::store::Location,
        replace: bool,
    },
    Export {
        name: String,
        format: export::Format,
        output: Option<PathBuf>,
    },
    Import(ImportSource),
    Key(KeyAction),
    Pending {
        json: bool,
    },
    Simulate {
        listen: String,
        /// `--tls`: where to write the throwaway CA; `None` for plain HTTP.
        ca_out: Option<PathBuf>,
        /// The simulator's own configuration, built here directly.
        scenario: crate::sim::Scenario,
    },
    Demo {
        manual: bool,
        /// add-account's configuration with its own defaults (and the demo's `--qr`).
        login: LoginConfig,
        /// `--db` or `QRLOGIN_DB` if set: never opened (the demo always uses a fresh
        /// temporary database), only named in the first line so the user knows it is safe.
        ignored_db: Option<crate::store::Location>,
        /// Where temporary files go (`TMPDIR`).
        tmp: PathBuf,
    },
    Completions(clap_complete::Shell),
    Doctor {
        env: Environment,
        /// `--trace FILE`: the network checks' exchanges as HAR.
        trace: Option<PathBuf>,
    },
}

/// What `doctor` reports about the environment.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The effective locale (`LC_ALL`, else `LC_CTYPE`, else `LANG`).
    pub locale: Option<String>,
    pub term: Option<String>,
    pub no_color: bool,
    /// Proxy variables that are set, by name.
    pub proxies: Vec<(String, String)>,
}

/// Read the process environment once and resolve.
pub fn resolve(cli: Cli) -> Result<(Globals, Action), Coded> {
    resolve_with(cli, |k| std::env::var_os(k))
}

/// Resolve with an injected environment (tests).
pub fn resolve_with(
    cli: Cli,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<(Globals, Action), Coded> {
    let vars = Vars(&env);
    let explicit_db = cli.db.clone().or_else(|| vars.path("QRLOGIN_DB"));
    let globals = globals(&cli, &vars, explicit_db.clone())?;
    let tmp = vars.path("TMPDIR").unwrap_or_else(|| PathBuf::from("/tmp"));
    let image_terminal = vars.non_empty("KITTY_WINDOW_ID").is_some()
        || vars.text("TERM").is_some_and(|t| t == "xterm-kitty")
        || vars
            .text("TERM_PROGRAM")
            .is_some_and(|t| matches!(t.as_str(), "iTerm.app" | "WezTerm"));
    let action = match cli.command {
        Command::AddAccount(a) => Action::AddAccount(login_config(a, image_terminal, tmp)?),
        Command::Refresh(a) => Action::Refresh(refresh_config(
            a,
            globals.http_timeout,
            vars.text("QRLOGIN_HOST_ID")
                .unwrap_or_else(crate::ids::hostname),
        )?),
        Command::List(a) => Action::List { json: a.json },
        Command::Show(a) => Action::Show {
            name: a.name,
            json: a.json,
        },
        Command::Delete(a) => Action::Delete {
            names: a.names,
            yes: a.yes,
        },
        Command::Export(a) => Action::Export {
            name: a.name,
            format: export_format(a.format),
            output: a.output,
        },
        Command::Import(a) => Action::Import(import_source(a)?),
        Command::Pending(a) => Action::Pending { json: a.json },
        Command::Copy(a) => Action::Copy {
            to: crate::store::Location::parse(&a.to),
            replace: a.replace,
        },
        Command::Key(k) => Action::Key(match k {
            cli::KeyCommand::Status { json } => KeyAction::Status { json },
            cli::KeyCommand::Rotate => KeyAction::Rotate,
            cli::KeyCommand::Export { output } => KeyAction::Export { output },
            cli::KeyCommand::Import { from } => KeyAction::Import { from },
        }),
        Command::Simulate(a) => Action::Simulate {
            listen: a.listen,
            ca_out: a.tls.then(|| {
                a.ca_out
                    .unwrap_or_else(|| tmp.join("qrlogin-simulator-ca.pem"))
            }),
            scenario: scenario(a.sim)?,
        },
        Command::Demo(a) => Action::Demo {
            manual: a.manual,
            login: LoginConfig {
                qr: qr_mode(a.qr),
                ..login_config(cli::AddAccountArgs::defaults(), image_terminal, tmp.clone())?
            },
            ignored_db: explicit_db.as_deref().map(crate::store::Location::parse),
            tmp,
        },
        Command::Completions(a) => Action::Completions(a.shell),
        Command::Doctor(a) => Action::Doctor {
            env: environment(&vars),
            trace: a.trace,
        },
    };
    Ok((globals, action))
}

/// `qrlogin key …`.
#[derive(Debug, Clone)]
pub enum KeyAction {
    Status { json: bool },
    Rotate,
    Export { output: Option<PathBuf> },
    Import { from: Option<PathBuf> },
}

/// The process environment as `settings` reads it: an unset and an empty variable are the
/// same (an exported empty `QRLOGIN_DB=` does not mean "the current directory").
struct Vars<'a>(&'a dyn Fn(&str) -> Option<OsString>);

impl Vars<'_> {
    fn non_empty(&self, k: &str) -> Option<OsString> {
        (self.0)(k).filter(|v| !v.is_empty())
    }
    fn text(&self, k: &str) -> Option<String> {
        self.non_empty(k).map(|v| v.to_string_lossy().into_owned())
    }
    fn path(&self, k: &str) -> Option<PathBuf> {
        self.non_empty(k).map(PathBuf::from)
    }
}

/// What every command shares: the store's path, verbosity, the hosts, the User-Agent and
/// the HTTP timeout.
fn globals(cli: &Cli, vars: &Vars<'_>, explicit_db: Option<PathBuf>) -> Result<Globals, Coded> {
    let db = match explicit_db {
        Some(p) => crate::store::Location::parse(&p),
        None => crate::store::Location::Sqlite(
            vars.path("XDG_DATA_HOME")
                .filter(|p| p.is_absolute())
                .or_else(|| vars.path("HOME").map(|h| h.join(".local/share")))
                .ok_or_else(|| {
                    Coded::usage("cannot find a data directory: set --db, QRLOGIN_DB or HOME")
                })?
                .join("qrlogin")
                .join("accounts.db"),
        ),
    };
    let url = |k: &str, default: &str| -> Result<Url, Coded> {
        let raw = vars.text(k).unwrap_or_else(|| default.to_owned());
        parse_base_url(&raw).map_err(|e| Coded::usage(format!("{k}: {e}")))
    };
    Ok(Globals {
        db,
        verbosity: if cli.quiet {
            -1
        } else {
            cli.verbose.min(3) as i8
        },
        endpoints: Endpoints {
            passport: url("QRLOGIN_PASSPORT_URL", DEFAULT_PASSPORT_URL)?,
            h5api: url("QRLOGIN_H5API_URL", DEFAULT_H5API_URL)?,
            www: url("QRLOGIN_WWW_URL", DEFAULT_WWW_URL)?,
            resolve: resolve_entries(cli, vars)?,
            extra_ca: vars
                .path("QRLOGIN_CA_FILE")
                .map(|p| ExtraCa::load(&p))
                .transpose()
                .map_err(|e| Coded::usage(format!("QRLOGIN_CA_FILE: {e}")))?,
        },
        keys: key_sources(vars),
        user_agent: match vars.text("QRLOGIN_USER_AGENT") {
            // A header value cannot hold line breaks or other controls.
            Some(ua) if ua.chars().any(char::is_control) => {
                return Err(Coded::usage(
                    "QRLOGIN_USER_AGENT holds a line break or another control character",
                ));
            }
            Some(ua) => ua,
            None => DEFAULT_USER_AGENT.to_owned(),
        },
        http_timeout: match vars.text("QRLOGIN_HTTP_TIMEOUT") {
            Some(v) => seconds(
                "QRLOGIN_HTTP_TIMEOUT",
                v.parse().map_err(|_| {
                    Coded::usage(format!(
                        "QRLOGIN_HTTP_TIMEOUT: `{v}` is not a number of seconds"
                    ))
                })?,
                0.1,
            )?,
            None => Duration::from_secs(20),
        },
    })
}

/// `host`: this host in lease owners (`QRLOGIN_HOST_ID`, else the host name).
fn refresh_config(
    a: cli::RefreshArgs,
    http_timeout: Duration,
    host: String,
) -> Result<RefreshConfig, Coded> {
    Ok(RefreshConfig {
        opts: crate::refresh::Options {
            names: a.names,
            concurrency: match a.concurrency {
                1..=1024 => a.concurrency,
                _ => return Err(Coded::usage("--concurrency must be from 1 to 1024")),
            },
            jitter: seconds("--jitter", a.jitter, 0.0)?,
            min_interval: a.min_interval.as_deref().map(duration).transpose()?,
            wait: a.wait,
            force: a.force,
            http_timeout,
            trace: None,
            host,
        },
        trace: a.trace,
        json: a.json,
        on_change: a.on_change.filter(|c| !c.trim().is_empty()),
        on_change_timeout: seconds("--on-change-timeout", a.on_change_timeout, 0.1)?,
    })
}

fn export_format(f: cli::ExportFormat) -> export::Format {
    match f {
        cli::ExportFormat::Header => export::Format::Header,
        cli::ExportFormat::Json => export::Format::Json,
        cli::ExportFormat::Netscape => export::Format::Netscape,
        cli::ExportFormat::Playwright => export::Format::Playwright,
        cli::ExportFormat::Env => export::Format::Env,
    }
}

fn import_source(a: cli::ImportArgs) -> Result<ImportSource, Coded> {
    Ok(match (a.xianyu_auto_reply_db, a.name, a.from) {
        (Some(db), _, _) => ImportSource::XianyuAutoReply(db),
        (None, Some(name), Some(from)) => ImportSource::Cookies {
            name: check_name(&name)?,
            rename: a.rename,
            format: match a.format {
                cli::ImportFormat::Header => import::Format::Header,
                cli::ImportFormat::Json => import::Format::Json,
                cli::ImportFormat::Netscape => import::Format::Netscape,
            },
            from: (from.as_os_str() != "-").then_some(from),
        },
        _ => return Err(Coded::usage("import needs NAME and --from FILE")),
    })
}

/// What `doctor` reports about the environment.
fn environment(vars: &Vars<'_>) -> Environment {
    const PROXY_VARS: [&str; 8] = [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ];
    Environment {
        locale: vars
            .text("LC_ALL")
            .or_else(|| vars.text("LC_CTYPE"))
            .or_else(|| vars.text("LANG")),
        term: vars.text("TERM"),
        no_color: vars.non_empty("NO_COLOR").is_some(),
        proxies: PROXY_VARS
            .iter()
            .filter_map(|k| vars.text(k).map(|v| (k.to_string(), v)))
            .collect(),
    }
}

/// add-account's options, checked.
fn login_config(
    a: cli::AddAccountArgs,
    image_terminal: bool,
    tmp: PathBuf,
) -> Result<LoginConfig, Coded> {
    Ok(LoginConfig {
        name: a.name.map(|n| check_name(&n)).transpose()?,
        rename: a.rename,
        flow: crate::login::flow::Options {
            poll_interval: seconds("--poll-interval", a.poll_interval, 0.05)?,
            timeout: seconds("--timeout", a.timeout, 1.0)?,
            max_qr: if a.max_qr == 0 {
                return Err(Coded::usage("--max-qr must be at least 1"));
            } else {
                a.max_qr
            },
            verify_interval: crate::login::flow::VERIFY_INTERVAL,
        },
        qr: qr_mode(a.qr),
        qr_png: a.qr_png,
        qr_png_mode: file_mode("--qr-png-mode", &a.qr_png_mode)?,
        proxy: a.proxy.map(|p| check_proxy(&p)).transpose()?,
        json: a.json,
        no_wait: a.no_wait,
        resume: a.resume,
        image_terminal,
        on_qr: match a.on_qr.filter(|c| !c.trim().is_empty()) {
            Some(cmd) => Some((cmd, seconds("--on-qr-timeout", a.on_qr_timeout, 0.1)?)),
            None => None,
        },
        web: match a.web {
            Some(addr) => Some((addr, seconds("--web-grace", a.web_grace, 0.0)?)),
            None => None,
        },
        tmp,
        trace: a.trace,
    })
}

fn qr_mode(m: cli::QrMode) -> QrMode {
    match m {
        cli::QrMode::Auto => QrMode::Auto,
        cli::QrMode::Unicode => QrMode::Unicode,
        cli::QrMode::Ascii => QrMode::Ascii,
        cli::QrMode::Image => QrMode::Image,
        cli::QrMode::None => QrMode::None,
    }
}

fn scenario(a: cli::SimulatorArgs) -> Result<crate::sim::Scenario, Coded> {
    use crate::sim::Variant;
    let ms = |flag: &str, v: Option<f64>| -> Result<Option<u64>, Coded> {
        Ok(v.map(|s| seconds(flag, s, 0.0))
            .transpose()?
            .map(|d| d.as_millis() as u64))
    };
    Ok(crate::sim::Scenario {
        variant: match a.scenario {
            cli::ConfirmVariant::Plain => Variant::Plain,
            cli::ConfirmVariant::Token => Variant::Token,
            cli::ConfirmVariant::TokenWithCookies => Variant::TokenWithCookies,
            cli::ConfirmVariant::KeepLogin => Variant::KeepLogin,
            cli::ConfirmVariant::Verify => Variant::Verify,
        },
        auto_scan_after_ms: ms("--auto-scan-after", a.auto_scan_after)?,
        auto_confirm_after_ms: ms("--auto-confirm-after", a.auto_confirm_after)?,
        latency_ms: a.latency,
        unb: if !a.unb.is_empty() && a.unb.bytes().all(|b| b.is_ascii_digit()) {
            a.unb
        } else {
            return Err(Coded::usage("--unb must be a number"));
        },
        nickname: a.nickname,
        ..crate::sim::Scenario::default()
    })
}

/// The key sources in the order `vault` tries them. The default key file lives under
/// `$XDG_CONFIG_HOME`, apart from the data directory, so a backup of the data is not a
/// backup of the key.
fn key_sources(vars: &Vars<'_>) -> crate::vault::KeySources {
    crate::vault::KeySources {
        key: vars.text("QRLOGIN_KEY").map(zeroize::Zeroizing::new),
        command: vars.text("QRLOGIN_KEY_COMMAND"),
        file: vars.path("QRLOGIN_KEY_FILE"),
        credentials_dir: vars.path("CREDENTIALS_DIRECTORY"),
        default_file: vars
            .path("XDG_CONFIG_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| vars.path("HOME").map(|h| h.join(".config")))
            .map(|c| c.join("qrlogin").join("key")),
    }
}

/// `--resolve` entries, or else `QRLOGIN_RESOLVE`'s comma-separated ones.
fn resolve_entries(cli: &Cli, vars: &Vars<'_>) -> Result<Vec<Resolve>, Coded> {
    let (from, entries): (&str, Vec<String>) = match vars.text("QRLOGIN_RESOLVE") {
        _ if !cli.resolve.is_empty() => ("--resolve", cli.resolve.clone()),
        Some(v) => (
            "QRLOGIN_RESOLVE",
            v.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        None => return Ok(Vec::new()),
    };
    entries
        .iter()
        .map(|e| Resolve::parse(e).map_err(|why| Coded::usage(format!("{from}: {why}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve_args(args: &[&str], env: &[(&str, &str)]) -> Result<(Globals, Action), Coded> {
        let cli =
            Cli::try_parse_from(std::iter::once("qrlogin").chain(args.iter().copied())).unwrap();
        let env: Vec<(String, OsString)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        resolve_with(cli, move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn db_precedence_flag_env_xdg_home() {
        let (g, _) = resolve_args(&["--db", "/x.db", "list"], &[("QRLOGIN_DB", "/y.db")]).unwrap();
        assert_eq!(g.db, crate::store::Location::Sqlite(PathBuf::from("/x.db")));
        let (g, _) = resolve_args(&["list"], &[("QRLOGIN_DB", "/y.db")]).unwrap();
        assert_eq!(g.db, crate::store::Location::Sqlite(PathBuf::from("/y.db")));
        let (g, _) = resolve_args(&["list"], &[("XDG_DATA_HOME", "/d"), ("HOME", "/h")]).unwrap();
        assert_eq!(
            g.db,
            crate::store::Location::Sqlite(PathBuf::from("/d/qrlogin/accounts.db"))
        );
        let (g, _) = resolve_args(&["list"], &[("HOME", "/h")]).unwrap();
        assert_eq!(
            g.db,
            crate::store::Location::Sqlite(PathBuf::from("/h/.local/share/qrlogin/accounts.db"))
        );
        assert!(resolve_args(&["list"], &[]).is_err());
    }

    #[test]
    fn endpoints_default_to_goofish_and_reject_junk() {
        let (g, _) = resolve_args(&["list"], &[("HOME", "/h")]).unwrap();
        assert_eq!(
            g.endpoints.passport.as_str(),
            "https://passport.goofish.com/"
        );
        let err =
            resolve_args(&["list"], &[("HOME", "/h"), ("QRLOGIN_WWW_URL", "ftp://x")]).unwrap_err();
        assert!(
            err.message.starts_with("QRLOGIN_WWW_URL:"),
            "{}",
            err.message
        );
    }

    #[test]
    fn durations_and_proxies_are_checked() {
        assert!(resolve_args(&["add-account", "--poll-interval", "0"], &[("HOME", "/h")]).is_err());
        assert!(resolve_args(&["add-account", "--timeout", "NaN"], &[("HOME", "/h")]).is_err());
        assert!(resolve_args(&["add-account", "--proxy", "ftp://p"], &[("HOME", "/h")]).is_err());
        let (_, a) = resolve_args(
            &[
                "add-account",
                "--poll-interval",
                "0.25",
                "--proxy",
                "socks5://127.0.0.1:1080",
            ],
            &[("HOME", "/h")],
        )
        .unwrap();
        let Action::AddAccount(c) = a else { panic!() };
        assert_eq!(c.flow.poll_interval, Duration::from_millis(250));
    }
}
