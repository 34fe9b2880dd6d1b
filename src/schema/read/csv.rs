//! CSV records (RFC 4180) whose first row names the columns. Cells are text, cleaned as form input
//! is ([`RawValue::Text`]). An empty cell has no value: the field's default if it has one, else
//! null if it is nullable, else it is missing (`required`). A row with more or fewer cells than the
//! header, or cells that are not UTF-8, is that record's error. Blank lines are skipped.

use std::borrow::Cow;

use super::super::value::{RawRecord, RawValue};
use super::super::Schema;
use super::{guess_starts, read_runs, Chunk, Item, Reader, Run};
use crate::error::{Result, TractNodeError};

/// Reads CSV `bytes`; a header that cannot be read is the one record's error.
pub(super) fn read<S: Send>(
  bytes: &[u8],
  reader: &Reader<'_, S>,
  threads: usize,
) -> Result<Vec<Chunk<S>>> {
  let bytes = without_bom(bytes);
  let mut csv = csv_reader(bytes, true);
  let header = match header_of(&mut csv) {
    Ok(header) => header,
    Err(e) => {
      let mut chunk = Chunk { state: (reader.state)(None), records: 1 };
      let why = format!("Cannot read the CSV header: {e}.");
      (reader.visit)(&mut chunk.state, 0, Item::Invalid(why));
      return Ok(vec![chunk]);
    }
  };
  let data = csv.position().byte() as usize;
  let starts = guess_starts(data, bytes.len(), threads, |cut| {
    memchr::memchr(b'\n', &bytes[cut..]).map(|n| cut + n + 1).filter(|&s| s < bytes.len())
  });
  let follows = |end: usize, start: usize| {
    end <= start && bytes[end..start].iter().all(|&b| b == b'\n' || b == b'\r')
  };
  let run =
    |start, stop| Ok::<_, std::convert::Infallible>(rows(bytes, start, stop, &header, reader));
  let Ok(chunks) = read_runs(&starts, threads, run, follows);
  Ok(chunks)
}

/// Reads rows from `start` until one starts at or after `stop`, or the input ends.
fn rows<S>(
  bytes: &[u8],
  start: usize,
  stop: usize,
  header: &[String],
  reader: &Reader<'_, S>,
) -> Run<S> {
  let mut csv = csv_reader(&bytes[start..], false);
  let mut row = csv::ByteRecord::new();
  let mut chunk = Chunk { state: (reader.state)(None), records: 0 };
  loop {
    let at = start + csv.position().byte() as usize;
    if chunk.records > 0 && at >= stop {
      return Run { chunk, end: Some(at) };
    }
    let mut record;
    let item = match csv.read_byte_record(&mut row) {
      Ok(false) => return Run { chunk, end: None },
      Ok(true) if row.len() != header.len() => Item::Invalid(format!(
        "Expected {} columns (as in the header), got {}.",
        header.len(),
        row.len()
      )),
      Ok(true) => {
        record = RawRecord::new(reader.schema);
        match fill(reader.schema, header, &row, &mut record) {
          Ok(()) => Item::Record(&mut record),
          Err(why) => Item::Invalid(why),
        }
      }
      Err(e) => Item::Invalid(format!("Not valid CSV: {e}.")),
    };
    (reader.visit)(&mut chunk.state, chunk.records, item);
    chunk.records += 1;
  }
}

/// The column names of CSV `bytes`: its first row, read as [`read`] reads it (quoted names, a
/// byte-order mark, names trimmed).
pub fn header(bytes: &[u8]) -> Result<Vec<String>> {
  header_of(&mut csv_reader(without_bom(bytes), true))
    .map_err(|e| TractNodeError::invalid_arg("csv", format!("cannot read the header: {e}")))
}

fn without_bom(bytes: &[u8]) -> &[u8] {
  bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes)
}

/// A reader of CSV `bytes`, rows of any length.
fn csv_reader(bytes: &[u8], has_headers: bool) -> csv::Reader<&[u8]> {
  csv::ReaderBuilder::new().flexible(true).has_headers(has_headers).from_reader(bytes)
}

/// The header row of `reader`, names trimmed.
fn header_of(reader: &mut csv::Reader<&[u8]>) -> csv::Result<Vec<String>> {
  let header = reader.byte_headers()?;
  Ok(header.iter().map(|name| String::from_utf8_lossy(name).trim().to_string()).collect())
}

/// Slots a row's cells into `record`; a cell that is not UTF-8 is the row's error.
fn fill<'r>(
  schema: &Schema,
  header: &[String],
  row: &'r csv::ByteRecord,
  record: &mut RawRecord<'r>,
) -> std::result::Result<(), String> {
  for (name, cell) in header.iter().zip(row.iter()) {
    let Ok(text) = std::str::from_utf8(cell) else {
      return Err(format!("Column '{name}' is not valid UTF-8."));
    };
    if !text.is_empty() {
      record.insert(schema, name, RawValue::Text(Cow::Borrowed(text)));
    } else if let Some(field) = schema.field_index(name).map(|i| &schema.fields()[i]) {
      if field.nullable && field.default.is_none() {
        record.insert(schema, name, RawValue::Null);
      }
    }
  }
  Ok(())
}
