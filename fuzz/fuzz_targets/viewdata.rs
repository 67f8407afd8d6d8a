//! `window.viewData` extraction from arbitrary mini_login.htm bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = qrlogin::passport::viewdata::login_form(s);
    }
});
