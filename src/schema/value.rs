//! Values as they arrive (from JS objects or parsed JSON) and as validation leaves them.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::Value;

use super::Schema;

/// One field's value as it arrived, before validation. JSON-like, plus what JS can hold that JSON
/// cannot: non-finite numbers and `Date` objects. Text borrows from the input where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue<'a> {
  Null,
  Bool(bool),
  /// Any JS number, NaN and ±Infinity included.
  Number(f64),
  String(Cow<'a, str>),
  /// Text with no type of its own (a CSV cell): cleaned the way a form cleans its input, as if the
  /// field had `coerce`.
  Text(Cow<'a, str>),
  /// A JS `Date`, as milliseconds since the epoch (NaN for an invalid date).
  Date(f64),
  /// Arrays, objects and other values no field accepts; the name says which.
  Other(&'static str),
}

impl RawValue<'_> {
  /// What the value is, for error messages.
  pub fn kind(&self) -> &'static str {
    match self {
      RawValue::Null => "null",
      RawValue::Bool(_) => "a boolean",
      RawValue::Number(_) => "a number",
      RawValue::String(_) | RawValue::Text(_) => "a string",
      RawValue::Date(_) => "a Date",
      RawValue::Other(kind) => kind,
    }
  }
}

impl From<Value> for RawValue<'static> {
  fn from(value: Value) -> Self {
    match value {
      Value::Null => RawValue::Null,
      Value::Bool(b) => RawValue::Bool(b),
      Value::Number(n) => RawValue::Number(n.as_f64().unwrap_or(f64::NAN)),
      Value::String(s) => RawValue::String(Cow::Owned(s)),
      Value::Array(_) => RawValue::Other("an array"),
      Value::Object(_) => RawValue::Other("an object"),
    }
  }
}

/// A record as it arrived, slotted by the schema: one value per declared field (`None` when the
/// key is missing) and the keys the schema does not declare. Readers fill one record after
/// another into the same `RawRecord` ([`RawRecord::clear`]), so its buffers are reused.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord<'a> {
  pub values: Vec<Option<RawValue<'a>>>,
  pub unknown: Vec<String>,
  /// For a record JS encoded (`js/records.js`), each slot's string as JS sent it, with the id JS
  /// finds it by: a cleaned string equal to it goes back to JS as that id, and JS reuses its own
  /// string rather than making a new one. `None` elsewhere.
  pub input_strings: Vec<Option<(u64, &'a str)>>,
  /// The field the last key named, where the next key is looked for first (keys usually come in
  /// declaration order).
  last: usize,
}

impl<'a> RawRecord<'a> {
  /// An empty record for `schema`.
  pub fn new(schema: &Schema) -> Self {
    let width = schema.fields().len();
    RawRecord {
      values: vec![None; width],
      unknown: Vec::new(),
      input_strings: vec![None; width],
      last: 0,
    }
  }

  /// Empties the record for the next one.
  pub fn clear(&mut self) {
    self.values.iter_mut().for_each(|value| *value = None);
    self.input_strings.iter_mut().for_each(|input| *input = None);
    self.unknown.clear();
    self.last = 0;
  }

  /// Sets a key's value; a repeated key keeps its last value, as a JS object or a dict does.
  pub fn insert(&mut self, schema: &Schema, key: &str, value: RawValue<'a>) {
    match schema.field_index_near(key, self.last) {
      Some(index) => {
        self.values[index] = Some(value);
        self.last = index + 1;
      }
      None if !self.unknown.iter().any(|k| k == key) => self.unknown.push(key.to_string()),
      None => {}
    }
  }

  /// A parsed JSON object as a record; anything but an object is `None`.
  pub fn from_json(schema: &Schema, value: Value) -> Option<RawRecord<'static>> {
    let Value::Object(map) = value else { return None };
    let mut record = RawRecord::new(schema);
    for (key, value) in map {
      record.insert(schema, &key, value.into());
    }
    Some(record)
  }
}

/// A validated value.
#[derive(Debug, Clone, PartialEq)]
pub enum Clean {
  Null,
  Bool(bool),
  Int(i64),
  Float(f64),
  String(String),
  Date(NaiveDate),
  DateTime(DateTime<Utc>),
}

impl Clean {
  /// The value as JSON: dates as `YYYY-MM-DD`, datetimes as RFC 3339 UTC with milliseconds.
  pub fn to_json(&self) -> Value {
    match self {
      Clean::Null => Value::Null,
      Clean::Bool(b) => Value::Bool(*b),
      Clean::Int(i) => Value::from(*i),
      Clean::Float(f) => Value::from(*f),
      Clean::String(s) => Value::String(s.clone()),
      Clean::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
      Clean::DateTime(dt) => Value::String(dt.to_rfc3339_opts(SecondsFormat::Millis, true)),
    }
  }
}
