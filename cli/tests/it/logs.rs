//! `-v` and `RUST_LOG` put the library's logs on stderr; stdout keeps only the events.

use super::{json, Node};

#[test]
fn logs_go_to_stderr_with_v_or_rust_log_and_nowhere_without() {
    let quiet = Node::start(&["--listen", "127.0.0.1:0", "--json"]);
    let verbose = Node::start(&["--listen", "127.0.0.1:0", "--json", "-v"]);
    let rust_log = Node::start_with(
        &["--listen", "127.0.0.1:0", "--json"],
        &[("RUST_LOG", "peerwire::server=info")],
    );
    let nodes = [quiet, verbose, rust_log];
    let mut args = vec!["--listen".to_string(), "127.0.0.1:0".to_string()];
    for node in &nodes {
        args.push("--peer".into());
        args.push(node.enode());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let dialer = Node::start(&args);
    for node in &nodes {
        node.until("peer_added");
    }
    drop(dialer);
    let mut stderr = Vec::new();
    for mut node in nodes {
        // Every stdout line is an event, also with logging on.
        while let Some(line) = node.line_within(std::time::Duration::from_millis(200)) {
            json(&line);
        }
        assert!(node
            .terminate_within(std::time::Duration::from_secs(10))
            .success());
        while let Some(line) = node.line_within(std::time::Duration::from_millis(200)) {
            json(&line);
        }
        stderr.push(node.stderr());
    }
    let [quiet, verbose, rust_log] = &stderr[..] else {
        unreachable!()
    };
    assert_eq!(quiet, "", "no -v, no RUST_LOG: stderr stays quiet");
    assert!(verbose.contains("peer added"), "-v: {verbose}");
    assert!(verbose.contains("INFO"), "-v: {verbose}");
    assert!(rust_log.contains("peer added"), "RUST_LOG: {rust_log}");
}
