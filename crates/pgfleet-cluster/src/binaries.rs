//! Finding the PostgreSQL server binaries (initdb, pg_ctl, postgres, psql, ...).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::ClusterError;

/// Environment variable that points at the directory holding initdb/pg_ctl; wins over all else.
pub const PG_BIN_ENV: &str = "PGFLEET_PG_BIN";

/// Where Debian/Ubuntu install one directory per major version (`/usr/lib/postgresql/15/bin`).
const DEBIAN_PG_ROOT: &str = "/usr/lib/postgresql";

/// The tools a directory must contain to be usable for running local clusters.
const REQUIRED_TOOLS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// A directory of PostgreSQL server binaries and the major version they belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBinaries {
    /// Directory containing `initdb`, `pg_ctl`, `postgres`, `psql`, ...
    pub bin_dir: PathBuf,
    /// Major version reported by `pg_ctl --version` (e.g. 15).
    pub major_version: u32,
}

impl PgBinaries {
    /// Finds the server binaries.
    ///
    /// Order: env `PGFLEET_PG_BIN` (if set, it must be valid: an explicit choice is never
    /// silently replaced by another installation), then `pg_config --bindir` (if `pg_config`
    /// is on PATH and that directory has initdb), then the newest `/usr/lib/postgresql/*/bin`
    /// (numeric sort, so 15 beats 9.6).
    pub fn discover() -> Result<Self, ClusterError> {
        Self::discover_from(std::env::var_os(PG_BIN_ENV).as_deref())
    }

    /// Like [`discover`](Self::discover) with the value of `PGFLEET_PG_BIN` passed in,
    /// so callers and tests don't have to mutate the process-global environment.
    pub fn discover_from(env_value: Option<&OsStr>) -> Result<Self, ClusterError> {
        let mut tried = Vec::new();

        if let Some(value) = env_value.filter(|v| !v.is_empty()) {
            let dir = PathBuf::from(value);
            return Self::from_dir(&dir).map_err(|reason| ClusterError::BinariesNotFound {
                tried: vec![format!("{PG_BIN_ENV}={}: {reason}", dir.display())],
            });
        }
        tried.push(format!("{PG_BIN_ENV}: not set"));

        match pg_config_bindir() {
            Ok(dir) => match Self::from_dir(&dir) {
                Ok(bins) => return Ok(bins),
                Err(reason) => {
                    tried.push(format!("pg_config --bindir ({}): {reason}", dir.display()))
                }
            },
            Err(reason) => tried.push(format!("pg_config --bindir: {reason}")),
        }

        let candidates = debian_bin_dirs(Path::new(DEBIAN_PG_ROOT));
        if candidates.is_empty() {
            tried.push(format!("{DEBIAN_PG_ROOT}/*/bin: none found"));
        }
        for dir in candidates {
            match Self::from_dir(&dir) {
                Ok(bins) => return Ok(bins),
                Err(reason) => tried.push(format!("{}: {reason}", dir.display())),
            }
        }
        Err(ClusterError::BinariesNotFound { tried })
    }

    /// Validates `dir` (required tools present) and asks `pg_ctl --version` for the major version.
    fn from_dir(dir: &Path) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err("not a directory".to_owned());
        }
        let missing: Vec<&str> = REQUIRED_TOOLS
            .iter()
            .copied()
            .filter(|tool| !dir.join(tool).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(format!("missing {}", missing.join(", ")));
        }
        let pg_ctl = dir.join("pg_ctl");
        let output = crate::process::command(&pg_ctl)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", pg_ctl.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!("`pg_ctl --version` failed ({})", output.status));
        }
        let major_version = parse_major_version(&stdout)
            .ok_or_else(|| format!("cannot parse version from {:?}", stdout.trim()))?;
        Ok(Self {
            bin_dir: dir.to_path_buf(),
            major_version,
        })
    }

    /// Path of a tool in the binaries directory, e.g. `tool("psql")`.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// Runs `pg_config --bindir`; Err explains why it gave nothing usable.
fn pg_config_bindir() -> Result<PathBuf, String> {
    let output = crate::process::command("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "not on PATH".to_owned(),
            _ => format!("cannot run: {e}"),
        })?;
    if !output.status.success() {
        return Err(format!("exited with {}", output.status));
    }
    let dir = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if dir.is_empty() {
        return Err("printed nothing".to_owned());
    }
    Ok(PathBuf::from(dir))
}

/// `<root>/*/bin` directories, newest major version first (numeric, so "10" > "9.6").
fn debian_bin_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let key = name
                .split('.')
                .map(str::parse::<u32>)
                .collect::<Result<Vec<_>, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.is_dir().then_some((key, bin))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, path)| path).collect()
}

/// Extracts the major version from `pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
fn parse_major_version(version_output: &str) -> Option<u32> {
    let token = version_output
        .split_whitespace()
        .find(|t| t.starts_with(|c: char| c.is_ascii_digit()))?;
    let digits: String = token.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_major_versions() {
        assert_eq!(
            parse_major_version("pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some(15)
        );
        assert_eq!(parse_major_version("pg_ctl (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major_version("pg_ctl (PostgreSQL) 17devel"), Some(17));
        assert_eq!(parse_major_version("garbage"), None);
    }

    #[test]
    fn debian_dirs_sorted_numerically_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for v in ["9.6", "10", "15", "notaversion"] {
            std::fs::create_dir_all(root.path().join(v).join("bin")).unwrap();
        }
        // A version directory without bin/ is ignored.
        std::fs::create_dir_all(root.path().join("16")).unwrap();
        let dirs = debian_bin_dirs(root.path());
        let names: Vec<_> = dirs
            .iter()
            .map(|d| d.parent().unwrap().file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["15", "10", "9.6"]);
    }

    #[test]
    fn explicit_env_dir_must_be_valid() {
        let empty = tempfile::tempdir().unwrap();
        let err = PgBinaries::discover_from(Some(empty.path().as_os_str())).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, ClusterError::BinariesNotFound { .. }),
            "{msg}"
        );
        assert!(msg.contains("missing initdb, pg_ctl, postgres"), "{msg}");
        assert!(msg.contains("apt-get install -y postgresql"), "{msg}");
    }
}
