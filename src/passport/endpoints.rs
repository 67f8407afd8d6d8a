//! Where the client sends each request: the three Goofish hosts and their defaults.
//! Owned by the passport client (it is the only code that talks to them); `settings`
//! reads the `QRLOGIN_*_URL` overrides into this type, and the simulator serves all three
//! on one base URL.

use url::Url;

pub const DEFAULT_PASSPORT_URL: &str = "https://passport.goofish.com";
pub const DEFAULT_H5API_URL: &str = "https://h5api.m.goofish.com";
pub const DEFAULT_WWW_URL: &str = "https://www.goofish.com";

/// The three Goofish hosts a client talks to. The simulator serves all three on one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub passport: Url,
    pub h5api: Url,
    pub www: Url,
}

impl Endpoints {
    pub fn all_at(base: &Url) -> Endpoints {
        Endpoints {
            passport: base.clone(),
            h5api: base.clone(),
            www: base.clone(),
        }
    }
}
