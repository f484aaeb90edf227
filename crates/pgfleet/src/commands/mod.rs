//! One module per command group. Each returns `Result`; printing goes through `output`.

pub mod access;
pub mod backup;
pub mod confirm;
pub mod dev;
pub mod dev_template;
pub mod env;
pub mod generate;
pub mod migrate;
pub mod serve;
