//! `map`: the dry run. Events in, planned requests (or errors) out as NDJSON.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use encharge_engine::actions::PlannedRequest;
use encharge_engine::{Destination, Planned};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::{FAILED, OK, USAGE, count, open_sources};
use crate::input::{Record, read_records};
use crate::report::print_diagnostics;

/// Runs `map` and returns the exit code.
pub fn run(config: Option<&Path>, explain: bool, files: &[PathBuf]) -> u8 {
    let (loaded, config_files) = match crate::config::load_config_files(config, false) {
        (Ok(l), files) => (l, files),
        (Err(problems), files) => {
            print_diagnostics(&problems, &files);
            return USAGE;
        }
    };
    print_diagnostics(&loaded.warnings, &config_files);
    let sources = match open_sources(files) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return USAGE;
        }
    };
    let many = sources.len() > 1;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
    let mut totals = Totals::default();
    for source in sources {
        let file = many.then_some(source.name.as_str());
        let result = if explain {
            explain_events(&loaded.destination, source.reader, &mut out, file)
        } else {
            map_events(&loaded.destination, source.reader, &mut out, file)
        };
        match result {
            Ok(t) => totals.add(t),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return OK,
            Err(e) => {
                eprintln!("error: {}: {e}", source.name);
                return FAILED;
            }
        }
    }
    if out.flush().is_err() {
        return FAILED;
    }
    if totals.failures > 0 {
        let see = if explain { "" } else { " (see the \"error\" lines)" };
        eprintln!(
            "{} read, {} planned, {}{see}",
            count(totals.events, "event"),
            count(totals.requests, "request"),
            count(totals.failures, "failure"),
        );
        FAILED
    } else {
        OK
    }
}

/// What a run of `map` counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Events read (valid JSON).
    pub events: u64,
    /// Requests planned.
    pub requests: u64,
    /// Error lines written.
    pub failures: u64,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.events += other.events;
        self.requests += other.requests;
        self.failures += other.failures;
    }
}

#[derive(Serialize)]
struct OutLine<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request: Option<RequestOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorOut<'a>>,
}

#[derive(Serialize)]
struct RequestOut<'a> {
    method: &'a str,
    url: &'a str,
    headers: HeadersOut<'a>,
    /// The planned body's bytes, embedded as they are.
    body: &'a Option<Box<RawValue>>,
}

/// The headers as an object, the API key replaced by `***`, so output can be shared.
struct HeadersOut<'a>(&'a [(&'static str, String)]);

impl Serialize for HeadersOut<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| {
            let shown = if name.eq_ignore_ascii_case("x-encharge-token") && !value.is_empty() {
                "***"
            } else {
                value.as_str()
            };
            (name, shown)
        }))
    }
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    kind: &'a str,
    message: String,
}

fn request_out(r: &PlannedRequest) -> RequestOut<'_> {
    RequestOut {
        method: r.method,
        url: &r.url,
        headers: HeadersOut(&r.headers),
        body: &r.body,
    }
}

/// Plans every event of `reader` and writes one NDJSON line per request or error.
pub fn map_events(
    destination: &Destination,
    reader: impl BufRead,
    out: &mut impl Write,
    file: Option<&str>,
) -> std::io::Result<Totals> {
    let mut totals = Totals::default();
    let mut planned: Vec<Planned<'_>> = Vec::new();
    let mut io_error = None;
    read_records(reader, |record| {
        let result = map_record(destination, record, out, file, &mut planned, &mut totals);
        match result {
            Ok(()) => true,
            Err(e) => {
                io_error = Some(e);
                false
            }
        }
    })?;
    match io_error {
        Some(e) => Err(e),
        None => Ok(totals),
    }
}

fn map_record<'d>(
    destination: &'d Destination,
    record: Record,
    out: &mut impl Write,
    file: Option<&str>,
    planned: &mut Vec<Planned<'d>>,
    totals: &mut Totals,
) -> std::io::Result<()> {
    let blank = |line| OutLine {
        file,
        line,
        subscription: None,
        action: None,
        request: None,
        error: None,
    };
    let (line, event) = match record {
        Record::Value { line, value } => (line, value),
        Record::Error { line, message } => {
            totals.failures += 1;
            return write_line(
                out,
                &OutLine {
                    error: Some(ErrorOut { kind: "json", message }),
                    ..blank(line)
                },
            );
        }
    };
    totals.events += 1;
    planned.clear();
    if let Err(e) = destination.plan(&event, planned) {
        totals.failures += 1;
        return write_line(
            out,
            &OutLine {
                error: Some(ErrorOut {
                    kind: "event",
                    message: e.message,
                }),
                ..blank(line)
            },
        );
    }
    for p in planned.drain(..) {
        let named = OutLine {
            subscription: Some(&p.subscription.name),
            action: Some(p.subscription.action.name()),
            ..blank(line)
        };
        match &p.result {
            Ok(requests) => {
                for r in requests {
                    totals.requests += 1;
                    write_line(
                        out,
                        &OutLine {
                            request: Some(request_out(r)),
                            ..named_copy(&named)
                        },
                    )?;
                }
            }
            Err(e) => {
                totals.failures += 1;
                let kind = match e {
                    encharge_engine::PlanError::Mapping(_) => "mapping",
                    encharge_engine::PlanError::Validation(_) => "validation",
                };
                write_line(
                    out,
                    &OutLine {
                        error: Some(ErrorOut {
                            kind,
                            message: e.to_string(),
                        }),
                        ..named
                    },
                )?;
            }
        }
    }
    Ok(())
}

fn named_copy<'a>(l: &OutLine<'a>) -> OutLine<'a> {
    OutLine {
        file: l.file,
        line: l.line,
        subscription: l.subscription,
        action: l.action,
        request: None,
        error: None,
    }
}

fn write_line(out: &mut impl Write, line: &OutLine<'_>) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

/// `map --explain`: for each event, each subscription, whether it matched and why, and
/// where each field of the matching ones came from.
pub fn explain_events(
    destination: &Destination,
    reader: impl BufRead,
    out: &mut impl Write,
    file: Option<&str>,
) -> std::io::Result<Totals> {
    let mut totals = Totals::default();
    let mut io_error = None;
    read_records(reader, |record| {
        match explain_record(destination, record, out, file, &mut totals) {
            Ok(()) => true,
            Err(e) => {
                io_error = Some(e);
                false
            }
        }
    })?;
    match io_error {
        Some(e) => Err(e),
        None => Ok(totals),
    }
}

fn explain_record(
    destination: &Destination,
    record: Record,
    out: &mut impl Write,
    file: Option<&str>,
    totals: &mut Totals,
) -> std::io::Result<()> {
    let at = |line: u64| match file {
        Some(f) => format!("{f}, line {line}"),
        None => format!("line {line}"),
    };
    let (line, event) = match record {
        Record::Value { line, value } => (line, value),
        Record::Error { line, message } => {
            totals.failures += 1;
            return writeln!(out, "{}: {message}\n", at(line));
        }
    };
    totals.events += 1;
    if let Err(e) = encharge_engine::check_event(&event) {
        totals.failures += 1;
        return writeln!(out, "{}: {e}\n", at(line));
    }
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("?");
    let name = event
        .get("event")
        .and_then(Value::as_str)
        .map(|n| format!(" {n:?}"))
        .unwrap_or_default();
    writeln!(out, "{}: {kind}{name}", at(line))?;
    for sub in &destination.subscriptions {
        let off = if sub.enabled { "" } else { " (disabled)" };
        let matched = sub.trigger.matches(&event);
        let mark = if matched && sub.enabled { "✓" } else { "✗" };
        writeln!(
            out,
            "  {mark} {}{off} [{}]: trigger {}",
            sub.name,
            sub.action.name(),
            sub.trigger.source()
        )?;
        for c in sub.trigger.explain(&event) {
            let seen = c.seen.as_ref().map_or_else(|| "missing".to_owned(), |v| short(v, 60));
            let m = if c.matched { "true " } else { "false" };
            writeln!(out, "      {m}  {}   (saw {seen})", c.source)?;
        }
        if !(matched && sub.enabled) {
            continue;
        }
        for (field, source) in &sub.mapping_source {
            // Each field as compiled with the whole mapping: compiling a field's source on its
            // own would read a raw string at the root as mapping-kit does, spread into an object.
            let compiled = sub
                .mapping
                .fields()
                .and_then(|mut fields| fields.find(|(name, _)| name == field))
                .map(|(_, m)| m);
            let value = compiled.map(|m| m.eval(&event)).map_or_else(
                || "?".to_owned(),
                |r| match r {
                    Ok(Some(v)) => short(&v, 60),
                    Ok(None) => "(not set)".to_owned(),
                    Err(e) => format!("(fails: {})", e.message),
                },
            );
            writeln!(out, "      {field:<18} = {value:<40} from {}", short(source, 80))?;
        }
        match encharge_engine::run_action(sub.action, &sub.mapping, &event, &destination.settings) {
            Ok(requests) => {
                for r in requests {
                    totals.requests += 1;
                    writeln!(out, "      → {} {}", r.method, r.url)?;
                }
            }
            Err(e) => {
                totals.failures += 1;
                writeln!(out, "      → nothing sent: {e}")?;
            }
        }
    }
    writeln!(out)
}

/// A value as compact JSON, cut to `max` characters.
fn short(v: &Value, max: usize) -> String {
    let s = v.to_string();
    if s.chars().count() <= max {
        return s;
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use encharge_engine::config::{LoadOptions, load};

    fn explain(config: &str, events: &str) -> String {
        let files = vec![("c.yaml".to_owned(), config.to_owned())];
        let loaded = load(
            &files,
            &LoadOptions {
                env: &|_| None,
                require_api_key: false,
                require_write_keys: false,
            },
        )
        .unwrap();
        let mut out = Vec::new();
        explain_events(&loaded.destination, events.as_bytes(), &mut out, None).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn explain_shows_raw_fields_as_written() {
        let got = explain(
            "version: 1\nsubscriptions:\n  - name: Tag\n    trigger: 'type = \"identify\"'\n    action: addTag\n    \
             mapping:\n      tag: trial-user\n",
            "{\"type\": \"identify\", \"userId\": \"u1\"}\n",
        );
        assert!(got.contains("tag                = \"trial-user\""), "{got}");
        assert!(got.contains("userId             = \"u1\""), "{got}");
        assert!(got.contains("email              = (not set)"), "{got}");
    }
}
