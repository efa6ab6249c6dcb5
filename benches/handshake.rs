//! Full in-memory handshakes per second beside the secp256k1 work a handshake cannot avoid.
//!
//! Per handshake, both roles together: 8 ECDH (per side: ECIES encrypt, ECIES decrypt,
//! static-shared secret for the signature, ephemeral agreement), 3 public-key derivations
//! (two ECIES ephemeral keys and the recipient's ephemeral key; the initiator's ephemeral
//! public key never needs computing), 1 recoverable signature and 1 recovery.
//! Target: handshake rate >= 0.9x the rate of that floor. Run:
//! `cargo bench --bench handshake`.

mod support;

use std::time::Duration;

use bytes::BytesMut;
use criterion::{black_box, Criterion};
use peerwire::crypto::NodeKey;
use peerwire::rlpx::{AckProgress, AuthProgress, Initiator, Recipient};
use peerwire::testdata::Vectors;
use rand::rngs::StdRng;
use rand::SeedableRng;
use secp256k1::{ecdh, Message, SecretKey, SECP256K1};

const GROUP: &str = "handshake";

fn bench_handshake(c: &mut Criterion) {
    let v = Vectors::eip8();
    let (key_a, key_b) = (
        NodeKey::new(v.key("static_key_a")),
        NodeKey::new(v.key("static_key_b")),
    );
    let id_b = key_b.id();
    let mut rng = StdRng::seed_from_u64(3);
    let mut group = c.benchmark_group(GROUP);

    group.bench_function("full", |b| {
        b.iter(|| {
            let initiator = Initiator::new(&mut rng, &key_a, id_b);
            let mut auth = BytesMut::from(initiator.auth_packet());
            let Ok(AuthProgress::Done { ack, secrets }) =
                Recipient::new(&mut rng, &key_b).read_auth(&mut rng, &mut auth)
            else {
                panic!("auth failed")
            };
            let Ok(AckProgress::Done(theirs)) = initiator.read_ack(&mut BytesMut::from(&ack[..]))
            else {
                panic!("ack failed")
            };
            (secrets, theirs)
        })
    });

    let point = id_b.public_key();
    let scalars: Vec<SecretKey> = (0..8).map(|_| SecretKey::new(&mut rng)).collect();
    let message = Message::from_digest([7; 32]);
    let signature = SECP256K1.sign_ecdsa_recoverable(&message, key_a.secret());
    group.bench_function("secp256k1_floor", |b| {
        b.iter(|| {
            for scalar in &scalars {
                black_box(ecdh::shared_secret_point(black_box(&point), scalar));
            }
            for scalar in &scalars[..3] {
                black_box(scalar.public_key(SECP256K1));
            }
            black_box(SECP256K1.sign_ecdsa_recoverable(black_box(&message), key_a.secret()));
            black_box(SECP256K1.recover_ecdsa(black_box(&message), &signature))
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    bench_handshake(&mut c);
    c.final_summary();
    println!("\nhandshake rate relative to its secp256k1 floor:");
    let rate = |ns: f64| format!("{:.0}/s", 1e9 / ns);
    support::report(GROUP, "full", "secp256k1_floor", Some(0.9), rate);
}
