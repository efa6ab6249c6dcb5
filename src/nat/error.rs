//! Why a port mapping could not be made, and why a `--nat` value could not be parsed.

/// Why the gateway did not map (or keep) our ports. Cheap to clone, so that events can
/// carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NatError {
    /// No gateway answered the search (UPnP SSDP), or no default route names one (NAT-PMP).
    #[error("no gateway found")]
    NoGateway,
    /// The gateway did not answer in time.
    #[error("the gateway did not answer in time")]
    Timeout,
    /// A socket or HTTP request to the gateway failed.
    #[error("request to the gateway failed: {0}")]
    Io(std::io::ErrorKind),
    /// The gateway's answer was not valid for its protocol.
    #[error("the gateway's answer was invalid")]
    InvalidResponse,
    /// The gateway does not let us map ports.
    #[error("the gateway refused: not authorized")]
    NotAuthorized,
    /// The external port is mapped to another host.
    #[error("the gateway refused: port in use")]
    PortInUse,
    /// UPnP error 725 (OnlyPermanentLeasesSupported): the gateway takes lease 0 only.
    #[error("the gateway takes permanent leases only")]
    OnlyPermanentLeases,
    /// The gateway refused for another reason (out of resources, unsupported action...).
    #[error("the gateway refused the mapping")]
    Refused,
    /// The gateway has no usable external address (none, or unspecified).
    #[error("the gateway has no external address")]
    NoExternalAddress,
    /// The gateway no longer holds a mapping we made (it restarted, or dropped it).
    #[error("the gateway forgot our mapping")]
    Forgotten,
}

/// A `--nat` value that is none of `any`, `upnp`, `pmp`, `extip:IP`, `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseNatError {
    /// Not one of the known mechanisms.
    #[error("expected any, upnp, pmp, extip:IP or none")]
    Unknown,
    /// `extip:` followed by something that is not an IP address.
    #[error("extip: needs an IP address")]
    BadIp,
}
