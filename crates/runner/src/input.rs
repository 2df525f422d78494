//! Reading events: JSON, JSON arrays or NDJSON, from files or stdin, one
//! record at a time so memory does not grow with the input.
//!
//! The input is scanned once for where each value ends, checking its syntax
//! on the way, and each value is parsed when it is whole. A value may span
//! lines (pretty-printed). A top-level array is read element by element, so a
//! file of a million events in one array streams. A value that is not JSON
//! becomes an error record naming its place, and reading goes on after it.
//!
//! A value cut short (a writer that crashed mid-line) must not take the events
//! after it: while a value is open, the values inside it that start with `{`
//! or `[` in a line's first column are remembered. If it then turns out not to
//! be JSON at a line starting so, or the input ends inside it, it is reported
//! cut short and reading starts again at the first such value that looks like
//! an event of its own (a line of NDJSON, or a pretty-printed value whose other
//! lines are indented), else at the one just before, else at that line. Valid
//! JSON is never split; in a document printed with every line in column 1, a
//! cut just after an inner object can make that object read as an event.

use std::io::{self, BufRead};

use serde_json::Value;

/// One thing read from the input: an event, or why a part of the input could not be read.
pub enum Record {
    /// A JSON value, and the line where it starts (in a JSON array: its element number, from 1).
    Value { line: u64, value: Value },
    /// Input that is not JSON, where it starts (in a JSON array: the element number); the
    /// message gives the exact place.
    Error { line: u64, message: String },
}

/// Largest value we keep; Segment itself refuses events over 32 KB. Parsed, a value can take
/// many times its size in memory, so this bounds memory too.
const MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// Deepest nesting of one value; serde_json refuses one level more.
const MAX_DEPTH: usize = 127;

const BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

/// Reads records from `reader`, calling `each` for every one; stops early when `each` returns false.
pub fn read_records(mut reader: impl BufRead, mut each: impl FnMut(Record) -> bool) -> io::Result<()> {
    let mut scanner = Scanner {
        at: Pos { line: 1, column: 1 },
        bom: 0,
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

/// A place in the input; columns count characters.
#[derive(Clone, Copy, PartialEq, Debug)]
struct Pos {
    line: u64,
    column: u64,
}

impl Pos {
    fn after(self, bytes: &[u8]) -> Pos {
        match bytes.iter().rposition(|&b| b == b'\n') {
            Some(i) => Pos {
                line: self.line + bytes.iter().filter(|&&b| b == b'\n').count() as u64,
                column: 1 + chars(&bytes[i + 1..]),
            },
            None => Pos {
                line: self.line,
                column: self.column + chars(bytes),
            },
        }
    }
}

/// The number of UTF-8 characters that start in `bytes`.
fn chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b & 0xc0 != 0x80).count() as u64
}

struct Scanner {
    /// Where the next byte is.
    at: Pos,
    /// How many bytes of a byte-order mark have been passed over at the input's start.
    bom: usize,
    state: State,
}

enum State {
    /// Between top-level values.
    Between,
    /// After an error in a line: the rest of it is passed over.
    SkipLine,
    /// A top-level value.
    Value(Partial),
    /// A top-level value has ended: it is given when the rest of its line is found empty, or
    /// another value starts.
    Tail(Record),
    /// Inside a top-level array read by element.
    Array(Array),
}

struct Array {
    /// Elements started so far.
    index: u64,
    expect: Expect,
    element: Option<Partial>,
}

#[derive(Clone, Copy, PartialEq)]
enum Expect {
    First,
    Element,
    CommaOrEnd,
    /// After an element cut short: the next element, or the array's end.
    AfterCut,
}

/// What to do after a byte.
enum Flow {
    Next,
    /// The state changed: the same byte again.
    Again,
    /// The byte is passed over without taking a place (a byte-order mark).
    Skip,
    Stop,
}

impl Scanner {
    fn feed(&mut self, buf: &[u8], each: &mut impl FnMut(Record) -> bool) -> bool {
        let mut i = 0;
        while i < buf.len() {
            // NDJSON: a whole line that is one object is parsed as it is; only a line that is not goes
            // through the scan below, which then finds what is wrong with it.
            if buf[i] == b'{'
                && self.at.column == 1
                && matches!(self.state, State::Between)
                && !(1..3).contains(&self.bom)
                && let Some(n) = buf[i..].iter().position(|&b| b == b'\n')
                && let Ok(value) = serde_json::from_slice::<Value>(&buf[i..i + n])
            {
                if !each(Record::Value {
                    line: self.at.line,
                    value,
                }) {
                    return false;
                }
                self.at.line += 1;
                i += n + 1;
                continue;
            }
            // Inside a string most bytes need no look: take them in one go.
            let taken = match &mut self.state {
                State::Value(value) => value.take_string(&buf[i..]),
                State::Array(Array {
                    element: Some(element), ..
                }) => element.take_string(&buf[i..]),
                _ => 0,
            };
            if taken > 0 {
                self.at.column += chars(&buf[i..i + taken]);
                i += taken;
                continue;
            }
            let b = buf[i];
            match self.byte(b, each) {
                Flow::Again => continue,
                Flow::Stop => return false,
                Flow::Skip => {}
                Flow::Next if b == b'\n' => {
                    self.at = Pos {
                        line: self.at.line + 1,
                        column: 1,
                    }
                }
                Flow::Next if b & 0xc0 != 0x80 => self.at.column += 1,
                Flow::Next => {}
            }
            i += 1;
        }
        true
    }

    fn byte(&mut self, b: u8, each: &mut impl FnMut(Record) -> bool) -> Flow {
        let at = self.at;
        match &mut self.state {
            State::SkipLine => {
                if b == b'\n' {
                    self.state = State::Between;
                }
                Flow::Next
            }
            State::Between => {
                if at == (Pos { line: 1, column: 1 }) && self.bom < 3 {
                    if b == BOM[self.bom] {
                        self.bom += 1;
                        return Flow::Skip;
                    }
                    if self.bom > 0 {
                        self.bom = 3;
                        return emit(each, not_utf8_at_start(), Flow::Again);
                    }
                }
                if b.is_ascii_whitespace() {
                    return Flow::Next;
                }
                if b == b'[' {
                    self.state = State::Array(Array {
                        index: 0,
                        expect: Expect::First,
                        element: None,
                    });
                    return Flow::Next;
                }
                self.state = State::Value(Partial::new(at, b, false));
                Flow::Again
            }
            State::Value(value) => match value.step(b, at) {
                Step::More => Flow::Next,
                Step::Whole => {
                    self.state = State::Tail(value.parse(None));
                    Flow::Next
                }
                Step::Ended => {
                    let record = value.parse(None);
                    self.state = State::Between;
                    emit(each, record, Flow::Again)
                }
                Step::Cut(restart) => {
                    let (record, again) = value.cut(restart, at, None);
                    self.state = State::Between;
                    self.resume(record, again, each)
                }
            },
            State::Tail(_) if b != b'\n' && b.is_ascii_whitespace() => Flow::Next,
            State::Tail(_) => {
                let State::Tail(record) = std::mem::replace(&mut self.state, State::Between) else {
                    return Flow::Again;
                };
                match b {
                    b'\n' => emit(each, record, Flow::Next),
                    // Values one after the other on a line (files joined without a final line break).
                    b'{' | b'[' => emit(each, record, Flow::Again),
                    _ => {
                        // What else follows a value on its line spoils it, as when serde_json reads the line.
                        self.state = State::SkipLine;
                        let record = match record {
                            Record::Value { line, .. } => Record::Error {
                                line,
                                message: format!("not valid JSON: trailing characters {}", place(line, at)),
                            },
                            error => error,
                        };
                        emit(each, record, Flow::Next)
                    }
                }
            }
            State::Array(array) => {
                if let Some(element) = array.element.as_mut() {
                    let (record, flow) = match element.step(b, at) {
                        Step::More => return Flow::Next,
                        Step::Whole => (element.parse(Some(array.index)), Flow::Next),
                        Step::Ended => (element.parse(Some(array.index)), Flow::Again),
                        Step::Cut(restart) => {
                            let (record, again) = element.cut(restart, at, Some(array.index));
                            // The array goes on from where the element was cut, unless a new array
                            // starts there (a writer that crashed, then started again).
                            let next = again.as_ref().and_then(|(bytes, _)| bytes.first()).unwrap_or(&b);
                            if *next == b'[' {
                                self.state = State::Between;
                            } else {
                                array.element = None;
                                array.expect = Expect::AfterCut;
                            }
                            return self.resume(record, again, each);
                        }
                    };
                    array.element = None;
                    array.expect = Expect::CommaOrEnd;
                    return emit(each, record, flow);
                }
                if b.is_ascii_whitespace() {
                    return Flow::Next;
                }
                let next_element = array.index + 1;
                let error = |what: &str| Record::Error {
                    line: next_element,
                    message: format!("not valid JSON: {what} (line {}, column {})", at.line, at.column),
                };
                match (array.expect, b) {
                    (Expect::CommaOrEnd | Expect::AfterCut, b',') => {
                        array.expect = Expect::Element;
                        Flow::Next
                    }
                    (Expect::First | Expect::CommaOrEnd | Expect::AfterCut, b']') => {
                        self.state = State::Between;
                        Flow::Next
                    }
                    (Expect::Element, b']') => {
                        self.state = State::Between;
                        emit(each, error("trailing comma"), Flow::Next)
                    }
                    (Expect::First | Expect::Element, b',') => emit(each, error("expected a value"), Flow::Next),
                    (Expect::CommaOrEnd, _) => {
                        // A comma left out: said, and the value after it is read as the next element.
                        let record = error("expected `,` or `]`");
                        if starts_value(b) {
                            array.expect = Expect::Element;
                            emit(each, record, Flow::Again)
                        } else {
                            emit(each, record, Flow::Next)
                        }
                    }
                    (Expect::First | Expect::Element | Expect::AfterCut, _) => {
                        array.index += 1;
                        array.element = Some(Partial::new(at, b, true));
                        Flow::Again
                    }
                }
            }
        }
    }

    /// After a value was cut short: its record, then its bytes from where it was cut read again.
    fn resume(&mut self, record: Record, again: Option<(Vec<u8>, Pos)>, each: &mut impl FnMut(Record) -> bool) -> Flow {
        if !each(record) {
            return Flow::Stop;
        }
        if let Some((bytes, from)) = again {
            let here = self.at;
            self.at = from;
            if !self.feed(&bytes, each) {
                return Flow::Stop;
            }
            self.at = here;
        }
        Flow::Again
    }

    /// The end of the input: what is left open is read or said.
    fn finish(mut self, each: &mut impl FnMut(Record) -> bool) {
        let end = self.at;
        let state = std::mem::replace(&mut self.state, State::Between);
        let (record, again) = match state {
            State::Between if (1..3).contains(&self.bom) => (not_utf8_at_start(), None),
            State::Between | State::SkipLine => return,
            State::Tail(record) => (record, None),
            State::Value(mut value) => value.at_end(end, None),
            State::Array(mut array) => match array.element.take() {
                Some(mut element) if !element.container => {
                    // The last element, then the array's missing end.
                    if !each(element.parse(Some(array.index))) {
                        return;
                    }
                    self.state = State::Array(array);
                    return self.finish(each);
                }
                Some(mut element) => {
                    let (record, again) = element.at_end(end, Some(array.index));
                    if again.is_some() {
                        array.expect = Expect::Element;
                    }
                    self.state = State::Array(array);
                    (record, again)
                }
                None => (
                    Record::Error {
                        line: array.index.max(1),
                        message: "the array is not closed (no `]`) at the end of the input".to_owned(),
                    },
                    None,
                ),
            },
        };
        match again {
            None => {
                each(record);
            }
            Some(_) => {
                if matches!(self.resume(record, again, each), Flow::Stop) {
                    return;
                }
                self.finish(each);
            }
        }
    }
}

/// The start of a byte-order mark, without its end.
fn not_utf8_at_start() -> Record {
    Record::Error {
        line: 1,
        message: "not UTF-8 text: an invalid byte (column 1)".to_owned(),
    }
}

fn emit(each: &mut impl FnMut(Record) -> bool, record: Record, flow: Flow) -> Flow {
    if each(record) { flow } else { Flow::Stop }
}

/// Whether `b` can start a JSON value.
fn starts_value(b: u8) -> bool {
    matches!(b, b'{' | b'[' | b'"' | b'-') || b.is_ascii_alphanumeric()
}

/// Whether `b` can be part of a number, `true`, `false` or `null` (loosely: serde_json checks them).
fn in_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.')
}

/// `(column C)` when `at` is on the record's line, else `(line L, column C)`.
fn place(record_line: u64, at: Pos) -> String {
    if at.line == record_line {
        format!("(column {})", at.column)
    } else {
        format!("(line {}, column {})", at.line, at.column)
    }
}

/// One value being read: its bytes so far, and enough of its syntax to know where it ends and
/// whether it can still be JSON.
struct Partial {
    bytes: Vec<u8>,
    start: Pos,
    /// Starts with `{` or `[` (else it is a number, string or word).
    container: bool,
    /// An element of an array read by element (else a top-level value).
    in_array: bool,
    /// The open containers, by their opening byte (counted only, past `MAX_DEPTH`).
    open: Vec<u8>,
    depth: usize,
    want: Want,
    string: bool,
    escaped: bool,
    word: bool,
    /// The syntax went wrong: from here on only the brackets are counted, to find its end.
    invalid: bool,
    /// Why the value cannot be read, found before its end.
    broken: Option<String>,
    /// Where another value may start if this one was cut short: values inside it that start
    /// with `{` or `[` in a line's first column. Those open now, outermost first;
    candidates: Vec<Candidate>,
    /// the first whole one whose other lines are all indented (a line of NDJSON, or an indented
    /// pretty-printed value; not a part of a document printed with every line in column 1);
    first: Option<(usize, Pos)>,
    /// the last whole one, while nothing but white space and at most one comma follow it;
    last: Option<(usize, Pos)>,
    last_comma: bool,
    /// and, for when the input ends in this value, the first whole one not inside another
    /// (or, below, inside one still open).
    first_outer: Option<(usize, Pos)>,
}

struct Candidate {
    /// Its offset in the bytes and its place.
    offset: usize,
    at: Pos,
    /// The depth around it.
    depth: usize,
    /// No line inside it starts in the first column.
    indented: bool,
    /// The first whole candidate inside it.
    first_inside: Option<(usize, Pos)>,
}

/// What the syntax allows next.
#[derive(Clone, Copy, PartialEq)]
enum Want {
    Value,
    ValueOrEnd,
    Key,
    KeyOrEnd,
    Colon,
    CommaOrEnd,
}

enum Step {
    /// The byte belongs to the value, which goes on.
    More,
    /// The byte ends the value.
    Whole,
    /// The value ended before the byte.
    Ended,
    /// The value was cut short: another starts at the remembered place, or (`None`) at this byte.
    Cut(Option<(usize, Pos)>),
}

impl Partial {
    fn new(start: Pos, first: u8, in_array: bool) -> Self {
        Partial {
            bytes: Vec::new(),
            start,
            container: matches!(first, b'{' | b'['),
            in_array,
            open: Vec::new(),
            depth: 0,
            want: Want::Value,
            string: false,
            escaped: false,
            word: false,
            invalid: false,
            broken: None,
            candidates: Vec::new(),
            first: None,
            last: None,
            last_comma: false,
            first_outer: None,
        }
    }

    /// Takes the bytes of a string up to the next quote, backslash or line break; returns how many.
    fn take_string(&mut self, buf: &[u8]) -> usize {
        if !self.string || self.escaped {
            return 0;
        }
        let room = MAX_RECORD_BYTES.saturating_sub(self.bytes.len());
        let end = buf
            .iter()
            .take(room)
            .position(|&b| matches!(b, b'"' | b'\\' | b'\n'))
            .unwrap_or(buf.len().min(room));
        if self.broken.is_none() {
            self.bytes.extend_from_slice(&buf[..end]);
        }
        end
    }

    fn step(&mut self, b: u8, at: Pos) -> Step {
        if self.bytes.len() >= MAX_RECORD_BYTES && self.broken.is_none() {
            if let Some(restart) = self.restart() {
                return Step::Cut(Some(restart));
            }
            self.broken = Some(format!(
                "a JSON value over {} MiB (Segment refuses events over 32 KB)",
                MAX_RECORD_BYTES >> 20
            ));
            self.bytes = Vec::new();
        }
        if !self.container {
            return self.step_scalar(b);
        }
        if self.string {
            if b == b'\n' {
                // A line break cannot be in a string: the string ends broken, and the value still
                // ends where its brackets say.
                self.string = false;
                self.escaped = false;
                self.invalid = true;
            } else {
                self.in_string(b);
            }
            self.keep(b);
            return Step::More;
        }
        let opens_line = at.column == 1 && self.depth > 0 && matches!(b, b'{' | b'[');
        let depth = self.depth;
        if self.invalid {
            // Broken already: a line that opens a value starts the next one; in an array, a line
            // that closes one ends the array.
            if opens_line || (self.in_array && at.column == 1 && b == b']') {
                return Step::Cut(None);
            }
            self.count_brackets(b, at);
        } else if !self.check(b) {
            self.invalid = true;
            if opens_line {
                // Cut short: the next value starts here, or at a whole value in the first column
                // just before (an event on the line after the cut one).
                return Step::Cut(self.restart());
            }
            self.count_brackets(b, at);
        } else if !b.is_ascii_whitespace() {
            self.note_candidates(b, at, depth, opens_line);
        }
        self.keep(b);
        if self.depth == 0 { Step::Whole } else { Step::More }
    }

    /// A number, string or word: it ends at its line's end (at the top level), or where an
    /// element ends.
    fn step_scalar(&mut self, b: u8) -> Step {
        if b == b'\n' {
            return Step::Ended;
        }
        if self.string {
            self.in_string(b);
        } else if self.in_array && (b == b',' || b == b']' || b.is_ascii_whitespace()) {
            return Step::Ended;
        } else if b == b'"' {
            self.string = true;
        }
        self.keep(b);
        Step::More
    }

    /// A byte inside a string, not a line break: escapes, and the closing quote.
    fn in_string(&mut self, b: u8) {
        if self.escaped {
            self.escaped = false;
        } else if b == b'\\' {
            self.escaped = true;
        } else if b == b'"' {
            self.string = false;
        }
    }

    /// Whether `b` can come next in JSON; moves the syntax on.
    fn check(&mut self, b: u8) -> bool {
        if self.word {
            if in_word(b) {
                return true;
            }
            self.word = false;
        }
        let want = self.want;
        let value = matches!(want, Want::Value | Want::ValueOrEnd);
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => true,
            b'{' | b'[' if value => {
                self.open_container(b);
                true
            }
            b'}' | b']' => {
                let ok = match (self.open.last(), want) {
                    (Some(b'{'), Want::KeyOrEnd | Want::CommaOrEnd) => b == b'}',
                    (Some(b'['), Want::ValueOrEnd | Want::CommaOrEnd) => b == b']',
                    _ => false,
                };
                if ok {
                    self.open.pop();
                    self.depth -= 1;
                    self.want = Want::CommaOrEnd;
                }
                ok
            }
            b',' if want == Want::CommaOrEnd && self.depth > 0 => {
                self.want = if self.open.last() == Some(&b'{') {
                    Want::Key
                } else {
                    Want::Value
                };
                true
            }
            b':' if want == Want::Colon => {
                self.want = Want::Value;
                true
            }
            b'"' if value || matches!(want, Want::Key | Want::KeyOrEnd) => {
                self.string = true;
                self.want = if value { Want::CommaOrEnd } else { Want::Colon };
                true
            }
            _ if value && in_word(b) => {
                self.word = true;
                self.want = Want::CommaOrEnd;
                true
            }
            _ => false,
        }
    }

    fn open_container(&mut self, b: u8) {
        self.depth += 1;
        self.open.push(b);
        self.want = if b == b'{' { Want::KeyOrEnd } else { Want::ValueOrEnd };
        if self.depth > MAX_DEPTH {
            self.too_deep(self.start.after(&self.bytes));
        }
    }

    /// Once the syntax has gone wrong: brackets outside strings, to find where the value ends.
    fn count_brackets(&mut self, b: u8, at: Pos) {
        match b {
            b'"' => self.string = true,
            b'{' | b'[' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    self.too_deep(at);
                }
            }
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
    }

    fn too_deep(&mut self, at: Pos) {
        self.invalid = true;
        if self.broken.is_none() {
            self.broken = Some(format!(
                "not valid JSON: nested more than {MAX_DEPTH} levels deep {}",
                self.place(at)
            ));
            self.bytes = Vec::new();
        }
    }

    fn keep(&mut self, b: u8) {
        if self.broken.is_none() {
            self.bytes.push(b);
        }
    }

    /// Keeps `candidates`, `first` and `last` up to date after the byte `b`, valid here; `depth`
    /// is the depth before it, and `opens_line` whether it opens a value in a line's first column.
    fn note_candidates(&mut self, b: u8, at: Pos, depth: usize, opens_line: bool) {
        if b == b',' && self.last.is_some() && !self.last_comma {
            self.last_comma = true;
        } else {
            self.last = None;
            self.last_comma = false;
        }
        let closes = self.candidates.last().is_some_and(|c| c.depth == self.depth);
        if at.column == 1 {
            // A line inside the open candidates starts in the first column (their own last
            // bracket aside).
            let inside = self.candidates.len() - usize::from(closes);
            for c in &mut self.candidates[..inside] {
                c.indented = false;
            }
        }
        if closes && let Some(c) = self.candidates.pop() {
            if c.indented {
                self.first.get_or_insert((c.offset, c.at));
            }
            self.last = Some((c.offset, c.at));
            match self.candidates.last_mut() {
                Some(open) => open.first_inside.get_or_insert((c.offset, c.at)),
                None => self.first_outer.get_or_insert((c.offset, c.at)),
            };
        }
        if opens_line {
            self.candidates.push(Candidate {
                offset: self.bytes.len(),
                at,
                depth,
                indented: true,
                first_inside: None,
            });
        }
    }

    /// Where to read again if this value was cut short (see `candidates`).
    fn restart(&self) -> Option<(usize, Pos)> {
        self.first.or(self.last)
    }

    /// The record of a value cut short, and the bytes to read again (from where another value
    /// starts); with `restart` `None`, reading goes on from the byte at `at`.
    fn cut(&mut self, restart: Option<(usize, Pos)>, at: Pos, index: Option<u64>) -> (Record, Option<(Vec<u8>, Pos)>) {
        let line = index.unwrap_or(self.start.line);
        let message = match (restart, self.broken.take()) {
            (_, Some(message)) => message,
            (Some((_, from)), None) => format!("the JSON value is cut short: line {} starts another one", from.line),
            (None, None) => self
                .syntax_error()
                .unwrap_or_else(|| format!("the JSON value is cut short: line {} starts another one", at.line)),
        };
        let again = restart.map(|(offset, from)| (self.bytes.split_off(offset), from));
        (Record::Error { line, message }, again)
    }

    /// The record of a whole value; `index` is its element number in an array read by element.
    fn parse(&mut self, index: Option<u64>) -> Record {
        let line = index.unwrap_or(self.start.line);
        if let Some(message) = self.broken.take() {
            return Record::Error { line, message };
        }
        match serde_json::from_slice(&self.bytes) {
            Ok(value) => Record::Value { line, value },
            Err(e) => Record::Error {
                line,
                message: self.describe(&e),
            },
        }
    }

    /// The record of a value the input ended in, and what to read again if it was cut short.
    fn at_end(&mut self, end: Pos, index: Option<u64>) -> (Record, Option<(Vec<u8>, Pos)>) {
        if !self.container {
            return (self.parse(index), None);
        }
        let outermost = || {
            let inside = self.candidates.iter().filter_map(|c| c.first_inside);
            self.first_outer
                .into_iter()
                .chain(inside)
                .min_by_key(|(offset, _)| *offset)
        };
        if let Some(restart) = self.restart().or_else(outermost)
            && !self.invalid
        {
            return self.cut(Some(restart), end, index);
        }
        let line = index.unwrap_or(self.start.line);
        let message = self
            .broken
            .take()
            .or_else(|| self.syntax_error())
            .unwrap_or_else(|| "the JSON value is not complete at the end of the input".to_owned());
        (Record::Error { line, message }, None)
    }

    /// What serde_json finds wrong in the bytes so far, unless only that they end too soon.
    fn syntax_error(&self) -> Option<String> {
        match serde_json::from_slice::<Value>(&self.bytes) {
            Err(e) if !e.is_eof() => Some(self.describe(&e)),
            _ => None,
        }
    }

    /// What serde_json found wrong, placed in the input.
    fn describe(&self, e: &serde_json::Error) -> String {
        if let Err(bad) = std::str::from_utf8(&self.bytes) {
            let at = self.start.after(&self.bytes[..bad.valid_up_to()]);
            return format!("not UTF-8 text: an invalid byte {}", self.place(at));
        }
        let text = e.to_string();
        // serde_json appends " at line L column C", counted in bytes from the value's start.
        let text = text.split(" at line ").next().unwrap_or(&text);
        let text = match text {
            "recursion limit exceeded" => "nested more than 127 levels deep",
            // A word that is not true, false or null.
            "expected ident" => "expected a value",
            text => text,
        };
        let mut line_start = 0;
        for _ in 1..e.line() {
            match self.bytes[line_start..].iter().position(|&b| b == b'\n') {
                Some(i) => line_start += i + 1,
                None => break,
            }
        }
        // Column 0 is the line break that ends the line before.
        let column_end = match e.column() {
            0 => line_start.saturating_sub(1),
            column => line_start + column - 1,
        }
        .min(self.bytes.len());
        let at = self.start.after(&self.bytes[..column_end]);
        format!("not valid JSON: {text} {}", self.place(at))
    }

    /// `(column C)` on the line the record names, else `(line L, column C)`; an element's record
    /// gives its number, not its line, so its place always has the line.
    fn place(&self, at: Pos) -> String {
        if self.in_array {
            format!("(line {}, column {})", at.line, at.column)
        } else {
            place(self.start.line, at)
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
        let nest = |levels: usize| format!("{{\"a\":{}{}}}", "[".repeat(levels - 1), "]".repeat(levels - 1));
        let got = read(&format!("{{\"x\":1}}\n{}\n{}\n{{\"y\":2}}\n", nest(127), nest(128)));
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[1].starts_with("2: {\"a\":[[[[[["), "{got:?}");
        assert_eq!(
            got[2],
            "3: error: not valid JSON: nested more than 127 levels deep (column 132)"
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
                "2: error: not valid JSON: expected value (line 1, column 16)",
                "2: error: the array is not closed (no `]`) at the end of the input",
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
        // Wherever it is, a top-level array is read by element.
        assert_eq!(read("{\"a\":1}\n[2]\n"), vec!["1: {\"a\":1}", "1: 2"]);
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
                "4: error: not valid JSON: expected `,` or `]` (line 4, column 1)",
                "4: error: the JSON value is cut short: line 5 starts another one",
                "1: 5",
            ]
        );
        // Broken inside: one error for the element, and the elements after it are read.
        let got = read("[\n  {\"a\":1},\n  {\"b\": x,\n   \"c\": 3},\n  {\"d\":4}\n]\n{\"e\":5}\n");
        assert_eq!(
            got,
            vec![
                "1: {\"a\":1}",
                "2: error: not valid JSON: expected value (line 3, column 9)",
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
                "1: error: the array is not closed (no `]`) at the end of the input",
            ]
        );
    }

    #[test]
    fn values_may_follow_each_other_on_a_line_but_nothing_else() {
        assert_eq!(
            read("{\"a\":1} {\"b\":2}\n{\"c\":3}  \n{\n\"d\":4\n} x\n{\"e\":5} 6\n"),
            vec![
                "1: {\"a\":1}",
                "1: {\"b\":2}",
                "2: {\"c\":3}",
                "3: error: not valid JSON: trailing characters (line 5, column 3)",
                "6: error: not valid JSON: trailing characters (column 9)",
            ]
        );
    }

    #[test]
    fn valid_json_is_never_split() {
        // Every line in the first column (Python's `indent=0`): the inner object is not an event.
        let text = "{\n\"type\": \"track\",\n\"properties\": {\n\"items\": [\n{\n\"event\": \"inner\"\n},\n[\n1\n]\n]\n}\n}\n{\"b\":2}\n";
        assert_eq!(
            read(text),
            vec![
                "1: {\"type\":\"track\",\"properties\":{\"items\":[{\"event\":\"inner\"},[1]]}}",
                "14: {\"b\":2}",
            ]
        );
    }

    #[test]
    fn a_value_cut_short_gives_back_the_events_after_it() {
        // Cut inside a string, a number, after a key, after a comma, after `[`: the next lines are read.
        for cut in [
            r#"{"type":"track","event":"X"#,
            r#"{"type":"track","n":12"#,
            r#"{"type":"track","event":"#,
            r#"{"type":"track","#,
            r#"{"type":"track","list":["#,
            r#"{"a":"b\"#,
        ] {
            let got = read(&format!("{cut}\n{{\"b\":2}}\n{{\"c\":3}}\n"));
            assert_eq!(got.len(), 3, "{cut}: {got:?}");
            assert!(got[0].starts_with("1: error: "), "{cut}: {got:?}");
            assert_eq!(got[1..], ["2: {\"b\":2}", "3: {\"c\":3}"], "{cut}");
        }
        // The last event after the cut, and a pretty-printed one.
        assert_eq!(
            read("{\"l\":[\n{\"b\":2}\n"),
            vec![
                "1: error: the JSON value is cut short: line 2 starts another one",
                "2: {\"b\":2}"
            ]
        );
        assert_eq!(
            read("{\"l\":[\n{\n  \"b\": 2\n}\n{\"c\":3}\n"),
            vec![
                "1: error: the JSON value is cut short: line 2 starts another one",
                "2: {\"b\":2}",
                "5: {\"c\":3}",
            ]
        );
        // In an array, the elements after a cut element are read.
        assert_eq!(
            read("[{\"a\":1},\n{\"type\":\"track\",\"event\":\"X\n{\"b\":2},\n{\"c\":3}]\n"),
            vec![
                "1: {\"a\":1}",
                "2: error: not valid JSON: control character (\\u0000-\\u001F) found while parsing a string (line 2, column 27)",
                "3: {\"b\":2}",
                "4: {\"c\":3}",
            ]
        );
        assert_eq!(
            read("[{\"a\":1},\n{\"l\":[\n{\"b\":2},\n{\"c\":3}]\n"),
            vec![
                "1: {\"a\":1}",
                "2: error: the JSON value is cut short: line 3 starts another one",
                "3: {\"b\":2}",
                "4: {\"c\":3}",
            ]
        );
    }

    #[test]
    fn a_cut_in_an_array_costs_no_event_after_it() {
        // The writer crashed mid-element and started a new array, or closed this one.
        assert_eq!(
            read("[{\"a\":1},\n{\"type\":\"tr\n[{\"b\":2},\n{\"c\":3}]\n{\"d\":4}\n"),
            vec![
                "1: {\"a\":1}",
                "2: error: not valid JSON: control character (\\u0000-\\u001F) found while parsing a string (line 2, column 12)",
                "1: {\"b\":2}",
                "2: {\"c\":3}",
                "5: {\"d\":4}",
            ]
        );
        assert_eq!(
            read("[{\"a\":1},\n{\"type\":\"tr\n]\n[{\"b\":2}]\n"),
            vec![
                "1: {\"a\":1}",
                "2: error: not valid JSON: control character (\\u0000-\\u001F) found while parsing a string (line 2, column 12)",
                "1: {\"b\":2}",
            ]
        );
        // Elements one a line, with commas: the cut element takes none of them.
        assert_eq!(
            read("[{\"a\":1},\n{\"l\":[\n{\"b\":2},\n{\"c\":3}\n]\n"),
            vec![
                "1: {\"a\":1}",
                "2: error: the JSON value is cut short: line 3 starts another one",
                "3: {\"b\":2}",
                "4: {\"c\":3}",
            ]
        );
    }

    #[test]
    fn a_cut_in_a_document_with_every_line_in_the_first_column_invents_no_event() {
        // json.dumps(indent=0): the objects inside are not events, in an array or not.
        let inner = "{\n\"type\": \"track\",\n\"event\": \"Order\",\n\"p\": [\n{\n\"type\": \"track\",\n\"event\": \"Phantom\"\n}\n]\n";
        let next = "{\n\"event\": \"B\"\n}";
        assert_eq!(
            read(&format!("{inner}{next}\n")),
            vec![
                "1: error: the JSON value is cut short: line 10 starts another one",
                "10: {\"event\":\"B\"}"
            ]
        );
        assert_eq!(
            read(&format!("[\n{inner}{next},\n{next}\n]\n")),
            vec![
                "1: error: the JSON value is cut short: line 11 starts another one",
                "2: {\"event\":\"B\"}",
                "3: {\"event\":\"B\"}",
            ]
        );
        // Cut with the next such document right after it: that document is read.
        assert_eq!(
            read(&format!("{{\n\"a\": [\n{next}\n{next}\n")),
            vec![
                "1: error: the JSON value is cut short: line 3 starts another one",
                "3: {\"event\":\"B\"}",
                "6: {\"event\":\"B\"}",
            ]
        );
    }

    #[test]
    fn a_comma_left_out_of_an_array_costs_no_element() {
        assert_eq!(
            read("[{\"a\":1} {\"b\":2},{\"c\":3}]\n[,1,]\n"),
            vec![
                "1: {\"a\":1}",
                "2: error: not valid JSON: expected `,` or `]` (line 1, column 10)",
                "2: {\"b\":2}",
                "3: {\"c\":3}",
                "1: error: not valid JSON: expected a value (line 2, column 2)",
                "1: 1",
                "2: error: not valid JSON: trailing comma (line 2, column 5)",
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_is_passed_over_and_columns_count_characters() {
        assert_eq!(
            read("\u{feff}{\"a\":1}\n{\"é\":\"ü\"} x\n"),
            vec![
                "1: {\"a\":1}",
                "2: error: not valid JSON: trailing characters (column 11)"
            ]
        );
        assert_eq!(read("\u{feff}[{\"a\":1}]"), vec!["1: {\"a\":1}"]);
        // Only a whole mark is passed over.
        let mut part = b"\xef\xbb".to_vec();
        part.extend_from_slice(b"{\"a\":1}\n");
        let mut got = Vec::new();
        read_records(part.as_slice(), |r| {
            got.push(matches!(r, Record::Value { .. }));
            true
        })
        .unwrap();
        assert_eq!(got, vec![false, true]);
        assert_eq!(
            read("{\"é\":\"ü\",,}\n"),
            vec!["1: error: not valid JSON: key must be a string (column 10)"]
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
