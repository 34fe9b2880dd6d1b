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
#[path = "json_tests.rs"]
mod tests;
