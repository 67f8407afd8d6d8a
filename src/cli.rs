//! The command line, as clap types and nothing else. `settings` turns these into the
//! configuration the rest of the program sees; no code below `settings` uses clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "qrlogin",
    version,
    about = "Log into Goofish (闲鱼) by QR code and keep each account's cookies in SQLite",
    after_help = "Exit codes: 0 ok, 2 usage, 3 QR expired, 4 cancelled, 5 verification required, \
                  6 network/service, 7 storage, 8 account not found, 10 needs new login, \
                  11 risk control, 130 interrupted."
)]
pub struct Cli {
    /// The account database [env: QRLOGIN_DB] [default: $XDG_DATA_HOME/qrlogin/accounts.db]
    #[arg(long, global = true, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// More detail on stderr (repeat for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Send HOST to ADDR instead of what DNS says, as curl's --resolve (repeatable)
    /// [env: QRLOGIN_RESOLVE, comma-separated]
    #[arg(long, global = true, value_name = "HOST:PORT:ADDR")]
    pub resolve: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in a Goofish account by scanning a QR code with the 闲鱼 app, and store it
    AddAccount(AddAccountArgs),
    /// Renew and validate stored accounts (for cron)
    Refresh(RefreshArgs),
    /// List stored accounts (never cookie values)
    List(ListArgs),
    /// Show one account in detail, with its cookies' attributes but not their values
    Show(ShowArgs),
    /// Delete accounts and all their cookies
    Delete(DeleteArgs),
    /// Print or write an account's cookies for another tool (the only command that shows them)
    Export(ExportArgs),
    /// Import cookies from a browser or another tool
    Import(ImportArgs),
    /// List logins started with `add-account --no-wait` (expired ones are removed)
    Pending(PendingArgs),
    /// Copy every account, cookie and pending login into another store (SQLite or PostgreSQL)
    Copy(CopyArgs),
    /// Check the network, clock, terminal, database, key and accounts, with hints
    Doctor(DoctorArgs),
    /// The encryption key of stored cookies: status, rotate, export, import
    #[command(subcommand)]
    Key(KeyCommand),
    /// Run the built-in Goofish passport simulator on loopback
    Simulate(SimulateArgs),
    /// The whole QR login offline, against the built-in simulator
    Demo(DemoArgs),
    /// Print shell completions
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Accounts to refresh (names or unbs) [default: all]
    pub names: Vec<String>,
    /// Skip accounts refreshed more recently than this (e.g. 10m, 1h)
    #[arg(long, value_name = "DURATION")]
    pub min_interval: Option<String>,
    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
    /// Wait for accounts another run is refreshing instead of skipping them
    #[arg(long)]
    pub wait: bool,
    /// Ignore cooldowns and --min-interval
    #[arg(long)]
    pub force: bool,
    /// Accounts refreshed at once
    #[arg(long, value_name = "N", default_value = "4")]
    pub concurrency: usize,
    /// Up to this many seconds of random pause before each account
    #[arg(long, value_name = "SECONDS", default_value = "1")]
    pub jitter: f64,
    /// Write every HTTP exchange of this run to FILE as HAR 1.2 (cookie values and tokens
    /// redacted), for a bug report
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Run CMD (with sh -c) once per status change of an account
    #[arg(long, value_name = "CMD")]
    pub on_change: Option<String>,
    /// Seconds an --on-change command may run before it is killed
    #[arg(long, value_name = "SECONDS", default_value = "30")]
    pub on_change_timeout: f64,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Which key source is in use, its id, and how many values are under each key id
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Make a new key current and re-encrypt every value with it, account by account
    Rotate,
    /// Print the key file (current and retired keys) to move it to another host
    Export {
        /// Write to FILE (mode 0600) instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Install a key from `qrlogin key export` as the current key (earlier keys are kept)
    Import {
        /// Read from FILE (`-` for stdin) [default: stdin]
        #[arg(long, value_name = "FILE")]
        from: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct PendingArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Account name or unb
    pub name: String,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Account names or unbs
    #[arg(required = true)]
    pub names: Vec<String>,
    /// Do not ask for confirmation (required without a terminal)
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The destination: a SQLite path or a postgres:// URL (created or migrated as needed)
    #[arg(long, value_name = "DEST")]
    pub to: std::path::PathBuf,
    /// Overwrite accounts the destination already holds (same unb) instead of refusing
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// The Cookie header value a browser sends to www.goofish.com
    Header,
    /// A JSON array of cookies with all attributes
    Json,
    /// cookies.txt for curl -b, wget and yt-dlp
    Netscape,
    /// A Playwright storageState
    Playwright,
    /// COOKIES_STR='…' for Python Goofish bots
    Env,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Account name or unb
    pub name: String,
    #[arg(long, short, value_enum, default_value = "header")]
    pub format: ExportFormat,
    /// Write to FILE (created 0600) instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    /// name=value; name=value (a Cookie header)
    Header,
    /// A JSON array of cookies (qrlogin, Playwright, browser extensions)
    Json,
    /// cookies.txt
    Netscape,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The name to store the account under
    #[arg(
        required_unless_present = "xianyu_auto_reply_db",
        conflicts_with = "xianyu_auto_reply_db"
    )]
    pub name: Option<String>,
    #[arg(long, short, value_enum, default_value = "header")]
    pub format: ImportFormat,
    /// Read cookies from FILE, or - for standard input
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "xianyu_auto_reply_db"
    )]
    pub from: Option<PathBuf>,
    /// Import every account from a xianyu-auto-reply SQLite database
    #[arg(long, value_name = "PATH")]
    pub xianyu_auto_reply_db: Option<PathBuf>,
    /// Rename an account that is already stored (same unb) to NAME; without it the
    /// account keeps its stored name
    #[arg(long)]
    pub rename: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum QrMode {
    /// An image on terminals that can show one, else unicode blocks
    Auto,
    Unicode,
    Ascii,
    Image,
    None,
}

#[derive(Debug, Args)]
pub struct AddAccountArgs {
    /// Store the account under this name [default: the Goofish nickname]. An account
    /// already stored keeps its name unless --rename is given too
    #[arg(long)]
    pub name: Option<String>,
    /// Rename an account that is already stored to --name
    #[arg(long, requires = "name")]
    pub rename: bool,
    /// Seconds between status polls (fractional allowed)
    #[arg(long, value_name = "SECONDS", default_value = "0.8")]
    pub poll_interval: f64,
    /// Seconds to wait for the scan and confirmation in all
    #[arg(long, value_name = "SECONDS", default_value = "300")]
    pub timeout: f64,
    /// How many QR codes to show before giving up when they expire
    #[arg(long, value_name = "N", default_value = "3")]
    pub max_qr: u32,
    /// How to draw the QR code on stderr
    #[arg(long, value_enum, default_value = "auto")]
    pub qr: QrMode,
    /// Also write the QR code as a PNG image, rewritten (atomically) for every new QR code,
    /// the verification QR included, also by a later --resume
    #[arg(long, value_name = "PATH")]
    pub qr_png: Option<PathBuf>,
    /// File mode of the --qr-png image, in octal (e.g. 644 for a web server to serve it; it
    /// holds a login invitation, never a credential)
    #[arg(long, value_name = "OCTAL", default_value = "600", requires = "qr_png")]
    pub qr_png_mode: String,
    /// Write every HTTP exchange of this login to FILE as HAR 1.2 (cookie values and tokens
    /// redacted), for a bug report
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Run CMD (with sh -c) for every QR code shown, with QRLOGIN_QR_TEXT, QRLOGIN_QR_PNG,
    /// QRLOGIN_QR_KIND (login or verification), QRLOGIN_QR_EXPIRES_AT, QRLOGIN_ACCOUNT and,
    /// with --web, QRLOGIN_WEB_URL
    #[arg(long, value_name = "CMD")]
    pub on_qr: Option<String>,
    /// Seconds an --on-qr command may run before it is killed
    #[arg(long, value_name = "SECONDS", default_value = "30")]
    pub on_qr_timeout: f64,
    /// Serve a page showing the QR code and the login's progress, for whoever holds the
    /// phone, at a secret URL printed on stderr [default ADDR: 127.0.0.1:0]
    #[arg(
        long,
        value_name = "ADDR",
        num_args = 0..=1,
        default_missing_value = "127.0.0.1:0",
        conflicts_with = "no_wait"
    )]
    pub web: Option<String>,
    /// Seconds the --web page keeps showing how the login ended before the server stops
    #[arg(long, value_name = "SECONDS", default_value = "60", requires = "web")]
    pub web_grace: f64,
    /// Log in through this proxy (http, https or socks5 URL); saved with the account
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Newline-delimited JSON events on stdout
    #[arg(long)]
    pub json: bool,
    /// Show the QR, save the pending login, print its id and exit; finish with --resume
    #[arg(long, conflicts_with = "resume")]
    pub no_wait: bool,
    /// Finish a login started with --no-wait (in any later process)
    #[arg(long, value_name = "ID")]
    pub resume: Option<String>,
}

impl AddAccountArgs {
    /// add-account with no arguments: clap's defaults, the one place they are written.
    pub fn defaults() -> AddAccountArgs {
        #[derive(Parser)]
        struct Bare {
            #[command(flatten)]
            args: AddAccountArgs,
        }
        // INVARIANT: an empty command line is valid for add-account (every option has a
        // default or is optional); the unit test `add_account_defaults_parse` checks it.
        Bare::try_parse_from(["add-account"])
            .map(|b| b.args)
            .expect("add-account parses with no arguments")
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ConfirmVariant {
    /// Login cookies on the CONFIRMED response itself
    Plain,
    /// A token redeemed at login_token/login.do
    Token,
    /// A token and the login cookies on the same answer
    TokenWithCookies,
    /// A keep-login dialog confirmed at its URL
    KeepLogin,
    /// Identity verification required (iframeRedirect)
    Verify,
}

#[derive(Debug, Args)]
pub struct SimulatorArgs {
    /// Which CONFIRMED variant the phone produces
    #[arg(long, value_enum, default_value = "plain")]
    pub scenario: ConfirmVariant,
    /// The phone scans by itself this many seconds after the QR is generated
    #[arg(long, value_name = "SECONDS")]
    pub auto_scan_after: Option<f64>,
    /// The phone confirms by itself this many seconds after scanning
    #[arg(long, value_name = "SECONDS")]
    pub auto_confirm_after: Option<f64>,
    /// Milliseconds added to every response
    #[arg(long, value_name = "MS", default_value = "0")]
    pub latency: u64,
    /// The unb the phone logs in as
    #[arg(long, default_value = "2219000000001")]
    pub unb: String,
    /// The nickname the phone logs in as
    #[arg(long, default_value = "xy_demo_user")]
    pub nickname: String,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Serve HTTPS on the real hostnames (passport.goofish.com, …) with a throwaway CA
    #[arg(long)]
    pub tls: bool,
    /// With --tls, where to write the CA certificate [default: $TMPDIR/qrlogin-simulator-ca.pem]
    #[arg(long, value_name = "PATH", requires = "tls")]
    pub ca_out: Option<PathBuf>,
    /// Shadows the global --db in this command's help: the simulator uses no database.
    #[arg(long, hide = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub sim: SimulatorArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Do not scan and confirm automatically: press the buttons in a browser
    #[arg(long)]
    pub manual: bool,
    /// How to draw the QR code
    #[arg(long, value_enum, default_value = "auto")]
    pub qr: QrMode,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Write the network checks' HTTP exchanges to FILE as HAR 1.2 (redacted)
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    pub shell: clap_complete::Shell,
    /// Shadows the global --db in this command's help: completions use no database.
    #[arg(long, hide = true, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn add_account_defaults_parse() {
        let d = super::AddAccountArgs::defaults();
        assert_eq!((d.poll_interval, d.timeout, d.max_qr), (0.8, 300.0, 3));
    }
}
