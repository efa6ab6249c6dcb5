//! A DNS server on loopback serving TXT records, for tests and benchmarks of DNS discovery
//! over real DNS (UDP and TCP), on `hickory-server`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::authority::{AuthorityObject, Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use tokio::net::{TcpListener, UdpSocket};

use super::entry::character_strings;
use super::resolver::HickoryResolver;

/// Why the test server could not start or publish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestServerError {
    /// Binding the sockets failed.
    #[error("binding the DNS test server: {0}")]
    Bind(#[from] std::io::Error),
    /// A name is not a DNS name.
    #[error("not a DNS name")]
    Name,
}

/// An authoritative server for one zone on `127.0.0.1`, UDP and TCP on one ephemeral port.
/// Stops when dropped.
pub struct TestDnsServer {
    addr: SocketAddr,
    origin: Name,
    authority: Arc<InMemoryAuthority>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for TestDnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDnsServer")
            .field("addr", &self.addr)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl TestDnsServer {
    /// Serves the zone `zone` (e.g. `"nodes.example"`), empty at first.
    pub async fn start(zone: &str) -> Result<Self, TestServerError> {
        let origin = Name::from_ascii(format!("{zone}.")).map_err(|_| TestServerError::Name)?;
        let authority = Arc::new(InMemoryAuthority::empty(
            origin.clone(),
            ZoneType::Primary,
            false,
        ));
        let mut catalog = Catalog::new();
        catalog.upsert(
            LowerName::new(&origin),
            vec![Arc::clone(&authority) as Arc<dyn AuthorityObject>],
        );
        let (udp, tcp) = bind_pair().await?;
        let addr = udp.local_addr()?;
        let mut server = ServerFuture::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5));
        let task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        let this = Self {
            addr,
            origin,
            authority,
            task,
        };
        this.publish(&BTreeMap::new()).await?;
        Ok(this)
    }

    /// Where the server listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A resolver that asks only this server, with no cache.
    pub fn resolver(&self) -> HickoryResolver {
        HickoryResolver::with_server(self.addr, Duration::from_secs(2))
    }

    /// Replaces every record with `records` (name → TXT text, e.g. a
    /// [`Tree::to_txt`](super::Tree::to_txt) of this zone; names outside it are skipped).
    /// Each text is cut into character-strings of 255 bytes at most, as DNS requires.
    pub async fn publish(&self, records: &BTreeMap<String, String>) -> Result<(), TestServerError> {
        self.authority.records_mut().await.clear();
        let serial = 1;
        let soa = SOA::new(
            self.origin.clone(),
            self.origin.clone(),
            serial,
            60,
            60,
            60,
            0,
        );
        self.authority
            .upsert(
                Record::from_rdata(self.origin.clone(), 0, RData::SOA(soa)),
                serial,
            )
            .await;
        for (name, text) in records {
            let name = Name::from_ascii(format!("{name}.")).map_err(|_| TestServerError::Name)?;
            if !self.origin.zone_of(&name) {
                continue;
            }
            let txt = TXT::new(character_strings(text).map(str::to_owned).collect());
            self.authority
                .upsert(Record::from_rdata(name, 0, RData::TXT(txt)), serial)
                .await;
        }
        Ok(())
    }
}

impl Drop for TestDnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A UDP socket and a TCP listener on the same ephemeral loopback port.
async fn bind_pair() -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        match TcpListener::bind(udp.local_addr()?).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrInUse)))
}
