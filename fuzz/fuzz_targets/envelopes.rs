//! Passport and mtop envelopes, and the verification pages, from arbitrary bodies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qrlogin::passport::{self, Step, wire};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(e) = passport::parse_json::<wire::Envelope<wire::QueryData>>(Step::Query, s) {
        let _ = e.content.and_then(|c| c.data).map(passport::classify_query);
    }
    let _ = passport::parse_json::<wire::Envelope<wire::RenewData>>(Step::HasLogin, s);
    let _ = passport::parse_json::<wire::Envelope<wire::GenerateData>>(Step::Generate, s);
    if let Ok(m) = passport::parse_json::<wire::Mtop<wire::PunishData>>(Step::Validate, s) {
        let _ = passport::classify_ret(&m.ret, m.data.and_then(|d| d.url));
    }
    let _ = passport::parse_json::<wire::LoginSettings>(Step::LongLogin, s);
    let _ = passport::parse_json::<wire::IvCheck>(Step::Verification, s);
    let _ = passport::extract_htoken(s);
    let _ = passport::extract_qr_text(s);
    let _ = passport::normalise_url(s);
});
