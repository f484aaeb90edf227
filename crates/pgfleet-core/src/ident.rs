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

/// Why a value is not accepted as a server's host: a DNS name (letters, digits, `-`, `_` and
/// dots), an IPv4 or IPv6 address, or an absolute unix socket directory. Anything else (spaces,
/// `@`, `/`, `?`, control characters) would change the meaning of the URLs and libpq variables
/// pgfleet hands on.
pub fn host_problem(host: &str) -> Option<String> {
    if host.is_empty() {
        return Some("is empty".into());
    }
    if let Some(bad) = host.chars().find(|c| c.is_control()) {
        return Some(format!("contains the control character {bad:?}"));
    }
    if host.starts_with('/') {
        return None;
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if host.len() > 253 {
        return Some("is longer than the 253 bytes of a DNS name".into());
    }
    for label in host.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Some(
                "is not a host name: each dot-separated part has 1 to 63 characters".into(),
            );
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Some(format!(
                "contains {bad:?}; a host is a DNS name, an IP address or a socket directory"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("is not a host name: a part starts or ends with `-`".into());
        }
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
    fn hosts_are_names_addresses_or_socket_directories() {
        for host in [
            "db.internal",
            "class_management_db",
            "10.0.0.1",
            "::1",
            "/run/postgresql",
        ] {
            assert_eq!(host_problem(host), None, "{host}");
        }
        for host in [
            "", "a b", "db@x", "db/x", "db?x", "-db", "a..b", "db\nx", "h:5432",
        ] {
            assert!(host_problem(host).is_some(), "{host:?}");
        }
    }

    #[test]
    fn quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
