//! The schemas in a real editor: this starts yaml-language-server (the language
//! server behind VS Code's YAML extension, Neovim's yamlls, Helix, …) over stdio,
//! speaks LSP to it as an editor does, and checks what a user would see:
//!
//! - every file in `mappings/` opens without a diagnostic;
//! - each file in `tests/editor/broken/` gets a diagnostic on every line marked
//!   `# expect: TEXT`, whose message contains TEXT, and on no other line;
//! - in an `identifyUser` mapping, completion offers that action's fields with
//!   their descriptions, and not the fields of other actions.
//!
//! The server comes from npm (`tests/editor/package.json`, an exact version).
//! `.ci/run` installs it with `npm ci` and sets `ENCHARGE_EDITOR_TEST=1`, which
//! turns a missing server into a failure; plain `cargo test` on a machine without
//! it skips with a message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use serde_json::{Value, json};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Bounds a wait for the server, so that a hung server fails the test instead of CI.
const PATIENCE: Duration = Duration::from_secs(60);

struct Server {
    child: Child,
    stdin: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
}

impl Server {
    /// Starts the server, or says why it cannot.
    fn start() -> Result<Server, String> {
        let bin = repo().join("tests/editor/node_modules/yaml-language-server/bin/yaml-language-server");
        if !bin.exists() {
            return Err(format!(
                "{} is not installed (run `npm ci --prefix tests/editor`)",
                bin.display()
            ));
        }
        let mut child = Command::new("node")
            .arg(&bin)
            .arg("--stdio")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run node: {e}"))?;
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, messages) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        Ok(Server {
            child,
            stdin,
            messages,
            next_id: 1,
        })
    }

    fn send(&mut self, message: &Value) {
        let body = serde_json::to_vec(message).unwrap();
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        self.stdin.write_all(&body).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and waits for its answer, serving the server's own requests meanwhile.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait_for(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())["result"].clone()
    }

    /// The next message that `pick` accepts; answers server requests on the way.
    fn wait_for(&mut self, pick: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = match self.messages.recv_timeout(PATIENCE) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => panic!("yaml-language-server did not answer in {PATIENCE:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("yaml-language-server exited"),
            };
            if let (Some(id), Some(method)) = (message.get("id"), message.get("method").and_then(Value::as_str)) {
                let result = match method {
                    // One answer per item asked for: our settings for "yaml", nothing else.
                    "workspace/configuration" => {
                        let items = message["params"]["items"].as_array().cloned().unwrap_or_default();
                        Value::Array(
                            items
                                .iter()
                                .map(|i| {
                                    if i["section"] == "yaml" {
                                        settings()["yaml"].clone()
                                    } else {
                                        Value::Null
                                    }
                                })
                                .collect(),
                        )
                    }
                    _ => Value::Null,
                };
                let id = id.clone();
                self.send(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
                continue;
            }
            if pick(&message) {
                return message;
            }
        }
    }

    fn initialize(&mut self) {
        let root = file_uri(&repo());
        self.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": root,
                "workspaceFolders": [{"uri": root, "name": "encharge-actions"}],
                "capabilities": {
                    "workspace": {"configuration": true, "didChangeConfiguration": {"dynamicRegistration": true}},
                    "textDocument": {
                        "publishDiagnostics": {},
                        "completion": {"completionItem": {"documentationFormat": ["markdown", "plaintext"]}},
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                    },
                },
            }),
        );
        self.notify("initialized", json!({}));
        self.notify("workspace/didChangeConfiguration", settings());
    }

    /// Opens a file and returns the diagnostics the server publishes for it.
    fn open(&mut self, path: &Path) -> Vec<Value> {
        let uri = file_uri(path);
        let text = std::fs::read_to_string(path).unwrap();
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}),
        );
        let published =
            self.wait_for(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == json!(uri));
        published["params"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What an editor user would set: validation, hover and completion on; no fetching of
/// the public schema catalog (the modeline names our schema, and CI has no network).
fn settings() -> Value {
    json!({"settings": {"yaml": {
        "validate": true, "hover": true, "completion": true,
        "schemaStore": {"enable": false}, "format": {"enable": false},
    }}})
}

fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for c in path.display().to_string().chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '/' | '-' | '_' | '.' | '~' => uri.push(c),
            _ => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    uri.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    uri
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length:") {
            length = n.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// The server, or `None` (and why, printed) when it is not installed and not required.
fn server() -> Option<Server> {
    match Server::start() {
        Ok(mut server) => {
            server.initialize();
            Some(server)
        }
        Err(why) if std::env::var_os("ENCHARGE_EDITOR_TEST").is_some() => {
            panic!("ENCHARGE_EDITOR_TEST is set, but {why}")
        }
        Err(why) => {
            println!("skipped: {why}; `.ci/run` installs it and runs this test for real");
            None
        }
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(path);
        }
    }
}

/// `(0-based line, text)` for every line marked `# expect: TEXT`.
fn expectations(path: &Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let (_, want) = line.split_once("# expect: ")?;
            Some((i as u64, want.trim().to_owned()))
        })
        .collect()
}

fn show(diagnostics: &[Value]) -> String {
    diagnostics
        .iter()
        .map(|d| {
            format!(
                "  line {}: {}",
                d["range"]["start"]["line"].as_u64().unwrap_or(0) + 1,
                d["message"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn editor_sees_what_validate_sees() {
    let Some(mut server) = server() else { return };

    let mut clean = Vec::new();
    yaml_files(&repo().join("mappings"), &mut clean);
    assert!(clean.len() >= 4, "mappings/ should hold the presets and the examples");
    for path in &clean {
        let diagnostics = server.open(path);
        assert!(
            diagnostics.is_empty(),
            "{} should open without diagnostics, but the editor shows:\n{}",
            path.display(),
            show(&diagnostics)
        );
    }

    let mut broken = Vec::new();
    yaml_files(&repo().join("tests/editor/broken"), &mut broken);
    assert!(broken.len() >= 4);
    for path in &broken {
        let diagnostics = server.open(path);
        let expected = expectations(path);
        assert!(!expected.is_empty(), "{} has no `# expect:` line", path.display());
        for (line, want) in &expected {
            let hit = diagnostics.iter().any(|d| {
                d["range"]["start"]["line"] == json!(line)
                    && d["message"].as_str().unwrap_or("").contains(want.as_str())
            });
            assert!(
                hit,
                "{}:{}: expected a diagnostic containing {want:?}; the editor shows:\n{}",
                path.display(),
                line + 1,
                show(&diagnostics)
            );
        }
        for d in &diagnostics {
            let line = d["range"]["start"]["line"].as_u64().unwrap_or(u64::MAX);
            assert!(
                expected.iter().any(|(l, _)| *l == line),
                "{}: unexpected diagnostic on line {}: {}",
                path.display(),
                line + 1,
                d["message"]
            );
        }
    }
}

#[test]
fn editor_completes_the_fields_of_the_chosen_action() {
    let Some(mut server) = server() else { return };
    let dir = std::env::temp_dir().join(format!("encharge-editor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema = repo().join("schemas/destination.schema.json");
    let text = format!(
        "# yaml-language-server: $schema={}\nversion: 1\nsubscriptions:\n  - name: Identify\n    trigger: 'type = \"identify\"'\n    action: identifyUser\n    mapping:\n      \n",
        schema.display()
    );
    let path = dir.join("completion.yaml");
    std::fs::write(&path, &text).unwrap();
    server.open(&path);
    let result = server.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": file_uri(&path)}, "position": {"line": 7, "character": 6}}),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let items = result
        .get("items")
        .or(Some(&result))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let labels: Vec<&str> = items.iter().filter_map(|i| i["label"].as_str()).collect();
    for field in ["email", "userId", "segmentAnonymousId", "user"] {
        assert!(
            labels.contains(&field),
            "completion should offer {field}; it offers {labels:?}"
        );
    }
    for other in ["event", "properties", "objectType", "tag"] {
        assert!(
            !labels.contains(&other),
            "{other} is not a field of identifyUser; offered: {labels:?}"
        );
    }
    let email = items.iter().find(|i| i["label"] == "email").unwrap();
    let docs = email["documentation"].to_string();
    assert!(
        docs.contains("The email address of the user."),
        "email's documentation: {docs}"
    );
}
