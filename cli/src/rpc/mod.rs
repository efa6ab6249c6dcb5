//! `node --rpc ADDR` and `--ipc PATH`: the admin JSON-RPC server, and the status page.
//!
//! ```text
//! mod.rs       flags, start: binds the listeners, checks the safety rule
//! admin.rs     the methods (jsonrpsee RpcModule): admin_* as geth names them, peerwire_*
//! conn.rs      one connection: HTTP/1.1 (hyper), routing, limits, the secret and Host checks
//! auth.rs      the secret: a bearer token read from a file, compared in constant time
//! ipc.rs       the unix socket (mode 0600), HTTP over it
//! per_host.rs  how many connections one remote host holds (loopback is not limited)
//! status.rs    the status page's files, compiled in
//! ```
//!
//! Both transports speak HTTP/1.1 and share one code path: the unix socket carries the same
//! requests as TCP (as Docker's and systemd's sockets do), so limits, errors and `attach` are
//! one implementation, and `curl --unix-socket` works on it.

mod admin;
pub(crate) mod auth;
mod conn;
mod ipc;
mod per_host;
mod status;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use jsonrpsee::server::stop_channel;
use jsonrpsee::Methods;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub(crate) use self::admin::Admin;
use self::auth::Secret;
use self::conn::Shared;
use self::per_host::PerHost;

/// The largest request body taken; a larger one is answered 413 with JSON-RPC error -32007.
pub(crate) const MAX_REQUEST: u32 = 1024 * 1024;
/// The largest response written (`admin_peers` of a full node is tens of kilobytes).
const MAX_RESPONSE: u32 = 16 * 1024 * 1024;
/// Connections open at once on the HTTP listener; past it a new connection is closed at once.
/// Each costs a task and hyper's buffers (about 10 KiB while idle).
const MAX_HTTP_CONNECTIONS: usize = 2048;
/// Connections open at once on the unix socket.
const MAX_IPC_CONNECTIONS: usize = 64;

/// The RPC flags of `peerwire node`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RpcArgs {
    /// Serve admin JSON-RPC over HTTP and the status page at http://ADDR/, e.g.
    /// 127.0.0.1:8545. A non-loopback ADDR needs --rpc-secret.
    #[arg(long, value_name = "ADDR")]
    rpc: Option<SocketAddr>,
    /// A file holding the RPC secret (at least 32 characters; `peerwire keygen --out FILE`
    /// makes a good one): every RPC request over HTTP must then carry
    /// `Authorization: Bearer <secret>`.
    #[arg(long, value_name = "FILE")]
    rpc_secret: Option<PathBuf>,
    /// Serve admin JSON-RPC on a unix socket at PATH (mode 0600), HTTP over it.
    #[arg(long, value_name = "PATH")]
    ipc: Option<PathBuf>,
}

/// Where the RPC servers listen, once started.
#[derive(Debug, Default)]
pub(crate) struct Started {
    pub(crate) http: Option<SocketAddr>,
    pub(crate) ipc: Option<PathBuf>,
}

/// Checks the flags before anything starts: a non-loopback `--rpc` needs a secret, and the
/// secret file must be readable and long enough.
pub(crate) fn check(args: &RpcArgs) -> Result<Option<Secret>, String> {
    let secret = args.rpc_secret.as_deref().map(Secret::read).transpose()?;
    if let Some(addr) = args.rpc {
        if !addr.ip().is_loopback() && secret.is_none() {
            return Err(format!(
                "--rpc {addr} is not a loopback address: anyone who reaches it could control \
                 the node; give --rpc-secret FILE"
            ));
        }
    }
    Ok(secret)
}

/// Binds the listeners the flags ask for and serves them until the process ends, on a
/// thread with a runtime of its own: RPC clients, however many and however busy, then
/// compete with the peers only for the CPU (where the kernel's scheduler favours the
/// node's threads that wake for a frame), never for a place in the node's task queues.
pub(crate) fn start(
    args: &RpcArgs,
    secret: Option<Secret>,
    admin: Admin,
) -> Result<Started, String> {
    let mut started = Started::default();
    let tcp = match args.rpc {
        Some(addr) => {
            let failed = |e: std::io::Error| format!("cannot listen for RPC on {addr}: {e}");
            let listener = std::net::TcpListener::bind(addr).map_err(failed)?;
            listener.set_nonblocking(true).map_err(failed)?;
            started.http = Some(listener.local_addr().map_err(failed)?);
            Some(listener)
        }
        None => None,
    };
    let unix = match &args.ipc {
        Some(path) => {
            let listener = ipc::bind(path)?;
            started.ipc = Some(path.clone());
            Some(listener)
        }
        None => None,
    };
    if tcp.is_none() && unix.is_none() {
        return Ok(started);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the RPC runtime: {e}"))?;
    let methods: Methods = admin::module(admin).into();
    std::thread::Builder::new()
        .name("rpc".into())
        .spawn(move || runtime.block_on(serve(tcp, unix, secret, methods)))
        .map_err(|e| format!("cannot start the RPC thread: {e}"))?;
    Ok(started)
}

/// The RPC runtime's main task: the accept loops. Never returns.
async fn serve(
    tcp: Option<std::net::TcpListener>,
    unix: Option<std::os::unix::net::UnixListener>,
    secret: Option<Secret>,
    methods: Methods,
) {
    // Never stopped: the servers live as long as the node's process. Each listener's
    // `Shared` holds a clone of the stop side, so no call sees the server as stopped.
    let (stop, handle) = stop_channel();
    let handle = Arc::new(handle);
    if let Some(listener) = tcp {
        match TcpListener::from_std(listener) {
            Ok(listener) => {
                let shared = Shared::new(
                    methods.clone(),
                    (stop.clone(), handle.clone()),
                    secret,
                    true,
                );
                tokio::spawn(conn::accept_tcp(
                    listener,
                    Arc::new(shared),
                    Arc::new(Semaphore::new(MAX_HTTP_CONNECTIONS)),
                    PerHost::new(per_host::MAX_PER_HOST),
                ));
            }
            Err(e) => tracing::error!(error = %e, "RPC listener lost"),
        }
    }
    if let Some(listener) = unix {
        match tokio::net::UnixListener::from_std(listener) {
            Ok(listener) => {
                let shared = Shared::new(methods, (stop, handle), None, false);
                tokio::spawn(ipc::accept(
                    listener,
                    Arc::new(shared),
                    Arc::new(Semaphore::new(MAX_IPC_CONNECTIONS)),
                ));
            }
            Err(e) => tracing::error!(error = %e, "IPC listener lost"),
        }
    }
    std::future::pending::<()>().await;
}
