//! Feature pipelines: per-column transforms that turn cleaned records into a float32 matrix,
//! numerically equal to scikit-learn's StandardScaler, MinMaxScaler, OneHotEncoder
//! (handle_unknown='ignore'), OrdinalEncoder, SimpleImputer and FeatureHasher. Pure Rust;
//! `features::js` is the napi face.

pub mod categories;
pub mod date_parts;
pub mod hash;
pub mod impute;
pub mod scaler;

#[cfg(feature = "binding")]
pub mod js;

use std::cmp::Ordering;
use std::sync::atomic::{self, AtomicBool};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, TractNodeError};
use crate::schema::field::Kind;
use crate::schema::value::Clean;
use crate::schema::{join_errors, FieldError, Keep, Schema};
use categories::{OneHot, Ordinal};
use date_parts::DateParts;
use hash::Hash;
use impute::Imputation;
use scaler::{MinMax, Standardize};

/// What a step does to its column.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "transform")]
pub enum Transform {
  #[serde(rename = "standardize")]
  Standardize(Standardize),
  #[serde(rename = "minmax")]
  MinMax(MinMax),
  #[serde(rename = "onehot")]
  OneHot(OneHot),
  #[serde(rename = "ordinal")]
  Ordinal(Ordinal),
  #[serde(rename = "dateParts")]
  DateParts(DateParts),
  #[serde(rename = "hash")]
  Hash(Hash),
  /// The value as a number (bools 0/1, dates as epoch days); `impute` is passthrough with a
  /// required imputation.
  #[serde(rename = "passthrough", alias = "impute")]
  Passthrough {},
}

impl Transform {
  fn name(&self) -> &'static str {
    match self {
      Transform::Standardize(_) => "standardize",
      Transform::MinMax(_) => "minmax",
      Transform::OneHot(_) => "onehot",
      Transform::Ordinal(_) => "ordinal",
      Transform::DateParts(_) => "dateParts",
      Transform::Hash(_) => "hash",
      Transform::Passthrough {} => "passthrough",
    }
  }

  /// Option keys each transform accepts (besides `column`, `transform`, `impute`, `fillValue`).
  fn options(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
      "standardize" => &["mean", "scale"],
      "minmax" => &["dataMin", "dataMax"],
      "onehot" => &["categories"],
      "ordinal" => &["categories", "unknownValue"],
      "dateParts" => &["parts"],
      "hash" => &["buckets", "alternateSign"],
      "passthrough" => &[],
      "impute" => &["strategy"],
      _ => return None,
    })
  }
}

/// One column's transform, with its optional imputation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
  pub column: String,
  #[serde(flatten)]
  pub transform: Transform,
  #[serde(flatten)]
  pub imputation: Imputation,
  #[serde(skip)]
  field: usize,
}

impl Step {
  /// Reads a step definition and checks it against the schema. Fitted state, when present, is kept.
  pub fn from_definition(schema: &Schema, definition: &Value) -> Result<Step> {
    let column = definition.get("column").and_then(Value::as_str).unwrap_or("(step)").to_string();
    let error = |reason: String| TractNodeError::Schema { field: column.clone(), reason };
    let object = definition
      .as_object()
      .ok_or_else(|| error("a step must be an object { column, transform }".into()))?;
    let field = schema
      .field_index(&column)
      .ok_or_else(|| error("the schema declares no such field".into()))?;
    let name = object.get("transform").and_then(Value::as_str).unwrap_or("");
    let options = Transform::options(name).ok_or_else(|| {
      error(format!(
        "transform: expected standardize, minmax, onehot, ordinal, impute, dateParts, hash or passthrough, got '{name}'"
      ))
    })?;
    let common = ["column", "transform", "impute", "fillValue"];
    if let Some(key) =
      object.keys().find(|k| !common.contains(&k.as_str()) && !options.contains(&k.as_str()))
    {
      return Err(error(format!("'{key}' is not an option of '{name}'")));
    }
    let mut step: Step =
      serde_json::from_value(definition.clone()).map_err(|e| error(e.to_string()))?;
    step.field = field;
    let kind = &schema.fields()[field].kind;
    step.check(name, kind).map_err(error)?;
    step.prepare(kind);
    Ok(step)
  }

  fn check(&self, name: &str, kind: &Kind) -> std::result::Result<(), String> {
    let numeric = matches!(kind, Kind::Int { .. } | Kind::Float { .. } | Kind::Bool);
    let temporal = matches!(kind, Kind::Date | Kind::DateTime);
    let fits = match &self.transform {
      Transform::Standardize(_) | Transform::MinMax(_) => numeric,
      Transform::DateParts(parts) => temporal && !parts.parts.is_empty(),
      Transform::Hash(hash) => hash.buckets > 0,
      Transform::Passthrough {} => numeric || temporal,
      Transform::OneHot(_) | Transform::Ordinal(_) => true,
    };
    if !fits {
      return Err(format!(
        "'{name}' does not apply to a {} field (or its options are empty)",
        kind.name()
      ));
    }
    if name == "impute" && self.imputation.impute.is_none() {
      return Err(
        "'impute' needs a strategy: strategy: 'mean' | 'median' | 'most_frequent' | 'constant'"
          .into(),
      );
    }
    Ok(())
  }

  fn prepare(&mut self, kind: &Kind) {
    self.imputation.prepare(kind);
    match &mut self.transform {
      Transform::OneHot(t) => t.categories.prepare(),
      Transform::Ordinal(t) => t.categories.prepare(),
      _ => {}
    }
  }

  fn is_fitted(&self) -> bool {
    self.imputation.is_fitted()
      && match &self.transform {
        Transform::Standardize(t) => t.is_fitted(),
        Transform::MinMax(t) => t.is_fitted(),
        Transform::OneHot(t) => t.categories.is_fitted(),
        Transform::Ordinal(t) => t.categories.is_fitted(),
        Transform::DateParts(_) | Transform::Hash(_) | Transform::Passthrough {} => true,
      }
  }

  fn fit(&mut self, kind: &Kind, rows: &[Vec<Clean>]) -> Result<()> {
    let raw: Vec<&Clean> = rows.iter().map(|row| &row[self.field]).collect();
    self.imputation.fit(&self.column, kind, &raw)?;
    let values: Vec<&Clean> = raw.into_iter().map(|v| self.imputation.apply(v)).collect();
    let numbers = || values.iter().map(|v| numeric(v).unwrap_or(f64::NAN)).collect::<Vec<f64>>();
    match &mut self.transform {
      Transform::Standardize(t) => t.fit(&numbers()),
      Transform::MinMax(t) => t.fit(&numbers()),
      Transform::OneHot(t) => t.categories.fit(&values),
      Transform::Ordinal(t) => t.categories.fit(&values),
      Transform::DateParts(_) | Transform::Hash(_) | Transform::Passthrough {} => {}
    }
    Ok(())
  }

  fn width(&self) -> usize {
    match &self.transform {
      Transform::OneHot(t) => t.categories.count(),
      Transform::DateParts(t) => t.parts.len(),
      Transform::Hash(t) => t.buckets,
      _ => 1,
    }
  }

  fn names(&self) -> Vec<String> {
    let column = &self.column;
    match &self.transform {
      Transform::OneHot(t) => {
        t.categories.names().iter().map(|c| format!("{column}_{c}")).collect()
      }
      Transform::DateParts(t) => t.parts.iter().map(|p| format!("{column}_{}", p.name())).collect(),
      Transform::Hash(t) => (0..t.buckets).map(|i| format!("{column}_hash{i}")).collect(),
      _ => vec![column.clone()],
    }
  }

  fn encode(&self, row: &[Clean], out: &mut [f32]) {
    let value = self.imputation.apply(&row[self.field]);
    let number = || numeric(value).unwrap_or(f64::NAN);
    match &self.transform {
      Transform::Standardize(t) => out[0] = t.encode(number()),
      Transform::MinMax(t) => out[0] = t.encode(number()),
      Transform::Passthrough {} => out[0] = number() as f32,
      Transform::Ordinal(t) => out[0] = t.encode(value),
      Transform::OneHot(t) => t.encode(value, out),
      Transform::DateParts(t) => t.encode(value, out),
      Transform::Hash(t) => t.encode(value, out),
    }
  }
}

/// A schema plus ordered steps; output columns follow step order.
#[derive(Debug, Clone)]
pub struct Pipeline {
  schema: Arc<Schema>,
  steps: Vec<Step>,
}

impl Pipeline {
  /// Builds a pipeline from step definitions (fitted state included, as `steps_json` writes it).
  pub fn new(schema: Arc<Schema>, steps: &[Value]) -> Result<Pipeline> {
    if steps.is_empty() {
      return Err(TractNodeError::Schema {
        field: "(pipeline)".into(),
        reason: "has no steps".into(),
      });
    }
    let steps = steps.iter().map(|s| Step::from_definition(&schema, s)).collect::<Result<_>>()?;
    Ok(Pipeline { schema, steps })
  }

  /// The schema records are validated with.
  pub fn schema(&self) -> &Arc<Schema> {
    &self.schema
  }

  /// Whether every step has its fitted state.
  pub fn is_fitted(&self) -> bool {
    self.steps.iter().all(Step::is_fitted)
  }

  /// Learns every step's state from cleaned rows.
  pub fn fit(&mut self, rows: &[Vec<Clean>]) -> Result<()> {
    if rows.is_empty() {
      return Err(TractNodeError::invalid_arg("records", "fit needs at least one record"));
    }
    let fields = self.schema.fields();
    for step in &mut self.steps {
      step.fit(&fields[step.field].kind, rows)?;
    }
    Ok(())
  }

  /// Output width (features per row). Needs a fitted pipeline.
  pub fn width(&self) -> Result<usize> {
    self.require_fitted()?;
    Ok(self.steps.iter().map(Step::width).sum())
  }

  /// Output column names, sklearn-style (`salary`, `department_eng`, `joined_year`, `name_hash3`).
  pub fn feature_names(&self) -> Result<Vec<String>> {
    self.require_fitted()?;
    Ok(self.steps.iter().flat_map(Step::names).collect())
  }

  /// Row-major `[rows.len(), width]` features.
  pub fn transform(&self, rows: &[Vec<Clean>]) -> Result<Vec<f32>> {
    let width = self.width()?;
    let mut out = vec![0f32; rows.len() * width];
    if width == 0 {
      return Ok(out);
    }
    for (row, features) in rows.iter().zip(out.chunks_exact_mut(width)) {
      self.encode(row, features);
    }
    Ok(out)
  }

  /// The features of one cleaned row into `out` (`width()` values, zeroed). Needs a fitted pipeline.
  pub fn encode(&self, row: &[Clean], out: &mut [f32]) {
    let mut offset = 0;
    for step in &self.steps {
      let w = step.width();
      step.encode(row, &mut out[offset..offset + w]);
      offset += w;
    }
  }

  /// Step definitions with fitted state, for `toJSON`.
  pub fn steps_json(&self) -> Vec<Value> {
    self
      .steps
      .iter()
      .map(|step| {
        let mut value = serde_json::to_value(step).unwrap_or(Value::Null);
        if let (Value::Object(map), "passthrough") = (&mut value, step.transform.name()) {
          if step.imputation.impute.is_some() {
            map.insert("transform".into(), Value::from("impute"));
          }
        }
        value
      })
      .collect()
  }

  fn require_fitted(&self) -> Result<()> {
    if self.is_fitted() {
      Ok(())
    } else {
      Err(TractNodeError::NotFitted)
    }
  }
}

/// The features of the valid records of a read, with their input indices and the errors of the
/// others ([`Keep`] for [`Schema::clean_records`]); each record is encoded as it is cleaned.
pub struct Featurised<'p> {
  pipeline: &'p Pipeline,
  width: usize,
  /// Where rows go when each record's row is its index in the input ([`Featurised::into_rows`]),
  /// and the index of the chunk's first record.
  into: Option<&'p MatrixRows>,
  first: Option<usize>,
  pub indices: Vec<u32>,
  /// Row-major `[indices.len(), width]`, once joined.
  pub data: Vec<f32>,
  pub errors: Vec<FieldError>,
  /// A chunk's rows, in blocks of [`BLOCK_ROWS`]: a growing vector would copy its rows at every
  /// doubling, into fresh pages the kernel zeroes first.
  blocks: Vec<Vec<f32>>,
}

/// Rows per block of a chunk's features.
const BLOCK_ROWS: usize = 8192;

impl<'p> Featurised<'p> {
  /// Nothing kept yet; `width` is the fitted pipeline's ([`Pipeline::width`]).
  pub fn new(pipeline: &'p Pipeline, width: usize) -> Self {
    Featurised {
      pipeline,
      width,
      into: None,
      first: None,
      indices: Vec::new(),
      data: Vec::new(),
      errors: Vec::new(),
      blocks: Vec::new(),
    }
  }

  /// Features written straight into `rows`, record `i` of the input into row `i`, for a read whose
  /// records must all be valid (an invalid one leaves its row as it was) and whose chunks are told
  /// where they start ([`Keep::starts_at`]). `data` stays empty: the matrix is `rows`'.
  pub fn into_rows(pipeline: &'p Pipeline, width: usize, rows: &'p MatrixRows) -> Self {
    Featurised { into: Some(rows), ..Featurised::new(pipeline, width) }
  }

  /// The features of records that are all valid, given in chunks in input order: each chunk is
  /// written straight into its rows of the matrix, the chunks on the compute threads.
  pub fn of_valid(pipeline: &'p Pipeline, width: usize, chunks: Vec<&[Vec<Clean>]>) -> Self {
    let rows = chunks.iter().map(|chunk| chunk.len()).sum::<usize>();
    let mut whole = Featurised::new(pipeline, width);
    whole.indices = (0..rows as u32).collect();
    let parts = chunks.into_iter().map(|chunk| (chunk.len(), chunk)).collect();
    whole.data = matrix(rows, width, parts, |chunk, out| {
      for (row, out) in chunk.iter().zip(out.chunks_exact_mut(width.max(1))) {
        pipeline.encode(row, out);
      }
    });
    whole
  }
}

/// A zeroed `[rows, width]` matrix whose rows the chunks of a read write at once, each the rows of
/// its own records (see [`Featurised::into_rows`]): no rows gathered per chunk, then copied.
pub struct MatrixRows {
  data: Vec<f32>,
  start: *mut f32,
  rows: usize,
  width: usize,
  /// A record had no row: past the end, or in a chunk not told where it starts.
  unplaced: AtomicBool,
}

// SAFETY: the matrix is written only through `write`, row by row, and each row by one thread (see
// there); `start` points into `data`, which is neither moved nor touched otherwise until
// `into_data` takes `self`.
unsafe impl Sync for MatrixRows {}
// SAFETY: as for `Sync`; the pointer is `data`'s own and goes with it.
unsafe impl Send for MatrixRows {}

impl MatrixRows {
  /// `None` when the memory cannot be had: the count comes from the input (a sparse array's length,
  /// say), not from records read.
  pub fn new(rows: usize, width: usize) -> Option<Self> {
    let mut data = try_zeroed(rows.checked_mul(width)?)?;
    let start = data.as_mut_ptr();
    Some(MatrixRows { data, start, rows, width, unplaced: AtomicBool::new(false) })
  }

  /// Fills row `index` with `fill`, or notes that a record had no row.
  fn write(&self, index: Option<usize>, fill: impl FnOnce(&mut [f32])) {
    let Some(index) = index.filter(|&index| index < self.rows) else {
      self.unplaced.store(true, atomic::Ordering::Relaxed);
      return;
    };
    // SAFETY: `index < rows`, so the row lies within `data`, alive while `self` is borrowed. Each
    // record is read once, by the one chunk that holds it, and chunks hold disjoint ranges of the
    // input: no other thread writes this row meanwhile, and nothing reads it before `into_data`.
    let row =
      unsafe { std::slice::from_raw_parts_mut(self.start.add(index * self.width), self.width) };
    fill(row);
  }

  /// The first `rows` rows; `None` when a record had no row (the input outgrew the matrix).
  pub fn into_data(mut self, rows: usize) -> Option<Vec<f32>> {
    if self.unplaced.load(atomic::Ordering::Relaxed) || rows > self.rows {
      return None;
    }
    self.data.truncate(rows * self.width);
    Some(std::mem::take(&mut self.data))
  }
}

/// `len` zeros, as `vec![0.0; len]` makes them (pages the kernel zeroes as they are first touched),
/// or `None` when the allocator cannot give that much.
fn try_zeroed(len: usize) -> Option<Vec<f32>> {
  let layout = std::alloc::Layout::array::<f32>(len).ok()?;
  if layout.size() == 0 {
    return Some(Vec::new());
  }
  // SAFETY: the layout's size is not zero.
  let start = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<f32>();
  if start.is_null() {
    return None;
  }
  // SAFETY: `start` comes from the global allocator with the layout of `len` f32s, whose bytes are
  // all zero (0.0): a vector of that length and capacity.
  Some(unsafe { Vec::from_raw_parts(start, len, len) })
}

/// A `[rows, width]` matrix filled part by part on the compute threads: `parts` are
/// `(rows, part)` in row order, and `fill(part, its rows)` writes each part's rows.
fn matrix<T: Send>(
  rows: usize,
  width: usize,
  parts: Vec<(usize, T)>,
  fill: impl Fn(T, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
  let mut data = vec![0.0; rows * width];
  let mut rest = data.as_mut_slice();
  let mut tasks = Vec::with_capacity(parts.len());
  for (part_rows, part) in parts {
    let (mine, after) = rest.split_at_mut(part_rows * width);
    tasks.push((part, mine));
    rest = after;
  }
  crate::pool::intra_op::run_each_alone(crate::pool::global().size(), tasks, |(part, out)| {
    fill(part, out)
  });
  data
}

impl Keep for Featurised<'_> {
  fn valid(&mut self, index: usize, row: &mut Vec<Clean>) {
    self.valid_ref(index, row);
  }

  fn valid_ref(&mut self, index: usize, row: &[Clean]) {
    self.indices.push(index as u32);
    if let Some(rows) = self.into {
      let pipeline = self.pipeline;
      rows.write(self.first.map(|first| first + index), |out| pipeline.encode(row, out));
      return;
    }
    let block = match self.blocks.last_mut() {
      Some(block) if block.len() < block.capacity() => block,
      _ => {
        self.blocks.push(Vec::with_capacity(BLOCK_ROWS * self.width.max(1)));
        self.blocks.last_mut().expect("just pushed")
      }
    };
    let at = block.len();
    block.resize(at + self.width, 0.0);
    self.pipeline.encode(row, &mut block[at..]);
  }

  fn errors(&mut self) -> &mut Vec<FieldError> {
    &mut self.errors
  }

  fn starts_at(&mut self, first: usize) {
    self.first = Some(first);
  }

  fn join(mut parts: Vec<(Self, usize)>) -> Self {
    let Some((first, _)) = parts.first() else { unreachable!("joined reads have a chunk or more") };
    let rows = parts.iter().map(|(part, _)| part.indices.len()).sum::<usize>();
    let mut whole = Featurised { into: first.into, ..Featurised::new(first.pipeline, first.width) };
    whole.errors =
      join_errors(parts.iter_mut().map(|(part, at)| (std::mem::take(&mut part.errors), *at)));
    whole.indices.reserve_exact(rows);
    for (part, offset) in &parts {
      whole.indices.extend(part.indices.iter().map(|i| i + *offset as u32));
    }
    if whole.into.is_some() {
      return whole;
    }
    // The matrix is copied on every compute thread: most of the copy's time is the kernel giving
    // the fresh pages (zeroed memory from the allocator costs nothing more).
    let parts = parts.iter().map(|(part, _)| (part.indices.len(), &part.blocks)).collect();
    whole.data = matrix(rows, whole.width, parts, |blocks, out| {
      let mut at = 0;
      for block in blocks {
        out[at..at + block.len()].copy_from_slice(block);
        at += block.len();
      }
    });
    whole
  }
}

/// A value as a number: ints, floats, bools (0/1), dates (epoch days), datetimes (epoch days with
/// the time as a fraction). `None` for null and strings.
pub fn numeric(value: &Clean) -> Option<f64> {
  match value {
    Clean::Int(i) => Some(*i as f64),
    Clean::Float(f) => Some(*f),
    Clean::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
    Clean::Date(d) => Some(d.signed_duration_since(chrono::NaiveDate::default()).num_days() as f64),
    Clean::DateTime(dt) => Some(dt.timestamp_millis() as f64 / 86_400_000.0),
    Clean::Null | Clean::String(_) => None,
  }
}

/// The order scikit-learn sorts categories in: numbers numerically, strings by code point.
pub fn compare(a: &Clean, b: &Clean) -> Ordering {
  match (numeric(a), numeric(b), a, b) {
    (_, _, Clean::String(x), Clean::String(y)) => x.cmp(y),
    (Some(x), Some(y), _, _) => x.total_cmp(&y),
    _ => category_rank(a).cmp(&category_rank(b)),
  }
}

fn category_rank(value: &Clean) -> u8 {
  match value {
    Clean::Null => 2,
    Clean::String(_) => 1,
    _ => 0,
  }
}

#[cfg(test)]
mod tests;
