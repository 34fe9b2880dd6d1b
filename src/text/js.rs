//! The napi face of text: `NativeTokenizer` and `NativeTextPipeline` (wrapped by `Tokenizer` and
//! `TextPipeline` in `js/text.js`, which checks the arguments' types). Every async method is one
//! job on the compute pool; the `…Sync` twins run on the calling thread.

use std::sync::Arc;

use napi::bindgen_prelude::{
  BigInt64Array, Either, Float32Array, JsObjectValue, Object, ToNapiValue, Uint8Array,
};
use napi::{sys, Env, JsValue};
use napi_derive::napi;

use super::pipeline::{Pooling, Rows, Task, TextPipeline, TextPipelineConfig};
use super::tokenizer::{EncodeOptions, Encoded, TextTokenizer};
use crate::cancel::Cancellation;
use crate::error::js::IntoNapi;
use crate::error::{Result, TractNodeError};
use crate::ops::ml::ensemble::PostTransform;
use crate::pool;
use crate::session::js::{NativeSession, RunTicket};
use crate::tensor::js::tensor_object;
use crate::tensor::DType;

/// A Hugging Face tokenizer. Use `Tokenizer` from the package entry point rather than this class.
#[napi]
pub struct NativeTokenizer {
  inner: Arc<TextTokenizer>,
}

/// How `encode` tokenizes (see `EncodeOptions` in index.d.ts).
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct JsEncodeOptions {
  pub max_length: Option<u32>,
  pub truncation: Option<bool>,
  #[napi(ts_type = "'longest' | 'max_length'")]
  pub padding: Option<String>,
  pub add_special_tokens: Option<bool>,
}

impl JsEncodeOptions {
  fn read(self) -> Result<EncodeOptions> {
    let defaults = EncodeOptions::default();
    let pad_to_max_length = match self.padding.as_deref() {
      None | Some("longest") => false,
      Some("max_length") => true,
      Some(other) => {
        return Err(TractNodeError::invalid_arg(
          "padding",
          format!("'longest' or 'max_length', got '{other}'"),
        ))
      }
    };
    Ok(EncodeOptions {
      max_length: self.max_length.map_or(defaults.max_length, |n| n as usize),
      truncation: self.truncation.unwrap_or(defaults.truncation),
      pad_to_max_length,
      add_special_tokens: self.add_special_tokens.unwrap_or(defaults.add_special_tokens),
    })
  }
}

#[napi]
impl NativeTokenizer {
  /// Reads a `tokenizer.json` (a path or its bytes) off the JS thread.
  #[napi(catch_unwind, ts_return_type = "Promise<NativeTokenizer>")]
  pub fn load<'env>(
    env: &'env Env,
    source: Either<String, Uint8Array>,
  ) -> napi::Result<Object<'env>> {
    pool::js::spawn(env, move || {
      let bytes = match &source {
        Either::A(path) => std::fs::read(path).map_err(|e| TractNodeError::ModelNotFound {
          path: path.clone(),
          reason: e.to_string(),
        })?,
        Either::B(bytes) => bytes.to_vec(),
      };
      Ok(NativeTokenizer { inner: Arc::new(TextTokenizer::from_bytes(&bytes)?) })
    })
  }

  /// Encodes texts (and their pairs) into `{ inputIds, attentionMask, tokenTypeIds }`.
  #[napi(
    catch_unwind,
    ts_return_type = "Promise<{ inputIds: TensorLike; attentionMask: TensorLike; tokenTypeIds: TensorLike }>"
  )]
  pub fn encode<'env>(
    &self,
    env: &'env Env,
    texts: Vec<String>,
    pairs: Option<Vec<String>>,
    options: Option<JsEncodeOptions>,
  ) -> napi::Result<Object<'env>> {
    let options = options.unwrap_or_default().read().into_napi(env)?;
    let tokenizer = self.inner.clone();
    pool::js::spawn(env, move || {
      tokenizer.encode(&texts, pairs.as_deref(), &options).map(EncodedJs)
    })
  }

  /// The blocking twin of `encode`.
  #[napi(
    catch_unwind,
    ts_return_type = "{ inputIds: TensorLike; attentionMask: TensorLike; tokenTypeIds: TensorLike }"
  )]
  pub fn encode_sync(
    &self,
    env: Env,
    texts: Vec<String>,
    pairs: Option<Vec<String>>,
    options: Option<JsEncodeOptions>,
  ) -> napi::Result<EncodedJs> {
    let options = options.unwrap_or_default().read().into_napi(&env)?;
    self.inner.encode(&texts, pairs.as_deref(), &options).map(EncodedJs).into_napi(&env)
  }

  /// The text of token ids (checked by the JS layer to be integers in 0..2³²).
  #[napi(catch_unwind, ts_return_type = "Promise<string>")]
  pub fn decode<'env>(
    &self,
    env: &'env Env,
    ids: Vec<u32>,
    skip_special_tokens: bool,
  ) -> napi::Result<Object<'env>> {
    let tokenizer = self.inner.clone();
    pool::js::spawn(env, move || tokenizer.decode(&ids, skip_special_tokens))
  }

  /// The blocking twin of `decode`.
  #[napi(catch_unwind)]
  pub fn decode_sync(
    &self,
    env: Env,
    ids: Vec<u32>,
    skip_special_tokens: bool,
  ) -> napi::Result<String> {
    self.inner.decode(&ids, skip_special_tokens).into_napi(&env)
  }

  /// The size of the vocabulary, added tokens included.
  #[napi(getter)]
  pub fn vocab_size(&self) -> u32 {
    self.inner.vocab_size() as u32
  }
}

/// Encoded texts on their way to JS: three int64 tensors `[texts, tokens]`.
pub struct EncodedJs(Encoded);

impl ToNapiValue for EncodedJs {
  unsafe fn to_napi_value(raw_env: sys::napi_env, encoded: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let Encoded { rows, width, ids, attention_mask, type_ids } = encoded.0;
    let dims = [rows, width];
    let mut object = Object::new(&env)?;
    for (name, values) in
      [("inputIds", ids), ("attentionMask", attention_mask), ("tokenTypeIds", type_ids)]
    {
      object.set_named_property(
        name,
        tensor_object(&env, DType::Int64, &dims, BigInt64Array::new(values))?,
      )?;
    }
    Ok(object.raw())
  }
}

/// A text pipeline's settings from JS (see `TextPipelineOptions` in index.d.ts).
#[napi(object, object_to_js = false)]
pub struct JsTextPipelineOptions {
  #[napi(ts_type = "'embeddings' | 'classification'")]
  pub task: String,
  #[napi(ts_type = "'mean' | 'cls'")]
  pub pooling: Option<String>,
  pub normalize: Option<bool>,
  #[napi(ts_type = "'softmax' | 'sigmoid' | 'none'")]
  pub activation: Option<String>,
  pub max_length: Option<u32>,
  pub batch_size: Option<u32>,
  pub output: Option<String>,
}

impl JsTextPipelineOptions {
  fn read(self) -> Result<TextPipelineConfig> {
    let task = match self.task.as_str() {
      "embeddings" => Task::Embeddings,
      "classification" => Task::Classification,
      other => {
        return Err(TractNodeError::invalid_arg(
          "task",
          format!("'embeddings' or 'classification', got '{other}'"),
        ))
      }
    };
    let pooling = match self.pooling.as_deref() {
      None | Some("mean") => Pooling::Mean,
      Some("cls") => Pooling::Cls,
      Some(other) => {
        return Err(TractNodeError::invalid_arg(
          "pooling",
          format!("'mean' or 'cls', got '{other}'"),
        ))
      }
    };
    let activation = match self.activation.as_deref() {
      None => None,
      Some("softmax") => Some(PostTransform::Softmax),
      Some("sigmoid") => Some(PostTransform::Logistic),
      Some("none") => Some(PostTransform::None),
      Some(other) => {
        return Err(TractNodeError::invalid_arg(
          "activation",
          format!("'softmax', 'sigmoid' or 'none', got '{other}'"),
        ))
      }
    };
    Ok(TextPipelineConfig {
      task,
      pooling,
      normalize: self.normalize.unwrap_or(task == Task::Embeddings),
      activation,
      max_length: self.max_length.map_or(EncodeOptions::default().max_length, |n| n as usize),
      batch_size: self.batch_size.map_or(32, |n| n as usize),
      output: self.output,
    })
  }
}

/// A model and its tokenizer. Use `TextPipeline` from the package entry point.
#[napi]
pub struct NativeTextPipeline {
  inner: Arc<TextPipeline>,
}

#[napi]
impl NativeTextPipeline {
  /// Ties a session to a tokenizer; throws ERR_INVALID_ARG when the model does not take token ids.
  #[napi(constructor, catch_unwind)]
  pub fn new(
    env: Env,
    session: &NativeSession,
    tokenizer: &NativeTokenizer,
    options: JsTextPipelineOptions,
  ) -> napi::Result<Self> {
    let build = || {
      let pipeline = TextPipeline::new(session.core()?, tokenizer.inner.clone(), options.read()?)?;
      Ok(NativeTextPipeline { inner: Arc::new(pipeline) })
    };
    build().into_napi(&env)
  }

  /// Embeds `texts`: a float32 tensor `[texts, dim]`. `ticket` cancels it between batches.
  #[napi(catch_unwind, ts_return_type = "Promise<TensorLike>")]
  pub fn embed<'env>(
    &self,
    env: &'env Env,
    texts: Vec<String>,
    ticket: Option<&RunTicket>,
  ) -> napi::Result<Object<'env>> {
    self.spawn(env, ticket, move |pipeline, cancel| pipeline.embed(&texts, cancel))
  }

  /// The blocking twin of `embed`.
  #[napi(catch_unwind, ts_return_type = "TensorLike")]
  pub fn embed_sync(&self, env: Env, texts: Vec<String>) -> napi::Result<RowsJs> {
    self.inner.embed(&texts, &Cancellation::default()).map(RowsJs).into_napi(&env)
  }

  /// Class scores of `texts`: a float32 tensor `[texts, classes]`. `ticket` cancels it between
  /// batches.
  #[napi(catch_unwind, ts_return_type = "Promise<TensorLike>")]
  pub fn classify<'env>(
    &self,
    env: &'env Env,
    texts: Vec<String>,
    ticket: Option<&RunTicket>,
  ) -> napi::Result<Object<'env>> {
    self.spawn(env, ticket, move |pipeline, cancel| pipeline.classify(&texts, cancel))
  }

  /// The blocking twin of `classify`.
  #[napi(catch_unwind, ts_return_type = "TensorLike")]
  pub fn classify_sync(&self, env: Env, texts: Vec<String>) -> napi::Result<RowsJs> {
    self.inner.classify(&texts, &Cancellation::default()).map(RowsJs).into_napi(&env)
  }

  /// `'embeddings'` or `'classification'`.
  #[napi(getter)]
  pub fn task(&self) -> &'static str {
    self.inner.task().name()
  }
}

impl NativeTextPipeline {
  /// Runs `call` on the compute pool, cancelled through `ticket`: a promise of its rows.
  fn spawn<'env>(
    &self,
    env: &'env Env,
    ticket: Option<&RunTicket>,
    call: impl FnOnce(&TextPipeline, &Cancellation) -> Result<Rows> + Send + 'static,
  ) -> napi::Result<Object<'env>> {
    let (pipeline, cancel) = (self.inner.clone(), ticket.map(RunTicket::cancellation));
    pool::js::spawn(env, move || call(&pipeline, &cancel.unwrap_or_default()).map(RowsJs))
  }
}

/// Rows of floats on their way to JS: a float32 tensor `[rows, width]`.
pub struct RowsJs(Rows);

impl ToNapiValue for RowsJs {
  unsafe fn to_napi_value(raw_env: sys::napi_env, rows: Self) -> napi::Result<sys::napi_value> {
    let env = Env::from_raw(raw_env);
    let Rows { rows, width, data } = rows.0;
    Ok(tensor_object(&env, DType::Float32, &[rows, width], Float32Array::new(data))?.raw())
  }
}
