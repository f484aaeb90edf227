//! Every metric name pgfleet emits, in one place: `pgfleet serve` writes the `pgfleet_*` ones,
//! `pgfleet observe`'s dashboard and alert rules query them, and the client crate registers the
//! `database_*` ones. A counter's name here has no `_total`: the encoders add it to the series.

/// `pgfleet serve`: the daemon itself.
pub mod serve {
    pub const BUILD_INFO: &str = "pgfleet_build_info";
    pub const SCRAPE_DURATION_SECONDS: &str = "pgfleet_scrape_duration_seconds";
    pub const SCRAPES: &str = "pgfleet_scrapes";
    pub const COLLECTOR_ERRORS: &str = "pgfleet_collector_errors";
    pub const COLLECTOR_REFRESHES: &str = "pgfleet_collector_refreshes";
    pub const COLLECTOR_SUCCESS: &str = "pgfleet_collector_success";
    pub const COLLECTOR_DURATION_SECONDS: &str = "pgfleet_collector_duration_seconds";
    pub const SERVICE_INFO: &str = "pgfleet_service_info";

    // probe
    pub const UP: &str = "pgfleet_up";
    pub const RESPONSE_TIME_SECONDS: &str = "pgfleet_response_time_seconds";

    // activity: server-wide
    pub const SERVER_MAX_CONNECTIONS: &str = "pgfleet_server_max_connections";
    pub const SERVER_CONNECTIONS: &str = "pgfleet_server_connections";
    pub const SERVER_IN_RECOVERY: &str = "pgfleet_server_in_recovery";
    pub const REPLICATION_LAG_SECONDS: &str = "pgfleet_replication_lag_seconds";
    // activity: per database
    pub const DATABASE_COMMITS: &str = "pgfleet_database_commits";
    pub const DATABASE_ROLLBACKS: &str = "pgfleet_database_rollbacks";
    pub const DATABASE_DEADLOCKS: &str = "pgfleet_database_deadlocks";
    pub const DATABASE_TEMP_BYTES: &str = "pgfleet_database_temp_bytes";
    pub const DATABASE_CACHE_HIT_RATIO: &str = "pgfleet_database_cache_hit_ratio";
    pub const DATABASE_BACKENDS: &str = "pgfleet_database_backends";
    // activity: per service
    pub const CONNECTIONS: &str = "pgfleet_connections";
    pub const CONNECTIONS_OPEN: &str = "pgfleet_connections_open";
    pub const POOL_MAX_CONNECTIONS: &str = "pgfleet_pool_max_connections";
    pub const POOL_UTILIZATION_RATIO: &str = "pgfleet_pool_utilization_ratio";
    pub const LOCK_WAITS: &str = "pgfleet_lock_waits";
    pub const OLDEST_TRANSACTION_SECONDS: &str = "pgfleet_oldest_transaction_seconds";
    pub const OLDEST_QUERY_SECONDS: &str = "pgfleet_oldest_query_seconds";

    // tables
    pub const SERVICE_CACHE_HIT_RATIO: &str = "pgfleet_service_cache_hit_ratio";

    // sizes
    pub const DATABASE_SIZE_BYTES: &str = "pgfleet_database_size_bytes";
    pub const SERVICE_SIZE_BYTES: &str = "pgfleet_service_size_bytes";

    // migrations
    pub const MIGRATION_VERSION: &str = "pgfleet_migration_version";
    pub const MIGRATIONS_PENDING: &str = "pgfleet_migrations_pending";
    pub const MIGRATION_DIRTY: &str = "pgfleet_migration_dirty";
    pub const MIGRATION_PROBLEMS: &str = "pgfleet_migration_problems";
    pub const MIGRATION_LAST_APPLIED_TIMESTAMP_SECONDS: &str =
        "pgfleet_migration_last_applied_timestamp_seconds";

    // drift
    pub const ACCESS_DRIFT: &str = "pgfleet_access_drift";

    // backups (the environment's backup store)
    pub const BACKUP_LAST_COMPLETE_AGE_SECONDS: &str = "pgfleet_backup_last_complete_age_seconds";
    pub const BACKUP_LAST_COMPLETE_BYTES: &str = "pgfleet_backup_last_complete_bytes";
    pub const BACKUP_LAST_VERIFIED_AGE_SECONDS: &str = "pgfleet_backup_last_verified_age_seconds";
    pub const BACKUP_LAST_VERIFY_SUCCESS: &str = "pgfleet_backup_last_verify_success";
    pub const BACKUP_VERIFIED_WITHIN_SECONDS: &str = "pgfleet_backup_verified_within_seconds";

    // statements
    pub const STATEMENTS_AVAILABLE: &str = "pgfleet_statements_available";
    pub const STATEMENTS_CALLS: &str = "pgfleet_statements_calls";
    pub const STATEMENTS_SECONDS: &str = "pgfleet_statements_seconds";
    pub const STATEMENTS_ROWS: &str = "pgfleet_statements_rows";
    pub const QUERY_DURATION_SECONDS: &str = "pgfleet_query_duration_seconds";
    pub const TOP_QUERY_SECONDS: &str = "pgfleet_top_query_seconds";
    pub const TOP_QUERY_CALLS: &str = "pgfleet_top_query_calls";
    pub const TOP_QUERY_MEAN_SECONDS: &str = "pgfleet_top_query_mean_seconds";
}

/// `pgfleet-client`: seed 002's metrics of a service's own pool, without its `{service}_`
/// prefix (a `service` label says whose they are).
pub mod client {
    pub const CONNECTIONS_ACQUIRED: &str = "database_connections_acquired";
    pub const CONNECTIONS_RELEASED: &str = "database_connections_released";
    pub const CONNECTIONS_CREATED: &str = "database_connections_created";
    pub const CONNECTIONS_ACQUIRE_DURATION_SECONDS: &str =
        "database_connections_acquire_duration_seconds";
    pub const CONNECTIONS_ACQUIRE_TIMEOUTS: &str = "database_connections_acquire_timeouts";
    pub const QUERY_DURATION_SECONDS: &str = "database_query_duration_seconds";
    pub const TRANSACTION_DURATION_SECONDS: &str = "database_transaction_duration_seconds";
    pub const TRANSACTIONS: &str = "database_transactions";
    pub const ERRORS: &str = "database_errors";
    pub const CONNECTIONS_ACTIVE: &str = "database_connections_active";
    pub const CONNECTIONS_IDLE: &str = "database_connections_idle";
    pub const CONNECTIONS_TOTAL: &str = "database_connections_total";
    pub const CONNECTIONS_WAITING: &str = "database_connections_waiting";
    pub const CONNECTIONS_MAX: &str = "database_connections_max";
}
