//! The `peerwire` binary, run for real: one test binary, one module per area; the helpers
//! that start and read nodes are here.
#![expect(
    clippy::disallowed_methods,
    reason = "tests collect a child's output lines; the child's run bounds them"
)]

mod blobs;
mod config;
mod crawl;
mod datadir;
mod gossip;
mod grafana;
mod hostile;
mod keys;
mod logs;
mod metrics;
mod nat;
mod peer;
mod rpc;
mod status_page;
mod stress;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_peerwire");

/// Variables the command reads; unset for every run unless a test sets them.
const ENV: [&str; 2] = ["RUST_LOG", "PEERWIRE_KEY"];

fn command() -> Command {
    let mut command = Command::new(BIN);
    for var in ENV {
        command.env_remove(var);
    }
    command
}

fn run(args: &[&str]) -> Output {
    command().args(args).output().expect("runs")
}

/// The lines of a pipe, read by a thread.
fn read_lines(pipe: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// How long a node may take to print its next line before the test gives up: a bound for a
/// hung node, not a speed figure. Generous because the whole suite runs its tests in parallel
/// on 2-core CI machines, where a debug build's node under that load has taken over 10 s.
const LINE_WAIT: Duration = Duration::from_secs(30);

/// A running `peerwire node`, killed when dropped.
struct Node {
    child: Child,
    lines: mpsc::Receiver<String>,
    errors: mpsc::Receiver<String>,
}

impl Node {
    fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[])
    }

    /// Starts a node with `args` after `node` and `env` set (see [`ENV`]).
    fn start_with(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = command();
        command.arg("node").args(args).envs(env.iter().copied());
        Self::spawn(command)
    }

    /// Runs `command` (a `peerwire node`, perhaps wrapped) with piped stdio.
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node starts");
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        Self {
            child,
            lines: read_lines(stdout),
            errors: read_lines(stderr),
        }
    }

    /// The next stdout line, within [`LINE_WAIT`]; failing, shows what the node wrote on
    /// stderr (a node that exited ends its output at once).
    fn line(&self) -> String {
        match self.lines.recv_timeout(LINE_WAIT) {
            Ok(line) => line,
            Err(e) => {
                let stderr: Vec<String> = self.errors.try_iter().collect();
                panic!("no line from the node within {LINE_WAIT:?} ({e}); its stderr: {stderr:#?}")
            }
        }
    }

    fn line_within(&self, limit: Duration) -> Option<String> {
        self.lines.recv_timeout(limit).ok()
    }

    /// Reads lines until one contains `needle`.
    fn until(&self, needle: &str) -> String {
        loop {
            let line = self.line();
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Reads lines until a JSON event named `name` (`--json`), each within [`LINE_WAIT`]; skips lines
    /// that are not JSON.
    fn event(&self, name: &str) -> serde_json::Value {
        loop {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&self.line()) else {
                continue;
            };
            if value["event"] == name {
                return value;
            }
        }
    }

    /// Reads lines until one contains `needle`, failing if that takes longer than `limit`.
    fn until_within(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.line_within(left) {
                Some(line) if line.contains(needle) => return line,
                Some(_) => {}
                None => panic!("no line with {needle:?} within {limit:?}"),
            }
        }
    }

    /// The enode URL, from the first line (text or JSON).
    fn enode(&self) -> String {
        let first = self.line();
        match serde_json::from_str::<serde_json::Value>(&first) {
            Ok(v) => v["enode"].as_str().unwrap().to_string(),
            Err(_) => first,
        }
    }

    fn say(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{text}").unwrap();
        stdin.flush().unwrap();
    }

    /// Stdin, to write to from another thread.
    fn take_stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().unwrap()
    }

    /// SIGTERM, then the exit status within 10 s.
    fn terminate(mut self) -> ExitStatus {
        self.terminate_within(Duration::from_secs(10))
    }

    /// SIGTERM, then the exit status within `limit`.
    fn terminate_within(&mut self, limit: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        self.exit_within(limit)
    }

    /// The exit status, within `limit`.
    fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("node did not exit within {limit:?}");
    }

    /// Everything it wrote to stderr, once it has exited.
    fn stderr(&self) -> String {
        let mut all = String::new();
        while let Ok(line) = self.errors.recv_timeout(Duration::from_secs(5)) {
            all.push_str(&line);
            all.push('\n');
        }
        all
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `args` under `script(1)`, so that its stdout and stderr are a
/// terminal; everything it wrote there. `script` is in Debian's essential `bsdutils`.
fn run_on_terminal(args: &[&str]) -> String {
    let quoted: Vec<String> = std::iter::once(BIN)
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let out = command_on_terminal(&quoted.join(" "));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn command_on_terminal(line: &str) -> Output {
    let mut script = Command::new("script");
    for var in ENV {
        script.env_remove(var);
    }
    script
        .args(["-qfec", line, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("script runs")
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A failure: non-zero exit, one line on stderr naming the problem, no panic.
fn assert_clean_failure(out: &Output, needle: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "succeeded: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn keygen_prints_an_id_and_writes_a_private_key_file_once() {
    let out = run(&["keygen"]);
    assert!(out.status.success());
    let id = String::from_utf8(out.stdout).unwrap();
    assert_eq!(id.trim().len(), 128);
    assert!(id.trim().chars().all(|c| c.is_ascii_hexdigit()));

    let dir = std::env::temp_dir().join(format!("peerwire-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("node.key");
    let _ = std::fs::remove_file(&file);
    let path = file.to_str().unwrap();
    let out = run(&["keygen", "--out", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = std::fs::read_to_string(&file).unwrap();
    assert_eq!(key.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The printed id belongs to the written key: a node started with it announces that id.
    let printed = String::from_utf8(out.stdout).unwrap();
    let node = Node::start(&["--listen", "127.0.0.1:0", "--keyfile", path]);
    let enode = node.line();
    assert!(
        enode.starts_with(&format!("enode://{}@", printed.trim())),
        "{enode}"
    );

    let again = run(&["keygen", "--out", path]);
    assert_clean_failure(&again, "already exists");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        key,
        "file untouched"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ping_prints_the_hello_of_a_running_node() {
    let node = Node::start(&["--listen", "127.0.0.1:0", "--json", "--name", "test-node/1"]);
    let listening = json(&node.line());
    assert_eq!(listening["event"], "listening");
    let enode = listening["enode"].as_str().unwrap().to_string();

    let out = run(&["ping", &enode, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let hello = json(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(hello["client"], "test-node/1");
    assert_eq!(hello["protocol_version"], 5);
    assert_eq!(
        hello["capabilities"],
        serde_json::json!(["foo/1", "gossip/1"])
    );
    assert!(enode.contains(hello["id"].as_str().unwrap()));

    let text = run(&["ping", &enode]);
    assert!(text.status.success());
    assert!(String::from_utf8(text.stdout)
        .unwrap()
        .contains("caps:     foo/1, gossip/1"));
    assert!(node.terminate().success(), "graceful exit 0 on SIGTERM");
}

#[test]
fn two_nodes_exchange_foo_and_bar_and_report_peers() {
    let a = Node::start(&["--listen", "127.0.0.1:0", "--json"]);
    let a_enode = json(&a.line())["enode"].as_str().unwrap().to_string();
    let mut b = Node::start(&["--listen", "127.0.0.1:0", "--json", "--peer", &a_enode]);
    let b_enode = json(&b.line())["enode"].as_str().unwrap().to_string();
    let added = json(&b.until("peer_added"));
    assert!(a_enode.contains(added["id"].as_str().unwrap()));
    assert_eq!(added["direction"], "outbound");
    json(&a.until("peer_added"));

    b.say("foo");
    let reply = json(&b.until("\"message\""));
    assert_eq!(reply["text"], "bar");
    assert!(a_enode.contains(reply["from"].as_str().unwrap()));
    // Other lines are published over gossip/1 (foo/1 carries them only to peers without it).
    b.say("hello a");
    let heard = json(&a.until("\"text\":\"hello a\""));
    assert_eq!(heard["event"], "gossip");
    assert_eq!(heard["hops"], 1);
    assert!(b_enode.contains(heard["origin"].as_str().unwrap()));

    assert!(b.terminate().success());
    let dropped = json(&a.until("peer_dropped"));
    assert_eq!(dropped["reason"], "client quitting");
    assert_eq!(dropped["by_remote"], true);
    assert!(a.terminate().success());
}

#[test]
fn two_nodes_connect_through_discv5_alone() {
    let a = Node::start(&["--listen", "127.0.0.1:0", "--discv5", "--json"]);
    let a_enode = a.event("listening")["enode"].as_str().unwrap().to_string();
    let v5 = a.event("discv5");
    let record: peerwire::discovery::enr::Record = v5["enr"].as_str().unwrap().parse().unwrap();
    // One port for RLPx, discv4 and discv5, named once in the record.
    let port = a_enode.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    assert_eq!((record.udp4(), record.tcp4()), (Some(port), Some(port)));
    let b = Node::start(&[
        "--listen",
        "127.0.0.2:0",
        "--json",
        "--v5-bootnodes",
        v5["enr"].as_str().unwrap(),
    ]);
    let added = b.event("peer_added");
    assert!(a_enode.contains(added["id"].as_str().unwrap()));
    assert_eq!(added["direction"], "outbound");
    assert!(b.terminate().success());
    assert!(a.terminate().success());
}

#[test]
fn text_output_starts_with_the_enode_url() {
    let node = Node::start(&["--listen", "127.0.0.1:0"]);
    let first = node.line();
    assert!(first.starts_with("enode://"), "{first}");
    assert!(first.parse::<peerwire::crypto::Enode>().is_ok(), "{first}");
}

#[test]
fn bad_arguments_fail_with_one_line() {
    assert_clean_failure(&run(&["ping", "enode://abc@1.2.3.4:5"]), "node id");
    assert_clean_failure(&run(&["ping", "http://x"]), "enode");
    assert_clean_failure(
        &run(&["node", "--listen", "127.0.0.1:0", "--peer", "enode://zz"]),
        "--peer",
    );
    assert_clean_failure(
        &run(&["node", "--listen", "127.0.0.1:0", "--key", "xyz"]),
        "--key",
    );
    assert_clean_failure(
        &run(&[
            "node",
            "--listen",
            "127.0.0.1:0",
            "--keyfile",
            "/nonexistent/key",
        ]),
        "cannot read key file",
    );
    assert_clean_failure(&run(&["node", "--listen", "not-an-address"]), "--listen");
    assert_clean_failure(&run(&["frobnicate"]), "frobnicate");
    // Port in use: bind it here, then ask the node for it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_clean_failure(&run(&["node", "--listen", &addr]), "in use");
}

#[test]
fn ping_failures_say_why() {
    // Nothing listens on a port we just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let id = "1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439";
    let refused = run(&["ping", &format!("enode://{id}@127.0.0.1:{port}")]);
    assert_clean_failure(&refused, "refused");

    // A listener that accepts and says nothing: the handshake times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let out = run(&[
        "ping",
        &format!("enode://{id}@127.0.0.1:{port}"),
        "--timeout",
        "1",
    ]);
    assert_clean_failure(&out, "timed out");

    // A node whose key is not the one in the URL: the handshake fails.
    let node = Node::start(&["--listen", "127.0.0.1:0"]);
    let real = node.line();
    let wrong = format!("enode://{id}@{}", real.rsplit('@').next().unwrap());
    let out = run(&["ping", &wrong, "--timeout", "3"]);
    assert_clean_failure(&out, "handshake");
}
