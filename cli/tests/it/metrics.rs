//! `peerwire node --metrics`: two nodes exchange foo/bar, and their scrapes show it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::Node;

/// `GET` of `url` (`http://host:port/path`) over a plain TCP connection: status line and body.
fn get(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut io = TcpStream::connect(host).unwrap();
    io.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        io,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    io.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The sum of the samples of `name` whose labels contain each of `labels` (`key="value"`).
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Scrapes `url` until `ready` holds for the text, within 10 s; returns that text.
fn scrape_until(url: &str, ready: impl Fn(&str) -> bool) -> String {
    for _ in 0..100 {
        let (status, body) = get(url);
        assert_eq!(status, "HTTP/1.1 200 OK");
        if ready(&body) {
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("metrics at {url} did not get there: {}", get(url).1);
}

#[test]
fn two_nodes_report_peers_and_foo_bar_traffic_at_metrics() {
    let a = Node::start(&[
        "--json",
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
    ]);
    let a_enode = a.event("listening")["enode"].as_str().unwrap().to_string();
    let a_url = a.event("metrics")["url"].as_str().unwrap().to_string();
    let mut b = Node::start(&[
        "--json",
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--peer",
        &a_enode,
    ]);
    let b_url = b.event("metrics")["url"].as_str().unwrap().to_string();
    b.event("peer_added");
    a.event("peer_added");
    b.say("foo");
    assert_eq!(b.event("message")["text"], "bar");

    let foo = r#"cap="foo/1""#;
    let b_text = scrape_until(&b_url, |t| {
        sample(t, "peerwire_ingress_messages_total", &[foo]).is_some_and(|n| n >= 1.0)
    });
    let peers =
        |t: &str, dir: &str| sample(t, "peerwire_peers", &[&format!("direction=\"{dir}\"")]);
    assert_eq!(peers(&b_text, "outbound"), Some(1.0), "{b_text}");
    assert!(sample(&b_text, "peerwire_egress_messages_total", &[foo]).unwrap() >= 1.0);
    assert!(sample(&b_text, "peerwire_ingress_bytes_total", &[foo]).unwrap() > 0.0);
    assert_eq!(
        sample(&b_text, "peerwire_dials_total", &[r#"outcome="connected""#]),
        Some(1.0)
    );
    // The exporter prints the library's descriptions.
    assert!(b_text.contains("# HELP peerwire_peers"), "{b_text}");

    let a_text = scrape_until(&a_url, |t| {
        sample(t, "peerwire_egress_messages_total", &[foo]).is_some_and(|n| n >= 1.0)
    });
    assert_eq!(peers(&a_text, "inbound"), Some(1.0), "{a_text}");
    assert!(sample(&a_text, "peerwire_ingress_bytes_total", &[foo]).unwrap() > 0.0);

    // Anything but /metrics is not found.
    let other = a_url.replace("/metrics", "/");
    assert_eq!(get(&other).0, "HTTP/1.1 404 Not Found");
}
