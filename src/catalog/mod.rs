//! The runs and reports under some folders, found and read without writing anything: what
//! `textgan serve` shows. A run directory is a folder with a `config.json`
//! ([`crate::run_dir`]); a report is a folder with a `report.md` (`compare`, `sweep`).
//!
//! Each is named by an id, `ROOT/RELATIVE/PATH`: the index of the folder it was found under
//! (as given on the command line) and its path below it. An id is resolved again on every
//! request and refused unless it names a folder that lies under its root without passing
//! through a symbolic link: `..`, absolute paths, links out of the root (or anywhere inside
//! it) never reach a file. Scanning does not follow links either.

pub mod files;
pub mod records;
pub mod reports;
pub mod summary;

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::run_dir::{CONFIG, SAMPLES};
pub use files::{check_run_files, is_plain_file};

/// How deep below a root runs are looked for (a sweep's runs sit at depth 3).
pub const MAX_DEPTH: usize = 4;
/// Longest id accepted.
pub const MAX_ID: usize = 1024;
/// At most this many folders are looked at in one scan (a root with a huge tree is cut off,
/// never scanned for minutes).
pub const MAX_FOLDERS: usize = 20_000;

/// Why an id does not name something to show (a 404 or 400 to a browser).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Malformed: not `ROOT/PATH`, `..`, an absolute path, a backslash, too long.
    #[error("bad id {0:?}: expected ROOT/PATH as the run list gives it")]
    BadId(String),
    /// Well formed, but nothing of that kind is there (or it went away).
    #[error("no {kind} {id:?} (it may have been moved or deleted)")]
    Missing { kind: &'static str, id: String },
    /// It is there, but only through a symbolic link (which may point anywhere).
    #[error("{0:?} passes through a symbolic link, which is not followed")]
    Link(String),
}

/// A folder given to look under: as given (for display) and resolved.
#[derive(Debug, Clone)]
struct Root {
    shown: PathBuf,
    real: PathBuf,
}

/// The folders to look under.
#[derive(Debug, Clone)]
pub struct Catalog {
    roots: Vec<Root>,
}

/// A folder found by a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    /// The path as the user gave its root, for display.
    pub shown: PathBuf,
    pub path: PathBuf,
}

/// What a scan found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub runs: Vec<Found>,
    pub reports: Vec<Found>,
    /// Set when [`MAX_FOLDERS`] cut the scan short.
    pub truncated: bool,
}

impl Catalog {
    /// Look under `dirs`; each must be an existing directory.
    pub fn new(dirs: &[PathBuf]) -> Result<Catalog> {
        if dirs.is_empty() {
            return Err(Error::Config("no folder to look for runs in".into()));
        }
        let roots = dirs
            .iter()
            .map(|d| {
                let real = std::fs::canonicalize(d).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Error::checkpoint(
                        d,
                        "no such folder (train a run first, or name the folders to look in)",
                    ),
                    _ => Error::io(d, e),
                })?;
                if !real.is_dir() {
                    return Err(Error::checkpoint(d, "is not a directory"));
                }
                Ok(Root {
                    shown: d.clone(),
                    real,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Catalog { roots })
    }

    /// The folders looked under, as given.
    pub fn roots(&self) -> Vec<&Path> {
        self.roots.iter().map(|r| r.shown.as_path()).collect()
    }

    /// Every run directory and report under the roots, in path order. A run directory is not
    /// looked into (its `samples/` holds no runs); a report is (`compare` keeps its runs
    /// inside it). Links and hidden folders are skipped.
    pub fn scan(&self) -> Scan {
        let mut scan = Scan::default();
        let mut budget = MAX_FOLDERS;
        for (i, root) in self.roots.iter().enumerate() {
            visit(root, i, &root.real, 0, &mut scan, &mut budget);
        }
        scan
    }

    /// The run directory `id` names.
    pub fn run(&self, id: &str) -> std::result::Result<Found, Refused> {
        self.resolve(id, "run", CONFIG)
    }

    /// The report folder `id` names.
    pub fn report(&self, id: &str) -> std::result::Result<Found, Refused> {
        self.resolve(id, "report", reports::REPORT)
    }

    /// `id` as a folder holding `marker`, checked as the module's header says.
    fn resolve(
        &self,
        id: &str,
        kind: &'static str,
        marker: &str,
    ) -> std::result::Result<Found, Refused> {
        let bad = || Refused::BadId(id.chars().take(80).collect());
        if id.len() > MAX_ID || id.contains('\\') || id.contains('\0') {
            return Err(bad());
        }
        // `N`: the folder given N-th itself (a run given as such); `N/PATH`: below it.
        let (index, rest) = id.split_once('/').unwrap_or((id, ""));
        let root = index
            .parse::<usize>()
            .ok()
            .and_then(|i| self.roots.get(i))
            .ok_or_else(bad)?;
        let mut path = root.real.clone();
        let mut shown = root.shown.clone();
        let parts = if id.contains('/') {
            rest.split('/').collect()
        } else {
            Vec::new()
        };
        for part in parts {
            let normal = matches!(
                Path::new(part).components().collect::<Vec<_>>()[..],
                [Component::Normal(_)]
            );
            if !normal || part.is_empty() {
                return Err(bad());
            }
            path.push(part);
            shown.push(part);
            // Each step must be a real folder, not a link (checked before going further).
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => return Err(Refused::Link(id.into())),
                Ok(m) if m.is_dir() => {}
                _ => {
                    return Err(Refused::Missing {
                        kind,
                        id: id.into(),
                    })
                }
            }
        }
        if !is_plain_file(&path.join(marker)) {
            return Err(Refused::Missing {
                kind,
                id: id.into(),
            });
        }
        Ok(Found {
            id: id.to_string(),
            shown,
            path,
        })
    }
}

fn visit(root: &Root, index: usize, dir: &Path, depth: usize, scan: &mut Scan, budget: &mut usize) {
    if *budget == 0 {
        scan.truncated = true;
        return;
    }
    *budget -= 1;
    let found = || {
        let rel = dir.strip_prefix(&root.real).unwrap_or(dir);
        let parts: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let id = if parts.is_empty() {
            index.to_string()
        } else {
            format!("{index}/{}", parts.join("/"))
        };
        Found {
            id,
            shown: root.shown.join(rel),
            path: dir.to_path_buf(),
        }
    };
    let is_run = is_plain_file(&dir.join(CONFIG));
    let is_report = is_plain_file(&dir.join(reports::REPORT));
    if is_run {
        scan.runs.push(found());
    }
    if is_report {
        scan.reports.push(found());
    }
    if is_run || depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name != SAMPLES && name != "target"
        })
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        visit(root, index, &d, depth + 1, scan, budget);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_at(dir: &Path) {
        std::fs::create_dir_all(dir.join(SAMPLES)).unwrap();
        std::fs::write(dir.join(CONFIG), "{}").unwrap();
    }

    #[test]
    fn scans_runs_and_reports_and_resolves_only_what_lies_under_a_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("models");
        run_at(&root.join("a"));
        run_at(&root.join("sweep/runs/narrow-s0"));
        std::fs::create_dir_all(root.join("cmp")).unwrap();
        std::fs::write(root.join("cmp").join(reports::REPORT), "# r").unwrap();
        run_at(&root.join("cmp/gp"));
        run_at(&root.join(".hidden/x"));
        run_at(&root.join("1/2/3/4/too-deep"));
        let outside = tmp.path().join("outside");
        run_at(&outside);
        let cat = Catalog::new(std::slice::from_ref(&root)).unwrap();
        let scan = cat.scan();
        let ids: Vec<&str> = scan.runs.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["0/a", "0/cmp/gp", "0/sweep/runs/narrow-s0"]);
        assert_eq!(scan.reports.len(), 1);
        assert_eq!(scan.reports[0].id, "0/cmp");
        assert_eq!(scan.runs[0].shown, root.join("a"));
        for f in &scan.runs {
            assert_eq!(&cat.run(&f.id).unwrap(), f);
        }
        assert_eq!(cat.report("0/cmp").unwrap(), scan.reports[0]);
        // A run is not a report, nor the other way round.
        assert!(matches!(cat.report("0/a"), Err(Refused::Missing { .. })));
        assert!(matches!(cat.run("0/cmp"), Err(Refused::Missing { .. })));
        for bad in [
            "0/../outside",
            "0/a/..",
            "0/./a",
            "0//a",
            "0/",
            "a",
            "1",
            "1/a",
            "x/a",
            "/etc",
            "0//etc",
            "0/a\\..",
            "0/a/\0",
        ] {
            assert!(matches!(cat.run(bad), Err(Refused::BadId(_))), "{bad:?}");
        }
        assert!(matches!(cat.run("0/nothing"), Err(Refused::Missing { .. })));
        assert!(matches!(
            cat.run(&"0/a".repeat(400)),
            Err(Refused::BadId(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn links_are_neither_scanned_nor_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("models");
        run_at(&root.join("inside"));
        let outside = tmp.path().join("outside");
        run_at(&outside);
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("inside"), root.join("alias")).unwrap();
        let cat = Catalog::new(std::slice::from_ref(&root)).unwrap();
        let ids: Vec<String> = cat.scan().runs.into_iter().map(|f| f.id).collect();
        assert_eq!(ids, ["0/inside"]);
        assert_eq!(cat.run("0/out"), Err(Refused::Link("0/out".into())));
        assert_eq!(cat.run("0/alias"), Err(Refused::Link("0/alias".into())));
        // A config.json that is a link does not make a run.
        let fake = root.join("fake");
        std::fs::create_dir_all(&fake).unwrap();
        std::os::unix::fs::symlink(outside.join(CONFIG), fake.join(CONFIG)).unwrap();
        assert!(matches!(cat.run("0/fake"), Err(Refused::Missing { .. })));
    }

    #[test]
    fn a_folder_given_that_is_a_run_is_listed_by_its_index() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("only");
        run_at(&run);
        let cat = Catalog::new(std::slice::from_ref(&run)).unwrap();
        let scan = cat.scan();
        assert_eq!(scan.runs.len(), 1);
        assert_eq!((scan.runs[0].id.as_str(), &scan.runs[0].shown), ("0", &run));
        assert_eq!(cat.run("0").unwrap(), scan.runs[0]);
        assert!(matches!(cat.report("0"), Err(Refused::Missing { .. })));
    }

    #[test]
    fn a_missing_root_is_an_error_naming_it() {
        let err = Catalog::new(&[PathBuf::from("/no/such/folder")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/no/such/folder: no such folder"),
            "{err}"
        );
    }
}
