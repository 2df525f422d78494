//! The `encharge-actions` command line.
//!
//! Only this file turns errors into messages and exit codes: 0 when all went
//! well, 1 when some of the work failed (a bad event, a request that could not
//! be planned), 2 for bad usage or a bad config.
#![forbid(unsafe_code)]

use encharge_runner::account::User;
use encharge_runner::commands;
use encharge_runner::commands::send::SendOptions;
use encharge_runner::delivery::retry::{Backoff, RetryPolicy};
use encharge_runner::serve::ServeOptions;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// The expression workbench: NDJSON requests in, one result line out per request (blank lines skipped).
    ///
    /// Each line is one of
    ///   {"trigger": FQL, "event": E}                          -> {"match": bool}
    ///   {"mapping": M, "event": E}                             -> {"output": V}
    ///   {"action": A, "mapping": M|null, "event": E, "settings": {"apiKey": K}}
    ///                                                          -> {"requests": [...]}
    /// An action's mapping is the whole mapping (null: the action's defaults);
    /// unlike a config file, it is not merged with the defaults.
    /// Any failure gives {"error": {"kind", "message"}} for that line alone. An
    /// "id" member is copied to the result.
    #[command(
        verbatim_doc_comment,
        after_help = "Example:\n  echo '{\"id\": 1, \"trigger\": \"type = \\\"track\\\"\", \"event\": {\"type\": \"track\"}}' \\\n    | encharge-actions eval"
    )]
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
        after_help = "Example:\n  encharge-actions test mappings/examples/tests/\n  encharge-actions test --config mappings/examples/tags-from-traits.yaml \\\n    --bless my-cases.yaml"
    )]
    Test {
        /// The config to test (default: each test file's `config:`).
        #[arg(short, long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Write the current output as the expectation of each failing case.
        #[arg(long)]
        bless: bool,
        /// Test files, or directories of them (default: tests/NAME.yaml beside --config NAME.yaml if it
        /// exists, else that tests/ directory).
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
    /// Plan events and deliver the requests to Encharge.
    ///
    /// Delivery is at-least-once: a request is retried on 408, 429, 5xx, dropped
    /// connections and timeouts (exponential backoff with jitter, Retry-After
    /// honoured) until it is accepted or --max-attempts / --retry-window run out.
    /// The requests of one user (userId, else anonymousId, else email) go out one
    /// at a time in input order; different users in parallel. What cannot be
    /// delivered (other 4xx, retries used up, Ctrl-C) goes to the dead-letter file;
    /// --replay sends it again. A 401/403 stops the run.
    ///
    /// Exit code: 0 all delivered, 1 something was not (dead letters, events that
    /// could not be planned, Ctrl-C), 2 bad usage, bad config or a rejected API key.
    #[command(
        after_help = "Example:\n  ENCHARGE_API_KEY=... encharge-actions send --config mappings/ events.ndjson\n  encharge-actions send --replay dead-letters.ndjson"
    )]
    Send(SendArgs),
    /// Run a Segment-compatible ingest server that queues events on disk and delivers them.
    ///
    /// Segment's client libraries (and anything that speaks Segment's tracking
    /// API) post to /v1/batch, /v1/track, /v1/identify, /v1/page, /v1/screen,
    /// /v1/group and /v1/alias, with a write key as the basic-auth user name
    /// (--write-key, or settings.write_keys in the config). An event is synced to
    /// the queue in --data-dir before the 200 goes out, then planned with the
    /// config and delivered as `send` does (retries, per-user order, dead letters
    /// in DATA_DIR/dead-letters.ndjson). The config is reloaded on SIGHUP or when
    /// its files change, write keys and API key included (a config that does not
    /// load is refused, the old one keeps running). GET /healthz, GET /metrics (Prometheus).
    /// SIGTERM stops accepting; what is not delivered stays queued for the next start.
    #[command(
        after_help = "Example:\n  ENCHARGE_API_KEY=... encharge-actions serve --config mappings/ \\\n    --listen 127.0.0.1:8088 --data-dir /var/lib/encharge-actions \\\n    --write-key WRITE_KEY"
    )]
    Serve(ServeArgs),
    /// Check the API key: GET /v1/accounts/info.
    CheckAuth(AccountArgs),
    /// Delete a user from Encharge (by userId or anonymousId).
    Delete {
        #[command(flatten)]
        account: AccountArgs,
        /// The user's userId.
        #[arg(
            long,
            value_name = "ID",
            conflicts_with = "anonymous_id",
            required_unless_present = "anonymous_id"
        )]
        user_id: Option<String>,
        /// The user's Segment anonymousId.
        #[arg(long, value_name = "ID")]
        anonymous_id: Option<String>,
    },
    /// List the account's custom object types (GET /v1/schemas), one per line.
    Objects(AccountArgs),
}

#[derive(Args)]
struct SendArgs {
    /// Config file or directory of *.yaml files (default: the embedded presets).
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Send the requests of this dead-letter file again (with the config's API key).
    #[arg(long, value_name = "DEADLETTER", conflicts_with = "files")]
    replay: Option<PathBuf>,
    /// Where undeliverable requests are appended [default: dead-letters.ndjson; with
    /// --replay F: F with "-replay" before the extension].
    #[arg(long, value_name = "PATH")]
    dead_letter: Option<PathBuf>,
    /// Requests in flight at most.
    #[arg(long, value_name = "N", default_value_t = 16)]
    concurrency: usize,
    #[command(flatten)]
    retry: RetryArgs,
    /// Timeout of one attempt (connecting to the last byte of the answer).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    timeout: Duration,
    /// Event files; `-` or none reads stdin.
    #[arg(value_name = "FILES")]
    files: Vec<PathBuf>,
}

/// How hard delivery tries a request; `send` and `serve` share them.
#[derive(Args)]
struct RetryArgs {
    /// Attempts per request, the first one included.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_attempts: u32,
    /// No retry starts later than this after a request's first attempt.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    retry_window: Duration,
    /// Wait before the first retry; it doubles after each (with jitter), up to 30s.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = duration)]
    backoff: Duration,
}

impl RetryArgs {
    fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.max(1),
            window: self.retry_window,
            backoff: Backoff {
                initial: self.backoff,
                ..Backoff::default()
            },
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Config file or directory of *.yaml files.
    #[arg(short, long, value_name = "PATH")]
    config: PathBuf,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8088")]
    listen: String,
    /// Directory of the durable queue and the dead-letter file (created if missing).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// A write key clients may use (repeat for several), besides the config's settings.write_keys.
    #[arg(
        long = "write-key",
        value_name = "KEY",
        env = "ENCHARGE_WRITE_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    write_keys: Vec<String>,
    /// Requests to Encharge in flight at most.
    #[arg(long, value_name = "N", default_value_t = 64)]
    concurrency: usize,
    #[command(flatten)]
    retry: RetryArgs,
    /// Timeout of one attempt to Encharge.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    timeout: Duration,
    /// Open client connections at most; more wait in the listen backlog [default: what the open-file
    /// limit leaves, raised to the hard limit at start, less 256 + 2 × --concurrency; at most 32768].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Time a new connection has to start its request, then to finish the headers, then the body; an idle
    /// keep-alive connection is closed after it too.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    read_timeout: Duration,
    /// How often to check the config files for changes (0s: reload on SIGHUP only).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    reload_interval: Duration,
    /// After SIGTERM, how long delivery may go on before the process exits (the rest stays queued).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    shutdown_grace: Duration,
    /// The queue's files on disk at most (e.g. 500MB, 10GiB). Beyond it, clients get 503 and retry
    /// later, while delivery catches up.
    #[arg(long, value_name = "SIZE", default_value = "10GiB", value_parser = size)]
    max_queue_bytes: u64,
    /// An event whose messageId was seen within this time is not delivered again (0s: off).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = duration)]
    dedupe_window: Duration,
    /// messageIds remembered for --dedupe-window at most (up to about 100 bytes of memory each);
    /// the oldest are forgotten first.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    dedupe_max_ids: usize,
    /// Keep delivered queue segments in DATA_DIR/queue/delivered/ (for audits and tests).
    #[arg(long)]
    keep_delivered: bool,
}

#[derive(Args)]
struct AccountArgs {
    /// Config file or directory (for settings.api_key and api_url; default: the embedded presets).
    #[arg(short, long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Timeout of one attempt.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    timeout: Duration,
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (e.g. 500ms, 30s, 5m)"))
}

/// A size in bytes: a number with an optional unit (B, KB, MB, GB, TB or KiB, MiB, GiB, TiB).
fn size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 500MB, 10GiB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown unit {other:?} (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)"
            ));
        }
    };
    number.checked_mul(factor).ok_or_else(|| format!("{s:?} is too large"))
}

/// The output of `validate`.
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
        Command::Send(args) => commands::send::run(&SendOptions {
            config: args.config,
            files: args.files,
            replay: args.replay,
            dead_letter: args.dead_letter,
            concurrency: args.concurrency,
            retry: args.retry.policy(),
            timeout: args.timeout,
            ..SendOptions::default()
        }),
        Command::Serve(a) => encharge_runner::serve::run(&ServeOptions {
            config: a.config,
            listen: a.listen,
            data_dir: a.data_dir,
            write_keys: a.write_keys,
            concurrency: a.concurrency,
            retry: a.retry.policy(),
            timeout: a.timeout,
            max_connections: a.max_connections,
            read_timeout: a.read_timeout,
            reload_interval: a.reload_interval,
            shutdown_grace: a.shutdown_grace,
            max_queue_bytes: a.max_queue_bytes,
            dedupe_window: a.dedupe_window,
            dedupe_max_ids: a.dedupe_max_ids,
            keep_delivered: a.keep_delivered,
        }),
        Command::CheckAuth(a) => commands::account::check_auth(a.config.as_deref(), a.timeout),
        Command::Delete {
            account,
            user_id,
            anonymous_id,
        } => {
            let user = match (user_id, anonymous_id) {
                (Some(id), _) => User::UserId(id),
                (None, Some(id)) => User::AnonymousId(id),
                (None, None) => return ExitCode::from(commands::USAGE),
            };
            commands::account::delete(account.config.as_deref(), account.timeout, &user)
        }
        Command::Objects(a) => commands::account::objects(a.config.as_deref(), a.timeout),
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
