//! `check-auth`, `delete` and `objects`: the account calls, from the command line.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use encharge_engine::actions::Settings;
use serde_json::Value;

use super::{FAILED, OK, USAGE};
use crate::account::{self, User};
use crate::delivery::client::{self, ClientOptions};
use crate::error::{Error, ErrorKind};
use crate::report::print_diagnostics;

/// Loads the settings, builds a client and a runtime, and runs `call`.
fn with_account<T>(
    config: Option<&Path>,
    timeout: Duration,
    call: impl AsyncFnOnce(&reqwest::Client, &Settings) -> Result<T, Error>,
) -> Result<T, u8> {
    crate::logging::init();
    let (loaded, files) = match crate::config::load_config(config, true) {
        Ok(l) => l,
        Err(problems) => {
            print_diagnostics(&problems, &[]);
            return Err(USAGE);
        }
    };
    print_diagnostics(&loaded.warnings, &files);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            FAILED
        })?;
    let client = client::build(&ClientOptions {
        timeout,
        ..ClientOptions::default()
    })
    .map_err(|e| {
        eprintln!("error: {e}");
        USAGE
    })?;
    runtime
        .block_on(call(&client, &loaded.destination.settings))
        .map_err(|e| {
            eprintln!("error: {e}");
            match e.kind() {
                ErrorKind::Config | ErrorKind::ApiKeyRejected { .. } => USAGE,
                _ => FAILED,
            }
        })
}

/// `check-auth`: 0 when Encharge accepts the API key, 2 when it rejects it, 1 when it cannot be asked.
pub fn check_auth(config: Option<&Path>, timeout: Duration) -> u8 {
    match with_account(config, timeout, async |client, settings| {
        account::check_auth(client, settings).await
    }) {
        Ok(info) => {
            let account = info.get("account").unwrap_or(&info);
            let name = account.get("name").and_then(Value::as_str);
            let mut out = std::io::stdout().lock();
            let _ = match name {
                Some(name) => writeln!(out, "The API key works: account {name:?}."),
                None => writeln!(out, "The API key works."),
            };
            OK
        }
        Err(code) => code,
    }
}

/// `delete`: deletes one user by userId or anonymousId.
pub fn delete(config: Option<&Path>, timeout: Duration, user: &User) -> u8 {
    match with_account(config, timeout, async |client, settings| {
        account::delete_user(client, settings, user).await
    }) {
        Ok(status) => {
            let (what, id) = match user {
                User::UserId(id) => ("userId", id),
                User::AnonymousId(id) => ("anonymousId", id),
            };
            let _ = writeln!(
                std::io::stdout().lock(),
                "Deleted the user with {what} {id:?} (HTTP {status})."
            );
            OK
        }
        Err(code) => code,
    }
}

/// `objects`: one object type name per line.
pub fn objects(config: Option<&Path>, timeout: Duration) -> u8 {
    match with_account(config, timeout, async |client, settings| {
        account::object_types(client, settings).await
    }) {
        Ok(types) => {
            let mut out = std::io::stdout().lock();
            for t in types {
                let _ = writeln!(out, "{t}");
            }
            OK
        }
        Err(code) => code,
    }
}
