//! Lines from stdin, each held in memory only up to [`MAX_LINE`] bytes.
//!
//! `tokio::io::Lines` keeps a line whole however long it gets (`yes | tr -d '\n' | peerwire
//! node` would eat the memory) and ends at the first line that is not UTF-8; this reader does
//! neither.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The longest line sent, in bytes (without the newline); longer lines are dropped. A peer
/// keeps at most 4 KiB of a message (`peerwire_foobar::MAX_TEXT`), but other implementations
/// may keep more, so this is well above that and well below the 16 MiB frame limit.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// One line of input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// Its text, without the line end; bytes that are not UTF-8 are replaced by U+FFFD.
    Text(String),
    /// A line longer than [`MAX_LINE`], dropped; it had this many bytes.
    TooLong(usize),
}

/// Splits a byte stream into [`Line`]s.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    reader: R,
    /// The line so far, at most [`MAX_LINE`] bytes.
    buf: Vec<u8>,
    /// Bytes of the current line once it is known to be too long (then `buf` is empty).
    dropped: Option<usize>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            dropped: None,
        }
    }

    /// The next line, or `None` at the end of input (or on a read error). A last line
    /// without a newline is returned too.
    ///
    /// Cancel-safe: a partly read line stays in the reader, and the next call goes on with it.
    pub(crate) async fn next_line(&mut self) -> Option<Line> {
        loop {
            let chunk = self.reader.fill_buf().await.ok()?;
            if chunk.is_empty() {
                let partial = !self.buf.is_empty() || self.dropped.is_some();
                return partial.then(|| self.finish());
            }
            let (used, ends) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let piece = &chunk[..used - usize::from(ends)];
            match &mut self.dropped {
                Some(n) => *n += piece.len(),
                None if self.buf.len() + piece.len() > MAX_LINE => {
                    self.dropped = Some(self.buf.len() + piece.len());
                    self.buf = Vec::new();
                }
                None => self.buf.extend_from_slice(piece),
            }
            self.reader.consume(used);
            if ends {
                return Some(self.finish());
            }
        }
    }

    fn finish(&mut self) -> Line {
        match self.dropped.take() {
            Some(n) => Line::TooLong(n),
            None => {
                let bytes = std::mem::take(&mut self.buf);
                Line::Text(
                    String::from_utf8(bytes)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn all(input: &[u8]) -> Vec<Line> {
        // A small buffer, so that lines span several reads.
        let mut lines = LineReader::new(tokio::io::BufReader::with_capacity(7, input));
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().await {
            out.push(line);
        }
        out
    }

    fn text(s: &str) -> Line {
        Line::Text(s.into())
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_a_last_one_without_newline() {
        assert_eq!(
            all(b"one\ntwo and more\n\nlast").await,
            [text("one"), text("two and more"), text(""), text("last")]
        );
        assert_eq!(all(b"").await, []);
    }

    #[tokio::test]
    async fn bad_utf8_is_replaced_not_the_end_of_input() {
        assert_eq!(
            all(b"a\xffb\nnext\n").await,
            [text("a\u{fffd}b"), text("next")]
        );
    }

    #[tokio::test]
    async fn a_line_over_the_limit_is_dropped_whole_and_the_next_one_is_read() {
        let mut input = vec![b'x'; MAX_LINE];
        input.extend_from_slice(b"\n");
        input.extend(std::iter::repeat_n(b'y', MAX_LINE + 10));
        input.extend_from_slice(b"\nafter\n");
        input.extend(std::iter::repeat_n(b'z', MAX_LINE + 1));
        let lines = all(&input).await;
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], Line::Text("x".repeat(MAX_LINE)), "the limit fits");
        assert_eq!(lines[1], Line::TooLong(MAX_LINE + 10));
        assert_eq!(lines[2], text("after"));
        assert_eq!(
            lines[3],
            Line::TooLong(MAX_LINE + 1),
            "also without newline"
        );
    }
}
