//! Where in tasks.toml a problem is, and how to show it.
//!
//! Every error about the file's content carries a [`Location`]: the path, a
//! 1-based line and column (columns count characters, not bytes, like rustc),
//! and a copy of the offending source line so the error can be printed with a
//! caret under the problem. Control and bidirectional-formatting characters in
//! that copy are replaced, so printing an error cannot drive the terminal.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A position in a policy file, with the source line it points into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as it was given to [`super::Policy::load`] or [`super::Policy::parse`].
    pub path: PathBuf,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The line the position is on, sanitised for printing.
    source_line: String,
    /// How many characters of `source_line` to underline (at least 1).
    width: usize,
}

impl Location {
    /// Locates the byte range `span` of `source`. Out-of-range or
    /// mid-character offsets are clamped rather than trusted.
    pub(crate) fn from_span(path: &Path, source: &str, span: Range<usize>) -> Self {
        let start = floor_char_boundary(source, span.start);
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let text = source[line_start..line_end].trim_end_matches('\r');
        let text_end = (line_start + text.len()).max(start);
        let end = floor_char_boundary(source, span.end.clamp(start, text_end));
        Location {
            path: path.to_owned(),
            line: source[..start].matches('\n').count() + 1,
            column: source[line_start..start].chars().count() + 1,
            source_line: text.chars().map(printable).collect(),
            width: source[start..end].chars().count().max(1),
        }
    }

    /// The offending source line with a caret line under the problem, in the
    /// style of rustc (no trailing newline).
    pub(crate) fn snippet(&self) -> impl fmt::Display + '_ {
        Snippet(self)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

struct Snippet<'a>(&'a Location);

impl fmt::Display for Snippet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.0;
        let number = loc.line.to_string();
        let gutter = " ".repeat(number.len());
        // Keep tabs in the caret's indent so it lines up under a tab-indented line.
        let indent: String = loc
            .source_line
            .chars()
            .take(loc.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, "{gutter} |")?;
        writeln!(f, "{number} | {}", loc.source_line)?;
        write!(f, "{gutter} | {indent}{}", "^".repeat(loc.width))
    }
}

/// Replaces characters that could reposition the cursor, recolour the
/// terminal or reorder the displayed text.
fn printable(c: char) -> char {
    if c != '\t' && crate::terminal::is_terminal_unsafe(c) {
        '\u{FFFD}'
    } else {
        c
    }
}

fn floor_char_boundary(s: &str, index: usize) -> usize {
    let mut i = index.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(source: &str, span: Range<usize>) -> Location {
        Location::from_span(Path::new("tasks.toml"), source, span)
    }

    #[test]
    fn line_and_column_are_one_based() {
        let src = "a = 1\nbb = \"x\"\n";
        let loc = at(src, 11..14);
        assert_eq!((loc.line, loc.column), (2, 6));
        assert_eq!(loc.to_string(), "tasks.toml:2:6");
        assert_eq!(
            loc.snippet().to_string(),
            "  |\n2 | bb = \"x\"\n  |      ^^^"
        );
    }

    #[test]
    fn columns_count_characters_and_keep_tabs() {
        let src = "\té = 'x'";
        let loc = at(src, 6..9);
        assert_eq!(loc.column, 6);
        assert!(loc.snippet().to_string().ends_with("| \t    ^^^"));
    }

    #[test]
    fn wild_spans_are_clamped() {
        let src = "é\nx";
        assert_eq!(at(src, 1..1).column, 1);
        let end = at(src, 99..200);
        assert_eq!((end.line, end.column, end.width), (2, 2, 1));
        assert_eq!(at("", 0..0).line, 1);
    }

    #[test]
    fn span_past_line_end_underlines_to_end_of_line() {
        let loc = at("ab\r\ncd", 1..6);
        assert_eq!(loc.width, 1);
        assert_eq!(loc.source_line, "ab");
    }

    #[test]
    fn control_characters_are_not_printed() {
        let loc = at("a\u{1b}[31m\u{202E}b", 0..1);
        assert!(!loc.snippet().to_string().contains('\u{1b}'));
        assert!(!loc.snippet().to_string().contains('\u{202E}'));
    }
}
