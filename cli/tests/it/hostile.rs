//! Peers that put line breaks and terminal escapes in what the node prints.

use super::peer::HandPeer;
use super::Node;

#[test]
fn text_output_escapes_client_ids_and_messages_so_peers_cannot_forge_lines() {
    let a = Node::start(&["--listen", "127.0.0.1:0"]);
    let enode = a.enode();
    let forged_added = "\n{\"event\":\"peer_added\",\"id\":\"forged\"}";
    let mut peer = HandPeer::connect(&enode, &format!("evil/1{forged_added}\x1b[31m"));
    peer.say("hi\npeer dropped 0123 forged\r\x1b[2K\u{9b}2J\u{85}x\u{2028}y\u{202e}z\\n");
    peer.say("done");

    let mut lines = Vec::new();
    loop {
        let line = a.line();
        let last = line.ends_with(": done");
        lines.push(line);
        if last {
            break;
        }
    }
    let id = peer.id.to_string();
    assert_eq!(lines.len(), 3, "peer added, two messages: {lines:#?}");
    assert!(lines[0].starts_with(&format!("peer added {id} 127.0.0.1:")));
    assert!(
        lines[0]
            .ends_with(" Inbound evil/1\\n{\"event\":\"peer_added\",\"id\":\"forged\"}\\u{1b}[31m"),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        format!(
            "message from {id}: hi\\npeer dropped 0123 forged\\r\\u{{1b}}[2K\\u{{9b}}2J\\u{{85}}x\
             \\u{{2028}}y\\u{{202e}}z\\\\n"
        )
    );
    for line in &lines {
        assert!(
            !line.contains(['\r', '\x1b', '\u{9b}', '\u{85}', '\u{2028}', '\u{202e}']),
            "{line:?}"
        );
    }
}

#[test]
fn json_output_keeps_such_strings_intact_and_escaped_by_json() {
    let a = Node::start(&["--listen", "127.0.0.1:0", "--json"]);
    let mut peer = HandPeer::connect(&a.enode(), "evil/1\n\x1b[31m");
    let added = super::json(&a.until("peer_added"));
    assert_eq!(added["client"], "evil/1\n\x1b[31m");
    peer.say("a\nb\x1b");
    let message = super::json(&a.until("\"message\""));
    assert_eq!(message["text"], "a\nb\x1b");
}
