//! Colour in readable output: only on a terminal, and never when `NO_COLOR`
//! is set to anything non-empty (https://no-color.org). Applied after the
//! text is escaped for the terminal, so record text can add no codes.

use std::io::IsTerminal;

/// Whether stdout gets colour.
pub fn on_stdout() -> bool {
    let disabled = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !disabled && std::io::stdout().is_terminal()
}

/// `line` in the colour of its outcome (`None`: as is): red for a denial or
/// refusal, green for a resolution.
pub fn paint(line: String, outcome: Option<&str>) -> String {
    let code = match outcome {
        Some("denied" | "refused") => "31",
        Some("resolved") => "32",
        _ => return line,
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}
