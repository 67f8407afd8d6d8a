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

    /// Render within `width` columns when given: columns are dropped in `drop_order`
    /// (indexes) until the rest fits; if even the first column alone is too wide, its
    /// cells are cut with `…`.
    pub fn render(&self, width: Option<usize>, drop_order: &[usize]) -> String {
        let n = self.headers.len();
        let widths: Vec<usize> = (0..n)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.width())
                    .chain([self.headers[i].width()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut shown: Vec<usize> = (0..n).collect();
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
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (k, &i) in shown.iter().enumerate() {
                let cell = fit(cells.get(i).map_or("", String::as_str), cap[i]);
                line.push_str(&cell);
                if k + 1 < shown.len() {
                    let pad = cap[i] - cell.width() + GAP;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `s` cut to at most `max` display columns, ending in `…` when cut.
fn fit(s: &str, max: usize) -> String {
    if s.width() <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    for c in s.chars() {
        if out.width() + unicode_width::UnicodeWidthChar::width(c).unwrap_or(0) + 1 > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
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
