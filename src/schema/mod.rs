//! Django-like data models: a [`Schema`] declares typed fields with constraints and cleans records,
//! reporting every bad field (not just the first). Pure Rust; `schema::js` is the napi face.

pub mod clean;
pub mod dates;
pub mod field;
pub mod records;
pub mod value;

#[cfg(feature = "binding")]
pub mod js;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::error::{Result, TractNodeError};
use field::Field;
use records::Parsed;
use value::{Clean, RawRecord};

pub use crate::error::FieldError;

/// Schema-wide options.
#[derive(Debug, Clone, Copy, Default)]
pub struct SchemaOptions {
  /// Accept (and drop) keys the schema does not declare, instead of failing with `unknown_field`.
  pub allow_unknown: bool,
  /// Default `coerce` of every field.
  pub coerce: bool,
}

/// A declared data model.
#[derive(Debug, Clone)]
pub struct Schema {
  fields: Vec<Field>,
  options: SchemaOptions,
}

/// The outcome of validating many records: cleaned good records with their input index, and every
/// error of every bad record.
#[derive(Debug, Default)]
pub struct Report {
  pub valid: Vec<(usize, Vec<Clean>)>,
  pub errors: Vec<FieldError>,
}

impl Schema {
  /// Reads a definition: `(fieldName, { type, ... })` entries in declaration order (JS passes
  /// `Object.entries(fields)`). A bad definition is `ERR_SCHEMA` naming the field.
  pub fn from_definition(entries: &[(String, Value)], options: SchemaOptions) -> Result<Schema> {
    if entries.is_empty() {
      return Err(TractNodeError::Schema {
        field: "(schema)".into(),
        reason: "declares no fields".into(),
      });
    }
    if let Some(i) =
      (1..entries.len()).find(|&i| entries[..i].iter().any(|(n, _)| *n == entries[i].0))
    {
      return Err(TractNodeError::Schema {
        field: entries[i].0.clone(),
        reason: "declared twice".into(),
      });
    }
    let fields = entries
      .iter()
      .map(|(name, definition)| Field::from_definition(name, definition, options.coerce))
      .collect::<Result<_>>()?;
    Ok(Schema { fields, options })
  }

  /// The declared fields, in declaration order.
  pub fn fields(&self) -> &[Field] {
    &self.fields
  }

  /// The index of a field by name.
  pub fn field_index(&self, name: &str) -> Option<usize> {
    self.fields.iter().position(|f| f.name == name)
  }

  /// Cleans one record into one value per declared field, or lists every problem.
  pub fn clean(
    &self,
    record: RawRecord,
    index: Option<u32>,
  ) -> std::result::Result<Vec<Clean>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let error = |path: &str, code: &str, message: String| FieldError {
      index,
      path: path.to_string(),
      code: code.to_string(),
      message,
    };
    if !self.options.allow_unknown {
      for key in &record.unknown {
        errors.push(error(
          key,
          "unknown_field",
          "This field is not declared by the schema.".into(),
        ));
      }
    }
    let mut cleaned = Vec::with_capacity(self.fields.len());
    for (field, raw) in self.fields.iter().zip(record.values) {
      match clean::clean(field, raw) {
        Ok(value) => cleaned.push(value),
        Err(issue) => errors.push(error(&field.name, issue.code, issue.message)),
      }
    }
    if errors.is_empty() {
      Ok(cleaned)
    } else {
      Err(errors)
    }
  }

  /// Cleans many records; bad ones are reported, good ones kept.
  pub fn clean_many(&self, records: Vec<Parsed>) -> Report {
    let mut report = Report::default();
    for (index, parsed) in records.into_iter().enumerate() {
      match parsed {
        Parsed::Record(record) => match self.clean(record, Some(index as u32)) {
          Ok(values) => report.valid.push((index, values)),
          Err(errors) => report.errors.extend(errors),
        },
        Parsed::Invalid(message) => report.errors.push(FieldError {
          index: Some(index as u32),
          path: String::new(),
          code: "invalid".into(),
          message,
        }),
      }
    }
    report
  }
}

/// A JSON object read as entries in document order (serde_json's own map sorts its keys).
#[derive(Debug, Clone, Default)]
pub struct Entries(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
  fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
    struct EntriesVisitor;
    impl<'de> Visitor<'de> for EntriesVisitor {
      type Value = Entries;
      fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
      }
      fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Entries, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
          entries.push(entry);
        }
        Ok(Entries(entries))
      }
    }
    deserializer.deserialize_map(EntriesVisitor)
  }
}

#[cfg(test)]
mod tests;
