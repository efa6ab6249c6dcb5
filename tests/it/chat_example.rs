//! `examples/chat.rs` as a user runs it: three processes in a chain (a – b – c), so a and c
//! are not connected, and a line typed at a is printed by c, two links away.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The example's binary: `cargo test` builds examples next to the test binaries' folder.
fn chat_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile
        .join("examples")
        .join(format!("chat{}", std::env::consts::EXE_SUFFIX))
}

struct Chat {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Chat {
    fn start(peer: Option<&str>) -> Self {
        let mut cmd = Command::new(chat_binary());
        cmd.args(["--listen", "127.0.0.1:0"]);
        if let Some(peer) = peer {
            cmd.args(["--peer", peer]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the chat example runs (cargo test builds it)");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// The first line within `within` that `matches`.
    fn wait_for(&self, within: Duration, matches: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if matches(&line) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }

    fn enode(&self) -> String {
        let line = self
            .wait_for(Duration::from_secs(10), |l| l.starts_with("you are "))
            .expect("the chat prints its enode");
        line["you are ".len()..].to_string()
    }

    fn say(&mut self, text: &str) {
        writeln!(self.stdin, "{text}").expect("the chat reads stdin");
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_line_reaches_a_node_two_links_away() {
    let mut a = Chat::start(None);
    let a_enode = a.enode();
    let b = Chat::start(Some(&a_enode));
    let b_enode = b.enode();
    let c = Chat::start(Some(&b_enode));
    c.enode();
    for chat in [&a, &c] {
        chat.wait_for(Duration::from_secs(10), |l| {
            l.ends_with("joined (peerwire-chat)")
        })
        .expect("each end joins b");
    }
    // The gossip/1 sessions exchange Status right after the peer is added; a line published
    // before that reaches nobody, so say it until it arrives.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut heard = None;
    while heard.is_none() && Instant::now() < deadline {
        a.say("hello from a");
        heard = c.wait_for(Duration::from_secs(1), |l| l.contains("hello from a"));
    }
    let heard = heard.expect("c hears a through b");
    assert!(heard.ends_with("hello from a (2 hops)"), "{heard}");
}
