//! pgfleet's integration tests: one binary (so one shared PostgreSQL cluster from the testkit),
//! one module per command group, helpers in `context`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod access;
mod adopt;
mod analyzer_matches_server;
mod backup;
mod backup_restore;
mod backup_s3;
mod cli_conventions;
mod context;
mod corpus;
mod dev;
mod dev_snapshot;
mod drivers;
mod env;
mod examples;
mod hardening_access;
mod hardening_config;
mod hardening_deadlines;
mod hardening_migrate;
mod hardening_run;
mod import_alembic;
mod layouts;
mod manifest;
mod manifest_fixtures;
mod migrate;
mod ownership;
mod pooler;
mod role_settings;
mod serve;
mod snapshots_cli;
mod testing_env;
mod tls;
