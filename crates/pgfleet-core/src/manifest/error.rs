//! Manifest errors that point into the file: path, line, column and the offending text.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

/// One thing wrong with a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    /// Byte range in the manifest text, when the problem is at a known place.
    pub span: Option<Range<usize>>,
    pub help: Option<String>,
}

impl Problem {
    pub(crate) fn at(span: Range<usize>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            span: Some(span),
            help: None,
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Why a manifest could not be loaded. Holds every problem found, not just the first.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("could not read manifest {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", Invalid(self))]
    Invalid {
        path: PathBuf,
        text: String,
        problems: Vec<Problem>,
    },
    #[error(
        "no fleet.toml found in {} or any parent folder (pass --manifest PATH or set PGFLEET_MANIFEST)",
        start.display()
    )]
    NotFound { start: PathBuf },
}

/// A position in the manifest, 1-based, column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineColumn {
    pub line: usize,
    pub column: usize,
}

pub fn line_column(text: &str, offset: usize) -> LineColumn {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    LineColumn {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

struct Invalid<'a>(&'a ManifestError);

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ManifestError::Invalid {
            path,
            text,
            problems,
        } = self.0
        else {
            return Ok(());
        };
        for (i, problem) in problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match &problem.span {
                Some(span) => {
                    let at = line_column(text, span.start);
                    write!(
                        f,
                        "{}:{}:{}: {}",
                        path.display(),
                        at.line,
                        at.column,
                        problem.message
                    )?;
                }
                None => write!(f, "{}: {}", path.display(), problem.message)?,
            }
            if let Some(help) = &problem.help {
                write!(f, " ({help})")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_column(text, 0), LineColumn { line: 1, column: 1 });
        assert_eq!(line_column(text, 6), LineColumn { line: 2, column: 1 });
        // "bé " is 4 bytes and 3 characters.
        assert_eq!(line_column(text, 10), LineColumn { line: 2, column: 4 });
    }
}
