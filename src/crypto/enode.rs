//! `enode://` URLs: a node id plus the address it listens on.
//!
//! The devp2p form is `enode://<128 hex digits>@<ip>:<tcp port>[?discport=<udp port>]`, with an
//! IPv6 address in brackets. Without `discport` the UDP port equals the TCP port.
//! [`Enode`] holds an IP; [`EnodeUrl`] also takes a host name in its place (as go-ethereum
//! does for static and trusted peers), resolved when it is dialed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use super::keys::{NodeId, NodeIdError};

/// A node's id and its TCP/UDP endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Enode {
    /// The node's public key.
    pub id: NodeId,
    /// The address it listens on.
    pub ip: IpAddr,
    /// RLPx (TCP) port.
    pub tcp_port: u16,
    /// Discovery (UDP) port.
    pub udp_port: u16,
}

/// Why text could not be read as an [`Enode`]. Each malformed form has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnodeError {
    /// The text does not start with `enode://`.
    #[error("enode URL must start with enode://")]
    Scheme,
    /// No `@` separating the node id from the address.
    #[error("enode URL has no '@' between node id and address")]
    MissingAddress,
    /// The node id part is malformed.
    #[error("enode URL has a bad node id: {0}")]
    NodeId(#[from] NodeIdError),
    /// The host is not an IP address literal (IPv6 must be in brackets).
    #[error("enode URL host is not an IP address")]
    Host,
    /// No `:port` after the host.
    #[error("enode URL has no TCP port")]
    MissingPort,
    /// The TCP port is not a number in 0..=65535.
    #[error("enode URL has a bad TCP port")]
    Port,
    /// The query is not `discport=<port>`, or the port is out of range.
    #[error("enode URL has a bad discport")]
    DiscPort,
}

impl Enode {
    /// An enode for `id` listening on `addr` (UDP port = TCP port).
    pub fn new(id: NodeId, addr: SocketAddr) -> Self {
        Self {
            id,
            ip: addr.ip(),
            tcp_port: addr.port(),
            udp_port: addr.port(),
        }
    }

    /// The TCP address to dial.
    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.tcp_port)
    }

    /// The UDP address for discovery.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.udp_port)
    }
}

impl fmt::Display for Enode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "enode://{}@{}", self.id, self.tcp_addr())?;
        if self.udp_port != self.tcp_port {
            write!(f, "?discport={}", self.udp_port)?;
        }
        Ok(())
    }
}

impl FromStr for Enode {
    type Err = EnodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, authority, query) = split_url(s)?;
        let (ip, tcp_port) = parse_authority(authority)?;
        let udp_port = udp_port(query, tcp_port)?;
        Ok(Self {
            id,
            ip,
            tcp_port,
            udp_port,
        })
    }
}

/// Where an [`EnodeUrl`] points: an IP address or a DNS name to resolve.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IP address literal.
    Ip(IpAddr),
    /// A DNS name (letters, digits, `-`; a last label that is not all digits).
    Name(String),
}

/// An `enode://` URL whose host may be a DNS name, e.g. `enode://ID@node.example.org:30303`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnodeUrl {
    /// The node's public key.
    pub id: NodeId,
    /// Its address or name.
    pub host: Host,
    /// RLPx (TCP) port.
    pub tcp_port: u16,
    /// Discovery (UDP) port.
    pub udp_port: u16,
}

impl EnodeUrl {
    /// The enode when the host is an IP address; `None` for a name.
    pub fn to_enode(&self) -> Option<Enode> {
        match self.host {
            Host::Ip(ip) => Some(self.at(ip)),
            Host::Name(_) => None,
        }
    }

    /// The enode at `ip` (an address the host name resolved to).
    pub fn at(&self, ip: IpAddr) -> Enode {
        Enode {
            id: self.id,
            ip,
            tcp_port: self.tcp_port,
            udp_port: self.udp_port,
        }
    }
}

impl From<Enode> for EnodeUrl {
    fn from(enode: Enode) -> Self {
        Self {
            id: enode.id,
            host: Host::Ip(enode.ip),
            tcp_port: enode.tcp_port,
            udp_port: enode.udp_port,
        }
    }
}

impl fmt::Display for EnodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(ip) => write!(f, "{}", self.at(*ip)),
            Host::Name(name) => {
                write!(f, "enode://{}@{name}:{}", self.id, self.tcp_port)?;
                if self.udp_port != self.tcp_port {
                    write!(f, "?discport={}", self.udp_port)?;
                }
                Ok(())
            }
        }
    }
}

impl FromStr for EnodeUrl {
    type Err = EnodeError;

    /// Reads what [`Enode`] reads, and a DNS name in place of the IP address; a host that is
    /// neither is [`EnodeError::Host`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, authority, query) = split_url(s)?;
        let (host, tcp_port) = match parse_authority(authority) {
            Ok((ip, port)) => (Host::Ip(ip), port),
            Err(EnodeError::Host) => {
                let (name, port) = authority.rsplit_once(':').ok_or(EnodeError::MissingPort)?;
                if !is_host_name(name) {
                    return Err(EnodeError::Host);
                }
                let port = parse_port(port).ok_or(EnodeError::Port)?;
                (Host::Name(name.to_ascii_lowercase()), port)
            }
            Err(e) => return Err(e),
        };
        let udp_port = udp_port(query, tcp_port)?;
        Ok(Self {
            id,
            host,
            tcp_port,
            udp_port,
        })
    }
}

/// `enode://ID@AUTHORITY[?QUERY]` split into the id, the authority and the query.
fn split_url(s: &str) -> Result<(NodeId, &str, Option<&str>), EnodeError> {
    let rest = s.strip_prefix("enode://").ok_or(EnodeError::Scheme)?;
    let (id, rest) = rest.split_once('@').ok_or(EnodeError::MissingAddress)?;
    let id: NodeId = id.parse()?;
    Ok(match rest.split_once('?') {
        Some((authority, query)) => (id, authority, Some(query)),
        None => (id, rest, None),
    })
}

/// The UDP port: the query's `discport`, else the TCP port.
fn udp_port(query: Option<&str>, tcp_port: u16) -> Result<u16, EnodeError> {
    match query {
        Some(query) => Ok(parse_discport(query)?.unwrap_or(tcp_port)),
        None => Ok(tcp_port),
    }
}

/// RFC 1123 host names: labels of 1 to 63 letters, digits and inner `-`, 253 characters in
/// all, and a last label that is not all digits (so a malformed IPv4 address is no name).
fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid_labels = name.split('.').all(|label| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    });
    let last_not_numeric = name
        .rsplit('.')
        .next()
        .is_some_and(|last| !last.bytes().all(|b| b.is_ascii_digit()));
    !name.is_empty() && name.len() <= 253 && valid_labels && last_not_numeric
}

fn parse_authority(authority: &str) -> Result<(IpAddr, u16), EnodeError> {
    let (ip, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or(EnodeError::Host)?;
        let port = after.strip_prefix(':').ok_or(EnodeError::MissingPort)?;
        let ip: std::net::Ipv6Addr = host.parse().map_err(|_| EnodeError::Host)?;
        (IpAddr::V6(ip), port)
    } else {
        let (host, port) = authority.rsplit_once(':').ok_or(EnodeError::MissingPort)?;
        let ip: std::net::Ipv4Addr = host.parse().map_err(|_| EnodeError::Host)?;
        (IpAddr::V4(ip), port)
    };
    Ok((ip, parse_port(port).ok_or(EnodeError::Port)?))
}

/// `discport=<port>`; other query keys are ignored, as go-ethereum does.
fn parse_discport(query: &str) -> Result<Option<u16>, EnodeError> {
    let mut found = None;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("discport=") {
            if found.is_some() {
                return Err(EnodeError::DiscPort);
            }
            found = Some(parse_port(value).ok_or(EnodeError::DiscPort)?);
        }
    }
    Ok(found)
}

/// Decimal digits only: `u16::from_str` would also take a leading `+`.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1dd9d65c4552b5eb43d5ad55a2ee3f56c6cbc1c64a5c8d659f51fcd51bace24351232b8d7821617d2b29b54b81cdefb9b3e9c37d7fd5f63270bcc9e1a6f6a439";

    #[test]
    fn ipv4_without_discport_round_trips() {
        let url = format!("enode://{ID}@10.3.58.6:30303");
        let enode: Enode = url.parse().unwrap();
        assert_eq!(enode.ip, "10.3.58.6".parse::<IpAddr>().unwrap());
        assert_eq!((enode.tcp_port, enode.udp_port), (30303, 30303));
        assert_eq!(enode.id.to_string(), ID);
        assert_eq!(enode.to_string(), url);
    }

    #[test]
    fn ipv6_with_discport_round_trips() {
        let url = format!("enode://{ID}@[2001:db8::1]:30303?discport=30301");
        let enode: Enode = url.parse().unwrap();
        assert_eq!(enode.ip, "2001:db8::1".parse::<IpAddr>().unwrap());
        assert_eq!((enode.tcp_port, enode.udp_port), (30303, 30301));
        assert_eq!(enode.to_string(), url);
    }

    #[test]
    fn unknown_query_keys_are_ignored() {
        let enode: Enode = format!("enode://{ID}@1.2.3.4:7?foo=1").parse().unwrap();
        assert_eq!(enode.udp_port, 7);
    }

    #[test]
    fn host_names_are_read_where_an_ip_may_stand() {
        let url: EnodeUrl = format!("enode://{ID}@Node-1.Example.org:30303?discport=30301")
            .parse()
            .unwrap();
        assert_eq!(url.host, Host::Name("node-1.example.org".into()));
        assert_eq!((url.tcp_port, url.udp_port), (30303, 30301));
        assert_eq!(url.to_enode(), None);
        assert_eq!(
            url.to_string(),
            format!("enode://{ID}@node-1.example.org:30303?discport=30301")
        );
        let ip = "10.3.58.6".parse().unwrap();
        assert_eq!(
            url.at(ip).to_string(),
            format!("enode://{ID}@10.3.58.6:30303?discport=30301")
        );
        // The IP forms read as before.
        for text in [
            format!("enode://{ID}@10.3.58.6:30303"),
            format!("enode://{ID}@[2001:db8::1]:30303?discport=30301"),
        ] {
            let url: EnodeUrl = text.parse().unwrap();
            assert_eq!(url.to_enode(), Some(text.parse::<Enode>().unwrap()));
            assert_eq!(url.to_string(), text);
        }
        // An Enode still wants an IP.
        assert_eq!(
            format!("enode://{ID}@node.example.org:1").parse::<Enode>(),
            Err(EnodeError::Host)
        );
    }

    #[test]
    fn malformed_host_names_have_their_errors() {
        let cases: Vec<(String, EnodeError)> = vec![
            (format!("enode://{ID}@1.2.3:1"), EnodeError::Host),
            (format!("enode://{ID}@2001:db8::1:1"), EnodeError::Host),
            (format!("enode://{ID}@-a.example:1"), EnodeError::Host),
            (format!("enode://{ID}@a..example:1"), EnodeError::Host),
            (format!("enode://{ID}@a_b.example:1"), EnodeError::Host),
            (format!("enode://{ID}@:1"), EnodeError::Host),
            (
                format!("enode://{ID}@{}.x:1", "a".repeat(64)),
                EnodeError::Host,
            ),
            (
                format!("enode://{ID}@node.example"),
                EnodeError::MissingPort,
            ),
            (format!("enode://{ID}@node.example:x"), EnodeError::Port),
            (
                format!("enode://{ID}@node.example:1?discport=x"),
                EnodeError::DiscPort,
            ),
        ];
        for (url, want) in cases {
            assert_eq!(url.parse::<EnodeUrl>(), Err(want), "{url}");
        }
    }

    #[test]
    fn every_malformed_form_has_its_error() {
        let off_curve = "00".repeat(64);
        let cases: Vec<(String, EnodeError)> = vec![
            (format!("http://{ID}@1.2.3.4:1"), EnodeError::Scheme),
            (format!("enode://{ID}"), EnodeError::MissingAddress),
            (
                "enode://abcd@1.2.3.4:1".into(),
                EnodeError::NodeId(NodeIdError::Length(2)),
            ),
            (
                format!("enode://{}@1.2.3.4:1", "x".repeat(128)),
                EnodeError::NodeId(NodeIdError::Hex),
            ),
            (
                format!("enode://{off_curve}@1.2.3.4:1"),
                EnodeError::NodeId(NodeIdError::NotOnCurve),
            ),
            (format!("enode://{ID}@example.com:1"), EnodeError::Host),
            (format!("enode://{ID}@1.2.3:1"), EnodeError::Host),
            (format!("enode://{ID}@2001:db8::1:1"), EnodeError::Host),
            (format!("enode://{ID}@[2001:db8::1:1"), EnodeError::Host),
            (format!("enode://{ID}@[::1]"), EnodeError::MissingPort),
            (format!("enode://{ID}@1.2.3.4"), EnodeError::MissingPort),
            (format!("enode://{ID}@1.2.3.4:"), EnodeError::Port),
            (format!("enode://{ID}@1.2.3.4:65536"), EnodeError::Port),
            (format!("enode://{ID}@1.2.3.4:+1"), EnodeError::Port),
            (
                format!("enode://{ID}@1.2.3.4:1?discport=x"),
                EnodeError::DiscPort,
            ),
            (
                format!("enode://{ID}@1.2.3.4:1?discport=70000"),
                EnodeError::DiscPort,
            ),
            (
                format!("enode://{ID}@1.2.3.4:1?discport=1&discport=2"),
                EnodeError::DiscPort,
            ),
        ];
        for (url, want) in cases {
            assert_eq!(url.parse::<Enode>(), Err(want), "{url}");
        }
    }
}
