//! The `encharge-actions` command line.
//!
//! Only this file turns errors into messages and exit codes: 0 when all went
//! well, 1 when some of the work failed (a bad event, a request that could not
//! be planned), 2 for bad usage or a bad config.
#![forbid(unsafe_code)]

use encharge_runner::commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Send Segment-spec analytics events to Encharge, driven by YAML subscriptions.
///
/// Each subscription has a trigger (Segment's FQL), one of seven Encharge
/// actions, and a mapping (Segment's mapping-kit directives plus JMESPath).
/// Without --config, Segment's five presets are used.
#[derive(Parser)]
#[command(name = "encharge-actions", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Dry run: print the requests that events would produce, as NDJSON.
    ///
    /// Events are read from FILES (or stdin) as JSON, a JSON array or NDJSON.
    /// Each output line is one planned request, or one error naming the input
    /// line. Nothing is sent. Exit code 1 when any event could not be planned.
    #[command(
        after_help = "Example:\n  encharge-actions map tests/data/analytics-python.ndjson\n  cat events.ndjson | encharge-actions map --config mappings/ --explain"
    )]
    Map {
        /// Config file or directory of *.yaml files (default: the embedded presets).
        #[arg(short, long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Instead of requests, explain each event: which triggers matched, which
        /// condition failed and the value it saw, where each field came from.
        #[arg(long)]
        explain: bool,
        /// Event files; `-` or none reads stdin.
        #[arg(value_name = "FILES")]
        files: Vec<PathBuf>,
    },
    /// The expression workbench: NDJSON requests in, one result line out per line.
    ///
    /// Each line is one of
    ///   {"trigger": FQL, "event": E}                          -> {"match": bool}
    ///   {"mapping": M, "event": E}                             -> {"output": V}
    ///   {"action": A, "mapping": M|null, "event": E, "settings": {"apiKey": K}}
    ///                                                          -> {"requests": [...]}
    /// Any failure gives {"error": {"kind", "message"}} for that line alone. An
    /// "id" member is copied to the result.
    Eval {
        /// Files of NDJSON requests; `-` or none reads stdin.
        #[arg(value_name = "FILES")]
        files: Vec<PathBuf>,
    },
    /// Check configs: the JSON Schema and every check of loading, all problems reported.
    ///
    /// Each FILE_OR_DIR is one config (a file, or a directory of *.yaml files).
    /// Each problem is printed as `file:line:column: error|warning: message`, with
    /// the subscription and field, and on a terminal the line with a caret under
    /// the offending text. Exit code 0 when there is no error (warnings allowed),
    /// 2 otherwise.
    #[command(
        after_help = "Example:\n  encharge-actions validate mappings/\n  encharge-actions validate --format json config.yaml"
    )]
    Validate {
        /// `text` for people, `json` for tools.
        #[arg(long, value_enum, default_value = "text")]
        format: FormatArg,
        /// Config files or directories.
        #[arg(value_name = "FILE_OR_DIR", required = true)]
        paths: Vec<PathBuf>,
    },
    /// Golden-file tests of your mappings: events, and the requests they must produce.
    ///
    /// Each test file (YAML; schema: schemas/test-case.schema.json) names its
    /// config and holds cases: a name, an event, and `expect`, the requests
    /// (subscription, action, method, URL, body) or errors it must produce, in
    /// subscription order; `expect: []` means no request. A failure prints a
    /// diff. --bless writes the current output as the expectation of every
    /// failing case, and says which. Exit code 1 when a case fails.
    #[command(
        after_help = "Example:\n  encharge-actions test mappings/examples/tests/\n  encharge-actions test --config mappings/examples/tags-from-traits.yaml --bless my-cases.yaml"
    )]
    Test {
        /// The config to test (default: each test file's `config:`).
        #[arg(short, long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Write the current output as the expectation of each failing case.
        #[arg(long)]
        bless: bool,
        /// Test files, or directories of them (default: the tests/ directory beside --config).
        #[arg(value_name = "CASES")]
        cases: Vec<PathBuf>,
    },
    /// Write the JSON Schemas of config files and test files, for editors.
    ///
    /// destination.schema.json describes config files, test-case.schema.json the
    /// test files of `encharge-actions test`. Point YAML files at them with a
    /// `# yaml-language-server: $schema=...` first line.
    Schema {
        /// The directory to write them into.
        #[arg(long, value_name = "DIR", default_value = "schemas")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Map { config, explain, files } => commands::map::run(config.as_deref(), explain, &files),
        Command::Eval { files } => commands::eval::run(&files),
        Command::Schema { out } => commands::schema::run(&out),
        Command::Test { config, bless, cases } => commands::test::run(config.as_deref(), &cases, bless),
        Command::Validate { format, paths } => commands::validate::run(
            &paths,
            match format {
                FormatArg::Text => commands::validate::Format::Text,
                FormatArg::Json => commands::validate::Format::Json,
            },
        ),
    };
    ExitCode::from(code)
}
