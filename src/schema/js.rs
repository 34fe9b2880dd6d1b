//! The napi face of [`Schema`]: `NativeSchema` (wrapped by `Schema` in `js/schema.js`) and
//! `ValidationReport`, which hands results to JS in chunks so that a million records never block
//! the event loop in one go.

use std::collections::VecDeque;
use std::sync::Arc;

use napi::bindgen_prelude::{
  Array, Either, JsObjectValue, Null, Object, ToNapiValue, Uint8Array, Unknown,
};
use napi::{sys, Env, JsDate, JsValue, ValueType};
use napi_derive::napi;
use serde_json::Value;

use super::records::{csv_header, parse, Format, Parsed};
use super::value::{Clean, RawRecord, RawValue};
use super::{FieldError, Schema, SchemaOptions};
use crate::error::js::IntoNapi;
use crate::error::{Result, TractNodeError};
use crate::pool;

/// Schema-wide options.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct SchemaOptionsJs {
  /// Accept (and drop) keys the schema does not declare instead of failing with `unknown_field`.
  pub allow_unknown: Option<bool>,
  /// Default `coerce` of every field: convert strings the way Django forms do.
  pub coerce: Option<bool>,
}

/// How to read records given as bytes.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct ReadOptions {
  /// `'json'` (default): a JSON array of objects or NDJSON. `'csv'`: CSV (RFC 4180) with a header
  /// row naming the fields; cells are text, converted the way Django forms convert input (as with
  /// `coerce`), and an empty cell takes the field's default, else null if nullable, else is missing.
  #[napi(ts_type = "'json' | 'csv'")]
  pub format: Option<String>,
}

/// Records on their way to the compute pool: bytes to parse there, or records read from a JS array.
pub(crate) enum Input {
  Bytes(Uint8Array, Format),
  Records(Vec<Parsed>),
}

impl Input {
  /// The records, parsing bytes against `schema`.
  pub(crate) fn parse(self, schema: &Schema) -> Result<Vec<Parsed>> {
    match self {
      Input::Bytes(bytes, format) => parse(&bytes, format, schema),
      Input::Records(records) => Ok(records),
    }
  }
}

/// A compiled schema. Use `Schema` from the package entry point rather than this class.
#[napi]
pub struct NativeSchema {
  pub(crate) schema: Arc<Schema>,
}

#[napi]
impl NativeSchema {
  /// Compiles `fields` (`{ name: { type, ... } }`, in declaration order); throws ERR_SCHEMA.
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, fields: Object<'_>, options: Option<SchemaOptionsJs>) -> napi::Result<Self> {
    let options = options.unwrap_or_default();
    let options = SchemaOptions {
      allow_unknown: options.allow_unknown.unwrap_or(false),
      coerce: options.coerce.unwrap_or(false),
    };
    let entries = definition_entries(&env, &fields).into_napi(&env)?;
    let schema = Schema::from_definition(&entries, options).into_napi(&env)?;
    Ok(NativeSchema { schema: Arc::new(schema) })
  }

  /// Declared field names, in order.
  #[napi(getter)]
  pub fn field_names(&self) -> Vec<String> {
    self.schema.fields().iter().map(|f| f.name.clone()).collect()
  }

  /// Cleans one record on the calling thread; throws ERR_VALIDATION with `errors`.
  #[napi(catch_unwind, ts_return_type = "Record<string, unknown>")]
  pub fn validate_sync(&self, env: Env, record: Unknown<'_>) -> napi::Result<CleanRecord> {
    let outcome = match read_record(&self.schema, record) {
      Parsed::Record(record) => {
        self.schema.clean(record, None).map(|values| CleanRecord::new(&self.schema, values))
      }
      Parsed::Invalid(message) => {
        Err(vec![FieldError { index: None, path: String::new(), code: "invalid".into(), message }])
      }
    };
    outcome.map_err(|errors| TractNodeError::Validation { errors }).into_napi(&env)
  }

  /// Cleans many records on the compute pool: an array of objects, or a Buffer holding a JSON array,
  /// NDJSON or CSV (parsed in Rust).
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<ValidationReport>",
    ts_args_type = "records: Array<unknown> | Uint8Array, options?: ReadOptions"
  )]
  pub fn validate_many<'env>(
    &self,
    env: &'env Env,
    records: Either<Uint8Array, Array<'_>>,
    options: Option<ReadOptions>,
  ) -> napi::Result<Object<'env>> {
    let schema = self.schema.clone();
    let input = read_many(&schema, records, options).into_napi(env)?;
    pool::js::spawn(env, move || {
      let report = schema.clean_many(input.parse(&schema)?);
      Ok(ValidationReport { schema, valid: report.valid.into(), errors: report.errors.into() })
    })
  }
}

/// The outcome of `validateMany`, handed over in chunks (`takeValid`, `takeErrors`).
#[napi]
pub struct ValidationReport {
  schema: Arc<Schema>,
  valid: VecDeque<(usize, Vec<Clean>)>,
  errors: VecDeque<FieldError>,
}

impl ValidationReport {
  /// A report of errors alone (the valid records went elsewhere).
  pub(crate) fn errors_only(schema: Arc<Schema>, errors: Vec<FieldError>) -> Self {
    ValidationReport { schema, valid: VecDeque::new(), errors: errors.into() }
  }
}

#[napi]
impl ValidationReport {
  /// Valid records not taken yet.
  #[napi(getter)]
  pub fn valid_left(&self) -> u32 {
    self.valid.len() as u32
  }

  /// Errors not taken yet.
  #[napi(getter)]
  pub fn errors_left(&self) -> u32 {
    self.errors.len() as u32
  }

  /// Takes up to `count` cleaned records, in input order.
  #[napi(ts_return_type = "Array<Record<string, unknown>>")]
  pub fn take_valid(&mut self, count: u32) -> Vec<CleanRecord> {
    let count = (count as usize).min(self.valid.len());
    self.valid.drain(..count).map(|(_, values)| CleanRecord::new(&self.schema, values)).collect()
  }

  /// Takes up to `count` errors, in input order.
  #[napi]
  pub fn take_errors(&mut self, count: u32) -> Vec<FieldError> {
    let count = (count as usize).min(self.errors.len());
    self.errors.drain(..count).collect()
  }
}

/// A cleaned record on its way to JS: declared fields in declaration order; dates as `YYYY-MM-DD`,
/// datetimes as RFC 3339 UTC strings.
pub struct CleanRecord {
  schema: Arc<Schema>,
  values: Vec<Clean>,
}

impl CleanRecord {
  fn new(schema: &Arc<Schema>, values: Vec<Clean>) -> Self {
    CleanRecord { schema: schema.clone(), values }
  }
}

impl ToNapiValue for CleanRecord {
  unsafe fn to_napi_value(raw_env: sys::napi_env, record: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut object = Object::new(&env)?;
    for (field, value) in record.schema.fields().iter().zip(record.values) {
      match value {
        Clean::Null => object.set_named_property(&field.name, Null)?,
        Clean::Bool(b) => object.set_named_property(&field.name, b)?,
        Clean::Int(i) => object.set_named_property(&field.name, i as f64)?,
        Clean::Float(f) => object.set_named_property(&field.name, f)?,
        Clean::String(s) => object.set_named_property(&field.name, s)?,
        date => {
          object.set_named_property(&field.name, date.to_json().as_str().unwrap_or_default())?
        }
      }
    }
    Ok(object.raw())
  }
}

/// The fields object as ordered entries; definitions themselves go through serde.
fn definition_entries(env: &Env, fields: &Object<'_>) -> Result<Vec<(String, Value)>> {
  let bad = |reason: String| TractNodeError::Schema { field: "(schema)".into(), reason };
  let names = Object::keys(fields).map_err(|e| bad(e.reason.clone()))?;
  names
    .into_iter()
    .map(|name| {
      let value: Unknown<'_> =
        fields.get(&name).ok().flatten().ok_or_else(|| bad(format!("cannot read '{name}'")))?;
      let definition: Value = env
        .from_js_value(value)
        .map_err(|e| TractNodeError::Schema { field: name.clone(), reason: e.reason.clone() })?;
      Ok((name, definition))
    })
    .collect()
}

/// Takes records from JS: bytes are kept to parse on the pool, array elements are read now.
pub(crate) fn read_many(
  schema: &Schema,
  records: Either<Uint8Array, Array<'_>>,
  options: Option<ReadOptions>,
) -> Result<Input> {
  let format = match options.and_then(|o| o.format) {
    Some(name) => Format::from_name(&name)?,
    None => Format::default(),
  };
  Ok(match records {
    Either::A(bytes) => Input::Bytes(bytes, format),
    Either::B(array) => Input::Records(
      (0..array.len())
        .map(|i| {
          let value: Unknown<'_> = array.get(i).ok().flatten().ok_or_else(|| {
            TractNodeError::invalid_arg("records", format!("cannot read element {i}"))
          })?;
          Ok(read_record(schema, value))
        })
        .collect::<Result<_>>()?,
    ),
  })
}

/// Reads a JS record's own enumerable keys; `undefined` values count as missing keys.
pub(crate) fn read_record(schema: &Schema, value: Unknown<'_>) -> Parsed {
  let kind = value.get_type().unwrap_or(ValueType::Unknown);
  if kind != ValueType::Object || value.is_array().unwrap_or(false) {
    return Parsed::Invalid(format!("Expected an object, got {}.", RawValue::from_js_kind(kind)));
  }
  // SAFETY: `value` is an object (checked above), in this call's scope.
  let object: Object<'_> = match unsafe { value.cast() } {
    Ok(object) => object,
    Err(e) => return Parsed::Invalid(e.reason.clone()),
  };
  let Ok(keys) = Object::keys(&object) else {
    return Parsed::Invalid("Cannot read the object's keys.".into());
  };
  let mut record = RawRecord::new(schema);
  for key in keys {
    let Some(field) = object.get::<Unknown<'_>>(&key).ok().flatten() else { continue };
    if let Some(raw) = read_value(field) {
      record.insert(schema, &key, raw);
    }
  }
  Parsed::Record(record)
}

fn read_value(value: Unknown<'_>) -> Option<RawValue> {
  let kind = value.get_type().ok()?;
  // SAFETY (each cast): `value` is of the JS type the arm matched, in this call's scope.
  Some(match kind {
    ValueType::Undefined => return None,
    ValueType::Null => RawValue::Null,
    ValueType::Boolean => RawValue::Bool(unsafe { value.cast::<bool>() }.ok()?),
    ValueType::Number => RawValue::Number(unsafe { value.cast::<f64>() }.ok()?),
    ValueType::String => RawValue::String(unsafe { value.cast::<String>() }.ok()?),
    ValueType::Object if value.is_date().unwrap_or(false) => {
      RawValue::Date(unsafe { value.cast::<JsDate<'_>>() }.ok()?.value_of().ok()?)
    }
    ValueType::Object if value.is_array().unwrap_or(false) => RawValue::Other("an array"),
    other => RawValue::Other(RawValue::from_js_kind(other)),
  })
}

impl RawValue {
  /// How a JS value of this type is named in error messages.
  fn from_js_kind(kind: ValueType) -> &'static str {
    match kind {
      ValueType::Undefined => "undefined",
      ValueType::Null => "null",
      ValueType::Boolean => "a boolean",
      ValueType::Number => "a number",
      ValueType::String => "a string",
      ValueType::Symbol => "a symbol",
      ValueType::Function => "a function",
      ValueType::BigInt => "a bigint",
      _ => "an object",
    }
  }
}

/// The column names of CSV `bytes` (its first row), read as records are read: for the CLI, which
/// names a schema's fields after them.
#[napi(catch_unwind)]
pub fn csv_column_names(env: Env, bytes: Uint8Array) -> napi::Result<Vec<String>> {
  csv_header(&bytes).into_napi(&env)
}
