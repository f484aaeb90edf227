//! The fleet manifest (`fleet.toml`): finding it, parsing it, and validating it with every
//! problem reported at its line and column.

mod error;
mod model;
mod salvage;
mod setting;

pub use error::{LineColumn, ManifestError, Problem, line_column};
pub use model::{
    BackupEncryption, BackupSettings, BackupStorage, BackupTarget, ConnectionSettings, Driver,
    Fleet, Layout, Manifest, POOLER_DEFAULT_PORT, Placement, PoolSettings, Pooler, PoolerAddress,
    PoolerMode, Retention, RlsPolicy, S3Storage, Server, Service, ServiceAccess, SslMode,
};
pub use setting::Setting;

use crate::ident::{host_problem, identifier_problem};
use model::{RawManifest, RawService};
use setting::is_env_var_name;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A server's test port when it sets none: its dev_port plus this.
pub const TEST_PORT_OFFSET: u16 = 100;
/// The file name searched for when no manifest is named.
pub const MANIFEST_FILE: &str = "fleet.toml";
/// The variable that names the manifest when `--manifest` is not given.
pub const MANIFEST_ENV: &str = "PGFLEET_MANIFEST";
/// The variable that selects the environment unless the manifest names another.
pub const DEFAULT_ENVIRONMENT_VAR: &str = "PGFLEET_ENV";
/// The environments of the seeds' `Environment` enum.
pub const KNOWN_ENVIRONMENTS: [&str; 4] = ["development", "staging", "production", "testing"];
/// Schemas a service may not take: pgfleet's own (history, audit log, pg_stat_statements) and
/// PostgreSQL's (`pg_*` names are refused as identifiers already).
pub const RESERVED_SCHEMAS: [&str; 2] = ["pgfleet", "information_schema"];
/// Databases a service may not take: the maintenance database and the templates.
pub const RESERVED_DATABASES: [&str; 3] = ["postgres", "template0", "template1"];
/// Role names a service role may not take: the bootstrap superuser and the names PostgreSQL
/// reserves (`pg_*` names are refused as identifiers already).
pub const RESERVED_ROLES: [&str; 6] = [
    "postgres",
    "public",
    "none",
    "current_user",
    "current_role",
    "session_user",
];

/// Finds the manifest: the explicit path, else `$PGFLEET_MANIFEST`, else `fleet.toml` in `cwd`
/// or the nearest parent folder that has one (as cargo finds `Cargo.toml`).
pub fn locate(
    explicit: Option<&Path>,
    from_env: Option<&Path>,
    cwd: &Path,
) -> Result<PathBuf, ManifestError> {
    if let Some(path) = explicit.or(from_env) {
        return Ok(cwd.join(path));
    }
    cwd.ancestors()
        .map(|dir| dir.join(MANIFEST_FILE))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ManifestError::NotFound {
            start: cwd.to_path_buf(),
        })
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let bytes = crate::text_file::read(path, crate::text_file::MAX_MANIFEST_BYTES).map_err(
            |source| ManifestError::Read {
                path: path.to_path_buf(),
                source,
            },
        )?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        match String::from_utf8(bytes) {
            Ok(text) => Manifest::parse(&text, &path),
            Err(e) => Err(invalid_utf8(&path, e)),
        }
    }

    /// Parses and validates manifest text; `path` is used for messages and relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
        let invalid = |mut problems: Vec<Problem>| {
            // In file order; a problem of the whole file (no place) last.
            problems.sort_by_key(|p| p.span.as_ref().map_or(usize::MAX, |s| s.start));
            ManifestError::Invalid {
                path: path.to_path_buf(),
                text: text.to_owned(),
                problems,
            }
        };
        let salvaged = salvage::deserialize(text);
        let mut problems = salvaged.problems;
        let Some(raw) = salvaged.raw else {
            return Err(invalid(problems));
        };
        let project_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut validator = Validator::default();
        let manifest = validator.build(raw, path, &project_dir);
        problems.append(&mut validator.problems);
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(invalid(problems))
        }
    }
}

/// Invalid UTF-8, pointed at like any other problem: the valid text before it is unchanged in
/// the lossy copy shown as the snippet, so its offset is the same there.
fn invalid_utf8(path: &Path, error: std::string::FromUtf8Error) -> ManifestError {
    let at = error.utf8_error().valid_up_to();
    let byte = error.as_bytes().get(at).copied().unwrap_or_default();
    let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
    ManifestError::Invalid {
        path: path.to_path_buf(),
        problems: vec![
            Problem::at(
                at..at + char::REPLACEMENT_CHARACTER.len_utf8(),
                format!("invalid UTF-8 (byte 0x{byte:02x})"),
            )
            .with_help("a manifest is UTF-8 text"),
        ],
        text,
    }
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

impl Validator {
    fn report(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn identifier(&mut self, what: &str, name: &Spanned<String>) {
        if let Some(why) = identifier_problem(name.get_ref()) {
            self.report(Problem::at(
                name.span(),
                format!("{what} `{}` {why}", name.get_ref()),
            ));
        }
    }

    fn build(&mut self, raw: RawManifest, path: &Path, project_dir: &Path) -> Manifest {
        let no_fleet = model::RawFleet::default();
        let fleet = raw
            .fleet
            .as_ref()
            .map_or(&no_fleet, |table| table.get_ref());
        match (&raw.fleet, &fleet.name) {
            (_, Some(name)) => self.identifier("fleet name", name),
            (Some(table), None) => self.report(
                Problem::at(table.span(), "[fleet] has no name")
                    .with_help("name the fleet: name = \"shop\""),
            ),
            (None, None) => self.report(
                Problem::at(0..0, "the manifest has no [fleet] table")
                    .with_help("start it with [fleet] and the fleet's name = \"…\""),
            ),
        }
        let fleet_name = fleet
            .name
            .as_ref()
            .map_or_else(String::new, |name| name.get_ref().clone());

        let environment_var = match &fleet.environment_var {
            Some(var) if !is_env_var_name(var.get_ref()) => {
                self.report(Problem::at(
                    var.span(),
                    format!("`{}` is not an environment variable name", var.get_ref()),
                ));
                var.get_ref().clone()
            }
            Some(var) => var.get_ref().clone(),
            None => DEFAULT_ENVIRONMENT_VAR.to_owned(),
        };

        let mut environments = BTreeMap::new();
        for (name, settings) in &raw.environments {
            self.identifier("environment name", name);
            self.connection_settings(settings);
            if let Some(testing) = &settings.testing
                && *testing.get_ref()
                && settings.local != Some(true)
            {
                self.report(
                    Problem::at(
                        testing.span(),
                        format!(
                            "environment `{}` is a testing environment but not local",
                            name.get_ref()
                        ),
                    )
                    .with_help("add `local = true`: testing clusters are local ones pgfleet runs"),
                );
            }
            environments.insert(name.get_ref().clone(), settings.clone());
        }
        if environments.is_empty() {
            // The smallest manifest still works on a laptop: development on local clusters.
            environments.insert(
                "development".to_owned(),
                ConnectionSettings {
                    local: Some(true),
                    ..ConnectionSettings::default()
                },
            );
        }

        let default_environment = match &fleet.default_environment {
            Some(name) => {
                if !environments.contains_key(name.get_ref()) {
                    self.report(
                        Problem::at(
                            name.span(),
                            format!("default_environment `{}` is not declared", name.get_ref()),
                        )
                        .with_help(format!(
                            "declared environments: {}",
                            join(environments.keys())
                        )),
                    );
                }
                name.get_ref().clone()
            }
            None if environments.contains_key("development") => "development".to_owned(),
            None => environments.keys().next().cloned().unwrap_or_default(),
        };
        let any_local = environments.values().any(|e| e.local == Some(true));
        let any_testing = environments
            .values()
            .any(|e| e.local == Some(true) && e.testing.as_ref().is_some_and(|t| *t.get_ref()));

        let mut servers = BTreeMap::new();
        let mut dev_ports: HashMap<u16, String> = HashMap::new();
        // In file order, so that a clash is reported at the later of the two.
        for (name, server) in in_file_order(&raw.servers) {
            self.identifier("server name", name);
            if let Some(database) = &server.database {
                self.identifier("database name", database);
                self.not_reserved_database(database.get_ref(), database.span());
            }
            match &server.dev_port {
                Some(port) => {
                    if *port.get_ref() == 0 {
                        self.report(Problem::at(port.span(), "dev_port must not be 0"));
                    } else if let Some(other) =
                        dev_ports.insert(*port.get_ref(), name.get_ref().clone())
                    {
                        self.report(Problem::at(
                            port.span(),
                            format!(
                                "dev_port {} of server `{}` is already the dev_port of server `{other}`",
                                port.get_ref(),
                                name.get_ref()
                            ),
                        ));
                    }
                }
                None if any_local => self.report(
                    Problem::at(
                        name.span(),
                        format!(
                            "server `{}` has no dev_port, but a local environment needs one",
                            name.get_ref()
                        ),
                    )
                    .with_help("add `dev_port = 5433` (any free port) to the server"),
                ),
                None => {}
            }
            for (env, settings) in &server.environments {
                if let Some(testing) = &settings.testing {
                    self.report(
                        Problem::at(
                            testing.span(),
                            format!(
                                "server `{}` sets `testing` for environment `{}`; it is a setting of the whole environment",
                                name.get_ref(),
                                env.get_ref()
                            ),
                        )
                        .with_help(format!(
                            "set `testing = true` under [environments.{}]",
                            env.get_ref()
                        )),
                    );
                }
                if !environments.contains_key(env.get_ref()) {
                    self.report(
                        Problem::at(
                            env.span(),
                            format!(
                                "server `{}` sets environment `{}`, which is not declared",
                                name.get_ref(),
                                env.get_ref()
                            ),
                        )
                        .with_help(format!(
                            "declared environments: {}",
                            join(environments.keys())
                        )),
                    );
                }
                self.connection_settings(settings);
            }
            let pooler = server
                .pooler
                .as_ref()
                .map(|pooler| self.pooler(name, server, pooler, &environments));
            let test_port = match (&server.test_port, &server.dev_port) {
                (Some(port), _) => Some(*port.get_ref()),
                (None, Some(dev_port)) => dev_port.get_ref().checked_add(TEST_PORT_OFFSET),
                (None, None) => None,
            };
            servers.insert(
                name.get_ref().clone(),
                Server {
                    name: name.get_ref().clone(),
                    dev_port: server.dev_port.as_ref().map(|p| *p.get_ref()),
                    test_port,
                    database: server.database.as_ref().map(|d| d.get_ref().clone()),
                    environments: server
                        .environments
                        .iter()
                        .map(|(k, v)| (k.get_ref().clone(), v.clone()))
                        .collect(),
                    pooler,
                },
            );
        }

        if any_testing {
            self.test_ports(&raw, &servers);
        }

        let mut services = BTreeMap::new();
        for (name, raw_service) in &raw.services {
            if let Some(service) = self.service(name, raw_service, &servers, project_dir) {
                services.insert(name.get_ref().clone(), service);
            }
        }
        self.cross_service_checks(&raw, &services);
        self.roles_apart_from_logins(&raw, &fleet_name, &services, &servers, &environments);
        self.derived_names(&raw, fleet, &services, any_local, any_testing);
        let backup = raw
            .backup
            .as_ref()
            .map(|backup| self.backup(backup, &environments, project_dir))
            .unwrap_or_default();

        Manifest {
            path: path.to_path_buf(),
            project_dir: project_dir.to_path_buf(),
            fleet: Fleet {
                dotenv: project_dir.join(fleet.dotenv.as_deref().unwrap_or(".env")),
                manage_roles: fleet.manage_roles.unwrap_or(true),
                name: fleet_name,
                environment_var,
                default_environment,
            },
            environments,
            servers,
            services,
            backup,
        }
    }

    /// Names pgfleet derives from the manifest's are identifiers too: a name PostgreSQL would
    /// truncate silently (63 bytes) is refused where the name it comes from is written.
    fn derived_names(
        &mut self,
        raw: &RawManifest,
        fleet: &model::RawFleet,
        services: &BTreeMap<String, Service>,
        any_local: bool,
        any_testing: bool,
    ) {
        if any_testing && let Some(name) = &fleet.name {
            let runner = format!("{}_test_runner", name.get_ref());
            if let Some(why) = identifier_problem(&runner) {
                self.report(
                    Problem::at(
                        name.span(),
                        format!("the testing environment's login `{runner}` {why}"),
                    )
                    .with_help("shorten the fleet's name"),
                );
            }
        }
        if !any_local {
            return;
        }
        for (name, raw_service) in &raw.services {
            let Some(service) = services.get(name.get_ref()) else {
                continue;
            };
            // A bad database name is reported once, where it is; only the length is new here.
            if identifier_problem(service.placement.database()).is_some() {
                continue;
            }
            let template = format!("{}_template", service.placement.database());
            if let Some(why) = identifier_problem(&template) {
                let span = raw_service
                    .database
                    .as_ref()
                    .map_or_else(|| name.span(), |d| d.span());
                self.report(
                    Problem::at(
                        span,
                        format!("`pgfleet dev template`'s database `{template}` {why}"),
                    )
                    .with_help("shorten the database's name"),
                );
            }
        }
    }

    /// `[backup]`: bounds of its numbers, one storage per environment table, credentials and
    /// identities only from variables, and no plain-HTTP endpoint unless asked for.
    fn backup(
        &mut self,
        raw: &model::RawBackup,
        environments: &BTreeMap<String, ConnectionSettings>,
        project_dir: &Path,
    ) -> BackupSettings {
        let defaults = BackupSettings::default();
        let mut at_least_one = |value: &Option<Spanned<u32>>, key: &str, default: u32| match value {
            Some(v) if *v.get_ref() == 0 => {
                self.report(Problem::at(v.span(), format!("{key} must be at least 1")));
                default
            }
            Some(v) => *v.get_ref(),
            None => default,
        };
        let jobs_per_server = at_least_one(
            &raw.jobs_per_server,
            "jobs_per_server",
            defaults.jobs_per_server,
        );
        let dump_jobs = at_least_one(&raw.dump_jobs, "dump_jobs", defaults.dump_jobs);
        let zstd_level = match &raw.zstd_level {
            Some(level) if !(1..=19).contains(level.get_ref()) => {
                self.report(Problem::at(
                    level.span(),
                    format!("zstd_level {} is not a level of 1-19", level.get_ref()),
                ));
                defaults.zstd_level
            }
            Some(level) => *level.get_ref(),
            None => defaults.zstd_level,
        };
        let mut targets = BTreeMap::new();
        for (env, target) in &raw.environments {
            if !environments.contains_key(env.get_ref()) {
                self.report(
                    Problem::at(
                        env.span(),
                        format!(
                            "[backup] names environment `{}`, which is not declared",
                            env.get_ref()
                        ),
                    )
                    .with_help(format!(
                        "declared environments: {}",
                        join(environments.keys())
                    )),
                );
            }
            let storage = match (&target.path, &target.s3) {
                (Some(path), None) => BackupStorage::Local {
                    path: project_dir.join(path.get_ref()),
                },
                (None, Some(s3)) => {
                    self.s3_storage(s3);
                    BackupStorage::S3(Box::new(s3.get_ref().clone()))
                }
                (Some(path), Some(_)) => {
                    self.report(
                        Problem::at(
                            path.span(),
                            format!(
                                "backups of `{}` have both a path and an s3 bucket",
                                env.get_ref()
                            ),
                        )
                        .with_help("keep one: path = \"…\" or s3 = { bucket = \"…\" }"),
                    );
                    continue;
                }
                (None, None) => {
                    self.report(
                        Problem::at(
                            env.span(),
                            format!("backups of `{}` have no storage", env.get_ref()),
                        )
                        .with_help(
                            "add path = \"backups\" or s3 = { bucket = \"…\", prefix = \"…\" }",
                        ),
                    );
                    continue;
                }
            };
            if let Some(encryption) = &target.encryption {
                self.backup_encryption(encryption);
            }
            targets.insert(
                env.get_ref().clone(),
                BackupTarget {
                    storage,
                    encryption: target.encryption.as_ref().map(|e| e.get_ref().clone()),
                },
            );
        }
        BackupSettings {
            jobs_per_server,
            dump_jobs,
            zstd_level,
            verified_within: raw.verified_within.unwrap_or(defaults.verified_within),
            retention: raw.retention,
            environments: targets,
        }
    }

    fn s3_storage(&mut self, s3: &Spanned<S3Storage>) {
        let span = s3.span();
        let s3 = s3.get_ref();
        for (key, value) in [
            ("access_key_id", &s3.access_key_id),
            ("secret_access_key", &s3.secret_access_key),
            ("session_token", &s3.session_token),
        ] {
            if let Some(value) = value {
                self.only_from_variable(span.clone(), key, value);
            }
        }
        if let Some(Setting::Literal(endpoint)) = &s3.endpoint
            && endpoint.starts_with("http://")
            && !s3.allow_http
        {
            self.report(
                Problem::at(
                    span.clone(),
                    format!("the s3 endpoint `{endpoint}` is plain HTTP"),
                )
                .with_help("use https://, or set allow_http = true for a local test server"),
            );
        }
        if matches!(&s3.bucket, Setting::Literal(bucket) if bucket.is_empty()) {
            self.report(Problem::at(span, "the s3 bucket is empty"));
        }
    }

    fn backup_encryption(&mut self, encryption: &Spanned<BackupEncryption>) {
        let span = encryption.span();
        let encryption = encryption.get_ref();
        if encryption.recipients.is_empty() {
            self.report(
                Problem::at(span.clone(), "backup encryption has no recipients")
                    .with_help("add recipients = [\"age1…\"] (the public keys of `age-keygen`)"),
            );
        }
        for recipient in &encryption.recipients {
            if let Setting::Literal(key) = recipient
                && !key.starts_with("age1")
            {
                self.report(
                    Problem::at(
                        span.clone(),
                        format!("backup recipient `{key}` is not an age public key (age1…)"),
                    )
                    .with_help("a recipient is public; the secret key goes in `identity`"),
                );
            }
        }
        if let Some(identity) = &encryption.identity {
            self.only_from_variable(span, "identity", identity);
        }
    }

    /// A secret of the backup table: a variable without a default, never a literal.
    fn only_from_variable(&mut self, span: std::ops::Range<usize>, key: &str, value: &Setting) {
        match value {
            Setting::FromEnv { default: None, .. } => {}
            Setting::Literal(_) => self.report(
                Problem::at(span, format!("`{key}` must not be written in the manifest"))
                    .with_help(format!(
                        "name the variable that holds it: {key} = {{ env = \"…\" }}"
                    )),
            ),
            Setting::FromEnv { .. } => self.report(
                Problem::at(
                    span,
                    format!("`{key}` must not have a default in the manifest"),
                )
                .with_help("drop `default` and set the variable"),
            ),
        }
    }

    /// Each server's test port is its own: no other server's dev or test port (a testing
    /// cluster must never answer for a development one). Checked only when a testing
    /// environment exists, so that other manifests keep every port choice they had.
    fn test_ports(&mut self, raw: &RawManifest, servers: &BTreeMap<String, Server>) {
        let mut taken: HashMap<u16, String> = servers
            .values()
            .filter_map(|s| Some((s.dev_port?, format!("the dev_port of server `{}`", s.name))))
            .collect();
        for (name, server) in in_file_order(&raw.servers) {
            let (Some(resolved), Some(span)) = (
                servers.get(name.get_ref()),
                server
                    .test_port
                    .as_ref()
                    .or(server.dev_port.as_ref())
                    .map(|p| p.span()),
            ) else {
                continue;
            };
            let what = if server.test_port.is_some() {
                "test_port".to_owned()
            } else {
                format!("test_port (dev_port + {TEST_PORT_OFFSET})")
            };
            let Some(port) = resolved.test_port.filter(|p| *p > 0) else {
                self.report(
                    Problem::at(
                        span,
                        format!(
                            "server `{}` has no usable {what} for the testing environment",
                            name.get_ref()
                        ),
                    )
                    .with_help("set `test_port = …` (any free port) on the server"),
                );
                continue;
            };
            if let Some(other) = taken.get(&port) {
                self.report(
                    Problem::at(
                        span,
                        format!(
                            "{what} {port} of server `{}` is already {other}",
                            name.get_ref()
                        ),
                    )
                    .with_help("set `test_port = …` (any other free port) on the server"),
                );
            } else {
                taken.insert(
                    port,
                    format!("the test_port of server `{}`", name.get_ref()),
                );
            }
        }
    }

    /// An environment's (or a server's override of its) connection settings: what is known at
    /// load (literals and defaults) is checked here; values from variables by the resolver.
    fn connection_settings(&mut self, settings: &ConnectionSettings) {
        if let Some(password) = &settings.password {
            self.password_setting(password);
        }
        if let Some(user) = &settings.user
            && let Some(value) = known_value(user.get_ref())
            && let Some(why) = identifier_problem(value)
        {
            self.report(Problem::at(
                user.span(),
                format!("user `{}` {why}", value.escape_debug()),
            ));
        }
        if let Some(port) = &settings.port
            && let Some(value) = known_value(port.get_ref())
            && !value.parse::<u16>().is_ok_and(|port| port > 0)
        {
            self.report(Problem::at(
                port.span(),
                format!(
                    "port `{}` is not a port number (1-65535)",
                    value.escape_debug()
                ),
            ));
        }
        if let Some(host) = &settings.host
            && let Some(value) = known_value(host.get_ref())
            && let Some(why) = host_problem(value)
        {
            self.report(Problem::at(
                host.span(),
                format!("host `{}` {why}", value.escape_debug()),
            ));
        }
    }

    /// A server's pooler: each environment it names is declared and not local (`dev up` starts
    /// no PgBouncer), and its literal host and port are usable.
    fn pooler(
        &mut self,
        server_name: &Spanned<String>,
        server: &model::RawServer,
        pooler: &model::RawPooler,
        environments: &BTreeMap<String, ConnectionSettings>,
    ) -> Pooler {
        let server_name = server_name.get_ref();
        for (env, address) in &pooler.environments {
            let Some(base) = environments.get(env.get_ref()) else {
                self.report(
                    Problem::at(
                        env.span(),
                        format!(
                            "the pooler of server `{server_name}` names environment `{}`, which is not declared",
                            env.get_ref()
                        ),
                    )
                    .with_help(format!(
                        "declared environments: {}",
                        join(environments.keys())
                    )),
                );
                continue;
            };
            let local = server
                .environments
                .iter()
                .find(|(name, _)| name.get_ref() == env.get_ref())
                .and_then(|(_, own)| own.local)
                .or(base.local)
                == Some(true);
            if local {
                self.report(
                    Problem::at(
                        env.span(),
                        format!(
                            "the pooler of server `{server_name}` is set for `{}`, a local environment",
                            env.get_ref()
                        ),
                    )
                    .with_help(
                        "pgfleet dev up starts no PgBouncer: drop this table, or set the pooler for the environments where one runs",
                    ),
                );
            }
            self.connection_settings(&ConnectionSettings {
                host: Some(address.host.clone()),
                port: address.port.clone(),
                ..ConnectionSettings::default()
            });
        }
        Pooler {
            mode: pooler.mode,
            environments: pooler
                .environments
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.clone()))
                .collect(),
        }
    }

    /// A password is never in the manifest: neither as a literal nor as a variable's default.
    fn password_setting(&mut self, password: &Spanned<Setting>) {
        let help = r#"name the variable that holds it: password = { env = "APP_DB_PASSWORD" }"#;
        match password.get_ref() {
            Setting::Literal(_) => self.report(
                Problem::at(
                    password.span(),
                    "a password must not be written in the manifest",
                )
                .with_help(help),
            ),
            Setting::FromEnv {
                default: Some(_), ..
            } => self.report(
                Problem::at(
                    password.span(),
                    "a password must not have a default in the manifest",
                )
                .with_help(
                    "drop `default`: set the variable (or <VAR>_FILE); local environments generate a password when it is unset",
                ),
            ),
            Setting::FromEnv { default: None, .. } => {}
        }
    }

    fn not_reserved_database(&mut self, database: &str, span: std::ops::Range<usize>) {
        if RESERVED_DATABASES.contains(&database) {
            self.report(
                Problem::at(
                    span,
                    format!(
                        "database `{database}` is one of PostgreSQL's own ({})",
                        RESERVED_DATABASES.join(", ")
                    ),
                )
                .with_help("give the service a database of its own: database = \"…\""),
            );
        }
    }

    fn service(
        &mut self,
        name: &Spanned<String>,
        raw: &RawService,
        servers: &BTreeMap<String, Server>,
        project_dir: &Path,
    ) -> Option<Service> {
        self.identifier("service name", name);
        let service_name = name.get_ref();

        // Without a server (or below, a database) the service cannot be built, but the rest of
        // it is still checked so that every problem shows in one run.
        let server = match &raw.server {
            Some(server) if servers.contains_key(server.get_ref()) => {
                Some(server.get_ref().clone())
            }
            Some(server) => {
                self.report(
                    Problem::at(
                        server.span(),
                        format!(
                            "service `{service_name}` names server `{}`, which is not declared",
                            server.get_ref()
                        ),
                    )
                    .with_help(format!("declared servers: {}", join(servers.keys()))),
                );
                None
            }
            None if servers.len() == 1 => servers.keys().next().cloned(),
            None => {
                self.report(Problem::at(
                    name.span(),
                    format!(
                        "service `{service_name}` must name its server (server = \"…\"): the manifest declares {}",
                        if servers.is_empty() { "none".to_owned() } else { join(servers.keys()) }
                    ),
                ));
                None
            }
        };

        if let Some(database) = &raw.database {
            self.identifier("database name", database);
        }
        if let Some(schema) = &raw.schema {
            self.identifier("schema name", schema);
        }
        if let Some(schema) = &raw.schema
            && RESERVED_SCHEMAS.contains(&schema.get_ref().as_str())
        {
            self.report(Problem::at(
                schema.span(),
                match schema.get_ref().as_str() {
                    "pgfleet" => "schema `pgfleet` is pgfleet's own (migration history and audit log): a service cannot own it".to_owned(),
                    other => format!("schema `{other}` is PostgreSQL's own: a service cannot own it"),
                },
            ));
        }
        match &raw.database {
            Some(database) => self.not_reserved_database(database.get_ref(), database.span()),
            // The database defaults to the service's name.
            None if raw.schema.is_none() => self.not_reserved_database(service_name, name.span()),
            None => {}
        }
        let placement = match (&raw.database, &raw.schema) {
            (database, Some(schema)) => {
                let database = database.as_ref().map(|d| d.get_ref().clone()).or_else(|| {
                    servers
                        .get(server.as_deref()?)
                        .and_then(|s| s.database.clone())
                });
                match (database, &server) {
                    (Some(database), _) => Some(Placement::Schema {
                        database,
                        schema: schema.get_ref().clone(),
                    }),
                    (None, Some(server)) => {
                        self.report(
                            Problem::at(
                                schema.span(),
                                format!(
                                    "service `{service_name}` has a schema but no database to put it in"
                                ),
                            )
                            .with_help(format!(
                                "set `database` on the service or on server `{server}`"
                            )),
                        );
                        None
                    }
                    // Which server's database it would be is unknown: the server is the problem.
                    (None, None) => None,
                }
            }
            (Some(database), None) => Some(Placement::Database {
                database: database.get_ref().clone(),
            }),
            (None, None) => Some(Placement::Database {
                database: service_name.clone(),
            }),
        };

        if raw.pool.max_size == 0 {
            self.report(Problem::at(
                name.span(),
                format!("service `{service_name}`: pool.max_size must be at least 1"),
            ));
        }
        // With max_size 0 the (maybe default) min_idle is not a second problem.
        if raw.pool.max_size > 0 && raw.pool.min_idle > raw.pool.max_size {
            self.report(Problem::at(
                name.span(),
                format!(
                    "service `{service_name}`: pool.min_idle ({}) is larger than pool.max_size ({})",
                    raw.pool.min_idle, raw.pool.max_size
                ),
            ));
        }

        // These become the runtime role's settings, which PostgreSQL holds in milliseconds in
        // a 32-bit integer: a longer one would fail at `access apply`, so it fails here.
        let limit = std::time::Duration::from_millis(i32::MAX as u64);
        for (key, value) in [
            ("statement_timeout", Some(raw.pool.statement_timeout)),
            (
                "idle_in_transaction_session_timeout",
                Some(raw.pool.idle_in_transaction_session_timeout),
            ),
            ("lock_timeout", raw.pool.lock_timeout),
        ] {
            if let Some(value) = value
                && value > limit
            {
                self.report(
                    Problem::at(
                        name.span(),
                        format!(
                            "service `{service_name}`: pool.{key} ({}) is longer than PostgreSQL allows ({}ms)",
                            humantime::format_duration(value),
                            i32::MAX
                        ),
                    )
                    .with_help("use at most 24 days, or 0 for no limit"),
                );
            }
        }

        if let Some(var) = &raw.url_env
            && !is_env_var_name(var.get_ref())
        {
            self.report(Problem::at(
                var.span(),
                format!("`{}` is not an environment variable name", var.get_ref()),
            ));
        }
        let url_env = url_env(service_name, raw);

        let access = self.access(service_name, &raw.access, &raw.pool);
        let (Some(server), Some(placement)) = (server, placement) else {
            return None;
        };
        let service_dir = Path::new("services").join(service_name);
        Some(Service {
            name: service_name.clone(),
            server,
            placement,
            migrations: project_dir.join(
                raw.migrations
                    .clone()
                    .unwrap_or_else(|| service_dir.join("migrations")),
            ),
            layout: raw.layout,
            driver: raw.driver.unwrap_or_default(),
            seeds: project_dir.join(
                raw.seeds
                    .clone()
                    .unwrap_or_else(|| service_dir.join("seeds")),
            ),
            reads: raw.reads.iter().map(|r| r.get_ref().clone()).collect(),
            labels: raw.labels.clone(),
            pool: raw.pool.clone(),
            url_env,
            access,
        })
    }

    fn access(
        &mut self,
        service: &str,
        raw: &model::RawAccess,
        pool: &PoolSettings,
    ) -> ServiceAccess {
        let mut role = |field: &Option<Spanned<String>>, suffix: &str| match field {
            Some(name) => {
                self.identifier("role name", name);
                if RESERVED_ROLES.contains(&name.get_ref().as_str()) {
                    self.report(Problem::at(
                        name.span(),
                        format!(
                            "role `{}` is PostgreSQL's (its superuser or a reserved name), not a service role",
                            name.get_ref()
                        ),
                    ));
                }
                name.get_ref().clone()
            }
            None => format!("{service}_{suffix}"),
        };
        let owner_role = role(&raw.owner_role, "owner");
        let runtime_role = role(&raw.runtime_role, "app");
        let readonly_role = role(&raw.readonly_role, "ro");
        let migration_role = role(&raw.migration_role, "migrator");
        let password = match &raw.password {
            Some(setting) => {
                self.password_setting(setting);
                setting.get_ref().clone()
            }
            None => Setting::FromEnv {
                var: format!("{}_DB_PASSWORD", service.to_ascii_uppercase()),
                default: None,
            },
        };
        let mut rls = Vec::new();
        for policy in &raw.rls {
            self.identifier("table name", &policy.table);
            self.identifier("column name", &policy.column);
            let setting = match &policy.setting {
                Some(setting) => {
                    let valid = setting.get_ref().split_once('.').is_some_and(|(a, b)| {
                        identifier_problem(a).is_none() && identifier_problem(b).is_none()
                    });
                    if !valid {
                        self.report(Problem::at(
                            setting.span(),
                            format!(
                                "`{}` is not a custom setting name like app.current_user_id",
                                setting.get_ref()
                            ),
                        ));
                    }
                    setting.get_ref().clone()
                }
                None => "app.current_user_id".to_owned(),
            };
            let readers_see_all = match &policy.readers {
                None => false,
                Some(readers) if readers.get_ref() == "session" => false,
                Some(readers) if readers.get_ref() == "all" => true,
                Some(readers) => {
                    self.report(Problem::at(
                        readers.span(),
                        format!(
                            "readers = `{}`: expected \"session\" or \"all\"",
                            readers.get_ref()
                        ),
                    ));
                    false
                }
            };
            rls.push(RlsPolicy {
                table: policy.table.get_ref().clone(),
                column: policy.column.get_ref().clone(),
                setting,
                readers_see_all,
            });
        }
        if let Some(limit) = &raw.connection_limit
            && *limit.get_ref() < 0
        {
            self.report(Problem::at(
                limit.span(),
                format!(
                    "service `{service}`: connection_limit {} is negative (PostgreSQL would read -1 as no limit)",
                    limit.get_ref()
                ),
            ));
        }
        let append_only = raw
            .append_only
            .iter()
            .map(|table| {
                self.identifier("table name", table);
                table.get_ref().clone()
            })
            .collect();
        ServiceAccess {
            append_only,
            owner_role,
            runtime_role,
            readonly_role,
            migration_role,
            // Room for the pool plus a few sessions for operators.
            connection_limit: raw
                .connection_limit
                .as_ref()
                .map(|limit| *limit.get_ref())
                .unwrap_or_else(|| {
                    i32::try_from(pool.max_size)
                        .unwrap_or(i32::MAX)
                        .saturating_add(5)
                }),
            truncate: raw.truncate,
            password,
            rls,
        }
    }

    /// Checks that need every service: reads, and unique databases, schemas and URL variables.
    fn cross_service_checks(&mut self, raw: &RawManifest, services: &BTreeMap<String, Service>) {
        // (server, database) -> (owner service placed by database, or first schema user)
        let mut databases: HashMap<(&str, &str), (&str, bool)> = HashMap::new();
        let mut schemas: HashMap<(&str, &str, &str), &str> = HashMap::new();
        let mut roles: HashMap<&str, (&str, &str)> = HashMap::new();
        for (name, raw_service) in in_file_order(&raw.services) {
            let Some(service) = services.get(name.get_ref()) else {
                continue;
            };
            let here = raw_service
                .schema
                .as_ref()
                .or(raw_service.database.as_ref())
                .map_or_else(|| name.span(), |s| s.span());
            let database = service.placement.database();
            let owns_database = service.placement.schema().is_none();
            match databases.get(&(service.server.as_str(), database)) {
                // Refused already as PostgreSQL's own; sharing it is not a second problem.
                _ if RESERVED_DATABASES.contains(&database) => {}
                Some((other, other_owns)) if owns_database || *other_owns => {
                    self.report(Problem::at(
                        here.clone(),
                        format!(
                            "service `{}` uses database `{database}` on server `{}`, which service `{other}` {}",
                            service.name,
                            service.server,
                            if *other_owns { "already has as its own database" } else { "shares with other services by schema" }
                        ),
                    ).with_help("give each service its own database, or give each one a schema in the shared database"));
                }
                Some(_) => {}
                None => {
                    databases.insert(
                        (service.server.as_str(), database),
                        (service.name.as_str(), owns_database),
                    );
                }
            }
            if let Some(schema) = service.placement.schema()
                && let Some(other) = schemas.insert(
                    (service.server.as_str(), database, schema),
                    service.name.as_str(),
                )
            {
                self.report(Problem::at(
                        here.clone(),
                        format!(
                            "schema `{schema}` of database `{database}` is already the schema of service `{other}`"
                        ),
                    ));
            }
            for (kind, role, field) in service_roles(service, &raw_service.access) {
                let at = field.as_ref().map_or_else(|| name.span(), |f| f.span());
                match roles.get(role.as_str()) {
                    Some((other, other_kind)) if *other == service.name => {
                        self.report(Problem::at(
                            at,
                            format!(
                                "role `{role}` is both the {other_kind} and the {kind} role of service `{other}`"
                            ),
                        ).with_help("each of a service's roles has its own rights: give them different names"));
                    }
                    Some((other, other_kind)) => {
                        self.report(Problem::at(
                            at,
                            format!(
                                "the {kind} role `{role}` of service `{}` is already the {other_kind} role of service `{other}`",
                                service.name
                            ),
                        ));
                    }
                    None => {
                        roles.insert(role.as_str(), (service.name.as_str(), kind));
                    }
                }
            }
        }
        // URL variables and reads are checked for every service, also one that could not be
        // built.
        let mut url_vars: HashMap<String, &str> = HashMap::new();
        for (name, raw_service) in in_file_order(&raw.services) {
            let service = services.get(name.get_ref());
            let url_env = url_env(name.get_ref(), raw_service);
            if let Some(other) = url_vars.get(&url_env) {
                self.report(Problem::at(
                    raw_service
                        .url_env
                        .as_ref()
                        .map_or_else(|| name.span(), |v| v.span()),
                    format!(
                        "services `{other}` and `{}` both use {url_env} as their URL variable",
                        name.get_ref()
                    ),
                ));
            } else {
                url_vars.insert(url_env, name.get_ref());
            }
            for read in &raw_service.reads {
                if read.get_ref() == name.get_ref() {
                    self.report(Problem::at(
                        read.span(),
                        format!("service `{}` lists itself in reads", name.get_ref()),
                    ));
                } else if !raw.services.contains_key(read.get_ref().as_str()) {
                    self.report(
                        Problem::at(
                            read.span(),
                            format!(
                                "service `{}` reads `{}`, which is not a service of this fleet",
                                name.get_ref(),
                                read.get_ref()
                            ),
                        )
                        .with_help(format!(
                            "services: {}",
                            join(raw.services.keys().map(|k| k.get_ref()))
                        )),
                    );
                } else if let Some(service) = service
                    && let Some(other) = services.get(read.get_ref())
                    && other.server != service.server
                {
                    // Roles live in one cluster: a grant cannot reach across servers.
                    self.report(
                        Problem::at(
                            read.span(),
                            format!(
                                "service `{}` (server `{}`) reads `{}`, which is on server `{}`: a read can only be granted within one server",
                                name.get_ref(),
                                service.server,
                                read.get_ref(),
                                other.server
                            ),
                        )
                        .with_help("put both services on one server, or let the service ask the other through its API"),
                    );
                }
            }
        }
    }
}

impl Validator {
    /// pgfleet logs in as each environment's user to create and alter the service roles (and
    /// `SET ROLE`s to the owner for migrations): a service role that *is* that login would
    /// hand the service pgfleet's own rights, so no role may equal a login known at load.
    fn roles_apart_from_logins(
        &mut self,
        raw: &RawManifest,
        fleet_name: &str,
        services: &BTreeMap<String, Service>,
        servers: &BTreeMap<String, Server>,
        environments: &BTreeMap<String, ConnectionSettings>,
    ) {
        for (name, raw_service) in &raw.services {
            let Some(service) = services.get(name.get_ref()) else {
                continue;
            };
            let Some(server) = servers.get(&service.server) else {
                continue;
            };
            for (kind, role, field) in service_roles(service, &raw_service.access) {
                if RESERVED_ROLES.contains(&role.as_str()) {
                    // Already refused as PostgreSQL's own name; one problem is enough.
                    continue;
                }
                let clash = environments.iter().find(|(environment, base)| {
                    let settings = match server.environments.get(*environment) {
                        Some(own) => own.or(base),
                        None => (*base).clone(),
                    };
                    let login = match &settings.user {
                        Some(user) => known_value(user.get_ref()),
                        // A local cluster's login defaults to the fleet's name.
                        None if settings.local == Some(true) => Some(fleet_name),
                        None => None,
                    };
                    login == Some(role.as_str())
                });
                if let Some((environment, _)) = clash {
                    self.report(
                        Problem::at(
                            field.as_ref().map_or_else(|| name.span(), |f| f.span()),
                            format!(
                                "the {kind} role `{role}` of service `{}` is pgfleet's login in environment `{environment}`",
                                service.name
                            ),
                        )
                        .with_help("pgfleet logs in as the environment's user to manage the service's roles: give them different names"),
                    );
                }
            }
        }
    }
}

/// A service's four roles: what each is, its name, and where it is written (if it is).
fn service_roles<'a>(
    service: &'a Service,
    raw: &'a model::RawAccess,
) -> [(&'static str, &'a String, &'a Option<Spanned<String>>); 4] {
    let access = &service.access;
    [
        ("owner", &access.owner_role, &raw.owner_role),
        ("runtime", &access.runtime_role, &raw.runtime_role),
        ("read-only", &access.readonly_role, &raw.readonly_role),
        ("migration", &access.migration_role, &raw.migration_role),
    ]
}

/// The variable whose URL overrides everything else for a service.
fn url_env(service: &str, raw: &RawService) -> String {
    raw.url_env.as_ref().map_or_else(
        || format!("{}_DATABASE_URL", service.to_ascii_uppercase()),
        |var| var.get_ref().clone(),
    )
}

/// The entries of a table keyed by name, in the order the file declares them.
fn in_file_order<V>(table: &BTreeMap<Spanned<String>, V>) -> Vec<(&Spanned<String>, &V)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    entries
}

/// What a setting is known to be at load: its literal, or its variable's default.
fn known_value(setting: &Setting) -> Option<&str> {
    match setting {
        Setting::Literal(value) => Some(value),
        Setting::FromEnv { default, .. } => default.as_deref(),
    }
}

fn join<'a>(names: impl Iterator<Item = &'a String>) -> String {
    names.map(String::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
