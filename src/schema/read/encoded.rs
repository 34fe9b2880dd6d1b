//! JS objects encoded in columns by `js/records.js`, a slice of records at a time: reading JS
//! objects one property at a time through N-API costs the JS thread about a microsecond a record,
//! while JS reads them in a few hundred nanoseconds and hands over a handful of buffers.
//!
//! A slice of `n` records of a schema with `w` fields holds, for record `i` and field `f` (slot
//! `i * w + f`), `kinds[slot]`: one of the `KIND_` codes. The values follow in slot order, apart
//! by kind: `numbers` holds each number and each `Date`'s time value; `strings` each string, one
//! after the other in UTF-8, each `string_lengths[j]` UTF-16 code units long (JS's length).
//! `records[i]` is `KIND_OBJECT` for an object, else the kind of what the element is.
//! Keys the schema does not declare are listed apart, as are records that could not be read
//! (a getter that threw).

use std::borrow::Cow;

use super::super::value::{RawRecord, RawValue};
use super::json::Cursor;
use super::{Chunk, Item, Reader};
use crate::error::Result;

/// The key is missing or its value is `undefined`.
pub const KIND_MISSING: u8 = 0;
pub const KIND_NULL: u8 = 1;
pub const KIND_FALSE: u8 = 2;
pub const KIND_TRUE: u8 = 3;
pub const KIND_NUMBER: u8 = 4;
pub const KIND_STRING: u8 = 5;
pub const KIND_DATE: u8 = 6;
pub const KIND_ARRAY: u8 = 7;
pub const KIND_OBJECT: u8 = 8;
pub const KIND_FUNCTION: u8 = 9;
pub const KIND_SYMBOL: u8 = 10;
pub const KIND_BIGINT: u8 = 11;
/// In cleaned columns only (`super::super::columns`): a string JS sent, unchanged by cleaning;
/// the slot's number says which (see [`string_id`]).
pub const KIND_INPUT_STRING: u8 = 12;

/// Slices a call may send for their strings to be told apart by [`string_id`] (2^21: the ids stay
/// below 2^53, exact as the f64 JS reads them).
const MAX_SLICES_WITH_STRING_IDS: u64 = 1 << 21;

/// How JS finds a string it sent: `slice · 2^32 + index`, the slice's place among the call's
/// slices and the string's among the slice's (`js/records.js` keeps each slice's strings).
/// `None` past [`MAX_SLICES_WITH_STRING_IDS`].
fn string_id(slice: u64, index: usize) -> Option<u64> {
  let index = u32::try_from(index).ok()?;
  (slice < MAX_SLICES_WITH_STRING_IDS).then_some(slice << 32 | u64::from(index))
}

/// One slice of encoded records, borrowed from the buffers JS made.
pub struct Slice<'a> {
  pub records: &'a [u8],
  pub kinds: &'a [u8],
  /// The slots' numbers and dates, in slot order.
  pub numbers: &'a [f64],
  /// The slots' strings, in slot order, one after the other, in UTF-8.
  pub strings: &'a [u8],
  /// Each string's length in UTF-16 code units.
  pub string_lengths: &'a [u32],
  /// The record of each undeclared key, in record order, and the keys (a JSON array of strings).
  pub unknown_at: &'a [u32],
  pub unknown_keys: &'a [u8],
  /// The record of each record that could not be read, in order, and why (a JSON array).
  pub failed_at: &'a [u32],
  pub failures: &'a [u8],
}

impl Slice<'_> {
  /// Whether the buffers fit together for a schema of `width` fields.
  pub fn is_consistent(&self, width: usize) -> bool {
    let n = self.records.len();
    let count = |of: &[u8]| self.kinds.iter().filter(|kind| of.contains(kind)).count();
    self.kinds.len() == n * width
      && self.numbers.len() == count(&[KIND_NUMBER, KIND_DATE])
      && self.string_lengths.len() == count(&[KIND_STRING])
      && self.unknown_at.iter().chain(self.failed_at).all(|&i| (i as usize) < n)
  }
}

/// How a kind of value is named in error messages.
fn kind_name(kind: u8) -> &'static str {
  match kind {
    KIND_MISSING => "undefined",
    KIND_NULL => "null",
    KIND_FALSE | KIND_TRUE => "a boolean",
    KIND_NUMBER => "a number",
    KIND_STRING => "a string",
    KIND_DATE => "a Date",
    KIND_ARRAY => "an array",
    KIND_FUNCTION => "a function",
    KIND_SYMBOL => "a symbol",
    KIND_BIGINT => "a bigint",
    _ => "an object",
  }
}

/// Slices that arrive one after another while they are read: JS encodes the next slice while the
/// compute pool reads the last.
pub trait SliceStream {
  /// Calls `visit` on the slices in order as they arrive, each time with all that have come since
  /// the last call; fails if the stream does.
  fn each(&self, visit: &mut dyn FnMut(&[Slice<'_>])) -> Result<()>;
}

/// Reads the slices of a stream as they arrive, one chunk each: a slice alone on the calling
/// thread (JS is encoding the next on another core), slices that wait for it on up to `threads`.
pub(super) fn read_stream<S: Send>(
  stream: &dyn SliceStream,
  reader: &Reader<'_, S>,
  threads: usize,
) -> Result<Vec<Chunk<S>>> {
  let mut chunks = Vec::new();
  let mut first_slice = 0;
  let mut first_record = 0;
  stream.each(&mut |slices| {
    chunks.extend(read(slices, first_slice, first_record, reader, threads));
    first_slice += slices.len() as u64;
    first_record += slices.iter().map(|slice| slice.records.len()).sum::<usize>();
  })?;
  Ok(chunks)
}

/// Reads the slices, one chunk each; the first is slice `first_slice` of the call, and its first
/// record record `first_record`.
pub(super) fn read<S: Send>(
  slices: &[Slice<'_>],
  first_slice: u64,
  first_record: usize,
  reader: &Reader<'_, S>,
  threads: usize,
) -> Vec<Chunk<S>> {
  let threads = if slices.len() > 1 { threads } else { 1 };
  let mut next_record = first_record;
  let tasks = slices
    .iter()
    .zip(first_slice..)
    .map(|(slice, sequence)| {
      let first = next_record;
      next_record += slice.records.len();
      (slice, sequence, first)
    })
    .collect();
  crate::pool::intra_op::run_each_alone(threads, tasks, |(slice, sequence, first)| {
    read_slice(slice, sequence, first, reader)
  })
}

/// Reads slice `sequence` of the call, whose first record is record `first` of the input.
fn read_slice<S>(
  slice: &Slice<'_>,
  sequence: u64,
  first: usize,
  reader: &Reader<'_, S>,
) -> Chunk<S> {
  let mut chunk = Chunk { state: (reader.state)(Some(first)), records: slice.records.len() };
  let width = reader.schema.fields().len();
  let texts = [slice.unknown_keys, slice.failures].map(json_strings);
  let (Some(strings), [Some(unknown_keys), Some(failures)]) =
    (split(slice.strings, slice.string_lengths), texts)
  else {
    let why = "Cannot read the record: its encoding is broken.";
    for index in 0..slice.records.len() {
      (reader.visit)(&mut chunk.state, index, Item::Invalid(why.into()));
    }
    return chunk;
  };
  let mut strings = strings.into_iter();
  let mut next_string = 0;
  let mut numbers = slice.numbers.iter().copied();
  let mut unknown = slice.unknown_at.iter().zip(unknown_keys).peekable();
  let mut failures = slice.failed_at.iter().zip(failures).peekable();
  let mut record = RawRecord::new(reader.schema);
  for (index, &kind) in slice.records.iter().enumerate() {
    let here = |&(&at, _): &(&u32, Cow<'_, str>)| at as usize == index;
    let item = if let Some((_, why)) = failures.next_if(here) {
      Item::Invalid(why.into_owned())
    } else if kind != KIND_OBJECT {
      Item::Invalid(format!("Expected an object, got {}.", kind_name(kind)))
    } else {
      record.clear();
      let kinds = &slice.kinds[index * width..(index + 1) * width];
      for (field, &kind) in kinds.iter().enumerate() {
        if let Some(text) = set_value(&mut record.values[field], kind, &mut numbers, &mut strings) {
          record.input_strings[field] = string_id(sequence, next_string).map(|id| (id, text));
          next_string += 1;
        }
      }
      while let Some((_, key)) = unknown.next_if(here) {
        record.unknown.push(key.into_owned());
      }
      Item::Record(&mut record)
    };
    (reader.visit)(&mut chunk.state, index, item);
  }
  chunk
}

/// Sets `slot` to the value of a slot of `kind`, taking the next of `numbers` or `strings` when it
/// has one (a consistent slice has enough of each); the string, when it took one. (Each kind sets
/// the slot itself: a value made first and then moved in went through the stack, written in narrow
/// stores and read back in wide loads, which stalls store forwarding.)
fn set_value<'a>(
  slot: &mut Option<RawValue<'a>>,
  kind: u8,
  numbers: &mut impl Iterator<Item = f64>,
  strings: &mut impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
  match kind {
    KIND_MISSING => *slot = None,
    KIND_NULL => *slot = Some(RawValue::Null),
    KIND_FALSE => *slot = Some(RawValue::Bool(false)),
    KIND_TRUE => *slot = Some(RawValue::Bool(true)),
    KIND_NUMBER => *slot = Some(RawValue::Number(numbers.next().unwrap_or_default())),
    KIND_STRING => {
      let text = strings.next().unwrap_or_default();
      *slot = Some(RawValue::String(Cow::Borrowed(text)));
      return Some(text);
    }
    KIND_DATE => *slot = Some(RawValue::Date(numbers.next().unwrap_or_default())),
    other => *slot = Some(RawValue::Other(kind_name(other))),
  }
  None
}

/// UTF-8 `text` cut into strings `lengths` UTF-16 code units long; `None` if it does not fit.
fn split<'a>(text: &'a [u8], lengths: &[u32]) -> Option<Vec<&'a str>> {
  let text = std::str::from_utf8(text).ok()?;
  let ascii = text.is_ascii();
  let mut strings = Vec::with_capacity(lengths.len());
  let mut rest = text;
  for &length in lengths {
    let end = if ascii { length as usize } else { utf8_length(rest, length as usize)? };
    let (string, after) = rest.split_at_checked(end)?;
    strings.push(string);
    rest = after;
  }
  rest.is_empty().then_some(strings)
}

/// How many bytes the first `units` UTF-16 code units of `text` take.
fn utf8_length(text: &str, units: usize) -> Option<usize> {
  let mut counted = 0;
  for (at, c) in text.char_indices() {
    if counted == units {
      return Some(at);
    }
    counted += c.len_utf16();
  }
  (counted == units).then_some(text.len())
}

/// The strings of a JSON array of strings; `None` if it is not one.
fn json_strings(json: &[u8]) -> Option<Vec<Cow<'_, str>>> {
  let mut cursor = Cursor::new(json, 0);
  let mut strings = Vec::new();
  cursor.expect(b'[', "", "").ok()?;
  if cursor.skip_whitespace() == Some(b']') {
    return Some(strings);
  }
  loop {
    if cursor.skip_whitespace() != Some(b'"') {
      return None;
    }
    strings.push(cursor.string().ok()?);
    match cursor.skip_whitespace() {
      Some(b',') => cursor.bump(),
      Some(b']') => return Some(strings),
      _ => return None,
    }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn strings_split_by_their_utf16_lengths() {
    let text = "abé😀\u{fffd}z";
    assert_eq!(
      split(text.as_bytes(), &[2, 3, 1, 0, 1]),
      Some(vec!["ab", "é😀", "\u{fffd}", "", "z"])
    );
    assert_eq!(split(b"abc", &[1, 1, 1]), Some(vec!["a", "b", "c"]));
    assert_eq!(split("😀".as_bytes(), &[1]), None, "half of a surrogate pair");
    assert_eq!(split(b"abc", &[1, 1]), None, "text left over");
    assert_eq!(split(b"abc", &[4]), None, "past the end");
    assert_eq!(split(b"\xff", &[1]), None, "not UTF-8");
  }
}
