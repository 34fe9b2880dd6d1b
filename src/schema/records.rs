//! Records from bytes: a JSON array of objects, NDJSON (one object per line), or CSV with a header
//! row. Parsed straight into [`RawRecord`]s slotted by the schema, without building a JSON tree or
//! allocating known keys.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::value::{RawRecord, RawValue};
use super::Schema;
use crate::error::{Result, TractNodeError};

/// One element of the input: a record, or why it is not one.
#[derive(Debug)]
pub enum Parsed {
  Record(RawRecord),
  /// Not an object (`kind` says what it is) or not valid JSON (NDJSON lines only).
  Invalid(String),
}

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

/// Parses records laid out in `format`.
pub fn parse(bytes: &[u8], format: Format, schema: &Schema) -> Result<Vec<Parsed>> {
  match format {
    Format::Json => parse_records(bytes, schema),
    Format::Csv => Ok(parse_csv(bytes, schema)),
  }
}

/// Parses CSV whose first row names the columns. Cells are text, cleaned as form input is
/// ([`RawValue::Text`]). An empty cell has no value: the field's default if it has one, else null
/// if it is nullable, else it is missing (`required`). A row with more or fewer cells than the
/// header, or cells that are not UTF-8, is that record's error. Blank lines are skipped.
pub fn parse_csv(bytes: &[u8], schema: &Schema) -> Vec<Parsed> {
  let mut reader = csv_reader(bytes);
  let header = match header_of(&mut reader) {
    Ok(header) => header,
    Err(e) => return vec![Parsed::Invalid(format!("Cannot read the CSV header: {e}."))],
  };
  reader
    .into_byte_records()
    .map(|row| match row {
      Ok(row) if row.len() != header.len() => Parsed::Invalid(format!(
        "Expected {} columns (as in the header), got {}.",
        header.len(),
        row.len()
      )),
      Ok(row) => csv_record(schema, &header, &row),
      Err(e) => Parsed::Invalid(format!("Not valid CSV: {e}.")),
    })
    .collect()
}

/// The column names of CSV `bytes`: its first row, read as [`parse_csv`] reads it (quoted names,
/// a byte-order mark, names trimmed).
pub fn csv_header(bytes: &[u8]) -> Result<Vec<String>> {
  header_of(&mut csv_reader(bytes))
    .map_err(|e| TractNodeError::invalid_arg("csv", format!("cannot read the header: {e}")))
}

/// A reader of CSV `bytes` past a byte-order mark, rows of any length.
fn csv_reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
  let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
  csv::ReaderBuilder::new().flexible(true).from_reader(bytes)
}

/// The header row of `reader`, names trimmed.
fn header_of(reader: &mut csv::Reader<&[u8]>) -> csv::Result<Vec<String>> {
  let header = reader.byte_headers()?;
  Ok(header.iter().map(|name| String::from_utf8_lossy(name).trim().to_string()).collect())
}

fn csv_record(schema: &Schema, header: &[String], row: &csv::ByteRecord) -> Parsed {
  let mut record = RawRecord::new(schema);
  for (name, cell) in header.iter().zip(row.iter()) {
    let Ok(text) = std::str::from_utf8(cell) else {
      return Parsed::Invalid(format!("Column '{name}' is not valid UTF-8."));
    };
    if !text.is_empty() {
      record.insert(schema, name, RawValue::Text(text.to_string()));
    } else if let Some(field) = schema.field_index(name).map(|i| &schema.fields()[i]) {
      if field.nullable && field.default.is_none() {
        record.insert(schema, name, RawValue::Null);
      }
    }
  }
  Parsed::Record(record)
}

/// Parses a JSON array of objects or NDJSON. A JSON array with a syntax error fails as a whole;
/// in NDJSON, each bad line fails alone. Blank NDJSON lines are skipped.
pub fn parse_records(bytes: &[u8], schema: &Schema) -> Result<Vec<Parsed>> {
  let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
  if first == Some(&b'[') {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let records = deserializer
      .deserialize_seq(ArrayVisitor { schema })
      .and_then(|records| deserializer.end().map(|_| records))
      .map_err(|e| {
        TractNodeError::invalid_arg("records", format!("not a valid JSON array: {e}"))
      })?;
    return Ok(records);
  }
  Ok(
    bytes
      .split(|&b| b == b'\n')
      .filter(|line| line.iter().any(|b| !b.is_ascii_whitespace()))
      .map(|line| {
        let mut deserializer = serde_json::Deserializer::from_slice(line);
        ElementSeed { schema }
          .deserialize(&mut deserializer)
          .and_then(|parsed| deserializer.end().map(|_| parsed))
          .unwrap_or_else(|e| Parsed::Invalid(format!("Not valid JSON: {e}.")))
      })
      .collect(),
  )
}

struct ArrayVisitor<'s> {
  schema: &'s Schema,
}

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
  type Value = Vec<Parsed>;

  fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
    f.write_str("an array of records")
  }

  fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Vec<Parsed>, A::Error> {
    let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(1024));
    while let Some(parsed) = seq.next_element_seed(ElementSeed { schema: self.schema })? {
      records.push(parsed);
    }
    Ok(records)
  }
}

/// One element of the input, read against the schema.
#[derive(Clone, Copy)]
struct ElementSeed<'s> {
  schema: &'s Schema,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_> {
  type Value = Parsed;

  fn deserialize<D: Deserializer<'de>>(
    self,
    deserializer: D,
  ) -> std::result::Result<Parsed, D::Error> {
    deserializer.deserialize_any(self)
  }
}

fn not_an_object(kind: &str) -> Parsed {
  Parsed::Invalid(format!("Expected an object, got {kind}."))
}

impl<'de> Visitor<'de> for ElementSeed<'_> {
  type Value = Parsed;

  fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
    f.write_str("a record object")
  }

  fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Parsed, A::Error> {
    let mut record = RawRecord::new(self.schema);
    while let Some(key) = map.next_key_seed(KeySeed)? {
      let FieldValue(value) = map.next_value()?;
      record.insert(self.schema, &key, value);
    }
    Ok(Parsed::Record(record))
  }

  fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Parsed, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(not_an_object("an array"))
  }

  fn visit_str<E>(self, _: &str) -> std::result::Result<Parsed, E> {
    Ok(not_an_object("a string"))
  }

  fn visit_f64<E>(self, _: f64) -> std::result::Result<Parsed, E> {
    Ok(not_an_object("a number"))
  }

  fn visit_i64<E>(self, _: i64) -> std::result::Result<Parsed, E> {
    Ok(not_an_object("a number"))
  }

  fn visit_u64<E>(self, _: u64) -> std::result::Result<Parsed, E> {
    Ok(not_an_object("a number"))
  }

  fn visit_bool<E>(self, _: bool) -> std::result::Result<Parsed, E> {
    Ok(not_an_object("a boolean"))
  }

  fn visit_unit<E>(self) -> std::result::Result<Parsed, E> {
    Ok(not_an_object("null"))
  }
}

/// A key, borrowed from the input when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
  type Value = std::borrow::Cow<'de, str>;

  fn deserialize<D: Deserializer<'de>>(
    self,
    deserializer: D,
  ) -> std::result::Result<Self::Value, D::Error> {
    deserializer.deserialize_str(self)
  }
}

impl<'de> Visitor<'de> for KeySeed {
  type Value = std::borrow::Cow<'de, str>;

  fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
    f.write_str("a key")
  }

  fn visit_borrowed_str<E>(self, v: &'de str) -> std::result::Result<Self::Value, E> {
    Ok(std::borrow::Cow::Borrowed(v))
  }

  fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
    Ok(std::borrow::Cow::Owned(v.to_string()))
  }
}

/// One field value: scalars as they are, nested arrays and objects skipped and marked.
struct FieldValue(RawValue);

impl<'de> Deserialize<'de> for FieldValue {
  fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
    deserializer.deserialize_any(FieldValueVisitor)
  }
}

struct FieldValueVisitor;

impl<'de> Visitor<'de> for FieldValueVisitor {
  type Value = FieldValue;

  fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
    f.write_str("a JSON value")
  }

  fn visit_bool<E>(self, v: bool) -> std::result::Result<FieldValue, E> {
    Ok(FieldValue(RawValue::Bool(v)))
  }

  fn visit_i64<E>(self, v: i64) -> std::result::Result<FieldValue, E> {
    Ok(FieldValue(RawValue::Number(v as f64)))
  }

  fn visit_u64<E>(self, v: u64) -> std::result::Result<FieldValue, E> {
    Ok(FieldValue(RawValue::Number(v as f64)))
  }

  fn visit_f64<E>(self, v: f64) -> std::result::Result<FieldValue, E> {
    Ok(FieldValue(RawValue::Number(v)))
  }

  fn visit_str<E>(self, v: &str) -> std::result::Result<FieldValue, E> {
    Ok(FieldValue(RawValue::String(v.to_string())))
  }

  fn visit_string<E>(self, v: String) -> std::result::Result<FieldValue, E> {
    Ok(FieldValue(RawValue::String(v)))
  }

  fn visit_unit<E>(self) -> std::result::Result<FieldValue, E> {
    Ok(FieldValue(RawValue::Null))
  }

  fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<FieldValue, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(FieldValue(RawValue::Other("an array")))
  }

  fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<FieldValue, A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(FieldValue(RawValue::Other("an object")))
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn schema() -> Schema {
    let entries = ["a", "b", "c", "d", "e"]
      .map(|n| (n.to_string(), serde_json::json!({ "type": "string", "nullable": true })));
    Schema::from_definition(&entries, Default::default()).unwrap()
  }

  fn records(text: &str) -> Vec<String> {
    parse_records(text.as_bytes(), &schema())
      .unwrap()
      .into_iter()
      .map(|p| match p {
        Parsed::Record(r) => format!("{r:?}"),
        Parsed::Invalid(why) => why,
      })
      .collect()
  }

  #[test]
  fn json_arrays_and_ndjson_parse_to_records() {
    let array = records(
      r#" [{"a": 1, "b": "x", "z": 0}, {"c": null, "d": [1], "e": {"f": 2}, "c": "last"}, 3] "#,
    );
    assert_eq!(
      array[0],
      r#"RawRecord { values: [Some(Number(1.0)), Some(String("x")), None, None, None], unknown: ["z"] }"#
    );
    assert_eq!(
      array[1],
      r#"RawRecord { values: [None, None, Some(String("last")), Some(Other("an array")), Some(Other("an object"))], unknown: [] }"#
    );
    assert_eq!(array[2], "Expected an object, got a number.");
    let ndjson = records("{\"a\": true}\n\n{bad json}\n{\"a\": false} trailing\n{\"a\": false}");
    assert_eq!(ndjson.len(), 4);
    assert!(ndjson[1].starts_with("Not valid JSON"));
    assert!(ndjson[2].starts_with("Not valid JSON"));
    assert!(ndjson[3].starts_with("RawRecord { values: [Some(Bool(false))"));
  }

  fn csv(text: &str) -> Vec<String> {
    parse(text.as_bytes(), Format::Csv, &schema())
      .unwrap()
      .into_iter()
      .map(|p| match p {
        Parsed::Record(r) => format!("{:?}", r.values),
        Parsed::Invalid(why) => why,
      })
      .collect()
  }

  #[test]
  fn csv_cells_are_text_and_empty_cells_of_nullable_fields_are_null() {
    let rows = csv("\u{feff}a,b, c\r\n1,\"x, \"\"y\"\"\",\n\n,\"multi\nline\",3\n1,2\n");
    assert_eq!(rows[0], r#"[Some(Text("1")), Some(Text("x, \"y\"")), Some(Null), None, None]"#);
    assert_eq!(rows[1], r#"[Some(Null), Some(Text("multi\nline")), Some(Text("3")), None, None]"#);
    assert_eq!(rows[2], "Expected 3 columns (as in the header), got 2.");
    assert_eq!(rows.len(), 3);
  }

  #[test]
  fn csv_rejects_bad_utf8_per_row_and_unknown_formats() {
    let rows = parse(b"a,b\n\xff,1\n2,1\n", Format::Csv, &schema()).unwrap();
    assert!(matches!(&rows[0], Parsed::Invalid(why) if why == "Column 'a' is not valid UTF-8."));
    assert!(matches!(rows[1], Parsed::Record(_)));
    assert_eq!(Format::from_name("xml").unwrap_err().code().as_str(), "ERR_INVALID_ARG");
  }

  #[test]
  fn a_broken_json_array_fails_whole() {
    let err = parse_records(b"[{\"a\": 1}, {", &schema()).unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_INVALID_ARG");
  }
}
