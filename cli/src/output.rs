//! One line per event on stdout, as text or JSON.

use std::io::Write;

use serde_json::{json, Value};

/// Prints events as text lines or as one JSON object per line.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `text`, or `value` when in JSON mode. Stdout is flushed so that a reader of a
    /// pipe sees each line at once.
    pub fn line(&self, text: impl FnOnce() -> String, value: impl FnOnce() -> Value) {
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

    pub fn event(&self, event: &str, text: impl FnOnce() -> String, mut fields: Value) {
        if let Value::Object(map) = &mut fields {
            map.insert("event".into(), json!(event));
        }
        self.line(text, || fields);
    }
}
