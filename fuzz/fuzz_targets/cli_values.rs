//! Command-line values: durations, base URLs, proxy URLs, account names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrlogin::settings;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = settings::duration(s);
    let _ = settings::parse_base_url(s);
    let _ = settings::check_proxy(s);
    let _ = settings::check_name(s);
});
