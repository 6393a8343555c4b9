//! Writing one file atomically: a temporary file in the same directory, fsynced, renamed over
//! the old one, so a crash never leaves a half-written file. JSON in and out.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::{Error, Result};

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file, tmp| {
        file.write_all(bytes).map_err(|e| Error::io(tmp, e))
    })
}

/// [`write_atomic`], creating `path`'s folder first if it is missing (charts and reports).
pub fn write_atomic_in_new_dir(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(path, e))?;
    }
    write_atomic(path, bytes)
}

/// Run `write` on a new temporary file beside `path` (given as its open handle and its path),
/// fsync it through that handle, and rename it over `path`. The temporary file has a name of
/// its own (`.NAME.XXXXXX.tmp`), so two writers never share one; it is removed if anything
/// fails.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File, &Path) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(TMP_SUFFIX);
    // The permissions of an ordinary new file (0666 less the umask), not a temporary file's
    // owner-only 0600: the file stays once renamed.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir.join(format!(".{name}.*{TMP_SUFFIX}")), e))?;
    let tmp_path = tmp.path().to_path_buf();
    write(tmp.as_file_mut(), &tmp_path)?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(&tmp_path, e))?;
    // (On failure the temporary file is removed as `tmp` drops.)
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// The suffix of every temporary file [`write_atomic_with`] makes.
pub const TMP_SUFFIX: &str = ".tmp";

/// Whether `file_name` is one of [`write_atomic_with`]'s temporary files for `name` (left
/// behind only by a process killed while writing).
pub fn is_temporary_of(file_name: &str, name: &str) -> bool {
    file_name
        .strip_prefix(&format!(".{name}."))
        .and_then(|rest| rest.strip_suffix(TMP_SUFFIX))
        .is_some_and(|random| !random.is_empty() && !random.contains('.'))
}

/// fsync a directory, so the renames in it survive a power cut (no-op where unsupported).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
        d.sync_all().map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Read a JSON file into `T`.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::checkpoint(path, format!("invalid: {e}")))
}

/// Write `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::checkpoint(path, format!("cannot serialise: {e}")))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Append `line` and a newline to `path` (created if missing).
pub fn append_line(path: &Path, line: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(path, e))
}

/// A path as its display string in JSON output (`#[serde(serialize_with = ...)]`): serde's
/// own refuses a path that is not UTF-8, and an output that fails to serialise is lost.
pub fn displayed<S: Serializer>(path: &Path, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(&path.display())
}
