//! Which characters may reach a terminal as they are. Used wherever text
//! from a file or the command line is shown or accepted as a name: a control
//! or bidirectional character there could rewrite what the reader sees.

/// Whether printing `c` could drive a terminal (control characters: ESC,
/// BEL, CR, C1 codes such as CSI) or reorder the displayed text
/// (bidirectional marks, embeddings, overrides and isolates).
pub fn is_terminal_unsafe(c: char) -> bool {
    let bidi = matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    );
    c.is_control() || bidi
}

/// `text` with every terminal-unsafe character written as a visible escape
/// (`\u{1b}`), so a reader sees that it was there and nothing acts on it.
pub fn escape_for_terminal(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_terminal_unsafe) {
        return std::borrow::Cow::Borrowed(text);
    }
    let escape = |c: char| match is_terminal_unsafe(c) {
        true => format!("\\u{{{:x}}}", u32::from(c)),
        false => c.to_string(),
    };
    std::borrow::Cow::Owned(text.chars().map(escape).collect())
}
