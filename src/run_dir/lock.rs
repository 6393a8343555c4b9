//! One writer per run directory: `textgan.lock`, created exclusively by the process that
//! trains into the directory (`train`, and each run of `compare` and `sweep`, which also lock
//! their report directories) and removed when it ends. It records the holder's PID, host and
//! start time, so a second trainer is refused with one line naming the holder, and a lock left
//! by a process that no longer runs (killed, or its machine rebooted) is detected and taken
//! over.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The lock file's name in a run directory.
pub const LOCK: &str = "textgan.lock";

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// Seconds since the Unix epoch when it was taken.
    pub since: u64,
    /// What holds it (`train`, `compare`, `sweep`).
    pub command: String,
}

impl Holder {
    fn me(command: &str) -> Holder {
        Holder {
            pid: std::process::id(),
            host: host_name(),
            since: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            command: command.to_string(),
        }
    }

    /// Whether the holder may still be running: on this host, whether its process exists
    /// (Linux: `/proc/PID`); on another host (a shared file system), assumed so.
    fn may_be_running(&self) -> bool {
        if self.host != host_name() {
            return true;
        }
        if self.pid == std::process::id() {
            return true;
        }
        process_exists(self.pid)
    }
}

#[cfg(target_os = "linux")]
fn process_exists(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_exists(_pid: u32) -> bool {
    // Without a portable way to ask, a lock is only ever given up by hand on these systems.
    true
}

/// This machine's name (for telling a lock from another host on a shared file system).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// A held lock; dropping it removes the lock file (if it is still this process's).
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
}

impl RunLock {
    /// Take the lock of `dir` (which must exist) for `command`: refused, naming the holder,
    /// while another live process holds it; taken over from one that no longer runs.
    pub fn acquire(dir: &Path, command: &str) -> Result<RunLock> {
        let path = dir.join(LOCK);
        let me = Holder::me(command);
        // Two tries: the second after removing a stale lock (if another process took it over
        // in between, the exclusive create fails again and names that one).
        for attempt in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let json = serde_json::to_string(&me).unwrap_or_default();
                    f.write_all(json.as_bytes())
                        .and_then(|()| f.sync_all())
                        .map_err(|e| Error::io(&path, e))?;
                    return Ok(RunLock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    match read_holder(&path) {
                        Some(h) if h.may_be_running() || attempt > 0 => {
                            return Err(Error::checkpoint(
                                dir,
                                format!(
                                    "in use by textgan {} (PID {} on {}); wait for it to finish, or delete {} if that process is gone",
                                    h.command,
                                    h.pid,
                                    h.host,
                                    path.display()
                                ),
                            ))
                        }
                        // Unreadable after a take-over, or unreadable and new: another
                        // process created it and has not written its name yet (taking that
                        // over would let two trainers write one directory).
                        None if attempt > 0 || being_written(&path) => {
                            return Err(Error::checkpoint(
                                dir,
                                format!("in use: another process is taking {}", path.display()),
                            ))
                        }
                        // Stale (its process is gone), or unreadable and old (a crash
                        // mid-write): take it over.
                        _ => match std::fs::remove_file(&path) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => return Err(Error::io(&path, e)),
                        },
                    }
                }
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::checkpoint(
            dir,
            format!("another process keeps taking {}; try again", path.display()),
        ))
    }
}

/// A lock file younger than this may still be being written by the process that created it.
const WRITING_SECS: u64 = 10;

/// Whether the lock file at `path` was created (or written) in the last [`WRITING_SECS`]: its
/// holder may be between creating it and writing its name. Unknown times count as recent.
fn being_written(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age.as_secs() < WRITING_SECS)
}

/// Who is writing into `dir` now, if anyone: the holder of its lock while that process may
/// still run (a lock left by a dead process counts as none).
pub fn live_holder(dir: &Path) -> Option<Holder> {
    read_holder(&dir.join(LOCK)).filter(Holder::may_be_running)
}

/// The holder recorded in a lock file, if it can be read.
pub fn read_holder(path: &Path) -> Option<Holder> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Only our own lock (one taken over from us as stale must not be removed).
        if read_holder(&self.path).is_some_and(|h| h.pid == std::process::id()) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_is_refused_by_name_and_a_dead_one_is_taken_over() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let lock = RunLock::acquire(dir, "train").unwrap();
        let holder = read_holder(&dir.join(LOCK)).unwrap();
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.command, "train");
        // A second taker in this same (live) process is refused, naming the holder.
        let err = RunLock::acquire(dir, "sweep").unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "in use by textgan train (PID {}",
                std::process::id()
            )),
            "{err}"
        );
        drop(lock);
        assert!(!dir.join(LOCK).exists(), "released on drop");
        // A lock whose process is gone (PID beyond any the kernel hands out) is taken over.
        let dead = Holder {
            pid: u32::MAX - 1,
            ..Holder::me("train")
        };
        std::fs::write(dir.join(LOCK), serde_json::to_string(&dead).unwrap()).unwrap();
        if cfg!(target_os = "linux") {
            let lock = RunLock::acquire(dir, "train").unwrap();
            assert_eq!(
                read_holder(&dir.join(LOCK)).unwrap().pid,
                std::process::id()
            );
            drop(lock);
        }
        // One from another host is never assumed dead.
        let elsewhere = Holder {
            host: "some-other-host".into(),
            ..dead
        };
        std::fs::write(dir.join(LOCK), serde_json::to_string(&elsewhere).unwrap()).unwrap();
        let err = RunLock::acquire(dir, "train").unwrap_err().to_string();
        assert!(err.contains("on some-other-host"), "{err}");
    }

    #[test]
    fn an_empty_new_lock_is_being_taken_and_an_empty_old_one_is_stale() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join(LOCK);
        // Created a moment ago, its holder's name not written yet: refused, never removed (two
        // trainers started together once both ran this way, one clearing the other's files).
        std::fs::File::create(&path).unwrap();
        let err = RunLock::acquire(dir, "train").unwrap_err().to_string();
        assert!(err.contains("another process is taking"), "{err}");
        assert!(path.exists());
        // The same, left a minute ago by a process that crashed mid-write: taken over.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let lock = RunLock::acquire(dir, "train").unwrap();
        assert_eq!(read_holder(&path).unwrap().pid, std::process::id());
        drop(lock);
    }
}
