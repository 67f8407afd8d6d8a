//! Random identifiers: pending-login ids, lease owners, temporary names, and the
//! simulator's tokens. A leaf: production code and the simulator both draw from here, so
//! neither depends on the other for it.

use rand::Rng;

/// `n` random lowercase hex digits.
pub fn random_hex(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// This machine's host name (`localhost` when it has none): for URLs shown to people and
/// for the host part of a refresh lease's owner.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // (or truncates, which the search for NUL below tolerates).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(h) if rc == 0 && !h.is_empty() => h.to_owned(),
        _ => "localhost".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_of_the_asked_length() {
        let h = super::random_hex(12);
        assert_eq!(h.len(), 12);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
