//! Time to the first neighbour: from starting a discovery service given one bootnode to the
//! first node a lookup returns, over discv5 and, as the baseline measured in the same run,
//! over discv4. A five-node network on 127.0.0.1 (a bootnode and four nodes that know it, each
//! running discv4 and discv5 on one port); each round starts a fresh node of each version,
//! which stays up until the end (a stopped one would stay in the bootnode's tables, and later
//! lookups would wait for its timeouts).
//!
//! ```sh
//! cargo run --example discv5_first_neighbour [-- ROUNDS]
//! ```

use std::time::{Duration, Instant};

use peerwire::crypto::NodeKey;
use peerwire::discovery::v4::{Discv4Handle, ServiceConfig};
use peerwire::discovery::v5::{Discv5Config, Discv5Handle};

const NEIGHBOURS: usize = 4;
/// A round that finds nobody within this fails the run.
const LIMIT: Duration = Duration::from_secs(10);

fn config() -> ServiceConfig {
    let local = "127.0.0.1:0".parse().expect("a socket address");
    ServiceConfig::new(NodeKey::random(), local, 0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 5,
    };
    let (boot5, boot4) = Discv5Handle::spawn_with_v4(config(), Discv5Config::default()).await?;
    let mut network = vec![(boot5.clone(), boot4.clone())];
    for _ in 0..NEIGHBOURS {
        let mut c = config();
        c.driver.bootnodes = vec![boot4.local_enode()];
        let mut v5 = Discv5Config::default();
        v5.bootnodes = vec![boot5.local_enr()];
        let (n5, n4) = Discv5Handle::spawn_with_v4(c, v5).await?;
        // One lookup each, so that the bootnode holds them in both tables.
        n5.lookup_random().await?;
        n4.lookup_random().await?;
        network.push((n5, n4));
    }

    let (mut v5_times, mut v4_times) = (Vec::new(), Vec::new());
    let (mut fresh_v5, mut fresh_v4) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        let mut v5 = Discv5Config::default();
        v5.bootnodes = vec![boot5.local_enr()];
        let fresh = Discv5Handle::spawn(config(), v5).await?;
        tokio::time::timeout(LIMIT, async {
            while fresh.lookup_random().await?.is_empty() {}
            Ok::<_, peerwire::discovery::v5::Discv5QueryError>(())
        })
        .await??;
        v5_times.push(start.elapsed());
        fresh_v5.push(fresh);

        let start = Instant::now();
        let mut c = config();
        c.driver.bootnodes = vec![boot4.local_enode()];
        let fresh = Discv4Handle::spawn(c).await?;
        tokio::time::timeout(LIMIT, async {
            loop {
                match fresh.lookup_random().await {
                    Ok(found) if !found.is_empty() => return Ok(()),
                    Ok(_) | Err(peerwire::discovery::v4::QueryError::Busy) => {}
                    Err(e) => return Err(e),
                }
            }
        })
        .await??;
        v4_times.push(start.elapsed());
        fresh_v4.push(fresh);
    }
    let ms = |d: &Duration| d.as_secs_f64() * 1e3;
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let list = |times: &[Duration]| {
        times
            .iter()
            .map(|d| format!("{:.1}", ms(d)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("discv5 first neighbour, ms: {}", list(&v5_times));
    println!("discv4 first neighbour, ms: {}", list(&v4_times));
    if rounds > 0 {
        let (m5, m4) = (median(&mut v5_times), median(&mut v4_times));
        println!(
            "median over {rounds} rounds: discv5 {:.1} ms, discv4 {:.1} ms (discv5 / discv4 = {:.2})",
            ms(&m5),
            ms(&m4),
            m5.as_secs_f64() / m4.as_secs_f64().max(1e-9)
        );
    }
    for (v5, v4) in network {
        v5.stop();
        v4.stop();
    }
    fresh_v5.iter().for_each(Discv5Handle::stop);
    fresh_v4.iter().for_each(Discv4Handle::stop);
    Ok(())
}
