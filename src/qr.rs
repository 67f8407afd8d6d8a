//! Drawing a QR code for a person: unicode half-blocks in explicit black on white with a
//! real quiet zone (scannable on dark and light terminal themes), plain ASCII for
//! terminals that mangle block characters, an inline image through viuer on terminals
//! that show images, and a PNG file.

use qrcode::{Color, EcLevel, QrCode};
use std::path::Path;

/// How the QR code is drawn on stderr (`--qr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrMode {
    Auto,
    Unicode,
    Ascii,
    Image,
    None,
}

/// Modules of light border around the code; the spec asks for 4, phones cope with 2.
const QUIET: usize = 2;

#[derive(Debug, thiserror::Error)]
#[error("cannot encode the QR text as a QR code: {0}")]
pub struct QrError(String);

fn encode(text: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)
        .map_err(|e| QrError(e.to_string()))
}

/// The modules as rows of booleans (true = dark), quiet zone included.
fn matrix(code: &QrCode) -> Vec<Vec<bool>> {
    let w = code.width();
    let colors = code.to_colors();
    let size = w + 2 * QUIET;
    let mut rows = vec![vec![false; size]; size];
    for y in 0..w {
        for x in 0..w {
            rows[y + QUIET][x + QUIET] = colors[y * w + x] == Color::Dark;
        }
    }
    rows
}

/// Half blocks: each character is two modules stacked. With `colour`, every cell sets
/// its own foreground and background so the terminal theme cannot invert the code.
pub fn unicode(text: &str, colour: bool) -> Result<String, QrError> {
    let m = matrix(&encode(text)?);
    let mut out = String::new();
    for pair in m.chunks(2) {
        let top = &pair[0];
        let bottom = pair.get(1);
        for x in 0..top.len() {
            let t = top[x];
            let b = bottom.is_some_and(|r| r[x]);
            if colour {
                // fg paints the upper half, bg the lower: 30/40 black, 97/107 bright white.
                out.push_str(match (t, b) {
                    (true, true) => "\x1b[30;40m▀",
                    (true, false) => "\x1b[30;107m▀",
                    (false, true) => "\x1b[97;40m▀",
                    (false, false) => "\x1b[97;107m▀",
                });
            } else {
                // Without colour, assume dark text on a light background.
                out.push(match (t, b) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
        }
        if colour {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    Ok(out)
}

/// Two characters per module, `##` dark: survives any font and any encoding.
pub fn ascii(text: &str) -> Result<String, QrError> {
    let m = matrix(&encode(text)?);
    let mut out = String::new();
    for row in &m {
        for &dark in row {
            out.push_str(if dark { "##" } else { "  " });
        }
        out.push('\n');
    }
    Ok(out)
}

/// The QR as a PNG image (8 pixels a module).
pub fn png_bytes(text: &str) -> Result<Vec<u8>, QrError> {
    let img = encode(text)?
        .render::<image::Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(8, 8)
        .build();
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png)
        .map_err(|e| QrError(e.to_string()))?;
    Ok(buf.into_inner())
}

/// The QR as an SVG image (for the `--web` page), or `None` when the text does not fit.
pub fn svg(text: &str) -> Option<String> {
    let code = encode(text).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .quiet_zone(true)
            .module_dimensions(8, 8)
            .build(),
    )
}

pub fn write_png(text: &str, path: &Path, mode: u32) -> anyhow::Result<()> {
    let bytes = png_bytes(text)?;
    crate::private_file::write_with_mode(path, &bytes, mode)
        .map_err(|e| anyhow::anyhow!("writing the QR image {}: {e}", path.display()))
}

/// Print through viuer. viuer writes to stdout, so callers only use this when stdout is
/// the same terminal as stderr and stdout carries no data (`--json` off). The kitty and
/// iTerm protocols are tried only on a terminal that announced them (`image_terminal`):
/// viuer's kitty probe waits for an answer a plain terminal may never give. Elsewhere
/// viuer draws with truecolor blocks.
pub fn print_image(text: &str, image_terminal: bool) -> anyhow::Result<()> {
    let cfg = viuer::Config {
        absolute_offset: false,
        use_kitty: image_terminal,
        use_iterm: image_terminal,
        ..Default::default()
    };
    let img = if image_terminal {
        // A real image: the terminal scales pixels, so 40 cells wide is sharp.
        let bytes = png_bytes(text)?;
        (
            image::load_from_memory(&bytes)?,
            viuer::Config {
                width: Some(40),
                ..cfg
            },
        )
    } else {
        // Blocks: one pixel per module and one column per pixel, or scaling blurs the
        // modules into greys a phone cannot read.
        let img = encode(text)?
            .render::<image::Luma<u8>>()
            .quiet_zone(true)
            .module_dimensions(1, 1)
            .build();
        let (w, h) = (img.width(), img.height());
        (
            image::DynamicImage::ImageLuma8(img),
            viuer::Config {
                width: Some(w),
                height: Some(h.div_ceil(2)),
                ..cfg
            },
        )
    };
    let (img, cfg) = img;
    viuer::print(&img, &cfg).map_err(|e| anyhow::anyhow!("showing the QR image: {e}"))?;
    Ok(())
}

/// What to draw for `mode` on this terminal. An image needs stdout (viuer draws there) and
/// stdin (viuer reads the terminal's answers there) to be the terminal too. `auto` picks an
/// image only where the terminal said so in its environment (`image_terminal`): viuer's
/// probe waits for an answer, and a terminal that never answers would hang the login.
pub fn resolve_mode(
    mode: QrMode,
    stderr_tty: bool,
    stdout_tty: bool,
    json: bool,
    image_terminal: bool,
) -> QrMode {
    use std::io::IsTerminal;
    let stdin_tty = std::io::stdin().is_terminal();
    match mode {
        QrMode::Auto if stderr_tty && stdout_tty && stdin_tty && !json && image_terminal => {
            QrMode::Image
        }
        QrMode::Auto => QrMode::Unicode,
        QrMode::Image if !stdout_tty || !stdin_tty || json => QrMode::Unicode,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renderings_have_a_quiet_zone_and_square_shape() {
        let text = "https://passport.goofish.com/qrcodeCheck.htm?lgToken=abc";
        let a = ascii(text).unwrap();
        let lines: Vec<&str> = a.lines().collect();
        assert_eq!(lines.len() * 2, lines[0].len());
        assert!(lines[0].trim().is_empty() && lines[1].trim().is_empty());
        let u = unicode(text, false).unwrap();
        assert_eq!(u.lines().count(), lines.len().div_ceil(2));
        let c = unicode(text, true).unwrap();
        assert!(c.lines().all(|l| l.ends_with("\x1b[0m")));
        let png = png_bytes(text).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
