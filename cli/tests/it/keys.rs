//! Where the node key comes from, and the warning for a key on the command line.

use peerwire::crypto::{parse_secret_key, NodeKey};

use std::time::Duration;

use super::Node;

const KEY: &str = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";
const OTHER: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";

fn id_of(hex: &str) -> String {
    NodeKey::new(parse_secret_key(hex).unwrap())
        .id()
        .to_string()
}

/// Starts a node, checks the id it announces, stops it and returns its stderr.
fn announced(args: &[&str], env: &[(&str, &str)], key: &str) -> String {
    let mut all = vec!["--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let node = Node::start_with(&all, env);
    let enode = node.enode();
    assert!(
        enode.starts_with(&format!("enode://{}@", id_of(key))),
        "{enode}"
    );
    let mut node = node;
    assert!(node.terminate_within(Duration::from_secs(10)).success());
    node.stderr()
}

#[test]
fn a_key_comes_from_the_environment_quietly() {
    let err = announced(&[], &[("PEERWIRE_KEY", KEY)], KEY);
    assert_eq!(err, "", "no warning");
}

#[test]
fn a_key_file_comes_before_the_environment_quietly() {
    let dir = std::env::temp_dir().join(format!("peerwire-cli-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("node.key");
    std::fs::write(&file, format!("{OTHER}\n")).unwrap();
    let path = file.to_str().unwrap();
    let err = announced(&["--keyfile", path], &[("PEERWIRE_KEY", KEY)], OTHER);
    assert_eq!(err, "", "no warning");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_on_the_command_line_works_but_warns_that_others_can_see_it() {
    let err = announced(&["--key", KEY], &[], KEY);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("warning"), "{err:?}");
    assert!(err.contains("visible to other users"), "{err:?}");
    assert!(
        err.contains("--keyfile") && err.contains("PEERWIRE_KEY"),
        "{err:?}"
    );
}

#[test]
fn a_bad_key_in_the_environment_fails_with_one_line() {
    let mut node = Node::start_with(&["--listen", "127.0.0.1:0"], &[("PEERWIRE_KEY", "not hex")]);
    let status = node.exit_within(Duration::from_secs(10));
    assert!(!status.success());
    let err = node.stderr();
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("bad PEERWIRE_KEY"), "{err:?}");
}
