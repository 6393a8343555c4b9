//! Reading a run directory safely while it may be written, and whatever it holds: each file
//! read must be a plain file (a link may point anywhere; a device or a FIFO would flood or
//! hang a reader) of a bounded size.

use std::path::Path;

use crate::run_dir::{CONFIG, SAMPLES};

/// `metrics.jsonl` larger than this is not read (about 450 bytes a line: 64 MiB is over
/// 100 000 evaluations).
pub const MAX_METRICS_BYTES: u64 = 64 << 20;
/// A samples file larger than this is not read (64 lines of 32 characters are ~2 KB).
pub const MAX_SAMPLES_BYTES: u64 = 1 << 20;

/// Whether `path` is a regular file (not a link to one).
pub fn is_plain_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file())
}

/// The files of a run directory that are read, and the most bytes each may have (a JSON file
/// or the lock is small; the metrics' bound is [`MAX_METRICS_BYTES`]).
const RUN_FILES: [(&str, u64); 10] = [
    (CONFIG, 1 << 20),
    (crate::run_dir::STATE, 1 << 20),
    (crate::run_dir::BEST, 1 << 20),
    (crate::run_dir::DIVERGED, 1 << 20),
    (crate::run_dir::lock::LOCK, 1 << 20),
    (crate::run_dir::TOKENIZER, 16 << 20),
    (crate::run_dir::METRICS, MAX_METRICS_BYTES),
    (crate::run_dir::GENERATOR, u64::MAX),
    (crate::run_dir::GENERATOR_EMA, u64::MAX),
    (crate::run_dir::BEST_GENERATOR, u64::MAX),
];

/// Check, before reading a run directory, that each file read there is a plain file of a
/// sane size and `samples/` a plain folder: a link (which may point anywhere), a device or a
/// FIFO (which would hang or flood a reader) is refused with a one-line reason.
pub fn check_run_files(dir: &Path) -> std::result::Result<(), String> {
    for (name, max) in RUN_FILES {
        let path = dir.join(name);
        match std::fs::symlink_metadata(&path) {
            Err(_) => {}
            Ok(m) if !m.is_file() => return Err(format!("{} is not a plain file", path.display())),
            Ok(m) if m.len() > max => {
                return Err(format!(
                    "{} is {} bytes, more than the {max} read",
                    path.display(),
                    m.len()
                ))
            }
            Ok(_) => {}
        }
    }
    let samples = dir.join(SAMPLES);
    match std::fs::symlink_metadata(&samples) {
        Ok(m) if !m.is_dir() => Err(format!("{} is not a plain folder", samples.display())),
        _ => Ok(()),
    }
}

/// A plain file's text, refused (with a one-line reason) if it is a link, too large or not
/// UTF-8.
pub fn read_bounded(path: &Path, max: u64) -> Result<String, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a plain file", path.display()));
    }
    if meta.len() > max {
        return Err(format!(
            "{} is {} bytes, more than the {max} read",
            path.display(),
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn links_devices_and_huge_files_inside_a_run_are_refused_before_reading() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        std::fs::create_dir_all(run.join(SAMPLES)).unwrap();
        std::fs::write(run.join(CONFIG), "{}").unwrap();
        assert_eq!(check_run_files(&run), Ok(()));
        std::os::unix::fs::symlink("/dev/zero", run.join(crate::run_dir::DIVERGED)).unwrap();
        let err = check_run_files(&run).unwrap_err();
        assert!(err.ends_with("diverged.json is not a plain file"), "{err}");
        std::fs::remove_file(run.join(crate::run_dir::DIVERGED)).unwrap();
        std::fs::remove_dir_all(run.join(SAMPLES)).unwrap();
        std::os::unix::fs::symlink(tmp.path(), run.join(SAMPLES)).unwrap();
        let err = check_run_files(&run).unwrap_err();
        assert!(err.ends_with("samples is not a plain folder"), "{err}");
        std::fs::remove_file(run.join(SAMPLES)).unwrap();
        let big = std::fs::File::create(run.join(crate::run_dir::STATE)).unwrap();
        big.set_len(2 << 20).unwrap();
        let err = check_run_files(&run).unwrap_err();
        assert!(err.contains("state.json is 2097152 bytes"), "{err}");
    }
}
