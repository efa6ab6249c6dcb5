//! The status page in a real browser: Debian's headless `chromium` loads the page of a node
//! with two peers, after its script ran (`--virtual-time-budget`), and a screenshot is kept at
//! `target/ci-artifacts/status-page.png`.
//!
//! Without `chromium` on PATH the test skips with one line on stderr; with `CI` set (as
//! `.ci/run` runs, which installs it) a missing browser fails it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use peerwire::testdata::tools;

use crate::{json, run, Node};

/// The browser gets this long per run (it starts in about a second).
const BROWSER_LIMIT: Duration = Duration::from_secs(60);
/// Virtual time the page runs before the DOM is dumped: several polls of one second.
const PAGE_TIME_MS: &str = "4000";
/// What a machine without the browser lacks.
const NEEDS: &str = "needs Debian's chromium on PATH (apt-get install chromium)";

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
}

/// Runs chromium headless with `args` and the page `url`; its stdout. Bounded by
/// [`BROWSER_LIMIT`], killed past it.
fn browse(browser: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            // As root (CI) the sandbox cannot start; the page is our own.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--virtual-time-budget={PAGE_TIME_MS}"),
        ])
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut { stdout }, &mut out);
        out
    });
    let deadline = Instant::now() + BROWSER_LIMIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {BROWSER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

#[test]
fn the_status_page_shows_both_peers_in_a_real_browser() {
    let browser = chromium();
    if tools::skip(browser.is_none().then_some(NEEDS)) {
        return;
    }
    let browser = browser.expect("not skipped");
    let a = Node::start(&[
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--name",
        "status-page/1",
        "--rpc",
        "127.0.0.1:0",
    ]);
    let a_enode = a.event("listening")["enode"].as_str().unwrap().to_string();
    let url = a.event("rpc")["url"].as_str().unwrap().to_string();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let peers: Vec<(Node, String)> = ["bob/1", "carol/1"]
        .into_iter()
        .map(|name| {
            let n = Node::start(&[
                "--listen",
                "127.0.0.1:0",
                "--json",
                "--name",
                name,
                "--peer",
                &a_enode,
            ]);
            let enode = n.event("listening")["enode"].as_str().unwrap().to_string();
            (n, enode[8..136].to_string())
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = run(&["attach", &addr, "admin_peers"]);
        let listed = json(&String::from_utf8_lossy(&out.stdout));
        if listed.as_array().is_some_and(|l| l.len() == 2) {
            break;
        }
        assert!(Instant::now() < deadline, "two peers within 10 s: {listed}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let profile = std::env::temp_dir().join(format!("peerwire-chromium-{}", std::process::id()));
    let dom = browse(&browser, &profile, &["--dump-dom"], &url);
    for (_, id) in &peers {
        assert!(
            dom.contains(&format!("data-id=\"{id}\"")),
            "peer {id} not on the page:\n{dom}"
        );
    }
    assert!(dom.contains("bob/1") && dom.contains("carol/1"), "{dom}");
    assert!(dom.contains("status-page/1"), "{dom}");
    assert!(dom.contains(&a_enode), "{dom}");
    assert!(dom.contains("inbound"), "{dom}");
    assert!(
        dom.contains("live ·"),
        "the script did not reach the node:\n{dom}"
    );

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ci-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    browse(
        &browser,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,800",
        ],
        &url,
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let _ = std::fs::remove_dir_all(&profile);
}

/// Without `chromium` on PATH the browser test skips with one line and passes, unless `CI`
/// is set, when it fails.
#[test]
fn without_chromium_the_browser_test_skips_or_fails_on_ci() {
    tools::assert_skips_off_ci_and_fails_on_ci(
        "status_page::the_status_page_shows_both_peers_in_a_real_browser",
        "apt-get install chromium",
    );
}
