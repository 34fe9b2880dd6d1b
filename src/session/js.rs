//! The napi face of a session: `NativeSession` (wrapped by the JS `InferenceSession` in
//! `js/session.js`), its load task, and `RunTicket`, the handle that cancels a queued run.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use napi::bindgen_prelude::{
  AsyncTask, Buffer, Either, FromNapiValue, Object, Uint8Array, Unknown,
};
use napi::{Env, JsValue, Task, ValueType};
use napi_derive::napi;
use tract_onnx::prelude::Tensor;

use super::model_info::{Dim, ModelSummary, Provenance, ValueInfo};
use super::options::{SessionConfig, SessionOptions};
use super::{inspect, ModelSource, PreparedRun, Session};
use crate::batching::queue::Limits;
use crate::batching::{Batcher, Request};
use crate::cancel::Cancellation;
use crate::error::js::IntoNapi;
use crate::error::{catch_panic, Result, TractNodeError};
use crate::pool;
use crate::serving::kserve;
use crate::stats::{Rejection, BATCH_SIZE_BOUNDS};
use crate::tensor::js::{tensor_from_js, JsOutputs};
use crate::tensor::OutputTensor;

/// Name, element type and shape of a model input or output, as onnxruntime-node reports them.
#[napi(object, object_from_js = false)]
pub struct ValueMetadata {
  /// Name in the graph.
  pub name: String,
  /// False only for a `ZipMap` output, which `run` returns as one `{ label: probability }` object
  /// per row (`type` and `shape` then describe the probabilities).
  pub is_tensor: bool,
  /// Element type, or `'unknown'` when the model does not declare one.
  #[napi(js_name = "type", ts_type = "TensorType | 'unknown'")]
  pub dtype: String,
  /// Dims: a number when fixed, the dim's name when symbolic, `''` when left open (as onnxruntime-node).
  #[napi(ts_type = "Array<number | string>")]
  pub shape: Vec<Either<i64, String>>,
  /// For a `ZipMap` output: the class labels, the keys of each row's object (integers as text).
  pub zip_map_labels: Option<Vec<String>>,
}

impl From<&ValueInfo> for ValueMetadata {
  fn from(info: &ValueInfo) -> Self {
    let shape = info.dims.iter().flatten().map(|dim| match dim {
      Dim::Fixed(n) => Either::A(*n as i64),
      Dim::Named(name) => Either::B(name.clone()),
      Dim::Unknown => Either::B(String::new()),
    });
    ValueMetadata {
      name: info.name.clone(),
      is_tensor: info.zip_map_labels.is_none(),
      dtype: info.dtype.map_or("unknown", |d| d.name()).to_string(),
      shape: shape.collect(),
      zip_map_labels: info.zip_map_labels.clone(),
    }
  }
}

/// An operator set a model imports.
#[napi(object, object_from_js = false)]
pub struct OpsetImport {
  /// `ai.onnx` for the default domain, `ai.onnx.ml`, …
  pub domain: String,
  pub version: i64,
}

/// How often a model uses one operator, and whether tract-node can run it.
#[napi(object, object_from_js = false)]
pub struct OperatorUsage {
  /// `OpType`, prefixed by its domain unless that is the default one (`ai.onnx.ml.Scaler`).
  pub op: String,
  /// Nodes using it, subgraphs included.
  pub count: u32,
  /// Whether tract-node has an implementation of it.
  pub supported: bool,
}

/// What an ONNX file says about itself: `inspectModel`'s answer.
#[napi(object, object_from_js = false)]
pub struct ModelReport {
  /// The ONNX IR version.
  pub ir_version: i64,
  /// The tool that wrote the file, with its version (`skl2onnx 1.20.0`), or `''`.
  pub producer: String,
  /// Operator sets imported.
  pub opsets: Vec<OpsetImport>,
  /// Inputs (initializers excluded), as declared.
  pub inputs: Vec<ValueMetadata>,
  /// Outputs, as declared.
  pub outputs: Vec<ValueMetadata>,
  /// Operators used, sorted by name.
  pub operators: Vec<OperatorUsage>,
  /// The operators tract-node cannot run (a session would fail with ERR_UNSUPPORTED_OP).
  pub unsupported: Vec<String>,
}

impl From<ModelSummary> for ModelReport {
  fn from(summary: ModelSummary) -> Self {
    let unsupported =
      summary.operators.iter().filter(|o| !o.supported).map(|o| o.op.clone()).collect();
    ModelReport {
      ir_version: summary.ir_version,
      producer: summary.producer,
      opsets: summary
        .opsets
        .into_iter()
        .map(|(domain, version)| OpsetImport { domain, version })
        .collect(),
      inputs: summary.inputs.iter().map(ValueMetadata::from).collect(),
      outputs: summary.outputs.iter().map(ValueMetadata::from).collect(),
      operators: summary
        .operators
        .into_iter()
        .map(|o| OperatorUsage { op: o.op, count: o.count as u32, supported: o.supported })
        .collect(),
      unsupported,
    }
  }
}

/// Reads what a model file (a path or the bytes of an ONNX file) says about itself, off the JS
/// thread and without building the model: producer, opsets, inputs, outputs, and every operator
/// with its count and whether tract-node supports it.
#[napi(catch_unwind, ts_return_type = "Promise<ModelReport>")]
pub fn inspect_model<'env>(
  env: &'env Env,
  model: Either<String, Uint8Array>,
) -> napi::Result<Object<'env>> {
  pool::js::spawn(env, move || inspect(model_source(&model)).map(ModelReport::from))
}

/// A model given from JS: a file path or the bytes of an ONNX file.
fn model_source(model: &Either<String, Uint8Array>) -> ModelSource<'_> {
  match model {
    Either::A(path) => ModelSource::Path(Path::new(path)),
    Either::B(bytes) => ModelSource::Bytes(bytes),
  }
}

/// The bytes of a request body given as bytes or as a string.
fn bytes_of(body: &Either<Uint8Array, String>) -> &[u8] {
  match body {
    Either::A(bytes) => bytes,
    Either::B(text) => text.as_bytes(),
  }
}

/// A loaded model. Use `InferenceSession` from the package entry point rather than this class.
#[napi]
pub struct NativeSession {
  core: Option<Arc<Session>>,
  /// The batching front, when the session was created with `batching`.
  batcher: Option<Arc<Batcher<Session>>>,
  /// Its limits, kept past `release` as the metadata is.
  batching: Option<Limits>,
  inputs: Vec<ValueInfo>,
  outputs: Vec<ValueInfo>,
  provenance: Provenance,
}

/// A session's dynamic batching limits, defaults filled in.
#[napi(object, object_from_js = false)]
pub struct BatchingLimits {
  pub max_batch_size: u32,
  pub max_delay_ms: f64,
  pub max_queue: u32,
}

#[napi]
impl NativeSession {
  /// Loads a model (a file path or the bytes of an ONNX file) off the JS thread.
  #[napi(
    ts_return_type = "Promise<NativeSession>",
    ts_args_type = "model: string | Uint8Array, options?: SessionOptions | null"
  )]
  pub fn load(
    env: Env,
    model: Either<String, Uint8Array>,
    options: Option<Unknown<'_>>,
  ) -> napi::Result<AsyncTask<LoadSessionTask>> {
    let config = read_options(&env, options).into_napi(&env)?;
    Ok(AsyncTask::new(LoadSessionTask { model, config }))
  }

  /// Input names, in the model's order.
  #[napi(getter)]
  pub fn input_names(&self) -> Vec<String> {
    self.inputs.iter().map(|i| i.name.clone()).collect()
  }

  /// Output names, in the model's order.
  #[napi(getter)]
  pub fn output_names(&self) -> Vec<String> {
    self.outputs.iter().map(|o| o.name.clone()).collect()
  }

  /// Input metadata, in the model's order.
  #[napi(getter)]
  pub fn input_metadata(&self) -> Vec<ValueMetadata> {
    self.inputs.iter().map(ValueMetadata::from).collect()
  }

  /// Output metadata, in the model's order.
  #[napi(getter)]
  pub fn output_metadata(&self) -> Vec<ValueMetadata> {
    self.outputs.iter().map(ValueMetadata::from).collect()
  }

  /// The tool that wrote the model, with its version (`skl2onnx 1.20.0`), or `''`.
  #[napi(getter)]
  pub fn producer(&self) -> String {
    self.provenance.producer.clone()
  }

  /// Operator sets the model imports.
  #[napi(getter)]
  pub fn opsets(&self) -> Vec<OpsetImport> {
    let opsets = self.provenance.opsets.iter().cloned();
    opsets.map(|(domain, version)| OpsetImport { domain, version }).collect()
  }

  /// The dynamic batching limits, or null when the session does not batch.
  #[napi(getter)]
  pub fn batching(&self) -> Option<BatchingLimits> {
    self.batching.map(|limits| BatchingLimits {
      max_batch_size: limits.max_batch_size as u32,
      max_delay_ms: limits.max_delay.as_secs_f64() * 1000.0,
      max_queue: limits.max_queue as u32,
    })
  }

  /// Checks and converts the feeds on the JS thread, then runs the model on the compute pool.
  /// `ticket` lets the caller cancel the run: if it is cancelled before the run starts, the run
  /// never computes; if later, its result is dropped. Either way the promise rejects ERR_ABORTED.
  #[napi(catch_unwind, ts_return_type = "Promise<Record<string, TensorLike>>")]
  pub fn run<'env>(
    &self,
    env: &'env Env,
    feeds: Object<'_>,
    fetches: Option<Vec<String>>,
    ticket: Option<&RunTicket>,
  ) -> napi::Result<Object<'env>> {
    let (core, prepared) = self.prepare(env, &feeds, fetches)?;
    let (settle, promise) = pool::js::promise(env)?;
    let job = self.job(core, ticket);
    let respond = Box::new(move |outcome: Result<_>| settle(outcome.map(JsOutputs)));
    job.queue(move |job| job.dispatch(prepared, respond));
    Ok(promise)
  }

  /// The lean HTTP path: a KServe V2 JSON request body in, the JSON response body out. Parsing,
  /// running (batched when the session batches) and serialising all happen off the JS thread. The
  /// body comes as bytes (from a socket) or as a string (a queue job's data, as Redis gave it).
  #[napi(catch_unwind, ts_return_type = "Promise<Buffer>")]
  pub fn infer_json<'env>(
    &self,
    env: &'env Env,
    body: Either<Uint8Array, String>,
    model_name: String,
    ticket: Option<&RunTicket>,
  ) -> napi::Result<Object<'env>> {
    let core = self.core().into_napi(env)?;
    let (settle, promise) = pool::js::promise(env)?;
    let job = self.job(core, ticket);
    job.queue(move |job| match catch_panic(|| kserve::parse(bytes_of(&body), &job.core)) {
      Err(error) => settle(Err(error)),
      Ok(kserve::Parsed { run, id }) => {
        let respond = Box::new(move |outcome: Result<Vec<(String, OutputTensor)>>| {
          settle(
            outcome
              .and_then(|outputs| kserve::response(&model_name, id, &outputs))
              .map(Buffer::from),
          )
        });
        job.dispatch(run, respond)
      }
    });
    Ok(promise)
  }

  /// The blocking twin of `run`: computes on the JS thread. For scripts and benchmarks.
  #[napi(catch_unwind, ts_return_type = "Record<string, TensorLike>")]
  pub fn run_sync(
    &self,
    env: Env,
    feeds: Object<'_>,
    fetches: Option<Vec<String>>,
  ) -> napi::Result<JsOutputs> {
    let (core, prepared) = self.prepare(&env, &feeds, fetches)?;
    catch_panic(|| core.execute(prepared)).map(JsOutputs).into_napi(&env)
  }

  /// The session's counters.
  #[napi(catch_unwind)]
  pub fn stats(&self, env: Env) -> napi::Result<SessionStats> {
    let s = self.core().into_napi(&env)?.stats().snapshot();
    Ok(SessionStats {
      runs: s.runs as f64,
      batches: s.batches as f64,
      mean_batch_size: s.mean_batch_size,
      queue_depth: s.queue_depth as f64,
      p50_ms: s.p50_ms,
      p99_ms: s.p99_ms,
      rejected: RejectedCounts {
        aborted: s.aborted as f64,
        timeout: s.timeouts as f64,
        queue_full: s.queue_full as f64,
      },
      batch_sizes: s.batch_sizes.iter().map(|&c| c as f64).collect(),
      batch_size_bounds: BATCH_SIZE_BOUNDS.iter().map(|&b| b as f64).collect(),
    })
  }

  /// Frees the model once in-flight runs finish; later runs reject ERR_SESSION_RELEASED.
  #[napi]
  pub fn release(&mut self) {
    // Queued batched runs still complete: the batcher's thread holds the session until then.
    self.batcher = None;
    self.core = None;
  }

  fn prepare(
    &self,
    env: &Env,
    feeds: &Object<'_>,
    fetches: Option<Vec<String>>,
  ) -> napi::Result<(Arc<Session>, super::PreparedRun)> {
    let core = self.core.clone().ok_or(TractNodeError::SessionReleased).into_napi(env)?;
    let prepared =
      catch_panic(|| core.prepare(read_feeds(feeds)?, fetches.as_deref())).into_napi(env)?;
    Ok((core, prepared))
  }
}

impl NativeSession {
  /// A run of `core` starting now, through the batcher when the session batches.
  fn job(&self, core: Arc<Session>, ticket: Option<&RunTicket>) -> Job {
    let ticket = ticket.map(RunTicket::cancellation).unwrap_or_default();
    Job { core, batcher: self.batcher.clone(), ticket, since: Instant::now() }
  }

  /// The loaded model, unless released.
  pub(crate) fn core(&self) -> Result<Arc<Session>> {
    self.core.clone().ok_or(TractNodeError::SessionReleased)
  }
}

/// Answers one run (called exactly once, on a pool or dispatcher thread).
type Respond = crate::batching::Respond<Vec<(String, OutputTensor)>>;

/// A run on its way: to the session's batcher, or computed right here (on a pool thread).
struct Job {
  core: Arc<Session>,
  batcher: Option<Arc<Batcher<Session>>>,
  ticket: Arc<Cancellation>,
  since: Instant,
}

impl Job {
  /// Runs `work` on the compute pool; the run counts as queued until then.
  fn queue(self, work: impl FnOnce(Job) + Send + 'static) {
    self.core.stats().queued();
    pool::global().submit(Box::new(move || {
      self.core.stats().dequeued();
      work(self)
    }));
  }

  fn dispatch(self, run: PreparedRun, respond: Respond) {
    match self.batcher {
      Some(batcher) if run.rows() > 0 => {
        let (key, rows) = (run.batch_key(), run.rows());
        batcher.submit(key, rows, Request { run, cancel: self.ticket, respond, since: self.since })
      }
      _ => respond(catch_panic(|| execute(&self.core, run, &self.ticket, self.since))),
    }
  }
}

/// Computes one unbatched run, counting it and honouring its cancellation before and after.
fn execute(
  core: &Session,
  run: PreparedRun,
  ticket: &Cancellation,
  since: Instant,
) -> Result<Vec<(String, OutputTensor)>> {
  let stats = core.stats();
  ticket.check(stats)?;
  let outputs = core.execute(run);
  stats.executed(std::iter::once(since.elapsed()));
  // Cancelled while computing: the caller has already been answered; drop the result.
  ticket.check(stats)?;
  outputs
}

/// Cancels one queued or running `NativeSession.run`.
#[napi]
#[derive(Default)]
pub struct RunTicket {
  state: Arc<Cancellation>,
}

#[napi]
impl RunTicket {
  /// A ticket that is not cancelled.
  #[napi(constructor)]
  pub fn new() -> Self {
    RunTicket::default()
  }

  /// The cancellation this ticket sets, for the job it was given to.
  pub(crate) fn cancellation(&self) -> Arc<Cancellation> {
    self.state.clone()
  }

  /// Cancels the run: it never starts if it has not, and its result is dropped if it has.
  /// `reason` feeds the session's rejection counts.
  #[napi(ts_args_type = "reason: 'abort' | 'timeout'")]
  pub fn cancel(&self, reason: String) {
    self.state.cancel(if reason == "timeout" { Rejection::Timeout } else { Rejection::Aborted });
  }
}

/// Counters of a session (`InferenceSession.stats()`).
#[napi(object, object_from_js = false)]
pub struct SessionStats {
  /// Runs computed (a run cancelled mid-run counts: it did compute).
  pub runs: f64,
  /// Model executions (equal to `runs` without batching).
  pub batches: f64,
  /// Runs per execution.
  pub mean_batch_size: f64,
  /// Runs waiting for a compute thread.
  pub queue_depth: f64,
  /// Median latency from `run` to result, over the last 1,024 runs, in milliseconds.
  pub p50_ms: f64,
  /// 99th-percentile latency over the last 1,024 runs, in milliseconds.
  pub p99_ms: f64,
  /// Runs rejected by cause.
  pub rejected: RejectedCounts,
  /// Executions per batch size: counts for sizes up to each of `batchSizeBounds`, then larger (not
  /// cumulative).
  pub batch_sizes: Vec<f64>,
  /// Upper bounds of the `batchSizes` buckets (1, 2, 4, … 128); a last bucket takes larger
  /// batches.
  pub batch_size_bounds: Vec<f64>,
}

/// Runs rejected by cause.
#[napi(object, object_from_js = false)]
pub struct RejectedCounts {
  /// Aborted through an AbortSignal.
  pub aborted: f64,
  /// Past their `timeoutMs`.
  pub timeout: f64,
  /// Refused because the batching queue was full.
  pub queue_full: f64,
}

/// Loads and optimises a model on libuv's thread pool.
pub struct LoadSessionTask {
  model: Either<String, Uint8Array>,
  config: SessionConfig,
}

impl Task for LoadSessionTask {
  type Output = Result<Session>;
  type JsValue = NativeSession;

  fn compute(&mut self) -> napi::Result<Self::Output> {
    Ok(catch_panic(|| Session::load(model_source(&self.model), &self.config)))
  }

  fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<NativeSession> {
    let session = Arc::new(output.into_napi(&env)?);
    let batcher = self
      .config
      .batching
      .map(|limits| Batcher::start(session.clone(), limits).map(Arc::new))
      .transpose()
      .into_napi(&env)?;
    Ok(NativeSession {
      inputs: session.inputs().to_vec(),
      outputs: session.outputs().to_vec(),
      provenance: session.provenance().clone(),
      core: Some(session),
      batcher,
      batching: self.config.batching,
    })
  }
}

fn read_options(env: &Env, options: Option<Unknown<'_>>) -> Result<SessionConfig> {
  let Some(options) =
    options.filter(|o| !matches!(o.get_type(), Ok(ValueType::Undefined | ValueType::Null)))
  else {
    return Ok(SessionConfig::default());
  };
  if options.get_type().ok() != Some(ValueType::Object) {
    return Err(TractNodeError::invalid_arg("options", "expected an object"));
  }
  // SAFETY: `options` is an object (checked above) of this call's environment.
  let options = unsafe { SessionOptions::from_napi_value(env.raw(), options.raw()) }
    .map_err(|e| TractNodeError::invalid_arg("options", e.reason.clone()))?;
  options.resolve()
}

fn read_feeds(feeds: &Object<'_>) -> Result<Vec<(String, Tensor)>> {
  let names = Object::keys(feeds)
    .map_err(|_| TractNodeError::invalid_arg("feeds", "expected an object of tensors"))?;
  names
    .into_iter()
    .map(|name| {
      let value: Unknown<'_> =
        feeds.get(&name).ok().flatten().ok_or_else(|| {
          TractNodeError::invalid_arg(format!("feeds.{name}"), "expected a Tensor")
        })?;
      let tensor = tensor_from_js(&name, value)?;
      Ok((name, tensor))
    })
    .collect()
}
