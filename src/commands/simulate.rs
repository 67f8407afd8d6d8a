//! `qrlogin simulate`: serve the simulator until Ctrl-C, plain or (`--tls`) on the real
//! hostnames, and print the variables that point qrlogin at it.

use crate::escape::shell_word;
use crate::exit::{Code, Coded};
use crate::printer::Printer;
use crate::sim::{Scenario, Simulator, Transport};
use std::path::Path;

pub fn run(
    listen: &str,
    ca_out: Option<&Path>,
    scenario: Scenario,
    printer: &Printer,
) -> anyhow::Result<Code> {
    let rt = super::runtime()?;
    rt.block_on(async {
        let transport = match ca_out {
            Some(_) => Transport::Tls,
            None => Transport::Http,
        };
        let sim = Simulator::start_on(listen, scenario, transport)
            .await
            .map_err(|e| Coded::usage(crate::exit::message_for(&e)))?;
        if !sim.addr.ip().is_loopback() {
            printer.warn(&format!(
                "listening on {}, not loopback: anyone who can reach it can drive the simulated phone and its control API (/__sim/), which has no authentication",
                sim.addr
            ));
        }
        let url = |u: &url::Url| u.as_str().trim_end_matches('/').to_owned();
        let mut vars = vec![
            ("QRLOGIN_PASSPORT_URL", url(&sim.hosts.passport)),
            ("QRLOGIN_H5API_URL", url(&sim.hosts.h5api)),
            ("QRLOGIN_WWW_URL", url(&sim.hosts.www)),
        ];
        if let (Some(path), Some(pem)) = (ca_out, &sim.ca_pem) {
            // A certificate, not a secret: readable by others like any CA bundle.
            crate::private_file::write_with_mode(path, pem.as_bytes(), 0o644).map_err(|e| {
                Coded::usage(format!("cannot write the CA to {}: {e}", path.display()))
            })?;
            let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            vars.push(("QRLOGIN_RESOLVE", sim.resolve_entries().join(",")));
            vars.push(("QRLOGIN_CA_FILE", path.display().to_string()));
        }
        let exports: String = vars
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_word(v)))
            .collect();
        printer.data(&exports)?;
        let tls_note = match &sim.ca_pem {
            Some(_) => format!(
                " ({})\n  HTTPS on the real hostnames with a throwaway CA; for curl: --cacert \"$QRLOGIN_CA_FILE\" --resolve {}",
                sim.addr,
                sim.resolve_entries().first().map(String::as_str).unwrap_or_default()
            ),
            None => String::new(),
        };
        printer.info(&format!(
            "simulator listening on {}{tls_note}\n  phone (scan/confirm/cancel): {}\n  control API: {}__sim/state\n  point qrlogin at it: run the export lines above in your shell (or eval them); Ctrl-C stops it",
            url(&sim.base),
            sim.phone_url(),
            sim.base
        ));
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown().await;
        Ok(Code::Success)
    })
}
