//! `qrlogin simulate`: serve the simulator until Ctrl-C.

use crate::exit::Code;
use crate::printer::Printer;
use crate::settings::SimConfig;
use crate::sim::{Scenario, Simulator};

pub fn scenario(cfg: &SimConfig) -> Scenario {
    Scenario {
        variant: cfg.variant,
        auto_scan_after_ms: cfg.auto_scan_after.map(|d| d.as_millis() as u64),
        auto_confirm_after_ms: cfg.auto_confirm_after.map(|d| d.as_millis() as u64),
        latency_ms: cfg.latency.as_millis() as u64,
        unb: cfg.unb.clone(),
        nickname: cfg.nickname.clone(),
        ..Scenario::default()
    }
}

pub fn run(listen: &str, cfg: SimConfig, printer: &Printer) -> anyhow::Result<Code> {
    let rt = super::runtime()?;
    rt.block_on(async {
        let sim = Simulator::start(listen, scenario(&cfg)).await?;
        let base = sim.base.as_str().trim_end_matches('/');
        printer.data(&format!(
            "QRLOGIN_PASSPORT_URL={base}\nQRLOGIN_H5API_URL={base}\nQRLOGIN_WWW_URL={base}\n"
        ));
        printer.info(&format!(
            "simulator listening on {base}\n  phone (scan/confirm/cancel): {}\n  control API: {base}/__sim/state\n  point qrlogin at it: export the three lines above; Ctrl-C stops it",
            sim.phone_url()
        ));
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown().await;
        Ok(Code::Success)
    })
}
