//! Cookie import: header, JSON and Netscape text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrlogin::cookies::import;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for f in [import::Format::Header, import::Format::Json, import::Format::Netscape] {
        let _ = import::parse(f, s);
    }
});
