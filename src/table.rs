//! Plain aligned columns for what people read (`list`, `pending`): no box drawing, so
//! output neither wraps into broken borders on a narrow terminal nor puts decoration into
//! a pipe. On a terminal the table fits its width by dropping columns in a stated order.

use unicode_width::UnicodeWidthStr;

/// Two spaces between columns.
const GAP: usize = 2;

pub struct Table<'a> {
    headers: &'a [&'a str],
    rows: Vec<Vec<String>>,
}

impl<'a> Table<'a> {
    pub fn new(headers: &'a [&'a str]) -> Table<'a> {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Render within `width` columns when given (see `Layout`).
    pub fn render(&self, width: Option<usize>, drop_order: &[usize]) -> String {
        let mut widths = Widths::new(self.headers);
        for cells in &self.rows {
            widths.observe(cells);
        }
        let layout = widths.layout(width, drop_order);
        let mut out = layout.header();
        for cells in &self.rows {
            out.push_str(&layout.line(cells));
        }
        out
    }
}

/// The widest cell of each column so far: the first of two passes over rows that are
/// not kept (`list` of a large store streams its rows twice rather than hold them).
pub struct Widths<'a> {
    headers: &'a [&'a str],
    widths: Vec<usize>,
}

impl<'a> Widths<'a> {
    pub fn new(headers: &'a [&'a str]) -> Widths<'a> {
        Widths {
            headers,
            widths: headers.iter().map(|h| h.width()).collect(),
        }
    }

    pub fn observe<S: AsRef<str>>(&mut self, cells: &[S]) {
        for (w, c) in self.widths.iter_mut().zip(cells) {
            *w = (*w).max(c.as_ref().width());
        }
    }

    /// `observe` for a row whose cells' widths are known without making the cells.
    pub fn observe_widths(&mut self, widths: &[usize]) {
        for (w, c) in self.widths.iter_mut().zip(widths) {
            *w = (*w).max(*c);
        }
    }

    /// The layout within `width` columns when given: columns are dropped in `drop_order`
    /// (indexes) until the rest fits; if even the first column alone is too wide, its
    /// cells are cut with `…`.
    pub fn layout(self, width: Option<usize>, drop_order: &[usize]) -> Layout<'a> {
        let widths = self.widths;
        let mut shown: Vec<usize> = (0..widths.len()).collect();
        let total = |shown: &[usize]| {
            shown.iter().map(|&i| widths[i]).sum::<usize>() + GAP * shown.len().saturating_sub(1)
        };
        if let Some(max) = width {
            for drop in drop_order {
                if total(&shown) <= max {
                    break;
                }
                shown.retain(|i| i != drop);
            }
        }
        let mut cap: Vec<usize> = widths.clone();
        if let (Some(max), Some(&first)) = (width, shown.first()) {
            let over = total(&shown).saturating_sub(max);
            cap[first] = widths[first].saturating_sub(over).max(4);
        }
        Layout {
            headers: self.headers,
            shown,
            cap,
        }
    }
}

/// Which columns are shown and how wide: renders one line at a time.
pub struct Layout<'a> {
    headers: &'a [&'a str],
    shown: Vec<usize>,
    cap: Vec<usize>,
}

impl Layout<'_> {
    pub fn header(&self) -> String {
        self.line(self.headers)
    }

    /// One row, aligned, ending in a newline.
    pub fn line<S: AsRef<str>>(&self, cells: &[S]) -> String {
        let mut line = String::new();
        for (k, &i) in self.shown.iter().enumerate() {
            let cell = fit(cells.get(i).map_or("", |c| c.as_ref()), self.cap[i]);
            line.push_str(&cell);
            if k + 1 < self.shown.len() {
                let pad = self.cap[i] - cell.width() + GAP;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        let mut line = line.trim_end().to_owned();
        line.push('\n');
        line
    }
}

/// `s` cut to at most `max` display columns, ending in `…` when cut.
fn fit(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.width() <= max {
        return s.into();
    }
    let mut out = String::new();
    for c in s.chars() {
        if out.width() + unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) + 1 > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table<'static> {
        let mut t = Table::new(&["NAME", "UNB", "NICKNAME", "PROXY"]);
        t.row(vec![
            "shop-1".into(),
            "2219000000001".into(),
            "闲鱼abc".into(),
            "no".into(),
        ]);
        t
    }

    #[test]
    fn aligns_wide_characters() {
        let out = table().render(None, &[]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "NAME    UNB            NICKNAME  PROXY");
        assert_eq!(lines[1], "shop-1  2219000000001  闲鱼abc   no");
    }

    #[test]
    fn drops_columns_to_fit_then_cuts_the_first() {
        let out = table().render(Some(24), &[3, 2]);
        assert!(out.lines().all(|l| l.width() <= 24), "{out}");
        assert!(out.starts_with("NAME    UNB\n"), "{out}");
        let out = table().render(Some(10), &[3, 2, 1]);
        assert!(out.lines().all(|l| l.width() <= 10), "{out}");
    }
}
