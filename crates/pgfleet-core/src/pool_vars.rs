//! A service's pool settings as variables: `pgfleet env export` writes the manifest's
//! `[services.NAME.pool]` table with them, and pgfleet-client reads them back, so a service
//! process needs no manifest to size its pool as the manifest says.

use crate::manifest::{PoolSettings, PoolerMode};
use crate::vars::Vars;
use std::time::Duration;

pub const MAX_SIZE: &str = "PGFLEET_POOL_MAX_SIZE";
pub const MIN_IDLE: &str = "PGFLEET_POOL_MIN_IDLE";
pub const MAX_LIFETIME: &str = "PGFLEET_POOL_MAX_LIFETIME";
pub const IDLE_TIMEOUT: &str = "PGFLEET_POOL_IDLE_TIMEOUT";
pub const CONNECT_TIMEOUT: &str = "PGFLEET_POOL_CONNECT_TIMEOUT";
pub const ACQUIRE_TIMEOUT: &str = "PGFLEET_POOL_ACQUIRE_TIMEOUT";
pub const STATEMENT_TIMEOUT: &str = "PGFLEET_STATEMENT_TIMEOUT";
/// Set when the service connects through a pooler: its mode (`transaction` or `session`).
pub const POOLER: &str = "PGFLEET_POOLER";

/// The pool settings found in variables; `None` where a variable is unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolVars {
    pub max_size: Option<u32>,
    pub min_idle: Option<u32>,
    pub max_lifetime: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub acquire_timeout: Option<Duration>,
    pub statement_timeout: Option<Duration>,
    /// `PGFLEET_POOLER`: the service connects through a pooler in this mode.
    pub pooler: Option<PoolerMode>,
}

/// The variables for `settings` (durations in humantime form, e.g. `5m`).
pub fn export(settings: &PoolSettings) -> Vec<(String, String)> {
    let duration = |d: Duration| humantime::format_duration(d).to_string();
    vec![
        (MAX_SIZE.to_owned(), settings.max_size.to_string()),
        (MIN_IDLE.to_owned(), settings.min_idle.to_string()),
        (MAX_LIFETIME.to_owned(), duration(settings.max_lifetime)),
        (IDLE_TIMEOUT.to_owned(), duration(settings.idle_timeout)),
        (
            CONNECT_TIMEOUT.to_owned(),
            duration(settings.connect_timeout),
        ),
        (
            ACQUIRE_TIMEOUT.to_owned(),
            duration(settings.acquire_timeout),
        ),
        (
            STATEMENT_TIMEOUT.to_owned(),
            duration(settings.statement_timeout),
        ),
    ]
}

/// Reads the variables; every unusable one is reported at once as `(variable, reason)`.
pub fn read(vars: &Vars) -> Result<PoolVars, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut count = |name: &str| -> Option<u32> {
        let value = vars.get(name)?;
        match value.trim().parse() {
            Ok(n) => Some(n),
            Err(_) => {
                problems.push((name.to_owned(), format!("is not a whole number: `{value}`")));
                None
            }
        }
    };
    let max_size = count(MAX_SIZE);
    let min_idle = count(MIN_IDLE);
    let mut duration = |name: &str| -> Option<Duration> {
        let value = vars.get(name)?;
        match humantime::parse_duration(value.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                problems.push((
                    name.to_owned(),
                    format!("is not a duration ({e}): `{value}`"),
                ));
                None
            }
        }
    };
    let mut read = PoolVars {
        pooler: None,
        max_size,
        min_idle,
        max_lifetime: duration(MAX_LIFETIME),
        idle_timeout: duration(IDLE_TIMEOUT),
        connect_timeout: duration(CONNECT_TIMEOUT),
        acquire_timeout: duration(ACQUIRE_TIMEOUT),
        statement_timeout: duration(STATEMENT_TIMEOUT),
    };
    read.pooler = vars
        .get(POOLER)
        .and_then(|value| match value.trim().parse() {
            Ok(mode) => Some(mode),
            Err(()) => {
                problems.push((
                    POOLER.to_owned(),
                    format!("is not a pooler mode (transaction or session): `{value}`"),
                ));
                None
            }
        });
    if problems.is_empty() {
        Ok(read)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_settings_read_back_and_bad_values_are_all_reported() {
        let settings = PoolSettings {
            max_size: 50,
            min_idle: 10,
            ..PoolSettings::default()
        };
        let mut vars = Vars::default();
        for (k, v) in export(&settings) {
            vars.set(k, v);
        }
        let read = read(&vars).expect("reads");
        assert_eq!(read.max_size, Some(50));
        assert_eq!(read.min_idle, Some(10));
        assert_eq!(read.max_lifetime, Some(settings.max_lifetime));
        assert_eq!(read.statement_timeout, Some(settings.statement_timeout));

        let mut bad = Vars::default();
        bad.set(MAX_SIZE, "lots");
        bad.set(IDLE_TIMEOUT, "soon");
        bad.set(POOLER, "statement");
        let problems = super::read(&bad).expect_err("refused");
        let names: Vec<&str> = problems.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [MAX_SIZE, IDLE_TIMEOUT, POOLER]);
        let mut pooled = Vars::default();
        pooled.set(POOLER, "transaction");
        assert_eq!(
            super::read(&pooled).expect("reads").pooler,
            Some(PoolerMode::Transaction)
        );
        assert!(
            super::read(&Vars::default())
                .expect("empty")
                .max_size
                .is_none()
        );
    }
}
