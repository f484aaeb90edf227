//! SQL identifiers: validation of names taken from the manifest, and the one quoting helper.

/// PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Why a name is not accepted as a SQL identifier.
pub fn identifier_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("is empty".into());
    }
    if name.len() > MAX_IDENTIFIER_LEN {
        return Some(format!(
            "is {} bytes long; PostgreSQL identifiers are at most {MAX_IDENTIFIER_LEN}",
            name.len()
        ));
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or('_');
    if !(first.is_ascii_lowercase() || first == '_') {
        return Some("must start with a lowercase letter or an underscore".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        return Some(format!(
            "contains {bad:?}; use lowercase letters, digits and underscores"
        ));
    }
    if name.starts_with("pg_") {
        return Some("starts with `pg_`, which PostgreSQL reserves".into());
    }
    None
}

/// Quotes an identifier for SQL: `"name"`, with embedded quotes doubled. Every identifier that
/// reaches SQL text goes through here, even validated ones.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes a string literal for SQL: `'value'`, with embedded quotes doubled. Used with
/// `standard_conforming_strings` on (the default since PostgreSQL 9.1), so backslashes are literal.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["auth_schema", "huleedu_class_management", "_x", "a1"] {
            assert_eq!(identifier_problem(name), None, "{name}");
        }
    }

    #[test]
    fn rejects_names_that_need_quoting_or_are_reserved() {
        for name in [
            "",
            "Auth",
            "1abc",
            "a-b",
            "a b",
            "a\"b",
            "pg_mine",
            &"x".repeat(64),
        ] {
            assert!(identifier_problem(name).is_some(), "{name:?}");
        }
    }

    #[test]
    fn quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
