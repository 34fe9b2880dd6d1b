//! The napi face of a model: `NativeModel` (wrapped by `Model` in `js/model.js`). One `predict`
//! validates, featurises, runs and interprets a batch in a single job on the compute pool.

use std::sync::{Arc, RwLock};

use napi::bindgen_prelude::{JsObjectValue, Null, Object, ToNapiValue};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::Value;
use tract_onnx::prelude::Tensor;

use super::{interpret, Prediction};
use crate::error::js::IntoNapi;
use crate::error::{Result, TractNodeError};
use crate::features::js::{all_valid, featurise, NativePipeline, ValidOnly};
use crate::features::Pipeline;
use crate::pool;
use crate::schema::js::{read_many, Input, ReadOptions, RecordsJs, ValidationReport};
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
    ts_return_type = "Promise<Array<Prediction>>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords, options?: ReadOptions"
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
    ts_return_type = "Array<Prediction>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords, options?: ReadOptions"
  )]
  pub fn predict_sync(
    &self,
    env: Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<Predictions> {
    let parts = self.parts();
    read_many(parts.pipeline.schema(), records, options)
      .and_then(|input| predict(&parts, input))
      .into_napi(&env)
  }

  /// Validates, featurises and runs in one job, keeping the good records: resolves with the
  /// predictions of the valid records, their input indices, and a report holding every error.
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<{ predictions: Array<Prediction>; indices: Uint32Array; errors: ValidationReport }>",
    ts_args_type = "records: Uint8Array | Array<EncodedRecords> | CleanRecords, options?: ReadOptions"
  )]
  pub fn validate_and_predict<'env>(
    &self,
    env: &'env Env,
    records: RecordsJs<'_>,
    options: Option<ReadOptions>,
  ) -> napi::Result<Object<'env>> {
    self.spawn(env, records, options, validate_and_predict)
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
    let outputs = self.session.run(vec![(self.input.clone(), tensor)], None)?;
    interpret(&outputs, rows, self.labels.as_deref().map(Vec::as_slice))
  }
}

fn predict(parts: &Parts, input: Input) -> Result<Predictions> {
  let featurised = featurise(&parts.pipeline, &input)?;
  let rows = featurised.indices.len();
  let features = all_valid(featurised.errors, featurised.data)?;
  Ok(Predictions(parts.predict_rows(rows, &features)?))
}

fn validate_and_predict(parts: &Parts, input: Input) -> Result<ValidOnly<Predictions>> {
  let featurised = featurise(&parts.pipeline, &input)?;
  let predictions = parts.predict_rows(featurised.indices.len(), &featurised.data)?;
  let errors = ValidationReport::errors_only(parts.pipeline.schema().clone(), featurised.errors);
  Ok(ValidOnly {
    name: "predictions",
    value: Predictions(predictions),
    indices: featurised.indices,
    errors,
  })
}

/// Predictions on their way to JS: `{ label, probabilities }` or `{ value }` objects.
pub struct Predictions(Vec<Prediction>);

impl ToNapiValue for Predictions {
  unsafe fn to_napi_value(
    raw_env: sys::napi_env,
    predictions: Self,
  ) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let mut array = env.create_array(predictions.0.len() as u32)?;
    for (i, prediction) in predictions.0.into_iter().enumerate() {
      let mut object = Object::new(&env)?;
      match prediction {
        Prediction::Class { label, probabilities } => {
          object.set_named_property("label", env.to_js_value(&label)?)?;
          match probabilities {
            Some(p) => object.set_named_property(
              "probabilities",
              p.into_iter().map(f64::from).collect::<Vec<f64>>(),
            )?,
            None => object.set_named_property("probabilities", Null)?,
          }
        }
        Prediction::Value(values) if values.len() == 1 => {
          object.set_named_property("value", values[0] as f64)?
        }
        Prediction::Value(values) => object
          .set_named_property("value", values.into_iter().map(f64::from).collect::<Vec<f64>>())?,
      }
      array.set(i as u32, object)?;
    }
    Ok(array.raw())
  }
}
