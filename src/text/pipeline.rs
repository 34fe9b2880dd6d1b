//! `TextPipeline`: texts in, embeddings or class scores out. Tokenizes, runs the model and pools
//! in one job: texts are sorted by token count and run in batches of similar length (at most
//! `batch_size`), so that short texts are not padded to the longest of the call.

use std::sync::Arc;
use std::time::Instant;

use tract_onnx::prelude::{DatumType, Tensor};

use super::tokenizer::{EncodeOptions, Encoded, TextTokenizer};
use crate::cancel::Cancellation;
use crate::error::{Result, TractNodeError};
use crate::model::floats;
use crate::ops::ml::ensemble::{transform, PostTransform};
use crate::session::model_info::Dim;
use crate::session::Session;
use crate::tensor::DType;

/// What the model's output is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
  /// A vector per text: token vectors `[n, seq, dim]` pooled, or `[n, dim]` as is.
  Embeddings,
  /// Class logits `[n, classes]`, turned into probabilities.
  Classification,
}

impl Task {
  /// The name JS gives the task.
  pub fn name(self) -> &'static str {
    match self {
      Task::Embeddings => "embeddings",
      Task::Classification => "classification",
    }
  }
}

/// How token vectors become one vector per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
  /// The mean of the attended tokens (sentence-transformers' default).
  Mean,
  /// The first token's vector (`[CLS]`).
  Cls,
}

/// A pipeline's settings (see `TextPipelineOptions` in index.d.ts for the defaults).
#[derive(Debug, Clone)]
pub struct TextPipelineConfig {
  pub task: Task,
  pub pooling: Pooling,
  pub normalize: bool,
  /// How class logits become scores: `Softmax`, `Logistic` (an independent probability per class)
  /// or `None`; by default softmax, or logistic for a single logit.
  pub activation: Option<PostTransform>,
  pub max_length: usize,
  pub batch_size: usize,
  pub output: Option<String>,
}

/// The largest number of texts run in one batch.
pub const MAX_BATCH: usize = 4096;

/// Rows of floats, row-major `[rows, width]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
  pub rows: usize,
  pub width: usize,
  pub data: Vec<f32>,
}

/// Which tokenizer matrix feeds a model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
  Ids,
  Mask,
  TypeIds,
}

#[derive(Debug, Clone)]
struct Feed {
  name: String,
  role: Role,
  int32: bool,
}

/// A model and its tokenizer, ready to take texts.
pub struct TextPipeline {
  session: Arc<Session>,
  tokenizer: Arc<TextTokenizer>,
  feeds: Vec<Feed>,
  output: String,
  encode: EncodeOptions,
  task: Task,
  pooling: Pooling,
  normalize: bool,
  activation: Option<PostTransform>,
  batch_size: usize,
}

impl TextPipeline {
  /// Ties `session` to `tokenizer`: every model input must be one of `input_ids`,
  /// `attention_mask`, `token_type_ids` (int64 or int32), and `output` one of its outputs.
  pub fn new(
    session: Arc<Session>,
    tokenizer: Arc<TextTokenizer>,
    config: TextPipelineConfig,
  ) -> Result<TextPipeline> {
    if config.batch_size == 0 || config.batch_size > MAX_BATCH {
      return Err(TractNodeError::invalid_arg(
        "batchSize",
        format!("an integer in 1..={MAX_BATCH}"),
      ));
    }
    let mut encode = EncodeOptions { max_length: config.max_length, ..EncodeOptions::default() };
    let mut feeds = Vec::new();
    for input in session.inputs() {
      let role = match input.name.as_str() {
        name if name.contains("input_ids") => Role::Ids,
        name if name.contains("attention_mask") => Role::Mask,
        name if name.contains("token_type_ids") => Role::TypeIds,
        name => {
          return Err(TractNodeError::invalid_arg(
            "model",
            format!("a text model, whose inputs are input_ids, attention_mask and token_type_ids; it has '{name}'"),
          ))
        }
      };
      let int32 = match input.dtype {
        Some(DType::Int64) | None => false,
        Some(DType::Int32) => true,
        Some(other) => {
          return Err(TractNodeError::invalid_arg(
            "model",
            format!("input '{}' of int64 or int32 token ids, not {}", input.name, other.name()),
          ))
        }
      };
      // A model exported for one sequence length takes rows padded to exactly that length.
      if let Some([_, Dim::Fixed(length)]) = input.dims.as_deref() {
        encode.max_length = encode.max_length.min(*length);
        encode.pad_to_max_length = true;
      }
      feeds.push(Feed { name: input.name.clone(), role, int32 });
    }
    if !feeds.iter().any(|f| f.role == Role::Ids) {
      return Err(TractNodeError::invalid_arg("model", "a text model with an input_ids input"));
    }
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name.as_str()).collect();
    let output = match config.output {
      Some(name) if outputs.contains(&name.as_str()) => name,
      Some(name) => {
        return Err(TractNodeError::InputUnknown {
          what: "output",
          name,
          known: outputs.iter().map(|s| s.to_string()).collect(),
        })
      }
      None => outputs.first().map(|s| s.to_string()).unwrap_or_default(),
    };
    Ok(TextPipeline {
      session,
      tokenizer,
      feeds,
      output,
      encode,
      task: config.task,
      pooling: config.pooling,
      normalize: config.normalize,
      activation: config.activation,
      batch_size: config.batch_size,
    })
  }

  /// The task this pipeline was made for.
  pub fn task(&self) -> Task {
    self.task
  }

  /// One vector per text (L2-normalised when the pipeline normalises); stops between batches
  /// once `cancel` is set.
  pub fn embed(&self, texts: &[String], cancel: &Cancellation) -> Result<Rows> {
    self.check_task(Task::Embeddings, "embed")?;
    self.run_sorted(texts, cancel, |encoded, values, shape| {
      let mut rows = match shape {
        [rows, seq, dim] if *rows == encoded.rows && *seq == encoded.width => {
          pool(self.pooling, encoded, values, *dim)
        }
        [rows, dim] if *rows == encoded.rows => Rows { rows: *rows, width: *dim, data: values },
        _ => {
          return Err(unexpected_shape(&self.output, shape, "[texts, tokens, dim] or [texts, dim]"))
        }
      };
      if self.normalize {
        rows.data.chunks_mut(rows.width.max(1)).for_each(l2_normalize);
      }
      Ok(rows)
    })
  }

  /// Class scores per text, `[texts, classes]`; stops between batches once `cancel` is set.
  pub fn classify(&self, texts: &[String], cancel: &Cancellation) -> Result<Rows> {
    self.check_task(Task::Classification, "classify")?;
    self.run_sorted(texts, cancel, |encoded, mut values, shape| {
      let &[rows, classes] = shape else {
        return Err(unexpected_shape(&self.output, shape, "[texts, classes]"));
      };
      if rows != encoded.rows {
        return Err(unexpected_shape(&self.output, shape, "[texts, classes]"));
      }
      let single = if classes == 1 { PostTransform::Logistic } else { PostTransform::Softmax };
      let activation = self.activation.unwrap_or(single);
      values.chunks_mut(classes.max(1)).for_each(|row| transform(row, activation));
      Ok(Rows { rows, width: classes, data: values })
    })
  }

  /// ERR_INVALID_ARG unless this pipeline was made for `task`: a classifier's logits are no
  /// embedding, and an embedding model's vectors are no class scores.
  fn check_task(&self, task: Task, call: &str) -> Result<()> {
    if self.task == task {
      return Ok(());
    }
    Err(TractNodeError::invalid_arg(
      "task",
      format!(
        "{call}() needs a pipeline created with task '{}', this one's is '{}'",
        task.name(),
        self.task.name()
      ),
    ))
  }

  /// The width of a row as the model declares its output (its last dim, when fixed), so that no
  /// texts make `[0, width]` like any other call; 0 when the model leaves it open.
  fn declared_width(&self) -> usize {
    let output = self.session.outputs().iter().find(|info| info.name == self.output);
    match output.and_then(|info| info.dims.as_deref()?.last()) {
      Some(Dim::Fixed(width)) => *width,
      _ => 0,
    }
  }

  /// Runs `texts` in batches of similar length (see [`length_groups`]) and puts each batch's rows
  /// (from `read`: the batch's encoding, its output values and shape) back in the order of `texts`.
  /// `cancel` is checked before each batch and at the end (counted in the session's rejections).
  fn run_sorted(
    &self,
    texts: &[String],
    cancel: &Cancellation,
    read: impl Fn(&Encoded, Vec<f32>, &[usize]) -> Result<Rows>,
  ) -> Result<Rows> {
    let encodings = self.tokenizer.tokenize(texts, None, &self.encode)?;
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| encodings[i].len());
    let lengths: Vec<usize> = order.iter().map(|&i| encodings[i].len()).collect();
    let mut result = Rows { rows: texts.len(), width: self.declared_width(), data: Vec::new() };
    let mut first = 0;
    for size in length_groups(&lengths, self.batch_size) {
      cancel.check(self.session.stats())?;
      let batch = &order[first..first + size];
      first += size;
      let batch_encodings: Vec<_> = batch.iter().map(|&i| &encodings[i]).collect();
      let encoded = self.tokenizer.pad(&batch_encodings, &self.encode);
      let (values, shape) = self.run(&encoded)?;
      let rows = read(&encoded, values, &shape)?;
      if result.data.is_empty() {
        result.width = rows.width;
        result.data = vec![0.0; texts.len() * rows.width];
      }
      for (row, &index) in rows.data.chunks(rows.width.max(1)).zip(batch) {
        result.data[index * rows.width..(index + 1) * rows.width].copy_from_slice(row);
      }
    }
    cancel.check(self.session.stats())?;
    Ok(result)
  }

  /// Runs the model on one encoded batch: the output's values and shape.
  fn run(&self, encoded: &Encoded) -> Result<(Vec<f32>, Vec<usize>)> {
    let shape = [encoded.rows, encoded.width];
    let feeds = self
      .feeds
      .iter()
      .map(|feed| {
        let values = match feed.role {
          Role::Ids => &encoded.ids,
          Role::Mask => &encoded.attention_mask,
          Role::TypeIds => &encoded.type_ids,
        };
        let tensor = if feed.int32 {
          let narrow: Vec<i32> = values.iter().map(|&v| v as i32).collect();
          Tensor::from_shape(&shape, &narrow)
        } else {
          Tensor::from_shape(&shape, values)
        };
        let tensor = tensor.map_err(|e| TractNodeError::Internal { reason: e.to_string() })?;
        Ok((feed.name.clone(), tensor))
      })
      .collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    let outputs = self.session.run(feeds, Some(std::slice::from_ref(&self.output)))?;
    self.session.stats().executed(std::iter::once(started.elapsed()));
    let (name, output) = outputs.into_iter().next().ok_or_else(|| TractNodeError::Internal {
      reason: format!("output '{}' missing from the run", self.output),
    })?;
    if output.tensor.datum_type() == DatumType::String {
      return Err(unexpected_shape(&name, output.tensor.shape(), "floats"));
    }
    let shape = output.tensor.shape().to_vec();
    Ok((floats(&name, &output.tensor)?, shape))
  }
}

/// Texts a batch takes before padding may cost more than [`MAX_PADDING`].
const MIN_GROUP: usize = 2;

/// The share of a batch's tokens that may be padding, once it holds [`MIN_GROUP`] texts.
const MAX_PADDING: f64 = 0.1;

/// Sizes of consecutive batches of texts of ascending token `lengths`: at most `batch_size`
/// texts, and past [`MIN_GROUP`] texts no more than [`MAX_PADDING`] of padding (a batch runs as
/// many tokens per text as its longest has: texts of 5 and 30 tokens are best run apart).
fn length_groups(lengths: &[usize], batch_size: usize) -> Vec<usize> {
  let mut groups = Vec::new();
  let (mut size, mut tokens) = (0usize, 0usize);
  for &length in lengths {
    let padded = (size + 1) * length;
    let wasteful =
      size >= MIN_GROUP && (padded - tokens - length) as f64 > MAX_PADDING * padded as f64;
    if size == batch_size || wasteful {
      groups.push(size);
      (size, tokens) = (0, 0);
    }
    size += 1;
    tokens += length;
  }
  if size > 0 {
    groups.push(size);
  }
  groups
}

/// Pools token vectors `[rows, width, dim]` into `[rows, dim]`.
fn pool(pooling: Pooling, encoded: &Encoded, values: Vec<f32>, dim: usize) -> Rows {
  let mut data = vec![0.0f32; encoded.rows * dim];
  for (row, pooled) in data.chunks_mut(dim.max(1)).enumerate() {
    let tokens = &values[row * encoded.width * dim..(row + 1) * encoded.width * dim];
    match pooling {
      Pooling::Cls => pooled.copy_from_slice(&tokens[..dim]),
      Pooling::Mean => {
        let mask = &encoded.attention_mask[row * encoded.width..(row + 1) * encoded.width];
        let mut sum = vec![0.0f64; dim];
        let mut count = 0.0f64;
        for (token, &attended) in tokens.chunks(dim.max(1)).zip(mask) {
          if attended != 0 {
            sum.iter_mut().zip(token).for_each(|(s, &v)| *s += f64::from(v));
            count += 1.0;
          }
        }
        // As sentence-transformers: the sum over at least 1e-9 tokens.
        let count = count.max(1e-9);
        pooled.iter_mut().zip(&sum).for_each(|(p, s)| *p = (s / count) as f32);
      }
    }
  }
  Rows { rows: encoded.rows, width: dim, data }
}

/// Scales `row` to unit length (as torch's `normalize`: a norm under 1e-12 counts as 1e-12).
fn l2_normalize(row: &mut [f32]) {
  let norm = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt().max(1e-12);
  row.iter_mut().for_each(|v| *v = (f64::from(*v) / norm) as f32);
}

/// ERR_INVALID_ARG: the model's output does not fit the pipeline's task (an embedding model made
/// a classifier, a model whose output is not floats).
fn unexpected_shape(output: &str, shape: &[usize], expected: &str) -> TractNodeError {
  TractNodeError::invalid_arg(
    "model",
    format!("output '{output}' has shape {shape:?}, where the task reads {expected}"),
  )
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn mean_pooling_ignores_padding_and_cls_takes_the_first_token() {
    let encoded = Encoded {
      rows: 2,
      width: 3,
      ids: vec![1, 2, 3, 1, 2, 0],
      attention_mask: vec![1, 1, 1, 1, 1, 0],
      type_ids: vec![0; 6],
    };
    let values = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 1.0, 3.0, 3.0, 100.0, 100.0];
    let mean = pool(Pooling::Mean, &encoded, values.clone(), 2);
    assert_eq!(mean.data, vec![3.0, 4.0, 2.0, 2.0]);
    let cls = pool(Pooling::Cls, &encoded, values, 2);
    assert_eq!(cls.data, vec![1.0, 2.0, 1.0, 1.0]);
  }

  #[test]
  fn texts_of_similar_length_run_together() {
    // Equal lengths: whole batches.
    assert_eq!(length_groups(&[7; 10], 4), vec![4, 4, 2]);
    // A long text after short ones starts a batch of its own, once the batch has MIN_GROUP texts.
    assert_eq!(length_groups(&[5, 5, 5, 5, 5, 30, 31], 32), vec![5, 2]);
    assert_eq!(length_groups(&[5, 30], 32), vec![2]);
    assert_eq!(length_groups(&[], 32), Vec::<usize>::new());
  }

  #[test]
  fn normalisation_gives_unit_length_and_leaves_zero_vectors() {
    let mut vector = [3.0f32, 4.0];
    l2_normalize(&mut vector);
    assert_eq!(vector, [0.6, 0.8]);
    let mut zero = [0.0f32, 0.0];
    l2_normalize(&mut zero);
    assert_eq!(zero, [0.0, 0.0]);
  }
}
