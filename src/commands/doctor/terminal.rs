//! doctor's terminal checks: a TTY, a UTF-8 locale, room for the QR code, colours.

use super::*;

pub(super) fn terminal(env: &Environment) -> Vec<Check> {
    let mut out = Vec::new();
    let tty = std::io::stderr().is_terminal();
    out.push(if tty {
        check(
            Level::Ok,
            "terminal",
            "stderr is a terminal",
            None,
            Code::Other,
        )
    } else {
        check(
            Level::Warn,
            "terminal",
            "stderr is not a terminal: the QR code is drawn without colours",
            Some("scan from a terminal, or use --qr-png FILE or the printed link"),
            Code::Other,
        )
    });
    let utf8 = env
        .locale
        .as_deref()
        .is_some_and(|l| l.to_ascii_lowercase().replace('-', "").contains("utf8"));
    out.push(if utf8 {
        check(
            Level::Ok,
            "terminal",
            format!(
                "UTF-8 locale ({})",
                env.locale.as_deref().unwrap_or_default()
            ),
            None,
            Code::Other,
        )
    } else {
        check(
            Level::Warn,
            "terminal",
            format!(
                "locale {} is not UTF-8: block characters may be mangled",
                env.locale.as_deref().unwrap_or("(unset)")
            ),
            Some("use --qr ascii, or set LANG=C.UTF-8"),
            Code::Other,
        )
    });
    let needed = qr_width();
    match crate::printer::terminal_columns(2) {
        Some(cols) if cols >= needed => out.push(check(
            Level::Ok,
            "terminal",
            format!("{cols} columns, the QR code needs {needed}"),
            None,
            Code::Other,
        )),
        Some(cols) => out.push(check(
            Level::Warn,
            "terminal",
            format!("{cols} columns, the QR code needs {needed}"),
            Some("widen the window or use --qr-png FILE"),
            Code::Other,
        )),
        None => out.push(check(
            Level::Ok,
            "terminal",
            format!("width unknown (not a terminal); the QR code needs {needed} columns"),
            None,
            Code::Other,
        )),
    }
    // Colours only matter where the QR is drawn on a terminal; the line above already
    // said it is drawn without them otherwise.
    if !tty {
        return out;
    }
    let dumb = env.term.as_deref().is_none_or(|t| t == "dumb");
    out.push(if dumb || env.no_color {
        check(
            Level::Warn,
            "terminal",
            "no colours (TERM unset or dumb, or NO_COLOR)",
            Some("the QR code is then drawn for a light background; use --qr ascii on dark ones"),
            Code::Other,
        )
    } else {
        check(
            Level::Ok,
            "terminal",
            format!("colours (TERM={})", env.term.as_deref().unwrap_or_default()),
            None,
            Code::Other,
        )
    });
    out
}

/// The width of the QR drawing for a typical login link.
pub(super) fn qr_width() -> usize {
    let sample = "https://passport.goofish.com/qrcodeCheck.htm?lgToken=0123456789abcdef0123456789abcdef&tbScanOpenType=Notification";
    crate::qr::unicode(sample, false)
        .ok()
        .and_then(|s| s.lines().next().map(|l| l.chars().count()))
        .unwrap_or(60)
}
