//! Printing results: aligned tables for people, JSON for programs.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;

/// A table with a header row, printed with aligned columns.
pub(crate) struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new<I, S>(headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub(crate) fn render(&self) -> String {
        let columns = self.headers.len();
        let width = |i: usize| {
            std::iter::once(&self.headers)
                .chain(&self.rows)
                .filter_map(|row| row.get(i))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        out
    }
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// How long ago `at` was, as `12m05s`.
pub(crate) fn age(at: slipway_core::Timestamp) -> String {
    let secs = at.elapsed().as_secs();
    format!("{}m{:02}s", secs / 60, secs % 60)
}

/// `cloning` → `Cloning`.
pub(crate) fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Milliseconds with one decimal.
pub(crate) fn ms(value: f64) -> String {
    format!("{value:.1} ms")
}

/// `text` with control characters other than newline and tab shown as escapes (`\x1b`), so
/// what a repository's install or dev server printed can't move the cursor, retitle the
/// terminal or hide lines when slipway shows it.
pub(crate) fn terminal_safe(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(safe, "\\x{:02x}", u32::from(c));
        } else {
            safe.push(c);
        }
    }
    Cow::Owned(safe)
}

/// Where a command's own output goes: unchanged into a pipe or file, made
/// [`terminal_safe`] on a terminal.
pub(crate) struct Passthrough {
    stdout_tty: bool,
    stderr_tty: bool,
}

impl Passthrough {
    pub(crate) fn new() -> Self {
        Self {
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
        }
    }

    pub(crate) fn out<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.stdout_tty {
            terminal_safe(text)
        } else {
            Cow::Borrowed(text)
        }
    }

    pub(crate) fn err<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.stderr_tty {
            terminal_safe(text)
        } else {
            Cow::Borrowed(text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut table = Table::new(["op", "p50"]);
        table.row(["create", "23.1 ms"]);
        table.row(["rm", "1.0 ms"]);
        assert_eq!(
            table.render(),
            "op      p50\ncreate  23.1 ms\nrm      1.0 ms\n"
        );
    }

    #[test]
    fn escapes_and_cursor_moves_are_shown_not_obeyed() {
        assert_eq!(terminal_safe("plain\n\tline"), "plain\n\tline");
        assert_eq!(
            terminal_safe("\u{1b}]0;owned\u{7}\u{1b}[2Jnpm ERR!\r"),
            "\\x1b]0;owned\\x07\\x1b[2Jnpm ERR!\\x0d"
        );
        assert_eq!(terminal_safe("\u{9b}31m"), "\\x9b31m");
    }
}
