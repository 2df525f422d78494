//! The runner behind the `encharge-actions` command line: reading events and
//! configs, the dry run (`map`), the workbench (`eval`), delivery to Encharge
//! (`send`, and the account calls), the ingest server (`serve`), and reporting.
#![forbid(unsafe_code)]

pub mod account;
pub mod commands;
pub mod config;
pub mod delivery;
mod error;
pub mod input;
pub mod logging;
pub mod report;
pub mod serve;

pub use account::fetch_object_types;
pub use error::{Error, ErrorKind};

/// The API key of loaded settings, for the one place that sends it.
pub fn api_key(settings: &encharge_engine::actions::Settings) -> &str {
    settings.api_key.expose()
}
pub mod yaml_out;
