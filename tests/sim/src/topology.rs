//! Where nodes live: regions with their own round-trip times and loss, and node addresses.
//!
//! A node's address says its region (first octet `20 + region`) and gives every node its own
//! /24, as on the internet, so discovery's per-subnet limits apply as they would there.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// First octet of region 0's addresses.
const FIRST_OCTET: u8 = 20;

/// The datagram loss rate between two hosts.
pub trait Loss: Send + Sync + 'static {
    /// The probability that a datagram from `from` to `to` is lost.
    fn rate(&self, from: IpAddr, to: IpAddr) -> f64;
}

/// One region: latency between its nodes and the loss of datagrams to or from them.
#[derive(Clone, Debug)]
pub struct Region {
    /// One-way latency between two nodes of the region, drawn per pair from this range.
    pub latency: (Duration, Duration),
    /// Probability that a datagram to or from a node of this region is lost.
    pub loss: f64,
}

/// The regions and the latency between them.
#[derive(Clone, Debug)]
pub struct Topology {
    /// The regions; a node's region is its index here.
    pub regions: Vec<Region>,
    /// One-way latency between nodes of different regions, drawn per pair from this range.
    pub between: (Duration, Duration),
    /// Loss of every datagram, whatever the regions.
    pub loss: f64,
}

impl Topology {
    /// `n` regions with 10–40 ms inside each and 80–150 ms between them, `loss` everywhere.
    pub fn internet(n: usize, loss: f64) -> Self {
        let region = Region {
            latency: (Duration::from_millis(10), Duration::from_millis(40)),
            loss: 0.0,
        };
        Self {
            regions: vec![region; n.clamp(1, 200)],
            between: (Duration::from_millis(80), Duration::from_millis(150)),
            loss,
        }
    }

    /// The address of node `index` in `region`.
    pub fn address(region: usize, index: usize) -> IpAddr {
        let region = u8::try_from(region).unwrap_or(u8::MAX - FIRST_OCTET);
        let [hi, lo] = u16::try_from(index).unwrap_or(u16::MAX).to_be_bytes();
        IpAddr::V4(Ipv4Addr::new(FIRST_OCTET + region, hi, lo, 1))
    }

    /// The region of a node's address.
    pub fn region_of(ip: IpAddr) -> usize {
        match ip {
            IpAddr::V4(v4) => usize::from(v4.octets()[0].saturating_sub(FIRST_OCTET)),
            IpAddr::V6(_) => 0,
        }
    }

    /// The one-way latency between `a` and `b`, the same for the pair whichever comes first,
    /// drawn from the pair's range with `seed`.
    pub fn latency(&self, seed: u64, a: IpAddr, b: IpAddr) -> Duration {
        let (ra, rb) = (Self::region_of(a), Self::region_of(b));
        let (lo, hi) = if ra == rb {
            self.regions.get(ra).map_or(self.between, |r| r.latency)
        } else {
            self.between
        };
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let mut rng = StdRng::seed_from_u64(seed ^ pair_key(a, b));
        let ms = rng.gen_range(lo.as_millis()..=hi.as_millis().max(lo.as_millis()));
        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

impl Loss for Topology {
    fn rate(&self, from: IpAddr, to: IpAddr) -> f64 {
        let region = |ip| {
            self.regions
                .get(Self::region_of(ip))
                .map_or(0.0, |r| r.loss)
        };
        self.loss.max(region(from)).max(region(to))
    }
}

fn pair_key(a: IpAddr, b: IpAddr) -> u64 {
    let bits = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6) as u64,
    };
    bits(a).rotate_left(32) ^ bits(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_carry_their_region_and_have_their_own_subnet() {
        let a = Topology::address(3, 0);
        let b = Topology::address(3, 1);
        assert_eq!(Topology::region_of(a), 3);
        assert_ne!(
            a.to_string().rsplit_once('.').map(|x| x.0),
            b.to_string().rsplit_once('.').map(|x| x.0)
        );
    }

    #[test]
    fn latency_is_symmetric_and_inside_the_ranges() {
        let t = Topology::internet(5, 0.01);
        let (a, b, c) = (
            Topology::address(0, 1),
            Topology::address(0, 2),
            Topology::address(4, 3),
        );
        assert_eq!(t.latency(7, a, b), t.latency(7, b, a));
        let inside = t.latency(7, a, b);
        assert!((10..=40).contains(&inside.as_millis()), "{inside:?}");
        let across = t.latency(7, a, c);
        assert!((80..=150).contains(&across.as_millis()), "{across:?}");
    }

    #[test]
    fn a_lossy_region_loses_both_ways() {
        let mut t = Topology::internet(2, 0.01);
        t.regions[1].loss = 0.1;
        let (a, b) = (Topology::address(0, 1), Topology::address(1, 2));
        assert_eq!(t.rate(a, b), 0.1);
        assert_eq!(t.rate(b, a), 0.1);
        assert_eq!(t.rate(a, Topology::address(0, 3)), 0.01);
    }
}
