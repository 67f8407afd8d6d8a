//! Making outside text safe to show: server-provided names on a terminal, and names in
//! the command lines qrlogin suggests. A leaf module: it knows nothing of the rest.
//!
//! Why: a nickname comes from the server and an imported name from a file; printed raw,
//! an escape sequence rewrites the operator's terminal, and a suggested command line with
//! `$(…)` in it runs code when pasted.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` would change what a terminal shows beyond its own glyph: C0/C1 controls,
/// DEL, bidirectional overrides and isolates, zero-width characters and the BOM.
pub fn is_invisible_or_control(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `s` with every control or invisible character written as `\u{XXXX}`: safe to print.
pub fn for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_invisible_or_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_invisible_or_control(c) {
            let _ = write!(out, "\\u{{{:04X}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `s` as one word for `sh`: as is when it holds only harmless characters, otherwise in
/// single quotes (with `'` written `'\''`).
pub fn shell_word(s: &str) -> Cow<'_, str> {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || "_-./:@%+=,".contains(c))
        && !s.chars().any(is_invisible_or_control);
    if plain {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("'{}'", for_terminal(s).replace('\'', r"'\''")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_escaped() {
        assert_eq!(for_terminal("shop-1"), "shop-1");
        assert_eq!(for_terminal("闲鱼用户"), "闲鱼用户");
        assert_eq!(for_terminal("a\x1b[2Jb\n"), "a\\u{001B}[2Jb\\u{000A}");
        assert_eq!(for_terminal("x\u{202E}y\u{200B}"), "x\\u{202E}y\\u{200B}");
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("shop-1"), "shop-1");
        assert_eq!(shell_word("$(id)"), "'$(id)'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
