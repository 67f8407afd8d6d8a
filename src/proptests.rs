//! Property tests for everything that reads outside input: no input may panic, and what
//! qrlogin writes it reads back unchanged.

use crate::cookies::{Cookie, SameSite, export, import};
use crate::passport::{self, Step, jar, viewdata, wire};
use crate::redacted::Secret;
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,16}"
}

fn cookie() -> impl Strategy<Value = Cookie> {
    (
        token(),
        "[A-Za-z0-9%=+/_.:-]{0,40}",
        "[a-z]{1,10}(\\.[a-z]{2,5}){1,2}",
        any::<bool>(),
        prop_oneof![Just("/".to_owned()), "/[a-z]{1,8}"],
        prop_oneof![Just(None), (1_000_000_000i64..4_000_000_000).prop_map(Some)],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some(SameSite::Lax)),
            Just(Some(SameSite::Strict)),
            Just(Some(SameSite::None))
        ],
    )
        .prop_map(
            |(name, value, domain, host_only, path, expires, secure, http_only, same_site)| {
                Cookie {
                    name,
                    value: Secret::new(value),
                    domain,
                    host_only,
                    path,
                    expires,
                    secure,
                    http_only,
                    same_site,
                }
            },
        )
}

/// Distinct (domain, host_only, path, name): what a jar or a file can hold at once.
fn cookie_set() -> impl Strategy<Value = Vec<Cookie>> {
    prop::collection::vec(cookie(), 0..12).prop_map(|mut v| {
        let mut seen = std::collections::HashSet::new();
        v.retain(|c| {
            seen.insert((
                c.domain.clone(),
                c.host_only,
                c.path.clone(),
                c.name.clone(),
            ))
        });
        v
    })
}

proptest! {
    #[test]
    fn viewdata_never_panics(s in ".{0,400}") {
        let _ = viewdata::login_form(&s);
        let _ = viewdata::login_form(&format!("window.viewData = {s}"));
    }

    #[test]
    fn viewdata_roundtrip(form in prop::collection::btree_map("[a-zA-Z_]{1,12}", prop_oneof![
            "[^\"\\\\]{0,20}".prop_map(serde_json::Value::String),
            any::<bool>().prop_map(serde_json::Value::Bool),
            (0i64..100_000).prop_map(serde_json::Value::from),
        ], 0..10), pretty in any::<bool>(), trap in any::<bool>()) {
        let mut view = serde_json::json!({"loginFormData": form.clone()});
        if trap { view["tips"] = serde_json::json!("a};b"); }
        let text = if pretty { serde_json::to_string_pretty(&view).unwrap() } else { view.to_string() };
        let html = format!("<script>window.viewConfig = {{}};\nwindow.viewData = {text};\nwindow._lang = 'zh';</script>");
        let got = viewdata::login_form(&html).unwrap();
        let want: Vec<(String, String)> = form.iter().map(|(k, v)| (k.clone(), match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        })).collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        prop_assert_eq!(got_sorted, want);
    }

    #[test]
    fn import_parsers_never_panic(s in ".{0,300}") {
        for f in [import::Format::Header, import::Format::Json, import::Format::Netscape] {
            let _ = import::parse(f, &s);
        }
    }

    #[test]
    fn json_and_netscape_exports_read_back(cookies in cookie_set()) {
        let site = url::Url::parse("https://www.goofish.com/").unwrap();
        let json = export::render(export::Format::Json, &cookies, &site, 0);
        prop_assert_eq!(import::parse_json(&json).unwrap(), cookies.clone());
        let nets = export::render(export::Format::Netscape, &cookies, &site, 0);
        let back = import::parse_netscape(&nets).unwrap();
        let without_same_site: Vec<Cookie> = cookies.iter().cloned().map(|mut c| { c.same_site = None; c }).collect();
        prop_assert_eq!(back, without_same_site);
    }

    #[test]
    fn the_jar_keeps_every_cookie(cookies in cookie_set()) {
        // Expired cookies and duplicates of a key are the jar's to drop; everything it
        // accepted comes back with every attribute.
        let back = jar::Jar::new(&cookies).export();
        for c in &back {
            prop_assert!(cookies.contains(c), "{:?} not in {:?}", c, cookies);
        }
    }

    #[test]
    fn set_cookie_headers_never_panic(header in ".{0,200}", host in "[a-z]{1,8}\\.goofish\\.com") {
        let url = url::Url::parse(&format!("https://{host}/")).unwrap();
        let jar = jar::Jar::default();
        jar.store(&header, &url, 0);
        let _ = jar.export();
        let _ = jar.header_for(&url);
    }

    #[test]
    fn envelopes_never_panic(s in ".{0,300}") {
        let _ = passport::parse_json::<wire::Envelope<wire::QueryData>>(Step::Query, &s).map(|e| e.content.and_then(|c| c.data).map(passport::classify_query));
        let _ = passport::parse_json::<wire::Envelope<wire::RenewData>>(Step::HasLogin, &s);
        let _ = passport::parse_json::<wire::Mtop<wire::PunishData>>(Step::Validate, &s).map(|m| passport::classify_ret(&m.ret, None));
        let _ = passport::parse_json::<wire::LoginSettings>(Step::LongLogin, &s);
        let _ = passport::parse_json::<wire::IvCheck>(Step::Verification, &s);
        let _ = passport::extract_htoken(&s);
        let _ = passport::extract_qr_text(&s);
    }

    #[test]
    fn envelope_shaped_json_never_panics(status in ".{0,12}", n in any::<i64>(), flag in ".{0,6}", t in prop_oneof![any::<u64>().prop_map(|n| n.to_string()), any::<f64>().prop_map(|f| f.to_string()), ".{0,8}".prop_map(|s| format!("{s:?}"))]) {
        let body = format!(r#"{{"content":{{"data":{{"qrCodeStatus":{status:?},"t":{t},"ck":"c","codeContent":"u","iframeRedirect":{flag:?}}},"status":{n},"success":true}},"hasError":false}}"#);
        if let Ok(e) = passport::parse_json::<wire::Envelope<wire::QueryData>>(Step::Query, &body) {
            let _ = e.content.and_then(|c| c.data).map(passport::classify_query);
        }
    }

    #[test]
    fn cli_values_never_panic(s in ".{0,60}") {
        let _ = crate::settings::duration(&s);
        let _ = crate::settings::parse_base_url(&s);
        let _ = crate::settings::check_proxy(&s);
        let _ = crate::settings::check_name(&s);
        let _ = crate::redacted::redact_url(&s);
    }

    #[test]
    fn qr_rendering_never_panics(s in ".{0,200}") {
        let _ = crate::qr::unicode(&s, true);
        let _ = crate::qr::ascii(&s);
    }
}
