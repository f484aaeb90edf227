//! Deserializing the manifest with every syntax, key and type problem reported, not only the
//! first one serde meets: the item each error points at is dropped from the parsed document and
//! the rest is deserialized again, until nothing is left to complain about.

use super::error::Problem;
use super::model::RawManifest;
use serde::Deserialize as _;
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// Past this many, the rest are not looked for: each one costs a pass over the document.
const MAX_PROBLEMS: usize = 50;

/// What deserializing found.
pub(super) struct Salvaged {
    /// The manifest as written minus its unknown keys; `None` when a value had to be dropped
    /// (or the syntax is broken), since checks on what is left would judge a manifest nobody
    /// wrote (a dropped `server = 5` would read as "no server named").
    pub raw: Option<RawManifest>,
    pub problems: Vec<Problem>,
}

pub(super) fn deserialize(text: &str) -> Salvaged {
    let (mut root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        // A broken document has no reliable structure to deserialize.
        return Salvaged {
            raw: None,
            problems: syntax_problems(text, &errors),
        };
    }
    let mut problems = Vec::new();
    let mut only_unknown_keys = true;
    loop {
        let error = match RawManifest::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(raw) => {
                return Salvaged {
                    raw: only_unknown_keys.then_some(raw),
                    problems,
                };
            }
            Err(error) => error,
        };
        problems.push(problem(&error));
        let dropped = error
            .span()
            .and_then(|span| drop_item(root.get_mut(), &span));
        match dropped {
            Some(Dropped::Key) => {}
            Some(Dropped::Value) => only_unknown_keys = false,
            // Nothing to drop (the error is about the whole document): no further pass helps.
            None => break,
        }
        if problems.len() >= MAX_PROBLEMS {
            problems.push(Problem {
                message: format!("stopped after {MAX_PROBLEMS} problems"),
                span: None,
                help: Some("fix these and run again".to_owned()),
            });
            break;
        }
    }
    Salvaged {
        raw: None,
        problems,
    }
}

/// The parser's errors, each once: a table defined twice is one problem, not one more for each
/// of its keys that the second definition repeats; a duplicate names its key.
fn syntax_problems(text: &str, errors: &[toml::de::Error]) -> Vec<Problem> {
    let mut errors: Vec<_> = errors.iter().collect();
    errors.sort_by_key(|e| e.span().map_or(usize::MAX, |s| s.start));
    let mut problems = Vec::new();
    // The end of a table header's section that repeats an earlier table.
    let mut repeated_table_until = 0;
    for error in errors {
        let mut problem = problem(error);
        let at = problem.span.clone().and_then(|span| text.get(span));
        // The parser's wording reads as if a value were there when none is, or as if the
        // string were malformed rather than unclosed.
        if problem.message.starts_with("string values must be quoted")
            && at.is_some_and(|s| s.trim().is_empty())
        {
            problem.message = "a value is missing after `=`".to_owned();
        } else if let Some(quote) = ["invalid basic string", "invalid literal string"]
            .iter()
            .find_map(|kind| problem.message.strip_prefix(kind))
            .and_then(|rest| rest.strip_prefix(", expected "))
        {
            problem.message = format!("a string is not closed: {quote} is missing");
        }
        if let Some(span) = &problem.span
            && problem.message == "duplicate key"
        {
            if span.start < repeated_table_until {
                continue;
            }
            let key = text.get(span.clone()).unwrap_or_default();
            let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
            let line = text[line_start..].lines().next().unwrap_or_default();
            // The header without a trailing comment.
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.starts_with('[') {
                problem.message = format!("table {line} is defined twice");
                problem.help = Some("merge the two into one table".to_owned());
                repeated_table_until = text[span.end..]
                    .find("\n[")
                    .map_or(text.len(), |i| span.end + i);
            } else {
                problem.message = format!("key `{key}` is set twice in the same table");
            }
        }
        problems.push(problem);
    }
    problems
}

/// serde's names of the expected types, in the manifest's terms (only `dev_port` is a u16).
const EXPECTED: [(&str, &str); 5] = [
    ("expected u16", "expected a port number (1-65535)"),
    ("expected u32", "expected an integer of at least 0"),
    ("expected i32", "expected an integer"),
    ("expected a sequence", "expected an array"),
    ("expected a map", "expected a table"),
];

fn problem(error: &toml::de::Error) -> Problem {
    let mut message = error.message().trim_end().to_owned();
    if let Some((before, _)) = message.split_once("expected struct ") {
        // The name is one of the model's types (`RawServer`): a user wrote a table.
        message = format!("{before}expected a table");
    }
    for (serde, ours) in EXPECTED {
        if let Some(before) = message.strip_suffix(serde) {
            message = format!("{before}{ours}");
        }
    }
    Problem {
        message,
        span: error.span(),
        help: None,
    }
}

enum Dropped {
    /// An unknown key: it means nothing to pgfleet, so the rest reads as written.
    Key,
    /// A value of the wrong type or shape.
    Value,
}

/// Removes the entry whose key or value is at `span`, wherever it is in `table`.
fn drop_item(table: &mut DeTable<'_>, span: &Range<usize>) -> Option<Dropped> {
    let found = table.iter().find_map(|(key, value)| {
        if key.span() == *span {
            Some((key.clone(), Dropped::Key))
        } else if value.span() == *span {
            Some((key.clone(), Dropped::Value))
        } else {
            None
        }
    });
    if let Some((key, dropped)) = found {
        // Keys compare by their text alone, so the clone finds the entry.
        table.remove(&key);
        return Some(dropped);
    }
    table
        .iter_mut()
        .find_map(|(_, value)| drop_in_value(value.get_mut(), span))
}

fn drop_in_value(value: &mut DeValue<'_>, span: &Range<usize>) -> Option<Dropped> {
    match value {
        DeValue::Table(table) => drop_item(table, span),
        DeValue::Array(items) => {
            if items.iter().any(|item| item.span() == *span) {
                *items = std::mem::replace(items, toml::de::DeArray::new())
                    .into_iter()
                    .filter(|item| item.span() != *span)
                    .collect();
                return Some(Dropped::Value);
            }
            items
                .iter_mut()
                .find_map(|item| drop_in_value(item.get_mut(), span))
        }
        _ => None,
    }
}
