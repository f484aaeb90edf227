//! `backup.json`: what a backup holds and how to prove it restores. Written once every file
//! of the backup is in the store (so its presence means "finished"), and rewritten only to
//! add a verification.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The catalog entry's file name, beside the backup's data.
pub const CATALOG_FILE: &str = "backup.json";
/// Bumped when a reader of an older pgfleet could misread an entry.
pub const CATALOG_FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub format: u32,
    /// The backup's id (`full_…` or `<service>_…`).
    pub id: String,
    pub kind: BackupKind,
    pub fleet: String,
    pub environment: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub pgfleet_version: String,
    /// `pg_dump --version` and the other tools that wrote it.
    pub tools: std::collections::BTreeMap<String, String>,
    /// e.g. `zstd-3`.
    pub compression: String,
    /// The number of age recipients when encrypted (never the keys).
    pub encrypted_for: Option<usize>,
    pub services: Vec<ServicePart>,
    /// The servers' roles (`pg_dumpall --roles-only --no-role-passwords`), in a full backup.
    #[serde(default)]
    pub roles: Vec<RolesPart>,
    #[serde(default)]
    pub verifications: Vec<Verification>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// Every service of the fleet and the servers' roles (`--all`).
    Full,
    /// The services named on the command line.
    Services,
}

/// One service's dump inside a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServicePart {
    pub service: String,
    pub server: String,
    pub database: String,
    /// The service's schema when it is placed by schema in a shared database.
    pub schema: Option<String>,
    /// `server_version` of the server it was dumped from.
    pub postgres_version: String,
    /// pgfleet's migration version of the service when the dump's snapshot was taken.
    pub migration_version: Option<String>,
    pub status: PartStatus,
    /// Rows per table, counted in the snapshot the dump was taken in.
    pub tables: Vec<TableRows>,
    /// Bytes as stored (compressed, encrypted).
    pub bytes: u64,
    /// Bytes pg_dump wrote before compression.
    pub raw_bytes: u64,
    pub duration_ms: u64,
    /// Every file of the part, relative to the backup's folder.
    pub files: Vec<FileEntry>,
    /// The database's extensions when it was dumped: a schema-placed part's dump holds none,
    /// so a restore into a clean database creates these first.
    #[serde(default)]
    pub extensions: Vec<Extension>,
}

/// An extension of a part's database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub name: String,
    pub version: String,
    pub schema: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PartStatus {
    Complete,
    /// The dump failed; its files are not in the store.
    Failed {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRows {
    pub schema: String,
    pub table: String,
    pub rows: u64,
}

/// A stored file and the SHA-256 of its stored bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// A server's roles (no passwords).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolesPart {
    pub server: String,
    pub status: PartStatus,
    pub file: Option<FileEntry>,
}

/// One `backup verify` of one service part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub service: String,
    pub at: Timestamp,
    pub ok: bool,
    /// Where it was restored to (server and scratch database).
    pub restored_on: String,
    pub duration_ms: u64,
    /// Each difference or failure found; empty when `ok`.
    pub problems: Vec<String>,
}

impl Catalog {
    /// Parts that restore: complete ones.
    pub fn usable_parts(&self) -> impl Iterator<Item = &ServicePart> {
        self.services
            .iter()
            .filter(|part| part.status == PartStatus::Complete)
    }

    /// The newest verification of `service`, if any.
    pub fn last_verification(&self, service: &str) -> Option<&Verification> {
        self.verifications
            .iter()
            .filter(|v| v.service == service)
            .max_by_key(|v| v.at)
    }
}
