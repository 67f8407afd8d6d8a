//! `qrlogin simulate`: serve the simulator until Ctrl-C.

use crate::exit::{Code, Coded};
use crate::printer::Printer;
use crate::sim::{Scenario, Simulator};

pub fn run(listen: &str, scenario: Scenario, printer: &Printer) -> anyhow::Result<Code> {
    let rt = super::runtime()?;
    rt.block_on(async {
        let sim = Simulator::start(listen, scenario)
            .await
            .map_err(|e| Coded::usage(crate::exit::message_for(&e)))?;
        let base = sim.base.as_str().trim_end_matches('/');
        if !sim.addr.ip().is_loopback() {
            printer.warn(&format!(
                "listening on {}, not loopback: anyone who can reach it can drive the simulated phone and its control API (/__sim/), which has no authentication",
                sim.addr
            ));
        }
        printer.data(&format!(
            "export QRLOGIN_PASSPORT_URL={base}\nexport QRLOGIN_H5API_URL={base}\nexport QRLOGIN_WWW_URL={base}\n"
        ))?;
        printer.info(&format!(
            "simulator listening on {base}\n  phone (scan/confirm/cancel): {}\n  control API: {base}/__sim/state\n  point qrlogin at it: run the three export lines above in your shell (or eval them); Ctrl-C stops it",
            sim.phone_url()
        ));
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown().await;
        Ok(Code::Success)
    })
}
