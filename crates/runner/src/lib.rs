//! The runner behind the `encharge-actions` command line: reading events and
//! configs, the dry run (`map`), the workbench (`eval`), and reporting.
#![forbid(unsafe_code)]

pub mod commands;
pub mod config;
pub mod input;
pub mod report;
pub mod yaml_out;
