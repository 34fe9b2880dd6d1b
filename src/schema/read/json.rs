//! A JSON reader for records: walks JSON text once, slotting each record's keys into a
//! [`RawRecord`] by the schema, borrowing strings that have no escapes, and building no value tree
//! (a record's nested arrays and objects are checked and skipped).
//!
//! It accepts exactly the JSON of RFC 8259, as `serde_json` does (the tests hold it to that), with
//! one leniency: an escaped lone surrogate (`"\ud800"`) reads as U+FFFD, as a JS string holding one
//! reads when it crosses into the addon. Errors say what was expected where, in `serde_json`'s
//! words.

use std::borrow::Cow;
use std::fmt;

use super::super::value::{RawRecord, RawValue};
use super::super::Schema;

/// What is wrong, and the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
  pub what: &'static str,
  pub offset: usize,
}

impl SyntaxError {
  /// The error with its place as a line and a column of `text`, counted as `serde_json` counts
  /// them: the column is how many bytes of the line were read, the one at fault included.
  pub fn describe(&self, text: &[u8]) -> String {
    let read = if self.what.starts_with("EOF") { self.offset } else { self.offset + 1 };
    let read = &text[..read.min(text.len())];
    let line = 1 + memchr::memchr_iter(b'\n', read).count();
    let column = read.len() - memchr::memrchr(b'\n', read).map_or(0, |n| n + 1);
    format!("{} at line {line} column {column}", self.what)
  }
}

/// One element of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
  /// An object, read into the record.
  Record,
  /// Anything else; says what it is ("a number").
  Other(&'static str),
}

impl fmt::Display for Element {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match self {
      Element::Record => f.write_str("an object"),
      Element::Other(kind) => f.write_str(kind),
    }
  }
}

/// The error of input that ends inside a container closed by `close`.
fn eof_in(close: u8) -> &'static str {
  if close == b']' {
    "EOF while parsing a list"
  } else {
    "EOF while parsing an object"
  }
}

/// A cursor over JSON text.
pub struct Cursor<'a> {
  bytes: &'a [u8],
  pos: usize,
}

type Parse<T> = Result<T, SyntaxError>;

impl<'a> Cursor<'a> {
  /// A cursor at byte `pos` of `bytes`.
  pub fn new(bytes: &'a [u8], pos: usize) -> Self {
    Cursor { bytes, pos }
  }

  /// The byte offset of the cursor.
  pub fn pos(&self) -> usize {
    self.pos
  }

  /// Moves past whitespace; the next byte, if any.
  pub fn skip_whitespace(&mut self) -> Option<u8> {
    while let Some(&byte) = self.bytes.get(self.pos) {
      if !matches!(byte, b' ' | b'\n' | b'\t' | b'\r') {
        return Some(byte);
      }
      self.pos += 1;
    }
    None
  }

  /// Moves past the next byte.
  pub fn bump(&mut self) {
    self.pos += 1;
  }

  /// Moves past `byte`, which must come next (after whitespace).
  pub fn expect(&mut self, byte: u8, what: &'static str, eof: &'static str) -> Parse<()> {
    match self.skip_whitespace() {
      Some(next) if next == byte => {
        self.pos += 1;
        Ok(())
      }
      Some(_) => Err(self.fail(what)),
      None => Err(self.fail(eof)),
    }
  }

  /// Fails unless only whitespace is left.
  pub fn end(&mut self) -> Parse<()> {
    match self.skip_whitespace() {
      None => Ok(()),
      Some(_) => Err(self.fail("trailing characters")),
    }
  }

  pub fn fail(&self, what: &'static str) -> SyntaxError {
    SyntaxError { what, offset: self.pos }
  }

  /// Reads one element (the cursor is at its first byte, or whitespace before it); an object's
  /// keys go into `record`, which must be empty.
  pub fn element(&mut self, schema: &Schema, record: &mut RawRecord<'a>) -> Parse<Element> {
    match self.skip_whitespace() {
      Some(b'{') => {
        self.pos += 1;
        self.record(schema, record)?;
        Ok(Element::Record)
      }
      Some(_) => match self.value()? {
        RawValue::Other(kind) => Ok(Element::Other(kind)),
        value => Ok(Element::Other(value.kind())),
      },
      None => Err(self.fail("EOF while parsing a value")),
    }
  }

  /// Reads a record's entries (the cursor is after its `{`).
  fn record(&mut self, schema: &Schema, record: &mut RawRecord<'a>) -> Parse<()> {
    if self.skip_whitespace() == Some(b'}') {
      self.pos += 1;
      return Ok(());
    }
    loop {
      match self.skip_whitespace() {
        Some(b'"') => {}
        Some(_) => return Err(self.fail("key must be a string")),
        None => return Err(self.fail("EOF while parsing an object")),
      }
      let key = self.string()?;
      self.expect(b':', "expected `:`", "EOF while parsing an object")?;
      let value = self.value()?;
      record.insert(schema, &key, value);
      match self.skip_whitespace() {
        Some(b',') => {
          self.pos += 1;
          if self.skip_whitespace() == Some(b'}') {
            return Err(self.fail("trailing comma"));
          }
        }
        Some(b'}') => {
          self.pos += 1;
          return Ok(());
        }
        Some(_) => return Err(self.fail("expected `,` or `}`")),
        None => return Err(self.fail("EOF while parsing an object")),
      }
    }
  }

  /// Reads a value: scalars as they are, arrays and objects checked and skipped.
  fn value(&mut self) -> Parse<RawValue<'a>> {
    Ok(match self.skip_whitespace() {
      Some(b'"') => RawValue::String(self.string()?),
      Some(b'-' | b'0'..=b'9') => RawValue::Number(self.number()?),
      Some(b't') => self.literal(b"true", RawValue::Bool(true))?,
      Some(b'f') => self.literal(b"false", RawValue::Bool(false))?,
      Some(b'n') => self.literal(b"null", RawValue::Null)?,
      Some(b'[') => {
        self.skip_nested()?;
        RawValue::Other("an array")
      }
      Some(b'{') => {
        self.skip_nested()?;
        RawValue::Other("an object")
      }
      Some(_) => return Err(self.fail("expected value")),
      None => return Err(self.fail("EOF while parsing a value")),
    })
  }

  /// Checks and skips an array or object (the cursor is at its opening bracket) however deep it
  /// nests, with a stack of open brackets rather than recursion (as `serde_json` skips values).
  fn skip_nested(&mut self) -> Parse<()> {
    let mut closers = Vec::new();
    'value: loop {
      // At the start of a value.
      let close = match self.skip_whitespace() {
        Some(b'[') => b']',
        Some(b'{') => b'}',
        _ => {
          self.value()?;
          0
        }
      };
      if close != 0 {
        self.pos += 1;
        closers.push(close);
        match self.skip_whitespace() {
          Some(next) if next == close => {
            self.pos += 1;
            closers.pop();
          }
          Some(_) => {
            self.key_if_object(close)?;
            continue 'value;
          }
          None => return Err(self.fail(eof_in(close))),
        }
      }
      // After a value: close brackets, or go on to the next entry.
      while let Some(&close) = closers.last() {
        match self.skip_whitespace() {
          Some(b',') => {
            self.pos += 1;
            if self.skip_whitespace() == Some(close) {
              return Err(self.fail("trailing comma"));
            }
            self.key_if_object(close)?;
            continue 'value;
          }
          Some(next) if next == close => {
            self.pos += 1;
            closers.pop();
          }
          Some(_) if close == b']' => return Err(self.fail("expected `,` or `]`")),
          Some(_) => return Err(self.fail("expected `,` or `}`")),
          None => return Err(self.fail(eof_in(close))),
        }
      }
      return Ok(());
    }
  }

  /// In an object (closed by `close`), reads an entry's key and colon.
  fn key_if_object(&mut self, close: u8) -> Parse<()> {
    if close != b'}' {
      return Ok(());
    }
    match self.skip_whitespace() {
      Some(b'"') => drop(self.string()?),
      Some(_) => return Err(self.fail("key must be a string")),
      None => return Err(self.fail("EOF while parsing an object")),
    }
    self.expect(b':', "expected `:`", "EOF while parsing an object")
  }

  fn literal(&mut self, word: &[u8], value: RawValue<'a>) -> Parse<RawValue<'a>> {
    let rest = &self.bytes[self.pos..];
    if rest.starts_with(word) {
      self.pos += word.len();
      return Ok(value);
    }
    // Point at the first byte that differs, as serde_json does.
    let same = rest.iter().zip(word).take_while(|(a, b)| a == b).count();
    self.pos += same;
    Err(self.fail(if same == rest.len() { "EOF while parsing a value" } else { "expected ident" }))
  }

  /// Reads a number (the cursor is at its first byte). Integers convert as `serde_json` converts
  /// them (to i64 or u64, then to f64); others are correctly rounded.
  fn number(&mut self) -> Parse<f64> {
    let start = self.pos;
    let negative = self.bytes[self.pos] == b'-';
    self.pos += negative as usize;
    let mut whole: u64 = 0;
    let mut exact = true;
    match self.bytes.get(self.pos) {
      Some(b'0') => {
        self.pos += 1;
        if matches!(self.bytes.get(self.pos), Some(b'0'..=b'9')) {
          return Err(self.fail("invalid number"));
        }
      }
      Some(b'1'..=b'9') => {
        while let Some(&digit @ b'0'..=b'9') = self.bytes.get(self.pos) {
          match whole.checked_mul(10).and_then(|w| w.checked_add(u64::from(digit - b'0'))) {
            Some(w) => whole = w,
            None => exact = false,
          }
          self.pos += 1;
        }
      }
      Some(_) => return Err(self.fail("invalid number")),
      None => return Err(self.fail("EOF while parsing a value")),
    }
    if self.bytes.get(self.pos) == Some(&b'.') {
      self.pos += 1;
      self.digits()?;
      exact = false;
    }
    if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
      self.pos += 1;
      if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
        self.pos += 1;
      }
      self.digits()?;
      exact = false;
    }
    if exact && (!negative || whole <= i64::MAX as u64 + 1) {
      return Ok(if negative { -(whole as f64) } else { whole as f64 });
    }
    let text = std::str::from_utf8(&self.bytes[start..self.pos]).expect("ASCII digits");
    match text.parse::<f64>() {
      Ok(value) if value.is_finite() => Ok(value),
      _ => Err(SyntaxError { what: "number out of range", offset: self.pos - 1 }),
    }
  }

  fn digits(&mut self) -> Parse<()> {
    let start = self.pos;
    while matches!(self.bytes.get(self.pos), Some(b'0'..=b'9')) {
      self.pos += 1;
    }
    match self.bytes.get(self.pos) {
      _ if self.pos > start => Ok(()),
      Some(_) => Err(self.fail("invalid number")),
      None => Err(self.fail("EOF while parsing a value")),
    }
  }

  /// Reads a string (the cursor is at its opening quote): borrowed unless it has escapes.
  pub fn string(&mut self) -> Parse<Cow<'a, str>> {
    self.pos += 1;
    let start = self.pos;
    let ascii = self.skip_plain();
    match self.bytes.get(self.pos) {
      Some(b'"') => {
        let text = self.text(start, self.pos, ascii)?;
        self.pos += 1;
        Ok(Cow::Borrowed(text))
      }
      Some(b'\\') => {
        let mut owned = self.text(start, self.pos, ascii)?.to_string();
        self.escaped(&mut owned)?;
        Ok(Cow::Owned(owned))
      }
      Some(_) => Err(self.fail("control character (\\u0000-\\u001F) found while parsing a string")),
      None => Err(self.fail("EOF while parsing a string")),
    }
  }

  /// Reads the rest of a string from its first escape on, into `out`.
  fn escaped(&mut self, out: &mut String) -> Parse<()> {
    loop {
      match self.bytes.get(self.pos) {
        Some(b'"') => {
          self.pos += 1;
          return Ok(());
        }
        Some(b'\\') => {
          self.pos += 1;
          self.escape(out)?;
        }
        Some(_) => {
          return Err(self.fail("control character (\\u0000-\\u001F) found while parsing a string"))
        }
        None => return Err(self.fail("EOF while parsing a string")),
      }
      let start = self.pos;
      let ascii = self.skip_plain();
      out.push_str(self.text(start, self.pos, ascii)?);
    }
  }

  /// Decodes one escape (the cursor is after its backslash).
  fn escape(&mut self, out: &mut String) -> Parse<()> {
    let Some(&byte) = self.bytes.get(self.pos) else {
      return Err(self.fail("EOF while parsing a string"));
    };
    self.pos += 1;
    out.push(match byte {
      b'"' => '"',
      b'\\' => '\\',
      b'/' => '/',
      b'b' => '\u{8}',
      b'f' => '\u{c}',
      b'n' => '\n',
      b'r' => '\r',
      b't' => '\t',
      b'u' => self.unicode_escape()?,
      _ => {
        self.pos -= 1;
        return Err(self.fail("invalid escape"));
      }
    });
    Ok(())
  }

  /// Decodes `XXXX` of `\uXXXX` (and of a low surrogate's `\uXXXX` after a high one).
  fn unicode_escape(&mut self) -> Parse<char> {
    let unit = self.hex4()?;
    if !(0xD800..0xDC00).contains(&unit) {
      return Ok(char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    if self.bytes[self.pos..].starts_with(b"\\u") {
      let mark = self.pos;
      self.pos += 2;
      let low = self.hex4()?;
      if (0xDC00..0xE000).contains(&low) {
        let code = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
        return Ok(char::from_u32(code).expect("a surrogate pair is a scalar value"));
      }
      self.pos = mark;
    }
    Ok(char::REPLACEMENT_CHARACTER)
  }

  fn hex4(&mut self) -> Parse<u16> {
    let Some(hex) = self.bytes.get(self.pos..self.pos + 4) else {
      self.pos = self.bytes.len();
      return Err(self.fail("EOF while parsing a string"));
    };
    self.pos += 3;
    let text = std::str::from_utf8(hex).map_err(|_| self.fail("invalid escape"))?;
    let unit = u16::from_str_radix(text, 16).map_err(|_| self.fail("invalid escape"))?;
    self.pos += 1;
    Ok(unit)
  }

  /// Moves to the next byte of the string that is a quote, a backslash or a control character,
  /// eight bytes at a time while none is among them; whether the bytes passed are all ASCII.
  fn skip_plain(&mut self) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let mut high = 0;
    while let Some(chunk) = self.bytes.get(self.pos..self.pos + 8) {
      let word = u64::from_ne_bytes(chunk.try_into().expect("eight bytes"));
      let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
      if control | has_zero(word ^ (ONES * b'"' as u64)) | has_zero(word ^ (ONES * b'\\' as u64))
        != 0
      {
        break;
      }
      high |= word;
      self.pos += 8;
    }
    while let Some(&byte) = self.bytes.get(self.pos) {
      if byte == b'"' || byte == b'\\' || byte < 0x20 {
        break;
      }
      high |= u64::from(byte);
      self.pos += 1;
    }
    high & HIGHS == 0
  }

  /// The bytes `start..end` as text (`ascii` if they are all ASCII); not UTF-8 fails where the bad
  /// sequence begins.
  fn text(&self, start: usize, end: usize, ascii: bool) -> Parse<&'a str> {
    let bytes = &self.bytes[start..end];
    if ascii {
      // SAFETY: ASCII bytes are valid UTF-8.
      return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|e| SyntaxError {
      what: "invalid unicode code point",
      offset: start + e.valid_up_to(),
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use serde_json::Value;

  fn schema() -> Schema {
    let entries = ["a", "b"].map(|n| (n.to_string(), serde_json::json!({ "type": "string" })));
    Schema::from_definition(&entries, Default::default()).unwrap()
  }

  /// The element read from `text` (whole), as the record's debug form or the error's message.
  fn read(text: &str) -> Result<String, String> {
    let schema = schema();
    let mut record = RawRecord::new(&schema);
    let mut cursor = Cursor::new(text.as_bytes(), 0);
    let element = cursor.element(&schema, &mut record).and_then(|e| cursor.end().map(|_| e));
    match element {
      Ok(Element::Record) => Ok(format!("{:?} {:?}", record.values, record.unknown)),
      Ok(other) => Ok(other.to_string()),
      Err(e) => Err(e.describe(text.as_bytes())),
    }
  }

  #[test]
  fn records_slot_their_keys_and_borrow_plain_strings() {
    let schema = schema();
    let text = br#"{"b": "x\ty", "z": [1, {"c": []}], "a": "plain", "a": -12.5e1}"#;
    let mut record = RawRecord::new(&schema);
    let element = Cursor::new(text, 0).element(&schema, &mut record).unwrap();
    assert_eq!(element, Element::Record);
    assert_eq!(
      record.values,
      [Some(RawValue::Number(-125.0)), Some(RawValue::String("x\ty".into()))]
    );
    assert_eq!(record.unknown, ["z"]);
    let mut record = RawRecord::new(&schema);
    Cursor::new(br#"{"a": "plain"}"#, 0).element(&schema, &mut record).unwrap();
    assert!(matches!(&record.values[0], Some(RawValue::String(Cow::Borrowed("plain")))));
  }

  #[test]
  fn other_elements_say_what_they_are() {
    for (text, kind) in
      [("[1, [2]]", "an array"), ("\"s\"", "a string"), ("-0", "a number"), ("null", "null")]
    {
      assert_eq!(read(text), Ok(kind.to_string()));
    }
  }

  #[test]
  fn escapes_decode_and_lone_surrogates_read_as_replacement_characters() {
    assert_eq!(
      read(r#"{"a": "\u00e9\ud83d\ude00\n\/\"", "b": "\ud800x\udc00"}"#),
      Ok(r#"[Some(String("é😀\n/\"")), Some(String("�x�"))] []"#.to_string())
    );
  }

  /// Numbers and strings read as serde_json reads them, over the edges of the grammar.
  #[test]
  fn scalars_agree_with_serde_json() {
    let numbers = [
      "0",
      "-0",
      "1",
      "-1",
      "12345678901234567890",
      "-9223372036854775808",
      "-9223372036854775809",
      "18446744073709551615",
      "18446744073709551616",
      "1.5",
      "1e3",
      "1E+3",
      "2.5e-3",
      "0.1",
      "123456789.123456789",
      "1e308",
      "4.9e-324",
      "1e-400",
    ];
    for text in numbers {
      let ours = Cursor::new(text.as_bytes(), 0).number().unwrap();
      let theirs: Value = serde_json::from_str(text).unwrap();
      assert_eq!(ours, theirs.as_f64().unwrap(), "{text}");
    }
    for bad in ["01", "-", "1.", "1.e3", "1e", "1e+", "-a", "1e400", "-1e400"] {
      let ours = Cursor::new(bad.as_bytes(), 0).number();
      assert!(ours.is_err() && serde_json::from_str::<Value>(bad).is_err(), "{bad}");
    }
    let strings =
      [r#""""#, r#""a\"b""#, r#""\\\/\b\f\n\r\t""#, r#""\u0041\u00FF\uFFFF""#, "\"ünïcödé ✓ 😀\""];
    for text in strings {
      let ours = Cursor::new(text.as_bytes(), 0).string().unwrap();
      assert_eq!(ours, serde_json::from_str::<String>(text).unwrap(), "{text}");
    }
  }

  #[test]
  fn malformed_text_fails_where_serde_json_fails_with_its_words() {
    let cases = [
      "{\"a\" 1}",
      "{\"a\": 1 \"b\": 2}",
      "{\"a\": 1,}",
      "{1: 2}",
      "{\"a\": tru}",
      "{\"a\": nul",
      "{\"a\": nulx}",
      "{\"a\": [1 2]}",
      "{\"a\": [1,]}",
      "{\"a\": \"x\u{1}\"}",
      "{\"a\": \"\\x\"}",
      "{\"a\": \"\\u12G4\"}",
      "{\"a\":\n \"abc",
      "{\"a\": 1",
      "{\"a\": 1} x",
      "{\"a\": @}",
      "{\"a\": 01}",
      "{\"a\": 1.}",
      "{\"a\": 1e400}",
      "{\"a\": -}",
      "{\"a\": {\"b\": 1,}}",
      "",
    ];
    for text in cases {
      let theirs = serde_json::from_str::<Value>(text).unwrap_err().to_string();
      assert_eq!(read(text), Err(theirs), "{text:?}");
    }
    let bytes = b"{\"a\": \"\xff\"}";
    let mut record = RawRecord::new(&schema());
    let error = Cursor::new(bytes, 0).element(&schema(), &mut record).unwrap_err();
    let theirs = serde_json::from_slice::<Value>(bytes).unwrap_err().to_string();
    assert_eq!(error.describe(bytes), theirs);
  }

  #[test]
  fn nesting_of_any_depth_is_checked_and_skipped_without_recursion() {
    let deep =
      format!("{{\"a\": {}1{}, \"b\": \"x\"}}", "[{\"k\": ".repeat(200_000), "}]".repeat(200_000));
    assert_eq!(read(&deep), Ok(r#"[Some(Other("an array")), Some(String("x"))] []"#.to_string()));
    for broken in [
      "{\"a\": [[1, {\"b\": 2,}]]}",
      "{\"a\": [[1, {\"b\" 2}]]}",
      "{\"a\": [[1, {2: 2}]]}",
      "{\"a\": [[1, 2,]]}",
      "{\"a\": [[1 2]]}",
      "{\"a\": [[1, {}]}",
      "{\"a\": [[1, [}",
      "{\"a\": [",
      "{\"a\": {",
      "{\"a\": [1,",
      "{\"a\": {\"b\"",
      "{\"a\": [{\"b\": 1} 2]",
    ] {
      let theirs = serde_json::from_str::<Value>(broken).unwrap_err().to_string();
      assert_eq!(read(broken), Err(theirs), "{broken}");
    }
    assert_eq!(
      read("{\"a\": [[], {}, [[]], {\"b\": {}}]}"),
      Ok(r#"[Some(Other("an array")), None] []"#.to_string())
    );
  }
}
