//! Reading many records: a JSON array of objects, NDJSON (one object per line), CSV with a header
//! row, or JS objects encoded in columns by `js/records.js`. Each record is slotted by the schema
//! into a [`RawRecord`] and handed to the caller at once, so nothing but the caller's results is
//! kept; big inputs are read in chunks on several threads, and the caller gets each chunk's
//! results in input order.
//!
//! A JSON array or CSV cannot be cut at a record boundary without reading it from the start (a
//! comma or a newline may sit inside a string). Chunks start at a guess (a `{` after a comma, a
//! line start) and are read at once; each run reads on past its chunk's end to the first record
//! that starts there or later. A run is kept when the run before it ended where it began; one
//! whose guess fell inside a string is read again from where the run before ended.

pub mod csv;
pub mod encoded;
pub mod json;

use super::value::RawRecord;
use super::Schema;
use crate::error::{Result, TractNodeError};
use encoded::{Slice, SliceStream};
use json::{Cursor, Element, SyntaxError};

/// How record bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
  /// A JSON array of objects, or NDJSON (told apart by the first character).
  #[default]
  Json,
  /// CSV (RFC 4180) with a header row naming the fields.
  Csv,
}

impl Format {
  /// The format named `name` (`json` or `csv`).
  pub fn from_name(name: &str) -> Result<Format> {
    match name {
      "json" => Ok(Format::Json),
      "csv" => Ok(Format::Csv),
      other => {
        Err(TractNodeError::invalid_arg("format", format!("'json' or 'csv', got {other:?}")))
      }
    }
  }
}

/// Records to read.
#[derive(Clone, Copy)]
pub enum Source<'a> {
  /// Bytes laid out in a format.
  Bytes(&'a [u8], Format),
  /// JS objects, encoded slice by slice.
  Encoded(&'a [Slice<'a>]),
  /// JS objects, encoded slice by slice while the slices before are read.
  Stream(&'a dyn SliceStream),
}

/// One element of the input as read: a record, or why it is not one.
pub enum Item<'r, 'a> {
  Record(&'r mut RawRecord<'a>),
  /// Not an object, not valid JSON (an NDJSON line) or not a valid CSV row: the message says.
  Invalid(String),
}

/// What reading one chunk gave: the caller's state and how many records it saw.
pub struct Chunk<S> {
  pub state: S,
  pub records: usize,
}

/// Inputs smaller than this are read on one thread.
const PARALLEL_BYTES: usize = 1 << 20;

/// Chunks per thread, so that threads that finish early take more.
pub(crate) const CHUNKS_PER_THREAD: usize = 4;

/// Reads every record of `source` into a fresh `state(first)` per chunk, calling `visit(state,
/// index, item)` for each (index counted from the chunk's start), on up to `threads` threads. The
/// chunks come back in input order. `first` is the index in the input of the chunk's first record
/// when the reader knows it as the chunk starts (JS objects, read a slice at a time), else `None`. A JSON array that is not valid JSON fails as a whole
/// (`ERR_INVALID_ARG`); a bad NDJSON line or CSV row is that record's [`Item::Invalid`].
pub fn read<S: Send>(
  source: Source<'_>,
  schema: &Schema,
  threads: usize,
  state: impl Fn(Option<usize>) -> S + Sync,
  visit: impl Fn(&mut S, usize, Item<'_, '_>) + Sync,
) -> Result<Vec<Chunk<S>>> {
  let reader = Reader { schema, state: &state, visit: &visit };
  match source {
    Source::Bytes(bytes, Format::Csv) => csv::read(bytes, &reader, threads),
    Source::Bytes(bytes, Format::Json) => {
      match bytes.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(first) if bytes[first] == b'[' => read_array(bytes, first + 1, &reader, threads),
        _ => Ok(read_ndjson(bytes, &reader, threads)),
      }
    }
    Source::Encoded(slices) => Ok(encoded::read(slices, 0, 0, &reader, threads)),
    Source::Stream(stream) => encoded::read_stream(stream, &reader, threads),
  }
}

/// The caller's side of a read: its schema, a fresh state per chunk, and what to do per record.
pub(crate) struct Reader<'c, S> {
  pub schema: &'c Schema,
  pub state: &'c (dyn Fn(Option<usize>) -> S + Sync),
  pub visit: &'c (dyn Fn(&mut S, usize, Item<'_, '_>) + Sync),
}

/// One run: a chunk read from its start to the first record starting at or after `stop`.
struct Run<S> {
  chunk: Chunk<S>,
  /// Where the next run must start to follow on; `None` when this one read to the input's end.
  end: Option<usize>,
}

/// Splits `len` bytes from `from` into about `threads * CHUNKS_PER_THREAD` chunks; the starts
/// after the first are the first places at or after each even cut that `start_at` accepts.
fn guess_starts(
  from: usize,
  len: usize,
  threads: usize,
  start_at: impl Fn(usize) -> Option<usize>,
) -> Vec<usize> {
  let mut starts = vec![from];
  if len - from < PARALLEL_BYTES || threads < 2 {
    return starts;
  }
  let chunks = threads * CHUNKS_PER_THREAD;
  for k in 1..chunks {
    let cut = from + (len - from) * k / chunks;
    if let Some(start) = start_at(cut).filter(|&s| s > *starts.last().expect("one start")) {
      starts.push(start);
    }
  }
  starts
}

/// Reads runs from `starts` (each up to the next start) at once, then keeps those that follow
/// on and reads the others again from where the run before ended. `follows(end, start)` says
/// whether a run that ended at `end` is followed on by one from `start`.
fn read_runs<S: Send, E: Send>(
  starts: &[usize],
  threads: usize,
  run: impl Fn(usize, usize) -> std::result::Result<Run<S>, E> + Sync,
  follows: impl Fn(usize, usize) -> bool,
) -> std::result::Result<Vec<Chunk<S>>, E> {
  let stops: Vec<usize> = starts[1..].iter().copied().chain([usize::MAX]).collect();
  let tasks: Vec<(usize, usize)> = starts.iter().copied().zip(stops).collect();
  let runs =
    crate::pool::intra_op::run_each_alone(threads, tasks.clone(), |(start, stop)| run(start, stop));
  let mut chunks = Vec::with_capacity(runs.len());
  let mut expected = Some(starts[0]);
  for ((start, stop), outcome) in tasks.into_iter().zip(runs) {
    let Some(from) = expected else { break };
    if stop <= from {
      continue; // the run before read past this whole chunk
    }
    let outcome = if follows(from, start) { outcome } else { run(from, stop) };
    let Run { chunk, end } = outcome?;
    chunks.push(chunk);
    expected = end;
  }
  Ok(chunks)
}

/// Reads the elements of a JSON array whose `[` ends at `after_open`.
fn read_array<S: Send>(
  bytes: &[u8],
  after_open: usize,
  reader: &Reader<'_, S>,
  threads: usize,
) -> Result<Vec<Chunk<S>>> {
  let starts =
    guess_starts(after_open, bytes.len(), threads, |cut| element_after_comma(bytes, cut));
  let first = starts[0];
  read_runs(
    &starts,
    threads,
    |start, stop| array_run(bytes, start, stop, start == first, reader),
    |end, start| end == start,
  )
  .map_err(|e| {
    TractNodeError::invalid_arg("records", format!("not a valid JSON array: {}", e.describe(bytes)))
  })
}

/// The first place at or after `from` where an object follows a comma (and whitespace).
fn element_after_comma(bytes: &[u8], from: usize) -> Option<usize> {
  let mut at = from;
  loop {
    at += memchr::memchr(b',', &bytes[at..])? + 1;
    let mut cursor = Cursor::new(bytes, at);
    if cursor.skip_whitespace() == Some(b'{') {
      return Some(cursor.pos());
    }
  }
}

/// Reads array elements from `start` (just after the `[` when `first`, else an element's start)
/// until one starts at or after `stop`, or the array ends.
fn array_run<S>(
  bytes: &[u8],
  start: usize,
  stop: usize,
  first: bool,
  reader: &Reader<'_, S>,
) -> std::result::Result<Run<S>, SyntaxError> {
  let mut cursor = Cursor::new(bytes, start);
  let mut chunk = Chunk { state: (reader.state)(None), records: 0 };
  let mut record = RawRecord::new(reader.schema);
  if first && cursor.skip_whitespace() == Some(b']') {
    cursor.bump();
    cursor.end()?;
    return Ok(Run { chunk, end: None });
  }
  loop {
    cursor.skip_whitespace();
    if chunk.records > 0 && cursor.pos() >= stop {
      return Ok(Run { end: Some(cursor.pos()), chunk });
    }
    record.clear();
    let item = match cursor.element(reader.schema, &mut record)? {
      Element::Record => Item::Record(&mut record),
      other => Item::Invalid(not_an_object(other)),
    };
    (reader.visit)(&mut chunk.state, chunk.records, item);
    chunk.records += 1;
    match cursor.skip_whitespace() {
      Some(b',') => {
        cursor.bump();
        if cursor.skip_whitespace() == Some(b']') {
          return Err(cursor.fail("trailing comma"));
        }
      }
      Some(b']') => {
        cursor.bump();
        cursor.end()?;
        return Ok(Run { chunk, end: None });
      }
      Some(_) => return Err(cursor.fail("expected `,` or `]`")),
      None => return Err(cursor.fail("EOF while parsing a list")),
    }
  }
}

fn not_an_object(element: Element) -> String {
  format!("Expected an object, got {element}.")
}

/// Reads NDJSON: each non-blank line is one element; a line that is not valid JSON is that
/// record's error. Chunks are cut at newlines, which JSON text holds only between values.
fn read_ndjson<S: Send>(bytes: &[u8], reader: &Reader<'_, S>, threads: usize) -> Vec<Chunk<S>> {
  let starts = guess_starts(0, bytes.len(), threads, |cut| {
    memchr::memchr(b'\n', &bytes[cut..]).map(|n| cut + n + 1).filter(|&s| s < bytes.len())
  });
  let ends: Vec<usize> = starts[1..].iter().copied().chain([bytes.len()]).collect();
  let tasks: Vec<(usize, usize)> = starts.into_iter().zip(ends).collect();
  crate::pool::intra_op::run_each_alone(threads, tasks, |(start, end)| {
    let mut chunk = Chunk { state: (reader.state)(None), records: 0 };
    let mut record = RawRecord::new(reader.schema);
    for line in bytes[start..end].split(|&b| b == b'\n') {
      if line.iter().all(u8::is_ascii_whitespace) {
        continue;
      }
      record.clear();
      let mut cursor = Cursor::new(line, 0);
      let item =
        match cursor.element(reader.schema, &mut record).and_then(|e| cursor.end().map(|_| e)) {
          Ok(Element::Record) => Item::Record(&mut record),
          Ok(other) => Item::Invalid(not_an_object(other)),
          Err(e) => Item::Invalid(format!("Not valid JSON: {}.", e.describe(line))),
        };
      (reader.visit)(&mut chunk.state, chunk.records, item);
      chunk.records += 1;
    }
    chunk
  })
}

#[cfg(test)]
mod tests;
