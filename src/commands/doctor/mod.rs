//! `qrlogin doctor`: what is wrong, before anyone files a bug. One line per check with
//! ok / warn / fail and a hint. Exits 0 when nothing fails; otherwise 6 for the network or
//! the clock, 7 for the database or the key, 2 for a bad proxy setting.

mod database;
mod key;
mod network;
mod proxies;
mod terminal;

use database::*;
use key::*;
use network::*;
use proxies::*;
use terminal::*;

use crate::exit::Code;
use crate::printer::Printer;
use crate::settings::{Environment, Globals};
use crate::store::{Status, Store};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Level {
    Ok,
    Warn,
    Fail,
}

pub(super) struct Check {
    level: Level,
    area: &'static str,
    message: String,
    hint: Option<String>,
    /// The exit code when this check fails.
    code: Code,
}

pub(super) fn check(
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

pub fn run(
    globals: &Globals,
    env: &Environment,
    trace_file: Option<&std::path::Path>,
    printer: &Printer,
) -> anyhow::Result<Code> {
    let rt = super::runtime()?;
    let trace = trace_file.map(|_| crate::passport::Trace::new());
    let mut checks = rt.block_on(network(globals, trace.as_ref()));
    if let (Some(t), Some(path)) = (&trace, trace_file) {
        super::write_trace(t, path, printer);
    }
    checks.extend(terminal(env));
    checks.extend(database(globals));
    checks.extend(key(globals));
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
