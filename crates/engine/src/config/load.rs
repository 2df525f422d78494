//! Loading config files into a [`Destination`]: shape checks, `${VAR}`
//! expansion, and compiling every subscription, with every problem reported.

use std::collections::HashMap;
use std::fmt;

use serde_json::{Map, Value};

use super::yaml::{self, NodePos, Pos, PosIndex};
use super::{SettingsConfig, SubscriptionConfig};
use crate::actions::{API_URL, Action, INGEST_URL, Secret, Settings};
use crate::mapping::Mapping;
use crate::plan::{Destination, Subscription};
use crate::suggest::did_you_mean;
use crate::trigger::Trigger;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The config cannot be used.
    Error,
    /// The config works, but probably not as meant.
    Warning,
}

/// What kind of problem a [`Diagnostic`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file is not valid YAML: `a: 'unclosed`.
    Yaml,
    /// A key the format does not have: `triger: type = "track"`.
    UnknownKey,
    /// A value of the wrong type, or a missing key: `enabled: maybe`.
    Shape,
    /// `version` other than 1: `version: 2`.
    Version,
    /// `${VAR}` names an environment variable that is not set (or, in a write key, one that is
    /// empty): `api_key: ${ENCHARGE_API_KEY}` without `ENCHARGE_API_KEY`.
    MissingEnv,
    /// The same setting in two files of a config directory.
    DuplicateSetting,
    /// Two subscriptions with one name.
    DuplicateName,
    /// `action: trackEvnt`.
    UnknownAction,
    /// The FQL trigger does not parse, or holds a trap: `trigger: type = "track" and event = "A" or event = "B"`.
    Trigger,
    /// A mapping field the action does not have: `mapping: { emial: … }`.
    UnknownField,
    /// A required field with neither a mapping nor a default.
    RequiredField,
    /// The mapping is invalid: `{"@pth": "$.x"}`.
    Mapping,
    /// Nothing to load: a directory without `*.yaml` files, or a file without subscriptions.
    Empty,
}

/// One problem in a config file, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What kind of problem.
    pub kind: ErrorKind,
    /// The file name as given to [`load`].
    pub file: String,
    /// Where in the file.
    pub pos: Pos,
    /// How many characters from `pos` the problem spans (at least 1).
    pub len: usize,
    /// The subscription, by name, when the problem is inside one.
    pub subscription: Option<String>,
    /// The field path inside the subscription or file, e.g. `mapping.email` or `settings.api_key`.
    pub field: Option<String>,
    /// What is wrong, in words a user understands.
    pub message: String,
    /// How to fix it, when we know.
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {severity}: ", self.file, self.pos.line, self.pos.column)?;
        if let Some(name) = &self.subscription {
            write!(f, "subscription {name:?}, ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field {field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// What [`load`] needs from the outside world.
pub struct LoadOptions<'a> {
    /// Looks up an environment variable for `${VAR}`.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether an unset `${VAR}` in `api_key` (or no `api_key` at all) is an error.
    /// A dry run (`map`, `test`) does not need the key; `send` and `serve` do.
    pub require_api_key: bool,
    /// Whether an unset `${VAR}` in `write_keys`, or one that expands to nothing, is an error.
    /// Only `serve` takes write keys; the other commands ignore them.
    pub require_write_keys: bool,
}

/// A loaded config: the destination and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The compiled destination.
    pub destination: Destination,
    /// Problems that do not stop the config from working.
    pub warnings: Vec<Diagnostic>,
}

const ROOT_KEYS: &[&str] = &["version", "settings", "subscriptions"];
const SETTINGS_KEYS: &[&str] = &["api_key", "ingest_url", "api_url", WRITE_KEYS];
const WRITE_KEYS: &str = "write_keys";
const SUBSCRIPTION_KEYS: &[&str] = &["name", "trigger", "action", "enabled", "use_defaults", "mapping"];

/// Loads and compiles config files, given as `(file name, text)`.
///
/// On failure, every problem found in every file is returned, errors first.
pub fn load(files: &[(String, String)], options: &LoadOptions<'_>) -> Result<Loaded, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let mut settings = SettingsAcc::default();
    let mut subscriptions = Vec::new();
    let mut names: HashMap<String, (String, Pos)> = HashMap::new();
    for (file, text) in files {
        let mut ctx = FileCtx {
            file,
            text,
            index: PosIndex::default(),
            root: Value::Null,
            problems: &mut problems,
            suggested: Vec::new(),
        };
        let Some(config) = ctx.read() else { continue };
        settings.take(&mut ctx, config.settings, options);
        for (i, sub) in config.subscriptions {
            let pos = ctx.index.find(&format!("/subscriptions/{i}/name")).value;
            if let Some((first_file, first_pos)) = names.get(&sub.name) {
                let message = format!(
                    "the name {:?} is already used at {first_file}:{}:{}",
                    sub.name, first_pos.line, first_pos.column
                );
                ctx.error(
                    ErrorKind::DuplicateName,
                    &format!("/subscriptions/{i}/name"),
                    Some(&sub.name),
                    "name",
                    message,
                    Some("give each subscription its own name".to_owned()),
                );
                // Its other problems are still worth knowing.
                let _ = compile_subscription(&mut ctx, i, sub);
                continue;
            }
            names.insert(sub.name.clone(), (file.clone(), pos));
            if let Some(s) = compile_subscription(&mut ctx, i, sub) {
                subscriptions.push(s);
            }
        }
    }
    if files.is_empty() {
        problems.push(Diagnostic {
            severity: Severity::Error,
            kind: ErrorKind::Empty,
            file: String::new(),
            pos: Pos { line: 1, column: 1 },
            len: 1,
            subscription: None,
            field: None,
            message: "no config files to load".to_owned(),
            help: Some("a config is a .yaml file or a directory of them".to_owned()),
        });
    }
    let settings = settings.finish(options, &mut problems);
    // A problem of the config as a whole is shown at the top of its first file.
    if let Some((first, _)) = files.first() {
        for p in problems.iter_mut().filter(|p| p.file.is_empty()) {
            p.file.clone_from(first);
        }
    }
    problems.sort_by(|a, b| (a.severity, &a.file, a.pos).cmp(&(b.severity, &b.file, b.pos)));
    if problems.iter().any(|p| p.severity == Severity::Error) {
        return Err(problems);
    }
    Ok(Loaded {
        destination: Destination {
            settings,
            subscriptions,
        },
        warnings: problems,
    })
}

/// What one file holds, each subscription with its index in the file.
struct File {
    settings: SettingsConfig,
    subscriptions: Vec<(usize, SubscriptionConfig)>,
}

/// The state of reading one file.
struct FileCtx<'a> {
    file: &'a str,
    text: &'a str,
    index: PosIndex,
    /// The document as read, for the text of a scalar that a problem points into.
    root: Value,
    problems: &'a mut Vec<Diagnostic>,
    /// `(pointer of the object, key suggested)` for each unknown key reported, so that the
    /// missing key the typo stands for is not reported a second time.
    suggested: Vec<(String, &'static str)>,
}

impl FileCtx<'_> {
    fn read(&mut self) -> Option<File> {
        let (mut value, index) = match yaml::parse(self.text) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.push(Severity::Error, ErrorKind::Yaml, e.pos, 1, None, None, e.message, None);
                return None;
            }
        };
        self.index = index;
        if value.is_null() {
            self.error(
                ErrorKind::Empty,
                "",
                None,
                "",
                "the file is empty".to_owned(),
                Some("start with `version: 1` and a list of `subscriptions`".to_owned()),
            );
            return None;
        }
        if !value.is_object() {
            // serde would read a list as the struct's fields in order ("field 0: expected u32").
            self.error(
                ErrorKind::Shape,
                "",
                None,
                "",
                format!(
                    "a config file is a mapping of `version`, `settings` and `subscriptions`, not {}",
                    kind_of(&value)
                ),
                Some("start with `version: 1` and a list of `subscriptions`".to_owned()),
            );
            return None;
        }
        self.strip_unknown_keys(&mut value);
        self.root = value;
        // Each part is read on its own, so that a mistake in one subscription does not
        // hide the problems of the others.
        let version: u32 = match self.root.get("version") {
            Some(_) => self.typed("/version")?,
            None => {
                self.error(
                    ErrorKind::Shape,
                    "",
                    None,
                    "",
                    "missing field `version`".to_owned(),
                    Some("start the file with `version: 1`".to_owned()),
                );
                return None;
            }
        };
        if version != 1 {
            self.error(
                ErrorKind::Version,
                "/version",
                None,
                "version",
                format!("version {version} is not known"),
                Some("this release reads `version: 1`".to_owned()),
            );
            return None;
        }
        let settings = match self.root.get("settings") {
            Some(_) => self.typed("/settings"),
            None => Some(SettingsConfig::default()),
        };
        let subscriptions = match self.root.get("subscriptions") {
            Some(Value::Array(subs)) => (0..subs.len())
                .filter_map(|i| Some((i, self.typed(&format!("/subscriptions/{i}"))?)))
                .collect(),
            Some(_) => {
                // Not a list: reported as such.
                let _: Option<Vec<SubscriptionConfig>> = self.typed("/subscriptions");
                Vec::new()
            }
            None => Vec::new(),
        };
        Some(File {
            settings: settings.unwrap_or_default(),
            subscriptions,
        })
    }

    /// Reads the part of the document at `base` as a `T`, or reports where it does not fit.
    fn typed<T: serde::de::DeserializeOwned>(&mut self, base: &str) -> Option<T> {
        let e = match serde_path_to_error::deserialize(self.root.pointer(base)?) {
            Ok(t) => return Some(t),
            Err(e) => e,
        };
        let pointer = format!("{base}{}", to_pointer(e.path()));
        let message = plain_words(&e.inner().to_string());
        // `triger:` was reported with "did you mean `trigger`?"; "missing field `trigger`"
        // would only say it again.
        if self.suggested.iter().any(|(object, key)| {
            *object == pointer && message.strip_prefix("missing field ") == Some(&format!("`{key}`"))
        }) {
            return None;
        }
        let subscription = subscription_name(&self.root, &pointer);
        let field = field_of(&pointer);
        // `enabled: yes` is text in YAML 1.2.
        let help = message
            .ends_with("expected a boolean")
            .then(|| "write `true` or `false`".to_owned());
        self.error(
            ErrorKind::Shape,
            &pointer,
            subscription.as_deref(),
            &field,
            message,
            help,
        );
        None
    }

    /// Reports every key the format does not have, with the nearest valid one, and removes
    /// it so that the type check that follows can report the rest.
    fn strip_unknown_keys(&mut self, root: &mut Value) {
        self.strip(root, "", ROOT_KEYS, None);
        if let Some(settings) = root.get_mut("settings") {
            self.strip(settings, "/settings", SETTINGS_KEYS, None);
        }
        if let Some(Value::Array(subs)) = root.get_mut("subscriptions") {
            for (i, sub) in subs.iter_mut().enumerate() {
                let name = sub.get("name").and_then(Value::as_str).map(str::to_owned);
                self.strip(sub, &format!("/subscriptions/{i}"), SUBSCRIPTION_KEYS, name.as_deref());
            }
        }
    }

    fn strip(&mut self, value: &mut Value, pointer: &str, known: &[&'static str], subscription: Option<&str>) {
        let Value::Object(map) = value else { return };
        let unknown: Vec<String> = map.keys().filter(|k| !known.contains(&k.as_str())).cloned().collect();
        for key in unknown {
            map.remove(&key);
            let suggestion = did_you_mean(&key, known.iter().copied());
            if let Some(k) = suggestion {
                self.suggested.push((pointer.to_owned(), k));
            }
            let help = suggestion
                .map(|k| format!("did you mean `{k}`?"))
                .or_else(|| Some(format!("known keys here: {}", known.join(", "))));
            let at = format!("{pointer}/{key}");
            let pos = self.index.find(&at);
            self.push(
                Severity::Error,
                ErrorKind::UnknownKey,
                pos.key.unwrap_or(pos.value),
                if pos.key.is_some() {
                    pos.key_len
                } else {
                    key.chars().count()
                },
                subscription,
                None,
                format!("unknown key `{key}`"),
                help,
            );
        }
    }

    fn error(
        &mut self,
        kind: ErrorKind,
        pointer: &str,
        subscription: Option<&str>,
        field: &str,
        message: String,
        help: Option<String>,
    ) {
        self.at(Severity::Error, kind, pointer, subscription, field, message, help);
    }

    #[allow(clippy::too_many_arguments)]
    fn at(
        &mut self,
        severity: Severity,
        kind: ErrorKind,
        pointer: &str,
        subscription: Option<&str>,
        field: &str,
        message: String,
        help: Option<String>,
    ) {
        let NodePos { value, .. } = self.index.find(pointer);
        let field = (!field.is_empty()).then_some(field);
        let len = self.scalar_len(pointer, value);
        self.push(severity, kind, value, len, subscription, field, message, help);
    }

    /// How many characters the one-line string scalar at `pointer` spans in the file,
    /// quotes included, so that a caret can underline all of it; 1 when we cannot tell.
    fn scalar_len(&self, pointer: &str, at: Pos) -> usize {
        let Some(Value::String(s)) = self.root.pointer(pointer) else {
            return 1;
        };
        let Some(line) = self.text.lines().nth(at.line as usize - 1) else {
            return 1;
        };
        let rest: String = line.chars().skip(at.column as usize - 1).collect();
        let quoted = rest.starts_with('"') || rest.starts_with('\'');
        let inner = if quoted { &rest[1..] } else { rest.as_str() };
        if s.contains('\n') || !inner.starts_with(s.as_str()) {
            return 1;
        }
        s.chars().count() + 2 * usize::from(quoted)
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        severity: Severity,
        kind: ErrorKind,
        pos: Pos,
        len: usize,
        subscription: Option<&str>,
        field: Option<&str>,
        message: String,
        help: Option<String>,
    ) {
        self.problems.push(Diagnostic {
            severity,
            kind,
            file: self.file.to_owned(),
            pos,
            len: len.max(1),
            subscription: subscription.map(str::to_owned),
            field: field.map(str::to_owned),
            message,
            help,
        });
    }

    /// The string at `pointer` in the file as read (before any merging).
    fn text_at(&self, pointer: &str) -> Option<String> {
        self.root.pointer(pointer).and_then(Value::as_str).map(str::to_owned)
    }

    /// The position of byte `offset` of the string scalar at `pointer`, when the scalar is
    /// on one line; else the scalar's start. Quotes around the scalar are skipped.
    fn pos_in_scalar(&self, pointer: &str, scalar: &str, offset: usize) -> Pos {
        let start = self.index.find(pointer).value;
        let Some(line) = self.text.lines().nth(start.line as usize - 1) else {
            return start;
        };
        let rest: String = line.chars().skip(start.column as usize - 1).collect();
        let quoted = rest.starts_with('"') || rest.starts_with('\'');
        let inner = if quoted { &rest[1..] } else { rest.as_str() };
        let before = scalar.get(..offset).unwrap_or(scalar);
        // Only exact when the text between is written as is (no escapes, no folding).
        if before.contains('\n') || !inner.starts_with(before) {
            return start;
        }
        let column = start.column as usize + usize::from(quoted) + before.chars().count();
        Pos {
            line: start.line,
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }
}

/// serde's message for a value of the wrong type, without Rust's type names
/// ("expected u32", "expected struct SettingsConfig").
fn plain_words(message: &str) -> String {
    // "expected a map" first: the replacements below end in "a mapping".
    const WORDS: &[(&str, &str)] = &[
        ("expected a map", "expected a mapping"),
        ("expected u32", "expected a whole number"),
        ("expected struct ConfigFile", "expected a mapping"),
        ("expected struct SettingsConfig", "expected a mapping"),
        ("expected struct SubscriptionConfig", "expected a mapping"),
        ("expected a sequence", "expected a list"),
        ("invalid type: map,", "invalid type: a mapping,"),
        ("invalid type: sequence,", "invalid type: a list,"),
    ];
    WORDS
        .iter()
        .fold(message.to_owned(), |m, (rust, plain)| m.replace(rust, plain))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// `subscriptions[0].mapping` (serde_path_to_error) → `/subscriptions/0/mapping`.
fn to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        out.push('/');
        match seg {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } => out.push_str(key),
            Segment::Enum { variant } => out.push_str(variant),
            Segment::Unknown => {}
        }
    }
    out
}

/// The subscription a pointer is inside of, by name.
fn subscription_name(root: &Value, pointer: &str) -> Option<String> {
    let rest = pointer.strip_prefix("/subscriptions/")?;
    let i: usize = rest.split('/').next()?.parse().ok()?;
    root.get("subscriptions")?
        .get(i)?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

/// The field path for a pointer: inside a subscription, relative to it.
fn field_of(pointer: &str) -> String {
    let parts: Vec<&str> = pointer.split('/').skip(1).collect();
    let parts = match parts.as_slice() {
        ["subscriptions", _, rest @ ..] => rest,
        all => all,
    };
    parts.join(".")
}

/// Settings gathered over the files of a config directory.
#[derive(Default)]
struct SettingsAcc {
    api_key: Option<Result<String, String>>,
    ingest_url: Option<String>,
    api_url: Option<String>,
    write_keys: Vec<String>,
    seen: HashMap<&'static str, String>,
}

impl SettingsAcc {
    fn take(&mut self, ctx: &mut FileCtx<'_>, raw: super::SettingsConfig, options: &LoadOptions<'_>) {
        let fields = [
            ("api_key", raw.api_key),
            ("ingest_url", raw.ingest_url),
            ("api_url", raw.api_url),
        ];
        for (name, value) in fields {
            let Some(value) = value else { continue };
            if !self.first_time(ctx, name) {
                continue;
            }
            let pointer = format!("/settings/{name}");
            if bad_reference(ctx, &pointer, &format!("settings.{name}"), &value) {
                continue;
            }
            let expanded = expand_env(&value, options.env);
            match (name, expanded) {
                ("api_key", expanded) => {
                    if let (Err(var), true) = (&expanded, options.require_api_key) {
                        {
                            ctx.error(
                                ErrorKind::MissingEnv,
                                &pointer,
                                None,
                                "settings.api_key",
                                format!("the environment variable {var} is not set"),
                                Some(format!("export {var}=<your Encharge API key>")),
                            );
                        }
                    }
                    if let Ok(key) = &expanded {
                        check_api_key(ctx, &pointer, &value, key, options);
                    }
                    self.api_key = Some(expanded);
                }
                (_, Err(var)) => {
                    ctx.error(
                        ErrorKind::MissingEnv,
                        &pointer,
                        None,
                        &format!("settings.{name}"),
                        format!("the environment variable {var} is not set"),
                        None,
                    );
                }
                (_, Ok(url)) if !is_http_url(&url) => ctx.error(
                    ErrorKind::Shape,
                    &pointer,
                    None,
                    &format!("settings.{name}"),
                    format!("`{url}` is not an http:// or https:// URL"),
                    Some(format!(
                        "write a whole URL, like {}",
                        if name == "ingest_url" { INGEST_URL } else { API_URL }
                    )),
                ),
                ("ingest_url", Ok(url)) => self.ingest_url = Some(url),
                (_, Ok(url)) => self.api_url = Some(url),
            }
        }
        if let Some(keys) = raw.write_keys
            && self.first_time(ctx, WRITE_KEYS)
        {
            self.take_write_keys(ctx, &keys, options);
        }
    }

    /// Whether the setting `name` is met for the first time; reports it when a file before set it.
    fn first_time(&mut self, ctx: &mut FileCtx<'_>, name: &'static str) -> bool {
        if let Some(first) = self.seen.get(name) {
            ctx.error(
                ErrorKind::DuplicateSetting,
                &format!("/settings/{name}"),
                None,
                &format!("settings.{name}"),
                format!("`{name}` is already set in {first}"),
                Some("set each setting in one file only".to_owned()),
            );
            return false;
        }
        self.seen.insert(name, ctx.file.to_owned());
        true
    }

    fn take_write_keys(&mut self, ctx: &mut FileCtx<'_>, keys: &[String], options: &LoadOptions<'_>) {
        for (i, key) in keys.iter().enumerate() {
            let pointer = format!("/settings/{WRITE_KEYS}/{i}");
            let field = format!("settings.{WRITE_KEYS}.{i}");
            // An empty entry would let a client in with no key at all; it is a slip, whatever the command.
            if key.is_empty() {
                ctx.error(
                    ErrorKind::Shape,
                    &pointer,
                    None,
                    &field,
                    "a write key cannot be empty".to_owned(),
                    Some("write the key, or `${VAR}` to read it from the environment; or remove the entry".to_owned()),
                );
                continue;
            }
            if bad_reference(ctx, &pointer, &field, key) {
                continue;
            }
            match expand_env(key, options.env) {
                Ok(expanded) if !expanded.is_empty() => {
                    if !self.write_keys.contains(&expanded) {
                        self.write_keys.push(expanded);
                    }
                }
                Ok(_) if options.require_write_keys => ctx.error(
                    ErrorKind::MissingEnv,
                    &pointer,
                    None,
                    &field,
                    format!("the write key `{key}` expands to nothing (its environment variable is empty)"),
                    Some("set the variable to a write key of your Segment source".to_owned()),
                ),
                Err(var) if options.require_write_keys => ctx.error(
                    ErrorKind::MissingEnv,
                    &pointer,
                    None,
                    &field,
                    format!("the environment variable {var} is not set"),
                    Some(format!("export {var}=<a write key of your Segment source>")),
                ),
                // Only `serve` uses the write keys; `map` and `send` need not have them.
                Ok(_) | Err(_) => {}
            }
        }
    }

    fn finish(self, options: &LoadOptions<'_>, problems: &mut Vec<Diagnostic>) -> Settings {
        let key = match self.api_key {
            Some(Ok(key)) => key,
            _ => {
                // Not when the settings were unreadable: that error says it already.
                if options.require_api_key
                    && !self.seen.contains_key("api_key")
                    && !problems.iter().any(|p| {
                        p.kind == ErrorKind::Yaml || p.field.as_deref().is_some_and(|f| f.starts_with("settings"))
                    })
                {
                    problems.push(Diagnostic {
                        severity: Severity::Error,
                        kind: ErrorKind::MissingEnv,
                        file: String::new(),
                        pos: Pos { line: 1, column: 1 },
                        len: 1,
                        subscription: None,
                        field: Some("settings.api_key".to_owned()),
                        message: "no API key is configured".to_owned(),
                        help: Some(
                            "add `settings: { api_key: ${ENCHARGE_API_KEY} }` and export ENCHARGE_API_KEY".to_owned(),
                        ),
                    });
                }
                String::new()
            }
        };
        let mut settings = Settings::new(key);
        if let Some(url) = self.ingest_url {
            settings.ingest_url = url.trim_end_matches('/').to_owned();
        }
        if let Some(url) = self.api_url {
            settings.api_url = url.trim_end_matches('/').to_owned();
        }
        settings.write_keys = self.write_keys.into_iter().map(Secret::new).collect();
        settings
    }
}

/// `http://` or `https://`, a host, and nothing a URL cannot hold.
fn is_http_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    !host.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Reports an API key that cannot work: empty (when it is needed), or with
/// characters an HTTP header cannot carry (a line break from a pasted file).
fn check_api_key(ctx: &mut FileCtx<'_>, pointer: &str, written: &str, key: &str, options: &LoadOptions<'_>) {
    let from_env = written.contains("${");
    let (kind, message, help) = if key.is_empty() && options.require_api_key {
        if from_env {
            (
                ErrorKind::MissingEnv,
                format!("`{written}` expands to nothing (its environment variable is empty)"),
                "set the variable to your Encharge API key",
            )
        } else {
            (
                ErrorKind::Shape,
                "the API key is empty".to_owned(),
                "write `${ENCHARGE_API_KEY}` and export the variable",
            )
        }
    } else if key.chars().any(|c| c.is_control() && c != '\t') {
        (
            ErrorKind::Shape,
            "the API key has characters an HTTP header cannot carry (a line break?)".to_owned(),
            "remove line breaks and other control characters from the key",
        )
    } else {
        return;
    };
    ctx.error(kind, pointer, None, "settings.api_key", message, Some(help.to_owned()));
}

/// Replaces each `${VAR}` with the variable's value, and `${VAR:-default}` with
/// the default when the variable is unset or empty; `Err(VAR)` names the first
/// variable that is not set. References are checked by [`bad_reference`] first.
fn expand_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start + 2..].find('}') else { break };
        let reference = &rest[start + 2..start + 2 + len];
        out.push_str(&rest[..start]);
        let value = match reference.split_once(":-") {
            Some((var, default)) => env(var).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned()),
            None => env(reference).ok_or_else(|| reference.to_owned())?,
        };
        out.push_str(&value);
        rest = &rest[start + 3 + len..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Reports a `${…}` that is not a variable reference (`${}`, `${my var}`, a `${`
/// never closed): it would otherwise be looked up under a name no one can set,
/// or kept as text.
fn bad_reference(ctx: &mut FileCtx<'_>, pointer: &str, field: &str, s: &str) -> bool {
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let (reference, ok) = match after.find('}') {
            Some(len) => {
                let name = after[..len].split_once(":-").map_or(&after[..len], |(var, _)| var);
                let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                (&rest[start..start + 3 + len], valid)
            }
            None => (&rest[start..], false),
        };
        if !ok {
            ctx.error(
                ErrorKind::Shape,
                pointer,
                None,
                field,
                format!("`{reference}` is not a variable reference"),
                Some(
                    "write `${NAME}` (letters, digits and `_`), or `${NAME:-default}` for a value to use when \
                     NAME is not set"
                        .to_owned(),
                ),
            );
            return true;
        }
        rest = &after[after.find('}').map_or(after.len(), |l| l + 1)..];
    }
    false
}

fn compile_subscription(ctx: &mut FileCtx<'_>, i: usize, sub: SubscriptionConfig) -> Option<Subscription> {
    let base = format!("/subscriptions/{i}");
    let name = sub.name.as_str();
    let before = ctx.problems.len();

    let action = Action::from_name(&sub.action);
    if action.is_none() {
        let help = did_you_mean(&sub.action, Action::ALL.iter().map(|a| a.name()))
            .map(|a| format!("did you mean `{a}`?"))
            .or_else(|| Some(format!("the actions are {}", Action::ALL.map(Action::name).join(", "))));
        ctx.error(
            ErrorKind::UnknownAction,
            &format!("{base}/action"),
            Some(name),
            "action",
            format!("unknown action `{}`", sub.action),
            help,
        );
    }

    let trigger_ptr = format!("{base}/trigger");
    let trigger = match Trigger::parse(&sub.trigger) {
        Ok(t) => {
            for w in t.warnings() {
                let pos = ctx.pos_in_scalar(&trigger_ptr, &sub.trigger, w.offset);
                ctx.push(
                    Severity::Warning,
                    ErrorKind::Trigger,
                    pos,
                    w.len,
                    Some(name),
                    Some("trigger"),
                    w.message.clone(),
                    None,
                );
            }
            Some(t)
        }
        Err(e) => {
            let pos = ctx.pos_in_scalar(&trigger_ptr, &sub.trigger, e.offset);
            ctx.push(
                Severity::Error,
                ErrorKind::Trigger,
                pos,
                e.len,
                Some(name),
                Some("trigger"),
                e.message.clone(),
                // The help is the expression rewritten; bare in parentheses it reads as part of the text.
                e.help.as_ref().map(|fix| format!("did you mean `{fix}`?")),
            );
            None
        }
    };

    let mapping = action.and_then(|action| compile_mapping(ctx, &base, name, action, &sub));
    if ctx.problems[before..].iter().any(|p| p.severity == Severity::Error) {
        return None;
    }
    let (action, trigger, (mapping, mapping_source)) = (action?, trigger?, mapping?);
    Some(Subscription {
        name: sub.name,
        file: ctx.file.to_owned(),
        pos: ctx.index.find(&format!("{base}/name")).value,
        enabled: sub.enabled,
        action,
        trigger,
        mapping,
        mapping_source,
    })
}

/// Merges the user's mapping over the action's defaults and compiles it.
fn compile_mapping(
    ctx: &mut FileCtx<'_>,
    base: &str,
    name: &str,
    action: Action,
    sub: &SubscriptionConfig,
) -> Option<(Mapping, Map<String, Value>)> {
    let fields = action.fields();
    let mut merged = match (sub.use_defaults, action.default_mapping()) {
        (true, Value::Object(defaults)) => defaults,
        _ => Map::new(),
    };
    let mut ok = true;
    for (key, value) in &sub.mapping {
        let pointer = format!("{base}/mapping/{key}");
        if !fields.iter().any(|f| f.name == key) {
            ok = false;
            let help = did_you_mean(key, fields.iter().map(|f| f.name))
                .map(|f| format!("did you mean `{f}`?"))
                .or_else(|| {
                    Some(format!(
                        "{} has the fields {}",
                        action.name(),
                        fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                    ))
                });
            let pos = ctx.index.find(&pointer);
            ctx.push(
                Severity::Error,
                ErrorKind::UnknownField,
                pos.key.unwrap_or(pos.value),
                if pos.key.is_some() {
                    pos.key_len
                } else {
                    key.chars().count()
                },
                Some(name),
                Some(&format!("mapping.{key}")),
                format!("{} has no field `{key}`", action.name()),
                help,
            );
            continue;
        }
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    let defaults = action.default_mapping();
    for field in fields.iter().filter(|f| f.required && !merged.contains_key(f.name)) {
        ok = false;
        let why = if sub.use_defaults {
            "its mapping is set to null"
        } else {
            "`use_defaults: false` and the mapping does not set it"
        };
        // The action's own default is the best example; `$.<field>` for fields without one.
        let example = defaults
            .get(field.name)
            .map_or_else(|| format!("{{\"@path\": \"$.{}\"}}", field.name), Value::to_string);
        let pointer = format!("{base}/mapping/{}", field.name);
        let pointer = if ctx.index.contains(&pointer) {
            pointer
        } else {
            format!("{base}/mapping")
        };
        ctx.error(
            ErrorKind::RequiredField,
            &pointer,
            Some(name),
            &format!("mapping.{}", field.name),
            format!("{} requires `{}`, but {why}", action.name(), field.name),
            Some(format!("map `{}`, e.g. {}: {example}", field.name, field.name)),
        );
    }
    // Compiled even when a field is wrong, so that every problem of the mapping is reported at once.
    let source = Value::Object(merged);
    match Mapping::compile(&source) {
        Ok(_) if !ok => None,
        Ok(mapping) => {
            for w in mapping.warnings() {
                report_mapping_problem(ctx, base, name, sub, w, Severity::Warning);
            }
            match source {
                Value::Object(merged) => Some((mapping, merged)),
                _ => None,
            }
        }
        Err(errors) => {
            for e in &errors {
                report_mapping_problem(ctx, base, name, sub, e, Severity::Error);
            }
            None
        }
    }
}

/// Reports a problem of the merged mapping where the user wrote it: at the field of their
/// mapping (at the character, for a JMESPath syntax error), or at `action` when the
/// problem is in the action's defaults.
fn report_mapping_problem(
    ctx: &mut FileCtx<'_>,
    base: &str,
    name: &str,
    sub: &SubscriptionConfig,
    e: &crate::mapping::MappingError,
    severity: Severity,
) {
    let field = format!("mapping{}", e.pointer.replace('/', "."));
    let top = e.pointer.split('/').nth(1).unwrap_or("");
    if !sub.mapping.contains_key(top) {
        ctx.at(
            severity,
            ErrorKind::Mapping,
            &format!("{base}/action"),
            Some(name),
            &field,
            e.message.clone(),
            e.help.clone(),
        );
        return;
    }
    let pointer = format!("{base}/mapping{}", e.pointer);
    let scalar = ctx.text_at(&pointer);
    let (pos, len) = match (e.offset, scalar) {
        (Some(offset), Some(scalar)) => (ctx.pos_in_scalar(&pointer, &scalar, offset), 1),
        _ => (ctx.index.find(&pointer).value, 1),
    };
    ctx.push(
        severity,
        ErrorKind::Mapping,
        pos,
        len,
        Some(name),
        Some(&field),
        e.message.clone(),
        e.help.clone(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "KEY").then(|| "secret-key".to_owned())
    }

    #[test]
    fn expands_environment_variables() {
        assert_eq!(expand_env("${KEY}", &env).unwrap(), "secret-key");
        assert_eq!(expand_env("a-${KEY}-b", &env).unwrap(), "a-secret-key-b");
        assert_eq!(expand_env("${NOPE}", &env), Err("NOPE".to_owned()));
        assert_eq!(expand_env("plain $ {x}", &env).unwrap(), "plain $ {x}");
        assert_eq!(expand_env("${NOPE:-fallback}", &env).unwrap(), "fallback");
        assert_eq!(expand_env("${KEY:-fallback}", &env).unwrap(), "secret-key");
    }

    fn problems(text: &str) -> Vec<Diagnostic> {
        let files = vec![("c.yaml".to_owned(), text.to_owned())];
        let options = LoadOptions {
            env: &env,
            require_api_key: false,
            require_write_keys: false,
        };
        match load(&files, &options) {
            Ok(loaded) => loaded.warnings,
            Err(problems) => problems,
        }
    }

    #[test]
    fn jmespath_errors_point_at_the_character() {
        let text = "version: 1\nsubscriptions:\n  - name: A\n    trigger: 'type = \"track\"'\n    action: addTag\n    \
                    mapping:\n      tag: x\n      email: { \"@jmespath\": \"traits.#email\" }\n";
        let p = problems(text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].kind, ErrorKind::Mapping);
        assert_eq!(p[0].field.as_deref(), Some("mapping.email.@jmespath"));
        // `      email: { "@jmespath": "` is 29 characters; the error is at `#` (offset 7).
        assert_eq!((p[0].pos.line, p[0].pos.column), (8, 30 + 7), "{}", p[0]);
    }

    #[test]
    fn carets_cover_the_offending_value() {
        let text = "version: 1\nsubscriptions:\n  - name: A\n    trigger: 'type = \"track\"'\n    action: trackEvnt\n";
        let p = problems(text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].pos.line, p[0].pos.column, p[0].len), (5, 13, "trackEvnt".len()));
        let quoted = text.replace("trackEvnt", "\"trackEvnt\"");
        assert_eq!(problems(&quoted)[0].len, "trackEvnt".len() + 2);
    }

    /// The diagnostics as printed.
    fn messages(text: &str) -> Vec<String> {
        problems(text).iter().map(ToString::to_string).collect()
    }

    const SUB: &str = "version: 1\nsubscriptions:\n  - name: S\n    trigger: 'type = \"identify\"'\n";

    #[test]
    fn a_misspelled_key_is_reported_once() {
        let got =
            messages("version: 1\nsubscriptions:\n  - name: S\n    triger: 'type = \"track\"'\n    action: addTag\n");
        assert_eq!(
            got,
            vec!["c.yaml:4:5: error: subscription \"S\", unknown key `triger` (did you mean `trigger`?)"]
        );
    }

    #[test]
    fn every_problem_of_a_mapping_is_reported() {
        let got = messages(&format!(
            "{SUB}    action: addTag\n    mapping:\n      emial: x\n      tag: {{ \"@pth\": \"$.x\" }}\n"
        ));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].contains("field mapping.emial: addTag has no field `emial`"),
            "{got:?}"
        );
        assert!(got[1].contains("unknown directive \"@pth\""), "{got:?}");
    }

    #[test]
    fn a_required_field_gets_its_default_as_example() {
        let got = messages(&format!("{SUB}    action: addTag\n    mapping:\n      tag: null\n"));
        assert_eq!(
            got,
            vec![
                "c.yaml:7:12: error: subscription \"S\", field mapping.tag: addTag requires `tag`, but its mapping is set \
                 to null (map `tag`, e.g. tag: {\"@path\":\"$.traits.tag\"})"
            ]
        );
    }

    #[test]
    fn directives_that_always_fail_are_warnings() {
        let text = "version: 1\nsubscriptions:\n  - name: A\n    trigger: 'type = \"track\"'\n    action: addTag\n    \
                    mapping:\n      tag:\n        \"@if\": { then: x }\n";
        let p = problems(text);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].severity, Severity::Warning);
        assert_eq!(p[0].field.as_deref(), Some("mapping.tag.@if"));
        assert_eq!(p[0].pos.line, 8);
    }

    #[test]
    fn shape_errors_name_no_rust_types() {
        let got = messages("- a\n- b\n");
        assert_eq!(
            got,
            vec![
                "c.yaml:1:1: error: a config file is a mapping of `version`, `settings` and `subscriptions`, not a \
                 list (start with `version: 1` and a list of `subscriptions`)"
            ]
        );
        assert_eq!(
            messages("version: \"1\"\n"),
            vec!["c.yaml:1:10: error: field version: invalid type: string \"1\", expected a whole number"]
        );
        assert_eq!(
            messages("version: 1\nsettings: null\nsubscriptions: {}\n"),
            vec![
                "c.yaml:2:11: error: field settings: invalid type: null, expected a mapping",
                "c.yaml:3:16: error: field subscriptions: invalid type: a mapping, expected a list"
            ]
        );
        assert_eq!(
            messages("version: 1\nsubscriptions: {}\n"),
            vec!["c.yaml:2:16: error: field subscriptions: invalid type: a mapping, expected a list"]
        );
    }

    #[test]
    fn a_mistake_in_one_subscription_hides_nothing_of_the_others() {
        let text = "version: 1\nsubscriptions:\n\
                    - { name: A, trigger: 'type = \"track\"', action: addTag, enabled: yes }\n\
                    - { name: B, trigger: 'type = \"track\"', action: addTg }\n\
                    - { name: B, trigger: 'type = ', action: addTag }\n";
        let got = messages(text);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(
            got[0].starts_with("c.yaml:3:") && got[0].contains("expected a boolean"),
            "{got:?}"
        );
        assert!(got[1].starts_with("c.yaml:4:") && got[1].contains("addTg"), "{got:?}");
        assert!(
            got[2].starts_with("c.yaml:5:") && got[2].contains("already used"),
            "{got:?}"
        );
        assert!(got[3].starts_with("c.yaml:5:") && got[3].contains("trigger"), "{got:?}");
    }

    #[test]
    fn yes_is_not_a_boolean() {
        let got = messages(&format!("{SUB}    action: addTag\n    enabled: yes\n"));
        assert_eq!(got.len(), 1);
        assert!(
            got[0].ends_with("expected a boolean (write `true` or `false`)"),
            "{got:?}"
        );
    }

    fn env_with_empty(var: &str) -> Option<String> {
        match var {
            "EMPTY" => Some(String::new()),
            _ => env(var),
        }
    }

    #[test]
    fn urls_and_api_keys_that_cannot_work_are_errors_at_their_place() {
        let load_as_send = |text: &str| -> Vec<String> {
            let files = vec![("c.yaml".to_owned(), text.to_owned())];
            let options = LoadOptions {
                env: &env_with_empty,
                require_api_key: true,
                require_write_keys: false,
            };
            match load(&files, &options) {
                Ok(_) => Vec::new(),
                Err(problems) => problems.iter().map(ToString::to_string).collect(),
            }
        };
        assert_eq!(
            load_as_send("version: 1\nsettings:\n  api_key: k\n  ingest_url: http//127.0.0.1:8080/v1\n"),
            [
                "c.yaml:4:15: error: field settings.ingest_url: `http//127.0.0.1:8080/v1` is not an http:// or https:// \
              URL (write a whole URL, like https://ingest.encharge.io/v1)"
            ]
        );
        assert_eq!(
            load_as_send("version: 1\nsettings: { api_key: k, api_url: 'https:// x' }\n").len(),
            1
        );
        assert!(load_as_send("version: 1\nsettings: { api_key: k, api_url: 'http://127.0.0.1:9/' }\n").is_empty());
        assert_eq!(
            load_as_send("version: 1\nsettings: { api_key: \"a\\r\\nb\" }\n"),
            [
                "c.yaml:2:22: error: field settings.api_key: the API key has characters an HTTP header cannot carry \
              (a line break?) (remove line breaks and other control characters from the key)"
            ]
        );
        assert_eq!(
            load_as_send("version: 1\nsettings: { api_key: '' }\n"),
            [
                "c.yaml:2:22: error: field settings.api_key: the API key is empty (write `${ENCHARGE_API_KEY}` and \
              export the variable)"
            ]
        );
        assert!(load_as_send("version: 1\nsettings: { api_key: '${EMPTY}' }\n")[0].contains("expands to nothing"));
        // A config without any key: said at the top of its file, not of no file.
        assert!(load_as_send("version: 1\n")[0].starts_with("c.yaml:1:1: error: field settings.api_key: no API key"));
        // A `${` that is no variable reference is said so, not looked up or kept as text.
        for bad in ["${}", "${my var}", "${KEY", "a-${KEY}-${"] {
            let got = load_as_send(&format!("version: 1\nsettings: {{ api_key: '{bad}' }}\n"));
            assert_eq!(got.len(), 1, "{got:?}");
            assert!(got[0].contains("is not a variable reference"), "{got:?}");
        }
        assert!(load_as_send("version: 1\nsettings: { api_key: '${NOPE:-k}' }\n").is_empty());
        // `map` needs no key; an empty one is fine there.
        assert!(load_files(&[("c.yaml", "version: 1\nsettings: { api_key: '' }\n")], false).is_ok());
    }

    /// Loads `files` as `serve` does (`require_write_keys`) or as `map` does.
    fn load_files(files: &[(&str, &str)], require_write_keys: bool) -> Result<Loaded, Vec<String>> {
        let files: Vec<(String, String)> = files.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect();
        let options = LoadOptions {
            env: &env_with_empty,
            require_api_key: false,
            require_write_keys,
        };
        load(&files, &options).map_err(|problems| problems.iter().map(ToString::to_string).collect())
    }

    fn write_keys(loaded: &Loaded) -> Vec<&str> {
        loaded
            .destination
            .settings
            .write_keys
            .iter()
            .map(Secret::expose)
            .collect()
    }

    #[test]
    fn write_keys_are_read_with_their_variables() {
        let text =
            format!("{SUB}    action: addTag\nsettings:\n  write_keys: [\"${{KEY}}\", wk-literal, wk-literal]\n");
        let loaded = load_files(&[("c.yaml", &text)], true).unwrap();
        assert_eq!(write_keys(&loaded), ["secret-key", "wk-literal"]);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let none = load_files(&[("c.yaml", &format!("{SUB}    action: addTag\n"))], true).unwrap();
        assert!(write_keys(&none).is_empty());
        // The keys stay out of debug output, as the API key does.
        assert!(!format!("{:?}", loaded.destination.settings).contains("wk-literal"));
    }

    #[test]
    fn an_unset_write_key_variable_is_an_error_only_for_serve() {
        let text = "version: 1\nsettings:\n  write_keys:\n    - wk-1\n    - ${NOPE}\n    - ${EMPTY}\n";
        assert_eq!(
            load_files(&[("c.yaml", text)], true).unwrap_err(),
            [
                "c.yaml:5:7: error: field settings.write_keys.1: the environment variable NOPE is not set \
                 (export NOPE=<a write key of your Segment source>)",
                "c.yaml:6:7: error: field settings.write_keys.2: the write key `${EMPTY}` expands to nothing (its \
                 environment variable is empty) (set the variable to a write key of your Segment source)",
            ]
        );
        // `map` and `send` ignore write keys, so they need not have the variables.
        let loaded = load_files(&[("c.yaml", text)], false).unwrap();
        assert_eq!(write_keys(&loaded), ["wk-1"]);
    }

    #[test]
    fn an_empty_write_key_is_an_error_for_every_command() {
        let text = "version: 1\nsettings:\n  write_keys: [wk-1, \"\"]\n";
        for require in [true, false] {
            assert_eq!(
                load_files(&[("c.yaml", text)], require).unwrap_err(),
                [
                    "c.yaml:3:22: error: field settings.write_keys.1: a write key cannot be empty (write the key, or \
                     `${VAR}` to read it from the environment; or remove the entry)"
                ]
            );
        }
    }

    #[test]
    fn write_keys_in_two_files_are_a_duplicate_setting() {
        let a = "version: 1\nsettings:\n  write_keys: [wk-a]\n";
        let b = "version: 1\nsettings:\n  api_url: http://127.0.0.1:1\n  write_keys:\n    - wk-b\n";
        assert_eq!(
            load_files(&[("a.yaml", a), ("b.yaml", b)], true).unwrap_err(),
            [
                "b.yaml:5:5: error: field settings.write_keys: `write_keys` is already set in a.yaml (set each setting \
                 in one file only)"
            ]
        );
    }

    #[test]
    fn write_keys_of_the_wrong_type_point_at_the_value() {
        assert_eq!(
            load_files(&[("c.yaml", "version: 1\nsettings:\n  write_keys: wk-1\n")], true).unwrap_err(),
            ["c.yaml:3:15: error: field settings.write_keys: invalid type: string \"wk-1\", expected a list"]
        );
        assert_eq!(
            load_files(&[("c.yaml", "version: 1\nsettings:\n  write_keys: [wk-1, 42]\n")], true).unwrap_err(),
            ["c.yaml:3:22: error: field settings.write_keys.1: invalid type: integer `42`, expected a string"]
        );
        assert_eq!(
            load_files(&[("c.yaml", "version: 1\nsettings:\n  write_key: [wk-1]\n")], true).unwrap_err(),
            ["c.yaml:3:3: error: unknown key `write_key` (did you mean `write_keys`?)"]
        );
    }

    #[test]
    fn field_paths_are_relative_to_the_subscription() {
        assert_eq!(field_of("/subscriptions/3/mapping/email"), "mapping.email");
        assert_eq!(field_of("/settings/api_key"), "settings.api_key");
    }
}
