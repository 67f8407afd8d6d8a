//! `qrlogin demo`: the whole login offline. Starts the simulator in this process, runs
//! add-account against it (the phone scans and confirms by itself unless `--manual`) with
//! a temporary database or `--db`, and shows the stored account.

use super::add_account::add_account;
use crate::exit::Code;
use crate::printer::Printer;
use crate::settings::{Endpoints, Globals, LoginConfig, QrMode};
use crate::sim::{Scenario, Simulator};
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn run(
    globals: &Globals,
    db: Option<PathBuf>,
    tmp_root: &Path,
    manual: bool,
    (qr, image_terminal): (QrMode, bool),
    printer: &Printer,
) -> anyhow::Result<Code> {
    let tmp = tempdir(tmp_root)?;
    let db = db.unwrap_or_else(|| tmp.join("accounts.db"));
    let rt = super::runtime()?;
    let result = rt.block_on(async {
        let scenario = Scenario {
            auto_scan_after_ms: (!manual).then_some(2_000),
            auto_confirm_after_ms: (!manual).then_some(1_500),
            ..Scenario::default()
        };
        let sim = Simulator::start("127.0.0.1:0", scenario).await?;
        printer.info(&format!(
            "demo: simulator on {}, database {}",
            sim.base,
            db.display()
        ));
        if manual {
            printer.info(&format!(
                "demo: open {} in a browser and press Scan, then Confirm",
                sim.phone_url()
            ));
        } else {
            printer.info("demo: the simulated phone scans in 2 s and confirms 1.5 s later");
        }
        let demo_globals = Globals {
            db: db.clone(),
            endpoints: Endpoints::all_at(&sim.base),
            ..globals.clone()
        };
        let store = Store::open(&db)?;
        let cfg = LoginConfig {
            name: None,
            poll_interval: Duration::from_millis(800),
            timeout: Duration::from_secs(if manual { 300 } else { 60 }),
            max_qr: 3,
            qr,
            qr_png: None,
            proxy: None,
            json: false,
            no_wait: false,
            resume: None,
            image_terminal,
        };
        let code = add_account(&demo_globals, &store, &cfg, printer).await;
        sim.shutdown().await;
        code.map(|c| (c, store))
    });
    let (code, store) = result?;
    let name = store.list()?.into_iter().next().map(|a| a.name);
    if let Some(name) = name {
        super::show::run(&store, &name, false, printer)?;
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(code)
}

/// A private temporary directory (0700) for the demo database.
fn tempdir(root: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = root.join(format!(
        "qrlogin-demo-{}-{}",
        std::process::id(),
        crate::sim::random_hex(8)
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}
