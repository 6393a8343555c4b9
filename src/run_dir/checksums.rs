//! Fingerprints of a checkpoint's files, recorded in `state.json` and checked on loading: a
//! damaged or swapped file is refused instead of silently giving a different model.

use std::collections::BTreeMap;
use std::path::Path;

use super::{staged, CHECKSUMMED};
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

/// Fingerprints of the staged files `names` of a save in progress.
pub fn staged_checksums(dir: &Path, names: &[&str]) -> Result<BTreeMap<String, String>> {
    names
        .iter()
        .map(|name| {
            let p = staged(dir, name);
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            Ok((name.to_string(), fingerprint(&bytes)))
        })
        .collect()
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
        if &fingerprint(&bytes) != expected {
            return Err(Error::checkpoint(
                p,
                format!("does not match the checksum recorded in {record} (changed or damaged since it was saved)"),
            ));
        }
    }
    Ok(())
}
