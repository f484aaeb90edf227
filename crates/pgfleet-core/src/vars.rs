//! The variables connection resolution reads: the process environment over a `.env` file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A snapshot of environment variables. Resolution reads only this, never the process
/// environment directly, so that it can be tested and reasoned about as data.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("could not read {}: {message}", path.display())]
pub struct DotenvError {
    pub path: PathBuf,
    pub message: String,
}

/// A `<VAR>_FILE` variable names a file that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{var} names a file that cannot be read: {message}")]
pub struct SecretFileError {
    /// The `_FILE` variable.
    pub var: String,
    pub message: String,
}

impl Vars {
    /// The process environment.
    pub fn from_process() -> Self {
        Self {
            values: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    /// Adds the variables of a `.env` file that are not already set, as the seeds' scripts do
    /// with `source .env` before the service reads its environment. A missing file is fine.
    pub fn with_dotenv(mut self, path: &Path) -> Result<Self, DotenvError> {
        let iter = match dotenvy::from_path_iter(path) {
            Ok(iter) => iter,
            Err(e) if e.not_found() => return Ok(self),
            Err(e) => return Err(dotenv_error(path, e)),
        };
        for item in iter {
            let (key, value) = item.map_err(|e| dotenv_error(path, e))?;
            self.values.entry(key).or_insert(value);
        }
        Ok(self)
    }

    /// A variable's value. Empty counts as unset, as in the seeds' `[ -z "$VAR" ]` checks.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Whether the variable is set at all, even to an empty value: for settings where an
    /// empty value must be refused rather than read as "unset".
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A secret: the variable, else the content of the file named by `<VAR>_FILE` (the
    /// Docker/Kubernetes convention) without its trailing newline.
    pub fn secret(&self, name: &str) -> Result<Option<String>, SecretFileError> {
        if let Some(value) = self.get(name) {
            return Ok(Some(value.to_owned()));
        }
        let file_var = format!("{name}_FILE");
        let Some(path) = self.get(&file_var) else {
            return Ok(None);
        };
        std::fs::read_to_string(path)
            .map(|content| Some(content.trim_end_matches(['\n', '\r']).to_owned()))
            .map_err(|e| SecretFileError {
                var: file_var,
                message: e.to_string(),
            })
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Vars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            values: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

fn dotenv_error(path: &Path, error: dotenvy::Error) -> DotenvError {
    // dotenvy's parse errors quote the offending line, which may hold a secret: keep only where.
    let message = match error {
        dotenvy::Error::LineParse(_, index) => {
            format!(
                "syntax error at byte {index} of a line (the line is not shown: it may hold a secret)"
            )
        }
        dotenvy::Error::Io(e) => e.to_string(),
        _ => "invalid file".to_owned(),
    };
    DotenvError {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_values_win_over_dotenv_and_empty_is_unset() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(".env");
        std::fs::write(&path, "A=from_file\nB=from_file\nC=\n")?;
        let vars = Vars::from_iter([("A", "from_process")]).with_dotenv(&path)?;
        assert_eq!(vars.get("A"), Some("from_process"));
        assert_eq!(vars.get("B"), Some("from_file"));
        assert_eq!(vars.get("C"), None);
        Ok(())
    }

    #[test]
    fn missing_dotenv_is_fine_and_bad_lines_do_not_leak() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        assert!(
            Vars::default()
                .with_dotenv(&dir.path().join("none"))
                .is_ok()
        );
        let path = dir.path().join(".env");
        std::fs::write(&path, "GOOD=1\nPASSWORD='s3cret\n")?;
        let err = Vars::default()
            .with_dotenv(&path)
            .err()
            .ok_or("expected an error")?;
        assert!(!err.to_string().contains("s3cret"), "{err}");
        Ok(())
    }
}
