//! [`DbStore`]: the peer store in a redb database file.
//!
//! Tables (keys and values laid out by `codec.rs`):
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `meta` | `"schema"` | the layout version, [`SCHEMA_VERSION`] |
//! | `nodes` | node id (64 bytes) | address, last seen, last connected, dial failures (40 bytes) |
//! | `bans` | 0 ‖ IPv6 address, or 1 ‖ node id | expiry, Unix seconds (`u64::MAX`: none) |
//! | `static_peers` | node id | address (20 bytes) |
//! | `trusted_peers` | node id | nothing |
//! | `reputation` | node id | score, Unix seconds (12 bytes) |
//!
//! Every [`PeerStore::apply`] is one write transaction, committed durably (redb's default:
//! the commit returns once the data is on disk), so a crash leaves the last committed batch.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::codec;
use super::{Change, PeerStore, Snapshot, StoreError, StoredBan, StoredNode, SCHEMA_VERSION};

const META: TableDefinition<'_, &str, u32> = TableDefinition::new("meta");
const NODES: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("nodes");
const BANS: TableDefinition<'_, &[u8], u64> = TableDefinition::new("bans");
const STATICS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("static_peers");
const TRUSTED: TableDefinition<'_, &[u8], ()> = TableDefinition::new("trusted_peers");
const REPUTATION: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("reputation");

const SCHEMA_KEY: &str = "schema";

/// A [`PeerStore`] in a redb file. Opening takes redb's own lock on the file: a second
/// open of the same file, in this process or another, fails.
#[derive(Debug)]
pub struct DbStore {
    db: Database,
    path: PathBuf,
    max_nodes: usize,
}

impl DbStore {
    /// Opens the store at `path`, creating it if there is no file (or an empty one), and
    /// migrating an older layout. Keeps at most `max_nodes` nodes (about an eighth more
    /// between prunings); see [`DEFAULT_MAX_NODES`](super::DEFAULT_MAX_NODES).
    ///
    /// Fails on a file that is not a redb database, one damaged past what redb repairs,
    /// or one of a newer layout ([`StoreError::SchemaTooNew`], file untouched).
    pub fn open(path: &Path, max_nodes: usize) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        let found = {
            let mut meta = tx.open_table(META)?;
            let found = meta.get(SCHEMA_KEY)?.map(|v| v.value());
            match found {
                Some(v) if v > SCHEMA_VERSION => None,
                Some(v) => Some(v),
                None => {
                    meta.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
                    Some(SCHEMA_VERSION)
                }
            }
        };
        let Some(found) = found else {
            let version = tx
                .open_table(META)?
                .get(SCHEMA_KEY)?
                .map_or(0, |v| v.value());
            tx.abort()?;
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: SCHEMA_VERSION,
            });
        };
        migrate(&tx, found)?;
        // Creates the tables a new store lacks, so that reads need not handle their absence.
        tx.open_table(NODES)?;
        tx.open_table(BANS)?;
        tx.open_table(STATICS)?;
        tx.open_table(TRUSTED)?;
        tx.open_table(REPUTATION)?;
        tx.commit()?;
        Ok(Self {
            db,
            path: path.to_owned(),
            max_nodes: max_nodes.max(1),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Brings a store of layout `from` to [`SCHEMA_VERSION`], inside the opening transaction,
/// one version at a time. Version 1 is the first layout, so nothing is older yet; a later
/// layout adds its step here (`1 => { rewrite the tables; from = 2 }`) and bumps the version.
fn migrate(tx: &WriteTransaction, from: u32) -> Result<(), StoreError> {
    if from < SCHEMA_VERSION {
        tx.open_table(META)?.insert(SCHEMA_KEY, SCHEMA_VERSION)?;
    }
    Ok(())
}

impl PeerStore for DbStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let tx = self.db.begin_read()?;
        let mut snapshot = Snapshot::default();
        for entry in tx.open_table(NODES)?.iter()? {
            let (k, v) = entry?;
            snapshot
                .nodes
                .push(codec::decode_node(k.value(), v.value())?);
        }
        for entry in tx.open_table(BANS)?.iter()? {
            let (k, v) = entry?;
            snapshot.bans.push(StoredBan {
                target: codec::decode_ban_key(k.value())?,
                until: codec::decode_until(v.value()),
            });
        }
        for entry in tx.open_table(STATICS)?.iter()? {
            let (k, v) = entry?;
            snapshot
                .static_peers
                .push(codec::decode_static(k.value(), v.value())?);
        }
        for entry in tx.open_table(TRUSTED)?.iter()? {
            let (k, _) = entry?;
            snapshot
                .trusted_peers
                .push(codec::node_id(k.value(), "trusted peer")?);
        }
        for entry in tx.open_table(REPUTATION)?.iter()? {
            let (k, v) = entry?;
            snapshot
                .reputation
                .push(codec::decode_reputation(k.value(), v.value())?);
        }
        Ok(snapshot)
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut nodes = tx.open_table(NODES)?;
            let mut bans = tx.open_table(BANS)?;
            let mut statics = tx.open_table(STATICS)?;
            let mut trusted = tx.open_table(TRUSTED)?;
            let mut reputation = tx.open_table(REPUTATION)?;
            for change in changes {
                match change {
                    Change::Node(update) => {
                        let key = update.id.as_bytes().as_slice();
                        // A damaged entry is replaced, not a reason to drop the batch.
                        let old = nodes
                            .get(key)?
                            .and_then(|v| codec::decode_node(key, v.value()).ok());
                        if let Some(node) = update.apply_to(old) {
                            nodes.insert(key, codec::encode_node(&node).as_slice())?;
                        }
                    }
                    Change::Ban(ban) => {
                        let key = codec::ban_key(&ban.target);
                        bans.insert(key.as_slice(), codec::encode_until(ban.until))?;
                    }
                    Change::Unban(target) => {
                        bans.remove(codec::ban_key(target).as_slice())?;
                    }
                    Change::AddStatic(enode) => {
                        let value = codec::encode_endpoint(enode);
                        statics.insert(enode.id.as_bytes().as_slice(), value.as_slice())?;
                    }
                    Change::RemoveStatic(id) => {
                        statics.remove(id.as_bytes().as_slice())?;
                    }
                    Change::AddTrusted(id) => {
                        trusted.insert(id.as_bytes().as_slice(), ())?;
                    }
                    Change::RemoveTrusted(id) => {
                        trusted.remove(id.as_bytes().as_slice())?;
                    }
                    Change::Reputation(rep) => {
                        let key = rep.id.as_bytes().as_slice();
                        if rep.score == 0 {
                            reputation.remove(key)?;
                        } else {
                            reputation.insert(key, codec::encode_reputation(rep).as_slice())?;
                        }
                    }
                }
            }
            let len = usize::try_from(nodes.len()?).unwrap_or(usize::MAX);
            if len > self.max_nodes.saturating_add(self.max_nodes / 8) {
                prune(&mut nodes, self.max_nodes)?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// Forgets the nodes live longest ago until `keep` remain (damaged entries first).
fn prune(nodes: &mut redb::Table<'_, &[u8], &[u8]>, keep: usize) -> Result<(), StoreError> {
    let mut all: Vec<(u64, Vec<u8>)> = Vec::new();
    for entry in nodes.iter()? {
        let (k, v) = entry?;
        let live =
            codec::decode_node(k.value(), v.value()).map_or(0, |n: StoredNode| n.last_live());
        all.push((live, k.value().to_vec()));
    }
    all.sort_unstable();
    let extra = all.len().saturating_sub(keep);
    for (_, key) in all.into_iter().take(extra) {
        nodes.remove(key.as_slice())?;
    }
    Ok(())
}
