//! Set-Cookie handling: arbitrary headers into the jar, the Cookie header out of it, and the
//! jar out to stored cookies and back into a jar.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrlogin::passport::jar::Jar;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(url) = url::Url::parse("https://passport.goofish.com/newlogin/qrcode/query.do") else { return };
    let jar = Jar::default();
    for line in s.lines() {
        jar.store(line, &url, 1_760_000_000);
    }
    let _ = jar.header_for(&url);
    let cookies = jar.export();
    let _ = Jar::new(&cookies).export();
});
