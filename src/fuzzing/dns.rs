//! The DNS node list target: TXT record text as an EIP-1459 root, entry or link.

use crate::discovery::dns::{Entry, EntryHash, Link, Root};

/// Reads `data` (when it is UTF-8) as a root, an entry and a link. Whatever is accepted
/// survives its own text form: printing and reading again gives the same value, and an
/// entry's hash names its text. True when any form accepted it.
pub(super) fn dns_entry(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let mut accepted = false;
    if let Ok(root) = text.parse::<Root>() {
        let again: Root = root.to_string().parse().expect("a printed root reads back");
        assert_eq!(again, root);
        accepted = true;
    }
    if let Ok(entry) = text.parse::<Entry>() {
        let printed = entry.to_string();
        let again: Entry = printed.parse().expect("a printed entry reads back");
        assert_eq!(again, entry);
        assert!(EntryHash::of(&printed).matches(&printed));
        accepted = true;
    }
    if let Ok(link) = text.parse::<Link>() {
        assert_eq!(link.to_string().parse::<Link>().as_ref(), Ok(&link));
        accepted = true;
    }
    accepted
}

/// EIP-1459's example tree, one seed per record.
pub(super) fn dns_seeds() -> Vec<(String, Vec<u8>)> {
    [
        ("root", "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA"),
        ("link", "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org"),
        ("branch", "enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY,MHTDO6TMUBRIA2XWG5LUDACK24"),
        ("enr", "enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56CH3AMBgmlkgnY0iXNlY3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA"),
    ]
    .into_iter()
    .map(|(name, text)| (format!("eip1459_{name}"), text.as_bytes().to_vec()))
    .collect()
}
