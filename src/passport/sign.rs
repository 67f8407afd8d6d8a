//! The mtop request signature (protocol.md §2.3):
//! `lowercase_hex(md5(token & t & appKey & data))`, where `token` is the part of the
//! `_m_h5_tk` cookie before its first `_` and `data` is the exact JSON text sent.

use md5::{Digest, Md5};

/// The h5 app key every Goofish web client uses.
pub const APP_KEY: &str = "34839810";

pub fn sign(token: &str, t: &str, app_key: &str, data: &str) -> String {
    let digest = Md5::digest(format!("{token}&{t}&{app_key}&{data}").as_bytes());
    // md-5 0.11 digests do not implement LowerHex; format the bytes ourselves.
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token part of an `_m_h5_tk` cookie value (`<32 hex>_<expiry ms>`).
pub fn token_of(m_h5_tk: &str) -> &str {
    m_h5_tk.split('_').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector() {
        // python3 -c "import hashlib;print(hashlib.md5(b'7527ebe5e12434aaa09cceae16acbefc&1755153834314&34839810&{\"bizScene\":\"home\"}').hexdigest())"
        assert_eq!(
            sign(
                "7527ebe5e12434aaa09cceae16acbefc",
                "1755153834314",
                APP_KEY,
                r#"{"bizScene":"home"}"#
            ),
            "a6b83d2f43c443caa499b7d0c9b45042"
        );
        assert_eq!(sign("", "1", APP_KEY, "{}").len(), 32);
        assert_eq!(token_of("abc_123"), "abc");
        assert_eq!(token_of(""), "");
    }
}
