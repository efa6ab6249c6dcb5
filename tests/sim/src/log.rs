//! The event log of a run: what happened to whom, at which simulated millisecond, in the
//! order the simulation ran it. Its digest is what two runs of one seed must agree on.

use sha2::{Digest, Sha256};

/// Lines of `<ms> <node> <what>`, appended by the nodes as they run.
#[derive(Debug, Default)]
pub struct EventLog {
    lines: Vec<String>,
}

impl EventLog {
    /// Appends one line.
    pub fn push(&mut self, line: String) {
        self.lines.push(line);
    }

    /// The lines so far.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// SHA-256 of the lines, hex.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for line in &self.lines {
            h.update(line.as_bytes());
            h.update(b"\n");
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_depends_on_content_and_order() {
        let log = |lines: &[&str]| {
            let mut l = EventLog::default();
            lines.iter().for_each(|s| l.push(s.to_string()));
            l.digest()
        };
        assert_eq!(
            log(&["1 a up b", "2 b up a"]),
            log(&["1 a up b", "2 b up a"])
        );
        assert_ne!(
            log(&["1 a up b", "2 b up a"]),
            log(&["2 b up a", "1 a up b"])
        );
        assert_ne!(log(&["1 a up b"]), log(&["1 a up c"]));
    }
}
