//! The napi face of [`Pipeline`]: `NativePipeline` (wrapped by `Pipeline` in `js/pipeline.js`).
//! Records are validated by the pipeline's schema and featurised on the compute pool.

use std::sync::{Arc, RwLock};

use napi::bindgen_prelude::{
  Array, Float32Array, JsObjectValue, Object, ToNapiValue, Uint32Array, Unknown,
};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::Value;

use super::{Featurised, MatrixRows, Pipeline};
use crate::error::js::IntoNapi;
use crate::error::{Result, TractNodeError};
use crate::pool;
use crate::schema::js::{
  read_many, read_many_at_once, Input, NativeSchema, ReadOptions, RecordsJs, ValidationReport,
};
use crate::schema::value::Clean;
use crate::schema::{FieldError, Report, Schema};
use crate::tensor::js::tensor_object;
use crate::tensor::DType;

/// Most field errors attached to one ERR_VALIDATION raised by fit, transform or predict.
const MAX_REPORTED_ERRORS: usize = 1000;

/// A feature pipeline. Use `Pipeline` from the package entry point rather than this class.
#[napi]
pub struct NativePipeline {
  pipeline: Arc<RwLock<Pipeline>>,
}

#[napi]
impl NativePipeline {
  /// Builds a pipeline over `schema` from step definitions (fitted state included); throws ERR_SCHEMA.
  #[napi(constructor, catch_unwind)]
  pub fn new(env: Env, schema: &NativeSchema, steps: Array<'_>) -> napi::Result<Self> {
    let definitions = (0..steps.len())
      .map(|i| {
        let step: Unknown<'_> =
          steps.get(i)?.ok_or_else(|| napi::Error::from_reason("missing step"))?;
        env.from_js_value::<Value, _>(step)
      })
      .collect::<napi::Result<Vec<Value>>>()
      .map_err(|e| TractNodeError::Schema { field: "(pipeline)".into(), reason: e.reason.clone() })
      .into_napi(&env)?;
    let pipeline = Pipeline::new(schema.schema.clone(), &definitions).into_napi(&env)?;
    Ok(NativePipeline { pipeline: Arc::new(RwLock::new(pipeline)) })
  }

  /// Whether every step has its fitted state.
  #[napi(getter)]
  pub fn fitted(&self) -> bool {
    self.read().is_fitted()
  }

  /// Output column names; throws ERR_NOT_FITTED before `fit`.
  #[napi(getter, catch_unwind)]
  pub fn feature_names(&self, env: Env) -> napi::Result<Vec<String>> {
    self.read().feature_names().into_napi(&env)
  }

  /// Step definitions with fitted state, for `toJSON`.
  #[napi(ts_return_type = "Array<Record<string, unknown>>")]
  pub fn steps_json(&self) -> Vec<Value> {
    self.read().steps_json()
  }

  /// Validates `records` and learns every step's state from them, on the compute pool.
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<void>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords | RecordStream, options?: ReadOptions"
  )]
  pub fn fit<'env>(
    &self,
    env: &'env Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<Object<'env>> {
    self.spawn(env, records, options, fit)
  }

  /// The blocking twin of `fit`.
  #[napi(
    catch_unwind,
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords | RecordStream, options?: ReadOptions"
  )]
  pub fn fit_sync(
    &self,
    env: Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<()> {
    self.run(&env, records, options, fit)
  }

  /// Validates `records` and computes the `[n, width]` float32 feature matrix, on the compute pool.
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<TensorLike<'float32'>>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords | RecordStream, options?: ReadOptions"
  )]
  pub fn transform<'env>(
    &self,
    env: &'env Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<Object<'env>> {
    self.spawn(env, records, options, transform)
  }

  /// The blocking twin of `transform`.
  #[napi(
    catch_unwind,
    ts_return_type = "TensorLike<'float32'>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords | RecordStream, options?: ReadOptions"
  )]
  pub fn transform_sync(
    &self,
    env: Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<FeatureMatrix> {
    self.run(&env, records, options, transform)
  }

  /// Validates and featurises in one job: bad records are reported, not fatal. Resolves with the
  /// features of the valid records, their input indices, and a report holding every error.
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<{ features: TensorLike<'float32'>; indices: Uint32Array; errors: ValidationReport }>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords | RecordStream, options?: ReadOptions"
  )]
  pub fn validate_and_transform<'env>(
    &self,
    env: &'env Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<Object<'env>> {
    self.spawn(env, records, options, validate_and_transform)
  }

  /// Reads `records` on the JS thread, then runs `job` on the compute pool.
  fn spawn<'env, V: ToNapiValue + Send + 'static>(
    &self,
    env: &'env Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
    job: fn(&RwLock<Pipeline>, Input) -> Result<V>,
  ) -> napi::Result<Object<'env>> {
    let (input, pipeline) =
      (read_many(&self.schema(), records, options).into_napi(env)?, self.pipeline.clone());
    pool::js::spawn(env, move || job(&pipeline, input))
  }

  /// Reads `records` and runs `job` on the calling thread (the blocking twins).
  fn run<V>(
    &self,
    env: &Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
    job: fn(&RwLock<Pipeline>, Input) -> Result<V>,
  ) -> napi::Result<V> {
    read_many_at_once(&self.schema(), records, options)
      .and_then(|input| job(&self.pipeline, input))
      .into_napi(env)
  }

  fn schema(&self) -> Arc<Schema> {
    self.read().schema().clone()
  }

  fn read(&self) -> std::sync::RwLockReadGuard<'_, Pipeline> {
    self.pipeline.read().unwrap_or_else(|poisoned| poisoned.into_inner())
  }
}

impl NativePipeline {
  /// The pipeline, for `NativeModel`.
  pub(crate) fn shared(&self) -> Arc<RwLock<Pipeline>> {
    self.pipeline.clone()
  }
}

fn fit(pipeline: &RwLock<Pipeline>, input: Input) -> Result<()> {
  let mut fitted = pipeline.read().unwrap_or_else(|p| p.into_inner()).clone();
  let report = input.clean_records(fitted.schema(), Report::default)?;
  let rows: Vec<Vec<Clean>> =
    all_valid(report.errors, report.valid)?.into_iter().map(|(_, row)| row).collect();
  fitted.fit(&rows)?;
  *pipeline.write().unwrap_or_else(|p| p.into_inner()) = fitted;
  Ok(())
}

fn transform(pipeline: &RwLock<Pipeline>, input: Input) -> Result<FeatureMatrix> {
  let pipeline = pipeline.read().unwrap_or_else(|p| p.into_inner()).clone();
  let (rows, data) = featurise_all_valid(&pipeline, &input)?;
  Ok(FeatureMatrix { rows, width: pipeline.width()?, data })
}

fn validate_and_transform(
  pipeline: &RwLock<Pipeline>,
  input: Input,
) -> Result<ValidOnly<FeatureMatrix>> {
  let pipeline = pipeline.read().unwrap_or_else(|p| p.into_inner()).clone();
  let Featurised { indices, data, errors, .. } = featurise(&pipeline, &input)?;
  let matrix = FeatureMatrix { rows: indices.len(), width: pipeline.width()?, data };
  Ok(ValidOnly {
    name: "features",
    value: matrix,
    indices,
    errors: ValidationReport::errors_only(pipeline.schema().clone(), errors),
  })
}

/// Cleans and featurises the records, keeping the features of the valid ones. Records cleaned
/// before are all valid, so each one's row of the matrix is known: they are written there at once.
pub(crate) fn featurise<'p>(pipeline: &'p Pipeline, input: &Input) -> Result<Featurised<'p>> {
  let width = pipeline.width()?;
  match input {
    Input::Clean(clean) if Arc::ptr_eq(&clean.schema, pipeline.schema()) => {
      let chunks = clean.chunks(pool::global().size()).into_iter().map(|(_, rows)| rows);
      Ok(Featurised::of_valid(pipeline, width, chunks.collect()))
    }
    _ => input.clean_records(pipeline.schema(), || Featurised::new(pipeline, width)),
  }
}

/// The features of records that must all be valid (`transform`, `predict`): `(rows, row-major
/// data)`, or ERR_VALIDATION with the errors. JS objects say how many they are, so each record's
/// features go straight into its row of the matrix (when that much memory can be had).
pub(crate) fn featurise_all_valid(pipeline: &Pipeline, input: &Input) -> Result<(usize, Vec<f32>)> {
  let width = pipeline.width()?;
  let Some(matrix) = input.objects_count().and_then(|count| MatrixRows::new(count, width)) else {
    let featurised = featurise(pipeline, input)?;
    let rows = featurised.indices.len();
    return Ok((rows, all_valid(featurised.errors, featurised.data)?));
  };
  let Featurised { indices, errors, .. } =
    input.clean_records(pipeline.schema(), || Featurised::into_rows(pipeline, width, &matrix))?;
  all_valid(errors, ())?;
  let data = matrix.into_data(indices.len()).ok_or_else(|| {
    TractNodeError::invalid_arg("records", "an array that keeps its length while it is read")
  })?;
  Ok((indices.len(), data))
}

/// `kept`, if there were no `errors`; else ERR_VALIDATION with (the first of) them.
pub(crate) fn all_valid<T>(mut errors: Vec<FieldError>, kept: T) -> Result<T> {
  if errors.is_empty() {
    return Ok(kept);
  }
  errors.truncate(MAX_REPORTED_ERRORS);
  Err(TractNodeError::Validation { errors })
}

/// The outcome of a job that keeps the valid records (`validateAndTransform`, `validateAndPredict`),
/// on its way to JS as `{ [name]: value, indices, errors }`: what the valid records gave, their
/// input indices, and the errors of the others.
pub(crate) struct ValidOnly<T> {
  pub name: &'static str,
  pub value: T,
  pub indices: Vec<u32>,
  pub errors: ValidationReport,
}

impl<T: ToNapiValue> ToNapiValue for ValidOnly<T> {
  unsafe fn to_napi_value(raw_env: sys::napi_env, result: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut object = Object::new(&env)?;
    object.set_named_property(result.name, result.value)?;
    object.set_named_property("indices", Uint32Array::new(result.indices))?;
    object.set_named_property("errors", result.errors)?;
    Ok(object.raw())
  }
}

/// A row-major float32 matrix on its way to JS as `{ type, dims, data }` (no copy of the data).
pub struct FeatureMatrix {
  pub(crate) rows: usize,
  pub(crate) width: usize,
  pub(crate) data: Vec<f32>,
}

impl ToNapiValue for FeatureMatrix {
  unsafe fn to_napi_value(raw_env: sys::napi_env, matrix: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let data = Float32Array::new(matrix.data);
    Ok(tensor_object(&env, DType::Float32, &[matrix.rows, matrix.width], data)?.raw())
  }
}
