//! Reading events: JSON, a JSON array or NDJSON, from files or stdin, one
//! record at a time so memory does not grow with the input.
//!
//! A line that is not valid JSON becomes an error record naming its line and
//! reading goes on with the next line. A value spread over several lines (a
//! pretty-printed object) is read whole. When the input starts with `[`, the
//! array's elements are read one by one.

use std::io::{self, BufRead};

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

/// One thing read from the input: an event, or why a line could not be read.
pub enum Record {
    /// A JSON value, and the line where it starts (in a JSON array: its element number, from 1).
    Value { line: u64, value: Value },
    /// Input that is not JSON.
    Error { line: u64, message: String },
}

/// Largest value we accumulate over several lines before giving up on it.
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// Reads records from `reader`, calling `each` for every one; stops early when `each` returns false.
pub fn read_records(mut reader: impl BufRead, mut each: impl FnMut(Record) -> bool) -> io::Result<()> {
    let first = loop {
        let buf = reader.fill_buf()?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break Some(buf[i]),
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    };
    match first {
        None => Ok(()),
        Some(b'[') => read_array(reader, each),
        Some(_) => read_lines(reader, &mut each),
    }
}

fn read_lines(mut reader: impl BufRead, each: &mut impl FnMut(Record) -> bool) -> io::Result<()> {
    let mut line_no = 0u64;
    let mut pending = Pending::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if pending.bytes.is_empty() {
            if !start_line(&line, line_no, &mut pending, each) {
                return Ok(());
            }
            continue;
        }
        pending.bytes.extend_from_slice(&line);
        match serde_json::from_slice::<Value>(&pending.bytes) {
            Ok(value) => {
                pending.bytes.clear();
                if !each(Record::Value {
                    line: pending.start,
                    value,
                }) {
                    return Ok(());
                }
            }
            Err(e) if e.is_eof() && pending.bytes.len() < MAX_RECORD_BYTES => {}
            Err(e) => {
                pending.bytes.clear();
                let starts_value = line
                    .trim_ascii_start()
                    .first()
                    .is_some_and(|b| matches!(b, b'{' | b'['));
                let message = if e.is_eof() {
                    "a JSON value over 64 MiB".to_owned()
                } else if starts_value {
                    format!("the JSON value is cut short: line {line_no} starts another one")
                } else {
                    describe(&e, &line, pending.start)
                };
                if !each(Record::Error {
                    line: pending.start,
                    message,
                }) {
                    return Ok(());
                }
                // A line cut short (a writer that crashed) must not take the next event with it:
                // a line that opens a new value is read on its own.
                if line
                    .trim_ascii_start()
                    .first()
                    .is_some_and(|b| matches!(b, b'{' | b'['))
                    && !start_line(&line, line_no, &mut pending, each)
                {
                    return Ok(());
                }
            }
        }
    }
    if !pending.bytes.is_empty() {
        each(Record::Error {
            line: pending.start,
            message: "the JSON value is not complete at the end of the input".to_owned(),
        });
    }
    Ok(())
}

/// A value read over several lines: its bytes so far and the line where it starts.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    start: u64,
}

/// Reads a line that is not the continuation of a value; returns false when `each` says stop.
fn start_line(line: &[u8], line_no: u64, pending: &mut Pending, each: &mut impl FnMut(Record) -> bool) -> bool {
    if line.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(value) => each(Record::Value { line: line_no, value }),
        // The value may go on over the next lines (pretty-printed JSON).
        Err(e) if e.is_eof() => {
            pending.bytes.extend_from_slice(line);
            pending.start = line_no;
            true
        }
        Err(e) => each(Record::Error {
            line: line_no,
            message: describe(&e, line, line_no),
        }),
    }
}

/// The error of a value that starts at line `start`; `last` is the last line read into it.
fn describe(e: &serde_json::Error, last: &[u8], start: u64) -> String {
    if let Err(bad) = std::str::from_utf8(last) {
        let column = String::from_utf8_lossy(&last[..bad.valid_up_to()]).chars().count() + 1;
        return format!("not UTF-8 text (invalid byte at column {column})");
    }
    let text = e.to_string();
    // serde_json appends " at line 1 column N"; the caller reports the line itself.
    let text = text.split(" at line ").next().unwrap_or(&text);
    let text = if text == "recursion limit exceeded" {
        "nested more than 128 levels deep"
    } else {
        text
    };
    let line = start + e.line() as u64 - 1;
    if line == start {
        format!("not valid JSON: {text} (column {})", e.column())
    } else {
        format!("not valid JSON: {text} (line {line}, column {})", e.column())
    }
}

/// Streams the elements of a top-level JSON array.
fn read_array(reader: impl BufRead, mut each: impl FnMut(Record) -> bool) -> io::Result<()> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = de.deserialize_seq(ArrayVisitor { each: &mut each });
    if let Err(e) = result {
        if e.is_io() {
            return Err(io::Error::other(e));
        }
        if !e.to_string().contains(STOPPED) {
            each(Record::Error {
                line: e.line() as u64,
                message: describe(&e, b"", e.line() as u64),
            });
        }
    }
    Ok(())
}

const STOPPED: &str = "reading stopped";

struct ArrayVisitor<'a, F> {
    each: &'a mut F,
}

impl<'de, F: FnMut(Record) -> bool> Visitor<'de> for ArrayVisitor<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of events")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0u64;
        while let Some(value) = seq.next_element_seed(PlainValue)? {
            index += 1;
            if !(self.each)(Record::Value { line: index, value }) {
                return Err(serde::de::Error::custom(STOPPED));
            }
        }
        Ok(())
    }
}

struct PlainValue;

impl<'de> DeserializeSeed<'de> for PlainValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
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
        assert_eq!(got, vec!["not UTF-8 text (invalid byte at column 10)"]);
        let deep = read(&format!("{}\n", "[".repeat(200)));
        assert!(
            deep[0].ends_with("not valid JSON: nested more than 128 levels deep (column 128)"),
            "{deep:?}"
        );
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
        assert_eq!(bad.len(), 2);
        assert!(bad[1].contains("error"), "{bad:?}");
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
