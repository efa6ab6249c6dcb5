//! Replays every input under `fuzz/seeds/` through its fuzz target, so CI runs them on stable.
//!
//! `PEERWIRE_WRITE_SEEDS=1 cargo test --test fuzz_seeds` rewrites the seeds built from the
//! vectors; files added by hand (e.g. a crash reproducer) are replayed too.

use std::fs;
use std::path::PathBuf;

use peerwire::fuzzing;

const TARGETS: [&str; 8] = [
    "discv4_packet",
    "enr_decode",
    "frame_decode",
    "frame_plaintext",
    "auth_decode",
    "ack_decode",
    "auth_body",
    "ack_body",
];

fn seed_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
}

#[test]
fn committed_seeds_match_the_vectors() {
    for target in TARGETS {
        let dir = seed_dir(target);
        if std::env::var_os("PEERWIRE_WRITE_SEEDS").is_some() {
            fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in fuzzing::seeds(target) {
                fs::write(dir.join(name), bytes).unwrap();
            }
        }
        for (name, bytes) in fuzzing::seeds(target) {
            let committed = fs::read(dir.join(&name))
                .unwrap_or_else(|e| panic!("{target}/{name}: {e}; regenerate the seeds"));
            assert_eq!(
                committed, bytes,
                "{target}/{name} is stale; regenerate the seeds"
            );
        }
    }
}

#[test]
fn every_seed_decodes_fully() {
    for target in TARGETS {
        let mut count = 0;
        for entry in fs::read_dir(seed_dir(target)).unwrap() {
            let path = entry.unwrap().path();
            let data = fs::read(&path).unwrap();
            let name = path.display();
            match target {
                "frame_decode" => {
                    let frames =
                        fuzzing::frame_decode(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(frames >= 1, "{name}: no frame opened");
                }
                "discv4_packet" => {
                    let p = fuzzing::discv4_packet(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_ne!(p.hash, [0; 32], "{name}");
                }
                "enr_decode" => {
                    let enode =
                        fuzzing::enr_decode(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(enode.is_some(), "{name}: no endpoint");
                }
                "frame_plaintext" => {
                    let frame = fuzzing::frame_plaintext(&data);
                    assert!(frame.is_ok(), "{name}: {frame:?}");
                }
                "auth_body" => {
                    let id = fuzzing::auth_body(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(id.is_some(), "{name}: incomplete");
                }
                "ack_body" => {
                    let id = fuzzing::ack_body(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(id.is_some(), "{name}: incomplete");
                }
                "auth_decode" => {
                    let id = fuzzing::auth_decode(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(id.is_some(), "{name}: incomplete");
                }
                _ => {
                    let id = fuzzing::ack_decode(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(id.is_some(), "{name}: incomplete");
                }
            }
            count += 1;
        }
        assert!(count >= 3, "{target}: only {count} seeds");
    }
}

#[test]
fn targets_survive_mangled_seeds() {
    // A cheap stand-in for the fuzzer on stable: truncations and bit flips of every seed
    // must give an error or "need more", never a panic.
    for target in TARGETS {
        for (_, seed) in fuzzing::seeds(target) {
            for cut in (0..seed.len()).step_by(7) {
                let mut data = seed[..cut].to_vec();
                run(target, &data);
                if let Some(b) = data.last_mut() {
                    *b ^= 0x41;
                    run(target, &data);
                }
            }
        }
    }
}

fn run(target: &str, data: &[u8]) {
    match target {
        "frame_decode" => drop(fuzzing::frame_decode(data)),
        "discv4_packet" => drop(fuzzing::discv4_packet(data)),
        "enr_decode" => drop(fuzzing::enr_decode(data)),
        "frame_plaintext" => drop(fuzzing::frame_plaintext(data)),
        "auth_body" => drop(fuzzing::auth_body(data)),
        "ack_body" => drop(fuzzing::ack_body(data)),
        "auth_decode" => drop(fuzzing::auth_decode(data)),
        _ => drop(fuzzing::ack_decode(data)),
    }
}
