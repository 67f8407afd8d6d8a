//! `qrlogin demo`: the whole login offline. Starts the simulator in this process, runs
//! add-account against it (the phone scans and confirms by itself unless `--manual`) with
//! a fresh temporary database, and shows the account it saved.
//!
//! The demo never opens a store it did not create: `--db`/`QRLOGIN_DB` may name an
//! operator's real store, and the simulator's account would overwrite a real account with
//! the same unb.

use super::add_account::add_account;
use crate::exit::Code;
use crate::printer::Printer;
use crate::settings::{Endpoints, Globals, LoginConfig};
use crate::sim::{Scenario, Simulator};
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn run(
    globals: &Globals,
    ignored_db: Option<&crate::store::Location>,
    tmp_root: &Path,
    manual: bool,
    login: LoginConfig,
    printer: &Printer,
) -> anyhow::Result<Code> {
    let tmp = tempdir(tmp_root)?;
    let db = tmp.join("accounts.db");
    printer.info(&match ignored_db {
        Some(own) => format!(
            "demo: using a fresh temporary database {} (your store {} is not touched)",
            db.display(),
            own
        ),
        None => format!("demo: using a fresh temporary database {}", db.display()),
    });
    let result = demo(globals, &db, manual, login, printer);
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn demo(
    globals: &Globals,
    db: &Path,
    manual: bool,
    login: LoginConfig,
    printer: &Printer,
) -> anyhow::Result<Code> {
    let rt = super::runtime()?;
    let scenario = Scenario {
        auto_scan_after_ms: (!manual).then_some(2_000),
        auto_confirm_after_ms: (!manual).then_some(1_500),
        ..Scenario::default()
    };
    let unb = scenario.unb.clone();
    let mut store = Store::open(&crate::store::Location::Sqlite(db.to_owned()))?;
    // The demo's store is thrown away: so is its key, which never touches the user's.
    store.attach_keys(crate::vault::Keyring::ephemeral(), true)?;
    let code = rt.block_on(async {
        let sim = Simulator::start("127.0.0.1:0", scenario).await?;
        printer.info(&format!("demo: simulator on {}", sim.base));
        if manual {
            printer.info(&format!(
                "demo: open {} in a browser and press Scan, then Confirm",
                sim.phone_url()
            ));
        } else {
            printer.info("demo: the simulated phone scans in 2 s and confirms 1.5 s later");
        }
        let demo_globals = Globals {
            db: crate::store::Location::Sqlite(db.to_owned()),
            endpoints: Endpoints::all_at(&sim.base),
            ..globals.clone()
        };
        // An automatic phone confirms within seconds: a minute is plenty.
        let mut cfg = login;
        if !manual {
            cfg.flow.timeout = Duration::from_secs(60);
        }
        let code = add_account(&demo_globals, &store, &cfg, printer).await;
        sim.shutdown().await;
        code
    })?;
    // The account the simulated phone logged in as: the one this demo just saved.
    if store.find(&unb)?.is_some() {
        super::show::run(&store, &unb, false, printer)?;
    }
    Ok(code)
}

/// A private temporary directory (0700) for the demo database.
fn tempdir(root: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = root.join(format!(
        "qrlogin-demo-{}-{}",
        std::process::id(),
        crate::ids::random_hex(8)
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}
