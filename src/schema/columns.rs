//! Cleaned records laid out in columns for JS, which makes objects of them (`js/records.js`):
//! building a million objects through N-API costs the JS thread a microsecond each, JS builds them
//! from a few buffers in a tenth of that. The columns are written on the compute threads as records
//! are cleaned, in blocks that JS takes one per event-loop turn.
//!
//! A block of `n` records of `w` fields holds `kinds[i * w + f]` (the `KIND_` codes of
//! [`super::read::encoded`]: null, false, true, number, string or input string),
//! `numbers[i * w + f]`, and every string in a JSON array, in slot order: text as it is, dates as
//! `YYYY-MM-DD`, datetimes as RFC 3339 UTC with milliseconds. A string equal to the one JS sent for
//! the slot is not in the array: it is an input string, its number the id JS finds it by, so that
//! JS neither parses nor allocates it again (most strings of valid records come back as they were
//! sent).

use std::io::Write;

use chrono::{Datelike, NaiveDate};

use super::read::encoded::{
  KIND_FALSE, KIND_INPUT_STRING, KIND_NULL, KIND_NUMBER, KIND_STRING, KIND_TRUE,
};
use super::value::{Clean, RawRecord};
use super::{join_errors, FieldError, Keep};

/// Cleaned records in columns.
#[derive(Debug, Default)]
pub struct Block {
  pub rows: usize,
  pub kinds: Vec<u8>,
  pub numbers: Vec<f64>,
  /// A JSON array of the block's strings, as UTF-8 (once [`Block::finish`]ed).
  pub strings: Vec<u8>,
  finished: bool,
}

impl Block {
  /// Appends one cleaned record, with the strings JS sent for its slots where it sent them
  /// (`inputs` empty otherwise).
  pub fn push(&mut self, row: &[Clean], inputs: &[Option<(u64, &str)>]) {
    self.rows += 1;
    for (field, value) in row.iter().enumerate() {
      let sent = inputs.get(field).copied().flatten();
      // JS's id of the string it sent (below 2^53: exact as an f64).
      if let Some((id, _)) = sent.filter(|&(_, text)| is_as_sent(value, text)) {
        self.kinds.push(KIND_INPUT_STRING);
        self.numbers.push(id as f64);
        continue;
      }
      let (kind, number) = match value {
        Clean::Null => (KIND_NULL, 0.0),
        Clean::Bool(false) => (KIND_FALSE, 0.0),
        Clean::Bool(true) => (KIND_TRUE, 0.0),
        Clean::Int(i) => (KIND_NUMBER, *i as f64),
        Clean::Float(f) => (KIND_NUMBER, *f),
        Clean::String(s) => {
          self.next_string();
          serde_json::to_writer(&mut self.strings, s.as_str()).expect("writing to a Vec");
          (KIND_STRING, 0.0)
        }
        Clean::Date(date) => {
          self.next_string();
          write_date(&mut self.strings, *date);
          (KIND_STRING, 0.0)
        }
        Clean::DateTime(_) => {
          self.next_string();
          let text = value.to_json();
          serde_json::to_writer(&mut self.strings, &text).expect("writing to a Vec");
          (KIND_STRING, 0.0)
        }
      };
      self.kinds.push(kind);
      self.numbers.push(number);
    }
  }

  /// Opens the array before the first string, separates the others.
  fn next_string(&mut self) {
    self.strings.push(if self.strings.is_empty() { b'[' } else { b',' });
  }

  /// Closes the strings' array (once).
  pub fn finish(&mut self) {
    if !std::mem::replace(&mut self.finished, true) {
      if self.strings.is_empty() {
        self.strings.push(b'[');
      }
      self.strings.push(b']');
    }
  }
}

/// Whether `value` goes to JS as the string `sent` (a text left as it was, or a date written as
/// the text said it).
fn is_as_sent(value: &Clean, sent: &str) -> bool {
  match value {
    Clean::String(s) => s == sent,
    Clean::Date(date) => date_text(*date).is_some_and(|text| text == sent.as_bytes()),
    _ => false,
  }
}

/// `"YYYY-MM-DD"` (as `chrono` formats `%Y-%m-%d`), without a formatter for the common years.
fn write_date(out: &mut Vec<u8>, date: NaiveDate) {
  match date_text(date) {
    Some(text) => {
      out.push(b'"');
      out.extend_from_slice(&text);
      out.push(b'"');
    }
    None => write!(out, "\"{}\"", date.format("%Y-%m-%d")).expect("writing to a Vec"),
  }
}

/// `YYYY-MM-DD` for the years 0 to 9999 (the others take a sign or more digits).
fn date_text(date: NaiveDate) -> Option<[u8; 10]> {
  let year = u32::try_from(date.year()).ok().filter(|&year| year <= 9999)?;
  let [m, d] = [date.month(), date.day()];
  let digit = |n: u32| b'0' + n as u8;
  Some([
    digit(year / 1000),
    digit(year / 100 % 10),
    digit(year / 10 % 10),
    digit(year % 10),
    b'-',
    digit(m / 10),
    digit(m % 10),
    b'-',
    digit(d / 10),
    digit(d % 10),
  ])
}

/// The valid records of a read in blocks of at most `rows_per_block`, with the errors of the
/// others ([`Keep`] for [`super::Schema::clean_records`]).
#[derive(Debug, Default)]
pub struct Columns {
  rows_per_block: usize,
  pub blocks: Vec<Block>,
  pub errors: Vec<FieldError>,
}

impl Columns {
  /// Nothing kept yet.
  pub fn new(rows_per_block: usize) -> Self {
    Columns { rows_per_block: rows_per_block.max(1), blocks: Vec::new(), errors: Vec::new() }
  }
}

impl Columns {
  /// Appends a valid record (see [`Block::push`]).
  fn push(&mut self, row: &[Clean], inputs: &[Option<(u64, &str)>]) {
    match self.blocks.last_mut() {
      Some(block) if block.rows < self.rows_per_block => block.push(row, inputs),
      _ => {
        let mut block = Block::default();
        block.push(row, inputs);
        self.blocks.push(block);
      }
    }
  }
}

impl Keep for Columns {
  fn valid(&mut self, _: usize, row: &mut Vec<Clean>) {
    self.push(row, &[]);
  }

  fn valid_ref(&mut self, _: usize, row: &[Clean]) {
    self.push(row, &[]);
  }

  fn valid_read(&mut self, _: usize, row: &mut Vec<Clean>, raw: &RawRecord<'_>) {
    self.push(row, &raw.input_strings);
  }

  fn errors(&mut self) -> &mut Vec<FieldError> {
    &mut self.errors
  }

  fn join(mut parts: Vec<(Self, usize)>) -> Self {
    let rows_per_block = parts.first().map_or(1, |(part, _)| part.rows_per_block);
    let errors =
      join_errors(parts.iter_mut().map(|(part, at)| (std::mem::take(&mut part.errors), *at)));
    let mut blocks: Vec<Block> = parts.into_iter().flat_map(|(part, _)| part.blocks).collect();
    blocks.iter_mut().for_each(Block::finish);
    Columns { rows_per_block, blocks, errors }
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn values_lay_out_in_columns_and_strings_in_json() {
    let date = NaiveDate::from_ymd_opt(812, 3, 9).unwrap();
    let far = NaiveDate::from_ymd_opt(-44, 3, 15).unwrap();
    let rows = [
      vec![Clean::Null, Clean::Bool(true), Clean::Int(-3), Clean::String("a \"q\" é".into())],
      vec![Clean::Bool(false), Clean::Float(2.5), Clean::Date(date), Clean::Date(far)],
    ];
    let mut columns = Columns::new(10);
    rows.iter().for_each(|row| columns.valid_ref(0, row));
    let Columns { blocks, .. } = Columns::join(vec![(columns, 0)]);
    assert_eq!(blocks.len(), 1);
    assert_eq!(
      blocks[0].kinds,
      [
        KIND_NULL,
        KIND_TRUE,
        KIND_NUMBER,
        KIND_STRING,
        KIND_FALSE,
        KIND_NUMBER,
        KIND_STRING,
        KIND_STRING
      ]
    );
    assert_eq!(blocks[0].numbers[2], -3.0);
    let strings: Vec<String> = serde_json::from_slice(&blocks[0].strings).unwrap();
    assert_eq!(
      strings,
      [
        "a \"q\" é",
        Clean::Date(date).to_json().as_str().unwrap(),
        Clean::Date(far).to_json().as_str().unwrap()
      ]
    );
    assert_eq!(strings[1], "0812-03-09");
  }

  #[test]
  fn strings_cleaning_left_as_sent_go_back_by_their_id() {
    let date = NaiveDate::from_ymd_opt(2015, 3, 9).unwrap();
    let row = [
      Clean::String("kept".into()),
      Clean::String("trimmed".into()),
      Clean::Date(date),
      Clean::Date(date),
      Clean::String("not sent".into()),
    ];
    let inputs = [
      Some((7, "kept")),
      Some((8, " trimmed ")),
      Some((1 << 32 | 9, "2015-03-09")),
      Some((10, "20150309")),
      None,
    ];
    let mut block = Block::default();
    block.push(&row, &inputs);
    block.finish();
    assert_eq!(
      block.kinds,
      [KIND_INPUT_STRING, KIND_STRING, KIND_INPUT_STRING, KIND_STRING, KIND_STRING]
    );
    assert_eq!((block.numbers[0], block.numbers[2]), (7.0, 4294967305.0));
    let strings: Vec<String> = serde_json::from_slice(&block.strings).unwrap();
    assert_eq!(strings, ["trimmed", "2015-03-09", "not sent"]);
  }

  #[test]
  fn blocks_hold_at_most_their_rows() {
    let mut columns = Columns::new(2);
    (0..5).for_each(|_| columns.valid_ref(0, &[Clean::Int(1)]));
    let joined = Columns::join(vec![(columns, 0), (Columns::new(2), 5)]);
    assert_eq!(joined.blocks.iter().map(|b| b.rows).collect::<Vec<_>>(), [2, 2, 1]);
    assert!(joined.blocks.iter().all(|b| b.strings == b"[]"));
  }
}
