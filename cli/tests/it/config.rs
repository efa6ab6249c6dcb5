//! `--config FILE` and `dumpconfig`, through the binary.

use crate::{assert_clean_failure, json, run, stderr, Node};

fn dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("peerwire-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_node_runs_from_a_config_file_and_flags_override_it() {
    let dir = dir("run");
    let file = dir.join("node.toml");
    std::fs::write(
        &file,
        "# a node\nlisten = \"127.0.0.1:0\"\nname = \"from-file/1\"\njson = true\nnodiscover = true\n\
         rpc = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let node = Node::start(&["--config", path, "--name", "from-flag/2"]);
    let listening = node.event("listening");
    assert!(listening["enode"].as_str().unwrap().starts_with("enode://"));
    let rpc = node.event("rpc")["url"].as_str().unwrap().to_string();
    let addr = rpc.trim_start_matches("http://").trim_end_matches('/');
    let out = run(&["attach", addr, "admin_nodeInfo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let info = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(info["name"], "from-flag/2");
    // Discovery is off, as the file says.
    assert_eq!(info["ports"]["discovery"], 0);

    let out = run(&["dumpconfig", "--config", path, "--max-peers", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dumped = String::from_utf8(out.stdout).unwrap();
    for line in [
        "listen = \"127.0.0.1:0\"\n",
        "name = \"from-file/1\"\n",
        "max-peers = 5\n",
        "nodiscover = true\n",
        "rpc = \"127.0.0.1:0\"\n",
        "# datadir =\n",
    ] {
        assert!(dumped.contains(line), "{line:?} missing from:\n{dumped}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_key_or_a_bad_value_is_one_line_naming_it_and_its_line() {
    let dir = dir("bad");
    let file = dir.join("node.toml");
    let path = file.to_str().unwrap();
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n\n# typo below\nmax_peers = 3\n",
    )
    .unwrap();
    let out = run(&["node", "--config", path]);
    assert_clean_failure(&out, &format!("{path}:4: unknown key \"max_peers\""));
    assert_eq!(out.status.code(), Some(2));

    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\nbootnodes = [\"enode://zz\"]\n",
    )
    .unwrap();
    let out = run(&["dumpconfig", "--config", path]);
    assert_clean_failure(&out, &format!("{path}:2: bad value for \"bootnodes\""));

    let out = run(&[
        "node",
        "--config",
        dir.join("missing.toml").to_str().unwrap(),
    ]);
    assert_clean_failure(&out, "cannot read the config file");
    std::fs::remove_dir_all(&dir).unwrap();
}
