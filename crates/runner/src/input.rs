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
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_start = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if pending.is_empty() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Value>(&line) {
                Ok(value) => {
                    if !each(Record::Value { line: line_no, value }) {
                        return Ok(());
                    }
                }
                // The value may go on over the next lines (pretty-printed JSON).
                Err(e) if e.is_eof() => {
                    pending.extend_from_slice(&line);
                    pending_start = line_no;
                }
                Err(e) => {
                    if !each(Record::Error {
                        line: line_no,
                        message: describe(&e),
                    }) {
                        return Ok(());
                    }
                }
            }
            continue;
        }
        pending.extend_from_slice(&line);
        match serde_json::from_slice::<Value>(&pending) {
            Ok(value) => {
                pending.clear();
                if !each(Record::Value {
                    line: pending_start,
                    value,
                }) {
                    return Ok(());
                }
            }
            Err(e) if e.is_eof() && pending.len() < MAX_RECORD_BYTES => {}
            Err(e) => {
                pending.clear();
                let message = if e.is_eof() {
                    "a JSON value over 64 MiB".to_owned()
                } else {
                    describe(&e)
                };
                if !each(Record::Error {
                    line: pending_start,
                    message,
                }) {
                    return Ok(());
                }
            }
        }
    }
    if !pending.is_empty() {
        each(Record::Error {
            line: pending_start,
            message: "the JSON value is not complete at the end of the input".to_owned(),
        });
    }
    Ok(())
}

fn describe(e: &serde_json::Error) -> String {
    // serde_json appends " at line 1 column N"; the caller reports the line itself.
    let text = e.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
    format!("not valid JSON: {text} (column {})", e.column())
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
                message: describe(&e),
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
