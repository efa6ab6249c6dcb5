//! Network-wide messages between `peerwire node`s that are not all connected: a line
//! typed at one end of a chain is printed once by every node, and `/to` reaches a node two
//! hops away.

use super::{json, Node};

#[test]
fn a_line_reaches_every_node_of_a_chain_once_and_to_reaches_a_node_two_hops_away() {
    let boot = Node::start(&["--listen", "127.0.0.1:0", "--json"]);
    let boot_enode = boot.enode();
    // One dialed slot each, taken by the bootnode: a and c never dial each other.
    let leaf = || {
        Node::start(&[
            "--listen",
            "127.0.0.1:0",
            "--json",
            "--max-peers",
            "2",
            "--peer",
            &boot_enode,
            "--bootnodes",
            &boot_enode,
        ])
    };
    let mut a = leaf();
    let a_enode = a.enode();
    let mut c = leaf();
    let c_enode = c.enode();
    json(&a.until("peer_added"));
    json(&c.until("peer_added"));
    // A session is reported when it starts; gossip/1 joins the tree once both Status
    // messages are read, a moment later.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let id_of = |enode: &str| enode["enode://".len()..][..128].to_string();
    let (a_id, c_id) = (id_of(&a_enode), id_of(&c_enode));

    a.say("hello, network: \"quoted\" \\ and ü");
    for (node, hops) in [(&boot, 1), (&c, 2)] {
        let got = json(&node.until("\"gossip\""));
        assert_eq!(got["origin"], a_id);
        assert_eq!(got["text"], "hello, network: \"quoted\" \\ and ü");
        assert_eq!(got["hops"], hops);
    }
    // Printed once: a second line arrives next, not a copy of the first.
    a.say("second");
    let next = json(&c.until("\"gossip\""));
    assert_eq!(next["text"], "second");

    // c knows a as the origin of what it heard; an id prefix is enough.
    c.say(&format!("/to {} psst, a", &a_id[..10]));
    let sent = json(&c.until("direct_sent"));
    assert_eq!(sent["to"], a_id);
    assert_eq!(sent["route"], "dialed");
    let got = json(&a.until("\"direct\""));
    assert_eq!(got["from"], c_id);
    assert_eq!(got["text"], "psst, a");
    // The direct session is a's one-shot peer; the chain is unchanged for gossip.
    c.say("/to ffff nobody");
    let failed = json(&c.until("direct_failed"));
    assert!(
        failed["reason"].as_str().unwrap().contains("no known node"),
        "{failed}"
    );
    assert!(a.terminate().success());
    assert!(c.terminate().success());
}
