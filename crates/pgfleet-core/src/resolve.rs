//! Connection resolution: (service, environment) → [`Connection`], the one path every part of
//! pgfleet (CLI, daemon, client library) uses.
//!
//! The order generalises seed 001's hierarchy: (1) the service's explicit URL variable
//! (`<SERVICE>_DATABASE_URL`); (2) the manifest's settings for the service's server in that
//! environment, read from variables (and `<VAR>_FILE` secret files); (3) otherwise a list of
//! every problem at once, so one run of `pgfleet env check` shows everything to fix.

use crate::manifest::{Manifest, PoolerMode, Service, Setting, SslMode};
use crate::secret::Secret;
use crate::vars::Vars;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// Where a resolved connection came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The service's URL variable was set.
    UrlVariable { var: String },
    /// Built from the manifest and the environment's variables.
    Manifest,
}

/// A service's resolved connection. The password is a [`Secret`]; `url()` redacts it.
#[derive(Debug, Clone, Serialize)]
pub struct Connection {
    pub service: String,
    pub environment: String,
    pub server: String,
    pub source: Source,
    /// The server is a local cluster pgfleet runs.
    pub local: bool,
    pub host: String,
    pub port: u16,
    pub database: String,
    /// The service's schema when it shares its database with other services.
    pub schema: Option<String>,
    pub user: String,
    pub password: Option<Secret>,
    pub sslmode: SslMode,
    /// The query parameters of an explicit URL that pgfleet honours besides sslmode, host and
    /// password (today `sslrootcert`).
    pub params: Vec<(String, String)>,
    /// The server's pooler when the connection goes through it (`None`: direct). Only a
    /// service's own connection ever does; pgfleet's sessions are direct.
    pub pooler: Option<PoolerMode>,
    /// The redacted URL, for reports.
    pub url: String,
}

/// One reason a connection could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// A variable the configuration needs is not set (nor its `_FILE` twin, for secrets).
    MissingVariable {
        var: String,
        /// The setting it provides: `host`, `port`, `user` or `password`.
        setting: String,
        server: String,
        environment: String,
        service: String,
    },
    /// A variable is set but its value is unusable (the value itself is never repeated).
    InvalidVariable {
        var: String,
        reason: String,
        service: String,
    },
    /// The manifest gives no way to find a setting in this environment.
    NotConfigured {
        setting: String,
        server: String,
        environment: String,
        service: String,
    },
    UnknownEnvironment {
        name: String,
        /// Where the name came from: `--env` or the selecting variable.
        from: String,
        known: Vec<String>,
    },
    UnknownService {
        name: String,
        known: Vec<String>,
    },
    /// The service's URL variable points at a transaction pooler, where pgfleet's own
    /// sessions (the migration lock, history, access) cannot run.
    UrlAtTransactionPooler {
        var: String,
        service: String,
        server: String,
        environment: String,
        /// Where the direct host is set: `[environments.E]` or `[servers.S.environments.E]`,
        /// with its variable when it comes from one.
        direct: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::MissingVariable {
                var,
                setting,
                server,
                environment,
                service,
            } => write!(
                f,
                "{service}: {var} is not set (the {setting} of server `{server}` in {environment})"
            ),
            Problem::InvalidVariable {
                var,
                reason,
                service,
            } => write!(f, "{service}: {var} {reason}"),
            Problem::NotConfigured {
                setting,
                server,
                environment,
                service,
            } => write!(
                f,
                "{service}: the manifest sets no {setting} for server `{server}` in {environment} \
                 (add it under [environments.{environment}] or [servers.{server}.environments.{environment}])"
            ),
            Problem::UnknownEnvironment { name, from, known } => write!(
                f,
                "unknown environment `{name}` (from {from}); the manifest declares: {}",
                known.join(", ")
            ),
            Problem::UnknownService { name, known } => write!(
                f,
                "unknown service `{name}`; the manifest declares: {}",
                known.join(", ")
            ),
            Problem::UrlAtTransactionPooler {
                var,
                service,
                server,
                environment,
                direct,
            } => write!(
                f,
                "{service}: {var} points at the transaction pooler of server `{server}` in {environment}, \
                 and pgfleet's own sessions need the server itself (a migration holds its lock for the whole run)\n  \
                 hint: unset {var} for pgfleet's commands so the direct host of {direct} is used, or point it at the server"
            ),
        }
    }
}

/// Every problem found while resolving, for one or many services.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("{}", self.problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ResolveError {
    pub problems: Vec<Problem>,
}

impl ResolveError {
    /// The missing variables, each once, in first-seen order.
    pub fn missing_variables(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for p in &self.problems {
            if let Problem::MissingVariable { var, .. } = p
                && !seen.contains(&var.as_str())
            {
                seen.push(var.as_str());
            }
        }
        seen
    }
}

impl From<Problem> for ResolveError {
    fn from(problem: Problem) -> Self {
        Self {
            problems: vec![problem],
        }
    }
}

/// Who a connection logs in as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Login {
    /// The service process (its runtime role).
    Service,
    /// pgfleet itself (the environment's user).
    Admin,
}

/// Resolves connections of one manifest against one snapshot of variables.
#[derive(Debug, Clone, Copy)]
pub struct Resolver<'a> {
    manifest: &'a Manifest,
    vars: &'a Vars,
}

/// The host local clusters listen on.
pub const LOCAL_HOST: &str = "127.0.0.1";

/// Where `pgfleet dev up` keeps the generated password of a local role.
pub fn dev_password_path(manifest: &Manifest, role: &str) -> PathBuf {
    manifest
        .state_dir()
        .join("secrets")
        .join(format!("{role}.password"))
}

impl<'a> Resolver<'a> {
    pub fn new(manifest: &'a Manifest, vars: &'a Vars) -> Self {
        Self { manifest, vars }
    }

    /// The variables snapshot it reads (for the other settings that name variables, such as
    /// a backup bucket's credentials).
    pub fn vars(&self) -> &'a Vars {
        self.vars
    }

    /// The active environment: `explicit` (`--env`), else the manifest's selecting variable,
    /// else its default. Names are matched case-insensitively (`PRODUCTION` is `production`).
    pub fn environment(&self, explicit: Option<&str>) -> Result<String, ResolveError> {
        let var = &self.manifest.fleet.environment_var;
        let (name, from) = match (explicit, self.vars.get(var)) {
            (Some(name), _) => (name, "--env".to_owned()),
            (None, Some(name)) => (name, var.clone()),
            (None, None) => return Ok(self.manifest.fleet.default_environment.clone()),
        };
        let lower = name.trim().to_ascii_lowercase();
        if self.manifest.environments.contains_key(&lower) {
            Ok(lower)
        } else {
            Err(Problem::UnknownEnvironment {
                name: name.to_owned(),
                from,
                known: self.manifest.environments.keys().cloned().collect(),
            }
            .into())
        }
    }

    /// The service named `name`, or the problem of an unknown name.
    pub fn service(&self, name: &str) -> Result<&'a Service, ResolveError> {
        self.manifest.services.get(name).ok_or_else(|| {
            Problem::UnknownService {
                name: name.to_owned(),
                known: self.manifest.services.keys().cloned().collect(),
            }
            .into()
        })
    }

    /// The connection of the service process in one environment: its runtime role when the
    /// fleet manages roles. Every problem is reported at once.
    pub fn resolve(&self, service: &str, environment: &str) -> Result<Connection, ResolveError> {
        self.resolve_as(service, environment, Login::Service)
    }

    /// The connection pgfleet itself uses for a service (migrations, access): the
    /// environment's user, which creates the roles and acts as the owner role with SET ROLE.
    pub fn resolve_admin(
        &self,
        service: &str,
        environment: &str,
    ) -> Result<Connection, ResolveError> {
        self.resolve_as(service, environment, Login::Admin)
    }

    fn resolve_as(
        &self,
        service: &str,
        environment: &str,
        login: Login,
    ) -> Result<Connection, ResolveError> {
        let service = self.service(service)?;
        if let Some(url) = self.vars.get(&service.url_env) {
            let mut connection = from_url(
                service,
                environment,
                url,
                self.manifest.is_local(environment),
            )?;
            // An override at the pooler's address goes through it: the service is told so,
            // and pgfleet refuses a transaction pooler for its own sessions.
            connection.pooler = self.pooler_at(service, environment, &connection);
            if login == Login::Admin && connection.pooler == Some(PoolerMode::Transaction) {
                return Err(Problem::UrlAtTransactionPooler {
                    var: service.url_env.clone(),
                    service: service.name.clone(),
                    server: service.server.clone(),
                    environment: environment.to_owned(),
                    direct: self.direct_host_setting(service, environment),
                }
                .into());
            }
            return Ok(connection);
        }
        self.build_from_manifest(service, environment, login)
    }

    /// The mode of the server's pooler when `connection` points at its address in
    /// `environment` (as far as its settings resolve).
    fn pooler_at(
        &self,
        service: &Service,
        environment: &str,
        connection: &Connection,
    ) -> Option<PoolerMode> {
        let pooler = self.manifest.servers[&service.server].pooler.as_ref()?;
        let address = pooler.environments.get(environment)?;
        let host = self
            .value(address.host.get_ref(), false, &service.name)
            .ok()??;
        let port = match &address.port {
            Some(port) => self
                .value(port.get_ref(), false, &service.name)
                .ok()??
                .parse::<u16>()
                .ok()?,
            None => crate::manifest::POOLER_DEFAULT_PORT,
        };
        (host.eq_ignore_ascii_case(&connection.host) && port == connection.port)
            .then_some(pooler.mode)
    }

    /// Where the direct host of `service`'s server in `environment` is set, for messages.
    fn direct_host_setting(&self, service: &Service, environment: &str) -> String {
        let server = &self.manifest.servers[&service.server];
        let own = server
            .environments
            .get(environment)
            .and_then(|e| e.host.as_ref());
        let (table, host) = match own {
            Some(host) => (
                format!("[servers.{}.environments.{environment}]", server.name),
                Some(host),
            ),
            None => (
                format!("[environments.{environment}]"),
                self.manifest
                    .environments
                    .get(environment)
                    .and_then(|e| e.host.as_ref()),
            ),
        };
        match host.and_then(|h| h.get_ref().var()) {
            Some(var) => format!("{table} ({var})"),
            None => table,
        }
    }

    /// The admin connection from the manifest alone, ignoring the service's URL variable: what
    /// pgfleet's own local clusters are built from, whatever a developer points the service at.
    pub fn resolve_from_manifest(
        &self,
        service: &str,
        environment: &str,
    ) -> Result<Connection, ResolveError> {
        let service = self.service(service)?;
        self.build_from_manifest(service, environment, Login::Admin)
    }

    /// The runtime role's connection from the manifest alone (see `resolve_from_manifest`).
    pub fn resolve_service_from_manifest(
        &self,
        service: &str,
        environment: &str,
    ) -> Result<Connection, ResolveError> {
        let service = self.service(service)?;
        self.build_from_manifest(service, environment, Login::Service)
    }

    /// Resolves every service (or the named ones); returns the connections that resolved and
    /// the problems of the rest.
    pub fn resolve_all(
        &self,
        services: &[String],
        environment: &str,
    ) -> (Vec<Connection>, Vec<Problem>) {
        let names: Vec<&String> = if services.is_empty() {
            self.manifest.services.keys().collect()
        } else {
            services.iter().collect()
        };
        let mut connections = Vec::new();
        let mut problems = Vec::new();
        for name in names {
            match self.resolve(name, environment) {
                Ok(connection) => connections.push(connection),
                Err(e) => problems.extend(e.problems),
            }
        }
        (connections, problems)
    }

    /// Every problem of the named services (default: all) in an environment, for the service
    /// processes and for pgfleet's own connections, each problem once.
    pub fn check_all(&self, services: &[String], environment: &str) -> Vec<Problem> {
        let names: Vec<&String> = if services.is_empty() {
            self.manifest.services.keys().collect()
        } else {
            services.iter().collect()
        };
        let mut problems: Vec<Problem> = Vec::new();
        for name in names {
            for login in [Login::Service, Login::Admin] {
                if let Err(e) = self.resolve_as(name, environment, login) {
                    for problem in e.problems {
                        if !problems.contains(&problem) {
                            problems.push(problem);
                        }
                    }
                }
            }
        }
        problems
    }

    fn build_from_manifest(
        &self,
        service: &Service,
        environment: &str,
        login: Login,
    ) -> Result<Connection, ResolveError> {
        let server = &self.manifest.servers[&service.server];
        let Some(settings) = self.manifest.settings(server, environment) else {
            return Err(Problem::UnknownEnvironment {
                name: environment.to_owned(),
                from: "the caller".to_owned(),
                known: self.manifest.environments.keys().cloned().collect(),
            }
            .into());
        };
        let mut problems = Vec::new();
        let local = settings.local == Some(true);
        let mut read = |setting: Option<&Setting>, what: &str, secret: bool| -> Option<String> {
            let setting = setting?;
            match self.value(setting, secret, &service.name) {
                Ok(Some(value)) => Some(value),
                Ok(None) => {
                    if let Some(var) = setting.var() {
                        problems.push(Problem::MissingVariable {
                            var: var.to_owned(),
                            setting: what.to_owned(),
                            server: server.name.clone(),
                            environment: environment.to_owned(),
                            service: service.name.clone(),
                        });
                    }
                    None
                }
                Err(problem) => {
                    problems.push(problem);
                    None
                }
            }
        };

        // The service process connects through the server's pooler where it has one; pgfleet
        // itself always goes to the server.
        let pooler = match login {
            Login::Service => server.pooler.as_ref().and_then(|pooler| {
                let address = pooler.environments.get(environment)?;
                Some((pooler.mode, address))
            }),
            Login::Admin => None,
        };
        let (host_setting, port_setting) = match pooler {
            Some((_, address)) => (Some(&address.host), address.port.as_ref()),
            None => (settings.host.as_ref(), settings.port.as_ref()),
        };
        let (host_what, port_what) = match pooler {
            Some(_) => ("pooler host", "pooler port"),
            None => ("host", "port"),
        };
        let host = read(host_setting.map(|h| h.get_ref()), host_what, false);
        let port = read(port_setting.map(|p| p.get_ref()), port_what, false);
        // The service process logs in as its runtime role, with that role's own password;
        // pgfleet logs in as the environment's user.
        let as_runtime = login == Login::Service && self.manifest.fleet.manage_roles;
        let runtime_role = &service.access.runtime_role;
        let (user, password) = if as_runtime {
            let what = format!("password of role `{runtime_role}`");
            (
                Some(runtime_role.clone()),
                read(Some(&service.access.password), &what, true),
            )
        } else {
            (
                read(settings.user.as_ref().map(|u| u.get_ref()), "user", false),
                read(
                    settings.password.as_ref().map(|p| p.get_ref()),
                    "password",
                    true,
                ),
            )
        };

        let not_configured = |setting: &str| Problem::NotConfigured {
            setting: setting.to_owned(),
            server: server.name.clone(),
            environment: environment.to_owned(),
            service: service.name.clone(),
        };
        let (host, port) = if local {
            // Local clusters listen on loopback at the server's dev_port, or its test_port in
            // a testing environment (checked at load).
            (
                Some(LOCAL_HOST.to_owned()),
                Some(
                    self.manifest
                        .local_port(server, environment)
                        .unwrap_or(5432),
                ),
            )
        } else {
            if host_setting.is_none() {
                problems.push(not_configured("host"));
            }
            let port = match port {
                Some(text) => match text.parse::<u16>() {
                    Ok(port) if port > 0 => Some(port),
                    _ => {
                        problems.push(Problem::InvalidVariable {
                            var: port_setting
                                .and_then(|p| p.get_ref().var())
                                .unwrap_or("port")
                                .to_owned(),
                            reason: "is not a port number (1-65535)".to_owned(),
                            service: service.name.clone(),
                        });
                        None
                    }
                },
                None if port_setting.is_none() && pooler.is_some() => {
                    Some(crate::manifest::POOLER_DEFAULT_PORT)
                }
                None if port_setting.is_none() => Some(5432),
                None => None,
            };
            (host, port)
        };
        // Values from variables get the checks the manifest's literals got at load.
        if let (Some(value), Some(setting)) = (&host, host_setting)
            && let Some(why) = crate::ident::host_problem(value)
        {
            problems.push(Problem::InvalidVariable {
                var: setting.get_ref().var().unwrap_or("host").to_owned(),
                reason: format!("is not a valid host: it {why}"),
                service: service.name.clone(),
            });
        }
        if !as_runtime
            && let (Some(value), Some(setting)) = (&user, &settings.user)
            && let Some(reason) = self.login_problem(value, &service.server)
        {
            problems.push(Problem::InvalidVariable {
                var: setting.get_ref().var().unwrap_or("user").to_owned(),
                reason,
                service: service.name.clone(),
            });
        }
        let user = match (user, &settings.user) {
            (Some(user), _) => Some(user),
            (None, _) if as_runtime => None,
            // A local cluster's login role defaults to the fleet's name.
            (None, None) if local => Some(self.manifest.fleet.name.clone()),
            (None, None) => {
                problems.push(not_configured("user"));
                None
            }
            (None, Some(_)) => None,
        };
        let password = match password {
            Some(password) => Some(Secret::new(password)),
            None if local => user.as_deref().and_then(|user| {
                // Generated by `pgfleet dev up` when no variable provides one.
                let path = dev_password_path(self.manifest, user);
                std::fs::read_to_string(path)
                    .ok()
                    .map(|p| Secret::new(p.trim_end()))
            }),
            None => None,
        };
        // A password setting whose variable is unset is only a problem outside local clusters,
        // where pgfleet cannot generate one.
        if local {
            problems.retain(
                |p| !matches!(p, Problem::MissingVariable { setting, .. } if setting.starts_with("password")),
            );
        }
        if !problems.is_empty() {
            return Err(ResolveError { problems });
        }
        let (Some(host), Some(port), Some(user)) = (host, port, user) else {
            return Err(ResolveError { problems });
        };
        let sslmode = settings.sslmode.unwrap_or(if local {
            SslMode::Disable
        } else {
            SslMode::Prefer
        });
        let mut connection = Connection {
            service: service.name.clone(),
            environment: environment.to_owned(),
            server: server.name.clone(),
            source: Source::Manifest,
            local,
            host,
            port,
            database: service.placement.database().to_owned(),
            schema: service.placement.schema().map(str::to_owned),
            user,
            password,
            sslmode,
            // The CA file pgfleet verifies with is the one a service is handed (in its URL or
            // as PGSSLROOTCERT), so a driver verifies the server as pgfleet does.
            params: self
                .vars
                .get("PGSSLROOTCERT")
                .filter(|path| !path.is_empty() && sslmode != SslMode::Disable)
                .map(|path| vec![("sslrootcert".to_owned(), path.to_owned())])
                .unwrap_or_default(),
            pooler: pooler.map(|(mode, _)| mode),
            url: String::new(),
        };
        connection.url = connection.build_url(false);
        Ok(connection)
    }

    /// Why `login` cannot be pgfleet's login on `server`: not a valid role name, or the name of
    /// a service role there (which would hand that service pgfleet's rights).
    fn login_problem(&self, login: &str, server: &str) -> Option<String> {
        if let Some(why) = crate::ident::identifier_problem(login) {
            return Some(format!("is not a valid role name: it {why}"));
        }
        self.manifest
            .services
            .values()
            .filter(|s| s.server == server)
            .find_map(|s| {
                let a = &s.access;
                [
                    ("owner", &a.owner_role),
                    ("runtime", &a.runtime_role),
                    ("read-only", &a.readonly_role),
                    ("migration", &a.migration_role),
                ]
                .into_iter()
                .find(|(_, role)| role.as_str() == login)
                .map(|(kind, _)| {
                    format!(
                        "names the {kind} role of service `{}`: pgfleet's login must be a role of its own",
                        s.name
                    )
                })
            })
    }

    /// The value of a setting: its literal, its variable, the file named by `<VAR>_FILE` (secrets,
    /// the Docker/Kubernetes convention), or its default. `Ok(None)` when none applies.
    fn value(
        &self,
        setting: &Setting,
        secret: bool,
        service: &str,
    ) -> Result<Option<String>, Problem> {
        match setting {
            Setting::Literal(value) => Ok(Some(value.clone())),
            Setting::FromEnv { var, default } => {
                let found = if secret {
                    self.vars
                        .secret(var)
                        .map_err(|e| Problem::InvalidVariable {
                            var: e.var,
                            reason: format!("names a file that cannot be read: {}", e.message),
                            service: service.to_owned(),
                        })?
                } else {
                    self.vars.get(var).map(str::to_owned)
                };
                Ok(found.or_else(|| default.clone()))
            }
        }
    }
}

/// A connection from an explicit URL in any driver's spelling (`postgresql://`, `postgres://`,
/// SQLAlchemy's `postgresql+driver://`, JDBC's `jdbc:postgresql://`). Errors never repeat the
/// URL: it may hold a password.
fn from_url(
    service: &Service,
    environment: &str,
    text: &str,
    local: bool,
) -> Result<Connection, ResolveError> {
    parse_url(
        UrlOwner {
            service: &service.name,
            server: &service.server,
            var: &service.url_env,
            database: service.placement.database(),
            schema: service.placement.schema(),
        },
        environment,
        text,
        local,
    )
}

/// A service process's connection from the URL in variable `var`, without a manifest (what
/// `pgfleet-client` reads at run time). Same parsing and errors as [`Resolver::resolve`].
pub fn connection_from_url(
    service: &str,
    var: &str,
    text: &str,
) -> Result<Connection, ResolveError> {
    let owner = UrlOwner {
        service,
        server: "",
        var,
        database: "",
        schema: None,
    };
    parse_url(owner, "runtime", text, false)
}

/// Whose URL is parsed, for defaults and error messages.
struct UrlOwner<'a> {
    service: &'a str,
    server: &'a str,
    var: &'a str,
    database: &'a str,
    schema: Option<&'a str>,
}

fn parse_url(
    service: UrlOwner<'_>,
    environment: &str,
    text: &str,
    local: bool,
) -> Result<Connection, ResolveError> {
    let invalid = |reason: &str| -> ResolveError {
        Problem::InvalidVariable {
            var: service.var.to_owned(),
            reason: reason.to_owned(),
            service: service.service.to_owned(),
        }
        .into()
    };
    // JDBC's `jdbc:postgresql://…` is a URL behind a prefix; pgjdbc takes no other scheme.
    let (text, jdbc) = match text.strip_prefix("jdbc:") {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let parsed =
        url::Url::parse(text).map_err(|e| invalid(&format!("is not a valid URL ({e})")))?;
    let scheme = parsed.scheme().split('+').next().unwrap_or_default();
    if (jdbc && parsed.scheme() != "postgresql") || (scheme != "postgres" && scheme != "postgresql")
    {
        return Err(invalid(&format!(
            "has scheme `{}{}`; expected postgresql://, postgresql+DRIVER:// or jdbc:postgresql://",
            if jdbc { "jdbc:" } else { "" },
            parsed.scheme()
        )));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut host = match parsed.host() {
        // Brackets belong to the URL, not to the address.
        Some(url::Host::Ipv6(address)) => address.to_string(),
        _ => parsed.host_str().map(decode).unwrap_or_default(),
    };
    // libpq, psycopg, pgx and pgjdbc spell the TLS mode `sslmode=`; asyncpg under SQLAlchemy
    // `ssl=`. Both are read, and must agree: either one is what the service asked for.
    let mut sslmode: Option<SslMode> = None;
    let mut ssl: Option<SslMode> = None;
    let mut params = Vec::new();
    let mut query_password = None;
    let mut query_user = None;
    // Only what pgfleet honours is accepted: an option it would drop (and print) is refused,
    // every one at once. Values are never repeated: any of them may hold a password.
    let mut refused = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match &*key {
            "sslmode" => match value.parse::<SslMode>() {
                Ok(mode) => sslmode = Some(mode),
                Err(()) => refused.push(format!("has an unknown sslmode\n  hint: {TLS_MODES}")),
            },
            "ssl" => match value.parse::<SslMode>() {
                Ok(mode) => ssl = Some(mode),
                // asyncpg reads a URL's `ssl=true` as no mode at all, pgjdbc as verify-full:
                // a value that means different things is not guessed at.
                Err(()) => refused.push(format!(
                    "has an `ssl` value that is not a TLS mode\n  hint: {TLS_MODES}"
                )),
            },
            "host" => host = value.into_owned(),
            "sslrootcert" => params.push((key.into_owned(), value.into_owned())),
            "password" => query_password = Some(value.into_owned()),
            "user" => query_user = Some(value.into_owned()),
            "sslpassword" | "sslcert" | "sslkey" => refused.push(format!(
                "has `{key}`: pgfleet does not present client certificates, so it cannot honour it"
            )),
            "options" => refused.push(
                "has `options`, which pgfleet does not pass on (search_path comes from the manifest's schema)"
                    .to_owned(),
            ),
            other => refused.push(if is_parameter_name(other) {
                format!(
                    "has option `{other}`, which pgfleet does not understand\n  hint: a URL takes sslmode (or ssl), sslrootcert, host, user and password; session settings come from the manifest"
                )
            } else {
                "has a query parameter that is not a parameter name".to_owned()
            }),
        }
    }
    if let (Some(a), Some(b)) = (sslmode, ssl)
        && a != b
    {
        refused.push(format!(
            "has `sslmode={}` and `ssl={}`, which disagree\n  hint: give the TLS mode once",
            a.as_str(),
            b.as_str()
        ));
    }
    let password = match (parsed.password(), query_password) {
        (Some(_), Some(_)) => {
            refused.push("has a password both before the host and in `password=`".to_owned());
            None
        }
        (Some(p), None) => Some(Secret::new(decode(p))),
        (None, Some(p)) => Some(Secret::new(p)),
        (None, None) => None,
    };
    let user = match (parsed.username(), query_user) {
        ("", Some(user)) => user,
        (_, Some(_)) => {
            refused.push("has a user both before the host and in `user=`".to_owned());
            String::new()
        }
        (user, None) => decode(user),
    };
    if host.is_empty() {
        refused.push("has no host".to_owned());
    }
    if !refused.is_empty() {
        return Err(ResolveError {
            problems: refused
                .iter()
                .map(|reason| Problem::InvalidVariable {
                    var: service.var.to_owned(),
                    reason: reason.clone(),
                    service: service.service.to_owned(),
                })
                .collect(),
        });
    }
    let database = decode(parsed.path().trim_start_matches('/'));
    let mut connection = Connection {
        service: service.service.to_owned(),
        environment: environment.to_owned(),
        server: service.server.to_owned(),
        source: Source::UrlVariable {
            var: service.var.to_owned(),
        },
        local,
        host,
        port: parsed.port().unwrap_or(5432),
        database: if database.is_empty() {
            service.database.to_owned()
        } else {
            database
        },
        schema: service.schema.map(str::to_owned),
        user,
        password,
        sslmode: sslmode.or(ssl).unwrap_or(SslMode::Prefer),
        params,
        pooler: None,
        url: String::new(),
    };
    connection.url = connection.build_url(false);
    Ok(connection)
}

/// The TLS modes a URL may ask for, as a hint.
const TLS_MODES: &str =
    "the TLS mode is one of disable, allow, prefer, require, verify-ca, verify-full";

/// A libpq-style parameter name (what may be repeated in an error without leaking a value
/// written where a key was expected).
fn is_parameter_name(key: &str) -> bool {
    !key.is_empty() && key.len() <= 40 && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
}

impl Connection {
    /// The URL with the password in it, for handing to a process that connects. Call only
    /// where a secret is deliberately passed on (`env export --show-secrets`, a child's env).
    pub fn expose_url(&self) -> String {
        self.build_url(true)
    }

    /// The URL with the password shown as `***`: what `url` holds, recomputed after a field
    /// changed (e.g. a password found in another variable).
    pub fn redacted_url(&self) -> String {
        self.build_url(false)
    }

    /// The URL in libpq's spelling (what reports show and what `expose_url` hands on).
    fn build_url(&self, with_password: bool) -> String {
        self.uri("postgresql", "sslmode", true, with_password)
    }

    /// A tokio-postgres configuration for this connection, with a connect timeout.
    #[cfg(feature = "tokio-postgres")]
    pub fn pg_config(
        &self,
        application_name: &str,
        connect_timeout: std::time::Duration,
    ) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.database)
            .user(&self.user)
            .application_name(application_name)
            .connect_timeout(connect_timeout)
            .ssl_mode(match self.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Allow | SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                    tokio_postgres::config::SslMode::Require
                }
            });
        if let Some(password) = &self.password {
            config.password(password.expose());
        }
        config
    }
}

mod driver_url;
pub use driver_url::UnspellableUrl;

#[cfg(test)]
mod tests;
