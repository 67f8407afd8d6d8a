//! The xianyu-auto-reply database importer, on arbitrary file bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrlogin::cookies::import;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("x.db");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok(rows) = import::read_xianyu_auto_reply(&path) {
        for (_, value) in rows {
            let _ = import::parse(import::Format::Header, &value);
        }
    }
});
