//! DNS discovery (EIP-1459): how long a client takes to sync a tree of 1,000 node records
//! from a real DNS server on loopback (`hickory-server`, UDP), beside a baseline measured in
//! the same run: the same TXT lookups made one after another with no checks at all.
//!
//! Also: a re-sync with the root unchanged (one lookup), and one after a single node
//! re-signed its record with a new address (only the changed path is fetched). Run: `cargo bench --bench dns_sync`
//! (`-- --records N --rounds R` to change the defaults, 1,000 and 7).

use std::time::{Duration, Instant};

use peerwire::crypto::NodeKey;
use peerwire::discovery::dns::{DnsClient, DnsConfig, TestDnsServer, Tree, TxtResolver};
use peerwire::discovery::enr;
use peerwire::discovery::v4::Endpoint;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn keys(n: usize, seed: u64) -> Vec<NodeKey> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| NodeKey::generate(&mut rng)).collect()
}

/// Node `i`'s record with sequence number `seq` (its address depends on both).
fn record(key: &NodeKey, i: usize, seq: u64) -> enr::Record {
    let endpoint = Endpoint {
        ip: [10, seq as u8, (i >> 8) as u8, i as u8].into(),
        udp_port: 30303,
        tcp_port: 30303,
    };
    enr::build(key, seq, &endpoint).expect("record")
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = arg("--records", 1000);
    let rounds = arg("--rounds", 7).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = TestDnsServer::start("nodes.bench").await.expect("server");
        let signer = NodeKey::generate(&mut StdRng::seed_from_u64(1));
        let keys = keys(n, 2);
        let mut nodes: Vec<enr::Record> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| record(key, i, 1))
            .collect();
        let tree = Tree::sign(1, &nodes, &[], signer.secret());
        let txt = tree.to_txt("nodes.bench");
        server.publish(&txt).await.expect("publish");
        let url = tree.url("nodes.bench").expect("url");
        println!(
            "dns_sync: {n} records, {} TXT records, server {} (UDP), {rounds} rounds, median",
            txt.len(),
            server.addr()
        );

        // Baseline: every name, one lookup after another, nothing checked.
        let resolver = server.resolver();
        let mut baseline = Vec::new();
        for _ in 0..rounds {
            let start = Instant::now();
            for name in txt.keys() {
                resolver.lookup_txt(name).await.expect("lookup");
            }
            baseline.push(start.elapsed());
        }
        let baseline = median(baseline);

        let mut full = Vec::new();
        let mut fetched = 0;
        for _ in 0..rounds {
            let mut client = DnsClient::new(server.resolver(), DnsConfig::default());
            let start = Instant::now();
            let report = client.sync(&url).await.expect("sync");
            full.push(start.elapsed());
            assert_eq!(report.records.len(), n);
            fetched = report.trees[0].fetched;
        }
        let full = median(full);

        let mut client = DnsClient::new(server.resolver(), DnsConfig::default());
        client.sync(&url).await.expect("sync");
        let mut same = Vec::new();
        for _ in 0..rounds {
            let start = Instant::now();
            client.sync(&url).await.expect("sync");
            same.push(start.elapsed());
        }
        let same = median(same);

        let mut one_changed = Vec::new();
        let mut changed_fetched = 0;
        for round in 0..rounds {
            // One node re-signs its record with a new address (its place in the tree, sorted
            // by node id, stays).
            let i = (round * 97) % n;
            nodes[i] = record(&keys[i], i, 2 + round as u64);
            let next = Tree::sign(2 + round as u64, &nodes, &[], signer.secret());
            server
                .publish(&next.to_txt("nodes.bench"))
                .await
                .expect("publish");
            let start = Instant::now();
            let report = client.sync(&url).await.expect("sync");
            one_changed.push(start.elapsed());
            changed_fetched = report.trees[0].fetched;
        }
        let one_changed = median(one_changed);

        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "baseline  {:>9.1} ms  {} lookups one at a time, unchecked",
            ms(baseline),
            txt.len()
        );
        println!(
            "full sync {:>9.1} ms  {fetched} entries fetched and verified, 8 at once ({:.2}x baseline)",
            ms(full),
            ms(full) / ms(baseline)
        );
        println!(
            "re-sync   {:>9.1} ms  root unchanged ({:.3}x baseline)",
            ms(same),
            ms(same) / ms(baseline)
        );
        println!(
            "re-sync   {:>9.1} ms  one record re-signed, {changed_fetched} entries fetched ({:.3}x baseline)",
            ms(one_changed),
            ms(one_changed) / ms(baseline)
        );
    });
}
