//! Replays every input under `fuzz/seeds/` through its fuzz target's property
//! (`peerwire::fuzzing`, what the fuzzer runs), so CI checks them on stable.
//!
//! `PEERWIRE_WRITE_SEEDS=1 cargo test --test it fuzz_seeds` rewrites the generated seeds;
//! files added by hand (e.g. a crash reproducer) are replayed too.

use std::fs;
use std::path::PathBuf;

use peerwire::fuzzing;

const TARGETS: [&str; 9] = [
    "discv4_packet",
    "dns_entry",
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
            // A frame opened, a complete handshake, a packet, a record with an endpoint.
            assert!(
                fuzzing::check(target, &data),
                "{}: not accepted in full",
                path.display()
            );
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

/// The fuzz targets, their seed folders and the properties in `peerwire::fuzzing` are one set,
/// and each target runs its own property: the replay here checks what the fuzzers check.
#[test]
fn every_fuzz_target_runs_its_property_and_has_seeds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let names = |dir: &str, ext: &str| {
        let mut names: Vec<String> = fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(ext).map(str::to_string))
            .collect();
        names.sort();
        names
    };
    let mut properties: Vec<String> = fuzzing::TARGETS.iter().map(|t| t.name.into()).collect();
    properties.sort();
    let mut replayed: Vec<String> = TARGETS
        .iter()
        .chain(&wire::TARGETS)
        .map(|t| t.to_string())
        .collect();
    replayed.sort();
    assert_eq!(names("fuzz_targets", ".rs"), properties);
    assert_eq!(names("seeds", ""), properties);
    assert_eq!(replayed, properties);
    for name in &properties {
        let source = fs::read_to_string(root.join(format!("fuzz_targets/{name}.rs"))).unwrap();
        assert!(
            source.contains(&format!("peerwire::fuzzing::{name}(data)")),
            "fuzz_targets/{name}.rs does not run its property"
        );
    }
}

fn run(target: &str, data: &[u8]) {
    fuzzing::check(target, data);
}

/// The base-protocol targets: their seeds are built here from the public `peerwire::wire` API
/// alone, and replayed through the same properties the fuzzers run.
mod wire {
    use std::fs;

    use peerwire::crypto::NodeId;
    use peerwire::rlp::RlpStream;
    use peerwire::wire::snappy::compress;
    use peerwire::wire::{Capability, DisconnectReason, Hello, MAX_HELLO_SIZE, P2P_VERSION};

    use peerwire::fuzzing::{self, cap_input};

    use super::seed_dir;

    pub(super) const TARGETS: [&str; 4] = [
        "hello_decode",
        "disconnect_decode",
        "snappy_decode",
        "capability_match",
    ];

    /// A generated seed: file name, bytes, and whether the target's decoder accepts it.
    type Seed = (String, Vec<u8>, bool);

    fn seed(name: &str, bytes: impl Into<Vec<u8>>, accepted: bool) -> Seed {
        (name.to_string(), bytes.into(), accepted)
    }

    /// The secp256k1 generator point: a valid node id that needs no key or vector file.
    fn node_id() -> NodeId {
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\
         483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
            .parse()
            .unwrap()
    }

    fn hello(client_id: &str, capabilities: Vec<Capability>, listen_port: u16) -> Hello {
        Hello {
            protocol_version: P2P_VERSION,
            client_id: client_id.into(),
            capabilities,
            listen_port,
            id: node_id(),
        }
    }

    /// A Hello by hand: `[5, client_id, caps (raw RLP), port, id, extra...]`.
    fn raw_hello(client_id: &[u8], caps: &[u8], port: u64, id: &[u8], extra: &[&[u8]]) -> Vec<u8> {
        let mut s = RlpStream::new_list(5 + extra.len());
        s.append(&P2P_VERSION).append(&client_id);
        s.append_raw(caps, 1).append(&port).append(&id);
        for e in extra {
            s.append_raw(e, 1);
        }
        s.out().to_vec()
    }

    fn hello_seeds() -> Vec<Seed> {
        let caps = vec![
            Capability::new("eth", 68),
            Capability::new("foo", 1),
            Capability::new("snap", 1),
        ];
        let id = node_id();
        let id = id.as_bytes().as_slice();
        let foo1 = [0xc5, 0x83, b'f', b'o', b'o', 0x01];
        let mut odd_caps = RlpStream::new_list(4);
        odd_caps.begin_list(2).append(&"eth").append(&(1u64 << 40));
        odd_caps
            .begin_list(2)
            .append(&vec![0xffu8, 0xfe])
            .append(&1u64);
        odd_caps.append(&"bare");
        odd_caps
            .begin_list(3)
            .append(&"foo")
            .append(&1u64)
            .append(&"x");
        // The longest client id that keeps the Hello within MAX_HELLO_SIZE, and one byte more.
        let fit = (0..MAX_HELLO_SIZE)
            .rev()
            .map(|n| hello(&"a".repeat(n), vec![], 1).encode())
            .find(|h| h.len() <= MAX_HELLO_SIZE)
            .unwrap();
        let over = hello(&"a".repeat(MAX_HELLO_SIZE), vec![], 1).encode();
        vec![
            seed("valid", hello("peerwire/0.1.0", caps, 30303).encode(), true),
            seed("no_caps_no_port", hello("", vec![], 0).encode(), true),
            seed("max_size", fit, true),
            seed(
                "extra_elements",
                raw_hello(
                    b"x",
                    &[0xc6, 0xc5, 0x83, b'f', b'o', b'o', 1],
                    1,
                    id,
                    &[&[0x01], &[0xc0]],
                ),
                true,
            ),
            seed(
                "port_above_u16",
                raw_hello(b"x", &[0xc0], 70_000, id, &[]),
                true,
            ),
            seed(
                "unreadable_caps",
                raw_hello(b"x", &odd_caps.out(), 1, id, &[]),
                true,
            ),
            // 700 invalid UTF-8 bytes read as 2,100 bytes of U+FFFD: the re-encoding is too
            // large to be read back.
            seed(
                "lossy_client_id",
                raw_hello(&[0xff; 700], &[0xc0], 1, id, &[]),
                true,
            ),
            seed("too_large", over, false),
            seed(
                "short_id",
                raw_hello(b"x", &[0xc0], 1, &id[..63], &[]),
                false,
            ),
            seed(
                "off_curve_id",
                raw_hello(b"x", &[0xc0], 1, &[0; 64], &[]),
                false,
            ),
            seed(
                "caps_not_a_list",
                raw_hello(b"x", &foo1[1..5], 1, id, &[]),
                false,
            ),
            seed("not_a_list", [0x05], false),
            seed("empty", [], false),
        ]
    }

    fn disconnect_seeds() -> Vec<Seed> {
        let mut seeds: Vec<Seed> = DisconnectReason::all()
            .iter()
            .map(|r| seed(&format!("list_{:02x}", r.code()), r.encode(), true))
            .collect();
        seeds.extend([
            seed("bare_zero", [0x80], true),
            seed("bare_too_many_peers", [0x04], true),
            seed("bare_subprotocol", [0x10], true),
            seed("zero_byte", [0x00], true),
            seed("empty", [], true),
            seed("empty_list", [0xc0], true),
            seed(
                "snappy_list",
                DisconnectReason::TooManyPeers.encode_message(peerwire::wire::PayloadCodec::Snappy),
                true,
            ),
            seed("snappy_bare", compress(&[0x08]), true),
            seed("unknown_bare", [0x0c], false),
            seed("unknown_list", [0xc1, 0x0c], false),
            seed(
                "unknown_u64_max",
                [0xc9, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                false,
            ),
            seed("nested_list", [0xc2, 0xc0, 0x01], false),
            seed("truncated_list", [0xc5, 0x01], false),
            seed("trailing_byte", [0xc1, 0x04, 0x00], false),
            seed("snappy_above_64", compress(&[0x04; 65]), false),
        ]);
        seeds
    }

    fn snappy_seeds() -> Vec<Seed> {
        let repeated = b"hello hello hello hello hello hello".repeat(4);
        vec![
            // The uncompressed length is a varint at the start of the block.
            seed("declares_2_24", [0x80, 0x80, 0x80, 0x08], false),
            seed(
                "declares_frame_max_no_data",
                [0xff, 0xff, 0xff, 0x07],
                false,
            ),
            seed("short_literal", [0x03, 0x08, b'a', b'b', b'c'], true),
            seed(
                "literal_short_of_declared",
                [0x0a, 0x08, b'a', b'b', b'c'],
                false,
            ),
            seed("copy_before_start", [0x04, 0x01, 0x00], false),
            seed("empty_block", [0x00], true),
            seed("empty", [], false),
            seed("copies", compress(&repeated), true),
            seed("at_small_limit", compress(&[7; 64]), true),
            seed("above_small_limit", compress(&[7; 100]), true),
            seed(
                "disconnect",
                DisconnectReason::Quitting.encode_message(peerwire::wire::PayloadCodec::Snappy),
                true,
            ),
        ]
    }

    fn capability_seeds() -> Vec<Seed> {
        // Name indices into the capability names of `peerwire::fuzzing`: 0 "", 1 a, 3 b, 4 eth, 5 Eth, 8 snap,
        // 10 foo, 11 bar, 12 é, 13 e + combining acute, 14 zzz, 15 A.
        let same = |caps: &[(u8, u8, u8)]| {
            let remote: Vec<(u8, u8)> = caps.iter().map(|(n, v, _)| (*n, *v)).collect();
            cap_input(caps, &remote)
        };
        vec![
            seed("one_shared", cap_input(&[(10, 1, 3)], &[(10, 1)]), true),
            seed("no_overlap", cap_input(&[(10, 1, 1)], &[(11, 1)]), false),
            seed(
                "version_mismatch",
                cap_input(&[(10, 2, 1)], &[(10, 1)]),
                false,
            ),
            seed(
                "highest_shared_version",
                cap_input(
                    &[(4, 2, 17), (4, 3, 17), (4, 4, 18)],
                    &[(4, 2), (4, 3), (4, 5)],
                ),
                true,
            ),
            seed(
                "sorted_by_name",
                cap_input(
                    &[(14, 1, 2), (4, 1, 17), (10, 1, 1)],
                    &[(10, 1), (14, 1), (4, 1)],
                ),
                true,
            ),
            seed(
                "case_and_unicode",
                same(&[(4, 1, 1), (5, 1, 4), (12, 1, 2), (13, 1, 3), (15, 1, 1)]),
                true,
            ),
            seed("zero_length", same(&[(1, 1, 0), (3, 1, 2)]), true),
            seed(
                "remote_duplicates",
                cap_input(&[(10, 1, 1)], &[(10, 1), (10, 1)]),
                true,
            ),
            seed(
                "top_versions",
                same(&[(8, 0xff, 255), (8, 0xf8, 255)]),
                true,
            ),
            seed("empty_name", same(&[(0, 0, 1)]), true),
            seed("local_count_beyond_input", [200, 10, 1, 1], false),
            seed("empty", [], false),
        ]
    }

    fn seeds(target: &str) -> Vec<Seed> {
        match target {
            "hello_decode" => hello_seeds(),
            "disconnect_decode" => disconnect_seeds(),
            "snappy_decode" => snappy_seeds(),
            _ => capability_seeds(),
        }
    }

    /// Runs the target's property; whether its decoder accepted the input.
    fn accepts(target: &str, data: &[u8]) -> bool {
        fuzzing::check(target, data)
    }

    #[test]
    fn committed_seeds_match_the_generator() {
        for target in TARGETS {
            let dir = seed_dir(target);
            if std::env::var_os("PEERWIRE_WRITE_SEEDS").is_some() {
                fs::create_dir_all(&dir).unwrap();
                for (name, bytes, _) in seeds(target) {
                    fs::write(dir.join(name), bytes).unwrap();
                }
            }
            for (name, bytes, _) in seeds(target) {
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
    fn every_seed_passes_the_checks() {
        for target in TARGETS {
            let expected = seeds(target);
            let mut count = 0;
            for entry in fs::read_dir(seed_dir(target)).unwrap() {
                let path = entry.unwrap().path();
                let data = fs::read(&path).unwrap();
                let file = path.file_name().unwrap().to_string_lossy().into_owned();
                let accepted = accepts(target, &data);
                // Files added by hand (crash reproducers) only have to pass the checks.
                if let Some((_, _, want)) = expected.iter().find(|(n, _, _)| *n == file) {
                    assert_eq!(accepted, *want, "{target}/{file}: accepted = {accepted}");
                }
                count += 1;
            }
            assert!(count >= 3, "{target}: only {count} seeds");
        }
    }

    #[test]
    fn targets_survive_mangled_seeds() {
        // Truncations and bit flips of every seed must pass the checks too.
        for target in TARGETS {
            for (_, seed, _) in seeds(target) {
                for cut in (0..=seed.len()).step_by(3) {
                    let mut data = seed[..cut].to_vec();
                    accepts(target, &data);
                    for flip in [0x01, 0x41, 0x80] {
                        if let Some(last) = data.len().checked_sub(1) {
                            data[last] ^= flip;
                            accepts(target, &data);
                            data[last] ^= flip;
                        }
                    }
                }
            }
        }
    }
}
