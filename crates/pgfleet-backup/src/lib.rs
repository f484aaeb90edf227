//! Per-service logical backups of a fleet.
//!
//! A backup is a folder in a store (a local folder or an S3 bucket): one sub-folder per
//! service holding its `pg_dump` (directory format for a database-placed service, the
//! service's schema for a schema-placed one), every file zstd-compressed (and age-encrypted
//! where the environment says so), and `backup.json`, the catalog entry, written last. A
//! backup without its `backup.json` does not exist for any reader, so one that was killed
//! or failed is never listed as usable.
//!
//! Never depends on clap or the CLI, and never prints (progress is a callback of events).

mod catalog;
pub mod create;
pub mod crypt;
pub mod dump;
mod error;
mod id;
mod owner;
mod pipeline;
pub mod prune;
pub mod restore;
pub mod status;
mod store;
pub mod verify;

pub use catalog::{
    BackupKind, CATALOG_FILE, CATALOG_FORMAT, Catalog, Extension, FileEntry, PartStatus, RolesPart,
    ServicePart, TableRows, Verification,
};
pub use create::{CreateRequest, Event, Progress, Selection, create};
pub use dump::{DUMP_DIR, HISTORY_COLUMNS, HISTORY_FILE};
pub use error::BackupError;
pub use id::{BackupId, FULL};
pub use pipeline::{
    Opener, SealedFile, Sealer, hash_file, open_file, open_file_checked, seal_file,
};
pub use store::{Store, local::LocalStore, s3::S3Store};
