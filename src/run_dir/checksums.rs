//! Checksums of a checkpoint's files, computed from the bytes as they are written, recorded in
//! `state.json` (`best.json` for the best generator) and checked on loading: a damaged or
//! swapped file is refused instead of silently giving a different model.

use std::collections::BTreeMap;
use std::path::Path;

use super::CHECKSUMMED;
use crate::error::{Error, Result};

/// FNV-1a 64-bit, as hex: a cheap fingerprint (of the corpus too; not a security hash).
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The checksum a checkpoint records for a file's `bytes`, computed as they are written:
/// SHA-256, tagged with its name (`sha256:<hex>`), so a later algorithm can sit beside it.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("{SHA256}{hex}")
}

const SHA256: &str = "sha256:";

/// Whether `bytes` have the checksum `recorded`: a tagged digest ([`digest`]), or the untagged
/// FNV-1a [`fingerprint`] of runs saved before checksums were tagged.
fn matches(bytes: &[u8], recorded: &str, path: &Path) -> Result<bool> {
    if recorded.starts_with(SHA256) {
        Ok(digest(bytes) == recorded)
    } else if recorded.len() == 16 && recorded.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(fingerprint(bytes) == recorded)
    } else {
        Err(Error::checkpoint(
            path,
            format!("has a checksum of an unknown kind recorded ({recorded:?})"),
        ))
    }
}

/// Check the files named in `checksums` (recorded in the file `record`, e.g. `state.json`)
/// against their fingerprints.
pub fn verify(dir: &Path, checksums: &BTreeMap<String, String>, record: &str) -> Result<()> {
    for (name, expected) in checksums {
        if !CHECKSUMMED.contains(&name.as_str()) {
            return Err(Error::checkpoint(
                dir.join(record),
                format!("names an unknown file {name:?} in its checksums"),
            ));
        }
        let p = dir.join(name);
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        if !matches(&bytes, expected, &p)? {
            return Err(Error::checkpoint(
                p,
                format!("does not match the checksum recorded in {record} (changed or damaged since it was saved)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_tagged_and_old_untagged_fingerprints_still_check() {
        let d = digest(b"abc");
        // SHA-256 of "abc" (FIPS 180-2, appendix B.1).
        assert_eq!(
            d,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let p = Path::new("x");
        assert!(matches(b"abc", &d, p).unwrap());
        assert!(!matches(b"abd", &d, p).unwrap());
        assert!(matches(b"abc", &fingerprint(b"abc"), p).unwrap());
        assert!(!matches(b"abd", &fingerprint(b"abc"), p).unwrap());
        let err = matches(b"abc", "md5:900150983cd24fb0", p).unwrap_err();
        assert!(err.to_string().contains("unknown kind"), "{err}");
    }
}
