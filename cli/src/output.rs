//! One line per event on stdout, as text or JSON.
//!
//! Text lines carry strings a peer chose (its client id, its messages), so they are escaped:
//! a peer must not be able to end a line and forge the next one, or drive the terminal with
//! escape sequences. JSON is escaped by `serde_json` already.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use serde_json::{json, Value};

/// Prints events as text lines or as one JSON object per line.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `text`, or `value` when in JSON mode. Stdout is flushed so that a reader of a
    /// pipe sees each line at once. `text` is printed as it is: remote-supplied parts must be
    /// [`escape`]d by the caller (see [`Output::event`], which does it for the whole line).
    pub(crate) fn line(&self, text: impl FnOnce() -> String, value: impl FnOnce() -> Value) {
        let mut stdout = std::io::stdout().lock();
        let line = if self.json {
            value().to_string()
        } else {
            text()
        };
        // A closed stdout (reader gone) is not worth failing the node for.
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }

    /// Prints one event: `text` [`escape`]d as a whole, so it stays one line whatever peers
    /// put in it, or `fields` with `"event": event` added.
    pub(crate) fn event(&self, event: &str, text: impl FnOnce() -> String, mut fields: Value) {
        if let Value::Object(map) = &mut fields {
            map.insert("event".into(), json!(event));
        }
        self.line(|| escape(&text()).into_owned(), || fields);
    }
}

/// `text` with every character that could end a line or control a terminal written as an
/// escape, the way Rust writes them (`\n`, `\r`, `\t`, `\u{1b}`), and `\` as `\\` so that
/// the escapes are unambiguous. Escaped are the control characters (C0, DEL, C1: ESC, CSI and
/// NEL among them), the Unicode line and paragraph separators, and the bidirectional
/// formatting characters (which can make a line display as something else).
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Writing to a String cannot fail.
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}'                     // line, paragraph separator
            | '\u{061c}' | '\u{200e}' | '\u{200f}'      // bidi marks
            | '\u{202a}'..='\u{202e}'                   // bidi embeddings, overrides
            | '\u{2066}'..='\u{2069}' // bidi isolates
        )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "hello, wörld: \"quoted\" 'single' ✓";
        assert!(matches!(escape(text), std::borrow::Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn line_breaks_and_terminal_controls_are_escaped() {
        assert_eq!(
            escape("a\n{\"event\":\"peer_added\"}\r\tb"),
            "a\\n{\"event\":\"peer_added\"}\\r\\tb"
        );
        assert_eq!(
            escape("\x1b[2J\x07\x7f\u{9b}"),
            "\\u{1b}[2J\\u{7}\\u{7f}\\u{9b}"
        );
        assert_eq!(escape("x\u{85}y\u{2028}z"), "x\\u{85}y\\u{2028}z");
        assert_eq!(escape("\u{202e}txt.exe"), "\\u{202e}txt.exe");
        // A literal backslash-n typed by the peer is not mistaken for an escaped newline.
        assert_eq!(escape("a\\nb"), "a\\\\nb");
        assert!(!escape("\n\r\x1b\u{85}\u{2028}").contains(['\n', '\r', '\x1b']));
    }
}
