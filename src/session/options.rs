//! Session options as JS passes them, and their validated form.

use std::collections::HashMap;
use std::time::Duration;

#[cfg(feature = "binding")]
use napi_derive::napi;

use crate::args::count;
use crate::batching::queue::Limits;
use crate::error::{Result, TractNodeError};

/// Options of `InferenceSession.create`. Unknown keys are ignored, as onnxruntime-node does.
#[cfg_attr(feature = "binding", napi(object, object_to_js = false))]
#[derive(Debug, Default, Clone)]
pub struct SessionOptions {
  /// Threads one run may use for its matrix products: the thread running it plus `n - 1` helpers of
  /// its own, which poll for work between the products of a run (and, for products of one row by
  /// large constant weights, `n - 1` partner threads that each always compute the same block of
  /// columns). Default 1: concurrency comes from running several requests at once on the compute
  /// pool.
  pub intra_op_num_threads: Option<f64>,
  /// Pins the shape of inputs, by input name, so tract builds a plan specialised for it.
  /// Every dim must be given; symbolic dims take the pinned value.
  pub input_shapes: Option<HashMap<String, Vec<f64>>>,
  /// Pins symbolic dims by name (onnxruntime's option of the same name), e.g. `{ batch: 1 }`.
  pub free_dimension_overrides: Option<HashMap<String, f64>>,
  /// `'disabled'` skips tract's optimisation passes (decluttering only); `'basic'`, `'extended'`
  /// and `'all'` (the default) run them all.
  #[cfg_attr(feature = "binding", napi(ts_type = "'disabled' | 'basic' | 'extended' | 'all'"))]
  pub graph_optimization_level: Option<String>,
  /// Dynamic batching: concurrent runs whose inputs agree on every dim but the first are run as one.
  /// The model's inputs must all start with the same symbolic dim.
  pub batching: Option<BatchingOptions>,
  /// The largest tensor one run may make, in bytes; a run whose input shapes or size-giving values
  /// ask for more rejects ERR_RESOURCE before allocating it. Default: half the machine's memory.
  pub max_tensor_bytes: Option<f64>,
}

/// Dynamic batching limits.
#[cfg_attr(feature = "binding", napi(object, object_to_js = false))]
#[derive(Debug, Default, Clone)]
pub struct BatchingOptions {
  /// Most rows (first-dim entries) per model run. Default 32.
  pub max_batch_size: Option<f64>,
  /// Longest the first run of a batch waits for others, in milliseconds. Default 2.
  pub max_delay_ms: Option<f64>,
  /// Most runs waiting; past it `run` rejects ERR_QUEUE_FULL at once. Default 1024.
  pub max_queue: Option<f64>,
}

/// Validated session options.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
  /// Threads for one run's matrix products (≥ 1).
  pub intra_op_threads: usize,
  /// Concrete shapes by input name.
  pub input_shapes: HashMap<String, Vec<usize>>,
  /// Concrete values by symbolic dim name.
  pub dim_overrides: HashMap<String, usize>,
  /// Whether to run tract's codegen optimisations.
  pub optimize: bool,
  /// The largest tensor a run may allocate: half the machine's memory.
  pub max_tensor_bytes: u64,
  /// Batching limits, when batching is on.
  pub batching: Option<Limits>,
}

impl Default for SessionConfig {
  fn default() -> Self {
    SessionConfig {
      intra_op_threads: 1,
      input_shapes: HashMap::new(),
      dim_overrides: HashMap::new(),
      optimize: true,
      max_tensor_bytes: physical_memory_bytes().map_or(8 << 30, |total| total / 2),
      batching: None,
    }
  }
}

/// Total memory from `/proc/meminfo` (Linux), if readable.
fn physical_memory_bytes() -> Option<u64> {
  let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
  let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
  let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
  Some(kib * 1024)
}

/// The most threads one run may ask for.
const MAX_INTRA_OP_THREADS: usize = 256;

impl SessionOptions {
  /// Checks every option and fills defaults.
  pub fn resolve(self) -> Result<SessionConfig> {
    let defaults = SessionConfig::default();
    let intra_op_threads = match self.intra_op_num_threads {
      // onnxruntime reads 0 as "default".
      None => defaults.intra_op_threads,
      Some(0.0) => defaults.intra_op_threads,
      Some(n) => count("options.intraOpNumThreads", n, 1, MAX_INTRA_OP_THREADS)?,
    };
    let input_shapes = self
      .input_shapes
      .unwrap_or_default()
      .into_iter()
      .map(|(name, dims)| {
        let arg = format!("options.inputShapes.{name}");
        let dims =
          dims.into_iter().map(|d| count(&arg, d, 0, usize::MAX)).collect::<Result<_>>()?;
        Ok((name, dims))
      })
      .collect::<Result<_>>()?;
    let dim_overrides = self
      .free_dimension_overrides
      .unwrap_or_default()
      .into_iter()
      .map(|(name, v)| {
        let value = count(&format!("options.freeDimensionOverrides.{name}"), v, 0, usize::MAX)?;
        Ok((name, value))
      })
      .collect::<Result<_>>()?;
    let optimize = match self.graph_optimization_level.as_deref() {
      None | Some("all" | "extended" | "basic" | "layout") => true,
      Some("disabled") => false,
      Some(other) => {
        return Err(TractNodeError::invalid_arg(
          "options.graphOptimizationLevel",
          format!("expected 'disabled', 'basic', 'extended' or 'all', got '{other}'"),
        ))
      }
    };
    let batching = self.batching.map(BatchingOptions::resolve).transpose()?;
    let max_tensor_bytes = match self.max_tensor_bytes {
      None => defaults.max_tensor_bytes,
      Some(bytes) => count("options.maxTensorBytes", bytes, 1, usize::MAX)? as u64,
    };
    Ok(SessionConfig {
      intra_op_threads,
      input_shapes,
      dim_overrides,
      optimize,
      batching,
      max_tensor_bytes,
    })
  }
}

impl BatchingOptions {
  fn resolve(self) -> Result<Limits> {
    let option = |name: &str, value: Option<f64>, default: usize, max: usize| match value {
      None => Ok(default),
      Some(v) => count(&format!("options.batching.{name}"), v, 1, max),
    };
    Ok(Limits {
      max_batch_size: option("maxBatchSize", self.max_batch_size, 32, 1 << 20)?,
      max_delay: Duration::from_millis(match self.max_delay_ms {
        None => 2,
        Some(v) => count("options.batching.maxDelayMs", v, 0, 60_000)? as u64,
      }),
      max_queue: option("maxQueue", self.max_queue, 1024, 1 << 24)?,
    })
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn defaults_are_filled() {
    assert_eq!(SessionOptions::default().resolve().unwrap(), SessionConfig::default());
  }

  #[test]
  fn bad_values_name_the_option() {
    let options = SessionOptions { intra_op_num_threads: Some(-2.0), ..Default::default() };
    let err = options.resolve().unwrap_err();
    assert_eq!(err.code().as_str(), "ERR_INVALID_ARG");
    assert!(err.to_string().starts_with("options.intraOpNumThreads: expected an integer"));

    let shapes = HashMap::from([("x".to_string(), vec![1.0, 2.5])]);
    let options = SessionOptions { input_shapes: Some(shapes), ..Default::default() };
    assert!(options.resolve().unwrap_err().to_string().starts_with("options.inputShapes.x:"));

    let options =
      SessionOptions { graph_optimization_level: Some("max".into()), ..Default::default() };
    assert_eq!(options.resolve().unwrap_err().code().as_str(), "ERR_INVALID_ARG");
  }

  #[test]
  fn batching_limits_have_defaults_and_bounds() {
    let options =
      SessionOptions { batching: Some(BatchingOptions::default()), ..Default::default() };
    let limits = options.resolve().unwrap().batching.unwrap();
    assert_eq!(
      (limits.max_batch_size, limits.max_delay, limits.max_queue),
      (32, Duration::from_millis(2), 1024)
    );
    let bad = BatchingOptions { max_queue: Some(0.0), ..Default::default() };
    let err = SessionOptions { batching: Some(bad), ..Default::default() }.resolve().unwrap_err();
    assert!(err.to_string().starts_with("options.batching.maxQueue"), "{err}");
  }

  #[test]
  fn zero_threads_means_default() {
    let options = SessionOptions { intra_op_num_threads: Some(0.0), ..Default::default() };
    assert_eq!(options.resolve().unwrap().intra_op_threads, 1);
  }
}
