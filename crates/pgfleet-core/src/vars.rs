//! The variables connection resolution reads: the process environment over a `.env` file.

use crate::manifest::line_column;
use crate::text_file;
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
        let error = |message: String| DotenvError {
            path: path.to_path_buf(),
            message,
        };
        let bytes = match text_file::read(path, text_file::MAX_DOTENV_BYTES) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(self),
            Err(e) => return Err(error(e.to_string())),
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            let at = line_column(
                &String::from_utf8_lossy(e.as_bytes()),
                e.utf8_error().valid_up_to(),
            );
            error(format!(
                "line {}, column {}: invalid UTF-8",
                at.line, at.column
            ))
        })?;
        for item in dotenvy::from_read_iter(text.as_bytes()) {
            let (key, value) = item.map_err(|e| error(dotenv_message(&text, e)))?;
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
        let error = |message: String| SecretFileError {
            var: file_var.clone(),
            message,
        };
        let bytes = text_file::read(Path::new(path), text_file::MAX_SECRET_FILE_BYTES)
            .map_err(|e| error(e.to_string()))?;
        let content =
            String::from_utf8(bytes).map_err(|_| error("is not UTF-8 text".to_owned()))?;
        Ok(Some(content.trim_end_matches(['\n', '\r']).to_owned()))
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

fn dotenv_message(text: &str, error: dotenvy::Error) -> String {
    // dotenvy's parse errors quote the offending line (or the value part of it), which may hold
    // a secret: keep only where it is, found by looking for that text again in the file.
    match error {
        dotenvy::Error::LineParse(quoted, index) => match find_quoted(text, &quoted) {
            Some(start) => {
                // dotenvy counts characters of the quoted text; an unclosed quote is reported
                // at the end of the file, shown at the end of the line it opens on instead.
                let quoted = quoted.trim_end();
                let within = quoted
                    .char_indices()
                    .nth(index)
                    .map_or(quoted.len(), |(i, _)| i);
                let at = line_column(text, start + within);
                format!(
                    "syntax error at line {}, column {} (the line is not shown: it may hold a secret)",
                    at.line, at.column
                )
            }
            None => "syntax error in a line (not shown: it may hold a secret)".to_owned(),
        },
        dotenvy::Error::Io(e) => e.to_string(),
        _ => "invalid file".to_owned(),
    }
}

/// Where dotenvy's quoted text is in the file: a whole line (it starts a line) or a value (it
/// ends one, before trailing blanks).
fn find_quoted(text: &str, quoted: &str) -> Option<usize> {
    let quoted = quoted.trim_end();
    text.match_indices(quoted).map(|(i, _)| i).find(|&i| {
        let starts_line = i == 0 || text[..i].ends_with('\n');
        let rest = text[i + quoted.len()..].trim_start_matches([' ', '\t', '\r']);
        starts_line || rest.is_empty() || rest.starts_with('\n')
    })
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
        assert!(err.to_string().contains("at line 2, column 17"), "{err}");
        Ok(())
    }

    #[test]
    fn dotenv_problems_name_their_line_and_column() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join(".env");
        std::fs::write(&path, "A=1\n# comment\n\nB=ok\nC=\"s3cret\" x y\n")?;
        let err = Vars::default()
            .with_dotenv(&path)
            .err()
            .ok_or("expected an error")?;
        let err = err.to_string();
        assert!(err.contains("syntax error at line 5, column"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        std::fs::write(&path, b"A=1\nPASSWORD=s3\xffcret\n")?;
        let err = Vars::default()
            .with_dotenv(&path)
            .err()
            .ok_or("expected an error")?;
        assert!(
            err.to_string()
                .ends_with(": line 2, column 12: invalid UTF-8"),
            "{err}"
        );
        Ok(())
    }
}
