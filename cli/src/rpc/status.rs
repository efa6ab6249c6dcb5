//! The status page: plain HTML and JavaScript compiled into the binary, no build step.
//!
//! The page holds no data. Its script asks the node once a second over the same JSON-RPC
//! (`admin_nodeInfo`, `admin_peers`, `peerwire_discoveryTable`), draws the peers table and a
//! traffic chart of the last two minutes from the peers' byte counters. With `--rpc-secret`,
//! open the page as `http://ADDR/#token=SECRET`: the fragment never leaves the browser, and
//! the script sends it as the bearer token.

/// `GET /`.
pub(crate) const PAGE: &str = include_str!("status/index.html");
/// `GET /status.js`.
pub(crate) const SCRIPT: &str = include_str!("status/status.js");
