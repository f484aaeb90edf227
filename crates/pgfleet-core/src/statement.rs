//! What logs and metrics show of a SQL statement: `pgfleet serve`'s query labels and
//! pgfleet-client's log lines use the same excerpt.

/// Shown instead of a statement that mentions a password.
pub const WITHHELD: &str = "(withheld: may contain a password)";

/// `sql` with whitespace runs folded to one space and cut to `max` characters (then `…`), or
/// [`WITHHELD`] when it mentions a password: `ALTER ROLE … PASSWORD '…'` is neither
/// parameterised nor normalised by pg_stat_statements, so its literal would otherwise reach
/// the log or the metric.
pub fn excerpt(sql: &str, max: usize) -> String {
    if sql.to_ascii_lowercase().contains("password") {
        return WITHHELD.to_owned();
    }
    let mut out = String::with_capacity(sql.len().min(max + 3));
    let mut count = 0;
    for word in sql.split_whitespace() {
        for c in (count > 0).then_some(' ').into_iter().chain(word.chars()) {
            if count == max {
                out.push('…');
                return out;
            }
            out.push(c);
            count += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{WITHHELD, excerpt};

    #[test]
    fn folds_cuts_and_withholds() {
        let sql = "SELECT id,\n       name\n  FROM dashboard\n WHERE project = $1";
        assert_eq!(
            excerpt(sql, 200),
            "SELECT id, name FROM dashboard WHERE project = $1"
        );
        assert_eq!(excerpt(sql, 10), "SELECT id,…");
        assert_eq!(excerpt("héllo wörld", 7), "héllo w…");
        assert_eq!(excerpt(&"x".repeat(5000), 200).chars().count(), 201);
        assert_eq!(excerpt("ALTER ROLE a PASSWORD 'hunter2'", 200), WITHHELD);
        assert_eq!(
            excerpt("alter role a with encrypted password 'x'", 5),
            WITHHELD
        );
        assert_eq!(excerpt("  ", 10), "");
    }
}
