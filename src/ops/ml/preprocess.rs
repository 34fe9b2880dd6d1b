//! The preprocessing operators of ai.onnx.ml that scikit-learn pipelines export and tract lacks:
//! `Scaler`, `Binarizer`, `Imputer`, `OneHotEncoder`, and `ZipMap` (kept as its `[N, classes]`
//! probability tensor: tract has no maps), each one [`Map`] over the whole input tensor; and
//! `ArrayFeatureExtractor`, which is a gather along the last axis.

use std::fmt;

use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

use crate::ops::plain::{plain, values_of, FactSpec, Plain};

/// Registers the operators.
pub fn register(registry: &mut OnnxOpRegister) {
  registry.insert("Scaler", scaler);
  registry.insert("Binarizer", binarizer);
  registry.insert("Imputer", imputer);
  registry.insert("OneHotEncoder", one_hot_encoder);
  registry.insert("ZipMap", zip_map);
  registry.insert("ArrayFeatureExtractor", |_, _| Ok((expand(ArrayFeatureExtractor), vec![])));
}

type Compute = dyn Fn(&Tensor) -> TractResult<Tensor> + Send + Sync;

/// A one-input, one-output operator computed by a function of the whole input.
struct Map {
  name: &'static str,
  /// The output's element type; `None` keeps the input's.
  output_type: Option<DatumType>,
  /// A last dim the output adds to the input's shape (one-hot categories); `None` keeps the shape.
  appended_dim: Option<usize>,
  compute: Box<Compute>,
}

impl fmt::Debug for Map {
  fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    write!(f, "{}", self.name)
  }
}

pub(super) fn map(
  name: &'static str,
  output_type: Option<DatumType>,
  appended_dim: Option<usize>,
  compute: impl Fn(&Tensor) -> TractResult<Tensor> + Send + Sync + 'static,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  plain(Map { name, output_type, appended_dim, compute: Box::new(compute) })
}

impl Plain for Map {
  fn name(&self) -> &'static str {
    self.name
  }

  fn output_facts(&self, inputs: &[FactSpec]) -> TractResult<TVec<FactSpec>> {
    let [(dt, shape)] = inputs else { bail!("{} takes one input", self.name) };
    let mut shape = shape.clone();
    if let Some(dim) = self.appended_dim {
      shape.push(dim.to_dim());
    }
    Ok(tvec!((self.output_type.unwrap_or(*dt), shape)))
  }

  fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let input = args_1!(inputs);
    Ok(tvec!((self.compute)(&input)?.into_tvalue()))
  }
}

/// The input as f32 values, with its shape.
fn floats(input: &Tensor) -> TractResult<(Vec<usize>, Vec<f32>)> {
  Ok((input.shape().to_vec(), values_of::<f32>(input)?))
}

/// Per-column parameter `values` for a row of `width`: one per column, or one for all.
fn per_column(values: &[f32], width: usize, what: &str) -> TractResult<Vec<f32>> {
  match values.len() {
    1 => Ok(vec![values[0]; width]),
    n if n == width => Ok(values.to_vec()),
    n => bail!("{what} has {n} values for rows of {width}"),
  }
}

/// `Scaler`: `(x - offset) * scale`, per column, as f32.
fn scaler(
  _: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let offset = node.get_attr_opt_slice::<f32>("offset")?.unwrap_or(&[0.0]).to_vec();
  let scale = node.get_attr_opt_slice::<f32>("scale")?.unwrap_or(&[1.0]).to_vec();
  map("Scaler", Some(f32::datum_type()), None, move |input| {
    let (shape, mut values) = floats(input)?;
    let width = shape.last().copied().unwrap_or(1).max(1);
    let (offset, scale) =
      (per_column(&offset, width, "offset")?, per_column(&scale, width, "scale")?);
    for row in values.chunks_mut(width) {
      for (j, v) in row.iter_mut().enumerate() {
        *v = (*v - offset[j]) * scale[j];
      }
    }
    Tensor::from_shape(&shape, &values)
  })
}

/// `Binarizer`: 1 where `x > threshold`, else 0, in the input's type.
fn binarizer(
  _: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let threshold: f32 = node.get_attr_opt("threshold")?.unwrap_or(0.0);
  map("Binarizer", None, None, move |input| {
    let (shape, values) = floats(input)?;
    let binary: Vec<f32> = values.iter().map(|&v| if v > threshold { 1.0 } else { 0.0 }).collect();
    Ok(Tensor::from_shape(&shape, &binary)?.cast_to_dt(input.datum_type())?.into_owned())
  })
}

/// `Imputer`: values equal to `replaced_value_float` (NaN by default in scikit-learn's exports)
/// become the column's `imputed_value_floats`.
fn imputer(
  _: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let imputed = node.get_attr_opt_slice::<f32>("imputed_value_floats")?.unwrap_or(&[]).to_vec();
  node.expect_attr("imputed_value_floats", !imputed.is_empty(), "imputed values (floats)")?;
  let replaced: f32 = node.get_attr_opt("replaced_value_float")?.unwrap_or(0.0);
  map("Imputer", None, None, move |input| {
    let (shape, mut values) = floats(input)?;
    let width = shape.last().copied().unwrap_or(1).max(1);
    let imputed = per_column(&imputed, width, "imputed_value_floats")?;
    let missing = |v: f32| if replaced.is_nan() { v.is_nan() } else { v == replaced };
    for row in values.chunks_mut(width) {
      for (j, v) in row.iter_mut().enumerate() {
        if missing(*v) {
          *v = imputed[j];
        }
      }
    }
    Ok(Tensor::from_shape(&shape, &values)?.cast_to_dt(input.datum_type())?.into_owned())
  })
}

/// `OneHotEncoder`: each input value becomes a one-hot row over the categories (appended last
/// dim), f32. An unknown value is all zeros when `zeros` is 1 (the default), else an error.
fn one_hot_encoder(
  _: &ParsingContext,
  node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  let ints = node.get_attr_opt_slice::<i64>("cats_int64s")?.map(<[i64]>::to_vec);
  let strings: Option<Vec<String>> = node
    .get_attr_opt_tvec::<&str>("cats_strings")?
    .map(|s| s.iter().map(|s| s.to_string()).collect());
  let zeros: i64 = node.get_attr_opt("zeros")?.unwrap_or(1);
  let categories = match (ints, strings) {
    (Some(ints), None) if !ints.is_empty() => Categories::Ints(ints),
    (None, Some(strings)) if !strings.is_empty() => Categories::Strings(strings),
    _ => bail!("exactly one of cats_int64s and cats_strings must list the categories"),
  };
  let count = categories.len();
  map("OneHotEncoder", Some(f32::datum_type()), Some(count), move |input| {
    let positions: Vec<Option<usize>> = match (&categories, input.datum_type()) {
      (Categories::Strings(cats), DatumType::String) => input
        .try_as_plain_ram()?
        .as_slice::<String>()?
        .iter()
        .map(|v| cats.iter().position(|c| c == v))
        .collect(),
      (Categories::Ints(cats), _) if input.datum_type() != DatumType::String => {
        let values = input.cast_to::<i64>()?;
        values
          .try_as_plain_ram()?
          .as_slice::<i64>()?
          .iter()
          .map(|v| cats.iter().position(|c| c == v))
          .collect()
      }
      (_, dt) => bail!("OneHotEncoder: input of type {dt:?} does not match the category type"),
    };
    ensure!(
      zeros != 0 || positions.iter().all(Option::is_some),
      "OneHotEncoder: a value is not a known category"
    );
    let mut out = vec![0f32; positions.len() * count];
    for (i, position) in positions.iter().enumerate() {
      if let Some(p) = position {
        out[i * count + p] = 1.0;
      }
    }
    let mut shape = input.shape().to_vec();
    shape.push(count);
    Tensor::from_shape(&shape, &out)
  })
}

enum Categories {
  Ints(Vec<i64>),
  Strings(Vec<String>),
}

impl Categories {
  fn len(&self) -> usize {
    match self {
      Categories::Ints(c) => c.len(),
      Categories::Strings(c) => c.len(),
    }
  }
}

/// `ZipMap`: passes the `[N, classes]` probabilities through, columns in class-label order.
fn zip_map(
  _: &ParsingContext,
  _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
  map("ZipMap", Some(f32::datum_type()), None, |input| Ok(input.cast_to::<f32>()?.into_owned()))
}

/// `ArrayFeatureExtractor`: the entries of `X`'s last axis listed by the int64 indices `Y` (any
/// shape, read flat), as `X.shape[..-1] + [Y.size]`; a 1-D `X` gives `[1, Y.size]`, as onnxruntime
/// does. ColumnTransformer selects columns with it, and classifiers turn class indices into labels.
#[derive(Debug, Clone)]
struct ArrayFeatureExtractor;

impl Expansion for ArrayFeatureExtractor {
  fn name(&self) -> StaticName {
    "ArrayFeatureExtractor".into()
  }

  fn rules<'r, 'p: 'r, 's: 'r>(
    &'s self,
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
  ) -> InferenceResult {
    check_input_arity(inputs, 2)?;
    check_output_arity(outputs, 1)?;
    s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
    s.given(&inputs[0].rank, move |s, rank| s.equals(&outputs[0].rank, rank.max(2)))?;
    s.given_2(&inputs[0].shape, &inputs[1].shape, move |s, data, indices| {
      let count: TDim = indices.iter().product();
      let shape: TVec<TDim> = match data.len() {
        1 => tvec![1.to_dim(), count],
        rank => data[..rank - 1].iter().cloned().chain([count]).collect(),
      };
      s.equals(&outputs[0].shape, ShapeFactoid::from(shape))
    })
  }

  fn wire(
    &self,
    prefix: &str,
    model: &mut TypedModel,
    inputs: &[OutletId],
  ) -> TractResult<TVec<OutletId>> {
    use tract_core::ops::change_axes::AxisOp;
    let rank = model.outlet_fact(inputs[0])?.rank();
    ensure!(rank >= 1, "ArrayFeatureExtractor needs an input of rank 1 or more");
    let mut indices = model.wire_node(
      format!("{prefix}.indices"),
      tract_core::ops::cast::cast(i64::datum_type()),
      &[inputs[1]],
    )?;
    let indices_shape = model.outlet_fact(indices[0])?.shape.to_tvec();
    if indices_shape.len() != 1 {
      let flat = tvec![indices_shape.iter().product::<TDim>()];
      let reshape = AxisOp::Reshape(0, indices_shape, flat);
      indices = model.wire_node(format!("{prefix}.flat_indices"), reshape, &indices)?;
    }
    let gathered = model.wire_node(
      format!("{prefix}.gather"),
      tract_core::ops::array::Gather::new(rank - 1),
      &[inputs[0], indices[0]],
    )?;
    if rank > 1 {
      return Ok(gathered);
    }
    model.wire_node(prefix, AxisOp::Add(0), &gathered)
  }
}
