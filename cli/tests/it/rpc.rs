//! `node --rpc` / `--ipc` and `attach`, over real sockets: every method, every JSON-RPC
//! error code, the size limit, the secret and the Host rule.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{assert_clean_failure, json, run, stderr, Node};

/// A node started with `--json` and `args`; its enode URL and RPC URL read from its lines.
struct RpcNode {
    node: Node,
    enode: String,
    http: Option<String>,
}

impl RpcNode {
    fn start(args: &[&str]) -> Self {
        let mut all = vec!["--listen", "127.0.0.1:0", "--json"];
        all.extend_from_slice(args);
        let node = Node::start(&all);
        let enode = node.event("listening")["enode"]
            .as_str()
            .unwrap()
            .to_string();
        let http = args.contains(&"--rpc").then(|| {
            let url = node.event("rpc")["url"].as_str().unwrap().to_string();
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string()
        });
        Self { node, enode, http }
    }

    fn id(&self) -> &str {
        &self.enode[8..136]
    }

    fn addr(&self) -> &str {
        self.http.as_deref().unwrap()
    }

    /// Calls `method` over HTTP; the whole answer.
    fn call(&self, method: &str, params: Value) -> Value {
        let body = json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params });
        let (status, answer) = post_tcp(self.addr(), &body.to_string(), &[]);
        assert_eq!(status, 200, "{method}: {answer}");
        serde_json::from_str(&answer).unwrap()
    }

    /// The result of `method`, which must succeed.
    fn result(&self, method: &str, params: Value) -> Value {
        let answer = self.call(method, params);
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        assert_eq!(answer["id"], 7);
        answer["result"].clone()
    }

    /// The error code of `method`, which must fail.
    fn error(&self, method: &str, params: Value) -> (i64, String) {
        let answer = self.call(method, params);
        let e = &answer["error"];
        (
            e["code"]
                .as_i64()
                .unwrap_or_else(|| panic!("{method}: {answer}")),
            e["message"].as_str().unwrap().to_string(),
        )
    }
}

/// One HTTP/1.1 request (closed after the answer); the status and the body.
fn http(io: &mut (impl Read + Write), request: &str) -> (u16, String) {
    io.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    io.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not HTTP: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn post_request(host: &str, body: &str, headers: &[&str]) -> String {
    let mut req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    req
}

fn tcp(addr: &str) -> std::net::TcpStream {
    let io = std::net::TcpStream::connect(addr).unwrap();
    io.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    io
}

fn post_tcp(addr: &str, body: &str, headers: &[&str]) -> (u16, String) {
    http(&mut tcp(addr), &post_request(addr, body, headers))
}

fn post_ipc(path: &Path, body: &str) -> (u16, String) {
    let mut io = UnixStream::connect(path).unwrap();
    io.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    http(&mut io, &post_request("localhost", body, &[]))
}

fn code_of(answer: &str) -> i64 {
    json(answer)["error"]["code"].as_i64().unwrap()
}

/// Polls `check` every 50 ms for up to 10 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("peerwire-rpc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn admin_methods_manage_peers_with_geth_shaped_results() {
    let a = RpcNode::start(&["--rpc", "127.0.0.1:0", "--nodiscover", "--name", "alice/1"]);
    let b = RpcNode::start(&["--nodiscover", "--name", "bob/2"]);

    let info = a.result("admin_nodeInfo", json!([]));
    assert_eq!(info["enode"], a.enode);
    assert_eq!(info["name"], "alice/1");
    assert_eq!(
        info["id"].as_str().unwrap().len(),
        64,
        "keccak256 of the key"
    );
    assert_eq!(info["ip"], "127.0.0.1");
    let port = a.enode.rsplit(':').next().unwrap().parse::<u64>().unwrap();
    assert_eq!(info["ports"]["listener"], port);
    assert!(info["listenAddr"]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{port}")));
    assert_eq!(a.result("admin_peers", json!([])), json!([]));

    assert_eq!(a.result("admin_addPeer", json!([b.enode])), true);
    let mut peers = Value::Null;
    eventually("b in admin_peers", || {
        peers = a.result("admin_peers", json!([]));
        peers.as_array().unwrap().len() == 1
    });
    let p = &peers[0];
    assert_eq!(p["nodeId"], b.id());
    assert_eq!(p["enode"], b.enode);
    assert_eq!(p["name"], "bob/2");
    assert_eq!(p["caps"], json!(["foo/1", "gossip/1"]));
    assert_eq!(p["network"]["inbound"], false);
    assert_eq!(p["network"]["static"], true);
    assert_eq!(p["network"]["trusted"], false);
    assert_eq!(
        p["network"]["remoteAddress"],
        b.enode.rsplit('@').next().unwrap()
    );
    // At least the gossip/1 and foo/1 greetings have crossed by the time it is listed twice.
    eventually("traffic counted", || {
        let t = &a.result("admin_peers", json!([]))[0]["traffic"];
        t["ingress"].as_u64().unwrap() > 0 && t["egress"].as_u64().unwrap() > 0
    });

    assert_eq!(a.result("admin_addTrustedPeer", json!([b.enode])), true);
    assert_eq!(
        a.result("admin_peers", json!([]))[0]["network"]["trusted"],
        true
    );
    assert_eq!(a.result("admin_removeTrustedPeer", json!([b.enode])), true);
    assert_eq!(
        a.result("admin_peers", json!([]))[0]["network"]["trusted"],
        false
    );

    assert_eq!(a.result("admin_removePeer", json!([b.enode])), true);
    eventually("b gone", || a.result("admin_peers", json!([])) == json!([]));

    // Dial once: the peer is connected, not kept.
    let dialed = a.result("peerwire_dial", json!([b.enode]));
    assert_eq!(dialed["id"], b.id());
    assert_eq!(dialed["name"], "bob/2");
    assert_eq!(
        a.result("admin_peers", json!([]))[0]["network"]["static"],
        false
    );
    let (code, message) = a.error("peerwire_dial", json!([b.enode]));
    assert_eq!((code, message.as_str()), (-32000, "already connected"));
}

#[test]
fn bans_are_set_listed_and_lifted_over_rpc() {
    let a = RpcNode::start(&["--rpc", "127.0.0.1:0", "--nodiscover"]);
    let b = RpcNode::start(&["--nodiscover"]);
    a.result("admin_addPeer", json!([b.enode]));
    eventually("connected", || {
        a.result("admin_peers", json!([])) != json!([])
    });

    assert_eq!(a.result("peerwire_ban", json!([b.id(), 600])), true);
    assert_eq!(a.result("peerwire_ban", json!(["127.0.0.9"])), true);
    let bans = a.result("peerwire_bans", json!([]));
    assert_eq!(bans.as_array().unwrap().len(), 2, "{bans}");
    assert_eq!(bans[0], json!({ "ip": "127.0.0.9", "secondsLeft": null }));
    assert_eq!(bans[1]["node"], b.id());
    let left = bans[1]["secondsLeft"].as_u64().unwrap();
    assert!((590..=600).contains(&left), "{left}");
    // Banning disconnects.
    eventually("banned peer dropped", || {
        a.result("admin_peers", json!([])) == json!([])
    });

    assert_eq!(a.result("peerwire_unban", json!([b.id()])), true);
    assert_eq!(a.result("peerwire_unban", json!([b.id()])), false);
    assert_eq!(a.result("peerwire_unban", json!(["127.0.0.9"])), true);
    assert_eq!(a.result("peerwire_bans", json!([])), json!([]));
}

#[test]
fn discovery_table_lookup_and_publish() {
    let boot = RpcNode::start(&["--name", "boot/1"]);
    let a = RpcNode::start(&["--rpc", "127.0.0.1:0", "--bootnodes", &boot.enode]);
    eventually("boot in the table", || {
        a.result("peerwire_discoveryTable", json!([]))
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains(boot.id()))
    });
    let random = a.result("peerwire_lookup", json!([]));
    assert!(random.is_array(), "{random}");
    let found = a.result("peerwire_lookup", json!([boot.id()]));
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains(boot.id())),
        "{found}"
    );
    let (code, _) = a.error("peerwire_lookup", json!(["not-an-id"]));
    assert_eq!(code, -32602);

    // Publish reaches a peer over gossip/1.
    eventually("boot connected", || {
        a.result("admin_peers", json!([])) != json!([])
    });
    let published = a.result("peerwire_publish", json!(["hello over rpc"]));
    assert!(published["id"].is_string(), "{published}");
    let heard = json(&boot.node.until("hello over rpc"));
    assert_eq!(heard["event"], "gossip");

    let off = RpcNode::start(&["--rpc", "127.0.0.1:0", "--nodiscover"]);
    let (code, message) = off.error("peerwire_discoveryTable", json!([]));
    assert_eq!((code, message.as_str()), (-32000, "discovery is off"));
}

#[test]
fn malformed_requests_get_their_json_rpc_error_and_the_node_goes_on() {
    let dir = temp_dir("errors");
    let ipc = dir.join("node.ipc");
    let a = RpcNode::start(&[
        "--rpc",
        "127.0.0.1:0",
        "--ipc",
        ipc.to_str().unwrap(),
        "--nodiscover",
    ]);
    let cases = [
        // Not JSON at all.
        (r#"{"jsonrpc":"2.0","id":1,"method":"#, -32700),
        // JSON, not a request: no method.
        (r#"{"jsonrpc":"2.0","id":1}"#, -32600),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"admin_nothing"}"#,
            -32601,
        ),
        // A bad enode URL, a parameter of the wrong type, a missing parameter.
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"admin_addPeer","params":["enode://zz"]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"peerwire_ban","params":[1]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"admin_removePeer","params":[]}"#,
            -32602,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"peerwire_ban","params":["nobody"]}"#,
            -32602,
        ),
    ];
    for (body, code) in cases {
        let (status, answer) = post_tcp(a.addr(), body, &[]);
        assert!(status == 200 || status == 400, "{status} {answer}");
        assert_eq!(code_of(&answer), code, "HTTP {body}: {answer}");
        let (_, answer) = post_ipc(&ipc, body);
        assert_eq!(code_of(&answer), code, "IPC {body}: {answer}");
    }
    // A batch is answered call by call, up to 16 calls; a larger one is refused whole.
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "peerwire_bans" });
    let batch = |n: usize| Value::Array(vec![call.clone(); n]).to_string();
    let (status, answer) = post_tcp(a.addr(), &batch(16), &[]);
    assert_eq!(status, 200);
    assert_eq!(json(&answer).as_array().unwrap().len(), 16, "{answer}");
    let (_, answer) = post_tcp(a.addr(), &batch(17), &[]);
    assert_eq!(code_of(&answer), -32010, "{answer}");
    assert_eq!(a.result("admin_nodeInfo", json!([]))["enode"], a.enode);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn requests_over_one_mebibyte_are_refused_and_smaller_ones_served() {
    let a = RpcNode::start(&["--rpc", "127.0.0.1:0", "--nodiscover"]);
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"admin_nodeInfo"}"#;
    // Padded with whitespace (valid JSON) to exactly the limit, then one byte past it.
    let at_limit = format!("{call}{}", " ".repeat((1 << 20) - call.len()));
    assert_eq!(at_limit.len(), 1 << 20);
    let (status, answer) = post_tcp(a.addr(), &at_limit, &[]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(json(&answer)["result"]["enode"], a.enode);
    let over = format!("{at_limit} ");
    let (status, answer) = post_tcp(a.addr(), &over, &[]);
    assert_eq!(status, 413);
    assert_eq!(code_of(&answer), -32007);

    // A client that does not wait for an answer before sending its body (no `Expect:
    // 100-continue`) has the body refused on its Content-Length while still sending it; it
    // must still be able to send all of it and read the 413, not meet a reset.
    let mut io = tcp(a.addr());
    let request = post_request(a.addr(), &over, &[]);
    let (head, body) = request.split_at(request.len() - over.len() + 1);
    io.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let (status, answer) = http(&mut io, body);
    assert_eq!(status, 413);
    assert_eq!(code_of(&answer), -32007);

    // A client that announces a huge body and sends little is refused on the announcement.
    let mut io = tcp(a.addr());
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 1073741824\r\nConnection: close\r\n\r\n{{",
        a.addr()
    );
    let (status, _) = http(&mut io, &head);
    assert_eq!(status, 413);
    assert_eq!(a.result("admin_nodeInfo", json!([]))["enode"], a.enode);
}

#[test]
fn a_non_loopback_rpc_needs_a_secret_and_the_secret_is_checked() {
    let out = run(&["node", "--listen", "127.0.0.1:0", "--rpc", "0.0.0.0:0"]);
    assert_clean_failure(&out, "--rpc-secret");

    let dir = temp_dir("auth");
    let short = dir.join("short");
    std::fs::write(&short, "tooshort").unwrap();
    let out = run(&[
        "node",
        "--listen",
        "127.0.0.1:0",
        "--rpc",
        "127.0.0.1:0",
        "--rpc-secret",
        short.to_str().unwrap(),
    ]);
    assert_clean_failure(&out, "too short");

    let file = dir.join("secret");
    let secret = "6b1f0c2ad4e8a9b37f5c0e1d2a3b4c5d";
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let a = RpcNode::start(&[
        "--rpc",
        "127.0.0.1:0",
        "--nodiscover",
        "--rpc-secret",
        file.to_str().unwrap(),
    ]);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"admin_nodeInfo"}"#;
    assert_eq!(post_tcp(a.addr(), body, &[]).0, 401);
    let wrong = format!("Authorization: Bearer {}", "0".repeat(32));
    assert_eq!(post_tcp(a.addr(), body, &[&wrong]).0, 401);
    let right = format!("Authorization: Bearer {secret}");
    let (status, answer) = post_tcp(a.addr(), body, &[&right]);
    assert_eq!(status, 200);
    assert_eq!(json(&answer)["result"]["enode"], a.enode);
    // The page holds no data and is served without the secret.
    let (status, page) = http(
        &mut tcp(a.addr()),
        &format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            a.addr()
        ),
    );
    assert_eq!(status, 200);
    assert!(page.contains("/status.js"));

    // attach sends the secret from the same file.
    let out = run(&[
        "attach",
        a.addr(),
        "admin_nodeInfo",
        "--rpc-secret",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        json(&String::from_utf8_lossy(&out.stdout))["enode"],
        a.enode
    );
    let out = run(&["attach", a.addr(), "admin_nodeInfo"]);
    assert_clean_failure(&out, "401");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn without_a_secret_only_local_host_names_are_answered() {
    let a = RpcNode::start(&["--rpc", "127.0.0.1:0", "--nodiscover"]);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"admin_nodeInfo"}"#;
    let mut io = tcp(a.addr());
    let (status, _) = http(&mut io, &post_request("attacker.example:8545", body, &[]));
    assert_eq!(status, 403);
    let port = a.addr().rsplit(':').next().unwrap();
    let (status, _) = http(
        &mut tcp(a.addr()),
        &post_request(&format!("localhost:{port}"), body, &[]),
    );
    assert_eq!(status, 200);
}

#[test]
fn the_unix_socket_is_private_and_attach_speaks_both_transports() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = temp_dir("ipc");
    let ipc = dir.join("node.ipc");
    let ipc_path = ipc.to_str().unwrap();
    // A stale socket file from a node that is gone is replaced.
    drop(std::os::unix::net::UnixListener::bind(&ipc).unwrap());
    let a = RpcNode::start(&["--rpc", "127.0.0.1:0", "--ipc", ipc_path, "--nodiscover"]);
    let meta = std::fs::metadata(&ipc).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // A second node cannot take a live socket.
    let out = run(&["node", "--listen", "127.0.0.1:0", "--ipc", ipc_path]);
    assert_clean_failure(&out, "another process");

    for target in [ipc_path, a.addr()] {
        let out = run(&["attach", target, "admin_nodeInfo"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            json(&String::from_utf8_lossy(&out.stdout))["enode"],
            a.enode
        );
        let out = run(&["attach", target, "peerwire_ban", "127.0.0.7", "30"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
        let out = run(&["attach", target, "admin_nothing"]);
        assert_clean_failure(&out, "error -32601");
    }
    let out = run(&["attach", "http://127.0.0.1:1", "admin_peers"]);
    assert_clean_failure(&out, "cannot connect");
    drop(a);
    std::fs::remove_dir_all(&dir).unwrap();
}
