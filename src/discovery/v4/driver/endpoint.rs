//! Our own address: what Pong statements, another discovery version sharing our record
//! (discv5) and a port-mapping gateway say it is, and how each moves our record.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::{Driver, DriverEvent};
use crate::discovery::v4::Endpoint;

impl Driver {
    /// Advertises `addr` (IP and UDP port; the TCP port stays) at `seq` `min_seq` or above,
    /// as another discovery version sharing our key and record decided (discv5's own IP
    /// votes). A change comes out as [`DriverEvent::EndpointChanged`]; calling again with
    /// what the record already says changes nothing.
    ///
    /// A dual-stack node whose main endpoint is learned or configured takes an address of
    /// the other family as its endpoint in that family, beside the main one. A node whose
    /// address is configured or mapped (`learn_ip` off) keeps it and only re-signs at
    /// `min_seq`.
    pub fn adopt_endpoint(&mut self, addr: SocketAddr, min_seq: u64) {
        let main = self.disc.local_record().endpoint();
        let mut endpoint = main;
        endpoint.ip = addr.ip();
        endpoint.udp_port = addr.port();
        let other_family = addr.ip().is_ipv4() != main.ip.is_ipv4();
        let changed = if !self.learns_ip() {
            // Our address is configured or mapped by the router: what the other version
            // learned does not move it, but our record is re-signed at its seq so that the
            // other version takes ours back and both serve one record again.
            self.disc.set_local_endpoint_seq(main, min_seq)
        } else if self.config.dual_stack && other_family && is_learned(main.ip) {
            self.disc.set_local_other_endpoint(Some(endpoint), min_seq)
        } else {
            self.disc.set_local_endpoint_seq(endpoint, min_seq)
        };
        if let Ok(true) = changed {
            let main = self.disc.local_record().endpoint();
            self.events.push_back(DriverEvent::EndpointChanged(main));
        }
    }

    /// Advertises `endpoint` from now on, as a gateway that maps our ports reports it (see
    /// `nat`): bumps our record's `seq` and queues [`DriverEvent::EndpointChanged`] if it
    /// differs, and stops learning the IP from Pongs, which would only find the same
    /// router. Calling it again with the same endpoint is harmless.
    pub fn set_external_endpoint(&mut self, endpoint: Endpoint) {
        self.mapped = true;
        if let Ok(true) = self.disc.set_local_endpoint(endpoint) {
            self.events
                .push_back(DriverEvent::EndpointChanged(endpoint));
        }
    }

    /// The gateway no longer maps our ports (or its address is not one to advertise): the
    /// endpoint it gave stays in our record until Pong statements move it, which they may
    /// again (unless [`DriverConfig::learn_ip`](super::DriverConfig::learn_ip) is off).
    pub fn release_external_endpoint(&mut self) {
        self.mapped = false;
    }

    /// Whether Pong statements (and what discv5 learns) may move our endpoint.
    fn learns_ip(&self) -> bool {
        self.config.learn_ip && !self.mapped
    }

    /// The node at `from` says it sees us at `ip` (see `ip_votes.rs` for what counts).
    pub(super) fn on_statement(&mut self, now: Instant, from: SocketAddr, ip: IpAddr) {
        if !self.learns_ip() || self.votes.add(now, from.ip(), ip).is_err() {
            return;
        }
        let mut endpoint = self.disc.local_record().endpoint();
        if let Some(ip) = self.votes.predict(now, endpoint.ip) {
            if endpoint.ip != ip {
                endpoint.ip = ip;
                if let Ok(true) = self.disc.set_local_endpoint(endpoint) {
                    self.events
                        .push_back(DriverEvent::EndpointChanged(endpoint));
                }
            }
        }
        if self.config.dual_stack {
            self.learn_other_family(now);
        }
    }

    /// A dual-stack node's endpoint in the family its main endpoint is not, from the
    /// statements of that family (see [`DriverConfig::dual_stack`]). Nothing while the main
    /// endpoint is still the loopback or unspecified fallback: those statements may yet
    /// move the main endpoint itself.
    fn learn_other_family(&mut self, now: Instant) {
        let endpoint = self.disc.local_record().endpoint();
        if !is_learned(endpoint.ip) {
            return;
        }
        let other_is_v4 = !endpoint.ip.to_canonical().is_ipv4();
        let Some(ip) = self.votes.predict_family(now, other_is_v4) else {
            return;
        };
        let other = Endpoint { ip, ..endpoint };
        // The record is re-signed with a higher seq, which peers see in our next Ping or
        // Pong and fetch (EIP-868); the main endpoint, and so our enode, is unchanged.
        if let Ok(true) = self.disc.set_local_other_endpoint(Some(other), 0) {
            self.events
                .push_back(DriverEvent::EndpointChanged(endpoint));
        }
    }
}

/// Whether `ip` is an address others can reach us at, rather than the loopback or
/// unspecified fallback a node advertises before it learns its address.
fn is_learned(ip: IpAddr) -> bool {
    !(ip.is_loopback() || ip.is_unspecified())
}
