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

#[cfg(test)]
mod tests {
    #[test]
    fn hex_of_the_asked_length() {
        let h = super::random_hex(12);
        assert_eq!(h.len(), 12);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
