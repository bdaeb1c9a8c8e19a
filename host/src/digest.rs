//! The sha256 that names files: a rule version's parts, and the cache's blobs.

use sha2::{Digest, Sha256};

/// sha256 of `bytes`, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
