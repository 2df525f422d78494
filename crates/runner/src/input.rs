//! Reading events: JSON, a JSON array or NDJSON, from files or stdin, one
//! record at a time so memory does not grow with the input.
//!
//! The input is scanned byte by byte for where each value ends (brackets and
//! strings), and each value is parsed once, when it is whole. A value spread
//! over several lines (pretty-printed) is read whole. When the input starts
//! with `[`, a top-level array's elements are read one by one, and what follows
//! the array is read too. A value that is not JSON becomes an error record
//! naming its line, and reading goes on after it: a value cut short (a writer
//! that crashed) ends where a line starts with `{` or `[` in its first column,
//! so the next event is not lost with it.

use std::io::{self, BufRead};

use serde_json::Value;

/// One thing read from the input: an event, or why a line could not be read.
pub enum Record {
    /// A JSON value, and the line where it starts (in a JSON array: its element number, from 1).
    Value { line: u64, value: Value },
    /// Input that is not JSON.
    Error { line: u64, message: String },
}

/// Largest value we accumulate before giving up on it.
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Deepest nesting of one value; serde_json refuses one level more.
const MAX_DEPTH: usize = 127;

/// Reads records from `reader`, calling `each` for every one; stops early when `each` returns false.
pub fn read_records(mut reader: impl BufRead, mut each: impl FnMut(Record) -> bool) -> io::Result<()> {
    let mut scanner = Scanner {
        at: Pos { line: 1, column: 1 },
        line_started: false,
        arrays: None,
        state: State::Between,
    };
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let go_on = scanner.feed(buf, &mut each);
        reader.consume(n);
        if !go_on {
            return Ok(());
        }
    }
    scanner.finish(&mut each);
    Ok(())
}

#[derive(Clone, Copy)]
struct Pos {
    line: u64,
    column: u64,
}

struct Scanner {
    /// Where the next byte is.
    at: Pos,
    /// Whether the current line has had anything but whitespace before the next byte.
    line_started: bool,
    /// Whether a top-level `[` is an array read by element; set by the input's first value.
    arrays: Option<bool>,
    state: State,
}

enum State {
    /// Between top-level values.
    Between,
    /// After a broken array: the rest of the line is passed over.
    SkipLine,
    /// A top-level value.
    Value(Partial),
    /// A top-level value has ended: it is given once the rest of its line is found empty.
    Tail(Record),
    /// Inside a top-level array read by element.
    Array(Array),
}

struct Array {
    start: Pos,
    /// Elements seen so far.
    index: u64,
    expect: Expect,
    element: Option<Partial>,
}

#[derive(Clone, Copy, PartialEq)]
enum Expect {
    First,
    Element,
    CommaOrEnd,
}

/// What to do after a byte.
enum Flow {
    Next,
    /// The state changed: the same byte again.
    Again,
    Stop,
}

impl Scanner {
    fn feed(&mut self, buf: &[u8], each: &mut impl FnMut(Record) -> bool) -> bool {
        let mut i = 0;
        while let Some(&b) = buf.get(i) {
            match self.byte(b, each) {
                Flow::Again => continue,
                Flow::Stop => return false,
                Flow::Next => {}
            }
            i += 1;
            if b == b'\n' {
                self.at = Pos {
                    line: self.at.line + 1,
                    column: 1,
                };
                self.line_started = false;
            } else {
                self.at.column += 1;
                self.line_started |= !b.is_ascii_whitespace();
            }
        }
        true
    }

    fn byte(&mut self, b: u8, each: &mut impl FnMut(Record) -> bool) -> Flow {
        let at = self.at;
        let line_start = at.column == 1;
        let (record, flow) = match &mut self.state {
            State::SkipLine => {
                if b == b'\n' {
                    self.state = State::Between;
                }
                return Flow::Next;
            }
            State::Between => {
                if b.is_ascii_whitespace() {
                    return Flow::Next;
                }
                if *self.arrays.get_or_insert(b == b'[') && b == b'[' {
                    self.state = State::Array(Array {
                        start: at,
                        index: 0,
                        expect: Expect::First,
                        element: None,
                    });
                    return Flow::Next;
                }
                self.state = State::Value(Partial::new(at, b, false));
                return Flow::Again;
            }
            State::Value(value) => {
                if value.cut_short_by(b, line_start) {
                    (value.cut_short(at), Flow::Again)
                } else {
                    match value.step(b, at) {
                        Step::More => return Flow::Next,
                        Step::Whole => {
                            self.state = State::Tail(value.parse(None));
                            return Flow::Next;
                        }
                        Step::Ended => (Some(value.parse(None)), Flow::Again),
                    }
                }
            }
            State::Tail(_) if b != b'\n' && b.is_ascii_whitespace() => return Flow::Next,
            State::Tail(_) => {
                let State::Tail(record) = std::mem::replace(&mut self.state, State::Between) else {
                    return Flow::Again;
                };
                if b == b'\n' {
                    return self.emit(Some(record), Flow::Next, each);
                }
                // Like serde_json reading the line whole: what follows a value on its line spoils it.
                self.state = State::SkipLine;
                let line = match record {
                    Record::Value { line, .. } | Record::Error { line, .. } => line,
                };
                let message = match record {
                    Record::Error { message, .. } => message,
                    Record::Value { .. } if at.line == line => {
                        format!("not valid JSON: trailing characters (column {})", at.column)
                    }
                    Record::Value { .. } => format!(
                        "not valid JSON: trailing characters (line {}, column {})",
                        at.line, at.column
                    ),
                };
                return self.emit(Some(Record::Error { line, message }), Flow::Next, each);
            }
            State::Array(array) => match array.element.as_mut() {
                Some(element) if element.cut_short_by(b, line_start) => (element.cut_short(at), Flow::Again),
                Some(element) => {
                    let flow = match element.step(b, at) {
                        Step::More => return Flow::Next,
                        Step::Whole => Flow::Next,
                        Step::Ended => Flow::Again,
                    };
                    let record = Some(element.parse(Some(array.index)));
                    array.element = None;
                    array.expect = Expect::CommaOrEnd;
                    return self.emit(record, flow, each);
                }
                None => {
                    if b.is_ascii_whitespace() {
                        return Flow::Next;
                    }
                    match (array.expect, b) {
                        (Expect::CommaOrEnd, b',') => {
                            array.expect = Expect::Element;
                            return Flow::Next;
                        }
                        (Expect::First | Expect::CommaOrEnd, b']') => (None, Flow::Next),
                        (Expect::Element, b']') => (Some(array_error("trailing comma", at)), Flow::Next),
                        (Expect::CommaOrEnd, _) => {
                            let record = array_error("expected `,` or `]`", at);
                            // A line that starts a value of its own is read; the rest of a broken line is not.
                            if self.line_started {
                                self.state = State::SkipLine;
                                return self.emit(Some(record), Flow::Next, each);
                            }
                            (Some(record), Flow::Again)
                        }
                        (Expect::First | Expect::Element, _) => {
                            array.index += 1;
                            array.element = Some(Partial::new(at, b, true));
                            return Flow::Again;
                        }
                    }
                }
            },
        };
        self.state = State::Between;
        self.emit(record, flow, each)
    }

    fn emit(&mut self, record: Option<Record>, flow: Flow, each: &mut impl FnMut(Record) -> bool) -> Flow {
        match record {
            Some(record) => {
                if each(record) {
                    flow
                } else {
                    Flow::Stop
                }
            }
            None => flow,
        }
    }

    /// The end of the input: what is left open is read or said.
    fn finish(self, each: &mut impl FnMut(Record) -> bool) {
        let record = match self.state {
            State::Between | State::SkipLine => return,
            State::Tail(record) => record,
            State::Value(value) => value.at_end(None),
            State::Array(array) => match array.element {
                Some(element) if element.container => element.at_end(Some(array.index)),
                element => {
                    if let Some(mut scalar) = element
                        && !each(scalar.parse(Some(array.index)))
                    {
                        return;
                    }
                    Record::Error {
                        line: array.start.line,
                        message: "the array is not closed (no `]`) at the end of the input".to_owned(),
                    }
                }
            },
        };
        each(record);
    }
}

fn array_error(what: &str, at: Pos) -> Record {
    Record::Error {
        line: at.line,
        message: format!("not valid JSON: {what} (line {}, column {})", at.line, at.column),
    }
}

/// One value being read: its bytes so far, and enough of its shape to know where it ends.
struct Partial {
    bytes: Vec<u8>,
    start: Pos,
    /// Starts with `{` or `[` (else it is a number, string or word).
    container: bool,
    /// An element of an array read by element (else a top-level value).
    in_array: bool,
    depth: usize,
    string: bool,
    escaped: bool,
    /// Why the value cannot be read, found before its end.
    broken: Option<String>,
}

enum Step {
    /// The byte belongs to the value, which goes on.
    More,
    /// The byte ends the value.
    Whole,
    /// The value ended before the byte.
    Ended,
}

impl Partial {
    fn new(start: Pos, first: u8, in_array: bool) -> Self {
        Partial {
            bytes: Vec::new(),
            start,
            container: matches!(first, b'{' | b'['),
            in_array,
            depth: 0,
            string: false,
            escaped: false,
            broken: None,
        }
    }

    fn step(&mut self, b: u8, at: Pos) -> Step {
        if !self.container && !self.string {
            // A number, string or word ends at the line's end (at the top level) or at what ends an element.
            let end = if self.in_array {
                b == b',' || b == b']' || b.is_ascii_whitespace()
            } else {
                b == b'\n'
            };
            if end {
                return Step::Ended;
            }
        }
        if self.string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' || b == b'\n' {
                // A line break cannot be in a string: the string is broken, and the lines after it are
                // read as if it had closed, so the value still ends where its brackets say.
                self.string = false;
                if b == b'\n' && !self.container {
                    return Step::Ended;
                }
            }
            self.keep(b);
            return Step::More;
        }
        match b {
            b'"' => self.string = true,
            b'{' | b'[' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH && self.broken.is_none() {
                    self.broken = Some(format!(
                        "not valid JSON: nested more than {MAX_DEPTH} levels deep {}",
                        self.place(at)
                    ));
                }
            }
            b'}' | b']' if self.container => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    self.keep(b);
                    return Step::Whole;
                }
            }
            _ => {}
        }
        self.keep(b);
        Step::More
    }

    fn keep(&mut self, b: u8) {
        if self.broken.is_some() {
            return;
        }
        if self.bytes.len() >= MAX_RECORD_BYTES {
            self.broken = Some("a JSON value over 64 MiB".to_owned());
            self.bytes = Vec::new();
            return;
        }
        self.bytes.push(b);
    }

    /// Whether `b` starts another value, so this one was cut short: `{` or `[` in a line's first column
    /// where this value is still open.
    fn cut_short_by(&self, b: u8, line_start: bool) -> bool {
        line_start && self.container && self.depth > 0 && matches!(b, b'{' | b'[')
    }

    fn cut_short(&mut self, at: Pos) -> Option<Record> {
        let message = self
            .broken
            .take()
            .unwrap_or_else(|| format!("the JSON value is cut short: line {} starts another one", at.line));
        Some(Record::Error {
            line: self.start.line,
            message,
        })
    }

    /// The record of a whole value; `index` is its element number in an array read by element.
    fn parse(&mut self, index: Option<u64>) -> Record {
        let line = self.start.line;
        if let Some(message) = self.broken.take() {
            return Record::Error { line, message };
        }
        match serde_json::from_slice(&self.bytes) {
            Ok(value) => Record::Value {
                line: index.unwrap_or(line),
                value,
            },
            Err(e) => Record::Error {
                line,
                message: self.describe(&e),
            },
        }
    }

    /// The record of a value the input ended in.
    fn at_end(mut self, index: Option<u64>) -> Record {
        if !self.container {
            return self.parse(index);
        }
        Record::Error {
            line: self.start.line,
            message: self
                .broken
                .take()
                .unwrap_or_else(|| "the JSON value is not complete at the end of the input".to_owned()),
        }
    }

    /// What serde_json found wrong, placed in the input.
    fn describe(&self, e: &serde_json::Error) -> String {
        if let Err(bad) = std::str::from_utf8(&self.bytes) {
            let before = &self.bytes[..bad.valid_up_to()];
            let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let lines = before.iter().filter(|&&b| b == b'\n').count() as u64;
            let column = String::from_utf8_lossy(&before[line_start..]).chars().count() as u64 + 1;
            return format!(
                "not UTF-8 text: an invalid byte {}",
                self.place(self.offset(lines, column))
            );
        }
        let text = e.to_string();
        // serde_json appends " at line L column C", counted from the value's start; we place it in the input.
        let text = text.split(" at line ").next().unwrap_or(&text);
        let text = if text == "recursion limit exceeded" {
            "nested more than 127 levels deep"
        } else {
            text
        };
        let at = self.offset(e.line().saturating_sub(1) as u64, e.column() as u64);
        format!("not valid JSON: {text} {}", self.place(at))
    }

    /// The place in the input of `column` on the value's `lines`-th line after its first.
    fn offset(&self, lines: u64, column: u64) -> Pos {
        if lines == 0 {
            Pos {
                line: self.start.line,
                column: self.start.column + column.saturating_sub(1),
            }
        } else {
            Pos {
                line: self.start.line + lines,
                column,
            }
        }
    }

    /// `(column C)` on the line the record names, else `(line L, column C)`; an element's record
    /// names no line, so its place always has one.
    fn place(&self, at: Pos) -> String {
        if at.line == self.start.line && !self.in_array {
            format!("(column {})", at.column)
        } else {
            format!("(line {}, column {})", at.line, at.column)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        read_records(text.as_bytes(), |r| {
            out.push(match r {
                Record::Value { line, value } => format!("{line}: {value}"),
                Record::Error { line, message } => format!("{line}: error: {message}"),
            });
            true
        })
        .unwrap();
        out
    }

    #[test]
    fn ndjson_with_a_bad_line_goes_on() {
        let got = read("{\"a\":1}\n\nnot json\n{\"b\":2}\n");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], "1: {\"a\":1}");
        assert!(got[1].starts_with("3: error: not valid JSON"), "{}", got[1]);
        assert_eq!(got[2], "4: {\"b\":2}");
    }

    #[test]
    fn a_line_cut_short_does_not_take_the_next_event() {
        let got = read("{\"a\":1,\n{\"b\":2}\n\nnot json\n{\"c\":3}\n");
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(
            got[0],
            "1: error: the JSON value is cut short: line 2 starts another one"
        );
        assert_eq!(got[1], "2: {\"b\":2}");
        assert!(got[2].starts_with("4: error: not valid JSON"), "{}", got[2]);
        assert_eq!(got[3], "5: {\"c\":3}");
    }

    #[test]
    fn an_error_inside_a_multi_line_value_names_its_line() {
        let got = read("{\n  \"a\": 1,,\n}\n");
        assert_eq!(
            got[0],
            "1: error: not valid JSON: key must be a string (line 2, column 10)"
        );
    }

    #[test]
    fn bad_bytes_and_deep_values_are_named() {
        let mut bytes = b"{\"a\":\"caf".to_vec();
        bytes.extend_from_slice(&[0xe9]);
        bytes.extend_from_slice(b"\"}\n");
        let mut got = Vec::new();
        read_records(bytes.as_slice(), |r| {
            if let Record::Error { message, .. } = r {
                got.push(message);
            }
            true
        })
        .unwrap();
        assert_eq!(got, vec!["not UTF-8 text: an invalid byte (column 10)"]);
        let deep = read(&format!("{}\n", "[".repeat(200)));
        assert_eq!(
            deep,
            vec!["1: error: not valid JSON: nested more than 127 levels deep (line 1, column 129)"]
        );
        // As deep as serde_json reads is read; one level more is an error, and the next line is read.
        let at_most = format!("{}{}", "[".repeat(127), "]".repeat(127));
        let over = format!("{}{}", "[".repeat(128), "]".repeat(128));
        let got = read(&format!("{{\"x\":1}}\n{at_most}\n{over}\n{{\"y\":2}}\n"));
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[1].starts_with("2: [[[[[["), "{got:?}");
        assert_eq!(
            got[2],
            "3: error: not valid JSON: nested more than 127 levels deep (column 128)"
        );
        assert_eq!(got[3], "4: {\"y\":2}");
    }

    #[test]
    fn pretty_json_spans_lines() {
        let got = read("{\n  \"a\": 1\n}\n{\"b\":2}\n");
        assert_eq!(got, vec!["1: {\"a\":1}", "4: {\"b\":2}"]);
    }

    #[test]
    fn arrays_are_streamed_by_element() {
        let got = read("[{\"a\":1},\n {\"b\":2}]");
        assert_eq!(got, vec!["1: {\"a\":1}", "2: {\"b\":2}"]);
        let bad = read("[{\"a\":1}, {\"b\":]");
        assert_eq!(
            bad,
            vec![
                "1: {\"a\":1}",
                "1: error: not valid JSON: expected value (line 1, column 16)",
                "1: error: the array is not closed (no `]`) at the end of the input",
            ]
        );
    }

    #[test]
    fn events_after_an_array_are_read() {
        let a = r#"{"type":"track","event":"A","userId":"u"}"#;
        let b = r#"{"type":"track","event":"B","userId":"u"}"#;
        let c = r#"{"type":"track","event":"C","userId":"u"}"#;
        assert_eq!(
            read(&format!("[{a}]\n{b}\n{c}\n")),
            vec![format!("1: {a}"), format!("2: {b}"), format!("3: {c}")]
        );
        assert_eq!(
            read(&format!("[1,2]\n{b}\n")),
            vec!["1: 1".to_owned(), "2: 2".to_owned(), format!("2: {b}")]
        );
        // Two files one after the other, the first without a final line break.
        assert_eq!(
            read("[{\"a\":1},\n {\"b\":2}][{\"c\":3}]\n[{\"d\":4}]"),
            vec!["1: {\"a\":1}", "2: {\"b\":2}", "1: {\"c\":3}", "1: {\"d\":4}"]
        );
        // A pretty-printed array: the lines after it keep their numbers.
        assert_eq!(
            read("\n[\n  {\"a\":1}\n]\n\n{\"b\":2}\n  [3]\n"),
            vec!["1: {\"a\":1}", "6: {\"b\":2}", "1: 3"]
        );
        // In input that starts as NDJSON, an array is one value.
        assert_eq!(read("{\"a\":1}\n[2]\n"), vec!["1: {\"a\":1}", "2: [2]"]);
        let trailing = read("[1] x\n{\"b\":2}\n");
        assert_eq!(trailing.len(), 3, "{trailing:?}");
        assert!(trailing[1].starts_with("1: error: not valid JSON"), "{trailing:?}");
        assert_eq!(trailing[2], "2: {\"b\":2}");
    }

    #[test]
    fn a_broken_array_is_one_error_and_reading_goes_on() {
        // Cut short: the line it broke on is read on its own.
        let got = read("[{\"a\":1},\n{\"b\":2}\n{\"c\":3}\n[4\n[5]\n");
        assert_eq!(
            got,
            vec![
                "1: {\"a\":1}",
                "2: {\"b\":2}",
                "3: error: not valid JSON: expected `,` or `]` (line 3, column 1)",
                "3: {\"c\":3}",
                "1: 4",
                "5: error: not valid JSON: expected `,` or `]` (line 5, column 1)",
                "1: 5",
            ]
        );
        // Broken inside: one error for the element, and the elements after it are read.
        let got = read("[\n  {\"a\":1},\n  {\"b\": x,\n   \"c\": 3},\n  {\"d\":4}\n]\n{\"e\":5}\n");
        assert_eq!(
            got,
            vec![
                "1: {\"a\":1}",
                "3: error: not valid JSON: expected value (line 3, column 9)",
                "3: {\"d\":4}",
                "7: {\"e\":5}",
            ]
        );
    }

    #[test]
    fn a_line_cut_short_inside_an_array_does_not_take_the_next_event() {
        let got = read(concat!(
            "{\"type\":\"track\",\"event\":\"T\",\"userId\":\"u\",\"properties\":{\"list\":[\n",
            "{\"type\":\"track\",\"event\":\"SWALLOWED\",\"userId\":\"u\"}\n",
            "{\"type\":\"track\",\"event\":\"THIRD\",\"userId\":\"u\"}\n",
        ));
        assert_eq!(
            got,
            vec![
                "1: error: the JSON value is cut short: line 2 starts another one",
                "2: {\"type\":\"track\",\"event\":\"SWALLOWED\",\"userId\":\"u\"}",
                "3: {\"type\":\"track\",\"event\":\"THIRD\",\"userId\":\"u\"}",
            ]
        );
    }

    #[test]
    fn a_broken_pretty_printed_value_is_one_error() {
        // A string left open: the error names its line, the value's other lines are not errors of their own.
        let got = read("{\n  \"a\": \"x,\n  \"b\": [1, 2],\n  \"c\": {\"d\": 1}\n}\n{\"e\":5}\n");
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("1: error: not valid JSON: control character"),
            "{got:?}"
        );
        assert_eq!(got[1], "6: {\"e\":5}");
        // A closing brace missing: the next value starts at its first column.
        let got = read("{\n  \"a\": {\n    \"b\": 1\n}\n{\n  \"c\": 2\n}\n");
        assert_eq!(
            got,
            vec![
                "1: error: the JSON value is cut short: line 5 starts another one",
                "5: {\"c\":2}",
            ]
        );
    }

    #[test]
    fn a_long_pretty_printed_value_is_parsed_once() {
        // Parsed again on every line, this would take minutes.
        let lines = 50_000;
        let mut text = String::from("{\n  \"list\": [\n");
        for i in 0..lines - 5 {
            text.push_str(&format!("    {i},\n"));
        }
        text.push_str("    -1\n  ]\n}\n{\"next\":1}\n");
        let mut values = Vec::new();
        read_records(text.as_bytes(), |r| {
            if let Record::Value { line, value } = r {
                values.push((line, value));
            }
            true
        })
        .unwrap();
        assert_eq!(values.len(), 2);
        let list = values[0].1["list"].as_array().unwrap();
        assert_eq!((values[0].0, list.len(), list[49_995].as_i64()), (1, 49_996, Some(-1)));
        assert_eq!(values[1].0, lines + 1);
    }

    #[test]
    fn where_the_reader_cuts_its_buffer_does_not_matter() {
        let inputs = [
            "{\"a\":1}\n\nnot json\n{\"b\":\"x y\\\"z\"}\n",
            "[{\"a\":1},\n {\"b\":[2, \"]\"]}, 3, \"s\"][{\"c\":3}]\n{\"d\":4}\n [5",
            "{\n  \"a\": \"x,\n  \"b\": [1, 2]\n}\n{\"e\":5}\n{\"f\":[\n{\"g\":6}",
        ];
        for text in inputs {
            let whole = read(text);
            for capacity in [1, 2, 3, 7] {
                let mut pieces = Vec::new();
                let reader = io::BufReader::with_capacity(capacity, text.as_bytes());
                read_records(reader, |r| {
                    pieces.push(match r {
                        Record::Value { line, value } => format!("{line}: {value}"),
                        Record::Error { line, message } => format!("{line}: error: {message}"),
                    });
                    true
                })
                .unwrap();
                assert_eq!(pieces, whole, "{text:?} read {capacity} bytes at a time");
            }
        }
        assert_eq!(
            read(inputs[1]),
            vec![
                "1: {\"a\":1}",
                "2: {\"b\":[2,\"]\"]}",
                "3: 3",
                "4: \"s\"",
                "1: {\"c\":3}",
                "3: {\"d\":4}",
                "1: 5",
                "4: error: the array is not closed (no `]`) at the end of the input",
            ]
        );
    }

    #[test]
    fn what_follows_a_value_on_its_line_spoils_it() {
        assert_eq!(
            read("{\"a\":1} {\"b\":2}\n{\"c\":3}  \n{\n\"d\":4\n} x\n"),
            vec![
                "1: error: not valid JSON: trailing characters (column 9)",
                "2: {\"c\":3}",
                "3: error: not valid JSON: trailing characters (line 5, column 3)",
            ]
        );
    }

    #[test]
    fn reading_stops_when_asked() {
        let mut seen = 0;
        read_records("[1,2,3]\n{\"a\":1}\n".as_bytes(), |_| {
            seen += 1;
            seen < 2
        })
        .unwrap();
        assert_eq!(seen, 2);
    }

    #[test]
    fn hostile_input_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        let got = read(&format!("{{\"a\":{deep}\n{{\"ok\":1}}\n"));
        assert!(got[0].contains("error"), "{got:?}");
        let got = read("{\"a\":\"\u{0}\"}\n");
        assert!(got[0].contains("error"));
        let mut bytes = b"{\"a\":\"".to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        bytes.extend_from_slice(b"\"}\n{\"b\":1}\n");
        let mut out = Vec::new();
        read_records(bytes.as_slice(), |r| {
            out.push(matches!(r, Record::Value { .. }));
            true
        })
        .unwrap();
        assert_eq!(out, vec![false, true]);
    }

    #[test]
    fn big_integers_keep_their_digits() {
        assert_eq!(
            read("{\"userId\": 9007199254740993}"),
            vec!["1: {\"userId\":9007199254740993}"]
        );
    }
}
