//! What a [`Discv4`] does with each message once its packet passed the checks of `intake.rs`.

use std::net::SocketAddr;
use std::time::Instant;

use super::budget::PingBack;
use super::{endpoint_of, udp_addr, Discv4, Discv4Event, RequestKind, Transmit};
use crate::crypto::NodeId;
use crate::discovery::v4::distance::NodeHash;
use crate::discovery::v4::message::*;
use crate::discovery::v4::packet;
use crate::discovery::v4::table::{TableInsert, BUCKET_SIZE};
use crate::util::ip::check_relay;

impl Discv4 {
    pub(super) fn on_ping(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        hash: [u8; 32],
        ping: &Ping,
    ) {
        // discv4.md, Ping: "the recipient should reply with a Pong packet" (our Pong is the
        // endpoint proof the sender needs, so it is sent even to unproven endpoints).
        let pong = Message::Pong(Pong {
            to: endpoint_of(from, 0),
            ping_hash: hash,
            expiration: self.expiration(now),
            enr_seq: Some(self.local.seq()),
        });
        self.send(from, &pong);
        self.events.push_back(Discv4Event::Pinged(id, from));
        let bonded = self.is_bonded(now, &id, from.ip());
        if bonded {
            if let Some(seq) = ping.enr_seq {
                self.events.push_back(Discv4Event::EnrSeq(id, from, seq));
            }
        }
        // A signed Ping says nothing about where its signer is: anyone it pinged may replay
        // it from anywhere. So a Ping from another address than the table's does not move
        // the entry; a Ping to that address does, once its Pong proves it (`on_pong`).
        let moved = self
            .table
            .get(&id)
            .is_some_and(|e| udp_addr(&e.endpoint) != from);
        // "If no communication with the sender has occurred within the last 12h, a ping
        // should be sent in addition to pong in order to receive an endpoint proof."
        if (!bonded || moved)
            && !self.pending.contains_key(&(id, from, RequestKind::Ping))
            && !self.ping_backs.contains(now, &id, from)
        {
            self.ping_back(now, id, from, ping.from.tcp_port);
        }
    }

    /// Pings `id` at `from` because its Ping came from there, on the Ping-back budget.
    fn ping_back(&mut self, now: Instant, id: NodeId, to: SocketAddr, tcp_port: u16) {
        if !self.ping_backs.admits(now, &id, to) {
            self.stats.ping_backs_refused += 1;
            return;
        }
        let ping = self.ping_message(now, to);
        let Ok(enc) = packet::encode_packet(&self.key, &ping) else {
            return;
        };
        let p = PingBack {
            hash: enc.hash,
            tcp_port,
            deadline: now + self.config.request_timeout,
        };
        if self.ping_backs.insert(now, id, to, p).is_err() {
            self.stats.ping_backs_refused += 1;
            return;
        }
        self.transmits.push_back(Transmit {
            to,
            bytes: enc.bytes,
        });
    }

    pub(super) fn on_pong(&mut self, now: Instant, from: SocketAddr, id: NodeId, pong: &Pong) {
        // discv4.md, Pong: "Implementations should ignore unsolicited pong packets that do not
        // contain the hash of the most recent ping packet."
        let key = (id, from, RequestKind::Ping);
        let tcp_port = match self.pending.get(&key) {
            Some(p) if p.hash == pong.ping_hash => {
                let tcp_port = p.tcp_port;
                self.pending.remove(&key);
                tcp_port
            }
            _ => match self.ping_backs.take(now, id, from, &pong.ping_hash) {
                Some(p) => p.tcp_port,
                None => {
                    self.stats.unsolicited += 1;
                    return;
                }
            },
        };
        self.bond(now, id, from.ip());
        match self.table.get(&id).map(|e| e.endpoint) {
            Some(e) if udp_addr(&e) == from => {
                self.table.seen(now, &id);
            }
            Some(e) => {
                // It answered our Ping at `from`: that proves it is there now, unless a relay
                // at `from` passed our Ping on and its Pong back. The node signs where it saw
                // the Ping come from (`to`): through a relay that is the relay's address, not
                // ours, so such a Pong moves nothing (the node keeps its proven endpoint).
                if pong.to.ip != self.local.endpoint().ip {
                    self.stats.relayed_pongs += 1;
                } else {
                    let tcp_port = if tcp_port == 0 { e.tcp_port } else { tcp_port };
                    self.table.insert(now, id, endpoint_of(from, tcp_port));
                }
            }
            None => {
                let endpoint = endpoint_of(from, tcp_port);
                if self.table.insert(now, id, endpoint) == TableInsert::Added {
                    self.events.push_back(Discv4Event::Added(id, endpoint));
                }
            }
        }
        self.events.push_back(Discv4Event::Bonded(id, from));
        self.events
            .push_back(Discv4Event::Statement(id, from, pong.to));
        if let Some(seq) = pong.enr_seq {
            self.events.push_back(Discv4Event::EnrSeq(id, from, seq));
        }
    }

    pub(super) fn on_find_node(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        find: &FindNode,
    ) {
        // discv4.md, FindNode: "To guard against traffic amplification attacks, Neighbors
        // replies should only be sent if the sender of FindNode has been verified by the
        // endpoint proof procedure."
        if !self.is_bonded(now, &id, from.ip()) {
            self.stats.unbonded_queries += 1;
            return;
        }
        // Only nodes the requester may be told of: never our loopback or LAN neighbours to
        // a node outside them (the rule relayed records are held to, from the other side).
        let closest: Vec<_> = self
            .table
            .closest(&NodeHash::of_target(&find.target), BUCKET_SIZE)
            .into_iter()
            .filter(|e| check_relay(from.ip(), e.endpoint.ip).is_ok())
            .collect();
        let expiration = self.expiration(now);
        for chunk in closest.chunks(MAX_NEIGHBORS) {
            let nodes = chunk.iter().map(|e| e.record()).collect();
            self.send(from, &Message::Neighbors(Neighbors { nodes, expiration }));
        }
    }

    pub(super) fn on_neighbors(&mut self, id: NodeId, from: SocketAddr, nodes: Vec<NodeRecord>) {
        let key = (id, from, RequestKind::FindNode);
        let Some(p) = self.pending.get_mut(&key) else {
            self.stats.unsolicited += 1;
            return;
        };
        let room = BUCKET_SIZE - p.nodes.len();
        p.nodes.extend(nodes.into_iter().take(room));
        if p.nodes.len() == BUCKET_SIZE {
            // Removing what `get_mut` just found cannot fail.
            if let Some(p) = self.pending.remove(&key) {
                self.events.push_back(Discv4Event::Neighbors(id, p.nodes));
            }
        }
    }

    pub(super) fn on_enr_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        id: NodeId,
        hash: [u8; 32],
    ) {
        // EIP-868 / discv4.md, ENRRequest: "To guard against amplification attacks, the
        // sender of ENRRequest should have replied to a ping packet recently (just like for
        // FindNode)."
        if !self.is_bonded(now, &id, from.ip()) {
            self.stats.unbonded_queries += 1;
            return;
        }
        let response = Message::EnrResponse(EnrResponse {
            request_hash: hash,
            record: self.local.record().clone(),
        });
        self.send(from, &response);
    }
}
