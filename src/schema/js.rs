//! The napi face of [`Schema`]: `NativeSchema` (wrapped by `Schema` in `js/schema.js`) and
//! `ValidationReport`, which hands results to JS in chunks so that a million records never block
//! the event loop in one go.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use napi::bindgen_prelude::{
  Either4, Float64Array, JsObjectValue, Object, ToNapiValue, Uint32Array, Uint8Array, Unknown,
};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::Value;

use super::columns::{Block, Columns};
use super::read::encoded::Slice;
use super::read::{csv, Format, Source, CHUNKS_PER_THREAD};
use super::stream::{RecordStream, StreamInput};
use super::value::Clean;
use super::{FieldError, Keep, Report, Schema, SchemaOptions};
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
  /// `validateMany` only: hand the valid records over as objects (`'objects'`, the default) or
  /// keep them in the addon (`'native'`) for `transform` and `predict`.
  #[napi(ts_type = "'objects' | 'native'")]
  pub keep: Option<String>,
}

/// Field values per block of cleaned records made into objects by JS (about a millisecond of work
/// for the JS thread per block).
const VALUES_PER_BLOCK: usize = 16384;

/// One slice of JS records encoded by `js/records.js` (see [`crate::schema::read::encoded`]).
#[napi(object, object_to_js = false)]
pub struct EncodedRecords {
  pub records: Uint8Array,
  pub kinds: Uint8Array,
  pub numbers: Float64Array,
  /// The slice's strings one after the other, as UTF-8.
  pub strings: Uint8Array,
  /// Each string's length in UTF-16 code units.
  pub string_lengths: Uint32Array,
  pub unknown_at: Uint32Array,
  pub unknown_keys: Uint8Array,
  pub failed_at: Uint32Array,
  pub failures: Uint8Array,
}

impl EncodedRecords {
  /// The slice copied out of JS's buffers: `js/records.js` hands views of scratch buffers it
  /// writes the next slice into, and memory the addon allocates does not count towards the
  /// external memory that makes V8 collect garbage, as a buffer per slice from JS would.
  pub(crate) fn copy(&self) -> SliceCopy {
    SliceCopy {
      records: self.records.to_vec(),
      kinds: self.kinds.to_vec(),
      numbers: self.numbers.to_vec(),
      strings: self.strings.to_vec(),
      string_lengths: self.string_lengths.to_vec(),
      unknown_at: self.unknown_at.to_vec(),
      unknown_keys: self.unknown_keys.to_vec(),
      failed_at: self.failed_at.to_vec(),
      failures: self.failures.to_vec(),
    }
  }
}

/// The buffers of an [`EncodedRecords`], copied.
pub(crate) struct SliceCopy {
  records: Vec<u8>,
  kinds: Vec<u8>,
  numbers: Vec<f64>,
  strings: Vec<u8>,
  string_lengths: Vec<u32>,
  unknown_at: Vec<u32>,
  unknown_keys: Vec<u8>,
  failed_at: Vec<u32>,
  failures: Vec<u8>,
}

impl SliceCopy {
  pub(crate) fn view(&self) -> Slice<'_> {
    Slice {
      records: &self.records,
      kinds: &self.kinds,
      numbers: &self.numbers,
      strings: &self.strings,
      string_lengths: &self.string_lengths,
      unknown_at: &self.unknown_at,
      unknown_keys: &self.unknown_keys,
      failed_at: &self.failed_at,
      failures: &self.failures,
    }
  }
}

/// Records cleaned before are read again in chunks of at least this many rows.
const ROWS_PER_CHUNK: usize = 4096;

/// Records on their way to the compute pool: bytes, JS objects encoded in slices, or records
/// cleaned before (`validateMany(…, { keep: 'native' })`).
pub(crate) enum Input {
  Bytes(Uint8Array, Format),
  Encoded(Vec<SliceCopy>),
  Stream(StreamInput),
  Clean(Arc<CleanRows>),
}

impl Input {
  /// How many records JS objects are (for a stream, how many it said it would carry); `None` for
  /// inputs counted only by reading them.
  pub(crate) fn objects_count(&self) -> Option<usize> {
    match self {
      Input::Encoded(slices) => Some(slices.iter().map(|slice| slice.records.len()).sum()),
      Input::Stream(stream) => stream.expected,
      Input::Bytes(..) | Input::Clean(_) => None,
    }
  }

  /// Cleans the records with `schema` on the compute threads, keeping what `keep` keeps.
  pub(crate) fn clean_records<K: Keep>(
    &self,
    schema: &Arc<Schema>,
    keep: impl Fn() -> K + Sync,
  ) -> Result<K> {
    let threads = pool::global().size();
    match self {
      Input::Bytes(bytes, format) => {
        schema.clean_records(Source::Bytes(bytes, *format), threads, keep)
      }
      Input::Encoded(slices) => {
        let slices: Vec<Slice<'_>> = slices.iter().map(SliceCopy::view).collect();
        schema.clean_records(Source::Encoded(&slices), threads, keep)
      }
      Input::Stream(stream) => {
        schema.clean_records(Source::Stream(&stream.slices(schema.fields().len())), threads, keep)
      }
      Input::Clean(rows) if Arc::ptr_eq(&rows.schema, schema) => {
        let parts =
          pool::intra_op::run_each_alone(threads, rows.chunks(threads), |(start, rows)| {
            let mut kept = keep();
            for (index, row) in rows.iter().enumerate() {
              kept.valid_ref(index, row);
            }
            (kept, start)
          });
        Ok(if parts.is_empty() { keep() } else { K::join(parts) })
      }
      Input::Clean(_) => Err(TractNodeError::invalid_arg(
        "records",
        "records validated by this pipeline's own Schema (these were validated by another)",
      )),
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

  /// Cleans one record (encoded by `js/records.js`) on the calling thread; throws ERR_VALIDATION
  /// with `errors`.
  #[napi(
    catch_unwind,
    ts_return_type = "{ kinds: Uint8Array; numbers: Float64Array; strings: Uint8Array }"
  )]
  pub fn validate_sync(&self, env: Env, record: EncodedRecords) -> napi::Result<CleanColumns> {
    let outcome = read_many(&self.schema, Either4::B(vec![record]), None)
      .and_then(|input| input.clean_records(&self.schema, || Columns::new(1)));
    match outcome {
      Ok(Columns { mut blocks, errors, .. }) if errors.is_empty() => {
        Ok(CleanColumns(blocks.pop().unwrap_or_default()))
      }
      Ok(Columns { errors, .. }) => {
        let errors = errors.into_iter().map(|e| FieldError { index: None, ..e }).collect();
        Err(TractNodeError::Validation { errors }).into_napi(&env)
      }
      Err(e) => Err(e).into_napi(&env),
    }
  }

  /// Cleans many records on the compute pool: an array of objects, or a Buffer holding a JSON array,
  /// NDJSON or CSV (parsed in Rust).
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<ValidationReport>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords | RecordStream, options?: ReadOptions"
  )]
  pub fn validate_many<'env>(
    &self,
    env: &'env Env,
    records: RecordsJs,
    options: Option<ReadOptions>,
  ) -> napi::Result<Object<'env>> {
    let schema = self.schema.clone();
    let native = match options.as_ref().and_then(|o| o.keep.as_deref()) {
      None | Some("objects") => false,
      Some("native") => true,
      Some(other) => {
        let why = format!("'objects' or 'native', got {other:?}");
        return Err(TractNodeError::invalid_arg("keep", why)).into_napi(env);
      }
    };
    let input = read_many(&schema, records, options).into_napi(env)?;
    pool::js::spawn(env, move || {
      if native {
        let report = input.clean_records(&schema, Report::default)?;
        let (indices, rows) =
          report.valid.into_iter().map(|(index, row)| (index as u32, row)).unzip();
        let valid = Valid::Native(CleanRecords {
          rows: Arc::new(CleanRows { schema: schema.clone(), rows }),
          indices,
        });
        return Ok(ValidationReport { schema, valid, errors: report.errors.into() });
      }
      let rows_per_block = VALUES_PER_BLOCK / schema.fields().len().max(1);
      let columns = input.clean_records(&schema, || Columns::new(rows_per_block))?;
      let valid = Valid::Columns(columns.blocks.into());
      Ok(ValidationReport { schema, valid, errors: columns.errors.into() })
    })
  }
}

/// The outcome of `validateMany`, handed over in chunks (`takeValid`, `takeErrors`).
#[napi]
pub struct ValidationReport {
  schema: Arc<Schema>,
  valid: Valid,
  errors: VecDeque<FieldError>,
}

/// The valid records of a report: in blocks of columns for JS objects, or kept native.
enum Valid {
  Columns(VecDeque<Block>),
  Native(CleanRecords),
}

impl ValidationReport {
  /// A report of errors alone (the valid records went elsewhere).
  pub(crate) fn errors_only(schema: Arc<Schema>, errors: Vec<FieldError>) -> Self {
    let valid = Valid::Native(CleanRecords::none(&schema));
    ValidationReport { schema, valid, errors: errors.into() }
  }
}

#[napi]
impl ValidationReport {
  /// Valid records not taken yet.
  #[napi(getter)]
  pub fn valid_left(&self) -> u32 {
    match &self.valid {
      Valid::Columns(blocks) => blocks.iter().map(|b| b.rows).sum::<usize>() as u32,
      Valid::Native(records) => records.length(),
    }
  }

  /// Errors not taken yet.
  #[napi(getter)]
  pub fn errors_left(&self) -> u32 {
    self.errors.len() as u32
  }

  /// Takes the next block of cleaned records, in input order, in columns for `js/records.js`;
  /// `null` when none is left.
  #[napi(
    ts_return_type = "{ kinds: Uint8Array; numbers: Float64Array; strings: Uint8Array } | null"
  )]
  pub fn take_valid(&mut self) -> Option<CleanColumns> {
    match &mut self.valid {
      Valid::Columns(blocks) => blocks.pop_front().map(CleanColumns),
      Valid::Native(_) => None,
    }
  }

  /// Takes every cleaned record left, kept native (for `transform` and `predict`); validate with
  /// `keep: 'native'` for these.
  #[napi]
  pub fn take_native(&mut self) -> CleanRecords {
    let none = CleanRecords::none(&self.schema);
    match &mut self.valid {
      Valid::Native(records) => std::mem::replace(records, none),
      Valid::Columns(_) => none,
    }
  }

  /// Takes up to `count` errors, in input order, for `js/schema.js` to make objects of (see
  /// [`ErrorChunk`]).
  #[napi]
  pub fn take_errors(&mut self, count: u32) -> ErrorChunk {
    let count = (count as usize).min(self.errors.len());
    ErrorChunk::new(self.errors.drain(..count).collect())
  }
}

/// A chunk of a report's errors in columns, for JS to make the objects: through N-API each property
/// of each object would be a call of its own. Errors mostly repeat a few distinct
/// `[path, code, message]` triples, which `table` holds once each.
#[napi(object)]
pub struct ErrorChunk {
  /// Each error's record index, or [`NO_INDEX`] for an error of no record.
  pub indices: Uint32Array,
  /// Each error's triple in `table`.
  pub entries: Uint32Array,
  /// The distinct triples, as a JSON array of `[path, code, message]` arrays.
  pub table: String,
}

/// The index of an error that belongs to no record (a record's position cannot be this big: the
/// input would be gigabytes of empty records).
#[napi]
pub const NO_INDEX: u32 = u32::MAX;

impl ErrorChunk {
  fn new(errors: Vec<FieldError>) -> Self {
    let mut distinct: HashMap<[&str; 3], u32> = HashMap::new();
    let mut table: Vec<[&str; 3]> = Vec::new();
    let entries: Vec<u32> = errors
      .iter()
      .map(|error| {
        let triple = [error.path.as_str(), error.code.as_str(), error.message.as_str()];
        *distinct.entry(triple).or_insert_with(|| {
          table.push(triple);
          table.len() as u32 - 1
        })
      })
      .collect();
    let indices = errors.iter().map(|error| error.index.unwrap_or(NO_INDEX)).collect::<Vec<_>>();
    let table = serde_json::to_string(&table).expect("strings serialise");
    ErrorChunk { indices: indices.into(), entries: entries.into(), table }
  }
}

/// Cleaned records kept in the addon: `validateMany(records, { keep: 'native' })` hands them to
/// `transform` and `predict` without making a JS object of each.
#[napi]
pub struct CleanRecords {
  pub(crate) rows: Arc<CleanRows>,
  indices: Vec<u32>,
}

/// Cleaned rows and the schema that cleaned them.
pub(crate) struct CleanRows {
  pub schema: Arc<Schema>,
  pub rows: Vec<Vec<Clean>>,
}

impl CleanRecords {
  /// No records, of `schema`.
  fn none(schema: &Arc<Schema>) -> Self {
    CleanRecords {
      rows: Arc::new(CleanRows { schema: schema.clone(), rows: Vec::new() }),
      indices: Vec::new(),
    }
  }
}

impl Drop for CleanRows {
  /// Frees many rows on a compute thread: JS collects `CleanRecords` on its own thread, and a
  /// million records are millions of allocations to free, tens of milliseconds of a blocked loop.
  fn drop(&mut self) {
    if self.rows.len() >= ROWS_FREED_IN_PLACE {
      let rows = std::mem::take(&mut self.rows);
      pool::global().submit(Box::new(move || drop(rows)));
    }
  }
}

/// The most rows a [`CleanRows`] frees on the thread that drops it.
const ROWS_FREED_IN_PLACE: usize = 4096;

impl CleanRows {
  /// The rows in chunks for `threads` threads, each with the index of its first row: several
  /// chunks a thread, so that threads that finish early take more, of at least
  /// [`ROWS_PER_CHUNK`] rows.
  pub(crate) fn chunks(&self, threads: usize) -> Vec<(usize, &[Vec<Clean>])> {
    let size = self.rows.len().div_ceil(threads * CHUNKS_PER_THREAD).max(ROWS_PER_CHUNK);
    self.rows.chunks(size).enumerate().map(|(k, rows)| (k * size, rows)).collect()
  }
}

#[napi]
impl CleanRecords {
  /// How many records.
  #[napi(getter)]
  pub fn length(&self) -> u32 {
    self.rows.rows.len() as u32
  }

  /// Each record's index in the input that was validated.
  #[napi(getter)]
  pub fn indices(&self) -> Uint32Array {
    Uint32Array::new(self.indices.clone())
  }
}

/// A block of cleaned records on its way to JS as `{ kinds, numbers, strings }` (see
/// [`crate::schema::columns`]).
pub struct CleanColumns(Block);

impl ToNapiValue for CleanColumns {
  unsafe fn to_napi_value(raw_env: sys::napi_env, columns: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut object = Object::new(&env)?;
    object.set_named_property("kinds", Uint8Array::new(columns.0.kinds))?;
    object.set_named_property("numbers", Float64Array::new(columns.0.numbers))?;
    object.set_named_property("strings", Uint8Array::new(columns.0.strings))?;
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

/// Records as the JS wrappers pass them: bytes, JS objects encoded in slices (at once, or sent
/// down a stream), or records kept native.
pub(crate) type RecordsJs<'a> =
  Either4<Uint8Array, Vec<EncodedRecords>, &'a CleanRecords, &'a RecordStream>;

/// Takes records from JS for the compute pool; nothing is read yet. A stream is taken before the
/// options are checked, so that one this call fails on stops being sent.
pub(crate) fn read_many(
  schema: &Schema,
  records: RecordsJs<'_>,
  options: Option<ReadOptions>,
) -> Result<Input> {
  let format = match options.and_then(|o| o.format) {
    Some(name) => Format::from_name(&name),
    None => Ok(Format::default()),
  };
  Ok(match records {
    Either4::A(bytes) => Input::Bytes(bytes, format?),
    Either4::B(slices) => {
      format?;
      let width = schema.fields().len();
      let slices: Vec<SliceCopy> = slices.iter().map(EncodedRecords::copy).collect();
      if !slices.iter().all(|slice| slice.view().is_consistent(width)) {
        return Err(TractNodeError::invalid_arg("records", "slices encoded by js/records.js"));
      }
      Input::Encoded(slices)
    }
    Either4::C(clean) => {
      format?;
      Input::Clean(clean.rows.clone())
    }
    Either4::D(stream) => {
      let stream = stream.take()?;
      format?;
      Input::Stream(stream)
    }
  })
}

/// [`read_many`] for the blocking twins, which cannot wait for a stream: JS sends its slices
/// only while the JS thread is free.
pub(crate) fn read_many_at_once(
  schema: &Schema,
  records: RecordsJs<'_>,
  options: Option<ReadOptions>,
) -> Result<Input> {
  if let Either4::D(_) = records {
    let why = "records given at once (a blocking call cannot wait for a RecordStream)";
    return Err(TractNodeError::invalid_arg("records", why));
  }
  read_many(schema, records, options)
}

/// The column names of CSV `bytes` (its first row), read as records are read: for the CLI, which
/// names a schema's fields after them.
#[napi(catch_unwind)]
pub fn csv_column_names(env: Env, bytes: Uint8Array) -> napi::Result<Vec<String>> {
  csv::header(&bytes).into_napi(&env)
}
