//! Where TXT records come from: a trait, real DNS through `hickory-resolver`, and an
//! in-memory map for tests.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::TokioResolver;

use super::error::ResolveError;

/// Looks up TXT records.
pub trait TxtResolver: Send + Sync + 'static {
    /// The TXT records at `name` (a domain without trailing dot), each with its
    /// character-strings joined. A name without TXT records is [`ResolveError::NotFound`].
    ///
    /// Cancel-safe: dropping the future abandons the lookup.
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send;
}

impl<R: TxtResolver> TxtResolver for Arc<R> {
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send {
        (**self).lookup_txt(name)
    }
}

/// Real DNS through `hickory-resolver` (UDP, and TCP for truncated answers).
#[derive(Clone, Debug)]
pub struct HickoryResolver {
    inner: TokioResolver,
}

impl HickoryResolver {
    /// The system's resolver configuration (`/etc/resolv.conf` on Unix).
    pub fn from_system_conf() -> Result<Self, ResolveError> {
        let builder =
            TokioResolver::builder_tokio().map_err(|e| ResolveError::Failed(Box::new(e)))?;
        Ok(Self {
            inner: builder.build(),
        })
    }

    /// Asks only the server at `addr`, over UDP and TCP, with no cache (every sync sees the
    /// server's current records) and `timeout` per query.
    pub fn with_server(addr: SocketAddr, timeout: Duration) -> Self {
        let mut config = ResolverConfig::new();
        config.add_name_server(NameServerConfig::new(addr, Protocol::Udp));
        config.add_name_server(NameServerConfig::new(addr, Protocol::Tcp));
        let mut builder =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
        let opts = builder.options_mut();
        opts.cache_size = 0;
        opts.timeout = timeout;
        opts.attempts = 2;
        Self {
            inner: builder.build(),
        }
    }

    /// A resolver configured by the caller.
    pub fn new(inner: TokioResolver) -> Self {
        Self { inner }
    }
}

impl TxtResolver for HickoryResolver {
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send {
        // Fully qualified, so no search domain is appended.
        let fqdn = format!("{name}.");
        async move {
            let lookup = self.inner.txt_lookup(fqdn).await.map_err(|e| {
                if e.is_no_records_found() || e.is_nx_domain() {
                    ResolveError::NotFound
                } else if e
                    .proto()
                    .is_some_and(|p| matches!(p.kind(), ProtoErrorKind::Timeout))
                {
                    ResolveError::Timeout
                } else {
                    ResolveError::Failed(Box::new(e))
                }
            })?;
            // A record over 255 bytes arrives as several character-strings (RFC 1035, 3.3.14:
            // "One or more <character-string>s"): joined back here.
            Ok(lookup
                .iter()
                .map(|txt| {
                    let bytes: Vec<u8> = txt.iter().flat_map(|s| s.iter().copied()).collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .collect())
        }
    }
}

/// TXT records from a map, for tests and examples: names compared without case.
#[derive(Debug, Default)]
pub struct MemoryResolver {
    records: Mutex<HashMap<String, Vec<String>>>,
    lookups: AtomicUsize,
}

impl MemoryResolver {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the record at each name, e.g. a [`Tree::to_txt`](super::Tree::to_txt).
    pub fn insert_all(&self, records: impl IntoIterator<Item = (String, String)>) {
        let mut map = self.lock();
        for (name, text) in records {
            map.insert(name.to_ascii_lowercase(), vec![text]);
        }
    }

    /// Sets the records at `name`.
    pub fn set(&self, name: &str, texts: Vec<String>) {
        self.lock().insert(name.to_ascii_lowercase(), texts);
    }

    /// Removes every record.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Lookups answered so far.
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<String>>> {
        // A panic while holding the lock leaves a map that is still consistent.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl TxtResolver for MemoryResolver {
    fn lookup_txt(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<String>, ResolveError>> + Send {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let found = self.lock().get(&name.to_ascii_lowercase()).cloned();
        std::future::ready(
            found
                .filter(|t| !t.is_empty())
                .ok_or(ResolveError::NotFound),
        )
    }
}
