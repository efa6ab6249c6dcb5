//! `peerwire node --datadir`: the same identity after a restart, one node per directory, a
//! damaged store set aside, bans kept, SIGKILL survived, and rejoining without bootnodes.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use peerwire::crypto::NodeKey;
use peerwire::server::{DiscoveryMode, Server, ServerConfig, ServerHandle};
use peerwire_foobar::FooBar;

use super::{json, Node};

/// A fresh directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "peerwire-datadir-{name}-{}-{:?}",
            std::process::id(),
            Instant::now()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(dir: &TempDir, extra: &[&str]) -> Node {
    let mut args = vec!["--listen", "127.0.0.1:0", "--json", "--datadir", dir.path()];
    args.extend_from_slice(extra);
    Node::start(&args)
}

/// The node id in an enode URL.
fn id_of(enode: &str) -> String {
    enode
        .trim_start_matches("enode://")
        .split('@')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_node_keeps_its_identity_in_its_data_directory() {
    let dir = TempDir::new("identity");
    let first = start(&dir, &[]);
    let enode = first.enode();
    assert!(first.terminate().success());
    let key_file = dir.0.join("nodekey");
    let key = std::fs::read_to_string(&key_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let second = start(&dir, &[]);
    assert_eq!(
        id_of(&second.enode()),
        id_of(&enode),
        "same enode after a restart"
    );
    assert!(second.terminate().success());
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        key,
        "never rewritten"
    );

    // A key given by hand wins, and does not replace the stored one.
    let other = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
    let by_hand = Node::start_with(
        &["--listen", "127.0.0.1:0", "--json", "--datadir", dir.path()],
        &[("PEERWIRE_KEY", other)],
    );
    let expected = NodeKey::new(peerwire::crypto::parse_secret_key(other).unwrap()).id();
    assert_eq!(id_of(&by_hand.enode()), expected.to_string());
    assert!(by_hand.terminate().success());
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key);
}

#[test]
fn a_second_node_on_the_same_directory_is_refused_in_one_line() {
    let dir = TempDir::new("lock");
    let first = start(&dir, &[]);
    let enode = first.enode();
    let out = super::command()
        .args(["node", "--listen", "127.0.0.1:0", "--datadir", dir.path()])
        .output()
        .unwrap();
    super::assert_clean_failure(&out, "in use by another node");
    // The first one is unaffected, and once it is gone the directory is free.
    assert!(first.terminate().success());
    let again = start(&dir, &[]);
    assert_eq!(id_of(&again.enode()), id_of(&enode));
}

#[test]
fn a_damaged_store_is_moved_aside_with_one_warning_and_the_key_stays() {
    let dir = TempDir::new("corrupt");
    let first = start(&dir, &[]);
    let enode = first.enode();
    assert!(first.terminate().success());
    let store = dir.0.join("peers.redb");
    assert!(store.exists());
    std::fs::write(
        &store,
        b"this is not a database, it only sits where one was",
    )
    .unwrap();

    let mut second = start(&dir, &[]);
    assert_eq!(id_of(&second.enode()), id_of(&enode), "same key");
    assert!(second.terminate_within(Duration::from_secs(10)).success());
    let err = second.stderr();
    assert_eq!(err.lines().count(), 1, "one warning: {err:?}");
    assert!(err.contains("warning") && err.contains("moved to"), "{err}");
    let aside: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("peers.redb.damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let kept = std::fs::read(dir.0.join(&aside[0])).unwrap();
    assert!(kept.starts_with(b"this is not a database"));

    // The fresh store works: the next start is quiet.
    let mut third = start(&dir, &[]);
    third.enode();
    assert!(third.terminate_within(Duration::from_secs(10)).success());
    assert_eq!(third.stderr(), "");
}

#[test]
fn a_ban_survives_a_restart() {
    let dir = TempDir::new("ban");
    let mut a = start(&dir, &[]);
    let a_enode = a.enode();
    let banned_key = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";
    let banned_id = NodeKey::new(peerwire::crypto::parse_secret_key(banned_key).unwrap()).id();
    a.say(&format!("/ban {banned_id} 3600"));
    assert_eq!(json(&a.until("\"banned\""))["id"], banned_id.to_string());
    assert!(a.terminate().success());

    let a = start(&dir, &[]);
    let a_enode2 = a.enode();
    assert_eq!(id_of(&a_enode2), id_of(&a_enode));
    // The banned node dials the restarted one and is refused...
    let banned = Node::start_with(
        &["--listen", "127.0.0.1:0", "--json", "--peer", &a_enode2],
        &[("PEERWIRE_KEY", banned_key)],
    );
    banned.enode();
    // ... while another node, dialing at the same time, gets in: the refusal is the ban.
    let other = Node::start(&["--listen", "127.0.0.1:0", "--json", "--peer", &a_enode2]);
    let other_enode = other.enode();
    let added = json(&a.until_within("peer_added", Duration::from_secs(10)));
    assert_eq!(added["id"], id_of(&other_enode));
    let deadline = Instant::now() + Duration::from_secs(4);
    while let Some(line) = a.line_within(deadline.saturating_duration_since(Instant::now())) {
        assert!(
            !line.contains(&banned_id.to_string()),
            "banned node got in: {line}"
        );
    }
}

/// Kills a node with SIGKILL while peers come and go and discovery writes, then restarts it,
/// several times: every restart finds a readable store (no warning) and the same key.
#[test]
fn sigkill_in_the_middle_of_churn_leaves_a_readable_store() {
    let (runtime, servers) = network(6);
    let boot = servers[0].local_enode().to_string();
    let dir = TempDir::new("sigkill");
    let mut id = None;
    for round in 0..5u64 {
        let node = start(&dir, &["--bootnodes", &boot]);
        let enode = node.enode();
        assert_eq!(*id.get_or_insert_with(|| id_of(&enode)), id_of(&enode));
        if round > 0 {
            // Peers from the store come back without waiting for discovery.
            node.until_within("peer_added", Duration::from_secs(10));
        }
        // Churn: servers drop the node, it redials; the store is written meanwhile.
        runtime.block_on(async {
            for s in &servers[1..4] {
                for peer in s.peers() {
                    peer.disconnect(peerwire::wire::DisconnectReason::TooManyPeers);
                }
            }
        });
        std::thread::sleep(Duration::from_millis(700 + 300 * round));
        kill9(&node);
        drop(node);
    }
    let mut last = start(&dir, &[]);
    last.enode();
    assert!(last.terminate_within(Duration::from_secs(10)).success());
    assert_eq!(last.stderr(), "", "no warning: the store was readable");
    drop(runtime);
}

fn kill9(node: &Node) {
    let pid = node.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success());
}

/// `n` servers running foo/1 and discovery on 127.0.0.1, all bootstrapped from the first.
fn network(n: usize) -> (tokio::runtime::Runtime, Vec<ServerHandle>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let servers = runtime.block_on(async {
        let mut servers: Vec<ServerHandle> = Vec::new();
        for _ in 0..n {
            let mut config = ServerConfig::new(NodeKey::random());
            config.listen_addr = Some("127.0.0.1:0".parse().unwrap());
            config.protocols = vec![FooBar::new().0.protocol()];
            config.discovery.mode = DiscoveryMode::Always;
            if let Some(boot) = servers.first() {
                config.discovery.bootnodes = vec![boot.local_enode()];
            }
            servers.push(Server::start(config).await.unwrap());
        }
        servers
    });
    (runtime, servers)
}

/// In a network of 20 nodes on loopback (19 servers and the node), the node restarted with
/// no bootnodes has at least 3 peers within 10 s, from its store alone.
#[test]
fn a_restarted_node_rejoins_without_bootnodes() {
    let (runtime, servers) = network(19);
    let boot = servers[0].local_enode().to_string();
    let dir = TempDir::new("rejoin");
    let node = start(&dir, &["--bootnodes", &boot]);
    node.enode();
    for _ in 0..3 {
        node.until_within("peer_added", Duration::from_secs(30));
    }
    assert!(node.terminate().success());

    let started = Instant::now();
    let node = start(&dir, &[]);
    node.enode();
    let mut peers = std::collections::HashSet::new();
    while peers.len() < 3 {
        let left = Duration::from_secs(10).saturating_sub(started.elapsed());
        let line = node
            .line_within(left)
            .unwrap_or_else(|| panic!("{} peers after 10 s", peers.len()));
        if line.contains("peer_added") {
            peers.insert(json(&line)["id"].as_str().unwrap().to_string());
        }
    }
    eprintln!("rejoined 3 peers in {:?}", started.elapsed());
    drop(node);
    drop(runtime);
}
