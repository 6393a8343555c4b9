//! Replacing a checkpoint's files together. Each new file is first staged as `<name>.new`; a
//! commit marker (itself written atomically) then declares the staged set complete, and only
//! then are the files moved into place. A crash before the marker leaves the previous
//! checkpoint untouched (the staged files are discarded on the next load); a crash after it is
//! finished on the next load ([`recover`]). So a run directory always holds one whole
//! checkpoint, never a mix.

use std::path::Path;

use super::atomic::{is_temporary_of, sync_dir, write_atomic};
use super::{committable, staged, BEST_FILES, CHECKPOINT_FILES, COMMIT, METRICS};
use crate::error::{Error, Result};

/// Make the files staged for `names` (all complete and fsynced) the run's checkpoint.
pub fn commit(dir: &Path, names: &[&str]) -> Result<()> {
    write_atomic(&dir.join(COMMIT), names.join("\n").as_bytes())?;
    roll_forward(dir, names)
}

/// Move each staged file over its live one (those already moved are skipped), then remove the
/// commit marker.
fn roll_forward(dir: &Path, names: &[&str]) -> Result<()> {
    for name in names {
        let from = staged(dir, name);
        if from.is_file() {
            let to = dir.join(name);
            std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        }
    }
    sync_dir(dir)?;
    let marker = dir.join(COMMIT);
    std::fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
    sync_dir(dir)
}

/// Finish or undo a checkpoint interrupted by a crash: with a commit marker every staged file
/// is complete, so they are moved into place; without one, staged files are leftovers of an
/// unfinished save and are removed, as are temporary files of cut-off writes. Nothing to do in
/// a clean directory (no write is attempted).
pub fn recover(dir: &Path) -> Result<()> {
    let marker = dir.join(COMMIT);
    if marker.is_file() {
        let text = std::fs::read_to_string(&marker).map_err(|e| Error::io(&marker, e))?;
        let names: Vec<&str> = text.lines().collect();
        if names.is_empty() || names.iter().any(|n| !committable(n)) {
            return Err(Error::checkpoint(
                &marker,
                "is damaged (it must list checkpoint files); remove it to keep the previous checkpoint",
            ));
        }
        roll_forward(dir, &names).map_err(|e| {
            Error::checkpoint(
                dir,
                format!("holds an interrupted checkpoint that could not be finished ({e}); make the directory writable and retry"),
            )
        })?;
    }
    // Staged files, and the temporary files of writes that were cut off (see
    // `write_atomic_with`: `.NAME.XXXXXX.tmp`).
    let mut leftovers = Vec::new();
    let mut ours = vec![COMMIT.to_string(), METRICS.to_string()];
    for name in CHECKPOINT_FILES.iter().chain(&BEST_FILES) {
        leftovers.push(staged(dir, name));
        ours.push(name.to_string());
        ours.push(format!("{name}.new"));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.filter_map(|e| e.ok()) {
            let file = entry.file_name().to_string_lossy().into_owned();
            if ours.iter().any(|name| is_temporary_of(&file, name)) {
                leftovers.push(entry.path());
            }
        }
    }
    // Best effort: leftovers never affect loading, so a read-only directory still loads.
    for p in leftovers {
        if p.is_file() {
            let _ = std::fs::remove_file(&p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_dir::{GENERATOR, STATE};

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_save_interrupted_before_its_commit_leaves_the_old_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_atomic(&d.join(STATE), b"old").unwrap();
        write_atomic(&d.join(GENERATOR), b"old").unwrap();
        // The crash came after staging two files, before the commit marker.
        write_atomic(&staged(d, GENERATOR), b"new").unwrap();
        write_atomic(&staged(d, STATE), b"new").unwrap();
        recover(d).unwrap();
        assert_eq!(files(d), [GENERATOR, STATE]);
        assert_eq!(std::fs::read(d.join(GENERATOR)).unwrap(), b"old");
        assert_eq!(std::fs::read(d.join(STATE)).unwrap(), b"old");
    }

    #[test]
    fn a_save_interrupted_after_its_commit_is_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_atomic(&d.join(STATE), b"old").unwrap();
        write_atomic(&d.join(GENERATOR), b"old").unwrap();
        write_atomic(&staged(d, STATE), b"new").unwrap();
        // The marker was written and the generator already moved when the crash came.
        write_atomic(&d.join(COMMIT), format!("{GENERATOR}\n{STATE}").as_bytes()).unwrap();
        write_atomic(&d.join(GENERATOR), b"new").unwrap();
        recover(d).unwrap();
        assert_eq!(files(d), [GENERATOR, STATE]);
        assert_eq!(std::fs::read(d.join(GENERATOR)).unwrap(), b"new");
        assert_eq!(std::fs::read(d.join(STATE)).unwrap(), b"new");
        // A marker naming anything else is refused, not followed.
        write_atomic(&d.join(COMMIT), b"../../etc/passwd").unwrap();
        let err = recover(d).unwrap_err().to_string();
        assert!(err.contains(".checkpoint-commit: is damaged"), "{err}");
    }
}
