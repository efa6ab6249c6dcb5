//! The entries of an EIP-1459 tree and their text forms: the signed root, branches, node
//! record leaves and links (which are also the `enrtree://` URL of a tree).

use std::fmt;
use std::str::FromStr;

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use secp256k1::ecdsa::{RecoverableSignature, Signature};
use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};

use super::error::EntryError;
use crate::crypto::keccak::keccak256;
use crate::discovery::enr::Record;

/// Bytes of keccak256 a subdomain label keeps when we build a tree: 26 base32 characters, as
/// in the EIP's example and go-ethereum's trees.
pub const HASH_LEN: usize = 16;

/// The shortest label accepted when reading (go-ethereum's bound).
const MIN_HASH_LEN: usize = 12;

/// The longest entry text read. A node record is at most 300 bytes (EIP-778), 404 characters
/// as `enr:` text; a branch of go-ethereum's has 13 hashes, under 400. Twice the EIP's 512-byte
/// UDP packet leaves room for other builders.
pub const MAX_ENTRY_LEN: usize = 1024;

const ROOT_PREFIX: &str = "enrtree-root:v1";
const BRANCH_PREFIX: &str = "enrtree-branch:";
const LINK_PREFIX: &str = "enrtree://";
const ENR_PREFIX: &str = "enr:";

/// A subdomain label: the base32 form of the first bytes of an entry's keccak256.
///
/// EIP-1459: *"The subdomain name of any entry is the base32 encoding of the (abbreviated)
/// keccak256 hash of its text content."*
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryHash {
    bytes: [u8; 32],
    len: u8,
}

impl EntryHash {
    /// The hash of `text`, abbreviated to [`HASH_LEN`] bytes.
    pub fn of(text: &str) -> Self {
        let mut bytes = keccak256(&[text.as_bytes()]);
        bytes[HASH_LEN..].fill(0);
        Self {
            bytes,
            len: HASH_LEN as u8,
        }
    }

    /// The abbreviated hash bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether `text` is the content this hash names: its keccak256 starts with these bytes.
    pub fn matches(&self, text: &str) -> bool {
        keccak256(&[text.as_bytes()]).starts_with(self.as_bytes())
    }
}

impl FromStr for EntryHash {
    type Err = EntryError;

    fn from_str(s: &str) -> Result<Self, EntryError> {
        // RFC 4648 base32 without padding, as the EIP's references say; 12 to 32 bytes is
        // 20 to 52 characters (bounded before decoding).
        if s.len() > 52 {
            return Err(EntryError::Hash);
        }
        let decoded = BASE32_NOPAD
            .decode(s.as_bytes())
            .map_err(|_| EntryError::Hash)?;
        if !(MIN_HASH_LEN..=32).contains(&decoded.len()) {
            return Err(EntryError::Hash);
        }
        let mut bytes = [0u8; 32];
        bytes[..decoded.len()].copy_from_slice(&decoded);
        Ok(Self {
            bytes,
            // At most 32: checked above.
            len: decoded.len() as u8,
        })
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE32_NOPAD.encode(self.as_bytes()))
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({self})")
    }
}

/// The signed root of a tree, the TXT record at the tree's own domain.
///
/// EIP-1459: *"`enrtree-root:v1 e=<enr-root> l=<link-root> seq=<sequence-number>
/// sig=<signature>`"*.
#[derive(Clone, PartialEq, Eq)]
pub struct Root {
    /// Hash of the subtree of node records.
    pub enr_root: EntryHash,
    /// Hash of the subtree of links to other trees.
    pub link_root: EntryHash,
    /// The tree's update sequence number.
    pub seq: u64,
    sig: [u8; 65],
}

impl Root {
    /// A root over the two subtrees, signed with `key`.
    pub fn sign(enr_root: EntryHash, link_root: EntryHash, seq: u64, key: &SecretKey) -> Self {
        let mut root = Self {
            enr_root,
            link_root,
            seq,
            sig: [0; 65],
        };
        let msg = Message::from_digest(root.sig_hash());
        let (id, compact) = SECP256K1
            .sign_ecdsa_recoverable(&msg, key)
            .serialize_compact();
        root.sig[..64].copy_from_slice(&compact);
        // 0 to 3, go-ethereum's `V` byte.
        root.sig[64] = i32::from(id) as u8;
        root
    }

    /// EIP-1459: *"`signature` is a 65-byte secp256k1 EC signature over the keccak256 hash of
    /// the record content, excluding the `sig=` part"*.
    fn sig_hash(&self) -> [u8; 32] {
        keccak256(&[self.unsigned_text().as_bytes()])
    }

    fn unsigned_text(&self) -> String {
        format!(
            "{ROOT_PREFIX} e={} l={} seq={}",
            self.enr_root, self.link_root, self.seq
        )
    }

    /// Whether the root is signed by `key`. Only `r || s` is checked (the recovery byte is
    /// not needed when the key is known), with low `s` required as libsecp256k1 does.
    pub fn verify(&self, key: &PublicKey) -> bool {
        let Ok(sig) = Signature::from_compact(&self.sig[..64]) else {
            return false;
        };
        let msg = Message::from_digest(self.sig_hash());
        SECP256K1.verify_ecdsa(&msg, &sig, key).is_ok()
    }

    /// The key that signed the root, recovered from the signature, if its recovery byte is
    /// valid.
    pub fn signer(&self) -> Option<PublicKey> {
        let id = secp256k1::ecdsa::RecoveryId::try_from(i32::from(self.sig[64])).ok()?;
        let sig = RecoverableSignature::from_compact(&self.sig[..64], id).ok()?;
        SECP256K1
            .recover_ecdsa(&Message::from_digest(self.sig_hash()), &sig)
            .ok()
    }
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sig={}",
            self.unsigned_text(),
            BASE64URL_NOPAD.encode(&self.sig)
        )
    }
}

impl fmt::Debug for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Root({self})")
    }
}

impl FromStr for Root {
    type Err = EntryError;

    /// Reads the root's text strictly: one space between fields, in the EIP's order, so the
    /// signed content is exactly the text before ` sig=`.
    fn from_str(s: &str) -> Result<Self, EntryError> {
        if s.len() > MAX_ENTRY_LEN {
            return Err(EntryError::TooLong);
        }
        let mut fields = s.split(' ');
        let mut field = |key: &str| {
            fields
                .next()
                .and_then(|f| f.strip_prefix(key))
                .ok_or(EntryError::RootSyntax)
        };
        if !field(ROOT_PREFIX)?.is_empty() {
            return Err(EntryError::RootSyntax);
        }
        let enr_root = field("e=")?.parse()?;
        let link_root = field("l=")?.parse()?;
        let seq = parse_decimal(field("seq=")?).ok_or(EntryError::Seq)?;
        let sig_text = field("sig=")?;
        if fields.next().is_some() {
            return Err(EntryError::RootSyntax);
        }
        // Older go-ethereum trees pad the signature; the EIP says "No padding is used".
        // Accept the padded form too, so those trees still verify.
        let sig_text = sig_text.strip_suffix('=').unwrap_or(sig_text);
        let sig: [u8; 65] = (sig_text.len() == 87)
            .then(|| BASE64URL_NOPAD.decode(sig_text.as_bytes()).ok())
            .flatten()
            .and_then(|v| v.try_into().ok())
            .ok_or(EntryError::Signature)?;
        Ok(Self {
            enr_root,
            link_root,
            seq,
            sig,
        })
    }
}

/// Canonical decimal: digits only, no leading zero (so the signed text is the one we rebuild).
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

/// A link to a tree: its domain and the key that signs it. Its text is the tree's URL.
///
/// EIP-1459: *"The public key is contained in the username part of the URL and is the base32
/// encoding of the compressed 32-byte binary public key."* (33 bytes with the parity byte.)
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Link {
    /// The key that signs the tree's root.
    pub key: PublicKey,
    /// Where the root is, without a trailing dot.
    pub domain: String,
}

impl Link {
    /// The link to the tree at `domain` signed by `key`'s public key.
    pub fn new(key: PublicKey, domain: &str) -> Result<Self, EntryError> {
        if !is_domain(domain) {
            return Err(EntryError::Domain);
        }
        Ok(Self {
            key,
            domain: domain.to_owned(),
        })
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{LINK_PREFIX}{}@{}",
            BASE32_NOPAD.encode(&self.key.serialize()),
            self.domain
        )
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Link({self})")
    }
}

impl FromStr for Link {
    type Err = EntryError;

    /// Reads `enrtree://<key>@<domain>`.
    fn from_str(s: &str) -> Result<Self, EntryError> {
        if s.len() > MAX_ENTRY_LEN {
            return Err(EntryError::TooLong);
        }
        let rest = s.strip_prefix(LINK_PREFIX).ok_or(EntryError::UnknownType)?;
        let (key, domain) = rest.split_once('@').ok_or(EntryError::Domain)?;
        // 33 bytes are 53 base32 characters.
        if key.len() != 53 {
            return Err(EntryError::Key);
        }
        let key = BASE32_NOPAD
            .decode(key.as_bytes())
            .ok()
            .and_then(|bytes| PublicKey::from_slice(&bytes).ok())
            .ok_or(EntryError::Key)?;
        Self::new(key, domain)
    }
}

/// A DNS name: dot-separated labels of 1 to 63 letters, digits, `-` or `_`, 253 characters at
/// most, no trailing dot.
fn is_domain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// An entry below the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// EIP-1459: *"`enrtree-branch:<h₁>,<h₂>,...,<hₙ>` is an intermediate tree entry
    /// containing hashes of subtree entries."*
    Branch(Vec<EntryHash>),
    /// EIP-1459: *"`enr:<node-record>` is a leaf containing a node record."*
    Enr(Box<Record>),
    /// EIP-1459: *"`enrtree://<key>@<fqdn>` is a leaf pointing to a different list located
    /// at another fully qualified domain name."*
    Link(Link),
}

impl FromStr for Entry {
    type Err = EntryError;

    fn from_str(s: &str) -> Result<Self, EntryError> {
        if s.len() > MAX_ENTRY_LEN {
            return Err(EntryError::TooLong);
        }
        if let Some(list) = s.strip_prefix(BRANCH_PREFIX) {
            // An empty branch is the link subtree of a tree without links.
            if list.is_empty() {
                return Ok(Self::Branch(Vec::new()));
            }
            return list
                .split(',')
                .map(EntryHash::from_str)
                .collect::<Result<_, _>>()
                .map(Self::Branch);
        }
        if s.starts_with(LINK_PREFIX) {
            return s.parse().map(Self::Link);
        }
        if s.starts_with(ENR_PREFIX) {
            // The `enr` crate checks the size (300 bytes) and the signature.
            return Record::from_str(s)
                .map(|r| Self::Enr(Box::new(r)))
                .map_err(|_| EntryError::Enr);
        }
        Err(EntryError::UnknownType)
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Branch(hashes) => {
                f.write_str(BRANCH_PREFIX)?;
                for (i, h) in hashes.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{h}")?;
                }
                Ok(())
            }
            Self::Enr(record) => f.write_str(&record.to_base64()),
            Self::Link(link) => write!(f, "{link}"),
        }
    }
}

/// `text` cut into DNS character-strings of at most 255 bytes (RFC 1035, 3.3), the pieces of
/// one TXT record. Entry text is ASCII, so every cut falls between characters.
pub fn character_strings(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut cut = rest.len().min(255);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (piece, tail) = rest.split_at(cut);
        rest = tail;
        Some(piece)
    })
}
