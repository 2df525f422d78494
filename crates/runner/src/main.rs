//! The `encharge-actions` command line.
fn main() {}
