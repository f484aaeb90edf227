//! Pool settings (seed 003's defaults) and the run-time resolution of a service's connection
//! from the variables `pgfleet env export` prints.

use crate::error::{ConfigError, Error};
use pgfleet_core::manifest::{PoolSettings, PoolerMode, SslMode};
use pgfleet_core::resolve::{Source, connection_from_url};
use pgfleet_core::{Connection, Secret, Vars};
use std::time::Duration;

/// The pool's settings. [`Default`] is seed 003's production pool (pool.go): 50 connections,
/// 10 kept warm, 5 min lifetime, 1 min idle timeout, 10 s connect timeout, 30 s statement timeout.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Most connections open at once (seed 003: `DB_MAX_OPEN_CONNS` = 50).
    pub max_size: usize,
    /// Connections kept open even when idle (seed 003: `DB_MAX_IDLE_CONNS` = 10). Opened in
    /// the background at start and after an outage, with exponential backoff.
    pub min_idle: usize,
    /// A connection older than this is closed once idle (seed 003: 5 min).
    pub max_lifetime: Duration,
    /// An idle connection beyond `min_idle` is closed after this long (seed 003: 1 min).
    pub idle_timeout: Duration,
    /// Opening one connection, TLS included (seed 003: 10 s).
    pub connect_timeout: Duration,
    /// How long a caller waits for a free connection before `Error::AcquireTimeout`.
    pub acquire_timeout: Duration,
    /// The session's `statement_timeout` (seed 003's 30 s query timeout); zero: none.
    pub statement_timeout: Duration,
    /// Backoff of the background (re)connection attempts: first delay …
    pub reconnect_initial_delay: Duration,
    /// … doubled up to this.
    pub reconnect_max_delay: Duration,
    /// How often the pool is maintained (lifetimes, idle connections, warm-up, pressure).
    pub maintenance_interval: Duration,
    /// `/ready` answers from a cache this fresh: a probe storm costs one query per interval.
    pub ready_cache: Duration,
    /// Deadline of one health check (seed 003: 2 s for `/ready`).
    pub health_timeout: Duration,
    /// Statements in log lines are cut to this many characters.
    pub log_statement_chars: usize,
    /// Tracked queries slower than this are logged at WARN.
    pub slow_query: Duration,
    /// The setting [`crate::TxOptions::user`] sets for row level security.
    pub user_setting: String,
    /// Whether the query path records metrics (acquire, query, transaction and error counts
    /// and histograms). Off, they stay at zero: what they cost is then measurable
    /// (`bench/client`). The connection gauges are read at scrape time either way.
    pub record_metrics: bool,
    /// The pooler the service connects through (`PGFLEET_POOLER`); `None`: the server itself.
    /// Behind any pooler no startup options are sent (PgBouncer refuses them: the role's own
    /// settings carry `search_path` and `statement_timeout`). In transaction mode every
    /// statement outside [`crate::Tx`] runs in a transaction of its own and a statement
    /// prepared outside one is refused ([`crate::Error::PreparedBehindPooler`]).
    pub pooler: Option<PoolerMode>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_size: 50,
            min_idle: 10,
            max_lifetime: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(30),
            reconnect_initial_delay: Duration::from_millis(100),
            reconnect_max_delay: Duration::from_secs(10),
            maintenance_interval: Duration::from_secs(1),
            ready_cache: Duration::from_secs(1),
            health_timeout: Duration::from_secs(2),
            log_statement_chars: 200,
            slow_query: Duration::from_secs(1),
            user_setting: "app.current_user_id".to_owned(),
            record_metrics: true,
            pooler: None,
        }
    }
}

impl From<&PoolSettings> for PoolConfig {
    /// A manifest's `[services.NAME.pool]` table.
    fn from(settings: &PoolSettings) -> Self {
        Self {
            max_size: settings.max_size as usize,
            min_idle: settings.min_idle as usize,
            max_lifetime: settings.max_lifetime,
            idle_timeout: settings.idle_timeout,
            connect_timeout: settings.connect_timeout,
            acquire_timeout: settings.acquire_timeout,
            statement_timeout: settings.statement_timeout,
            ..Self::default()
        }
    }
}

impl PoolConfig {
    /// Seed 003's defaults with the manifest's pool table applied, as `pgfleet env export`
    /// writes it (`PGFLEET_POOL_MAX_SIZE`, …, `PGFLEET_STATEMENT_TIMEOUT`); unset variables
    /// keep the defaults, and every unusable one is reported at once.
    pub fn from_vars(vars: &Vars) -> Result<PoolConfig, Error> {
        let read = pgfleet_core::pool_vars::read(vars).map_err(|problems| {
            ConfigError::Pool(
                problems
                    .iter()
                    .map(|(var, reason)| format!("{var} {reason}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let mut config = PoolConfig {
            pooler: read.pooler,
            ..PoolConfig::default()
        };
        if let Some(n) = read.max_size {
            config.max_size = n as usize;
        }
        if let Some(n) = read.min_idle {
            config.min_idle = n as usize;
        }
        let durations = [
            (read.max_lifetime, &mut config.max_lifetime),
            (read.idle_timeout, &mut config.idle_timeout),
            (read.connect_timeout, &mut config.connect_timeout),
            (read.acquire_timeout, &mut config.acquire_timeout),
            (read.statement_timeout, &mut config.statement_timeout),
        ];
        for (value, field) in durations {
            if let Some(value) = value {
                *field = value;
            }
        }
        Ok(config)
    }
}

/// The variable `pgfleet env export` names for a service's URL: `<SERVICE>_DATABASE_URL`.
pub fn url_var(service: &str) -> String {
    format!("{}_DATABASE_URL", env_prefix(service))
}

/// The manifest's default password variable of a service's runtime role: `<SERVICE>_DB_PASSWORD`.
pub fn password_var(service: &str) -> String {
    format!("{}_DB_PASSWORD", env_prefix(service))
}

/// Optional read replicas, comma-separated URLs: `<SERVICE>_DATABASE_REPLICA_URLS`.
pub fn replica_var(service: &str) -> String {
    format!("{}_DATABASE_REPLICA_URLS", env_prefix(service))
}

fn env_prefix(service: &str) -> String {
    service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A resolved connection plus the session options the environment asks for.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub connection: Connection,
    /// `PGOPTIONS` (e.g. `-c search_path=<schema>` for a service in a shared database).
    pub options: Option<String>,
    /// `PGAPPNAME`, else the service.
    pub application_name: String,
}

/// Resolves a service's connection from variables, as `pgfleet env export` hands them over:
///
/// 1. `<SERVICE>_DATABASE_URL`, else `DATABASE_URL` (the URL's password, unless redacted as
///    `***`);
/// 2. otherwise `PGHOST`, `PGPORT` (default 5432), `PGDATABASE`, `PGUSER`, `PGSSLMODE`
///    (default `prefer`); every missing one is listed in one error;
/// 3. the password, when the URL has none: `PGPASSWORD`, `<SERVICE>_DB_PASSWORD`, or the file
///    named by `<SERVICE>_DB_PASSWORD_FILE` (the manifest's default source for the runtime role).
///
/// No manifest is read. Errors never contain a password.
pub fn resolve_env(service: &str, vars: &Vars) -> Result<Resolved, Error> {
    let url_var = url_var(service);
    let mut connection = match [url_var.as_str(), "DATABASE_URL"]
        .into_iter()
        .find_map(|var| vars.get(var).map(|url| (var, url)))
    {
        Some((var, url)) => connection_from_url(service, var, url).map_err(ConfigError::from)?,
        None => from_pg_vars(service, vars, &url_var)?,
    };
    let redacted = connection
        .password
        .as_ref()
        .is_some_and(|p| p.expose() == pgfleet_core::secret::REDACTED);
    if redacted {
        connection.password = None;
    }
    if connection.password.is_none() {
        connection.password = password_from_vars(service, vars)?;
        if connection.password.is_none() && redacted {
            let var = match &connection.source {
                Source::UrlVariable { var } => var.clone(),
                Source::Manifest => url_var.clone(),
            };
            return Err(ConfigError::RedactedPassword {
                var,
                password_var: password_var(service),
            }
            .into());
        }
    }
    connection.url = connection.redacted_url();
    if connection.schema.is_none() {
        connection.schema = vars.get("PGFLEET_SCHEMA").map(str::to_owned);
    }
    let options = vars.get("PGOPTIONS").map(str::to_owned).or_else(|| {
        connection
            .schema
            .as_ref()
            .map(|schema| format!("-c search_path={schema}"))
    });
    Ok(Resolved {
        application_name: vars.get("PGAPPNAME").unwrap_or(service).to_owned(),
        connection,
        options,
    })
}

/// Resolves from an explicit URL (the builder's `url`), passwords from the URL only.
pub fn resolve_url(service: &str, url: &str) -> Result<Resolved, Error> {
    let connection = connection_from_url(service, "url", url).map_err(ConfigError::from)?;
    Ok(Resolved {
        options: connection
            .schema
            .as_ref()
            .map(|schema| format!("-c search_path={schema}")),
        application_name: service.to_owned(),
        connection,
    })
}

fn from_pg_vars(service: &str, vars: &Vars, url_var: &str) -> Result<Connection, Error> {
    let mut missing = Vec::new();
    let mut get = |var: &str| {
        let value = vars.get(var).map(str::to_owned);
        if value.is_none() {
            missing.push(var.to_owned());
        }
        value
    };
    let host = get("PGHOST");
    let database = get("PGDATABASE");
    let user = get("PGUSER");
    if !missing.is_empty() {
        return Err(ConfigError::Missing {
            service: service.to_owned(),
            url_var: url_var.to_owned(),
            missing,
        }
        .into());
    }
    let port = match vars.get("PGPORT") {
        None => 5432,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(ConfigError::Invalid {
                    var: "PGPORT".to_owned(),
                    reason: "is not a port number (1-65535)".to_owned(),
                }
                .into());
            }
        },
    };
    let sslmode = match vars.get("PGSSLMODE") {
        None => SslMode::Prefer,
        Some(text) => text.parse().map_err(|()| ConfigError::Invalid {
            var: "PGSSLMODE".to_owned(),
            reason: "is not an sslmode (disable, allow, prefer, require, verify-ca, verify-full)"
                .to_owned(),
        })?,
    };
    let (Some(host), Some(database), Some(user)) = (host, database, user) else {
        return Err(ConfigError::Missing {
            service: service.to_owned(),
            url_var: url_var.to_owned(),
            missing: Vec::new(),
        }
        .into());
    };
    let mut params = Vec::new();
    if let Some(root) = vars.get("PGSSLROOTCERT") {
        params.push(("sslrootcert".to_owned(), root.to_owned()));
    }
    let mut connection = Connection {
        service: service.to_owned(),
        environment: "runtime".to_owned(),
        server: String::new(),
        source: Source::Manifest,
        local: false,
        host,
        port,
        database,
        schema: None,
        user,
        password: None,
        sslmode,
        params,
        pooler: None,
        url: String::new(),
    };
    connection.url = connection.redacted_url();
    Ok(connection)
}

fn password_from_vars(service: &str, vars: &Vars) -> Result<Option<Secret>, Error> {
    if let Some(password) = vars.get("PGPASSWORD") {
        return Ok(Some(Secret::new(password)));
    }
    let password = vars
        .secret(&password_var(service))
        .map_err(|e| ConfigError::Invalid {
            var: e.var,
            reason: format!("names a file that cannot be read: {}", e.message),
        })?;
    Ok(password.map(Secret::new))
}
