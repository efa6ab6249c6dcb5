//! The `peerwire` command: make keys, run a foo/bar node (optionally serving blobs), ping a
//! devp2p node, fetch a blob, sign and sync DNS node lists.

#![forbid(unsafe_code)]

mod attach;
mod blobs;
mod config;
mod discover;
mod dns;
mod get;
mod gossip;
mod key;
mod keygen;
mod logging;
mod metrics;
mod node;
mod output;
mod ping;
mod progress;
mod rpc;
mod stdin;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use peerwire::crypto::Enode;

/// devp2p-style networking: keys, a foo/bar node, and a Hello probe.
#[derive(Parser, Debug)]
#[command(name = "peerwire", version, about)]
struct Cli {
    /// Log to stderr: -v info, -vv debug, -vvv trace. RUST_LOG, when set, decides instead.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make a node key and print its node id.
    Keygen {
        /// Write the key (hex) to this file, mode 0600; an existing file is never overwritten.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a node (foo/bar, gossip/1); stdin lines are published to the whole network,
    /// `/to <id or id-prefix> text` goes to one node anywhere in it.
    Node(node::NodeArgs),
    /// Resolve one node over discv4 (or discv5): ping it, ask for its ENR, print it.
    Discover {
        /// The node: an enode URL or an `enr:` record (a record with --v5).
        #[arg(value_parser = discover::parse_node_arg)]
        node: discover::NodeArg,
        /// Speak discv5 (FINDNODE at distance 0) instead of discv4.
        #[arg(long)]
        v5: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 5)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Walk the discv4 (or discv5) DHT from bootnodes, printing every node found (JSON lines
    /// with --json).
    Crawl {
        /// Where to start: enode URLs or ENRs, comma-separated (ENRs with --v5).
        #[arg(long, value_delimiter = ',', value_parser = discover::parse_node_arg)]
        bootnodes: Vec<discover::NodeArg>,
        /// Walk the discv5 DHT instead of discv4's.
        #[arg(long)]
        v5: bool,
        /// Stop after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fetch one blob (by sha256) from a node run with --blobs, into a new file.
    Get {
        /// The node to fetch from.
        enode: Enode,
        /// The blob's sha256, 64 hex digits.
        hash: peerwire_blobs::BlobHash,
        /// Write the blob to this file; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the configuration `node` would run with (its flags and --config file) as TOML,
    /// a file for --config.
    Dumpconfig(node::NodeArgs),
    /// Call one JSON-RPC method of a running node (its --rpc address or --ipc socket) and
    /// print the result.
    Attach(attach::AttachArgs),
    /// Node lists in DNS (EIP-1459): sign a tree and print its TXT records, or sync one.
    #[command(subcommand)]
    Dns(dns::DnsCommand),
    /// Dial a node, print its Hello, and disconnect.
    Ping {
        /// The node to dial.
        enode: Enode,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cmd = Cli::command();
    let argv = match config::merge(&cmd, std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("peerwire: {e}");
            return ExitCode::from(2);
        }
    };
    let parsed = cmd
        .clone()
        .try_get_matches_from(argv)
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            // One line naming the problem, not clap's usage block.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("peerwire: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    if let (Command::Dumpconfig(_), Some(m), Some(def)) = (
        &cli.command,
        matches.subcommand_matches("dumpconfig"),
        cmd.find_subcommand("dumpconfig"),
    ) {
        print!("{}", config::dump(def, m));
        return ExitCode::SUCCESS;
    }
    logging::init(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peerwire: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Keygen { out } => keygen::run(out.as_deref()),
            Command::Node(args) => node::run(args).await,
            Command::Attach(args) => attach::run(args).await,
            // Printed above, without a runtime.
            Command::Dumpconfig(_) => Ok(()),
            Command::Discover {
                node,
                v5,
                timeout,
                json,
            } => discover::discover(node, v5, timeout, json).await,
            Command::Crawl {
                bootnodes,
                v5,
                timeout,
                json,
            } => discover::crawl(bootnodes, v5, timeout, json).await,
            Command::Get {
                enode,
                hash,
                out,
                timeout,
                json,
            } => get::run(enode, hash, &out, timeout, json).await,
            Command::Ping {
                enode,
                timeout,
                json,
            } => ping::run(enode, timeout, json).await,
            Command::Dns(command) => dns::run(command).await,
        }
    });
    // The stdin reader of `node` sits in a blocking read that only new input or EOF ends;
    // everything else has finished by now, so do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("peerwire: {message}");
            ExitCode::FAILURE
        }
    }
}
