//! Tests that drive a program from outside Rust (Node.js, chromium, miniupnpd): on a machine
//! without it they skip, printing one line that says what to install; with `CI` set a missing
//! program fails them instead, so CI cannot pass by skipping.

use std::io::Write as _;
use std::process::Command;

/// `CI` is set to anything but empty, `0` or `false` in any case (CI services set
/// `CI=true`); `.ci/run` reads it the same way.
fn on_ci() -> bool {
    means_ci(std::env::var("CI").ok().as_deref())
}

fn means_ci(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

/// Call first in a test that needs an outside program. `missing` says what is missing and
/// how to get it (`None`: nothing is). Returns `true` when the test should return now: it was
/// skipped, and one line `skipped TEST: MISSING` went to stderr. Panics when `CI` is set.
pub fn skip(missing: Option<&str>) -> bool {
    let Some(missing) = missing else {
        return false;
    };
    // libtest names the thread after the test.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    if on_ci() {
        panic!("CI is set and {test} cannot run: {missing}");
    }
    // Straight to stderr: the harness captures `eprintln!` of passing tests.
    let _ = writeln!(std::io::stderr(), "skipped {test}: {missing}");
    true
}

/// Runs the test `test` (its full path, e.g. `interop::pings`) of the running test binary
/// again, with `PATH` leading nowhere, first without `CI` and then with `CI=true`, and
/// asserts what [`skip`] promises: without `CI` it passes after one `skipped` line that
/// contains `hint`; with `CI` it fails, saying why.
pub fn assert_skips_off_ci_and_fails_on_ci(test: &str, hint: &str) {
    let run = |ci: Option<&str>| {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd = Command::new(exe);
        // Not an empty PATH: execvp falls back to a default search path for that.
        cmd.args(["--exact", test])
            .env("PATH", "/nonexistent/peerwire-tests-without-tools")
            .env_remove("CI")
            // The failure's message is looked for in stdout, where libtest puts it when it
            // captures output.
            .env_remove("RUST_TEST_NOCAPTURE");
        if let Some(ci) = ci {
            cmd.env("CI", ci);
        }
        let out = cmd.output().expect("the test binary runs");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };

    let (ok, stdout, stderr) = run(None);
    assert!(ok, "without CI {test} skips:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{test} did not run:\n{stdout}");
    let skipped: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("skipped "))
        .collect();
    assert_eq!(skipped.len(), 1, "one skip line:\n{stderr}");
    assert!(
        skipped[0].contains(test) && skipped[0].contains(hint),
        "the skip line names {test} and says {hint:?}: {}",
        skipped[0]
    );

    let (ok, stdout, stderr) = run(Some("true"));
    assert!(!ok, "with CI {test} fails:\n{stdout}\n{stderr}");
    assert!(stdout.contains("CI is set"), "{stdout}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_is_any_value_but_empty_zero_or_false() {
        for set in ["true", "1", "yes", "github"] {
            assert!(means_ci(Some(set)), "{set}");
        }
        for unset in [
            None,
            Some(""),
            Some(" "),
            Some("0"),
            Some("false"),
            Some("FALSE"),
        ] {
            assert!(!means_ci(unset), "{unset:?}");
        }
    }

    #[test]
    fn nothing_missing_runs_the_test() {
        assert!(!skip(None));
    }
}
