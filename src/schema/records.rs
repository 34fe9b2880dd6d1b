//! Records from bytes: a JSON array of objects, or NDJSON (one object per line). Parsed straight into
//! [`RawRecord`]s, without building a JSON tree first.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::value::{RawRecord, RawValue};
use crate::error::{Result, TractNodeError};

/// One element of the input: a record, or why it is not one.
#[derive(Debug)]
pub enum Parsed {
  Record(RawRecord),
  /// Not an object (`kind` says what it is) or not valid JSON (NDJSON lines only).
  Invalid(String),
}

/// Parses a JSON array of objects or NDJSON. A JSON array with a syntax error fails as a whole;
/// in NDJSON, each bad line fails alone. Blank NDJSON lines are skipped.
pub fn parse_records(bytes: &[u8]) -> Result<Vec<Parsed>> {
  let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
  if first == Some(&b'[') {
    let records: Vec<Element> = serde_json::from_slice(bytes).map_err(|e| {
      TractNodeError::invalid_arg("records", format!("not a valid JSON array: {e}"))
    })?;
    return Ok(records.into_iter().map(|Element(parsed)| parsed).collect());
  }
  Ok(
    bytes
      .split(|&b| b == b'\n')
      .filter(|line| line.iter().any(|b| !b.is_ascii_whitespace()))
      .map(|line| match serde_json::from_slice::<Element>(line) {
        Ok(Element(parsed)) => parsed,
        Err(e) => Parsed::Invalid(format!("Not valid JSON: {e}.")),
      })
      .collect(),
  )
}

struct Element(Parsed);

impl<'de> Deserialize<'de> for Element {
  fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
    deserializer.deserialize_any(ElementVisitor)
  }
}

struct ElementVisitor;

fn not_an_object(kind: &str) -> Element {
  Element(Parsed::Invalid(format!("Expected an object, got {kind}.")))
}

impl<'de> Visitor<'de> for ElementVisitor {
  type Value = Element;

  fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
    f.write_str("a record object")
  }

  fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Element, A::Error> {
    let mut record = RawRecord::with_capacity(map.size_hint().unwrap_or(8));
    while let Some(key) = map.next_key::<String>()? {
      let FieldValue(value) = map.next_value()?;
      record.push((key, value));
    }
    Ok(Element(Parsed::Record(record)))
  }

  fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Element, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(not_an_object("an array"))
  }

  fn visit_str<E>(self, _: &str) -> std::result::Result<Element, E> {
    Ok(not_an_object("a string"))
  }

  fn visit_f64<E>(self, _: f64) -> std::result::Result<Element, E> {
    Ok(not_an_object("a number"))
  }

  fn visit_i64<E>(self, _: i64) -> std::result::Result<Element, E> {
    Ok(not_an_object("a number"))
  }

  fn visit_u64<E>(self, _: u64) -> std::result::Result<Element, E> {
    Ok(not_an_object("a number"))
  }

  fn visit_bool<E>(self, _: bool) -> std::result::Result<Element, E> {
    Ok(not_an_object("a boolean"))
  }

  fn visit_unit<E>(self) -> std::result::Result<Element, E> {
    Ok(not_an_object("null"))
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

  fn records(text: &str) -> Vec<String> {
    parse_records(text.as_bytes())
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
    let array = records(r#" [{"a": 1, "b": "x"}, {"c": null, "d": [1], "e": {"f": 2}}, 3] "#);
    assert_eq!(array[0], r#"[("a", Number(1.0)), ("b", String("x"))]"#);
    assert_eq!(array[1], r#"[("c", Null), ("d", Other("an array")), ("e", Other("an object"))]"#);
    assert_eq!(array[2], "Expected an object, got a number.");
    let ndjson = records("{\"a\": true}\n\n{bad json}\n{\"a\": false}\n");
    assert_eq!(ndjson.len(), 3);
    assert!(ndjson[1].starts_with("Not valid JSON"));
    assert_eq!(ndjson[2], r#"[("a", Bool(false))]"#);
  }

  #[test]
  fn a_broken_json_array_fails_whole() {
    let err = parse_records(b"[{\"a\": 1}, {").unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_INVALID_ARG");
  }
}
