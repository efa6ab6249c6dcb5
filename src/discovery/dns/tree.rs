//! Building and signing a tree from node records and links, and the TXT records that
//! publish it (what go-ethereum's `devp2p dns sign` and `dns to-txt` do).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use secp256k1::{PublicKey, SecretKey, SECP256K1};

use super::entry::{character_strings, Entry, EntryHash, Link, Root};
use super::error::EntryError;
use crate::discovery::enr::{self, Record};

/// Hashes in one branch: 13 labels of 26 characters and their commas stay under 370 bytes,
/// so a branch answer fits the EIP's 512-byte UDP packet (go-ethereum's choice too).
pub const MAX_CHILDREN: usize = 13;

/// A signed tree: the root and every entry below it, by hash.
#[derive(Clone, Debug)]
pub struct Tree {
    root: Root,
    entries: BTreeMap<EntryHash, String>,
}

impl Tree {
    /// The tree of `records` and `links` with sequence number `seq`, signed with `key`.
    ///
    /// Records are sorted by node id (so the same list gives the same tree) and a node
    /// listed twice keeps its record with the highest `seq`. EIP-1459: *"No particular ordering or structure is
    /// defined for the tree."* Here leaves hang [`MAX_CHILDREN`] to a branch, and branches the
    /// same way, up to one top branch per subtree (a single leaf is its own subtree).
    pub fn sign(seq: u64, records: &[Record], links: &[Link], key: &SecretKey) -> Self {
        let mut sorted: Vec<&Record> = records.iter().collect();
        // Highest `seq` first within a node, so deduplication keeps the newest record.
        sorted.sort_by_key(|r| (enr::node_id(r), std::cmp::Reverse(r.seq())));
        sorted.dedup_by_key(|r| enr::node_id(r));
        let mut entries = BTreeMap::new();
        let enr_leaves: Vec<String> = sorted
            .iter()
            .map(|r| Entry::Enr(Box::new((*r).clone())).to_string())
            .collect();
        let link_leaves: Vec<String> = links.iter().map(ToString::to_string).collect();
        let enr_root = build(&mut entries, enr_leaves);
        let link_root = build(&mut entries, link_leaves);
        Self {
            root: Root::sign(enr_root, link_root, seq, key),
            entries,
        }
    }

    /// The signed root.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Entries below the root (branches and leaves).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the tree has no entry below the root (it always has two subtrees, so never).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The records to publish: the root at `domain`, every entry at `<hash>.<domain>`, as
    /// full text (a DNS server splits each into character-strings, see
    /// [`character_strings`]). With an empty `domain`, the root is under `""` and entries
    /// under their bare hash.
    pub fn to_txt(&self, domain: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(domain.to_owned(), self.root.to_string());
        for (hash, text) in &self.entries {
            let name = if domain.is_empty() {
                hash.to_string()
            } else {
                format!("{hash}.{domain}")
            };
            out.insert(name, text.clone());
        }
        out
    }

    /// The records as zone-file lines (`name ttl IN TXT "..." "..."`), names relative to the
    /// zone (`@` for the root), each value cut into character-strings of 255 bytes at most.
    /// EIP-1459's rationale: *"only the root of the tree needs a short TTL. Intermediate
    /// entries and leaves can be cached for days."*
    pub fn to_zone(&self, root_ttl: u32, entry_ttl: u32) -> String {
        let mut out = String::new();
        let mut line = |name: &str, ttl: u32, text: &str| {
            // Writing to a String cannot fail.
            let _ = write!(out, "{name:<27} {ttl:<6} IN TXT");
            for piece in character_strings(text) {
                // Entry text has no `"` or `\` to escape (base32, base64url, DNS names).
                let _ = write!(out, " \"{piece}\"");
            }
            out.push('\n');
        };
        line("@", root_ttl, &self.root.to_string());
        for (hash, text) in &self.entries {
            line(&hash.to_string(), entry_ttl, text);
        }
        out
    }

    /// The tree's `enrtree://` URL at `domain`, with the key that signed it.
    pub fn url(&self, domain: &str) -> Result<Link, EntryError> {
        // The root was signed by us, so recovery succeeds; a key is needed only for the URL.
        let key = self.root.signer().ok_or(EntryError::Signature)?;
        Link::new(key, domain)
    }
}

/// The `enrtree://` URL for a tree signed with `key` at `domain`.
pub fn url_for(key: &SecretKey, domain: &str) -> Result<Link, EntryError> {
    Link::new(PublicKey::from_secret_key(SECP256K1, key), domain)
}

/// Hangs `leaves` under branches of at most [`MAX_CHILDREN`], recording every entry, and
/// returns the hash of the subtree's top.
fn build(entries: &mut BTreeMap<EntryHash, String>, mut level: Vec<String>) -> EntryHash {
    loop {
        if level.len() == 1 {
            let top = level.remove(0);
            let hash = EntryHash::of(&top);
            entries.insert(hash, top);
            return hash;
        }
        let mut next = Vec::with_capacity(level.len().div_ceil(MAX_CHILDREN));
        // An empty level gives one empty branch: the subtree of a tree with no links.
        let chunks: Vec<&[String]> = if level.is_empty() {
            vec![&[]]
        } else {
            level.chunks(MAX_CHILDREN).collect()
        };
        for chunk in chunks {
            let mut hashes = Vec::with_capacity(chunk.len());
            for text in chunk {
                let hash = EntryHash::of(text);
                entries.insert(hash, text.clone());
                hashes.push(hash);
            }
            next.push(Entry::Branch(hashes).to_string());
        }
        level = next;
    }
}
