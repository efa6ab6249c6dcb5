//! NAT-PMP (RFC 6886) through `crab_nat`: map our ports at the default route's gateway, ask
//! its external address, and tell from its epoch whether it lost our mappings.

use std::net::IpAddr;
use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use crab_nat::natpmp::{self, Failure};
use crab_nat::{InternetProtocol, PortMappingOptions, TimeoutConfig};

use super::machine::{Granted, Mapping, Request};
use super::service::Ports;
use super::NatError;

/// RFC 6886 3.1 retransmits from 250 ms, doubling, up to 9 times (64 s in all); we give up
/// sooner and let the machine's retry take over: 250 + 500 + 1000 ms.
const TIMEOUTS: TimeoutConfig = TimeoutConfig {
    initial_timeout: Duration::from_millis(250),
    max_retries: 2,
    max_retry_timeout: Some(Duration::from_secs(1)),
};

/// A NAT-PMP client of one gateway.
#[derive(Debug)]
pub(crate) struct Pmp {
    gateway: Option<IpAddr>,
    /// The gateway's epoch (seconds since its mappings were reset) at our last answer.
    epoch: Option<(u32, Instant)>,
}

impl Pmp {
    /// A client of `gateway`, or of the default route's gateway when `None`.
    pub(crate) fn new(gateway: Option<IpAddr>) -> Self {
        Self {
            gateway,
            epoch: None,
        }
    }

    fn gateway(&self) -> Result<IpAddr, NatError> {
        match self.gateway {
            Some(ip) => Ok(ip),
            None => default_gateway().ok_or(NatError::NoGateway),
        }
    }

    /// One round: map both ports (asking again for the external ports we hold), ask the
    /// external address. Cancel-safe in the same sense as UPnP's.
    pub(crate) async fn map(
        &mut self,
        ports: Ports,
        request: Request,
    ) -> Result<Granted, NatError> {
        let gateway = self.gateway()?;
        // NAT-PMP has no permanent lease: lifetime 0 deletes (RFC 6886 3.4).
        let lifetime = u32::try_from(request.lease.as_secs().max(1)).unwrap_or(u32::MAX);
        let wanted = |port: u16| PortMappingOptions {
            external_port: NonZeroU16::new(port),
            lifetime_seconds: Some(lifetime),
            timeout_config: Some(TIMEOUTS),
        };
        let current = request.current;
        let tcp_internal = NonZeroU16::new(ports.tcp).ok_or(NatError::Refused)?;
        let tcp = natpmp::port_mapping(
            gateway,
            InternetProtocol::Tcp,
            tcp_internal,
            wanted(current.map_or(ports.tcp, |m| m.tcp_port)),
        )
        .await
        .map_err(failure)?;
        let forgot = self.epoch_went_back(tcp.gateway_epoch(), Instant::now());
        let rest = async {
            let (udp, udp_lifetime) = match ports.udp.and_then(NonZeroU16::new) {
                Some(internal) => {
                    let m = natpmp::port_mapping(
                        gateway,
                        InternetProtocol::Udp,
                        internal,
                        wanted(current.map_or(internal.get(), |m| m.udp_port)),
                    )
                    .await
                    .map_err(failure)?;
                    (m.external_port().get(), m.lifetime())
                }
                None => (0, tcp.lifetime()),
            };
            match natpmp::external_address(gateway, Some(TIMEOUTS))
                .await
                .map_err(failure)?
            {
                ip if ip.is_unspecified() => Err(NatError::NoExternalAddress),
                ip => Ok((udp, udp_lifetime, ip)),
            }
        }
        .await;
        let (udp, udp_lifetime, external_ip) = match rest {
            Ok(rest) => rest,
            Err(error) => {
                // The round failed, so the machine holds no mapping: delete ours (NAT-PMP
                // deletes by our internal port, so never another host's).
                let _ = self.remove(ports).await;
                return Err(error);
            }
        };
        Ok(Granted {
            mapping: Mapping {
                external_ip: external_ip.into(),
                tcp_port: tcp.external_port().get(),
                udp_port: udp,
                // The gateway may grant each a lifetime of its own: renew before the shorter ends.
                lease: Some(Duration::from_secs(tcp.lifetime().min(udp_lifetime).into())),
            },
            forgot: forgot && current.is_some(),
        })
    }

    /// RFC 6886 3.6: *"If the client's clock has advanced by N seconds since the last
    /// response, and the SSSoE [epoch] in the new response is less than N*7/8 seconds
    /// above the previous SSSoE minus 2 seconds, the client knows the NAT gateway has
    /// restarted and lost its mappings."* Records the new epoch.
    fn epoch_went_back(&mut self, epoch: u32, now: Instant) -> bool {
        let went_back = self.epoch.is_some_and(|(last, at)| {
            let elapsed = now.saturating_duration_since(at).as_secs();
            let expected = u64::from(last) + elapsed * 7 / 8;
            u64::from(epoch) + 2 < expected
        });
        self.epoch = Some((epoch, now));
        went_back
    }

    /// Deletes our mappings (lifetime 0, RFC 6886 3.4).
    pub(crate) async fn remove(&mut self, ports: Ports) -> Result<(), NatError> {
        let gateway = self.gateway()?;
        let tcp = natpmp::try_drop_mapping(
            gateway,
            InternetProtocol::Tcp,
            NonZeroU16::new(ports.tcp),
            Some(TIMEOUTS),
        )
        .await;
        if let Some(udp) = ports.udp.and_then(NonZeroU16::new) {
            natpmp::try_drop_mapping(gateway, InternetProtocol::Udp, Some(udp), Some(TIMEOUTS))
                .await
                .map_err(failure)?;
        }
        tcp.map_err(failure)
    }
}

fn failure(e: Failure) -> NatError {
    match e {
        Failure::Socket(e) => NatError::Io(e.kind()),
        Failure::Timeout => NatError::Timeout,
        Failure::InvalidResponse(_) | Failure::UnsupportedVersion(_) => NatError::InvalidResponse,
        Failure::NotAuthorized => NatError::NotAuthorized,
        Failure::NetworkFailure => NatError::NoExternalAddress,
        _ => NatError::Refused,
    }
}

/// The IPv4 gateway of the default route, from `/proc/net/route` (Linux; `None` elsewhere
/// or without one).
fn default_gateway() -> Option<IpAddr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    parse_route_table(&table)
}

/// `/proc/net/route`: a header line, then `Iface Destination Gateway Flags ...` with
/// addresses in hex, in host byte order (the tests' tables are little-endian). The default
/// route has destination 0 and the gateway flag (0x2).
fn parse_route_table(table: &str) -> Option<IpAddr> {
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (destination, gateway, flags) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
        let flags = u16::from_str_radix(flags, 16).ok()?;
        if *destination != "00000000" || flags & 0x2 == 0 {
            return None;
        }
        let raw = u32::from_str_radix(gateway, 16).ok()?;
        Some(IpAddr::from(raw.to_ne_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_default_gateway_from_the_route_table() {
        // A lan host with 10.77.1.2/24 and a default route via 10.77.1.1.
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
            lan0\t00014D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
            lan0\t00000000\t01014D0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(parse_route_table(table), Some(IpAddr::from([10, 77, 1, 1])));
        assert_eq!(
            parse_route_table(
                table
                    .lines()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join("\n")
                    .as_str()
            ),
            None
        );
    }

    #[test]
    fn an_epoch_that_went_back_means_the_gateway_restarted() {
        let mut pmp = Pmp::new(None);
        let t0 = Instant::now();
        assert!(
            !pmp.epoch_went_back(1000, t0),
            "the first answer has nothing to compare"
        );
        assert!(!pmp.epoch_went_back(1600, t0 + Duration::from_secs(600)));
        // 600 s later an epoch of 30 s: it restarted.
        assert!(pmp.epoch_went_back(30, t0 + Duration::from_secs(1200)));
        // A gateway clock a little slow (7/8 of ours, minus 2 s) is tolerated.
        assert!(!pmp.epoch_went_back(30 + 7 * 80 / 8 - 2, t0 + Duration::from_secs(1280)));
    }
}
