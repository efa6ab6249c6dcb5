//! `peerwire dns`: sign a node list for DNS (EIP-1459) and print its TXT records; sync a
//! published list; and the `node --dns-discovery` source.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peerwire::discovery::dns::{DnsClient, DnsConfig, HickoryResolver, Link, Tree, TxtResolver};
use peerwire::discovery::enr::{self, Record};
use peerwire::discovery::source::NodeStream;
use serde_json::json;

use crate::key::KeyArgs;

#[derive(clap::Subcommand, Debug)]
pub(crate) enum DnsCommand {
    /// Build a tree from node records and sign it; print its URL and the TXT records to
    /// publish (JSON name → text, or zone-file lines with --zone).
    Sign(SignArgs),
    /// Resolve a tree (and the trees it links to) and print its node records.
    Sync {
        /// The tree: enrtree://KEY@DOMAIN.
        url: Link,
        /// Ask this DNS server (IP:PORT) instead of the system's resolver.
        #[arg(long, value_name = "ADDR")]
        server: Option<SocketAddr>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub(crate) struct SignArgs {
    /// File of node records, one `enr:...` per line (blank lines and `#` comments skipped).
    #[arg(long)]
    input: PathBuf,
    /// The domain the tree is published at (its root's TXT record).
    #[arg(long)]
    domain: String,
    /// The tree's sequence number; by default the current UNIX time in seconds, so that
    /// every new signing has a higher one.
    #[arg(long)]
    seq: Option<u64>,
    /// Links to other trees: enrtree:// URLs, comma-separated.
    #[arg(long, value_delimiter = ',')]
    link: Vec<Link>,
    /// The signing key.
    #[command(flatten)]
    key: KeyArgs,
    /// Print zone-file lines (`name ttl IN TXT "..."`, 255-byte pieces) instead of JSON.
    #[arg(long)]
    zone: bool,
    /// TTL of the root in zone-file output (seconds).
    #[arg(long, default_value_t = 60)]
    root_ttl: u32,
    /// TTL of the other entries in zone-file output (seconds).
    #[arg(long, default_value_t = 86_400)]
    entry_ttl: u32,
}

pub(crate) async fn run(command: DnsCommand) -> Result<(), String> {
    match command {
        DnsCommand::Sign(args) => sign(args),
        DnsCommand::Sync {
            url,
            server,
            timeout,
            json,
        } => {
            let config = DnsConfig {
                sync_timeout: Duration::from_secs(timeout),
                ..DnsConfig::default()
            };
            match server {
                Some(addr) => {
                    let resolver = HickoryResolver::with_server(addr, Duration::from_secs(2));
                    sync(resolver, &url, config, json).await
                }
                None => sync(system_resolver()?, &url, config, json).await,
            }
        }
    }
}

fn system_resolver() -> Result<HickoryResolver, String> {
    HickoryResolver::from_system_conf()
        .map_err(|e| format!("cannot read the DNS configuration: {e}"))
}

fn sign(args: SignArgs) -> Result<(), String> {
    let key = args
        .key
        .given()?
        .ok_or("dns sign needs the signing key: --keyfile, --key or $PEERWIRE_KEY")?;
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| format!("cannot read {}: {e}", args.input.display()))?;
    let mut records = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let record: Record = line
            .parse()
            .map_err(|e| format!("{}:{}: not a node record: {e}", args.input.display(), n + 1))?;
        records.push(record);
    }
    let seq = match args.seq {
        Some(seq) => seq,
        None => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970: give --seq")?
            .as_secs(),
    };
    let tree = Tree::sign(seq, &records, &args.link, key.secret());
    let ttls = args.zone.then_some((args.root_ttl, args.entry_ttl));
    print!("{}", render(&tree, &args.domain, records.len(), ttls)?);
    Ok(())
}

/// What `dns sign` prints: a JSON object (`url`, `seq`, `records`: name → TXT text), or with
/// `zone_ttls` (root, entries) a comment line with the URL and the zone-file lines.
fn render(
    tree: &Tree,
    domain: &str,
    records: usize,
    zone_ttls: Option<(u32, u32)>,
) -> Result<String, String> {
    let url = tree
        .url(domain)
        .map_err(|e| format!("bad --domain {domain:?}: {e}"))?;
    let seq = tree.root().seq;
    Ok(match zone_ttls {
        Some((root_ttl, entry_ttl)) => format!(
            "; {url} seq={seq} records={records}\n{}",
            tree.to_zone(root_ttl, entry_ttl)
        ),
        None => format!(
            "{}\n",
            json!({ "url": url.to_string(), "seq": seq, "records": tree.to_txt(domain) })
        ),
    })
}

async fn sync<R: TxtResolver>(
    resolver: R,
    url: &Link,
    config: DnsConfig,
    json: bool,
) -> Result<(), String> {
    let mut client = DnsClient::new(resolver, config);
    let report = client.sync(url).await.map_err(|e| format!("{url}: {e}"))?;
    for (link, error) in &report.refused {
        eprintln!("peerwire: linked tree {link} refused: {error}");
    }
    for record in &report.records {
        let enode = enr::to_enode(record).map(|e| e.to_string());
        if json {
            println!(
                "{}",
                json!({ "enr": record.to_base64(), "enode": enode, "seq": record.seq() })
            );
        } else {
            println!("{}", enode.unwrap_or_else(|| record.to_base64()));
        }
    }
    if !json {
        for tree in &report.trees {
            eprintln!("{}: seq {}, {} entries", tree.link, tree.seq, tree.entries);
        }
    }
    Ok(())
}

/// One node source per `enrtree://` URL, resolved through the system's resolver.
pub(crate) fn sources(urls: &[Link]) -> Result<Vec<NodeStream>, String> {
    if urls.is_empty() {
        return Ok(Vec::new());
    }
    let resolver = system_resolver()?;
    Ok(urls
        .iter()
        .map(|url| {
            peerwire::discovery::dns::node_source(
                resolver.clone(),
                url.clone(),
                DnsConfig::default(),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use peerwire::crypto::NodeKey;
    use peerwire::discovery::dns::MemoryResolver;

    use super::*;

    /// EIP-1459's example records.
    const RECORDS: [&str; 3] = [
        "enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56CH3AMBgmlkgnY0iXNlY3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA",
        "enr:-HW4QAggRauloj2SDLtIHN1XBkvhFZ1vtf1raYQp9TBW2RD5EEawDzbtSmlXUfnaHcvwOizhVYLtr7e6vw7NAf6mTuoCgmlkgnY0iXNlY3AyNTZrMaECjrXI8TLNXU0f8cthpAMxEshUyQlK-AM0PW2wfrnacNI",
        "enr:-HW4QLAYqmrwllBEnzWWs7I5Ev2IAs7x_dZlbYdRdMUx5EyKHDXp7AV5CkuPGUPdvbv1_Ms1CPfhcGCvSElSosZmyoqAgmlkgnY0iXNlY3AyNTZrMaECriawHKWdDRk2xeZkrOXBQ0dfMFLHY4eENZwdufn1S1o",
    ];

    fn tree() -> Tree {
        let records: Vec<Record> = RECORDS.iter().map(|r| r.parse().unwrap()).collect();
        Tree::sign(9, &records, &[], NodeKey::random().secret())
    }

    #[tokio::test]
    async fn the_json_output_is_a_tree_a_client_syncs() {
        let tree = tree();
        let out: serde_json::Value =
            serde_json::from_str(&render(&tree, "nodes.example", 3, None).unwrap()).unwrap();
        assert_eq!(out["seq"], 9);
        let resolver = MemoryResolver::new();
        resolver.insert_all(
            out["records"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, text)| (name.clone(), text.as_str().unwrap().to_owned())),
        );
        let url: Link = out["url"].as_str().unwrap().parse().unwrap();
        let mut client = DnsClient::new(resolver, DnsConfig::default());
        let report = client.sync(&url).await.unwrap();
        let mut got: Vec<String> = report.records.iter().map(Record::to_base64).collect();
        got.sort();
        let mut want = RECORDS.map(str::to_owned).to_vec();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn the_zone_output_has_the_root_at_the_apex_and_every_entry_once() {
        let tree = tree();
        let out = render(&tree, "nodes.example", 3, Some((60, 3600))).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("; enrtree://"));
        assert!(lines[1].starts_with("@ ") && lines[1].contains(" 60 "));
        assert!(lines[1].contains(&format!("\"{}\"", tree.root())));
        // Three leaves, their branch, the empty link branch.
        assert_eq!(lines.len(), 2 + 5);
        for record in RECORDS {
            assert_eq!(lines.iter().filter(|l| l.contains(record)).count(), 1);
        }
    }
}
