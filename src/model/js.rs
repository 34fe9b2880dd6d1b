//! The napi face of a model: `NativeModel` (wrapped by `Model` in `js/model.js`). One `predict`
//! validates, featurises, runs and interprets a batch in a single job on the compute pool.

use std::sync::{Arc, Condvar, Mutex, RwLock};

use napi::bindgen_prelude::{
  Either4, Float32Array, JsObjectValue, Null, Object, ToNapiValue, Uint8Array,
};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::Value;
use tract_onnx::prelude::Tensor;

use super::text::{self, TextFormat};
use super::{interpret, Prediction};
use crate::error::js::IntoNapi;
use crate::error::{Result, TractNodeError};
use crate::features::js::{featurise, featurise_all_valid, NativePipeline, ValidOnly};
use crate::features::Pipeline;
use crate::pool;
use crate::schema::js::{
  read_many, read_many_at_once, Input, ReadOptions, RecordsJs, ValidationReport,
};
use crate::session::js::NativeSession;
use crate::session::Session;

/// How a model reads its outputs.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct ModelOptions {
  /// Class labels by class index, for models whose label output (or argmax) is an index.
  #[napi(ts_type = "Array<string | number>")]
  pub labels: Option<Vec<Value>>,
  /// The model input fed with the features (default: the model's only input).
  pub input_name: Option<String>,
}

/// A session fed by a pipeline. Use `Model` from the package entry point rather than this class.
#[napi]
pub struct NativeModel {
  session: Arc<Session>,
  pipeline: Arc<RwLock<Pipeline>>,
  input: String,
  labels: Option<Arc<Vec<Value>>>,
}

#[napi]
impl NativeModel {
  /// Ties a session to a pipeline; throws ERR_INVALID_ARG when the session has no usable input.
  #[napi(constructor, catch_unwind)]
  pub fn new(
    env: Env,
    session: &NativeSession,
    pipeline: &NativePipeline,
    options: Option<ModelOptions>,
  ) -> napi::Result<Self> {
    let options = options.unwrap_or_default();
    let session = session.core().into_napi(&env)?;
    let names: Vec<&str> = session.inputs().iter().map(|i| i.name.as_str()).collect();
    let input = match (options.input_name, names.as_slice()) {
      (Some(name), _) if names.contains(&name.as_str()) => name,
      (None, [only]) => only.to_string(),
      (requested, _) => {
        return Err(TractNodeError::invalid_arg(
          "inputName",
          format!(
            "{} (model inputs: {})",
            requested.map_or("required: the model has several inputs".into(), |n| format!(
              "no input '{n}'"
            )),
            names.join(", ")
          ),
        ))
        .into_napi(&env)
      }
    };
    Ok(NativeModel {
      session,
      pipeline: pipeline.shared(),
      input,
      labels: options.labels.map(Arc::new),
    })
  }

  /// Validates, featurises and runs `records`; resolves with one prediction per record, in order.
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<Array<{ labels?: Uint8Array; probabilities?: Float32Array | null; values?: Float32Array; width: number }>>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords | RecordStream, options?: ReadOptions"
  )]
  pub fn predict<'env>(
    &self,
    env: &'env Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<Object<'env>> {
    self.spawn(env, records, options, predict)
  }

  /// The blocking twin of `predict`.
  #[napi(
    catch_unwind,
    ts_return_type = "Array<{ labels?: Uint8Array; probabilities?: Float32Array | null; values?: Float32Array; width: number }>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords | RecordStream, options?: ReadOptions"
  )]
  pub fn predict_sync(
    &self,
    env: Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<Predictions> {
    let parts = self.parts();
    read_many_at_once(parts.pipeline.schema(), records, options)
      .and_then(|input| predict(&parts, input))
      .into_napi(&env)
  }

  /// Validates, featurises and runs in one job, keeping the good records: resolves with the
  /// predictions of the valid records, their input indices, and a report holding every error.
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<{ predictions: Array<{ labels?: Uint8Array; probabilities?: Float32Array | null; values?: Float32Array; width: number }>; indices: Uint32Array; errors: ValidationReport }>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords | RecordStream, options?: ReadOptions"
  )]
  pub fn validate_and_predict<'env>(
    &self,
    env: &'env Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<Object<'env>> {
    self.spawn(env, records, options, validate_and_predict)
  }

  /// Validates, featurises and runs records given as bytes, and writes the predictions of the
  /// valid ones as CSV or NDJSON lines (for `tract-node predict`): resolves with
  /// `{ header, text, predicted, errors }`. Chunk `chunk` of a file is numbered by `numbers` after
  /// the chunks before it, so that several can be in flight.
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<{ header: string | null; text: Uint8Array; predicted: number; errors: ValidationReport }>"
  )]
  pub fn validate_and_predict_text<'env>(
    &self,
    env: &'env Env,
    records: Uint8Array,
    options: PredictTextOptions,
    numbers: &RecordNumbers,
  ) -> napi::Result<Object<'env>> {
    let output = TextFormat::from_name(&options.output).ok_or_else(|| {
      TractNodeError::invalid_arg("output", format!("'csv' or 'ndjson', got {:?}", options.output))
    });
    let output = output.into_napi(env)?;
    let parts = self.parts();
    let read = ReadOptions { format: options.format, keep: None };
    let input =
      read_many(parts.pipeline.schema(), Either4::A(records), Some(read)).into_napi(env)?;
    let turn = numbers.turn(options.chunk);
    pool::js::spawn(env, move || {
      let mut turn = turn;
      let featurised = featurise(&parts.pipeline, &input)?;
      let predictions = parts.predict_rows(featurised.indices.len(), &featurised.data)?;
      let last = featurised.indices.last().copied().into_iter();
      let records =
        last.chain(featurised.errors.iter().filter_map(|e| e.index)).max().map_or(0, |i| i + 1);
      let first_row = turn.take(u64::from(records));
      let header = match (output, predictions.first()) {
        (TextFormat::Csv, Some(first)) => {
          Some(text::csv_header(first, parts.labels.as_deref().map(Vec::as_slice)))
        }
        _ => None,
      };
      let mut written = Vec::with_capacity(predictions.len() * 48);
      let rows = featurised.indices.iter().map(|&i| first_row + u64::from(i));
      text::write(&mut written, output, &predictions, rows);
      let errors =
        ValidationReport::errors_only(parts.pipeline.schema().clone(), featurised.errors);
      Ok(PredictionText { header, text: written, predicted: predictions.len() as u32, errors })
    })
  }
}

/// Numbers the records of a file read in chunks, several in flight: chunk `k` takes its first
/// record number once chunk `k - 1` has counted its records.
#[napi]
pub struct RecordNumbers {
  state: Arc<(Mutex<(u32, u64)>, Condvar)>,
}

#[napi]
impl RecordNumbers {
  /// Numbers from `first` (the number of chunk 0's first record).
  #[napi(constructor)]
  pub fn new(first: f64) -> Self {
    RecordNumbers { state: Arc::new((Mutex::new((0, first.max(0.0) as u64)), Condvar::new())) }
  }

  fn turn(&self, chunk: u32) -> Turn {
    Turn { state: self.state.clone(), chunk, taken: false }
  }
}

/// One chunk's place in a [`RecordNumbers`]; a chunk whose job fails gives its place up (with no
/// records) when dropped, so that the chunks after it are not left waiting.
struct Turn {
  state: Arc<(Mutex<(u32, u64)>, Condvar)>,
  chunk: u32,
  taken: bool,
}

impl Turn {
  /// Waits for the chunks before, then takes `records` numbers; the first one.
  fn take(&mut self, records: u64) -> u64 {
    let (lock, turned) = &*self.state;
    let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
    while state.0 < self.chunk {
      state = turned.wait(state).unwrap_or_else(|p| p.into_inner());
    }
    let first = state.1;
    if state.0 == self.chunk {
      *state = (self.chunk + 1, first + records);
    }
    self.taken = true;
    turned.notify_all();
    first
  }
}

impl Drop for Turn {
  fn drop(&mut self) {
    if !self.taken {
      self.take(0);
    }
  }
}

/// How `validateAndPredictText` reads and writes.
#[napi(object, object_to_js = false)]
pub struct PredictTextOptions {
  /// How the records are laid out: `'json'` (NDJSON) or `'csv'`.
  #[napi(ts_type = "'json' | 'csv'")]
  pub format: Option<String>,
  /// How predictions are written: `'csv'` or `'ndjson'`.
  #[napi(ts_type = "'csv' | 'ndjson'")]
  pub output: String,
  /// The chunk's place in the file (0, 1, …), for its record numbers.
  pub chunk: u32,
}

/// Predictions written as text, on their way to JS.
struct PredictionText {
  header: Option<String>,
  text: Vec<u8>,
  predicted: u32,
  errors: ValidationReport,
}

impl ToNapiValue for PredictionText {
  unsafe fn to_napi_value(raw_env: sys::napi_env, result: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut object = Object::new(&env)?;
    match result.header {
      Some(header) => object.set_named_property("header", header)?,
      None => object.set_named_property("header", Null)?,
    }
    object.set_named_property("text", Uint8Array::new(result.text))?;
    object.set_named_property("predicted", result.predicted)?;
    object.set_named_property("errors", result.errors)?;
    Ok(object.raw())
  }
}

impl NativeModel {
  /// One snapshot of everything a job needs: the records are read with the schema of the very
  /// pipeline that featurises them.
  fn parts(&self) -> Parts {
    Parts {
      session: self.session.clone(),
      pipeline: self.pipeline.read().unwrap_or_else(|p| p.into_inner()).clone(),
      input: self.input.clone(),
      labels: self.labels.clone(),
    }
  }

  /// Reads `records` on the JS thread, then runs `job` on the compute pool.
  fn spawn<'env, V: ToNapiValue + Send + 'static>(
    &self,
    env: &'env Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
    job: fn(&Parts, Input) -> Result<V>,
  ) -> napi::Result<Object<'env>> {
    let parts = self.parts();
    let input = read_many(parts.pipeline.schema(), records, options).into_napi(env)?;
    pool::js::spawn(env, move || job(&parts, input))
  }
}

/// What a prediction job needs, detached from the JS object.
struct Parts {
  session: Arc<Session>,
  pipeline: Pipeline,
  input: String,
  labels: Option<Arc<Vec<Value>>>,
}

impl Parts {
  /// Runs the model on `rows` rows of features and reads one prediction per row.
  fn predict_rows(&self, rows: usize, features: &[f32]) -> Result<Vec<Prediction>> {
    if rows == 0 {
      return Ok(Vec::new());
    }
    let tensor = Tensor::from_shape(&[rows, features.len() / rows], features)
      .map_err(|e| TractNodeError::Internal { reason: e.to_string() })?;
    // Counted in the session's stats (one run, one execution), as its own runs are.
    let started = std::time::Instant::now();
    let outputs = self.session.run(vec![(self.input.clone(), tensor)], None)?;
    self.session.stats().executed(std::iter::once(started.elapsed()));
    interpret(&outputs, rows, self.labels.as_deref().map(Vec::as_slice))
  }
}

fn predict(parts: &Parts, input: Input) -> Result<Predictions> {
  let (rows, features) = featurise_all_valid(&parts.pipeline, &input)?;
  Ok(Predictions::new(parts.predict_rows(rows, &features)?))
}

fn validate_and_predict(parts: &Parts, input: Input) -> Result<ValidOnly<Predictions>> {
  let featurised = featurise(&parts.pipeline, &input)?;
  let predictions = parts.predict_rows(featurised.indices.len(), &featurised.data)?;
  let errors = ValidationReport::errors_only(parts.pipeline.schema().clone(), featurised.errors);
  Ok(ValidOnly {
    name: "predictions",
    value: Predictions::new(predictions),
    indices: featurised.indices,
    errors,
  })
}

/// Predictions on their way to JS, in blocks of [`PREDICTIONS_PER_BLOCK`] that `js/model.js` makes
/// into `{ label, probabilities }` or `{ value }` objects, a few thousand per event-loop turn: each
/// block `{ labels, probabilities, values, width }` holds the labels as a JSON array (UTF-8) and the
/// numbers row by row, `width` per prediction. The blocks are laid out where the predictions are
/// made, on the compute pool, so that handing them to JS only wraps buffers.
pub struct Predictions(Vec<PredictionBlock>);

/// Predictions per block handed to JS.
const PREDICTIONS_PER_BLOCK: usize = 8192;

/// One block of [`Predictions`]: the labels as a JSON array (`None` for a regressor) and the
/// numbers, `width` per prediction.
struct PredictionBlock {
  labels: Option<Vec<u8>>,
  numbers: Vec<f32>,
  width: usize,
}

impl Predictions {
  fn new(predictions: Vec<Prediction>) -> Self {
    let blocks = predictions.chunks(PREDICTIONS_PER_BLOCK).map(|block| {
      let (labels, numbers) = block_columns(block);
      let width = if block.is_empty() { 0 } else { numbers.len() / block.len() };
      PredictionBlock { labels, numbers, width }
    });
    Predictions(blocks.collect())
  }
}

impl ToNapiValue for Predictions {
  unsafe fn to_napi_value(
    raw_env: sys::napi_env,
    predictions: Self,
  ) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut array = env.create_array(predictions.0.len() as u32)?;
    for (i, PredictionBlock { labels, numbers, width }) in predictions.0.into_iter().enumerate() {
      let mut object = Object::new(&env)?;
      match labels {
        Some(labels) => {
          object.set_named_property("labels", Uint8Array::new(labels))?;
          let probabilities = if width == 0 { None } else { Some(Float32Array::new(numbers)) };
          object.set_named_property("probabilities", probabilities)?;
        }
        None => object.set_named_property("values", Float32Array::new(numbers))?,
      }
      object.set_named_property("width", width as u32)?;
      array.set(i as u32, object)?;
    }
    Ok(array.raw())
  }
}

/// A block's labels (a JSON array; `None` for a regressor) and numbers, row by row.
fn block_columns(block: &[Prediction]) -> (Option<Vec<u8>>, Vec<f32>) {
  let mut numbers = Vec::new();
  let mut labels: Option<Vec<u8>> = None;
  for prediction in block {
    match prediction {
      Prediction::Class { label, probabilities } => {
        let text = labels.get_or_insert_with(Vec::new);
        text.push(if text.is_empty() { b'[' } else { b',' });
        serde_json::to_writer(&mut *text, label).expect("writing to a Vec");
        numbers.extend_from_slice(probabilities.as_deref().unwrap_or_default());
      }
      Prediction::Value(values) => numbers.extend_from_slice(values),
    }
  }
  if let Some(text) = &mut labels {
    text.push(b']');
  }
  (labels, numbers)
}
