//! Driving the Node.js side of the interop tests: finding Node.js (skip off CI, fail on CI),
//! `npm ci` once, and [`JsPeer`], a driver script (`tests/interop/*.mjs`) spoken to in JSON
//! lines.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use peerwire::crypto::{Enode, NodeId, NodeKey};
use peerwire::server::ServerHandle;
use peerwire::testdata::tools;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Generous: a 15 MiB message through ethereumjs takes seconds on a loaded machine.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// What to install to run these tests.
pub(crate) const NEEDS: &str = "Node.js 20+ and npm on PATH (e.g. `apt-get install nodejs npm`)";

/// The first of `node` and `npm` that does not run from PATH, checked once per process.
pub(crate) fn missing_node_tool() -> Option<&'static str> {
    static MISSING: OnceLock<Option<&'static str>> = OnceLock::new();
    *MISSING.get_or_init(|| {
        ["node", "npm"].into_iter().find(|tool| {
            !std::process::Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    })
}

/// Call first in every interop test: `true` means return now (skipped). Without Node.js it
/// prints one line saying what to install, or fails the test when `CI` is set.
pub(crate) fn skip_without_node() -> bool {
    let missing = missing_node_tool()
        .map(|tool| format!("`{tool}` not found; install {NEEDS} to run the interop tests"));
    tools::skip(missing.as_deref())
}

/// Runs `npm ci` once if the packages are missing (after [`skip_without_node`]).
pub(crate) fn ensure_node_packages() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let dir = interop_dir();
        // Every driver's package: a tree installed before one was added is installed again.
        let installed = ["@chainsafe/discv5", "@ethereumjs/devp2p"].iter().all(|p| {
            dir.join("node_modules")
                .join(p)
                .join("package.json")
                .exists()
        });
        if installed {
            return Ok(());
        }
        let out = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("cannot run npm ci: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "npm ci in {} failed:\n{}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
}

/// A running ethereumjs node; killed when dropped, also when a test fails.
pub(crate) struct JsPeer {
    pub child: Child,
    pub stdin: ChildStdin,
    pub events: mpsc::UnboundedReceiver<Value>,
    pub key: NodeKey,
}

impl JsPeer {
    /// `peer.mjs` (an RLPx node) with `args`.
    pub(crate) async fn spawn(args: &[&str]) -> Self {
        Self::spawn_script("peer.mjs", args).await
    }

    /// `tests/interop/<script>` with a fresh `--key` and `args`.
    pub(crate) async fn spawn_script(script: &str, args: &[&str]) -> Self {
        ensure_node_packages();
        let key = NodeKey::generate(&mut rand::rngs::OsRng);
        let mut child = Command::new("node")
            .arg(script)
            .arg("--key")
            .arg(hex::encode(key.secret().secret_bytes()))
            .args(args)
            .current_dir(interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let value: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("driver printed non-JSON {line:?}: {e}"));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            events,
            key,
        }
    }

    /// A listening ethereumjs node and its enode URL.
    pub(crate) async fn listen(caps: &str) -> (Self, Enode) {
        let mut js = Self::spawn(&["--listen", "--caps", caps]).await;
        let listening = js.event("listening").await;
        let port = listening["port"].as_u64().unwrap();
        let enode: Enode = format!(
            "enode://{}@127.0.0.1:{port}",
            listening["id"].as_str().unwrap()
        )
        .parse()
        .unwrap();
        assert_eq!(enode.id, js.key.id());
        (js, enode)
    }

    /// An ethereumjs node dialing `server`.
    pub(crate) async fn dial(server: &ServerHandle, caps: &str) -> Self {
        let enode = server.local_enode().to_string();
        Self::spawn(&["--dial", &enode, "--caps", caps]).await
    }

    pub(crate) fn id(&self) -> NodeId {
        self.key.id()
    }

    pub(crate) async fn cmd(&mut self, command: Value) {
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// The next event named `name` (others are skipped, errors fail the test).
    pub(crate) async fn event(&mut self, name: &str) -> Value {
        let wait = async {
            loop {
                let event = self.events.recv().await.expect("driver exited");
                match event["event"].as_str() {
                    Some(n) if n == name => return event,
                    Some("error") => panic!("ethereumjs error: {event}"),
                    _ => continue,
                }
            }
        };
        tokio::time::timeout(WAIT, wait)
            .await
            .unwrap_or_else(|_| panic!("no {name} event within {WAIT:?}"))
    }

    /// The next message event of capability `cap`.
    pub(crate) async fn message(&mut self, cap: &str) -> Value {
        loop {
            let event = self.event("message").await;
            if event["cap"] == cap {
                return event;
            }
        }
    }

    pub(crate) async fn exit(mut self) {
        self.cmd(json!({"cmd": "exit"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
