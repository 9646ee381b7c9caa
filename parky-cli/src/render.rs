//! Small rendering helpers shared by the commands: tables as aligned text or Markdown, and
//! human-readable numbers, durations and times.

use std::fmt::Write as _;
use std::time::Duration;

/// A table rendered either as aligned text or as a Markdown table.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells render empty, extra cells are kept.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn widths(&self) -> Vec<usize> {
        let columns = self
            .rows
            .iter()
            .map(Vec::len)
            .chain([self.header.len()])
            .max()
            .unwrap_or(0);
        (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .chain([&self.header])
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    /// Aligned text, each line starting with `indent`.
    pub(crate) fn text(&self, indent: &str) -> String {
        let widths = self.widths();
        let mut out = String::new();
        for row in [&self.header].into_iter().chain(&self.rows) {
            let mut line = String::from(indent);
            for (c, width) in widths.iter().enumerate() {
                let cell = row.get(c).map_or("", String::as_str);
                let _ = write!(line, "{cell:<width$}  ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured Markdown table.
    pub(crate) fn markdown(&self) -> String {
        let columns = self.widths().len();
        let cell = |row: &Vec<String>, c: usize| {
            row.get(c).map_or(String::new(), |s| s.replace('|', "\\|"))
        };
        let mut out = String::new();
        let line = |row: &Vec<String>| {
            let cells: Vec<String> = (0..columns).map(|c| cell(row, c)).collect();
            format!("| {} |\n", cells.join(" | "))
        };
        out.push_str(&line(&self.header));
        out.push_str(&format!("|{}\n", "---|".repeat(columns)));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// A ratio as a percentage with `decimals` places, e.g. `0.99912` → `99.912 %`.
pub(crate) fn percent(ratio: f64, decimals: usize) -> String {
    format!("{:.*} %", decimals, ratio * 100.0)
}

/// A count with thousands separators, e.g. `1234567` → `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A duration in seconds with at most two decimals: `51.84s`, `129.6s`, `259.2s`.
pub(crate) fn seconds(d: Duration) -> String {
    let text = format!("{:.2}", d.as_secs_f64());
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// A UTC time as `2015-05-20 21:05 UTC` (seconds shown only when not zero).
pub(crate) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    if t.second() == 0 && t.nanosecond() == 0 {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(10_000), "10,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    #[test]
    fn seconds_keep_two_decimals() {
        assert_eq!(seconds(Duration::from_millis(129_600)), "129.6s");
        assert_eq!(seconds(Duration::from_millis(51_840)), "51.84s");
        assert_eq!(seconds(Duration::from_secs(259)), "259s");
    }

    #[test]
    fn tables_align_and_escape() {
        let mut t = Table::new(&["window", "factor"]);
        t.row(vec!["1h/5m".into(), "14.4".into()]);
        t.row(vec!["a|b".into(), "1".into()]);
        assert_eq!(
            t.text("  "),
            "  window  factor\n  1h/5m   14.4\n  a|b     1\n"
        );
        assert_eq!(
            t.markdown(),
            "| window | factor |\n|---|---|\n| 1h/5m | 14.4 |\n| a\\|b | 1 |\n"
        );
    }

    #[test]
    fn percent_and_time() {
        assert_eq!(percent(0.99912, 3), "99.912 %");
        let t = chrono::DateTime::parse_from_rfc3339("2015-05-20T21:05:00Z").unwrap();
        assert_eq!(time(t.to_utc()), "2015-05-20 21:05 UTC");
    }
}
