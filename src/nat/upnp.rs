//! UPnP IGD through `igd-next`: find the gateway by SSDP, map our ports, ask its external
//! address. The gateway is searched again after any failed or timed-out round (a restarted
//! router may serve its description at a new URL).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use igd_next::aio::tokio::{search_gateway, Tokio};
use igd_next::aio::Gateway;
use igd_next::{
    AddPortError, GetExternalIpError, GetGenericPortMappingEntryError, PortMappingProtocol,
    RemovePortError, RequestError, SearchError, SearchOptions,
};

use super::machine::{Granted, Mapping, Request};
use super::service::{local_ip_towards, Ports};
use super::NatError;

/// Entries of the gateway's table read to check our mapping is still there; a table
/// longer than this is not read further (the mapping then counts as present).
const MAX_ENTRIES_READ: u32 = 128;

/// A UPnP IGD client; the gateway found is kept until it fails.
#[derive(Debug)]
pub(crate) struct Upnp {
    gateway: Option<Gateway<Tokio>>,
    /// Whether the last round ended, and ended well; if not, `gateway` is searched again.
    last_round_ok: bool,
    search_timeout: Duration,
    description: String,
}

impl Upnp {
    pub(crate) fn new(search_timeout: Duration, description: String) -> Self {
        Self {
            gateway: None,
            last_round_ok: true,
            search_timeout,
            description,
        }
    }

    /// One round: search if needed, check the mapping we hold, map both ports, ask the
    /// external address. Cancel-safe (a cancelled round leaves at most a mapping that its
    /// lease or the next round's removal ends). After a round that failed, or that the
    /// caller's timeout cancelled (a gateway that stopped answering), the next round searches
    /// again; removal on stop still asks the gateway last found.
    pub(crate) async fn map(
        &mut self,
        ports: Ports,
        request: Request,
    ) -> Result<Granted, NatError> {
        if !self.last_round_ok {
            self.gateway = None;
        }
        self.last_round_ok = false;
        let result = self.round(ports, request).await;
        self.last_round_ok = result.is_ok();
        result
    }

    async fn round(&mut self, ports: Ports, request: Request) -> Result<Granted, NatError> {
        let gateway: &Gateway<Tokio> = match &mut self.gateway {
            Some(g) => g,
            None => {
                let options = SearchOptions {
                    timeout: Some(self.search_timeout),
                    single_search_timeout: Some(self.search_timeout),
                    ..SearchOptions::default()
                };
                let found = search_gateway(options).await.map_err(search_error)?;
                tracing::debug!(gateway = %found, "UPnP gateway found");
                self.gateway.insert(found)
            }
        };
        let local_ip = local_ip_towards(gateway.addr.ip()).await?;
        let forgot = match request.current {
            Some(current) => !holds(gateway, local_ip, ports, current).await,
            None => false,
        };
        let lease = u32::try_from(request.lease.as_secs()).unwrap_or(u32::MAX);
        let mut added = Vec::with_capacity(2);
        let external_ip = async {
            for (protocol, port) in [
                (PortMappingProtocol::TCP, Some(ports.tcp)),
                (PortMappingProtocol::UDP, ports.udp),
            ] {
                let Some(port) = port else { continue };
                let local = SocketAddr::new(local_ip, port);
                gateway
                    .add_port(protocol, port, local, lease, &self.description)
                    .await
                    .map_err(add_error)?;
                added.push((protocol, port));
            }
            match gateway.get_external_ip().await.map_err(external_error)? {
                ip if ip.is_unspecified() => Err(NatError::NoExternalAddress),
                ip => Ok(ip),
            }
        }
        .await;
        let external_ip = match external_ip {
            Ok(ip) => ip,
            Err(error) => {
                // The round failed, so the machine holds no mapping: take back what this
                // round did map (only that: a port refused as in use is another host's).
                for (protocol, port) in added {
                    let _ = gateway.remove_port(protocol, port).await;
                }
                return Err(error);
            }
        };
        Ok(Granted {
            mapping: Mapping {
                external_ip,
                tcp_port: ports.tcp,
                udp_port: ports.udp.unwrap_or(0),
                lease: (!request.lease.is_zero()).then_some(request.lease),
            },
            forgot,
        })
    }

    /// Removes the mappings of `mapping` (best effort: errors are returned, nothing retried).
    pub(crate) async fn remove(&mut self, mapping: Mapping) -> Result<(), NatError> {
        let gateway = self.gateway.as_ref().ok_or(NatError::NoGateway)?;
        let tcp = gateway
            .remove_port(PortMappingProtocol::TCP, mapping.tcp_port)
            .await;
        if mapping.udp_port != 0 {
            gateway
                .remove_port(PortMappingProtocol::UDP, mapping.udp_port)
                .await
                .map_err(remove_error)?;
        }
        tcp.map_err(remove_error)
    }
}

/// Whether the gateway's table still maps `current`'s TCP port to us. Only the end of the
/// table (error 713) before our entry says it is gone; a gateway that does not list its
/// table, or fails to, is taken to still hold it (the renewal maps it again anyway).
async fn holds(gateway: &Gateway<Tokio>, local_ip: IpAddr, ports: Ports, current: Mapping) -> bool {
    for index in 0..MAX_ENTRIES_READ {
        let entry = match gateway.get_generic_port_mapping_entry(index).await {
            Ok(entry) => entry,
            Err(GetGenericPortMappingEntryError::SpecifiedArrayIndexInvalid) => return false,
            Err(_) => return true,
        };
        if entry.protocol == PortMappingProtocol::TCP
            && entry.external_port == current.tcp_port
            && entry.internal_port == ports.tcp
            && entry.internal_client.parse::<IpAddr>() == Ok(local_ip)
        {
            return true;
        }
    }
    true
}

fn request_error(e: RequestError) -> NatError {
    match e {
        RequestError::IoError(e) => NatError::Io(e.kind()),
        RequestError::ErrorCode(606, _) => NatError::NotAuthorized,
        RequestError::ErrorCode(..) => NatError::Refused,
        _ => NatError::InvalidResponse,
    }
}

fn search_error(e: SearchError) -> NatError {
    match e {
        SearchError::IoError(e) if e.kind() == std::io::ErrorKind::TimedOut => NatError::NoGateway,
        SearchError::IoError(e) => NatError::Io(e.kind()),
        _ => NatError::NoGateway,
    }
}

fn add_error(e: AddPortError) -> NatError {
    match e {
        AddPortError::ActionNotAuthorized => NatError::NotAuthorized,
        AddPortError::PortInUse => NatError::PortInUse,
        AddPortError::OnlyPermanentLeasesSupported => NatError::OnlyPermanentLeases,
        AddPortError::RequestError(e) => request_error(e),
        _ => NatError::Refused,
    }
}

fn external_error(e: GetExternalIpError) -> NatError {
    match e {
        GetExternalIpError::ActionNotAuthorized => NatError::NotAuthorized,
        GetExternalIpError::RequestError(e) => request_error(e),
    }
}

fn remove_error(e: RemovePortError) -> NatError {
    match e {
        RemovePortError::ActionNotAuthorized => NatError::NotAuthorized,
        RemovePortError::RequestError(e) => request_error(e),
        _ => NatError::Refused,
    }
}
