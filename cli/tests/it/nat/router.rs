//! The home router: a namespace that forwards and masquerades lan traffic to the wan with
//! nftables, and runs miniupnpd (UPnP IGD and NAT-PMP) on its lan side.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::netns::{link, Netns};

/// The router's wan address. miniupnpd 2.3.1 maps nothing when its external address is
/// private or reserved, so this is a public address; nothing leaves the namespaces.
pub(crate) const ROUTER_WAN: &str = "11.0.0.1";
/// The lan host's address.
pub(crate) const LAN_HOST: &str = "10.77.1.2";

/// The nftables structure miniupnpd fills (Debian's package lacks the script that makes
/// it): its own chains, jumped to from the forward and nat hooks, and the masquerade.
const RULES: &str = r#"
table inet pwnat {
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "lan0" accept
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "wan0" masquerade
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
"#;

/// The chains miniupnpd writes its rules to.
const CHAINS: [&str; 3] = ["miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"];

/// wan ── router ── lan, each a namespace; miniupnpd running in the router.
pub(crate) struct Testbed {
    // Dropped in this order: the daemon, then the namespaces.
    daemon: Option<Child>,
    pub(crate) lan: Netns,
    pub(crate) wan: Netns,
    pub(crate) router: Netns,
    dir: TempDir,
}

impl Testbed {
    /// Builds the namespaces, links and rules, and starts miniupnpd. `wan_hosts` addresses
    /// 11.0.0.10, .11, ... are added to the wan namespace for nodes to bind.
    pub(crate) fn new(wan_hosts: usize) -> Self {
        let dir = TempDir::new();
        let mut bed = Self {
            daemon: None,
            lan: Netns::new("l"),
            wan: Netns::new("w"),
            router: Netns::new("r"),
            dir,
        };
        link(
            &bed.router,
            "wan0",
            "11.0.0.1/24",
            &bed.wan,
            "wan0",
            "11.0.0.2/24",
        );
        link(
            &bed.router,
            "lan0",
            "10.77.1.1/24",
            &bed.lan,
            "lan0",
            "10.77.1.2/24",
        );
        for i in 0..wan_hosts {
            bed.wan.ip(&[
                "addr",
                "add",
                &format!("11.0.0.{}/24", 10 + i),
                "dev",
                "wan0",
            ]);
        }
        bed.lan.ip(&["route", "add", "default", "via", "10.77.1.1"]);
        bed.router.run("sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
        let rules = bed.dir.path().join("rules.nft");
        std::fs::write(&rules, RULES).unwrap();
        bed.router.run("nft", &["-f", rules.to_str().unwrap()]);
        std::fs::write(bed.dir.path().join("miniupnpd.conf"), CONFIG).unwrap();
        bed.start_daemon();
        bed
    }

    /// Starts miniupnpd in the foreground and waits until it listens (at most 10 s).
    fn start_daemon(&mut self) {
        let dir = self.dir.path();
        let log = dir.join("miniupnpd.log");
        let file = std::fs::File::create(&log).unwrap();
        let conf = dir.join("miniupnpd.conf");
        let pid = dir.join("miniupnpd.pid");
        let child = self
            .router
            .command(
                "miniupnpd",
                &[
                    "-d",
                    "-f",
                    conf.to_str().unwrap(),
                    "-P",
                    pid.to_str().unwrap(),
                ],
            )
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("miniupnpd starts");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.daemon_log().contains("Listening for NAT-PMP") {
            assert!(
                Instant::now() < deadline,
                "miniupnpd did not start: {}",
                self.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops miniupnpd, drops every mapping it made (a reboot forgets them), starts it
    /// again.
    pub(crate) fn restart_daemon(&mut self) {
        self.stop_daemon();
        for chain in CHAINS {
            self.router
                .run("nft", &["flush", "chain", "inet", "pwnat", chain]);
        }
        self.start_daemon();
    }

    fn stop_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// miniupnpd's output so far.
    pub(crate) fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("miniupnpd.log")).unwrap_or_default()
    }

    /// The DNAT rules miniupnpd holds now (one line each), as `nft` lists them.
    pub(crate) fn redirects(&self) -> Vec<String> {
        self.router
            .run(
                "nft",
                &["list", "chain", "inet", "pwnat", "prerouting_miniupnpd"],
            )
            .lines()
            .filter(|l| l.contains("dnat"))
            .map(|l| l.trim().to_string())
            .collect()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.stop_daemon();
    }
}

/// miniupnpd's settings: UPnP IGD and NAT-PMP on the lan side, mapping for the lan subnet
/// only, its rules in our table. No lease file: a restart forgets every mapping.
const CONFIG: &str = "\
ext_ifname=wan0
listening_ip=lan0
http_port=5000
enable_upnp=yes
enable_natpmp=yes
secure_mode=yes
system_uptime=no
upnp_table_name=pwnat
upnp_nat_table_name=pwnat
uuid=3f6e3c84-7e64-4a4e-9c1c-5eed0000a001
allow 1024-65535 10.77.1.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
";

/// A directory for the router's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("peerwire-nat-{}-{serial}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
