//! Django-like data models: a [`Schema`] declares typed fields with constraints and cleans records,
//! reporting every bad field (not just the first). Pure Rust; `schema::js` is the napi face.

pub mod clean;
pub mod columns;
pub mod dates;
pub mod field;
pub mod read;
pub mod value;

#[cfg(feature = "binding")]
pub mod js;
#[cfg(feature = "binding")]
pub mod stream;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::error::{Result, TractNodeError};
use field::Field;
use read::{Item, Source};
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

/// What a job keeps of the records it cleans, chunk by chunk ([`Schema::clean_records`]).
pub trait Keep: Send {
  /// A valid record, cleaned into `row`, at `index` within its chunk; may take `row`'s values.
  fn valid(&mut self, index: usize, row: &mut Vec<Clean>);
  /// A record cleaned before, at `index`.
  fn valid_ref(&mut self, index: usize, row: &[Clean]) {
    self.valid(index, &mut row.to_vec());
  }
  /// A valid record cleaned into `row` from `raw` (whose values cleaning took).
  fn valid_read(&mut self, index: usize, row: &mut Vec<Clean>, _raw: &RawRecord<'_>) {
    self.valid(index, row);
  }
  /// Where the errors of invalid records go (indexed within the chunk).
  fn errors(&mut self) -> &mut Vec<FieldError>;
  /// The chunk's first record is record `first` of the input (told before any record, when the
  /// reader knows it then).
  fn starts_at(&mut self, _first: usize) {}
  /// What the chunks kept, in input order, joined into one: `(kept, offset)` per chunk, where the
  /// chunk's record `i` is record `offset + i` of the input. Sized once, as the parts can be big.
  fn join(parts: Vec<(Self, usize)>) -> Self
  where
    Self: Sized;
}

impl Keep for Report {
  fn valid(&mut self, index: usize, row: &mut Vec<Clean>) {
    // The next row is made as long as this one, so that it is allocated once, not grown.
    let next = Vec::with_capacity(row.len());
    self.valid.push((index, std::mem::replace(row, next)));
  }

  fn errors(&mut self) -> &mut Vec<FieldError> {
    &mut self.errors
  }

  fn join(mut parts: Vec<(Self, usize)>) -> Self {
    let mut whole = Report {
      valid: Vec::with_capacity(parts.iter().map(|(part, _)| part.valid.len()).sum()),
      errors: join_errors(
        parts.iter_mut().map(|(part, at)| (std::mem::take(&mut part.errors), *at)),
      ),
    };
    for (part, offset) in parts {
      whole.valid.extend(part.valid.into_iter().map(|(index, row)| (offset + index, row)));
    }
    whole
  }
}

/// The errors of chunks, `(errors, offset)` each, indexed within the input.
pub fn join_errors(parts: impl Iterator<Item = (Vec<FieldError>, usize)>) -> Vec<FieldError> {
  let mut joined = Vec::new();
  for (errors, offset) in parts {
    joined.extend(
      errors
        .into_iter()
        .map(|error| FieldError { index: error.index.map(|i| i + offset as u32), ..error }),
    );
  }
  joined
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
    self.field_index_near(name, 0)
  }

  /// The index of a field by name, looked for from `first` on (then from the start): records
  /// usually list their keys in declaration order, so the key after field `i` is most often field
  /// `i + 1`.
  pub fn field_index_near(&self, name: &str, first: usize) -> Option<usize> {
    let first = first.min(self.fields.len());
    let (before, after) = self.fields.split_at(first);
    let same = |f: &Field| f.name == name;
    after.iter().position(same).map(|i| first + i).or_else(|| before.iter().position(same))
  }

  /// Cleans one record into one value per declared field, or lists every problem.
  pub fn clean(
    &self,
    mut record: RawRecord<'_>,
    index: Option<u32>,
  ) -> std::result::Result<Vec<Clean>, Vec<FieldError>> {
    let (mut cleaned, mut errors) = (Vec::new(), Vec::new());
    if self.clean_into(&mut record, index, &mut cleaned, &mut errors) {
      Ok(cleaned)
    } else {
      Err(errors)
    }
  }

  /// Cleans `record` (taking its values) into `row`, one value per field in the place of the row's
  /// last record (strings reuse its buffers), or appends every problem to `errors` (`row` then
  /// holds nothing worth reading). Whether the record is valid.
  pub fn clean_into(
    &self,
    record: &mut RawRecord<'_>,
    index: Option<u32>,
    row: &mut Vec<Clean>,
    errors: &mut Vec<FieldError>,
  ) -> bool {
    let before = errors.len();
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
    row.resize(self.fields.len(), Clean::Null);
    for ((field, raw), slot) in self.fields.iter().zip(&mut record.values).zip(row.iter_mut()) {
      if let Err(issue) = clean::clean_to_slot(field, raw.take(), slot) {
        errors.push(error(&field.name, issue.code, issue.message));
      }
    }
    errors.len() == before
  }

  /// Reads and cleans every record of `source` on up to `threads` threads, keeping what `keep`
  /// keeps: a fresh one per chunk, appended in input order.
  pub fn clean_records<K: Keep>(
    &self,
    source: Source<'_>,
    threads: usize,
    keep: impl Fn() -> K + Sync,
  ) -> Result<K> {
    let chunks = read::read(
      source,
      self,
      threads,
      |first| {
        let mut kept = keep();
        if let Some(first) = first {
          kept.starts_at(first);
        }
        (kept, Vec::new())
      },
      |(kept, row), index, item| match item {
        Item::Record(record) => {
          if self.clean_into(record, Some(index as u32), row, kept.errors()) {
            kept.valid_read(index, row, record);
          }
        }
        Item::Invalid(message) => kept.errors().push(FieldError {
          index: Some(index as u32),
          path: String::new(),
          code: "invalid".into(),
          message,
        }),
      },
    )?;
    if chunks.is_empty() {
      return Ok(keep());
    }
    let mut offset = 0;
    let parts = chunks
      .into_iter()
      .map(|chunk| {
        offset += chunk.records;
        (chunk.state.0, offset - chunk.records)
      })
      .collect();
    Ok(K::join(parts))
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
