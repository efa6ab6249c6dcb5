//! Why an entry could not be read, a name not resolved, or a tree not synced.

/// Why the text of one tree entry (or an `enrtree://` URL) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The text is longer than any entry a conforming tree holds.
    #[error("tree entry is too long")]
    TooLong,
    /// None of `enrtree-root:v1`, `enrtree-branch:`, `enr:` or `enrtree://`.
    #[error("unknown tree entry type")]
    UnknownType,
    /// The root is not `enrtree-root:v1 e=<hash> l=<hash> seq=<n> sig=<sig>`.
    #[error("malformed tree root")]
    RootSyntax,
    /// A subdomain hash is not 12 to 32 bytes of unpadded base32.
    #[error("malformed entry hash")]
    Hash,
    /// The root's `seq` is not a canonical decimal number that fits in 64 bits.
    #[error("malformed sequence number")]
    Seq,
    /// The root's `sig` is not 65 bytes of unpadded URL-safe base64.
    #[error("malformed root signature")]
    Signature,
    /// A link's key is not a compressed secp256k1 public key in base32.
    #[error("malformed public key in link")]
    Key,
    /// A link has no `@` between key and domain, or the domain is not a DNS name.
    #[error("malformed domain in link")]
    Domain,
    /// An `enr:` leaf is not a valid, correctly signed node record.
    #[error("invalid node record")]
    Enr,
}

/// Why a TXT lookup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The name does not exist or has no TXT record.
    #[error("no TXT record at the name")]
    NotFound,
    /// The lookup timed out.
    #[error("TXT lookup timed out")]
    Timeout,
    /// The resolver failed for another reason (network, malformed answer).
    #[error("TXT lookup failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Why a tree (or a tree it links to) was not synced.
///
/// Who is at fault: [`Resolve`](Self::Resolve) and [`Timeout`](Self::Timeout) may be the
/// network; every other variant is the tree's publisher (or someone forging it), and the
/// tree is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// A name could not be resolved.
    #[error("DNS lookup failed: {0}")]
    Resolve(#[from] ResolveError),
    /// The tree's domain has no `enrtree-root:v1` TXT record.
    #[error("no enrtree-root record at the tree's domain")]
    NoRoot,
    /// An entry (or the root) is malformed.
    #[error("malformed tree entry: {0}")]
    Entry(#[from] EntryError),
    /// The root is not signed by the key of the tree's URL.
    #[error("root signature does not match the tree's key")]
    BadSignature,
    /// The root's sequence number is lower than one already seen for the tree.
    #[error("root sequence number {got} is lower than {seen}, seen before")]
    SeqRegressed {
        /// The highest number seen before.
        seen: u64,
        /// The root's.
        got: u64,
    },
    /// No TXT record at a hash subdomain has content whose keccak256 starts with that hash.
    #[error("entry content does not match its hash")]
    HashMismatch,
    /// An `enrtree://` link leaf in the subtree of `enr-root`.
    #[error("link entry in the node record subtree")]
    LinkInEnrTree,
    /// An `enr:` leaf in the subtree of `link-root`.
    #[error("node record in the link subtree")]
    EnrInLinkTree,
    /// The tree has more entries than are left for it of
    /// [`DnsConfig::max_entries`](super::DnsConfig) (the number given), after the trees synced
    /// before it in the same sync.
    #[error("tree has more than {0} entries")]
    TooManyEntries(usize),
    /// Branches nest deeper than [`DnsConfig::max_depth`](super::DnsConfig).
    #[error("tree branches nest deeper than {0}")]
    TooDeep(usize),
    /// More linked trees than [`DnsConfig::max_links`](super::DnsConfig).
    #[error("more than {0} linked trees")]
    TooManyLinks(usize),
    /// A link leads back to a tree on the path that led to it.
    #[error("link leads back to a tree that links to it")]
    LinkLoop,
    /// The sync took longer than [`DnsConfig::sync_timeout`](super::DnsConfig).
    #[error("tree sync timed out")]
    Timeout,
}
