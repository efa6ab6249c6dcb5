//! Does the admin RPC server slow the p2p side? The RLPx Ping round trip p50/p99 of a peer
//! of `peerwire node --rpc`, measured three ways in one run on one node process:
//!
//! 1. quiet: no RPC connection;
//! 2. idle: 1,000 RPC connections open and idle (each made one request, then keeps the
//!    keep-alive connection open without sending);
//! 3. busy: 1,000 RPC connections each with one `admin_peers` request in flight at all times
//!    (a closed loop: the next request goes out as soon as the answer is in).
//!
//! The node is the real binary; the RPC clients run in a child process (this binary with
//! `--rpc-clients`), the measuring peer on its own thread and runtime here, all on the same
//! machine, so the figures include the load's share of the CPU.
//!
//! Run: `cargo bench -p peerwire-cli --bench rpc_load` (about 30 s). `cargo test --benches`
//! runs a short smoke version (100 connections, 1 s windows) and checks only that it works.
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use peerwire::crypto::{Enode, NodeKey};
use peerwire::rlpx::{RlpxConfig, RlpxStream};
use peerwire::wire::{code, Capability, Hello, PayloadCodec, EMPTY_LIST, P2P_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How often the measuring peer pings.
const PING_EVERY: Duration = Duration::from_millis(2);

/// The sizes of a run.
#[derive(Clone, Copy)]
struct Plan {
    connections: usize,
    window: Duration,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--rpc-clients") {
        let addr: SocketAddr = args[i + 1].parse().unwrap();
        let count: usize = args[i + 2].parse().unwrap();
        let busy = args[i + 3] == "busy";
        let millis: u64 = args[i + 4].parse().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(rpc_clients(
            addr,
            count,
            busy,
            Duration::from_millis(millis),
        ));
        return;
    }
    let plan = if args.iter().any(|a| a == "--bench") {
        Plan {
            connections: 1000,
            window: Duration::from_secs(8),
        }
    } else {
        Plan {
            connections: 100,
            window: Duration::from_secs(1),
        }
    };
    run(plan);
}

/// A running `peerwire node --rpc`, killed when dropped.
struct NodeProcess {
    child: Child,
    enode: Enode,
    rpc: SocketAddr,
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node() -> NodeProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_peerwire"))
        .args([
            "node",
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--nodiscover",
            "--rpc",
            "127.0.0.1:0",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the node starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut enode = None;
    let mut rpc = None;
    while enode.is_none() || rpc.is_none() {
        let line = lines.next().expect("node output").unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        match v["event"].as_str() {
            Some("listening") => enode = v["enode"].as_str().map(|s| s.parse().unwrap()),
            Some("rpc") => {
                let url = v["url"].as_str().unwrap();
                rpc = Some(url[7..url.len() - 1].parse().unwrap());
            }
            _ => {}
        }
    }
    // Drain the rest so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    NodeProcess {
        child,
        // Both set by the loop above.
        enode: enode.unwrap(),
        rpc: rpc.unwrap(),
    }
}

/// The measuring peer: connects with foo/1 (which the node runs), then one Ping/Pong round
/// trip every [`PING_EVERY`] for `window`, on a thread and runtime of its own.
fn ping_round_trips(node: Enode, window: Duration) -> Vec<Duration> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let key = NodeKey::random();
            let io = TcpStream::connect(node.tcp_addr()).await.unwrap();
            io.set_nodelay(true).unwrap();
            let mut stream = RlpxStream::connect(io, &key, node.id, &RlpxConfig::default())
                .await
                .unwrap();
            let hello = Hello {
                protocol_version: P2P_VERSION,
                client_id: "rpc-load-bench".into(),
                capabilities: vec![Capability::new("foo", 1)],
                listen_port: 0,
                id: key.id(),
            };
            stream.send(code::HELLO, &hello.encode()).await.unwrap();
            let ping = PayloadCodec::Snappy
                .encode(bytes::Bytes::from_static(&EMPTY_LIST))
                .unwrap();
            let mut rtts = Vec::new();
            let started = Instant::now();
            let mut tick = tokio::time::interval(PING_EVERY);
            while started.elapsed() < window {
                tick.tick().await;
                let sent = Instant::now();
                stream.send(code::PING, &ping).await.unwrap();
                loop {
                    let frame = stream.recv().await.unwrap().expect("node closed");
                    match frame.code {
                        code::PONG => break,
                        code::PING => stream.send(code::PONG, &ping).await.unwrap(),
                        // Hello, and whatever foo/1 says.
                        _ => {}
                    }
                }
                rtts.push(sent.elapsed());
            }
            rtts
        })
    })
    .join()
    .unwrap()
}

fn quantile(times: &mut [Duration], q: f64) -> Duration {
    times.sort_unstable();
    let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
    times[i]
}

/// One measured window.
struct Row {
    name: &'static str,
    rtts: Vec<Duration>,
    requests: u64,
}

fn run(plan: Plan) {
    let node = start_node();
    let mut rows = Vec::new();
    rows.push(Row {
        name: "quiet (no RPC connection)",
        rtts: ping_round_trips(node.enode, plan.window),
        requests: 0,
    });
    for (name, busy) in [
        ("idle RPC connections held open", false),
        ("RPC connections, a request in flight on each", true),
    ] {
        // The clients run a little longer than the window: connected before it starts,
        // still loading when it ends.
        let millis = (plan.window + Duration::from_secs(4))
            .as_millis()
            .to_string();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--rpc-clients",
                &node.rpc.to_string(),
                &plan.connections.to_string(),
                if busy { "busy" } else { "idle" },
                &millis,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = lines.next().unwrap().unwrap();
        assert_eq!(ready, format!("connected {}", plan.connections));
        let rtts = ping_round_trips(node.enode, plan.window);
        let done = lines.next().unwrap().unwrap();
        let requests: u64 = done.strip_prefix("requests ").unwrap().parse().unwrap();
        assert!(child.wait().unwrap().success());
        rows.push(Row {
            name,
            rtts,
            requests,
        });
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let quiet_p99 = ms(quantile(&mut rows[0].rtts, 0.99));
    println!(
        "RLPx Ping round trip of one peer, pinging every {} ms for {} s per row; {} RPC \
         connections:\n",
        PING_EVERY.as_millis(),
        plan.window.as_secs(),
        plan.connections
    );
    println!("| load | pings | p50 ms | p99 ms | p99 / quiet p99 | RPC requests answered |");
    println!("|---|---|---|---|---|---|");
    for row in &mut rows {
        let p50 = ms(quantile(&mut row.rtts, 0.5));
        let p99 = ms(quantile(&mut row.rtts, 0.99));
        println!(
            "| {} | {} | {p50:.3} | {p99:.3} | {:.2} | {} |",
            row.name,
            row.rtts.len(),
            p99 / quiet_p99,
            row.requests
        );
        assert!(!row.rtts.is_empty());
    }
}

/// Child process: `count` keep-alive connections to `addr`, each making one `admin_peers`
/// request; prints `connected N` once all have their answer, then (busy) keeps one request
/// in flight on each or (idle) leaves them open, for `length`; prints `requests N` with
/// the requests answered after the first, and exits.
async fn rpc_clients(addr: SocketAddr, count: usize, busy: bool, length: Duration) {
    let mut conns = Vec::with_capacity(count);
    for _ in 0..count {
        let io = TcpStream::connect(addr).await.unwrap();
        io.set_nodelay(true).unwrap();
        conns.push(io);
    }
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{}",
        BODY.len(),
        BODY
    );
    let request: &'static [u8] = Box::leak(request.into_bytes().into_boxed_slice());
    let mut tasks = tokio::task::JoinSet::new();
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel::<()>(count);
    let deadline = tokio::time::Instant::now() + length;
    for mut io in conns {
        let ready_tx = ready_tx.clone();
        tasks.spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            round_trip(&mut io, request, &mut buf).await;
            ready_tx.send(()).await.unwrap();
            let mut answered = 0u64;
            if busy {
                while tokio::time::Instant::now() < deadline {
                    round_trip(&mut io, request, &mut buf).await;
                    answered += 1;
                }
            } else {
                tokio::time::sleep_until(deadline).await;
            }
            drop(io);
            answered
        });
    }
    drop(ready_tx);
    for _ in 0..count {
        ready.recv().await.unwrap();
    }
    println!("connected {count}");
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap();
    }
    println!("requests {total}");
}

const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"admin_peers"}"#;

/// Sends `request` and reads one answer (its head and `Content-Length` bytes of body).
async fn round_trip(io: &mut TcpStream, request: &[u8], buf: &mut [u8]) {
    io.write_all(request).await.unwrap();
    let mut have = 0;
    loop {
        let n = io.read(&mut buf[have..]).await.unwrap();
        assert!(n > 0, "RPC server closed the connection");
        have += n;
        let text = &buf[..have];
        let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = std::str::from_utf8(&text[..end]).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.trim().parse().unwrap())
            })
            .expect("a Content-Length");
        if have >= end + 4 + len {
            return;
        }
    }
}
