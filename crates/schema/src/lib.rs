//! JSON Schemas of the encharge-actions config files.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
