//! The `encharge-actions` command line.
//!
//! Only this file turns errors into messages and exit codes: 0 when all went
//! well, 1 when some of the work failed (a bad event, a request that could not
//! be planned), 2 for bad usage or a bad config.
#![forbid(unsafe_code)]

use encharge_runner::account::User;
use encharge_runner::commands;
use encharge_runner::commands::send::SendOptions;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    /// Attempts per request, the first one included.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_attempts: u32,
    /// No retry starts later than this after a request's first attempt.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = duration)]
    retry_window: Duration,
    /// Wait before the first retry; it doubles after each (with jitter), up to 30s.
    #[arg(long, value_name = "DURATION", default_value = "200ms", value_parser = duration)]
    backoff: Duration,
    /// Timeout of one attempt (connecting to the last byte of the answer).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    timeout: Duration,
    /// Event files; `-` or none reads stdin.
    #[arg(value_name = "FILES")]
    files: Vec<PathBuf>,
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
            max_attempts: args.max_attempts,
            retry_window: args.retry_window,
            backoff: args.backoff,
            timeout: args.timeout,
            ..SendOptions::default()
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
    };
    ExitCode::from(code)
}
