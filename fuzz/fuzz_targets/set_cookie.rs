//! Set-Cookie handling: arbitrary headers into the jar, and the jar out to stored cookies.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(url) = url::Url::parse("https://passport.goofish.com/newlogin/qrcode/query.do") else { return };
    let mut store = cookie_store::CookieStore::new();
    for line in s.lines() {
        let _ = store.parse(line, &url);
    }
    let cookies = qrlogin::passport::jar::export(&store);
    let _ = qrlogin::passport::jar::export(&qrlogin::passport::jar::import(&cookies));
});
