//! `peerwire node` with a peer that never reads: the others and signals go on.

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::peer::HandPeer;
use super::{json, Node};

/// Lines typed per round, and their size: 25 × 40 rounds × 32 KiB = 32 MiB in all, more than
/// the stuck peer's socket buffers and its 16 MiB / 256-message queue can take.
const ROUNDS: usize = 40;
const LINES_PER_ROUND: usize = 25;
const LINE: usize = 32 * 1024;

/// A line of `LINE` characters that snappy cannot shrink much, so the bytes reach the wire.
fn noise(state: &mut u64) -> String {
    const ALPHABET: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
    (0..LINE)
        .map(|_| {
            // xorshift64
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            char::from(ALPHABET[(*state % 64) as usize])
        })
        .collect()
}

#[test]
fn a_peer_that_never_reads_holds_up_neither_the_other_peers_nor_sigterm() {
    let mut a = Node::start(&["--listen", "127.0.0.1:0", "--json"]);
    let a_enode = a.enode();
    let stuck = HandPeer::connect(&a_enode, "stuck/1");
    let added = json(&a.until("peer_added"));
    assert_eq!(added["client"], "stuck/1");
    let b = Node::start(&["--listen", "127.0.0.1:0", "--json", "--peer", &a_enode]);
    let a_id = json(&b.until("peer_added"))["id"].clone();
    let b_id = json(&a.until("peer_added"))["id"].clone();
    assert_ne!(b_id, stuck.id.to_string());

    // A thread types on A's stdin, a round at a time, each round ending in a marker line;
    // it waits for B to have seen the marker before the next round. If A stops reading
    // stdin, the thread blocks and the marker never comes.
    let mut stdin = a.take_stdin();
    let (next_round, rounds) = mpsc::channel::<()>();
    let typist = std::thread::spawn(move || {
        let mut state = 0x9e37_79b9_7f4a_7c15;
        for round in 0..ROUNDS {
            for _ in 0..LINES_PER_ROUND {
                if writeln!(stdin, "{}", noise(&mut state)).is_err() {
                    return;
                }
            }
            if writeln!(stdin, "marker {round}")
                .and_then(|_| stdin.flush())
                .is_err()
            {
                return;
            }
            if rounds.recv().is_err() {
                return;
            }
        }
        // Stdin stays open until the test ends.
        let _ = rounds.recv();
    });
    for round in 0..ROUNDS {
        let started = Instant::now();
        let marker = format!("\"text\":\"marker {round}\"");
        let got = json(&b.until_within(&marker, Duration::from_secs(5)));
        assert_eq!(got["event"], "gossip");
        assert_eq!(got["origin"], a_id);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "round {round} took {:?}",
            started.elapsed()
        );
        next_round.send(()).unwrap();
    }

    // A told who it skipped: the stuck peer (its queue full), never B.
    let skipped = json(&a.until_within("send_skipped", Duration::from_secs(5)));
    assert_eq!(skipped["to"], stuck.id.to_string());
    assert_eq!(skipped["reason"], "send queue full");
    let mut later = 0;
    while let Some(line) = a.line_within(Duration::from_millis(500)) {
        let event = json(&line);
        if event["event"] == "send_skipped" {
            assert_eq!(event["to"], stuck.id.to_string(), "{line}");
            later += 1;
        }
    }
    assert!(
        later > 0,
        "every line after the queue filled up was skipped"
    );

    // SIGTERM stops A promptly, though the stuck peer's session cannot say goodbye; B is
    // told A is quitting.
    let started = Instant::now();
    assert!(a.terminate_within(Duration::from_secs(8)).success());
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    let dropped = json(&b.until_within("peer_dropped", Duration::from_secs(5)));
    assert_eq!(dropped["reason"], "client quitting");
    drop(next_round);
    typist.join().unwrap();
    drop(stuck);
}
