//! Port mapping behind a home router: UPnP IGD and NAT-PMP, as go-ethereum's `--nat`.
//!
//! ```text
//! service.rs      tokio: runs the machine, talks to the gateway, tells discovery our
//!   │             external endpoint, sends NatEvents, records metrics, removes on stop
//!   ├── upnp.rs   UPnP IGD (igd-next): SSDP search, AddPortMapping, GetExternalIPAddress
//!   ├── pmp.rs    NAT-PMP (crab_nat, RFC 6886): the default route's gateway, epochs
//!   │
//! machine/        sans-IO: when to map, renew, retry; what was made, renewed, lost, refused
//! error.rs        NatError (why the gateway did not map), ParseNatError
//! ```
//!
//! The server runs it when [`NatConfig::mode`] is [`NatMode::Any`], [`NatMode::Upnp`] or
//! [`NatMode::Pmp`]: it maps the TCP listen port and the discovery UDP port (same external
//! port numbers when the gateway allows), renews the lease at half its length, and retries
//! a refused or lost mapping every [`NatConfig::retry`]. The router's external address and
//! ports go into our ENR (seq bumped, re-signed) and enode. [`NatMode::ExtIp`] only sets the
//! advertised IP, as [`DiscoveryConfig::external_ip`](crate::server::DiscoveryConfig) does.
//!
//! ```
//! use peerwire::nat::NatMode;
//!
//! assert_eq!("upnp".parse::<NatMode>(), Ok(NatMode::Upnp));
//! assert_eq!("extip:203.0.113.9".parse::<NatMode>(), Ok(NatMode::ExtIp([203, 0, 113, 9].into())));
//! ```

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

mod error;
mod machine;
mod pmp;
mod service;
mod upnp;

pub use error::{NatError, ParseNatError};
pub use machine::{Mapping, NatEvent};
pub(crate) use service::{run, NatShared, Ports};

/// How the node finds and opens its external address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum NatMode {
    /// No port mapping; the address is learned from other nodes' Pongs (the default).
    #[default]
    None,
    /// UPnP IGD, else NAT-PMP: whichever gateway answers first.
    Any,
    /// UPnP IGD only.
    Upnp,
    /// NAT-PMP only (RFC 6886), to the default route's gateway.
    Pmp,
    /// No port mapping; always advertise this IP (the ports are the local ones).
    ExtIp(IpAddr),
}

impl NatMode {
    /// Whether this mode maps ports on a gateway.
    pub fn maps_ports(self) -> bool {
        matches!(self, Self::Any | Self::Upnp | Self::Pmp)
    }
}

impl FromStr for NatMode {
    type Err = ParseNatError;

    /// go-ethereum's spellings: `any`, `upnp`, `pmp`, `extip:IP`, `none` (case-insensitive).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let lower = text.to_ascii_lowercase();
        if let Some(ip) = lower.strip_prefix("extip:") {
            return ip
                .parse()
                .map(Self::ExtIp)
                .map_err(|_| ParseNatError::BadIp);
        }
        match lower.as_str() {
            "none" | "off" => Ok(Self::None),
            "any" => Ok(Self::Any),
            "upnp" => Ok(Self::Upnp),
            "pmp" | "natpmp" | "nat-pmp" => Ok(Self::Pmp),
            _ => Err(ParseNatError::Unknown),
        }
    }
}

/// Port mapping settings ([`ServerConfig::nat`](crate::server::ServerConfig)).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NatConfig {
    /// Which mechanism. Default [`NatMode::None`]: no mapping, nothing runs.
    pub mode: NatMode,
    /// The lease asked for. Default 20 minutes; the mapping is renewed at half of what the
    /// gateway grants. A gateway that takes permanent leases only gets lease 0 (and the
    /// mapping is still checked every half of this, and removed on stop). Each renewal is
    /// one round of requests per port.
    pub lease: Duration,
    /// The wait before a refused, failed or lost mapping is tried again. Default 60 s.
    pub retry: Duration,
    /// The longest one round of requests (search, map both ports, ask the external
    /// address) may take before it counts as [`NatError::Timeout`]. Default 10 s.
    pub request_timeout: Duration,
    /// The longest the server's stop waits for the mappings to be removed. Default 2 s.
    pub remove_timeout: Duration,
    /// NAT-PMP's gateway; `None` (the default): the default route's gateway
    /// (`/proc/net/route`, Linux only).
    pub gateway: Option<IpAddr>,
    /// The UPnP mapping's description, as routers list it. Default `peerwire`.
    pub description: String,
}

impl Default for NatConfig {
    fn default() -> Self {
        Self {
            mode: NatMode::None,
            lease: Duration::from_secs(20 * 60),
            retry: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            remove_timeout: Duration::from_secs(2),
            gateway: None,
            description: "peerwire".into(),
        }
    }
}

impl NatConfig {
    /// The defaults with `mode`.
    pub fn new(mode: NatMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_ethereums_spellings() {
        assert_eq!("any".parse(), Ok(NatMode::Any));
        assert_eq!("UPnP".parse(), Ok(NatMode::Upnp));
        assert_eq!("pmp".parse(), Ok(NatMode::Pmp));
        assert_eq!("none".parse(), Ok(NatMode::None));
        assert_eq!(
            "extip:2001:db8::7".parse(),
            Ok(NatMode::ExtIp("2001:db8::7".parse().unwrap()))
        );
        assert_eq!("extip:nope".parse::<NatMode>(), Err(ParseNatError::BadIp));
        assert_eq!("stun".parse::<NatMode>(), Err(ParseNatError::Unknown));
        assert!(NatMode::Pmp.maps_ports() && !NatMode::ExtIp([1, 2, 3, 4].into()).maps_ports());
    }
}
