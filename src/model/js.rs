//! The napi face of a model: `NativeModel` (wrapped by `Model` in `js/model.js`). One `predict`
//! validates, featurises, runs and interprets a batch in a single job on the compute pool.

use std::sync::{Arc, RwLock};

use napi::bindgen_prelude::{Array, Either, JsObjectValue, Null, Object, ToNapiValue, Uint8Array};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::Value;
use tract_onnx::prelude::Tensor;

use super::{interpret, Prediction};
use crate::error::js::IntoNapi;
use crate::error::{Result, TractNodeError};
use crate::features::js::{clean_all, features, NativePipeline};
use crate::features::Pipeline;
use crate::pool;
use crate::schema::js::read_many;
use crate::schema::records::Parsed;
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
    ts_args_type = "records: Array<unknown> | Uint8Array"
  )]
  pub fn predict<'env>(
    &self,
    env: &'env Env,
    records: Either<Uint8Array, Array<'_>>,
  ) -> napi::Result<Object<'env>> {
    let input = read_many(&self.schema(), records).into_napi(env)?;
    let (session, pipeline, name, labels) =
      (self.session.clone(), self.pipeline.clone(), self.input.clone(), self.labels.clone());
    pool::js::spawn(env, move || {
      predict(&session, &pipeline, &name, labels.as_deref().map(Vec::as_slice), input)
    })
  }

  /// The blocking twin of `predict`.
  #[napi(
    catch_unwind,
    ts_return_type = "Array<Prediction>",
    ts_args_type = "records: Array<unknown> | Uint8Array"
  )]
  pub fn predict_sync(
    &self,
    env: Env,
    records: Either<Uint8Array, Array<'_>>,
  ) -> napi::Result<Predictions> {
    let labels = self.labels.as_deref().map(Vec::as_slice);
    read_many(&self.schema(), records)
      .and_then(|input| predict(&self.session, &self.pipeline, &self.input, labels, input))
      .into_napi(&env)
  }
}

impl NativeModel {
  fn schema(&self) -> Arc<crate::schema::Schema> {
    self.pipeline.read().unwrap_or_else(|p| p.into_inner()).schema().clone()
  }
}

fn predict(
  session: &Session,
  pipeline: &RwLock<Pipeline>,
  input: &str,
  labels: Option<&[Value]>,
  records: Either<Uint8Array, Vec<Parsed>>,
) -> Result<Predictions> {
  let pipeline = pipeline.read().unwrap_or_else(|p| p.into_inner()).clone();
  let rows = clean_all(pipeline.schema(), records)?;
  let matrix = features(&pipeline, &rows)?;
  let tensor = Tensor::from_shape(&[matrix.rows, matrix.width], &matrix.data)
    .map_err(|e| TractNodeError::Internal { reason: e.to_string() })?;
  let outputs = session.run(vec![(input.to_string(), tensor)], None)?;
  Ok(Predictions(interpret(&outputs, matrix.rows, labels)?))
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
