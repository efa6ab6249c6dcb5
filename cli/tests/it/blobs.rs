//! `node --blobs DIR` serves the files put in DIR; `get` fetches one by its sha256.

use super::{assert_clean_failure, json, run, stderr, Node};

#[test]
fn get_fetches_a_served_file_by_hash_and_fails_cleanly_on_an_unknown_one() {
    let base = std::env::temp_dir().join(format!("peerwire-cli-blobs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dir = base.join("served");
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..3 << 20).map(|_| rand::random::<u8>()).collect();
    std::fs::write(dir.join("random.bin"), &data).unwrap();

    let node = Node::start(&[
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--nodiscover",
        "--blobs",
        dir.to_str().unwrap(),
    ]);
    let enode = node.enode();
    let added = json(&node.until("blob_added"));
    assert_eq!(added["name"], "random.bin");
    assert_eq!(added["size"], 3 << 20);
    let hash = added["hash"].as_str().unwrap().to_string();
    assert_eq!(hash.len(), 64);

    let out_file = base.join("fetched.bin");
    let out_path = out_file.to_str().unwrap();
    let out = run(&["get", &enode, &hash, "--out", out_path, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let fetched = json(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(fetched["event"], "blob_fetched");
    assert_eq!(fetched["hash"], hash.as_str());
    assert_eq!(fetched["size"], 3 << 20);
    assert!(std::fs::read(&out_file).unwrap() == data, "bytes differ");

    // Text output to a pipe: no progress bar on stderr.
    let piped = base.join("piped.bin");
    let out = run(&["get", &enode, &hash, "--out", piped.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no bar when piped");
    // On a terminal: the bar, with bytes of the total, a rate and the time left.
    let shown = base.join("terminal.bin");
    let screen = super::run_on_terminal(&["get", &enode, &hash, "--out", shown.to_str().unwrap()]);
    assert!(
        screen.contains("/3.00 MiB") && screen.contains("ETA"),
        "{screen:?}"
    );
    assert!(screen.contains("fetched"), "{screen:?}");
    assert!(std::fs::read(&shown).unwrap() == data, "bytes differ");

    let unknown = "00".repeat(32);
    let missing = base.join("missing.bin");
    let out = run(&["get", &enode, &unknown, "--out", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_clean_failure(&out, "does not have blob");
    assert!(!missing.exists(), "no file for a failed fetch");

    let bad = run(&["get", &enode, "xyz", "--out", missing.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
    assert_clean_failure(&bad, "64 hex digits");
    let again = run(&["get", &enode, &hash, "--out", out_path]);
    assert_clean_failure(&again, "already exists");

    assert!(node.terminate().success());
    std::fs::remove_dir_all(&base).unwrap();
}
